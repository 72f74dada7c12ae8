package nexthop

import (
	"net/netip"
	"time"
)

// How long a lookup is trusted: Refresh for a route or a usable
// neighbour, Retry for one that found nothing usable (the first packets
// to a new next hop take the raw socket, whose sends make the kernel
// resolve it).
const (
	Refresh = time.Second
	Retry   = 100 * time.Millisecond
)

// Entry is a next hop on a packet socket.
type Entry struct {
	Ifindex int32
	MAC     [6]byte
	// OK: a usable neighbour entry, send on the packet socket.
	OK bool
}

// Hop is a next hop at the network layer: a neighbour on a link, the
// key of the kernel's neighbour table.
type Hop struct {
	Ifindex int32
	Addr    netip.Addr
}

// Querier answers a Cache's misses. *Resolver asks the kernel; tests
// give their own.
type Querier interface {
	// Route returns dst's next hop from src (which may be the zero
	// Addr), or false when there is no unicast route to it. A non-zero
	// ifindex means dst is on that link (a link-local destination's
	// zone): no route lookup.
	Route(dst, src netip.Addr, ifindex int) (Hop, bool)
	// Neigh returns h's neighbour entry.
	Neigh(h Hop) Entry
}

// Cache keeps lookups for Refresh (Retry when they found nothing
// usable), at two levels, so that many destinations behind one gateway
// cost one neighbour query: the route per key (a destination, or a
// destination and source), and the neighbour entry per Hop, shared by
// every key whose route goes through it. Both levels are bounded: a new
// entry finding its level full evicts one other (Go's randomized map
// iteration picks it), not the whole cache. Not safe for concurrent use:
// one per sending goroutine.
type Cache[K comparable] struct {
	q      Querier
	routes map[K]route
	neighs map[Hop]*neigh
	max    int
}

// route is a key's cached route: n is nil when there was none.
type route struct {
	n       *neigh
	checked int64 // monotonic ns, the caller's clock
}

// neigh is a Hop's cached neighbour entry.
type neigh struct {
	hop     Hop
	e       Entry
	checked int64
	known   bool // asked at least once
}

// NewCache returns a cache of at most size routes and size neighbours,
// whose misses q answers.
func NewCache[K comparable](size int, q Querier) *Cache[K] {
	return &Cache[K]{q: q, routes: make(map[K]route), neighs: make(map[Hop]*neigh), max: max(size, 1)}
}

// fresh reports whether a lookup that found something usable (ok) or
// not, age nanoseconds ago, is still trusted.
func fresh(ok bool, age int64) bool {
	if ok {
		return age < int64(Refresh)
	}
	return age < int64(Retry)
}

// Lookup returns k's entry if both its route and its neighbour are
// fresh; now is monotonic nanoseconds. When they are not, the caller
// calls Resolve. (Two calls, not one taking the query: building the
// query costs the hit path, and a closure over the caller's packet would
// be allocated per packet.)
func (c *Cache[K]) Lookup(k K, now int64) (Entry, bool) {
	r, found := c.routes[k]
	if !found || !fresh(r.n != nil, now-r.checked) {
		return Entry{}, false
	}
	if r.n == nil {
		return Entry{}, true
	}
	return r.n.e, r.n.known && fresh(r.n.e.OK, now-r.n.checked)
}

// Resolve returns k's entry, asking the Querier for what is stale: the
// route to dst from src (or on link ifindex, see Querier.Route) when k's
// is, then the neighbour when the route's next hop's is.
func (c *Cache[K]) Resolve(k K, dst, src netip.Addr, ifindex int, now int64) Entry {
	r, found := c.routes[k]
	if !found || !fresh(r.n != nil, now-r.checked) {
		r = route{checked: now}
		if h, ok := c.q.Route(dst, src, ifindex); ok {
			r.n = c.neigh(h)
		}
	} else if r.n != nil {
		// Re-attach to the shared entry if this one was evicted.
		r.n = c.neigh(r.n.hop)
	}
	c.store(k, r)
	n := r.n
	if n == nil {
		return Entry{}
	}
	if !n.known || !fresh(n.e.OK, now-n.checked) {
		n.e, n.checked, n.known = c.q.Neigh(n.hop), now, true
	}
	return n.e
}

// store records k's route, evicting another key's when full.
func (c *Cache[K]) store(k K, r route) {
	if _, found := c.routes[k]; !found && len(c.routes) >= c.max {
		for old := range c.routes {
			delete(c.routes, old)
			break
		}
	}
	c.routes[k] = r
}

// neigh returns h's shared entry, adding one (not yet asked) when there
// is none and evicting another when full. A route still pointing at an
// evicted entry keeps using it until it is stale, then re-attaches.
func (c *Cache[K]) neigh(h Hop) *neigh {
	if n := c.neighs[h]; n != nil {
		return n
	}
	if len(c.neighs) >= c.max {
		for old := range c.neighs {
			delete(c.neighs, old)
			break
		}
	}
	n := &neigh{hop: h}
	c.neighs[h] = n
	return n
}

// Len returns how many routes and neighbour entries the cache holds.
func (c *Cache[K]) Len() (routes, neighs int) { return len(c.routes), len(c.neighs) }
