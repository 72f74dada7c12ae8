package mnd

import (
	"encoding/hex"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/mobilenode"
)

// The reference packets were built by scapy 2.5 (Debian python3-scapy),
// which computes the ICMPv6 checksum with the Home Address option's
// address as source and the type 2 routing header's address as
// destination on its own:
//
//	IPv6(src=coa, dst=ha, hlim=64)/IPv6ExtHdrDestOpt(options=[HAO(hoa=hoa)])/ICMPv6MPSol(id=0x1234)
//	IPv6(src=ha, dst=coa, hlim=64)/IPv6ExtHdrRouting(type=2, segleft=1, addresses=[hoa])/
//	    ICMPv6MPAdv(id=0xbeef, flags=2)/ICMPv6NDOptPrefixInfo(prefixlen=64, L=1, A=1, R=1,
//	    validlifetime=3600, preferredlifetime=1800, prefix="2001:db8:100::1")
var (
	mpsCoA  = netip.MustParseAddr("2001:db8:a::5054:ff:fe12:3456")
	mpsHA   = netip.MustParseAddr("2001:db8:100::1")
	mpsHoA  = netip.MustParseAddr("2001:db8:100::10")
	mpsHome = netip.MustParsePrefix("2001:db8:100::/64")

	scapyMPS = "6000000000203c4020010db8000a0000505400fffe12345620010db80100000000000000000000013a0201020000c91020010db80100000000000000000000109200fe0512340000"
	scapyMPA = "6000000000402b4020010db801000000000000000000000120010db8000a0000505400fffe1234563a0202010000000020010db801000000000000000000001093004873beef8000030440e000000e10000007080000000020010db8010000000000000000000001"
)

func TestBuildMPS(t *testing.T) {
	got := buildMPS(mpsCoA, mpsHA, mpsHoA, 0x1234)
	if d := cmp.Diff(unhex(t, scapyMPS), got); d != "" {
		t.Errorf("Mobile Prefix Solicitation (-scapy +ours):\n%s", d)
	}
	// And had's side of it reads it back: the walker finds the option
	// and the pseudo-header source is the home address.
	lay, err := mip6.WalkIPv6(got)
	if err != nil || lay.HomeAddress != mpsHoA || lay.Proto != mip6.ProtoICMPv6 ||
		!mip6.VerifyICMPChecksum(got[lay.Offset:lay.End], lay.PseudoSrc, lay.PseudoDst) {
		t.Errorf("walk: %+v, %v", lay, err)
	}
}

func TestParseMPA(t *testing.T) {
	good := unhex(t, scapyMPA)
	m, ok := parseMPA(good)
	if !ok {
		t.Fatal("scapy's advertisement not parsed")
	}
	want := mpaMsg{src: mpsHA, home: mpsHoA, mpa: &mip6.MobilePrefixAdvertisement{
		Identifier: 0xbeef, Managed: true,
		Options: []mip6.NDOption{&mip6.PrefixInformation{
			Prefix: netip.MustParsePrefix("2001:db8:100::1/64"), OnLink: true, Autonomous: true, RouterAddress: true,
			ValidLifetime: time.Hour, PreferredLifetime: 30 * time.Minute,
		}},
	}}
	if d := cmp.Diff(want, m, cmp.AllowUnexported(mpaMsg{}), cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
		t.Errorf("parsed (-want +got):\n%s", d)
	}
	for _, tc := range []struct {
		name string
		mod  func(b []byte) []byte
	}{
		{"checksum", func(b []byte) []byte { b[67] ^= 1; return b }},
		{"segments left 0", func(b []byte) []byte { b[43] = 0; return b }},
		{"routing type 0", func(b []byte) []byte { b[42] = 0; return b }},
		{"solicitation type", func(b []byte) []byte { b[64] = mip6.ICMPMobilePrefixSolicitation; return b }},
		{"truncated", func(b []byte) []byte { return b[:70] }},
		{"nonzero code", func(b []byte) []byte { b[65] = 1; return b }},
	} {
		b := append([]byte(nil), good...)
		if _, ok := parseMPA(tc.mod(b)); ok {
			t.Errorf("%s: parsed", tc.name)
		}
	}
}

// mpaWith returns a captured advertisement with id and options.
func mpaWith(src netip.Addr, id uint16, opts ...mip6.NDOption) mpaMsg {
	return mpaMsg{src: src, home: mpsHoA, mpa: &mip6.MobilePrefixAdvertisement{Identifier: id, Options: opts}}
}

func pio(p string, valid, preferred time.Duration) *mip6.PrefixInformation {
	return &mip6.PrefixInformation{Prefix: netip.MustParsePrefix(p), OnLink: true, Autonomous: true,
		RouterAddress: true, ValidLifetime: valid, PreferredLifetime: preferred}
}

// TestMPSAccept walks §11.4.3's checks and the prefix bookkeeping.
func TestMPSAccept(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var m mpsState
	type res struct {
		Changed bool
		Err     error
		Prefix  homePrefix
	}
	step := func(msg mpaMsg, now time.Time) res {
		c, err := m.accept(msg, mpsHA, mpsHoA, mpsHome, now)
		return res{c, err, m.prefix}
	}
	home := pio("2001:db8:100::1/64", time.Hour, 30*time.Minute)
	other := pio("2001:db8:200::1/64", time.Hour, time.Hour)
	if !m.sent(7, t0) {
		t.Fatal("first solicitation refused")
	}
	opts := cmp.Options{cmp.Comparer(func(a, b error) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })}
	for _, tc := range []struct {
		name string
		msg  mpaMsg
		at   time.Duration
		want res
	}{
		{"from another node", mpaWith(ha2, 7, home), 0, res{Err: errMPASource}},
		{"for another home address", mpaMsg{src: mpsHA, home: ha3, mpa: mpaWith(mpsHA, 7, home).mpa}, 0, res{Err: errMPAHome}},
		{"unsolicited", mpaWith(mpsHA, 8, home), 0, res{Err: errMPAUnsolicited}},
		{"no prefix", mpaWith(mpsHA, 7), 0, res{Err: errMPANoPrefix}},
		{"solicited", mpaWith(mpsHA, 7, home), time.Second, res{Changed: true,
			Prefix: homePrefix{At: t0.Add(time.Second), Valid: time.Hour, Preferred: 30 * time.Minute, Seen: true}}},
		// Answered: the same identifier again is no longer solicited
		// (§11.4.3 "no other advertisement has yet been received").
		{"answered twice", mpaWith(mpsHA, 7, home), 2 * time.Second, res{Err: errMPAUnsolicited,
			Prefix: homePrefix{At: t0.Add(time.Second), Valid: time.Hour, Preferred: 30 * time.Minute, Seen: true}}},
	} {
		got := step(tc.msg, t0.Add(tc.at))
		if d := cmp.Diff(tc.want, got, opts); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, d)
		}
	}
	// A preferred lifetime above the valid one makes the option void
	// (RFC 4862 §5.5.3 c): the advertisement answers the solicitation
	// and changes nothing.
	m.sent(8, t0.Add(5*time.Minute))
	bad := pio("2001:db8:100::1/64", time.Minute, time.Hour)
	if got := step(mpaWith(mpsHA, 8, bad), t0.Add(5*time.Minute)); got.Err != nil || got.Changed || got.Prefix.Valid != 55*time.Minute+time.Second {
		t.Errorf("preferred above valid: %+v", got)
	}
	// The same lifetimes, aged by the time between: nothing changed.
	m.sent(9, t0.Add(10*time.Minute))
	aged := pio("2001:db8:100::1/64", 50*time.Minute+time.Second, 20*time.Minute+time.Second)
	if got := step(mpaWith(mpsHA, 9, aged), t0.Add(10*time.Minute)); got.Changed || got.Err != nil {
		t.Errorf("aged lifetimes: %+v", got)
	}
	// A renumbering: the old prefix unmentioned keeps its lifetimes (aged
	// by the ten minutes since), the new one is listed.
	m.sent(10, t0.Add(20*time.Minute))
	got := step(mpaWith(mpsHA, 10, other), t0.Add(20*time.Minute))
	want := res{Changed: true, Prefix: homePrefix{At: t0.Add(20 * time.Minute), Valid: 40*time.Minute + time.Second,
		Preferred: 10*time.Minute + time.Second, Seen: true, Others: []netip.Prefix{netip.MustParsePrefix("2001:db8:200::/64")}}}
	if d := cmp.Diff(want, got, opts); d != "" {
		t.Errorf("renumbering (-want +got):\n%s", d)
	}
	st := m.prefix.status(mpsHome, t0.Add(20*time.Minute+90*time.Second))
	wantSt := &HomePrefixStatus{Prefix: mpsHome, Advertised: true, ValidRemainingS: 40*60 + 1 - 90, PreferredRemainingS: 10*60 + 1 - 90,
		AgeS: 90, OtherPrefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8:200::/64")}}
	if d := cmp.Diff(wantSt, st, opts); d != "" {
		t.Errorf("status (-want +got):\n%s", d)
	}
}

// TestMPSSchedule: retransmissions at INITIAL_SOLICIT_TIMER doubling
// (3, 6, 12, 24, 48 s), given up after mpsRetries; the lifetime-driven
// solicitation at mobilenode.RefreshInterval of the valid lifetime, once
// per advertisement; none for an infinite or zero lifetime.
func TestMPSSchedule(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var m mpsState
	if _, ok := m.due(); ok {
		t.Fatal("due with nothing known")
	}
	now := t0
	var gaps []time.Duration
	for id := uint16(1); ; id++ {
		if !m.sent(id, now) {
			break
		}
		at, ok := m.due()
		if !ok {
			t.Fatal("no retransmission planned")
		}
		gaps = append(gaps, at.Sub(now))
		now = at
	}
	want := []time.Duration{3 * time.Second, 6 * time.Second, 12 * time.Second, 24 * time.Second, 48 * time.Second}
	if d := cmp.Diff(want, gaps); d != "" {
		t.Errorf("retransmission gaps (-want +got):\n%s", d)
	}
	if _, ok := m.due(); ok {
		t.Error("still due after giving up")
	}

	for _, tc := range []struct {
		name  string
		valid time.Duration
		at    time.Duration // 0: not due
	}{
		{"one hour", time.Hour, mobilenode.RefreshInterval(time.Hour, 0)},
		{"ten seconds", 10 * time.Second, 7 * time.Second},
		{"one second", time.Second, mip6.InitialSolicitTimer},
		{"infinite", mip6.NDInfiniteLifetime, 0},
		{"withdrawn", 0, 0},
	} {
		m := mpsState{prefix: homePrefix{At: t0, Seen: true, Valid: tc.valid, Preferred: tc.valid}}
		at, ok := m.due()
		if ok != (tc.at != 0) || (ok && at.Sub(t0) != tc.at) {
			t.Errorf("%s: due %v %v, want %v", tc.name, at.Sub(t0), ok, tc.at)
			continue
		}
		if !ok {
			continue
		}
		// Given up on: not due again for the same advertisement.
		m.sent(1, at)
		for m.sent(2, at) {
		}
		if _, ok := m.due(); ok {
			t.Errorf("%s: due again after giving up", tc.name)
		}
		// A new registration may still ask: the information is stale
		// from the refresh point on.
		if m.stale(at.Add(-time.Millisecond)) || !m.stale(at) {
			t.Errorf("%s: stale before %v or not at it", tc.name, at.Sub(t0))
		}
	}
}

// FuzzParseMPA: whatever parseMPA accepts, rebuilt from what it returned
// (IPv6 header, type 2 routing header, the advertisement marshalled and
// checksummed), parses to the same thing.
func FuzzParseMPA(f *testing.F) {
	good, _ := hexBytes(scapyMPA)
	f.Add(good)
	f.Add(buildMPS(mpsCoA, mpsHA, mpsHoA, 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, ok := parseMPA(b)
		if !ok {
			return
		}
		body, err := mip6.MarshalICMP(m.mpa)
		if err != nil {
			t.Fatalf("parsed %+v, which does not marshal: %v", m.mpa, err)
		}
		mip6.SetICMPChecksum(body, m.src, m.home)
		pkt := mip6.AppendIPv6Header(nil, uint16(24+len(body)), mip6.ProtoRouting, 64, m.src, mpsCoA)
		pkt = mip6.AppendRoutingHeader2(pkt, mip6.ProtoICMPv6, m.home)
		pkt = append(pkt, body...)
		m2, ok := parseMPA(pkt)
		if !ok {
			t.Fatalf("rebuilt %x does not parse", pkt)
		}
		if d := cmp.Diff(m, m2, cmp.AllowUnexported(mpaMsg{}), cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
			cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
			t.Errorf("parse -> build -> parse (-first +second):\n%s", d)
		}
	})
}

func hexBytes(s string) ([]byte, error) { return hex.DecodeString(s) }
