package mobilenode

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// newMovementRand is newMovement with a fixed jitter source: 0.5 is no
// jitter, 0 is -10 %, 1 would be +10 %.
func newMovementRand(t *testing.T, rnd float64) *Movement {
	t.Helper()
	m, err := NewMovement(MovementConfig{Interfaces: []string{"eth0", "wlan0"}, HomePrefix: homePfx, HomeAddress: hoa,
		Rand: func() float64 { return rnd }})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// solicitTimes runs the timer n times from t0 and returns the offsets at
// which eth0 solicited.
func solicitTimes(m *Movement, t0 time.Time, n int) []time.Duration {
	var out []time.Duration
	now := t0
	for range n {
		at, ok := m.NextTimer()
		if !ok {
			break
		}
		now = at
		if slices.Contains(m.Solicitations(now), "eth0") {
			out = append(out, now.Sub(t0))
		}
	}
	return out
}

func TestSolicitationSchedule(t *testing.T) {
	for _, tc := range []struct {
		name string
		rnd  float64
		want []time.Duration
	}{
		// RFC 4861: at once, +4 s, +4 s; then RFC 7559's doubling.
		{"no jitter", 0.5, []time.Duration{0, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, 64 * time.Second}},
		// RAND = -0.1: 0.9*IRT for the first two, then RT =
		// 2*RTprev - 0.1*RTprev = 1.9*RTprev from IRT.
		{"low jitter", 0, []time.Duration{0, 3600 * time.Millisecond, 7200 * time.Millisecond, 14800 * time.Millisecond, 29240 * time.Millisecond, 56676 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMovementRand(t, tc.rnd)
			t0 := time.Unix(1000, 0)
			m.LinkUp("eth0", t0)
			got := solicitTimes(m, t0, len(tc.want))
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("solicitation times (-want +got):\n%s", d)
			}
		})
	}
}

// TestSolicitationCap: the back-off stops growing at an hour (RFC 7559
// MRT), and goes on for as long as no router answers.
func TestSolicitationCap(t *testing.T) {
	m := newMovementRand(t, 0.5)
	t0 := time.Unix(1000, 0)
	m.LinkUp("eth0", t0)
	got := solicitTimes(m, t0, 20)
	if len(got) != 20 {
		t.Fatalf("%d solicitations, want 20 (it must not give up)", len(got))
	}
	last := got[19] - got[18]
	if last != MaxRtrSolicitationInterval {
		t.Errorf("interval after 20 solicitations %v, want %v", last, MaxRtrSolicitationInterval)
	}
	for i := 1; i < len(got); i++ {
		if d := got[i] - got[i-1]; d > MaxRtrSolicitationInterval {
			t.Errorf("interval %d is %v, above the cap", i, d)
		}
	}
}

func TestSolicitationStops(t *testing.T) {
	t0 := time.Unix(1000, 0)
	t.Run("advertisement", func(t *testing.T) {
		m := newMovementRand(t, 0.5)
		m.LinkUp("eth0", t0)
		if got := m.Solicitations(t0); !slices.Equal(got, []string{"eth0"}) {
			t.Fatalf("at link-up: %v", got)
		}
		m.RouterAdvertisement("eth0", rtrA, advert(pfxA, 0), t0.Add(time.Second))
		if got := m.Solicitations(t0.Add(time.Hour)); len(got) != 0 {
			t.Errorf("soliciting after an RA: %v", got)
		}
	})
	t.Run("withdrawal does not stop it", func(t *testing.T) {
		// RFC 4861 §6.3.7 stops on an RA with a nonzero Router
		// Lifetime only.
		m := newMovementRand(t, 0.5)
		m.LinkUp("eth0", t0)
		m.Solicitations(t0)
		ra := advert(pfxA, 0)
		ra.RouterLifetime = 0
		m.RouterAdvertisement("eth0", rtrA, ra, t0.Add(time.Second))
		if got := m.Solicitations(t0.Add(RtrSolicitationInterval)); !slices.Equal(got, []string{"eth0"}) {
			t.Errorf("after a zero-lifetime RA: %v, want eth0", got)
		}
	})
	t.Run("link down", func(t *testing.T) {
		m := newMovementRand(t, 0.5)
		m.LinkUp("eth0", t0)
		m.LinkDown("eth0", t0.Add(time.Second))
		if got := m.Solicitations(t0.Add(time.Hour)); len(got) != 0 {
			t.Errorf("soliciting on a down link: %v", got)
		}
		if at, ok := m.NextTimer(); ok {
			t.Errorf("timer at %v for a down link", at)
		}
	})
	t.Run("DNA answer does not stop it", func(t *testing.T) {
		// A link identified by RFC 6059 still wants the router's
		// RA: the node keeps soliciting until one comes.
		m := newMovementRand(t, 0.5)
		m.LinkUp("eth0", t0)
		m.RouterAdvertisement("eth0", rtrA, withSLLA(advert(pfxA, 0), macA), t0)
		m.LinkDown("eth0", t0.Add(time.Second))
		m.LinkUp("eth0", t0.Add(2*time.Second))
		m.Solicitations(t0.Add(2 * time.Second))
		probes := m.DNAProbes("eth0")
		if len(probes) != 1 {
			t.Fatalf("DNA probes %v", probes)
		}
		m.NeighborAdvertisement("eth0", rtrA, probes[0].MAC, t0.Add(2*time.Second))
		if got := m.Solicitations(t0.Add(6 * time.Second)); !slices.Equal(got, []string{"eth0"}) {
			t.Errorf("after a DNA answer: %v, want eth0", got)
		}
	})
}

// TestSolicitationRouterLost: an interface whose routers all went (timer
// or unreachability) solicits again at once.
func TestSolicitationRouterLost(t *testing.T) {
	t0 := time.Unix(1000, 0)
	m := newMovementRand(t, 0.5)
	m.LinkUp("eth0", t0)
	m.Solicitations(t0)
	m.RouterAdvertisement("eth0", rtrA, advert(pfxA, time.Second), t0)
	m.AddressAdded("eth0", addrA, t0)
	at, ok := m.NextTimer()
	if !ok {
		t.Fatal("no timer")
	}
	evs := m.Timer(at)
	if d := cmp.Diff([]MoveEvent{ev(LostConnectivity, "", netip.Addr{})}, strip(evs), cmpOpts); d != "" {
		t.Errorf("router lost (-want +got):\n%s", d)
	}
	if got := m.Solicitations(at); !slices.Equal(got, []string{"eth0"}) {
		t.Errorf("after the router was lost: %v, want eth0", got)
	}
	// A router that withdraws (Router Lifetime 0) leaving the link
	// without one: the same.
	now := at.Add(time.Second)
	m.RouterAdvertisement("eth0", rtrA, advert(pfxA, 0), now)
	if got := m.Solicitations(now.Add(time.Hour)); len(got) != 0 {
		t.Fatalf("soliciting with a router: %v", got)
	}
	ra := advert(pfxA, 0)
	ra.RouterLifetime = 0
	m.RouterAdvertisement("eth0", rtrA, ra, now)
	if got := m.Solicitations(now); !slices.Equal(got, []string{"eth0"}) {
		t.Errorf("after the last router withdrew: %v, want eth0", got)
	}
}

func TestRouterUnreachable(t *testing.T) {
	t0 := time.Unix(1000, 0)
	m := newMovementRand(t, 0.5)
	for _, n := range []string{"eth0", "wlan0"} {
		m.LinkUp(n, t0)
		m.Solicitations(t0)
	}
	// No Advertisement Interval option: only the 1800 s Router
	// Lifetime would otherwise end the router.
	m.RouterAdvertisement("eth0", rtrA, advert(pfxA, 0), t0)
	m.AddressAdded("eth0", addrA, t0)
	m.RouterAdvertisement("wlan0", rtrB, advert(pfxB, 0), t0)
	m.AddressAdded("wlan0", addrB, t0)
	if c := m.Current(); c.Interface != "eth0" || c.CareOf != addrA {
		t.Fatalf("current %+v", c)
	}
	if got := m.Routers("eth0"); !slices.Equal(got, []netip.Addr{rtrA}) {
		t.Errorf("Routers(eth0) = %v", got)
	}
	now := t0.Add(10 * time.Second)
	// Unknown router, wrong interface: nothing.
	if evs := m.RouterUnreachable("eth0", rtrB, now); len(evs) != 0 {
		t.Errorf("unknown router: %v", evs)
	}
	if evs := m.RouterUnreachable("eth9", rtrA, now); len(evs) != 0 {
		t.Errorf("unknown interface: %v", evs)
	}
	evs := m.RouterUnreachable("eth0", rtrA, now)
	if d := cmp.Diff([]MoveEvent{ev(MovedTo, "wlan0", addrB)}, strip(evs), cmpOpts); d != "" {
		t.Errorf("fail-over (-want +got):\n%s", d)
	}
	if got := m.Routers("eth0"); len(got) != 0 {
		t.Errorf("Routers(eth0) = %v after NUD failure", got)
	}
	if got := m.Solicitations(now); !slices.Equal(got, []string{"eth0"}) {
		t.Errorf("solicitations after NUD failure: %v, want eth0", got)
	}
	// The router comes back: its RA makes eth0 preferred again.
	evs = m.RouterAdvertisement("eth0", rtrA, advert(pfxA, 0), now.Add(time.Second))
	if d := cmp.Diff([]MoveEvent{ev(MovedTo, "eth0", addrA)}, strip(evs), cmpOpts); d != "" {
		t.Errorf("router back (-want +got):\n%s", d)
	}
	// On a down link, a late NUD report changes nothing.
	m.LinkDown("wlan0", now.Add(2*time.Second))
	if evs := m.RouterUnreachable("wlan0", rtrB, now.Add(3*time.Second)); len(evs) != 0 {
		t.Errorf("down link: %v", evs)
	}
}
