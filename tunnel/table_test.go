package tunnel

import (
	"encoding/binary"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// homeAddr returns the i-th home address of a test population.
func homeAddr(i int) netip.Addr {
	a := [16]byte{0x20, 0x01, 0x0d, 0xb8, 0x00, 0x02}
	binary.BigEndian.PutUint64(a[8:], uint64(i)*0x9e3779b1+1)
	return netip.AddrFrom16(a)
}

var cmpAddr = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

func TestTableBasics(t *testing.T) {
	tab := NewTable(0)
	if tab.Lookup(hoa) != nil {
		t.Fatal("empty table found something")
	}
	if err := tab.Set(netip.PrefixFrom(hoa, 128), ep6()); err != nil {
		t.Fatal(err)
	}
	b := tab.Lookup(hoa)
	if b == nil {
		t.Fatal("not found")
	}
	want := ep6()
	want.PathMTU = DefaultPathMTU
	if diff := cmp.Diff(want, b.Endpoint(), cmpAddr); diff != "" {
		t.Error(diff)
	}
	if b.Prefix() != netip.PrefixFrom(hoa, 128) || b.Kind() != KindIPv6 || b.TunnelMTU() != 1460 {
		t.Errorf("prefix %v kind %v tunnel MTU %d", b.Prefix(), b.Kind(), b.TunnelMTU())
	}

	// IPv4 endpoints come back as plain IPv4, whichever form went in.
	e := epUDP()
	e.Remote = netip.AddrFrom16(coa4.As16()) // ::ffff:198.51.100.2
	if err := tab.Set(netip.PrefixFrom(hoa, 128), e); err != nil {
		t.Fatal(err)
	}
	if got := tab.Lookup(hoa).Endpoint(); got.Remote != coa4 || got.Local != ha4 || got.RemotePort != natPort {
		t.Errorf("%+v", got)
	}
	if b.Kind() != KindIPv6 {
		t.Error("a published binding changed")
	}

	// Prefixes: longest match after the /128 miss.
	p56 := netip.MustParsePrefix("2001:db8:3300:ab00::/56")
	if err := tab.Set(mnp, ep4()); err != nil {
		t.Fatal(err)
	}
	if err := tab.Set(p56, ep6()); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		a    string
		want netip.Prefix
	}{
		{"2001:db8:3300:1::1", mnp},
		{"2001:db8:3300:abcd::1", p56},
		{"2001:db8:3301::1", netip.Prefix{}},
		{"2001:db8:2::100", netip.PrefixFrom(hoa, 128)},
	} {
		var got netip.Prefix
		if b := tab.Lookup(netip.MustParseAddr(tt.a)); b != nil {
			got = b.Prefix()
		}
		if got != tt.want {
			t.Errorf("%s: %v, want %v", tt.a, got, tt.want)
		}
	}
	if tab.Len() != 3 {
		t.Errorf("Len %d", tab.Len())
	}
	// Unmasked prefixes are masked.
	if !tab.Delete(netip.MustParsePrefix("2001:db8:3300:abff::1/56")) || tab.Delete(p56) {
		t.Error("prefix delete")
	}
	if !tab.Delete(netip.PrefixFrom(hoa, 128)) || tab.Delete(netip.PrefixFrom(hoa, 128)) {
		t.Error("delete")
	}
	if tab.Lookup(hoa) != nil || tab.Len() != 1 {
		t.Error("still there")
	}
	n := 0
	tab.Range(func(*Binding) bool { n++; return true })
	if n != 1 {
		t.Errorf("Range saw %d", n)
	}
}

func TestTableRejects(t *testing.T) {
	tab := NewTable(0)
	good := netip.PrefixFrom(hoa, 128)
	for _, tt := range []struct {
		name string
		p    netip.Prefix
		e    Endpoint
	}{
		{"IPv4 key", netip.MustParsePrefix("10.0.0.1/32"), ep6()},
		{"mapped key", netip.MustParsePrefix("::ffff:10.0.0.1/128"), ep6()},
		{"zero prefix", netip.Prefix{}, ep6()},
		{"no kind", good, Endpoint{Local: ha6, Remote: coa6}},
		{"ip6ip6 with IPv4", good, Endpoint{Kind: KindIPv6, Local: ha4, Remote: coa4}},
		{"6in4 with IPv6", good, Endpoint{Kind: Kind6in4, Local: ha6, Remote: coa6}},
		{"multicast remote", good, Endpoint{Kind: KindIPv6, Local: ha6, Remote: netip.MustParseAddr("ff0e::1")}},
		{"link-local remote", good, Endpoint{Kind: KindIPv6, Local: ha6, Remote: netip.MustParseAddr("fe80::1")}},
		{"IPv4 broadcast", good, Endpoint{Kind: Kind6in4, Local: ha4, Remote: netip.MustParseAddr("255.255.255.255")}},
		{"IPv4 unspecified", good, Endpoint{Kind: Kind6in4, Local: netip.IPv4Unspecified(), Remote: coa4}},
		{"udp4 without port", good, Endpoint{Kind: KindUDP4, Local: ha4, Remote: coa4, LocalPort: 4191}},
		{"ports on 6in4", good, Endpoint{Kind: Kind6in4, Local: ha4, Remote: coa4, RemotePort: 1}},
		{"path MTU below 1280 on IPv6", good, Endpoint{Kind: KindIPv6, Local: ha6, Remote: coa6, PathMTU: 1279}},
		{"path MTU too large", good, Endpoint{Kind: Kind6in4, Local: ha4, Remote: coa4, PathMTU: 65536}},
	} {
		if err := tab.Set(tt.p, tt.e); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
	if tab.Len() != 0 {
		t.Error("rejected entries were installed")
	}
}

// TestTablePathMTU: lowering is atomic and one-way; a refresh to the same
// path keeps what was learned, a new care-of address starts afresh.
func TestTablePathMTU(t *testing.T) {
	tab := NewTable(0)
	p := netip.PrefixFrom(hoa, 128)
	if err := tab.Set(p, ep4()); err != nil {
		t.Fatal(err)
	}
	b := tab.Lookup(p.Addr())
	if !b.LowerPathMTU(1400) || b.LowerPathMTU(1450) || b.PathMTU() != 1400 {
		t.Fatal("lower")
	}
	if !b.LowerPathMTU(100) || b.PathMTU() != minPathMTU4 {
		t.Errorf("floor: %d", b.PathMTU())
	}
	_ = tab.Set(p, ep4()) // refresh
	if got := tab.Lookup(p.Addr()).PathMTU(); got != minPathMTU4 {
		t.Errorf("refresh lost the learned MTU: %d", got)
	}
	e := ep4()
	e.PathMTU = 1480
	_ = tab.Set(p, e) // explicit
	if got := tab.Lookup(p.Addr()).PathMTU(); got != 1480 {
		t.Errorf("explicit MTU: %d", got)
	}
	tab.Lookup(p.Addr()).LowerPathMTU(1000)
	e = ep4()
	e.Remote = other4
	_ = tab.Set(p, e) // moved
	if got := tab.Lookup(p.Addr()).PathMTU(); got != DefaultPathMTU {
		t.Errorf("new path inherited MTU %d", got)
	}
}

// TestTableChurn inserts, deletes and reinserts enough to grow every shard
// and fill it with tombstones, checking every lookup against a map.
func TestTableChurn(t *testing.T) {
	tab := NewTable(0)
	ref := map[netip.Addr]bool{}
	const n = 20000
	for i := range n {
		a := homeAddr(i)
		if err := tab.Set(netip.PrefixFrom(a, 128), ep6()); err != nil {
			t.Fatal(err)
		}
		ref[a] = true
	}
	for round := range 3 {
		for i := round; i < n; i += 2 {
			a := homeAddr(i)
			if tab.Delete(netip.PrefixFrom(a, 128)) != ref[a] {
				t.Fatalf("delete %v", a)
			}
			delete(ref, a)
		}
		for i := round; i < n; i += 3 {
			a := homeAddr(i)
			_ = tab.Set(netip.PrefixFrom(a, 128), ep4())
			ref[a] = true
		}
		for i := range n + 100 {
			a := homeAddr(i)
			if b := tab.Lookup(a); (b != nil) != ref[a] || (b != nil && b.Prefix().Addr() != a) {
				t.Fatalf("round %d: lookup %v = %v, want present=%v", round, a, b, ref[a])
			}
		}
		if tab.Len() != len(ref) {
			t.Fatalf("Len %d, want %d", tab.Len(), len(ref))
		}
	}
}

// TestTableConcurrentUpdate: readers never see a torn endpoint while the
// writer moves bindings between two endpoints and deletes and re-adds
// others (run with -race).
func TestTableConcurrentUpdate(t *testing.T) {
	tab := NewTable(0)
	const n = 2000
	eA := epUDP()
	eB := Endpoint{Kind: KindUDP4, Local: ha4, Remote: other4, LocalPort: UDPPortDSMIP, RemotePort: 5555}
	for i := range n {
		_ = tab.Set(netip.PrefixFrom(homeAddr(i), 128), eA)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var bad, seen atomic.Int64
	for range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				b := tab.Lookup(homeAddr(i % n))
				if b == nil {
					if i%n < n/2 {
						bad.Add(1) // the first half is never deleted
					}
					continue
				}
				seen.Add(1)
				ok := (b.remote == coa4.As16() && b.rport == natPort) ||
					(b.remote == other4.As16() && b.rport == 5555)
				if !ok {
					bad.Add(1)
				}
			}
		})
	}
	for round := range 50 {
		e := eA
		if round%2 == 0 {
			e = eB
		}
		for i := range n / 2 {
			_ = tab.Set(netip.PrefixFrom(homeAddr(i), 128), e)
		}
		for i := n / 2; i < n; i++ {
			if round%2 == 0 {
				tab.Delete(netip.PrefixFrom(homeAddr(i), 128))
			} else {
				_ = tab.Set(netip.PrefixFrom(homeAddr(i), 128), e)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	if bad.Load() != 0 {
		t.Errorf("%d inconsistent lookups of %d", bad.Load(), seen.Load())
	}
}

// TestTableMemory measures the heap cost of 1,000,000 home addresses and
// holds it to issue 4's target of 300 octets each.
func TestTableMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("inserts 1e6 bindings")
	}
	const n = 1_000_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tab := NewTable(0) // no size hint: growth included
	e := ep6()
	for i := range n {
		if err := tab.Set(netip.PrefixFrom(homeAddr(i), 128), e); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%d bindings: %.1f bytes/entry of heap", n, per)
	// Issue 4's target is 300; the design measures about 81, so anything
	// past 120 is a regression worth seeing long before the target breaks.
	if per > 120 {
		t.Errorf("%.1f bytes per binding, want <= 120 (measured ~81; issue 4 target 300)", per)
	}
	if tab.Lookup(homeAddr(n-1)) == nil {
		t.Error("lost an entry")
	}
	runtime.KeepAlive(tab)
}

func TestMask16(t *testing.T) {
	a := netip.MustParseAddr("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff").As16()
	for _, bits := range []int{0, 1, 7, 8, 48, 63, 64, 127, 128} {
		want := netip.PrefixFrom(netip.AddrFrom16(a), bits).Masked().Addr().As16()
		if got := mask16(a, uint8(bits)); got != want {
			t.Errorf("/%d: %x, want %x", bits, got, want)
		}
	}
}

// TestTableProbeLength: sequential home addresses (a DHCPv6 pool, one /64)
// spread over shards and slots; no probe chain gets long.
func TestTableProbeLength(t *testing.T) {
	tab := NewTable(0)
	const n = 100_000
	base := netip.MustParseAddr("2001:db8:2::").As16()
	for i := range n {
		a := base
		binary.BigEndian.PutUint32(a[12:], uint32(i))
		_ = tab.Set(netip.PrefixFrom(netip.AddrFrom16(a), 128), ep6())
	}
	total, worst := 0, 0
	var perShard [numShards]int
	for i := range n {
		a := base
		binary.BigEndian.PutUint32(a[12:], uint32(i))
		h := tab.hash(&a)
		perShard[h>>shardShift]++
		arr := tab.shards[h>>shardShift].slots.Load()
		probes := 1
		for j := h & arr.mask; arr.s[j].Load().key != a; j = (j + 1) & arr.mask {
			probes++
		}
		total += probes
		worst = max(worst, probes)
	}
	t.Logf("mean probes %.2f, worst %d", float64(total)/n, worst)
	if float64(total)/n > 2 || worst > 40 {
		t.Errorf("mean probes %.2f, worst %d", float64(total)/n, worst)
	}
	for s, c := range perShard {
		if c < n/numShards/2 || c > n/numShards*2 {
			t.Errorf("shard %d has %d of %d", s, c, n)
		}
	}
}

// TestTableChanges: Changes signals every change of the table, coalesced
// while not taken: Set and Delete of hosts and prefixes, SetIPv4 and
// DeleteIPv4, and path MTUs going down (LowerPathMTU) and back up
// (AgePathMTU), which a kernel fast path mirrors as the routes' MTU. The
// calls that change nothing do not signal.
func TestTableChanges(t *testing.T) {
	tab, clk := agingTable(t)
	c := tab.Changes()
	if c != tab.Changes() {
		t.Fatal("Changes returned two channels")
	}
	pending := func() bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	}
	hp := netip.PrefixFrom(hoa, 128)
	udp := epUDP()
	v4 := netip.MustParseAddr("192.0.2.100")
	steps := []struct {
		name string
		do   func() bool // whether the call reports a change
		want bool        // a signal
	}{
		{"Set host", func() bool { return tab.Set(hp, ep6()) == nil }, true},
		{"Set prefix", func() bool { return tab.Set(mnp, ep6()) == nil }, true},
		{"invalid Set", func() bool { return tab.Set(netip.PrefixFrom(other6, 128), Endpoint{Kind: KindIPv6}) == nil }, false},
		{"Delete of nothing", func() bool { return tab.Delete(netip.PrefixFrom(other6, 128)) }, false},
		{"SetIPv4", func() bool { return tab.SetIPv4(v4, udp) == nil }, true},
		{"DeleteIPv4", func() bool { return tab.DeleteIPv4(v4) }, true},
		{"DeleteIPv4 of nothing", func() bool { return tab.DeleteIPv4(v4) }, false},
		{"LowerPathMTU", func() bool { return tab.LowerPathMTU(tab.Lookup(hoa), 1400) }, true},
		{"LowerPathMTU not lower", func() bool { return tab.LowerPathMTU(tab.Lookup(hoa), 1450) }, false},
		{"AgePathMTU too early", func() bool { return tab.AgePathMTU(clk.t.Add(PathMTUAge-1)) > 0 }, false},
		{"AgePathMTU", func() bool { return tab.AgePathMTU(clk.t.Add(PathMTUAge)) > 0 }, true},
		{"Delete prefix", func() bool { return tab.Delete(mnp) }, true},
		{"Delete host", func() bool { return tab.Delete(hp) }, true},
	}
	for _, s := range steps {
		if got := s.do(); got != s.want {
			t.Errorf("%s: reported %v", s.name, got)
		}
		if got := pending(); got != s.want {
			t.Errorf("%s: signalled %v, want %v", s.name, got, s.want)
		}
	}
	// Coalesced: two changes, one signal, and the writer never blocks.
	for range 3 {
		if err := tab.Set(hp, ep6()); err != nil {
			t.Fatal(err)
		}
	}
	if !pending() || pending() {
		t.Error("three Sets: want one coalesced signal")
	}
}
