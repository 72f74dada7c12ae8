package binding

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/google/go-cmp/cmp"

	"github.com/gomip6/gomip6/mip6"
)

func TestMNHAVectors(t *testing.T) {
	ha := netip.MustParseAddr("2001:db8:1::1")
	for _, c := range loadVectors(t).MNHA {
		t.Run(c.Name, func(t *testing.T) {
			key := unhex(t, c.Key)
			co, h := netip.MustParseAddr(c.Coa), netip.MustParseAddr(c.Hoa)
			mh := unhex(t, c.MH)
			want := unhex(t, c.Authenticator)
			if len(want) != c.Alg.Size() {
				t.Fatalf("vector has %d octets for %v", len(want), c.Alg)
			}
			// The option around the data, as RFC 4285 §5 lays it out:
			// type 9, length, subtype 1 (MN-HA), SPI, data.
			opt := mh[c.AuthOff-7:]
			if opt[0] != byte(mip6.OptAuthentication) || int(opt[1]) != 5+c.Alg.Size() || opt[2] != 1 ||
				binary.BigEndian.Uint32(opt[3:]) != c.SPI {
				t.Fatalf("vector option header % x", opt[:7])
			}

			got, err := AppendMNHAAuthenticator([]byte("prefix"), c.Alg, key, co, h, mh, c.AuthOff)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(append([]byte("prefix"), want...), got); diff != "" {
				t.Errorf("AppendMNHAAuthenticator (-want +got):\n%s", diff)
			}
			if !VerifyMNHAAuthenticator(c.Alg, key, co, h, mh, c.AuthOff) {
				t.Error("VerifyMNHAAuthenticator = false on the vector")
			}
			cp := bytes.Clone(mh)
			clear(cp[c.AuthOff:])
			if err := SetMNHAAuthenticator(c.Alg, key, co, h, cp, c.AuthOff); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(mh, cp); diff != "" {
				t.Errorf("SetMNHAAuthenticator (-vector +got):\n%s", diff)
			}
			// The other algorithm must not verify.
			other := HMACSHA1_96
			if c.Alg == HMACSHA1_96 {
				other = HMACSHA256_128
			}
			if VerifyMNHAAuthenticator(other, key, co, h, mh, c.AuthOff) {
				t.Errorf("verified with %v", other)
			}
			src, dst := h, ha
			if c.Kind == "ba" {
				src, dst = ha, h
			}
			if s := mip6.PseudoHeaderChecksum(src, dst, mip6.ProtoMobility, mh); s != 0 {
				t.Errorf("vector checksum does not verify: sum %#04x", s)
			}
		})
	}
}

func mnhaMH(t testing.TB) (alg Algorithm, key []byte, co, h netip.Addr, mh []byte, off int) {
	c := loadVectors(t).MNHA[0]
	return c.Alg, unhex(t, c.Key), netip.MustParseAddr(c.Coa), netip.MustParseAddr(c.Hoa), unhex(t, c.MH), c.AuthOff
}

// TestMNHACoverage: RFC 4285 §5.1 covers the Mobility Header from its start
// up to and including the SPI, checksum as zero; nothing after the SPI.
func TestMNHACoverage(t *testing.T) {
	alg, key, co, h, mh, off := mnhaMH(t)
	// Extend the header by 8 octets (a PadN after the option) so that
	// octets beyond the Authentication Data exist too.
	long := append(bytes.Clone(mh), 1, 6, 0, 0, 0, 0, 0, 0)
	long[1]++
	if err := SetMNHAAuthenticator(alg, key, co, h, long, off); err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(long[off : off+alg.Size()])
	for i := range long {
		m := bytes.Clone(long)
		m[i] ^= 0x10
		got, err := AppendMNHAAuthenticator(nil, alg, key, co, h, m, off)
		if i == 1 {
			if err == nil || VerifyMNHAAuthenticator(alg, key, co, h, m, off) {
				t.Error("accepted a Header Len that disagrees with the length")
			}
			continue
		}
		if err != nil {
			t.Fatalf("octet %d: %v", i, err)
		}
		covered := i < off && i != 4 && i != 5
		if !bytes.Equal(got, want) != covered {
			t.Errorf("octet %d: authenticator changed = %v, want %v", i, !bytes.Equal(got, want), covered)
		}
		inAuth := i >= off && i < off+alg.Size()
		if ok := VerifyMNHAAuthenticator(alg, key, co, h, m, off); ok != !(covered || inAuth) {
			t.Errorf("octet %d: verify = %v", i, ok)
		}
	}
	other := netip.MustParseAddr("2001:db8:2::201")
	if VerifyMNHAAuthenticator(alg, key, other, h, mh, off) {
		t.Error("verified with another care-of address")
	}
	if VerifyMNHAAuthenticator(alg, key, co, other, mh, off) {
		t.Error("verified with another home address")
	}
	if VerifyMNHAAuthenticator(alg, key, h, co, mh, off) {
		t.Error("verified with the addresses swapped")
	}
	k2 := bytes.Clone(key)
	k2[15] ^= 1
	if VerifyMNHAAuthenticator(alg, k2, co, h, mh, off) {
		t.Error("verified with another key")
	}
	if VerifyMNHAAuthenticator(alg, key[:15], co, h, mh, off) {
		t.Error("verified with a truncated key")
	}
}

func TestMNHAErrors(t *testing.T) {
	alg, key, co, h, mh, off := mnhaMH(t)
	tests := []struct {
		name   string
		alg    Algorithm
		key    []byte
		mh     []byte
		off    int
		coa    netip.Addr
		wantIs error
	}{
		{"unknown algorithm", 0, key, mh, off, co, mip6.ErrInvalid},
		{"algorithm 3", 3, key, mh, off, co, mip6.ErrInvalid},
		{"empty key", alg, nil, mh, off, co, mip6.ErrInvalid},
		{"offset past end", alg, key, mh, len(mh) - 11, co, mip6.ErrInvalid},
		// 16 octets of SHA-256 data do not fit where 12 of SHA-1 do.
		{"data too long for header", HMACSHA256_128, key, mh, off, co, mip6.ErrInvalid},
		{"offset in checksum", alg, key, mh, 4, co, mip6.ErrInvalid},
		{"header len mismatch", alg, key, mh[:40], off, co, mip6.ErrLength},
		{"truncated", alg, key, mh[:4], 0, co, mip6.ErrTruncated},
		{"zero address", alg, key, mh, off, netip.Addr{}, mip6.ErrAddress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst, err := AppendMNHAAuthenticator([]byte{1}, tt.alg, tt.key, tt.coa, h, tt.mh, tt.off)
			if !errors.Is(err, tt.wantIs) {
				t.Errorf("Append error %v, want %v", err, tt.wantIs)
			}
			if !bytes.Equal(dst, []byte{1}) {
				t.Errorf("Append changed dst on error: %x", dst)
			}
			if err := SetMNHAAuthenticator(tt.alg, tt.key, tt.coa, h, bytes.Clone(tt.mh), tt.off); !errors.Is(err, tt.wantIs) {
				t.Errorf("Set error %v, want %v", err, tt.wantIs)
			}
			if VerifyMNHAAuthenticator(tt.alg, tt.key, tt.coa, h, tt.mh, tt.off) {
				t.Error("verified")
			}
		})
	}
}

func TestAlgorithm(t *testing.T) {
	tests := []struct {
		alg  Algorithm
		size int
		name string
	}{
		{HMACSHA1_96, 12, "hmac-sha1"},
		{HMACSHA256_128, 16, "hmac-sha256"},
		{0, 0, "algorithm(0)"},
		{200, 0, "algorithm(200)"},
	}
	for _, tt := range tests {
		if tt.alg.Size() != tt.size || tt.alg.String() != tt.name {
			t.Errorf("%d: Size %d String %q, want %d %q", uint8(tt.alg), tt.alg.Size(), tt.alg.String(), tt.size, tt.name)
		}
		b, err := tt.alg.MarshalText()
		if tt.size == 0 {
			if err == nil {
				t.Errorf("%v: MarshalText succeeded", tt.alg)
			}
			if _, err := ParseAlgorithm(tt.name); err == nil {
				t.Errorf("ParseAlgorithm(%q) succeeded", tt.name)
			}
			continue
		}
		var back Algorithm
		if err != nil || back.UnmarshalText(b) != nil || back != tt.alg {
			t.Errorf("%v: text round trip gave %v (%v)", tt.alg, back, err)
		}
		if a, err := ParseAlgorithm(strings.ToUpper(tt.name)); err != nil || a != tt.alg {
			t.Errorf("ParseAlgorithm(%q) = %v, %v", strings.ToUpper(tt.name), a, err)
		}
	}
	var a Algorithm = HMACSHA1_96
	if err := a.UnmarshalText([]byte("hmac-md5-96")); err == nil || a != HMACSHA1_96 {
		t.Errorf("UnmarshalText of an unknown name: %v, left %v", err, a)
	}
	// The configuration package decodes it by name.
	var conf struct {
		SPI uint32
		Alg Algorithm
	}
	if _, err := toml.Decode("spi = 300\nalg = \"hmac-sha256\"\n", &conf); err != nil || conf.Alg != HMACSHA256_128 {
		t.Errorf("toml: %+v, %v", conf, err)
	}
	if MinMobilitySPI != 256 {
		t.Errorf("MinMobilitySPI = %d; RFC 4285 §5.1 reserves 0-255", MinMobilitySPI)
	}
}

func TestTimestampVectors(t *testing.T) {
	for _, c := range loadVectors(t).NTP {
		tm := time.Unix(c.Unix, c.Nsec).UTC()
		want, err := time.Parse(time.RFC3339, c.UTC)
		if err != nil {
			t.Fatal(err)
		}
		if !tm.Equal(want.Add(time.Duration(c.Nsec))) {
			t.Fatalf("%s: unix %d is %v", c.UTC, c.Unix, tm)
		}
		var b [8]byte
		hexInto(t, b[:], c.NTP)
		ntp := binary.BigEndian.Uint64(b[:])
		if got := TimestampFromTime(tm); uint64(got) != ntp {
			t.Errorf("%s +%dns: TimestampFromTime = %#016x, want %#016x", c.UTC, c.Nsec, uint64(got), ntp)
		}
		if got := Timestamp(ntp).Time(); !got.Equal(tm) {
			t.Errorf("%#016x.Time() = %v, want %v", ntp, got, tm)
		}
	}
	// Well-known anchors: NTP seconds of 1970 and 2000 (RFC 5905 §6 and
	// every NTP implementation), and the era 1 start.
	for _, tt := range []struct {
		t    time.Time
		secs uint32
	}{
		{time.Unix(0, 0), 2208988800},
		{time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), 3155673600},
		{time.Date(2036, 2, 7, 6, 28, 16, 0, time.UTC), 0},
	} {
		if got := uint32(TimestampFromTime(tt.t) >> 32); got != tt.secs {
			t.Errorf("%v: NTP seconds %d, want %d", tt.t, got, tt.secs)
		}
	}
}

func TestTimestampRoundTrip(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(1968, 1, 20, 3, 14, 8, 0, time.UTC),
		time.Date(2026, 5, 17, 1, 2, 3, 999_999_999, time.UTC),
		time.Date(2036, 2, 7, 6, 28, 15, 999_999_999, time.UTC),
		time.Date(2104, 2, 26, 9, 42, 23, 999_999_999, time.UTC),
	} {
		if got := TimestampFromTime(tm).Time(); !got.Equal(tm) {
			t.Errorf("%v came back as %v", tm, got)
		}
	}
	// Half a second is exactly 2^31 units.
	if f := uint32(TimestampFromTime(time.Unix(0, 5e8))); f != 1<<31 {
		t.Errorf("fraction of 0.5 s = %#x", f)
	}
}

func TestTimestampAfter(t *testing.T) {
	before := TimestampFromTime(time.Date(2036, 2, 7, 6, 28, 15, 0, time.UTC))
	after := TimestampFromTime(time.Date(2036, 2, 7, 6, 28, 17, 0, time.UTC))
	if after >= before {
		t.Fatalf("test premise: the era wrap should make %#x < %#x", after, before)
	}
	if !after.After(before) || before.After(after) || before.After(before) {
		t.Error("After is wrong across the 2036 wrap")
	}
}

func TestReplayGuard(t *testing.T) {
	now := time.Date(2026, 5, 17, 12, 0, 0, 0, time.UTC)
	ts := func(d time.Duration) Timestamp { return TimestampFromTime(now.Add(d)) }
	var g ReplayGuard
	tests := []struct {
		d    time.Duration
		want error
	}{
		{0, nil},
		{DefaultReplaySkew, nil},
		{-DefaultReplaySkew, nil},
		{DefaultReplaySkew + time.Nanosecond, ErrTimestampSkew},
		{-DefaultReplaySkew - time.Nanosecond, ErrTimestampSkew},
		{-100 * 365 * 24 * time.Hour, ErrTimestampSkew},
	}
	for _, tt := range tests {
		if err := g.Check(ts(tt.d), now); !errors.Is(err, tt.want) {
			t.Errorf("Check(now%+v) = %v, want %v", tt.d, err, tt.want)
		}
	}
	if DefaultReplaySkew != 7*time.Second {
		t.Errorf("DefaultReplaySkew = %v; RFC 4285 §5.1 says 7 s", DefaultReplaySkew)
	}
	if _, ok := g.Last(); ok {
		t.Error("Check recorded a timestamp")
	}

	g.Accept(ts(0))
	if err := g.Check(ts(0), now); !errors.Is(err, ErrTimestampReplay) {
		t.Errorf("same timestamp again: %v", err)
	}
	if err := g.Check(ts(-time.Second), now); !errors.Is(err, ErrTimestampReplay) {
		t.Errorf("older timestamp: %v", err)
	}
	if err := g.Check(ts(0)+1, now); err != nil {
		t.Errorf("one unit later: %v", err)
	}
	g.Accept(ts(-time.Second)) // must not move the window back
	if last, ok := g.Last(); !ok || last != ts(0) {
		t.Errorf("Last = %#x %v, want %#x", uint64(last), ok, uint64(ts(0)))
	}
	g.Accept(ts(time.Second))
	if last, _ := g.Last(); last != ts(time.Second) {
		t.Errorf("Last = %#x after a newer Accept", uint64(last))
	}

	// A configured skew replaces the default.
	g2 := ReplayGuard{Skew: 4 * time.Second}
	if err := g2.Check(ts(5*time.Second), now); !errors.Is(err, ErrTimestampSkew) {
		t.Errorf("skew 4 s, 5 s off: %v", err)
	}
	if err := g2.Check(ts(4*time.Second), now); err != nil {
		t.Errorf("skew 4 s, 4 s off: %v", err)
	}
}

func TestMNHAAllocs(t *testing.T) {
	if raceEnabled() {
		t.Skip("allocation counts are meaningless under -race")
	}
	alg, key, co, h, mh, off := mnhaMH(t)
	buf := make([]byte, 0, 32)
	var g ReplayGuard
	now := time.Unix(1.8e9, 0)
	ts := TimestampFromTime(now)
	for name, f := range map[string]func(){
		"Verify":  func() { VerifyMNHAAuthenticator(alg, key, co, h, mh, off) },
		"Set":     func() { _ = SetMNHAAuthenticator(alg, key, co, h, mh, off) },
		"Append":  func() { _, _ = AppendMNHAAuthenticator(buf[:0], alg, key, co, h, mh, off) },
		"SHA-256": func() { VerifyMNHAAuthenticator(HMACSHA256_128, key, co, h, mh, off-4) },
		"Check":   func() { _ = g.Check(ts, now) },
	} {
		if a := testing.AllocsPerRun(100, f); a != 0 {
			t.Errorf("%s: %v allocations per call", name, a)
		}
	}
}

// FuzzMNHAAuthenticator: as FuzzBindingAuthenticator, for RFC 4285.
func FuzzMNHAAuthenticator(f *testing.F) {
	for _, c := range loadVectors(f).MNHA {
		f.Add(unhex(f, c.MH), c.AuthOff, uint8(c.Alg), unhex(f, c.Key), uint16(3))
	}
	f.Fuzz(func(t *testing.T, mh []byte, off int, algB uint8, key []byte, flip uint16) {
		alg := Algorithm(algB)
		orig := bytes.Clone(mh)
		want, err := AppendMNHAAuthenticator(nil, alg, key, coa, hoa, mh, off)
		if !bytes.Equal(mh, orig) {
			t.Fatal("AppendMNHAAuthenticator modified its input")
		}
		m := bytes.Clone(mh)
		if serr := SetMNHAAuthenticator(alg, key, coa, hoa, m, off); (serr == nil) != (err == nil) {
			t.Fatalf("Append error %v, Set error %v", err, serr)
		}
		if err != nil {
			if VerifyMNHAAuthenticator(alg, key, coa, hoa, mh, off) {
				t.Fatalf("verified malformed input (%v)", err)
			}
			return
		}
		n := alg.Size()
		if len(want) != n || !bytes.Equal(m[off:off+n], want) {
			t.Fatal("Set wrote something else than Append returned")
		}
		if !VerifyMNHAAuthenticator(alg, key, coa, hoa, m, off) {
			t.Fatal("verify failed after set")
		}
		i := int(flip) % len(m)
		m[i] ^= 0x02
		ok := VerifyMNHAAuthenticator(alg, key, coa, hoa, m, off)
		switch {
		case i == 4 || i == 5 || i >= off+n:
			if !ok {
				t.Fatalf("flipped uncovered octet %d: verify failed", i)
			}
		case ok:
			t.Fatalf("flipped octet %d: still verifies", i)
		}
	})
}

// FuzzTimestamp: converting a timestamp to a time and back is stable after
// one trip (the canonical form), and moves it by at most the nanosecond
// rounding; and a nanosecond time in range survives time -> timestamp ->
// time exactly.
func FuzzTimestamp(f *testing.F) {
	f.Add(uint64(0xEC8F4A2D80000000), int64(1.8e9), int64(5e8))
	f.Add(uint64(0), int64(0), int64(0))
	f.Add(uint64(0x7fffffffffffffff), int64(-2208988800), int64(999_999_999))
	f.Fuzz(func(t *testing.T, raw uint64, sec, nsec int64) {
		ts := Timestamp(raw)
		ts2 := TimestampFromTime(ts.Time())
		if d := int64(ts2 - ts); d < -2 || d > 2 {
			t.Fatalf("%#x -> %v -> %#x: moved %d units", raw, ts.Time(), uint64(ts2), d)
		}
		if ts3 := TimestampFromTime(ts2.Time()); ts3 != ts2 {
			t.Fatalf("not canonical after one trip: %#x -> %#x", uint64(ts2), uint64(ts3))
		}
		// Instants inside the RFC 4330 window, 1968-01-20T03:14:08Z to
		// 2104-02-26T09:42:24Z, at nanosecond resolution.
		first := time.Date(1968, 1, 20, 3, 14, 8, 0, time.UTC).Unix()
		last := time.Date(2104, 2, 26, 9, 42, 23, 0, time.UTC).Unix()
		span := last - first + 1
		s := first + ((sec%span)+span)%span
		tm := time.Unix(s, ((nsec%1e9)+1e9)%1e9)
		if got := TimestampFromTime(tm).Time(); !got.Equal(tm) {
			t.Fatalf("%v -> %#x -> %v", tm, uint64(TimestampFromTime(tm)), got)
		}
	})
}
