// Package nexthop finds the link-layer destination of a packet's next hop
// from the kernel's route and neighbour tables, for the data paths that
// send on a packet socket (tunnel.ForwarderConfig.PacketSend and
// internal/rodata's Sender): a packet socket with PACKET_QDISC_BYPASS
// skips the route lookup and IP output a raw socket runs per packet, but
// needs the next hop's Ethernet address.
//
// An Entry is usable only when the kernel itself would send on its
// neighbour entry without asking first (REACHABLE, PERMANENT, NOARP,
// DELAY, PROBE) and the link is Ethernet; otherwise the caller sends on
// its raw socket, which also makes the kernel resolve or confirm the
// neighbour. What a packet socket skips is skipped for good: netfilter
// OUTPUT and POSTROUTING, tc egress, IPsec, the route's path MTU.
package nexthop

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// How long a lookup is trusted: Refresh for a usable entry, Retry for one
// that found nothing usable (the first packets to a new next hop take the
// raw socket, whose sends make the kernel resolve it).
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

// Resolver asks the kernel over one netlink handle, opened in the calling
// thread's network namespace, where it stays. It is safe for concurrent
// use (requests are serialized).
type Resolver struct {
	mu sync.Mutex
	nl *netlink.Handle
}

// NewResolver opens the netlink handle.
func NewResolver() (*Resolver, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	return &Resolver{nl: h}, nil
}

// Close releases the handle.
func (r *Resolver) Close() {
	r.mu.Lock()
	r.nl.Close()
	r.mu.Unlock()
}

// usable are the neighbour states the kernel sends on without asking.
const usable = unix.NUD_REACHABLE | unix.NUD_PERMANENT | unix.NUD_NOARP | unix.NUD_DELAY | unix.NUD_PROBE

// Resolve finds dst's next hop: on link ifindex when it is not zero (a
// link-local destination's zone), else by the route to dst from src (src
// may be the zero Addr; it matters under policy routing), through the
// route's gateway if it has one.
func (r *Resolver) Resolve(dst, src netip.Addr, ifindex int) Entry {
	dst, src = dst.Unmap(), src.Unmap()
	nh := dst
	r.mu.Lock()
	defer r.mu.Unlock()
	if ifindex == 0 {
		var opts netlink.RouteGetOptions
		if src.IsValid() {
			opts.SrcAddr = net.IP(src.AsSlice())
		}
		rs, err := r.nl.RouteGetWithOptions(net.IP(dst.AsSlice()), &opts)
		if err != nil || len(rs) == 0 || rs[0].Type != unix.RTN_UNICAST || rs[0].LinkIndex <= 0 {
			return Entry{}
		}
		ifindex = rs[0].LinkIndex
		if gw, ok := netip.AddrFromSlice(rs[0].Gw); ok {
			nh = gw.Unmap()
		}
	}
	l, err := r.nl.LinkByIndex(ifindex)
	if err != nil || l.Attrs().EncapType != "ether" {
		return Entry{}
	}
	family := netlink.FAMILY_V6
	if nh.Is4() {
		family = netlink.FAMILY_V4
	}
	ns, err := r.nl.NeighList(ifindex, family)
	if err != nil {
		return Entry{}
	}
	for _, n := range ns {
		a, ok := netip.AddrFromSlice(n.IP)
		if ok && a.Unmap() == nh && n.State&usable != 0 && len(n.HardwareAddr) == 6 {
			e := Entry{Ifindex: int32(ifindex), OK: true}
			copy(e.MAC[:], n.HardwareAddr)
			return e
		}
	}
	return Entry{}
}

// Cache keeps lookups per key for Refresh (Retry when not usable). It is
// bounded: emptied when it reaches its size. Not safe for concurrent use:
// one per sending goroutine.
type Cache[K comparable] struct {
	m   map[K]cached
	max int
}

type cached struct {
	e       Entry
	checked int64 // monotonic ns, the caller's clock
}

// NewCache returns a cache of at most max entries.
func NewCache[K comparable](max int) *Cache[K] {
	return &Cache[K]{m: make(map[K]cached), max: max}
}

// Lookup returns k's entry if it is fresh: younger than Refresh (Retry
// for one not usable); now is monotonic nanoseconds. When it is not, the
// caller resolves and Stores. (Two calls, not one with a resolve
// callback: a closure over the caller's packet would be allocated per
// packet.)
func (c *Cache[K]) Lookup(k K, now int64) (Entry, bool) {
	d, found := c.m[k]
	if !found {
		return Entry{}, false
	}
	age := now - d.checked
	return d.e, (d.e.OK && age < int64(Refresh)) || (!d.e.OK && age < int64(Retry))
}

// Store records e for k, looked up at now. A new key finding the cache
// full empties it first.
func (c *Cache[K]) Store(k K, now int64, e Entry) {
	if _, found := c.m[k]; !found && len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[k] = cached{e: e, checked: now}
}
