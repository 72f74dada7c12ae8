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
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Resolver asks the kernel over netlink sockets opened in the calling
// thread's network namespace, where they stay. It is safe for concurrent
// use (requests are serialized).
type Resolver struct {
	mu  sync.Mutex
	nl  *netlink.Handle // routes and links
	fd  int             // RTM_GETNEIGH for one address: vishvananda/netlink only dumps
	seq uint32
	req []byte
	buf []byte
	// ether caches whether a link is Ethernet, for linkTTL: an
	// RTM_GETLINK per neighbour query would double the round trips
	// (and take RTNL), for something that does not change while the
	// link exists.
	ether map[int32]linkKind
}

// linkKind is a cached link type.
type linkKind struct {
	ether bool
	at    time.Time
}

// linkTTL bounds how long a link's type is trusted: an interface index
// freed and reused by a link of another type is seen within it.
const linkTTL = 30 * time.Second

// maxLinks bounds the link-type cache (emptied when full: links are few).
const maxLinks = 256

// NewResolver opens the netlink sockets.
func NewResolver() (*Resolver, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		if err == nil {
			// A reply lost to a full receive buffer must not block the
			// sender for good.
			tv := unix.NsecToTimeval(int64(time.Second))
			err = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		}
		if err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		h.Close()
		return nil, err
	}
	return &Resolver{nl: h, fd: fd, buf: make([]byte, 4096), ether: map[int32]linkKind{}}, nil
}

// Close releases the sockets.
func (r *Resolver) Close() {
	r.mu.Lock()
	r.nl.Close()
	unix.Close(r.fd)
	r.mu.Unlock()
}

// usable are the neighbour states the kernel sends on without asking.
const usable = unix.NUD_REACHABLE | unix.NUD_PERMANENT | unix.NUD_NOARP | unix.NUD_DELAY | unix.NUD_PROBE

// Resolve finds dst's next hop and its neighbour entry: Route then Neigh.
func (r *Resolver) Resolve(dst, src netip.Addr, ifindex int) Entry {
	h, ok := r.Route(dst, src, ifindex)
	if !ok {
		return Entry{}
	}
	return r.Neigh(h)
}

// Route finds dst's next hop: on link ifindex when it is not zero, else
// by the route to dst from src (src matters under policy routing),
// through the route's gateway if it has one.
func (r *Resolver) Route(dst, src netip.Addr, ifindex int) (Hop, bool) {
	dst, src = dst.Unmap(), src.Unmap()
	if ifindex != 0 {
		return Hop{Ifindex: int32(ifindex), Addr: dst}, true
	}
	var opts netlink.RouteGetOptions
	if src.IsValid() {
		opts.SrcAddr = net.IP(src.AsSlice())
	}
	r.mu.Lock()
	rs, err := r.nl.RouteGetWithOptions(net.IP(dst.AsSlice()), &opts)
	r.mu.Unlock()
	if err != nil || len(rs) == 0 || rs[0].Type != unix.RTN_UNICAST || rs[0].LinkIndex <= 0 {
		return Hop{}, false
	}
	h := Hop{Ifindex: int32(rs[0].LinkIndex), Addr: dst}
	if gw, ok := netip.AddrFromSlice(rs[0].Gw); ok {
		h.Addr = gw.Unmap()
	}
	return h, true
}

// isEther reports whether link ifindex is Ethernet, from the cache when
// fresh. r.mu is held.
func (r *Resolver) isEther(ifindex int32) bool {
	now := time.Now()
	if k, ok := r.ether[ifindex]; ok && now.Sub(k.at) < linkTTL {
		return k.ether
	}
	l, err := r.nl.LinkByIndex(int(ifindex))
	if err != nil {
		delete(r.ether, ifindex)
		return false
	}
	if len(r.ether) >= maxLinks {
		clear(r.ether)
	}
	k := linkKind{ether: l.Attrs().EncapType == "ether", at: now}
	r.ether[ifindex] = k
	return k.ether
}

// Neigh asks the kernel for h's neighbour entry alone (RTM_GETNEIGH
// without NLM_F_DUMP, as "ip neigh get" does; Linux 5.0 and later), not
// for a dump of the link's whole table.
func (r *Resolver) Neigh(h Hop) Entry {
	a := h.Addr.Unmap()
	if !a.IsValid() || h.Ifindex <= 0 {
		return Entry{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.isEther(h.Ifindex) {
		return Entry{}
	}
	r.seq++
	r.req = neighRequest(r.req[:0], r.seq, h.Ifindex, a)
	if err := unix.Sendto(r.fd, r.req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return Entry{}
	}
	// Read until the answer to this request: a reply to an earlier
	// request that timed out may come first.
	for range 8 {
		n, _, err := unix.Recvfrom(r.fd, r.buf, 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return Entry{}
		}
		e, done := parseNeighReply(r.buf[:n], r.seq, h, a)
		if done {
			return e
		}
	}
	return Entry{}
}

// neighRequest appends an RTM_GETNEIGH request for a on ifindex to b:
// nlmsghdr, ndmsg (family and ifindex only: the kernel refuses a get
// request with state, type or flags other than NTF_PROXY set) and NDA_DST.
func neighRequest(b []byte, seq uint32, ifindex int32, a netip.Addr) []byte {
	family, alen := byte(unix.AF_INET6), 16
	if a.Is4() {
		family, alen = unix.AF_INET, 4
	}
	attr := unix.SizeofRtAttr + alen // 4-aligned for both families
	total := unix.NLMSG_HDRLEN + unix.SizeofNdMsg + attr
	ne := binary.NativeEndian
	b = ne.AppendUint32(b, uint32(total))
	b = ne.AppendUint16(b, unix.RTM_GETNEIGH)
	b = ne.AppendUint16(b, unix.NLM_F_REQUEST)
	b = ne.AppendUint32(b, seq)
	b = ne.AppendUint32(b, 0) // port id: the kernel fills it in
	b = append(b, family, 0, 0, 0)
	b = ne.AppendUint32(b, uint32(ifindex))
	b = ne.AppendUint16(b, 0) // state
	b = append(b, 0, 0)       // flags, type
	b = ne.AppendUint16(b, uint16(attr))
	b = ne.AppendUint16(b, unix.NDA_DST)
	return append(b, a.AsSlice()...)
}

// parseNeighReply reads the netlink messages in b for the answer to
// request seq about a on h's link: done is false when b holds none (a
// late answer to an earlier request). An error (ENOENT: no entry) or a
// malformed answer is an unusable Entry.
func parseNeighReply(b []byte, seq uint32, h Hop, a netip.Addr) (e Entry, done bool) {
	ne := binary.NativeEndian
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(ne.Uint32(b))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return Entry{}, false
		}
		typ, mseq, m := ne.Uint16(b[4:]), ne.Uint32(b[8:]), b[unix.NLMSG_HDRLEN:l]
		b = b[min(nlmAlign(l), len(b)):]
		if mseq != seq {
			continue
		}
		if typ != unix.RTM_NEWNEIGH || len(m) < unix.SizeofNdMsg {
			return Entry{}, true
		}
		state, ifindex := ne.Uint16(m[8:]), int32(ne.Uint32(m[4:]))
		if ifindex != h.Ifindex || state&usable == 0 {
			return Entry{}, true
		}
		var dst netip.Addr
		var mac []byte
		for m = m[unix.SizeofNdMsg:]; len(m) >= unix.SizeofRtAttr; {
			al := int(ne.Uint16(m))
			if al < unix.SizeofRtAttr || al > len(m) {
				return Entry{}, true
			}
			v := m[unix.SizeofRtAttr:al]
			switch ne.Uint16(m[2:]) {
			case unix.NDA_DST:
				dst, _ = netip.AddrFromSlice(v)
			case unix.NDA_LLADDR:
				mac = v
			}
			m = m[min(nlmAlign(al), len(m)):]
		}
		if dst.Unmap() != a || len(mac) != 6 {
			return Entry{}, true
		}
		e = Entry{Ifindex: h.Ifindex, OK: true}
		copy(e.MAC[:], mac)
		return e, true
	}
	return Entry{}, false
}

// nlmAlign rounds a netlink message or attribute length up to 4.
func nlmAlign(n int) int { return (n + 3) &^ 3 }
