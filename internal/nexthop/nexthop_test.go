package nexthop

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

// fakeQuerier answers from maps and counts the questions.
type fakeQuerier struct {
	routes         map[netip.Addr]Hop // by destination; missing: no route
	neighs         map[Hop]Entry      // missing: not usable
	nRoute, nNeigh int
	asked          []Hop
}

func (f *fakeQuerier) Route(dst, src netip.Addr, ifindex int) (Hop, bool) {
	f.nRoute++
	if ifindex != 0 {
		return Hop{Ifindex: int32(ifindex), Addr: dst}, true
	}
	h, ok := f.routes[dst]
	return h, ok
}

func (f *fakeQuerier) Neigh(h Hop) Entry {
	f.nNeigh++
	f.asked = append(f.asked, h)
	return f.neighs[h]
}

var (
	gw    = Hop{Ifindex: 3, Addr: netip.MustParseAddr("2001:db8::1")}
	gwMAC = [6]byte{2, 0, 0, 0, 0, 1}
)

// behindGateway returns a querier routing n destinations 2001:db8:1::/64
// through gw, whose neighbour entry is usable, and the destinations.
func behindGateway(n int) (*fakeQuerier, []netip.Addr) {
	f := &fakeQuerier{routes: map[netip.Addr]Hop{}, neighs: map[Hop]Entry{gw: {Ifindex: 3, MAC: gwMAC, OK: true}}}
	dsts := make([]netip.Addr, n)
	for i := range dsts {
		a := netip.MustParseAddr("2001:db8:1::").As16()
		a[14], a[15] = byte(i>>8), byte(i)
		dsts[i] = netip.AddrFrom16(a)
		f.routes[dsts[i]] = gw
	}
	return f, dsts
}

// get is what the data paths do: Lookup, Resolve on a miss.
func get[K comparable](c *Cache[K], k K, dst netip.Addr, now int64) Entry {
	if e, ok := c.Lookup(k, now); ok {
		return e
	}
	return c.Resolve(k, dst, netip.Addr{}, 0, now)
}

func TestCacheFreshness(t *testing.T) {
	f, dsts := behindGateway(2)
	unusable := Hop{Ifindex: 4, Addr: netip.MustParseAddr("2001:db8::2")}
	f.routes[dsts[1]] = unusable
	c := NewCache[netip.Addr](8, f)
	now := int64(time.Hour)
	if _, ok := c.Lookup(dsts[0], now); ok {
		t.Fatal("empty cache has an entry")
	}
	want := Entry{Ifindex: 3, MAC: gwMAC, OK: true}
	if e := c.Resolve(dsts[0], dsts[0], netip.Addr{}, 0, now); e != want {
		t.Fatalf("Resolve = %+v, want %+v", e, want)
	}
	if e, ok := c.Lookup(dsts[0], now+int64(Refresh)-1); !ok || e != want {
		t.Fatalf("usable entry before Refresh: %+v %v", e, ok)
	}
	if _, ok := c.Lookup(dsts[0], now+int64(Refresh)); ok {
		t.Fatal("usable entry still fresh at Refresh")
	}
	if e := c.Resolve(dsts[1], dsts[1], netip.Addr{}, 0, now); e.OK {
		t.Fatalf("unusable neighbour resolved to %+v", e)
	}
	if e, ok := c.Lookup(dsts[1], now+int64(Retry)-1); !ok || e.OK {
		t.Fatalf("unusable entry before Retry: %+v %v", e, ok)
	}
	if _, ok := c.Lookup(dsts[1], now+int64(Retry)); ok {
		t.Fatal("unusable entry still fresh at Retry")
	}
	// At Retry the route is still fresh: only the neighbour is asked
	// again, and found usable now.
	f.nRoute, f.nNeigh = 0, 0
	f.neighs[unusable] = Entry{Ifindex: 4, MAC: gwMAC, OK: true}
	if e := c.Resolve(dsts[1], dsts[1], netip.Addr{}, 0, now+int64(Retry)); !e.OK {
		t.Fatalf("neighbour usable now, Resolve = %+v", e)
	}
	if f.nRoute != 0 || f.nNeigh != 1 {
		t.Errorf("stale neighbour, fresh route: %d route and %d neighbour queries, want 0 and 1", f.nRoute, f.nNeigh)
	}

	// No route: not usable, asked again after Retry.
	none := netip.MustParseAddr("2001:db8:ffff::1")
	if e := c.Resolve(none, none, netip.Addr{}, 0, now); e.OK {
		t.Fatalf("no route resolved to %+v", e)
	}
	if e, ok := c.Lookup(none, now+int64(Retry)-1); !ok || e.OK {
		t.Fatalf("no route before Retry: %+v %v", e, ok)
	}
	if _, ok := c.Lookup(none, now+int64(Retry)); ok {
		t.Fatal("no route still fresh at Retry")
	}

	if a := testing.AllocsPerRun(100, func() { c.Lookup(dsts[0], now) }); a != 0 {
		t.Fatalf("Lookup allocates %v times", a)
	}
}

// TestCacheSharesNeighbour: 2,000 destinations behind one gateway cost
// 2,000 route queries and one neighbour query per Refresh, and nothing
// between refreshes.
func TestCacheSharesNeighbour(t *testing.T) {
	const n = 2000
	f, dsts := behindGateway(n)
	c := NewCache[netip.Addr](4096, f)
	now := int64(time.Hour)
	want := Entry{Ifindex: 3, MAC: gwMAC, OK: true}
	for round := range 3 {
		f.nRoute, f.nNeigh = 0, 0
		// Packets to every destination, spread over one Refresh.
		for i, d := range dsts {
			at := now + int64(round)*int64(Refresh) + int64(i)*int64(Refresh)/(2*n)
			if e := get(c, d, d, at); e != want {
				t.Fatalf("round %d: %v resolved to %+v", round, d, e)
			}
			if e := get(c, d, d, at); e != want {
				t.Fatalf("round %d: %v looked up as %+v", round, d, e)
			}
		}
		if f.nRoute != n || f.nNeigh != 1 {
			t.Errorf("round %d: %d route and %d neighbour queries, want %d and 1", round, f.nRoute, f.nNeigh, n)
		}
	}
	if r, nb := c.Len(); r != n || nb != 1 {
		t.Errorf("cache holds %d routes and %d neighbours, want %d and 1", r, nb, n)
	}
}

// TestCacheEviction: a full cache evicts one entry for a new key, not all
// of them; the others stay cached (no query). Neighbour entries are
// bounded the same way.
func TestCacheEviction(t *testing.T) {
	const size = 4
	f := &fakeQuerier{routes: map[netip.Addr]Hop{}, neighs: map[Hop]Entry{}}
	var dsts []netip.Addr
	for i := range size + 1 {
		d := netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)})
		dsts = append(dsts, d)
		// On-link: each destination is its own next hop.
		h := Hop{Ifindex: 2, Addr: d}
		f.routes[d] = h
		f.neighs[h] = Entry{Ifindex: 2, MAC: [6]byte{2, 0, 0, 0, 0, byte(i)}, OK: true}
	}
	c := NewCache[netip.Addr](size, f)
	now := int64(time.Hour)
	for _, d := range dsts[:size] {
		get(c, d, d, now)
	}
	// Storing a known key again evicts nothing.
	c.Resolve(dsts[0], dsts[0], netip.Addr{}, 0, now)
	if r, n := c.Len(); r != size || n != size {
		t.Fatalf("full cache holds %d routes, %d neighbours, want %d", r, n, size)
	}
	get(c, dsts[size], dsts[size], now)
	if r, n := c.Len(); r != size || n != size {
		t.Fatalf("after one more key: %d routes, %d neighbours, want %d", r, n, size)
	}
	cached := 0
	for _, d := range dsts[:size] {
		if _, ok := c.Lookup(d, now); ok {
			cached++
		}
	}
	if cached != size-1 {
		t.Errorf("%d of the first %d keys still cached, want %d (one evicted)", cached, size, size-1)
	}
	if e, ok := c.Lookup(dsts[size], now); !ok || e != f.neighs[Hop{Ifindex: 2, Addr: dsts[size]}] {
		t.Errorf("new key: %+v %v", e, ok)
	}
}

// TestCacheReattach: a route whose neighbour entry was evicted keeps its
// answer until stale, then joins the shared entry again, so that the
// destinations behind one gateway go back to one query.
func TestCacheReattach(t *testing.T) {
	f, dsts := behindGateway(2)
	other := Hop{Ifindex: 3, Addr: netip.MustParseAddr("2001:db8::9")}
	f.routes[netip.MustParseAddr("2001:db8:2::1")] = other
	c := NewCache[netip.Addr](2, f)
	now := int64(time.Hour)
	get(c, dsts[0], dsts[0], now)
	get(c, dsts[1], dsts[1], now)
	// Fill the neighbour level with a second hop and a third: gw's
	// entry may be evicted (by chance); make sure it is.
	c.neigh(other)
	delete(c.neighs, gw)
	c.neigh(Hop{Ifindex: 9})
	if e, ok := c.Lookup(dsts[0], now); !ok || !e.OK {
		t.Fatalf("route with an evicted neighbour entry: %+v %v", e, ok)
	}
	f.nNeigh, f.asked = 0, nil
	later := now + int64(Refresh)
	get(c, dsts[0], dsts[0], later)
	get(c, dsts[1], dsts[1], later)
	if !slices.Equal(f.asked, []Hop{gw}) {
		t.Errorf("neighbour queries after Refresh: %v, want %v", f.asked, []Hop{gw})
	}
}
