package binding

import (
	"net/netip"
	"slices"
	"time"

	"github.com/gomip6/gomip6/mip6"
)

// This file holds the home agent's Binding Cache for home registrations
// (RFC 6275 §9.1, §10.1): one entry per home address.
//
// Layout. The cache is split into NumShards shards by a hash of the home
// address. Each shard keeps its entries in a slab (a slice of fixed-size,
// pointer-free records, reused through a free list), a Go map from home
// address to slab index, and a binary min-heap of slab indexes ordered by
// expiry. So:
//
//   - lookup, insert and delete are O(1) map operations (plus O(log n) heap
//     fix-ups on insert and delete);
//   - expiry pops only the entries that are due: the heap top says when the
//     next one is, and Expire never scans the rest of the cache;
//   - nothing the garbage collector has to scan grows with the cache: the
//     slab, the map and the heap hold no pointers. Mobile network prefixes
//     (NEMO, RFC 3963), which few entries have, live in a side map;
//   - growing a shard copies one shard's slab, not the whole cache, so the
//     pause of an append that reallocates stays small at a million
//     entries.
//
// Concurrency. A Cache is owned by one goroutine, the home agent's
// signalling loop: it is not safe for concurrent use and takes no locks.
// The data plane never reads it; it reads its own lock-free mirror,
// tunnel.Table, which the home agent updates after each change.
//
// Time. The cache reads no clock. Entries carry their absolute expiry
// (wall clock, since it must survive a restart, see state.go), and Expire
// takes the current time from the caller.

// NumShards is the number of shards of a Cache.
const NumShards = 64

// Entry is one home registration (RFC 6275 §9.1 lists the conceptual
// fields of a Binding Cache entry; RFC 4285 adds the replay state).
type Entry struct {
	// HomeAddress is the key: the home address of the mobile node.
	HomeAddress netip.Addr
	// CareOf is the registered care-of address: IPv6, or IPv4 for a
	// Dual-Stack MIPv6 registration (RFC 5555).
	CareOf netip.Addr
	// CareOfPort is the UDP source port of a registration that arrived
	// through a NAT (RFC 5555 §4.1); 0 otherwise.
	CareOfPort uint16
	// Sequence is the Sequence Number of the last accepted Binding
	// Update (§9.1), against which the next one is checked (§9.5.1).
	Sequence uint16
	// Flags are the flags of the last accepted Binding Update (H, L, R,
	// ...).
	Flags mip6.BUFlags
	// Lifetime is the lifetime granted in the Binding Acknowledgement.
	Lifetime time.Duration
	// Expires is when the binding lapses unless refreshed (§9.1
	// "Lifetime"): acceptance time plus Lifetime.
	Expires time.Time
	// MobilePrefixes are the mobile network prefixes routed to the
	// binding (NEMO, RFC 3963); nil for a mobile host. The slice
	// returned by Lookup and Range is shared with the cache: do not
	// modify it.
	MobilePrefixes []netip.Prefix
	// Timestamp is the last accepted replay protection timestamp of the
	// node (RFC 4285 §6), kept so that a restarted home agent still
	// refuses replays.
	Timestamp Timestamp
	// Node is the caller's index of the mobile node that owns the
	// binding (the home agent's position in its mobile node list).
	Node uint32
}

// slot is the compact, pointer-free form of an Entry: 72 octets.
type slot struct {
	hoa, coa [16]byte
	expires  int64  // Unix nanoseconds
	ts       uint64 // Timestamp
	lifetime uint32 // seconds (a BA lifetime is whole 4 s units, §6.1.8)
	node     uint32
	heap     int32 // position in the shard's heap; -1 when the slot is free
	seq      uint16
	flags    uint16
	port     uint16
	coa4     bool // coa holds an IPv4 address (IPv4-mapped)
	pfx      bool // the side map holds prefixes for this slot
}

type shard struct {
	idx   map[[16]byte]uint32
	slots []slot
	free  []uint32
	heap  []uint32 // slab indexes, min-heap on slots[i].expires
	pfx   map[uint32][]netip.Prefix
}

// Cache is the binding cache of home registrations. The zero value is not
// usable; call NewCache. It is not safe for concurrent use (see the top
// of cache.go).
type Cache struct {
	shards [NumShards]shard
	n      int
}

// NewCache returns an empty cache sized for about hint entries.
func NewCache(hint int) *Cache {
	c := &Cache{}
	per := max(hint/NumShards, 0)
	for i := range c.shards {
		s := &c.shards[i]
		s.idx = make(map[[16]byte]uint32, per)
		s.slots = make([]slot, 0, per)
		s.heap = make([]uint32, 0, per)
	}
	return c
}

// shardOf picks the shard of a home address. Home addresses share their
// upper 64 bits (one home prefix), so the mix takes both halves.
func shardOf(k *[16]byte) int {
	var hi, lo uint64
	for i := range 8 {
		hi = hi<<8 | uint64(k[i])
		lo = lo<<8 | uint64(k[8+i])
	}
	h := (hi ^ lo*0x9e3779b97f4a7c15) * 0xbf58476d1ce4e5b9
	return int(h >> (64 - 6)) // NumShards = 2^6
}

// Len returns the number of entries, expired ones not yet removed by
// Expire included.
func (c *Cache) Len() int { return c.n }

// Lookup returns the entry of a home address. Expired entries that Expire
// has not removed yet are returned too: compare Expires with the current
// time when it matters.
func (c *Cache) Lookup(hoa netip.Addr) (Entry, bool) {
	k := hoa.As16()
	s := &c.shards[shardOf(&k)]
	i, ok := s.idx[k]
	if !ok {
		return Entry{}, false
	}
	return s.entry(i), true
}

func (s *shard) entry(i uint32) Entry {
	sl := &s.slots[i]
	e := Entry{
		HomeAddress: netip.AddrFrom16(sl.hoa),
		CareOf:      netip.AddrFrom16(sl.coa),
		CareOfPort:  sl.port,
		Sequence:    sl.seq,
		Flags:       mip6.BUFlags(sl.flags),
		Lifetime:    time.Duration(sl.lifetime) * time.Second,
		Expires:     time.Unix(0, sl.expires),
		Timestamp:   Timestamp(sl.ts),
		Node:        sl.node,
	}
	if sl.coa4 {
		e.CareOf = e.CareOf.Unmap()
	}
	if sl.pfx {
		e.MobilePrefixes = s.pfx[i]
	}
	return e
}

// Set inserts e, or replaces the entry of e.HomeAddress, and returns the
// entry it replaced. e.HomeAddress must be an IPv6 address (anything else
// is ignored and reported as not replaced, with no change). Lifetime is
// kept in whole seconds. The cache keeps its own copy of
// e.MobilePrefixes.
func (c *Cache) Set(e Entry) (old Entry, replaced bool) {
	if !e.HomeAddress.Is6() || e.HomeAddress.Is4In6() {
		return Entry{}, false
	}
	k := e.HomeAddress.As16()
	s := &c.shards[shardOf(&k)]
	i, ok := s.idx[k]
	if ok {
		old, replaced = s.entry(i), true
	} else {
		i = s.alloc()
		s.idx[k] = i
		c.n++
	}
	sl := &s.slots[i]
	sl.hoa = k
	sl.coa = e.CareOf.As16()
	sl.coa4 = e.CareOf.Is4()
	sl.port = e.CareOfPort
	sl.seq = e.Sequence
	sl.flags = uint16(e.Flags)
	sl.lifetime = uint32(max(e.Lifetime, 0) / time.Second)
	sl.ts = uint64(e.Timestamp)
	sl.node = e.Node
	// The prefix slice of the old entry is dropped, not reused: a caller
	// may still hold it from a Lookup.
	switch {
	case len(e.MobilePrefixes) > 0:
		if s.pfx == nil {
			s.pfx = make(map[uint32][]netip.Prefix)
		}
		s.pfx[i] = slices.Clone(e.MobilePrefixes)
		sl.pfx = true
	case sl.pfx:
		delete(s.pfx, i)
		sl.pfx = false
	}
	exp := e.Expires.UnixNano()
	if ok {
		prev := sl.expires
		sl.expires = exp
		if exp < prev {
			s.up(int(sl.heap))
		} else {
			s.down(int(sl.heap))
		}
	} else {
		sl.expires = exp
		sl.heap = int32(len(s.heap))
		s.heap = append(s.heap, i)
		s.up(len(s.heap) - 1)
	}
	return old, replaced
}

// alloc returns a free slab index, zeroed.
func (s *shard) alloc() uint32 {
	if n := len(s.free); n > 0 {
		i := s.free[n-1]
		s.free = s.free[:n-1]
		s.slots[i] = slot{}
		return i
	}
	s.slots = append(s.slots, slot{})
	return uint32(len(s.slots) - 1)
}

// Delete removes the entry of a home address and returns it.
func (c *Cache) Delete(hoa netip.Addr) (Entry, bool) {
	k := hoa.As16()
	s := &c.shards[shardOf(&k)]
	i, ok := s.idx[k]
	if !ok {
		return Entry{}, false
	}
	e := s.entry(i)
	s.remove(i)
	c.n--
	return e, true
}

// remove takes slab index i out of the map, the heap and the side map.
func (s *shard) remove(i uint32) {
	sl := &s.slots[i]
	delete(s.idx, sl.hoa)
	if sl.pfx {
		delete(s.pfx, i)
	}
	h := int(sl.heap)
	last := len(s.heap) - 1
	if h != last {
		s.swap(h, last)
	}
	s.heap = s.heap[:last]
	if h != last {
		s.down(h)
		s.up(h)
	}
	*sl = slot{heap: -1}
	s.free = append(s.free, i)
}

// NextExpiry returns the earliest expiry in the cache, for the caller's
// timer, and false when the cache is empty. It looks at NumShards heap
// tops.
func (c *Cache) NextExpiry() (time.Time, bool) {
	var best int64
	found := false
	for i := range c.shards {
		s := &c.shards[i]
		if len(s.heap) == 0 {
			continue
		}
		if t := s.slots[s.heap[0]].expires; !found || t < best {
			best, found = t, true
		}
	}
	if !found {
		return time.Time{}, false
	}
	return time.Unix(0, best), true
}

// Expire removes every entry whose expiry is not after now and appends
// it to dst, which it returns: the caller withdraws what the bindings had
// installed (tunnel routes, proxy Neighbor Discovery). The cost is
// O(k log n) for k expired entries, plus a look at each shard's heap top.
func (c *Cache) Expire(now time.Time, dst []Entry) []Entry {
	t := now.UnixNano()
	for si := range c.shards {
		s := &c.shards[si]
		for len(s.heap) > 0 {
			i := s.heap[0]
			if s.slots[i].expires > t {
				break
			}
			dst = append(dst, s.entry(i))
			s.remove(i)
			c.n--
		}
	}
	return dst
}

// Range calls fn for every entry, in no particular order, until fn
// returns false. fn must not change the cache.
func (c *Cache) Range(fn func(Entry) bool) {
	for si := range c.shards {
		s := &c.shards[si]
		for _, i := range s.heap {
			if !fn(s.entry(i)) {
				return
			}
		}
	}
}

// Heap helpers: a binary min-heap on expiry, each slot remembering its
// position so that a refresh or delete can fix the heap in O(log n).

func (s *shard) less(a, b int) bool {
	return s.slots[s.heap[a]].expires < s.slots[s.heap[b]].expires
}

func (s *shard) swap(a, b int) {
	s.heap[a], s.heap[b] = s.heap[b], s.heap[a]
	s.slots[s.heap[a]].heap = int32(a)
	s.slots[s.heap[b]].heap = int32(b)
}

func (s *shard) up(j int) {
	for j > 0 {
		p := (j - 1) / 2
		if !s.less(j, p) {
			break
		}
		s.swap(j, p)
		j = p
	}
}

func (s *shard) down(j int) {
	n := len(s.heap)
	for {
		l := 2*j + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && s.less(r, l) {
			m = r
		}
		if !s.less(m, j) {
			return
		}
		s.swap(j, m)
		j = m
	}
}
