package mobilenode

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gomip6/gomip6/mip6"
	"github.com/google/go-cmp/cmp"
)

// fuzzRegistration is a Registration with a first registration from coa1
// in flight at t0, deterministic so the seed corpus can hold BAs that
// answer it.
func fuzzRegistration(t testing.TB) *Registration {
	return fuzzRegistrationFrom(t, mnConfig(t))
}

func fuzzRegistrationFrom(t testing.TB, cfg Config) *Registration {
	cfg.InitialSequence = 42
	r, err := NewRegistration(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.Moved(coa1, t0)
	return r
}

// fuzzSeeds are Mobility Headers for the fuzz targets: BAs that answer
// fuzzRegistration's BU (accepted, 135, 145), ones that do not, a BE, a
// BRR, and junk.
func fuzzSeeds(t testing.TB) map[string][]byte {
	e := fuzzRegistration(t).Entry()
	be := haMH(t, &mip6.BindingError{Status: mip6.BEUnknownHomeAddress, HomeAddress: hoa}).MH
	brr := haMH(t, &mip6.BindingRefreshRequest{}).MH
	return map[string][]byte{
		"ba-accepted":     makeBA(t, baOpts{seq: e.Sequence, ts: e.Timestamp, lifetime: 300 * time.Second, refresh: 224 * time.Second}),
		"ba-135":          makeBA(t, baOpts{status: mip6.StatusSequenceOutOfWindow, seq: 1000, ts: e.Timestamp}),
		"ba-145":          makeBA(t, baOpts{status: mip6.StatusMesgIDRequired, seq: e.Sequence, ts: e.Timestamp + 1<<40}),
		"ba-134":          makeBA(t, baOpts{status: mip6.StatusDADFailed, flags: mip6.BAFlagK, seq: e.Sequence, ts: e.Timestamp}),
		"ba-wrong-seq":    makeBA(t, baOpts{seq: e.Sequence + 1, ts: e.Timestamp, lifetime: 300 * time.Second}),
		"ba-wrong-key":    makeBA(t, baOpts{seq: e.Sequence, ts: e.Timestamp, lifetime: 300 * time.Second, key: []byte("k")}),
		"ba-no-timestamp": makeBA(t, baOpts{seq: e.Sequence, noTS: true, lifetime: 8 * time.Second}),
		// DSMIPv6 (RFC 5555 §3.2.1, §3.2.2).
		"ba-nat": makeBA(t, baOpts{seq: e.Sequence, ts: e.Timestamp, lifetime: 300 * time.Second,
			nat: &mip6.NATDetection{RefreshTime: 110 * time.Second},
			ack: &mip6.IPv4AddressAck{PrefixLen: 32, Address: netip.MustParseAddr("198.51.100.1")}}),
		"ba-force-udp": makeBA(t, baOpts{seq: e.Sequence, ts: e.Timestamp, lifetime: 300 * time.Second,
			nat: &mip6.NATDetection{ForceUDP: true, RefreshTime: 0xffffffff * time.Second},
			ack: &mip6.IPv4AddressAck{Status: mip6.IPv4AckDynamicNotAvailable, Address: netip.IPv4Unspecified()}}),
		"be-unknown-hoa":   be,
		"brr":              brr,
		"empty":            {},
		"short":            {59, 0, 6},
		"header-len-large": {59, 255, 6, 0, 0, 0, 0, 0},
	}
}

// TestWriteFuzzCorpus regenerates testdata/fuzz when MOBILENODE_GEN=1.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("MOBILENODE_GEN") != "1" {
		t.Skip("set MOBILENODE_GEN=1 to regenerate the seed corpus")
	}
	writeCorpus(t, "FuzzMovementRA", raSeeds(t))
	for _, target := range []string{"FuzzHandleMH", "FuzzVerifyBindingAck"} {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range fuzzSeeds(t) {
			data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// FuzzHandleMH feeds arbitrary Mobility Headers from the home agent's
// address into a registration in flight: never a panic, and no change of
// state or Binding Update List entry unless the message is a Binding
// Acknowledgement that authenticates under our key.
func FuzzHandleMH(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	cfg := mnConfig(f)
	sa := cfg.SA
	f.Fuzz(func(t *testing.T, mh []byte) {
		r := fuzzRegistrationFrom(t, cfg)
		before := r.Entry()
		for _, p := range []Packet{
			{Src: haAddr, Dst: coa1, RoutingHome: hoa, MH: mh},
			{Src: haAddr, Dst: hoa, MH: mh},
		} {
			o, err := r.HandleMH(p, t0.Add(time.Second))
			after := r.Entry()
			changed := before != after
			if err != nil && (changed || o.Send != nil || len(o.Events) > 0) {
				t.Fatalf("error %v but state changed or output given", err)
			}
			if changed {
				if _, verr := VerifyBindingAck(mh, haAddr, hoa, coa1, sa); verr != nil {
					t.Fatalf("state changed on an unauthenticated message: %v", verr)
				}
				return
			}
		}
	})
}

// FuzzVerifyBindingAck: whatever verifies, rebuilt from what was
// extracted and verified again, gives the same BAInfo (parse -> marshal
// -> parse).
func FuzzVerifyBindingAck(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	sa := mnConfig(f).SA
	f.Fuzz(func(t *testing.T, mh []byte) {
		info, err := VerifyBindingAck(mh, haAddr, hoa, coa1, sa)
		if err != nil {
			return
		}
		o := baOpts{status: info.Status, flags: info.Flags, seq: info.Sequence, lifetime: info.Lifetime,
			refresh: info.Refresh, ts: info.Timestamp, noTS: !info.HasTimestamp}
		if info.UDP {
			o.nat = &mip6.NATDetection{ForceUDP: info.ForceUDP, RefreshTime: info.Keepalive}
			if info.Keepalive == 0 {
				o.nat.RefreshTime = 0xffffffff * time.Second
			}
		}
		if info.HasIPv4Ack {
			o.ack = &mip6.IPv4AddressAck{Status: info.IPv4AckStatus, Address: netip.IPv4Unspecified()}
			if info.IPv4HomeAddress.IsValid() {
				o.ack.Address, o.ack.PrefixLen = info.IPv4HomeAddress, 32
			}
		}
		again := makeBA(t, o)
		info2, err := VerifyBindingAck(again, haAddr, hoa, coa1, sa)
		if err != nil {
			t.Fatalf("rebuilt BA does not verify: %v", err)
		}
		if diff := cmp.Diff(info, info2, cmpOpts); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

// TestFuzzSeedsReachStateChanges makes sure the corpus reaches the
// interesting paths: the seeds that answer the BU in flight change state,
// the others do not.
func TestFuzzSeedsReachStateChanges(t *testing.T) {
	seeds := fuzzSeeds(t)
	tests := []struct {
		seed  string
		state State
		send  bool
		err   bool
	}{
		{"ba-accepted", Registered, false, false},
		{"ba-135", Registering, true, false},
		{"ba-145", Registering, true, false},
		{"ba-134", Failed, false, false},
		{"ba-wrong-seq", Registering, false, true},
		{"ba-wrong-key", Registering, false, true},
		{"ba-no-timestamp", Registering, false, true},
		{"be-unknown-hoa", Registering, false, true},
		{"brr", Registering, false, true},
		{"short", Registering, false, true},
	}
	for _, tc := range tests {
		r := fuzzRegistration(t)
		o, err := r.HandleMH(Packet{Src: haAddr, Dst: coa1, RoutingHome: hoa, MH: seeds[tc.seed]}, t0.Add(time.Second))
		if r.State() != tc.state || (o.Send != nil) != tc.send || (err != nil) != tc.err {
			t.Errorf("%s: state %v send %v err %v", tc.seed, r.State(), o.Send != nil, err)
		}
	}
}

func writeCorpus(t *testing.T, target string, seeds map[string][]byte) {
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds {
		data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// raSeeds are Router Advertisements for FuzzMovementRA.
func raSeeds(t testing.TB) map[string][]byte {
	m := func(ra *mip6.RouterAdvertisement) []byte {
		b, err := mip6.MarshalICMP(ra)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return map[string][]byte{
		"ra-home":            m(advert(homePfx, 0)),
		"ra-a-interval":      m(advert(pfxA, 70*time.Millisecond)),
		"ra-b":               m(advert(pfxB, 0)),
		"ra-withdraw":        m(&mip6.RouterAdvertisement{}),
		"ra-a-zero-lifetime": m(&mip6.RouterAdvertisement{RouterLifetime: time.Second, Options: []mip6.NDOption{&mip6.PrefixInformation{Prefix: pfxA, Autonomous: true}}}),
		"ra-no-options":      m(&mip6.RouterAdvertisement{RouterLifetime: 30 * time.Second}),
	}
}

// FuzzMovementRA feeds arbitrary Router Advertisements, parsed by the
// codec, into a Movement with addresses in the test prefixes: never a
// panic; a care-of address chosen is always one of the interface's
// addresses inside a prefix an RA advertised, never in the home prefix;
// the timer is never in the past; and the same RA again changes nothing.
func FuzzMovementRA(f *testing.F) {
	for _, b := range raSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ra, err := mip6.ParseRouterAdvertisement(b)
		if err != nil {
			return
		}
		m, err := NewMovement(MovementConfig{Interfaces: []string{"eth0", "wlan0"}, HomePrefix: homePfx, HomeAddress: hoa})
		if err != nil {
			t.Fatal(err)
		}
		m.LinkUp("wlan0", t0)
		m.AddressAdded("wlan0", addrA, t0)
		m.AddressAdded("wlan0", addrB, t0)
		m.AddressAdded("wlan0", netip.MustParseAddr("2001:db8:100::99"), t0)
		m.RouterAdvertisement("wlan0", rtrA, ra, t0)
		if again := m.RouterAdvertisement("wlan0", rtrA, ra, t0); len(again) != 0 {
			t.Fatalf("the same RA again changed the decision: %v", again)
		}
		cur := m.Current()
		if cur.Kind == MovedTo {
			advertised := false
			for _, o := range ra.Options {
				if p, ok := o.(*mip6.PrefixInformation); ok && p.ValidLifetime > 0 && netip.PrefixFrom(p.Prefix.Addr(), p.Prefix.Bits()).Masked().Contains(cur.CareOf) {
					advertised = true
				}
			}
			if !advertised || homePfx.Contains(cur.CareOf) || (cur.CareOf != addrA && cur.CareOf != addrB) {
				t.Fatalf("care-of address %v", cur.CareOf)
			}
		}
		if at, ok := m.NextTimer(); ok {
			if at.Before(t0) {
				t.Fatalf("timer %v in the past", at)
			}
			m.Timer(at)
		}
	})
}
