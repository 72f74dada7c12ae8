package mobilenode

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gomip6/gomip6/mip6"
	"github.com/google/go-cmp/cmp"
)

var (
	homePfx = netip.MustParsePrefix("2001:db8:100::/64")
	pfxA    = netip.MustParsePrefix("2001:db8:a::/64")
	pfxB    = netip.MustParsePrefix("2001:db8:b::/64")
	addrA   = netip.MustParseAddr("2001:db8:a::1")
	addrB   = netip.MustParseAddr("2001:db8:b::2")
	rtrA    = netip.MustParseAddr("fe80::a")
	rtrB    = netip.MustParseAddr("fe80::b")
	rtrHome = netip.MustParseAddr("fe80::1")
)

func newMovement(t *testing.T) *Movement {
	t.Helper()
	m, err := NewMovement(MovementConfig{Interfaces: []string{"eth0", "wlan0"}, HomePrefix: homePfx, HomeAddress: hoa})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// advert is an RA with one autonomous prefix, lifetime 1800 s, and an
// Advertisement Interval option when interval > 0.
func advert(p netip.Prefix, interval time.Duration) *mip6.RouterAdvertisement {
	ra := &mip6.RouterAdvertisement{RouterLifetime: 1800 * time.Second, Options: []mip6.NDOption{
		&mip6.PrefixInformation{Prefix: p, OnLink: true, Autonomous: true, ValidLifetime: 2592000 * time.Second, PreferredLifetime: 604800 * time.Second},
	}}
	if interval > 0 {
		ra.Options = append(ra.Options, &mip6.AdvertisementInterval{Interval: interval})
	}
	return ra
}

func ev(k MoveKind, iface string, coa netip.Addr) MoveEvent {
	return MoveEvent{Kind: k, Interface: iface, CareOf: coa}
}

// strip drops the reasons, which are for people.
func strip(evs []MoveEvent) []MoveEvent {
	out := []MoveEvent{}
	for _, e := range evs {
		e.Reason = ""
		out = append(out, e)
	}
	return out
}

// TestMovementSequence walks the decisions through a day of moves.
func TestMovementSequence(t *testing.T) {
	m := newMovement(t)
	now := t0
	steps := []struct {
		name string
		do   func() []MoveEvent
		want []MoveEvent
	}{
		{"wlan0 up: nothing before an RA", func() []MoveEvent { return m.LinkUp("wlan0", now) }, []MoveEvent{}},
		{"RA on wlan0 without an address yet", func() []MoveEvent { return m.RouterAdvertisement("wlan0", rtrB, advert(pfxB, 0), now) }, []MoveEvent{}},
		{"address in the prefix", func() []MoveEvent { return m.AddressAdded("wlan0", addrB, now) },
			[]MoveEvent{ev(MovedTo, "wlan0", addrB)}},
		{"eth0 up with an old address from network A", func() []MoveEvent {
			m.AddressAdded("eth0", addrA, now)
			return m.LinkUp("eth0", now)
		}, []MoveEvent{}},
		{"eth0 RA for A: preferred interface wins", func() []MoveEvent { return m.RouterAdvertisement("eth0", rtrA, advert(pfxA, 0), now) },
			[]MoveEvent{ev(MovedTo, "eth0", addrA)}},
		{"unknown interface ignored", func() []MoveEvent { return m.LinkDown("eth9", now) }, []MoveEvent{}},
		{"eth0 down: fail over", func() []MoveEvent { return m.LinkDown("eth0", now) },
			[]MoveEvent{ev(MovedTo, "wlan0", addrB)}},
		{"eth0 up on the home link: the stale address A does not count", func() []MoveEvent {
			m.LinkUp("eth0", now)
			return m.RouterAdvertisement("eth0", rtrHome, advert(homePfx, 0), now)
		}, []MoveEvent{ev(ReturnedHome, "eth0", netip.Addr{})}},
		{"home router withdraws (lifetime 0)", func() []MoveEvent {
			return m.RouterAdvertisement("eth0", rtrHome, &mip6.RouterAdvertisement{}, now)
		}, []MoveEvent{ev(MovedTo, "wlan0", addrB)}},
		{"wlan0 address removed: nothing usable", func() []MoveEvent { return m.AddressRemoved("wlan0", addrB, now) },
			[]MoveEvent{ev(LostConnectivity, "", netip.Addr{})}},
	}
	for _, s := range steps {
		got := strip(s.do())
		if diff := cmp.Diff(s.want, got, cmpOpts); diff != "" {
			t.Fatalf("%s (-want +got):\n%s", s.name, diff)
		}
	}
}

// TestRouterLost: §11.5.1, no RA within the Advertisement Interval: one
// missed RA is tolerated, the second is not.
func TestRouterLost(t *testing.T) {
	m := newMovement(t)
	m.LinkUp("wlan0", t0)
	m.AddressAdded("wlan0", addrB, t0)
	if got := strip(m.RouterAdvertisement("wlan0", rtrB, advert(pfxB, time.Second), t0)); len(got) != 1 || got[0].Kind != MovedTo {
		t.Fatalf("%v", got)
	}
	at, ok := m.NextTimer()
	if want := t0.Add(2*time.Second + DefaultRouterLossSlack); !ok || !at.Equal(want) {
		t.Fatalf("deadline %v, want %v", at, want)
	}
	// An RA just before the deadline pushes it back.
	now := t0.Add(2 * time.Second)
	if got := m.Timer(now); len(got) != 0 {
		t.Fatalf("early: %v", got)
	}
	m.RouterAdvertisement("wlan0", rtrB, advert(pfxB, time.Second), now)
	if got := m.Timer(at); len(got) != 0 {
		t.Fatalf("after a fresh RA: %v", got)
	}
	at, _ = m.NextTimer()
	want := []MoveEvent{ev(LostConnectivity, "", netip.Addr{})}
	if diff := cmp.Diff(want, strip(m.Timer(at)), cmpOpts); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	// What is left is a solicitation, due at once (the link lost its
	// only router), then its retransmission.
	if got, _ := m.NextTimer(); !got.Equal(at) {
		t.Fatalf("timer at %v after the router expired, want the solicitation at %v", got, at)
	}
	if got := m.Solicitations(at); len(got) != 1 || got[0] != "wlan0" {
		t.Fatalf("solicitations %v after the router expired", got)
	}
	if got, _ := m.NextTimer(); got.Sub(at) < RtrSolicitationInterval*9/10 || got.Sub(at) > RtrSolicitationInterval*11/10 {
		t.Fatalf("timer %v after the solicitation, want %v ± 10%%", got.Sub(at), RtrSolicitationInterval)
	}
	// Without the option, the Router Lifetime is the deadline.
	m.RouterAdvertisement("wlan0", rtrB, advert(pfxB, 0), at)
	if next, _ := m.NextTimer(); !next.Equal(at.Add(1800 * time.Second)) {
		t.Fatalf("deadline %v", next.Sub(at))
	}
}

// TestFlapping: a preferred link that flaps is held down while another
// link works, doubling per further flap, and used again after the
// hold-down; a link alone is never held out.
func TestFlapping(t *testing.T) {
	m := newMovement(t)
	now := t0
	m.LinkUp("wlan0", now)
	m.AddressAdded("wlan0", addrB, now)
	m.RouterAdvertisement("wlan0", rtrB, advert(pfxB, 0), now)
	m.AddressAdded("eth0", addrA, now)
	flap := func() []MoveEvent {
		now = now.Add(time.Second)
		var out []MoveEvent
		out = append(out, m.LinkUp("eth0", now)...)
		out = append(out, m.RouterAdvertisement("eth0", rtrA, advert(pfxA, 0), now)...)
		now = now.Add(time.Second)
		return append(out, m.LinkDown("eth0", now)...)
	}
	// The first three ups are used (two downs before them).
	for i := range 3 {
		got := strip(flap())
		want := []MoveEvent{ev(MovedTo, "eth0", addrA), ev(MovedTo, "wlan0", addrB)}
		if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
			t.Fatalf("flap %d (-want +got):\n%s", i, diff)
		}
	}
	// Three downs in the window: the next up is held for 5 s.
	now = now.Add(time.Second)
	m.LinkUp("eth0", now)
	if got := m.RouterAdvertisement("eth0", rtrA, advert(pfxA, 0), now); len(got) != 0 || !m.HeldDown("eth0", now) {
		t.Fatalf("held-down link used: %v", got)
	}
	at, _ := m.NextTimer()
	if !at.Equal(now.Add(DefaultHoldDown)) {
		t.Fatalf("hold-down ends %v after", at.Sub(now))
	}
	want := []MoveEvent{ev(MovedTo, "eth0", addrA)}
	if diff := cmp.Diff(want, strip(m.Timer(at)), cmpOpts); diff != "" {
		t.Fatalf("after hold-down (-want +got):\n%s", diff)
	}
	// A fourth flap in the window doubles the hold-down.
	now = at.Add(time.Second)
	m.LinkDown("eth0", now)
	now = now.Add(time.Second)
	m.LinkUp("eth0", now)
	if !m.HeldDown("eth0", now.Add(2*DefaultHoldDown-time.Millisecond)) || m.HeldDown("eth0", now.Add(2*DefaultHoldDown)) {
		t.Fatalf("second hold-down is not %v", 2*DefaultHoldDown)
	}
	// With wlan0 gone, the held-down eth0 is used at once.
	m.LinkDown("wlan0", now)
	want = []MoveEvent{ev(MovedTo, "eth0", addrA)}
	if diff := cmp.Diff(want, strip(m.RouterAdvertisement("eth0", rtrA, advert(pfxA, 0), now)), cmpOpts); diff != "" {
		t.Fatalf("sole held-down link (-want +got):\n%s", diff)
	}
}

// TestThousandFlaps: state stays bounded and the decision ends right.
func TestThousandFlaps(t *testing.T) {
	m := newMovement(t)
	now := t0
	m.LinkUp("wlan0", now)
	m.AddressAdded("wlan0", addrB, now)
	m.RouterAdvertisement("wlan0", rtrB, advert(pfxB, time.Second), now)
	m.AddressAdded("eth0", addrA, now)
	for range 1000 {
		now = now.Add(10 * time.Millisecond)
		m.LinkUp("eth0", now)
		m.RouterAdvertisement("eth0", rtrA, advert(pfxA, time.Second), now)
		m.RouterAdvertisement("wlan0", rtrB, advert(pfxB, time.Second), now)
		now = now.Add(10 * time.Millisecond)
		m.LinkDown("eth0", now)
	}
	s := m.iface("eth0")
	if len(s.downs) > DefaultFlapThreshold+maxDowns || cap(s.routers) > 4 {
		t.Errorf("state grew: %d downs, %d router slots", len(s.downs), cap(s.routers))
	}
	if got := m.Current(); got.Kind != MovedTo || got.CareOf != addrB {
		t.Fatalf("decision %+v", got)
	}
	// Long after, the flap history is gone and eth0 is used at once.
	now = now.Add(time.Minute)
	m.RouterAdvertisement("wlan0", rtrB, advert(pfxB, time.Second), now)
	m.LinkUp("eth0", now)
	got := strip(m.RouterAdvertisement("eth0", rtrA, advert(pfxA, time.Second), now))
	if diff := cmp.Diff([]MoveEvent{ev(MovedTo, "eth0", addrA)}, got, cmpOpts); diff != "" || len(s.downs) != 0 {
		t.Fatalf("(-want +got):\n%s downs %d", diff, len(s.downs))
	}
}

// TestMovementDrivesRegistration wires the two halves: movement events
// into the registration, against the real home agent.
func TestMovementDrivesRegistration(t *testing.T) {
	l := newLab(t, mnConfig(t))
	m := newMovement(t)
	apply := func(evs []MoveEvent) {
		for _, e := range evs {
			var o Output
			switch e.Kind {
			case MovedTo:
				o = l.mn.Moved(e.CareOf, l.now)
			case ReturnedHome:
				o = l.mn.ReturnedHome(l.now)
			case LostConnectivity:
				o = l.mn.LostConnectivity(l.now)
			}
			if o.Send != nil {
				l.exchange(o.Send)
			}
		}
	}
	m.LinkUp("wlan0", l.now)
	m.AddressAdded("wlan0", addrB, l.now)
	apply(m.RouterAdvertisement("wlan0", rtrB, advert(pfxB, 0), l.now))
	if b, ok := l.haBinding(); !ok || b.CareOf != addrB || l.mn.State() != Registered {
		t.Fatalf("binding %+v state %v", b, l.mn.State())
	}
	l.now = l.now.Add(time.Minute)
	apply(m.LinkDown("wlan0", l.now))
	m.LinkUp("eth0", l.now)
	apply(m.RouterAdvertisement("eth0", rtrHome, advert(homePfx, 0), l.now))
	if _, ok := l.haBinding(); ok || l.mn.State() != AtHome {
		t.Fatalf("state %v", l.mn.State())
	}
}

var (
	macA    = net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x53, 0x02}
	macHome = net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x53, 0x01}
	macX    = net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x53, 0x99}
)

// withSLLA adds a Source Link-layer Address option to ra.
func withSLLA(ra *mip6.RouterAdvertisement, mac net.HardwareAddr) *mip6.RouterAdvertisement {
	ra.Options = append(ra.Options, &mip6.NDLinkLayerAddress{Addr: mac})
	return ra
}

// TestDNA walks RFC 6059 link identification: a link seen once is known
// again from one Neighbor Advertisement, before any RA.
func TestDNA(t *testing.T) {
	m := newMovement(t)
	now := t0
	steps := []struct {
		name string
		do   func() []MoveEvent
		want []MoveEvent
	}{
		{"nothing to probe before any link was seen", func() []MoveEvent {
			m.LinkUp("eth0", now)
			if p := m.DNAProbes("eth0"); len(p) != 0 {
				t.Errorf("DNAProbes = %v, want none", p)
			}
			return nil
		}, []MoveEvent{}},
		{"home RA with SLLA: home, and the home link remembered", func() []MoveEvent {
			return m.RouterAdvertisement("eth0", rtrHome, withSLLA(advert(homePfx, time.Second), macHome), now)
		}, []MoveEvent{ev(ReturnedHome, "eth0", netip.Addr{})}},
		{"move to A: address, RA", func() []MoveEvent {
			m.LinkDown("eth0", now)
			m.LinkUp("eth0", now)
			m.AddressAdded("eth0", addrA, now)
			return m.RouterAdvertisement("eth0", rtrA, withSLLA(advert(pfxA, time.Second), macA), now)
		}, []MoveEvent{ev(MovedTo, "eth0", addrA)}},
		{"back home: a NA before the probes is ignored", func() []MoveEvent {
			now = now.Add(10 * time.Second)
			m.LinkDown("eth0", now)
			m.LinkUp("eth0", now)
			return m.NeighborAdvertisement("eth0", rtrHome, macHome, now)
		}, []MoveEvent{}},
		{"probes: A (seen last) first, then home", func() []MoveEvent {
			got := m.DNAProbes("eth0")
			want := []KnownRouter{{rtrA, macA}, {rtrHome, macHome}}
			if d := cmp.Diff(want, got, cmpOpts); d != "" {
				t.Errorf("DNAProbes (-want +got):\n%s", d)
			}
			return nil
		}, []MoveEvent{}},
		{"the home router answers from another MAC: not the same link", func() []MoveEvent {
			return m.NeighborAdvertisement("eth0", rtrHome, macX, now)
		}, []MoveEvent{}},
		{"the home router answers from its MAC: home at once", func() []MoveEvent {
			return m.NeighborAdvertisement("eth0", rtrHome, macHome, now)
		}, []MoveEvent{ev(ReturnedHome, "eth0", netip.Addr{})}},
		{"a second answer changes nothing", func() []MoveEvent {
			return m.NeighborAdvertisement("eth0", rtrHome, macHome, now)
		}, []MoveEvent{}},
		{"no RA within the remembered interval: the router is lost", func() []MoveEvent {
			// 2 intervals + slack after the NA.
			return m.Timer(now.Add(2*time.Second + DefaultRouterLossSlack))
		}, []MoveEvent{ev(LostConnectivity, "", netip.Addr{})}},
		{"flap back to A: its care-of address, kept by the kernel, at once", func() []MoveEvent {
			now = now.Add(5 * time.Second)
			m.LinkDown("eth0", now)
			m.LinkUp("eth0", now)
			m.DNAProbes("eth0")
			return m.NeighborAdvertisement("eth0", rtrA, macA, now)
		}, []MoveEvent{ev(MovedTo, "eth0", addrA)}},
		{"A's RA now lists only prefix B: the RA's set wins", func() []MoveEvent {
			m.AddressAdded("eth0", addrB, now)
			return m.RouterAdvertisement("eth0", rtrA, withSLLA(advert(pfxB, time.Second), macA), now)
		}, []MoveEvent{ev(MovedTo, "eth0", addrB)}},
		{"after an RA nothing is probed", func() []MoveEvent {
			if p := m.DNAProbes("eth0"); len(p) != 0 {
				t.Errorf("DNAProbes = %v, want none", p)
			}
			return nil
		}, []MoveEvent{}},
		{"unknown interface", func() []MoveEvent {
			return m.NeighborAdvertisement("eth9", rtrA, macA, now)
		}, []MoveEvent{}},
	}
	for _, st := range steps {
		got := strip(st.do())
		if d := cmp.Diff(st.want, got, cmpOpts); d != "" {
			t.Errorf("%s (-want +got):\n%s", st.name, d)
		}
	}
}

// TestDNAExpiredPrefix: a remembered prefix whose valid lifetime ran out
// is not reused, so no care-of address comes from it.
func TestDNAExpiredPrefix(t *testing.T) {
	m := newMovement(t)
	now := t0
	ra := withSLLA(advert(pfxA, time.Second), macA)
	ra.Options[0].(*mip6.PrefixInformation).ValidLifetime = 30 * time.Second
	m.LinkUp("eth0", now)
	m.AddressAdded("eth0", addrA, now)
	if got := strip(m.RouterAdvertisement("eth0", rtrA, ra, now)); len(got) != 1 {
		t.Fatalf("RA: %v", got)
	}
	now = now.Add(time.Minute)
	m.LinkDown("eth0", now)
	m.LinkUp("eth0", now)
	m.DNAProbes("eth0")
	if got := strip(m.NeighborAdvertisement("eth0", rtrA, macA, now)); len(got) != 0 {
		t.Errorf("NA with the prefix expired: %v, want no move", got)
	}
}

// TestDNABounded: at most KnownLinks links are remembered, the least
// recently seen dropped; without an SLLA nothing is; negative: DNA off.
func TestDNABounded(t *testing.T) {
	for _, tc := range []struct {
		known, want int
	}{{0, DefaultKnownLinks}, {3, 3}, {-1, 0}} {
		m, err := NewMovement(MovementConfig{Interfaces: []string{"eth0"}, HomePrefix: homePfx, HomeAddress: hoa, KnownLinks: tc.known})
		if err != nil {
			t.Fatal(err)
		}
		now := t0
		var last netip.Addr
		for i := range 40 {
			m.LinkDown("eth0", now)
			m.LinkUp("eth0", now)
			last = netip.AddrFrom16([16]byte{0xfe, 0x80, 15: byte(i + 1)})
			m.RouterAdvertisement("eth0", last, withSLLA(advert(pfxA, 0), net.HardwareAddr{2, 0, 0, 0, 0, byte(i)}), now)
			m.RouterAdvertisement("eth0", rtrB, advert(pfxB, 0), now) // no SLLA
			now = now.Add(time.Second)
		}
		m.LinkDown("eth0", now)
		m.LinkUp("eth0", now)
		p := m.DNAProbes("eth0")
		if len(p) != tc.want {
			t.Errorf("KnownLinks %d: %d probes, want %d", tc.known, len(p), tc.want)
		}
		if tc.want > 0 && p[0].Addr != last {
			t.Errorf("KnownLinks %d: first probe %v, want the last seen %v", tc.known, p[0].Addr, last)
		}
	}
}
