package tunnel

import (
	"net/netip"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
)

// testClock is the Table's clock in these tests, counting its reads.
type testClock struct {
	t     time.Time
	reads int
}

func (c *testClock) now() time.Time { c.reads++; return c.t }

var pmtuT0 = time.Date(2026, 5, 17, 12, 0, 0, 0, time.UTC)

func agingTable(t *testing.T) (*Table, *testClock) {
	t.Helper()
	tab := NewTable(0)
	clk := &testClock{t: pmtuT0}
	tab.now = clk.now
	return tab, clk
}

// TestAgePathMTU: a lowered path MTU comes back to the installed value
// PathMTUAge after the last lowering (RFC 8201 §4, RFC 1191 §6.3), not
// before; a refresh of the same path keeps the lowered value and its
// age; a new path, an explicit MTU or a delete forget it.
func TestAgePathMTU(t *testing.T) {
	hp := netip.PrefixFrom(hoa, 128)
	type state struct {
		PMTU    int
		Lowered int
		Raised  int
	}
	type step struct {
		at    time.Duration // clock for what the step does
		lower int           // Table.LowerPathMTU(current binding, lower)
		set   *Endpoint     // Table.Set(hp, *set)
		del   bool
		age   bool // AgePathMTU(at)
		want  state
	}
	e1480 := ep6()
	e1480.PathMTU = 1480
	moved := ep6()
	moved.Remote = other6
	explicit := ep6()
	explicit.PathMTU = 1450
	refresh := ep6()
	mins := func(d time.Duration) time.Duration { return d * time.Minute }
	tests := []struct {
		name  string
		ep    Endpoint
		steps []step
	}{
		{
			name: "raised to the installed value after 10 minutes, not before",
			ep:   e1480,
			steps: []step{
				{at: 0, lower: 1400, want: state{1400, 1, 0}},
				{at: mins(10) - 1, age: true, want: state{1400, 1, 0}},
				{at: mins(10), age: true, want: state{1480, 0, 1}},
				{at: mins(11), age: true, want: state{1480, 0, 0}},
			},
		},
		{
			name: "a later lowering restarts the period",
			ep:   ep6(),
			steps: []step{
				{at: 0, lower: 1400, want: state{1400, 1, 0}},
				{at: mins(5), lower: 1300, want: state{1300, 1, 0}},
				{at: mins(10), age: true, want: state{1300, 1, 0}},
				{at: mins(15), age: true, want: state{DefaultPathMTU, 0, 1}},
			},
		},
		{
			name: "a PTB that does not lower does not restart it",
			ep:   ep6(),
			steps: []step{
				{at: 0, lower: 1400, want: state{1400, 1, 0}},
				{at: mins(5), lower: 1400, want: state{1400, 1, 0}},
				{at: mins(10), age: true, want: state{DefaultPathMTU, 0, 1}},
			},
		},
		{
			name: "a refresh of the same path keeps the MTU and its age",
			ep:   e1480,
			steps: []step{
				{at: 0, lower: 1400, want: state{1400, 1, 0}},
				{at: mins(1), set: &refresh, want: state{1400, 1, 0}},
				{at: mins(10), age: true, want: state{1480, 0, 1}},
			},
		},
		{
			name: "a new care-of address starts afresh",
			ep:   ep6(),
			steps: []step{
				{at: 0, lower: 1400, want: state{1400, 1, 0}},
				{at: mins(1), set: &moved, want: state{DefaultPathMTU, 0, 0}},
				{at: mins(10), age: true, want: state{DefaultPathMTU, 0, 0}},
			},
		},
		{
			name: "an explicit MTU replaces the learned one",
			ep:   ep6(),
			steps: []step{
				{at: 0, lower: 1400, want: state{1400, 1, 0}},
				{at: mins(1), set: &explicit, want: state{1450, 0, 0}},
				{at: mins(1), lower: 1420, want: state{1420, 1, 0}},
				{at: mins(11), age: true, want: state{1450, 0, 1}},
			},
		},
		{
			name: "a delete forgets it",
			ep:   ep6(),
			steps: []step{
				{at: 0, lower: 1400, want: state{1400, 1, 0}},
				{at: mins(1), del: true, want: state{0, 0, 0}},
				{at: mins(10), age: true, want: state{0, 0, 0}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab, clk := agingTable(t)
			if err := tab.Set(hp, tc.ep); err != nil {
				t.Fatal(err)
			}
			for i, s := range tc.steps {
				clk.t = pmtuT0.Add(s.at)
				var got state
				switch {
				case s.lower != 0:
					tab.LowerPathMTU(tab.Lookup(hoa), s.lower)
				case s.set != nil:
					if err := tab.Set(hp, *s.set); err != nil {
						t.Fatal(err)
					}
				case s.del:
					tab.Delete(hp)
				case s.age:
					got.Raised = tab.AgePathMTU(clk.t)
				}
				if b := tab.Lookup(hoa); b != nil {
					got.PMTU = b.PathMTU()
				}
				got.Lowered = tab.LoweredPathMTUs()
				if d := cmp.Diff(s.want, got); d != "" {
					t.Errorf("step %d (-want +got):\n%s", i, d)
				}
			}
		})
	}
}

// TestAgePathMTUPrefix: mobile network prefixes age the same way.
func TestAgePathMTUPrefix(t *testing.T) {
	tab, clk := agingTable(t)
	if err := tab.Set(mnp, ep4()); err != nil {
		t.Fatal(err)
	}
	in := mnp.Addr().Next()
	if !tab.LowerPathMTU(tab.Lookup(in), 1000) || tab.Lookup(in).PathMTU() != 1000 {
		t.Fatal("lower")
	}
	if err := tab.Set(mnp, ep4()); err != nil { // refresh
		t.Fatal(err)
	}
	if n := tab.AgePathMTU(clk.t.Add(PathMTUAge)); n != 1 || tab.Lookup(in).PathMTU() != DefaultPathMTU {
		t.Errorf("raised %d, pmtu %d", n, tab.Lookup(in).PathMTU())
	}
	tab.LowerPathMTU(tab.Lookup(in), 1000)
	tab.Delete(mnp)
	if tab.LoweredPathMTUs() != 0 {
		t.Error("deleted prefix still in the lowered set")
	}
}

// TestLowerPathMTUClock: the clock is read only when the MTU goes down.
func TestLowerPathMTUClock(t *testing.T) {
	tab, clk := agingTable(t)
	if err := tab.Set(netip.PrefixFrom(hoa, 128), ep6()); err != nil {
		t.Fatal(err)
	}
	b := tab.Lookup(hoa)
	for _, mtu := range []int{1500, 9000, 1400, 1400, 1450, 600, 1280} {
		tab.LowerPathMTU(b, mtu)
	}
	// Lowered twice: 1500 -> 1400, 1400 -> 1280 (600 clamped to the
	// IPv6 floor); 1280 again changes nothing.
	if clk.reads != 2 || b.PathMTU() != MinIPv6MTU {
		t.Errorf("clock read %d times, pmtu %d", clk.reads, b.PathMTU())
	}
}

// TestRelayAges: a Packet Too Big relayed by the tunnel is aged.
func TestRelayAges(t *testing.T) {
	tun, _ := newHA(t, ep6(), nil)
	clk := &testClock{t: pmtuT0}
	tun.Table().now = clk.now
	te, r := ParseTunnelError(icmp6Msg(2, 0, 1400, outerOf(t, tun, innerOfSize(1400))[:1232]), false)
	if r != ReasonOK {
		t.Fatal(r)
	}
	tun.RelayError(make([]byte, 1500), &te)
	b := tun.Table().Lookup(hoa)
	if b.PathMTU() != 1400 || tun.Table().LoweredPathMTUs() != 1 {
		t.Fatalf("pmtu %d, lowered %d", b.PathMTU(), tun.Table().LoweredPathMTUs())
	}
	if tun.Table().AgePathMTU(pmtuT0.Add(PathMTUAge)) != 1 || b.PathMTU() != DefaultPathMTU {
		t.Errorf("not raised: %d", b.PathMTU())
	}
}

// TestBindingSize: the base MTU fits in the Binding's padding; it stays
// 64 octets (one size class, and the table's memory budget).
func TestBindingSize(t *testing.T) {
	if n := unsafe.Sizeof(Binding{}); n != 64 {
		t.Errorf("Binding is %d octets", n)
	}
}

// TestAgePathMTURace runs lowering (the ICMP path), refreshes and moves
// (the control plane) and aging together; with -race it checks the
// locking, and afterwards the set holds only installed bindings or none.
func TestAgePathMTURace(t *testing.T) {
	tab := NewTable(0)
	hp := netip.PrefixFrom(hoa, 128)
	if err := tab.Set(hp, ep6()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if b := tab.Lookup(hoa); b != nil {
					tab.LowerPathMTU(b, 1499-(i+g)%200)
				}
			}
		}()
	}
	moved := ep6()
	moved.Remote = other6
	for i := range 2000 {
		e := ep6()
		if i%3 == 0 {
			e = moved
		}
		_ = tab.Set(hp, e)
		if i%10 == 0 {
			tab.AgePathMTU(time.Now().Add(PathMTUAge))
		}
	}
	close(stop)
	wg.Wait()
	tab.AgePathMTU(time.Now().Add(2 * PathMTUAge))
	if n := tab.LoweredPathMTUs(); n != 0 {
		t.Errorf("%d entries left after aging everything", n)
	}
	if b := tab.Lookup(hoa); b.PathMTU() != DefaultPathMTU {
		t.Errorf("pmtu %d after aging", b.PathMTU())
	}
}
