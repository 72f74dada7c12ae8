package mnd

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/homeagent"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/mobilenode"
	"github.com/gomip6/gomip6/tunnel"
)

var (
	testKey = []byte("mn-ha-secret-key-0123456789abcd!")
	ha1     = netip.MustParseAddr("2001:db8:100::1")
	ha2     = netip.MustParseAddr("2001:db8:100::2")
	ha3     = netip.MustParseAddr("2001:db8:100::3")
)

func TestHACandidates(t *testing.T) {
	var c haCandidates
	type step struct {
		HA    netip.Addr
		OK    bool
		Delay time.Duration
	}
	var got []step
	walk := func() {
		for {
			ha, ok := c.next()
			got = append(got, step{ha, ok, c.rediscoverDelay()})
			if !ok {
				return
			}
		}
	}
	if first := c.set([]netip.Addr{ha1, ha2, ha3}); first != ha1 {
		t.Fatalf("set: first %v, want %v", first, ha1)
	}
	walk() // round 1: ha2, ha3, used up; rediscover at once
	c.set([]netip.Addr{ha1})
	walk() // round 2: used up at once; 3 s
	for range 6 {
		c.set([]netip.Addr{ha1})
		walk() // rounds 3..8: 6, 12, 24, 48, 48, 48 s
	}
	c.registered()
	c.set([]netip.Addr{ha2})
	walk() // accepted in between: round 1 again
	want := []step{
		{ha2, true, 0}, {ha3, true, 0}, {netip.Addr{}, false, 0},
		{netip.Addr{}, false, 3 * time.Second},
		{netip.Addr{}, false, 6 * time.Second},
		{netip.Addr{}, false, 12 * time.Second},
		{netip.Addr{}, false, 24 * time.Second},
		{netip.Addr{}, false, 48 * time.Second},
		{netip.Addr{}, false, 48 * time.Second},
		{netip.Addr{}, false, 48 * time.Second},
		{netip.Addr{}, false, 0},
	}
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
		t.Errorf("walk (-want +got):\n%s", d)
	}
	// set copies: the reply's slice may be reused by the reader.
	list := []netip.Addr{ha1, ha2}
	c.set(list)
	list[1] = ha3
	if ha, _ := c.next(); ha != ha2 {
		t.Errorf("next after the caller changed its slice: %v, want %v", ha, ha2)
	}
}

// TestRefusedByHA: the RFC 6275 §6.1.8 codes that blame the home agent,
// and no others.
func TestRefusedByHA(t *testing.T) {
	var got []int
	for s := range 256 {
		if refusedByHA(mip6.Status(s)) {
			got = append(got, s)
		}
	}
	if d := cmp.Diff([]int{129, 130, 131, 132, 133}, got); d != "" {
		t.Errorf("statuses (-want +got):\n%s", d)
	}
}

// TestHASilent drives a real registration core through its timer and
// checks which Output haSilent flags: a first registration's fourth
// transmission, 1.5 + 3 + 6 s after the first (InitialBindackTimeoutFirstReg
// doubling, RFC 6275 §11.8), and never while the home agent holds a
// binding (a refresh) until that binding has expired.
func TestHASilent(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	hoa := netip.MustParseAddr("2001:db8:100::10")
	coa := netip.MustParseAddr("2001:db8:a::10")
	newReg := func(t *testing.T) *mobilenode.Registration {
		reg, err := mobilenode.NewRegistration(mobilenode.Config{
			ID: "mn@example", HomeAddress: hoa, HomeAgent: ha1, Lifetime: 60 * time.Second,
			SA: mobilenode.SA{SPI: 1000, Key: testKey, Algorithm: binding.HMACSHA1_96},
		})
		if err != nil {
			t.Fatal(err)
		}
		return reg
	}
	// run calls the timer until the Output haSilent flags, or until
	// limit; it returns the times of the BUs sent before and when the
	// flag came (zero: never).
	run := func(reg *mobilenode.Registration, now, limit time.Time) (sent []time.Duration, flagged time.Duration) {
		for {
			at, ok := reg.NextTimer()
			if !ok || at.After(limit) {
				return sent, 0
			}
			o := reg.Timer(at)
			if haSilent(o, reg.Entry(), at) {
				return sent, at.Sub(t0)
			}
			if o.Send != nil {
				sent = append(sent, at.Sub(t0))
			}
		}
	}

	t.Run("first registration", func(t *testing.T) {
		reg := newReg(t)
		o := reg.Moved(coa, t0)
		if o.Send == nil || haSilent(o, reg.Entry(), t0) {
			t.Fatalf("Moved: %+v", o)
		}
		sent, flagged := run(reg, t0, t0.Add(time.Hour))
		want := []time.Duration{1500 * time.Millisecond, 4500 * time.Millisecond}
		if d := cmp.Diff(want, sent); d != "" {
			t.Errorf("retransmissions before the fallback (-want +got):\n%s", d)
		}
		if flagged != 10500*time.Millisecond {
			t.Errorf("fallback at %v, want 10.5s", flagged)
		}
	})

	t.Run("refresh of a binding, then its expiry", func(t *testing.T) {
		reg := newReg(t)
		o := reg.Moved(coa, t0)
		ba := acceptBA(t, o.Send, t0)
		if _, err := reg.HandleMH(mobilenode.Packet{Src: ha1, Dst: coa, RoutingHome: hoa, MH: ba}, t0); err != nil {
			t.Fatalf("BA: %v", err)
		}
		if reg.State() != mobilenode.Registered {
			t.Fatalf("state %v", reg.State())
		}
		// The home agent's Binding Refresh Advice puts the refresh at
		// 44 s; it is retransmitted at 1 s doubling (the binding
		// exists: INITIAL_BINDACK_TIMEOUT), never given up on while
		// the binding lasts. It expires at 60 s; the next
		// retransmission, at 59 + 16 = 75 s, is of a registration
		// with no binding and more than haSilentTries transmissions:
		// that is the fallback.
		sent, flagged := run(reg, t0, t0.Add(time.Hour))
		want := []time.Duration{44 * time.Second, 45 * time.Second, 47 * time.Second, 51 * time.Second, 59 * time.Second}
		if d := cmp.Diff(want, sent); d != "" {
			t.Errorf("refresh BUs (-want +got):\n%s", d)
		}
		if flagged != 75*time.Second {
			t.Errorf("fallback at %v, want 1m15s", flagged)
		}
	})
}

// testHACore returns a homeagent core (an implementation independent of
// the mobile node's) at 2001:db8:100::1 that serves identifier
// mn@example with SPI 1000 and key for home address hoa.
func testHACore(t *testing.T, hoa string, key []byte) *homeagent.HomeAgent {
	t.Helper()
	cfg, err := conf.ParseHA([]byte(fmt.Sprintf(`
[home]
interface = "h0"
prefix = "2001:db8:100::/64"
address = "2001:db8:100::1"
[[mobile_node]]
id = "mn@example"
home_address = %q
spi = 1000
key = %q
`, hoa, base64.StdEncoding.EncodeToString(key))))
	if err != nil {
		t.Fatal(err)
	}
	core, err := homeagent.New(cfg, homeagent.Options{Table: tunnel.NewTable(1), SkipDAD: true})
	if err != nil {
		t.Fatal(err)
	}
	return core
}

// acceptBA has a home agent core process bu and returns its Binding
// Acknowledgement.
func acceptBA(t *testing.T, bu *mobilenode.BUPacket, now time.Time) []byte {
	t.Helper()
	res := testHACore(t, "2001:db8:100::10", testKey).ProcessBU(nil, homeagent.Packet{Src: bu.Src, Dst: bu.Dst, HomeAddress: bu.HomeAddress, MH: bu.MH}, now)
	if res.Verdict != homeagent.Reply || len(res.BA) == 0 {
		t.Fatalf("home agent: %+v", res)
	}
	return res.BA
}
