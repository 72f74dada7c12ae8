//go:build linux

package tunnel

import (
	"fmt"
	"net"
	"sync"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Sending on a packet socket (ForwarderConfig.PacketSend).
//
// A protocol-41 send on a raw socket runs the IP output path per packet:
// route lookup, control messages, building the skb from the payload and
// the header, the neighbour output (perf, TCP through the tunnel on this
// project's 2-core VM: about 12% of all CPU, apart from the copy and the
// driver, which stay). A packet socket with PACKET_QDISC_BYPASS takes the
// outer packet as Tunnel.Encap built it and hands it to the driver with
// the link-layer header: no route lookup, no IP output, no qdisc. It
// needs the next hop's link-layer address, which the forwarder reads from
// the kernel's route and neighbour tables (netlink) per tunnel end point
// and tx queue, again after a second (a tenth of a second while there is
// none), and only for Ethernet interfaces. Whenever there is no usable
// entry (none yet, or STALE, FAILED, INCOMPLETE) the packet goes through
// the raw sockets as without PacketSend, which also lets the kernel's
// neighbour discovery run: a STALE entry is confirmed or dropped by the
// probes our raw sends start. Packets that must be allowed to fragment,
// and everything UDP, take the usual sockets.
//
// What the packet socket skips is skipped for good: netfilter's OUTPUT
// and POSTROUTING chains, tc egress, IPsec policies, the interface's MTU
// check on the route (the binding's path MTU still applies; the packet
// socket refuses what exceeds the interface's MTU, EMSGSIZE, counted as a
// send error). Measured
// with scripts/bench-tunnel.sh, interleaved with the raw sockets: TCP
// through IPv6 in IPv6 and 6in4 25-50% faster.

// l2Refresh is how long a next-hop lookup is trusted; l2Retry how long
// one that found nothing usable is (the first packets to a new end point
// go through the raw sockets, whose sends make the kernel resolve it).
const (
	l2Refresh = time.Second
	l2Retry   = 100 * time.Millisecond
)

// l2Max bounds a tx queue's next-hop cache; it is emptied when full.
const l2Max = 4096

// l2dst is a tunnel end point's next hop on a packet socket.
type l2dst struct {
	ifindex int32
	mac     [6]byte
	ok      bool  // a usable neighbour entry: send on the packet socket
	checked int64 // when it was looked up (Forwarder.clock)
}

// packetTX is the Forwarder's PacketSend state.
type packetTX struct {
	sock  *sock
	mu    sync.Mutex // serializes netlink requests
	nl    *netlink.Handle
	epoch time.Time
}

// openPacketTX opens the packet socket and the netlink handle, in the
// calling thread's network namespace, where they stay.
func (f *Forwarder) openPacketTX() error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("tunnel: netlink: %w", err)
	}
	s, err := newSock(&f.closed, "packet-send", unix.AF_PACKET, unix.SOCK_DGRAM, 0, func(fd int) error {
		setBuffers(fd, f.cfg.SocketBuffer)
		// Protocol 0 and never bound: it receives nothing.
		return sockopts(fd, [3]int{unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1})
	})
	if err != nil {
		h.Close()
		return err
	}
	f.socks = append(f.socks, s)
	f.ptx = &packetTX{sock: s, nl: h, epoch: time.Now()}
	return nil
}

// close releases the netlink handle.
func (p *packetTX) close() {
	if p != nil {
		p.mu.Lock()
		p.nl.Close()
		p.mu.Unlock()
	}
}

// clock is the monotonic time packetTX caches are stamped with.
func (p *packetTX) clock() int64 { return int64(time.Since(p.epoch)) }

// resolve looks up remote's next hop from local: the route (policy
// routing included, by source address) and, on an Ethernet interface, a
// neighbour entry in a state the kernel itself would send on without
// asking first.
func (p *packetTX) resolve(local, remote *[16]byte) l2dst {
	dst, src := net.IP(append([]byte(nil), remote[:]...)), net.IP(append([]byte(nil), local[:]...))
	if d4 := dst.To4(); d4 != nil {
		dst, src = d4, src.To4()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	routes, err := p.nl.RouteGetWithOptions(dst, &netlink.RouteGetOptions{SrcAddr: src})
	if err != nil || len(routes) == 0 || routes[0].Type != unix.RTN_UNICAST || routes[0].LinkIndex <= 0 {
		return l2dst{}
	}
	r := routes[0]
	link, err := p.nl.LinkByIndex(r.LinkIndex)
	if err != nil || link.Attrs().EncapType != "ether" {
		return l2dst{}
	}
	nh := r.Gw
	if nh == nil {
		nh = dst
	}
	family := netlink.FAMILY_V6
	if nh.To4() != nil {
		family = netlink.FAMILY_V4
	}
	neighs, err := p.nl.NeighList(r.LinkIndex, family)
	if err != nil {
		return l2dst{}
	}
	const usable = unix.NUD_REACHABLE | unix.NUD_PERMANENT | unix.NUD_NOARP | unix.NUD_DELAY | unix.NUD_PROBE
	for _, n := range neighs {
		if n.IP.Equal(nh) && len(n.HardwareAddr) == 6 && n.State&usable != 0 {
			d := l2dst{ifindex: int32(r.LinkIndex), ok: true}
			copy(d.mac[:], n.HardwareAddr)
			return d
		}
	}
	return l2dst{}
}

// l2Key is a next-hop cache key: the tunnel's remote and local end
// points (the source can select the route: policy routing).
type l2Key [32]byte

// l2For returns b's next hop on the packet socket, or nil when the packet
// must take the raw sockets. It looks the next hop up again after
// l2Refresh, or l2Retry if it found none (q.now is the batch's time).
func (q *txPath) l2For(b *Binding) *l2dst {
	var k l2Key
	copy(k[:16], b.remote[:])
	copy(k[16:], b.local[:])
	e, found := q.l2[k]
	if !found || q.now-e.checked > int64(l2Refresh) || !e.ok && q.now-e.checked > int64(l2Retry) {
		e = q.f.ptx.resolve(&b.local, &b.remote)
		e.checked = q.now
		if len(q.l2) >= l2Max {
			clear(q.l2)
		}
		q.l2[k] = e
	}
	if !e.ok {
		return nil
	}
	q.cur = e
	return &q.cur
}

// sendPacket encapsulates for b (Encap: outer header ours) and queues the
// result on the packet socket to next hop d, or on the usual socket when
// the packet must be allowed to fragment.
func (q *txPath) sendPacket(buf []byte, off int, b *Binding, d *l2dst) {
	pkt, v := q.f.t.Encap(buf, off, b)
	switch {
	case v.Action == ActionSend:
		s := q.pkt
		i := s.start(q.f, pkt)
		proto := uint16(unix.ETH_P_IPV6)
		if b.kind != KindIPv6 {
			proto = unix.ETH_P_IP
		}
		sa := (*unix.RawSockaddrLinklayer)(unsafe.Pointer(&s.m.names[i]))
		*sa = unix.RawSockaddrLinklayer{Family: unix.AF_PACKET, Protocol: htons(proto), Ifindex: d.ifindex, Halen: 6}
		copy(sa.Addr[:], d.mac[:])
		s.m.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrLinklayer
	case v.Action == ActionSendFragmentable && b.kind == KindIPv6:
		// IPv6 routers do not fragment: the kernel must, at the source
		// (RFC 2473 §7.1).
		q.addKernel6(pkt[OverheadIPv6:], b, ip6TrafficClass(pkt), false)
	case v.Action == ActionSendFragmentable:
		// Encap built the IPv4 header with DF clear.
		s := q.hdr4
		i := s.start(q.f, pkt)
		s.m.setName4(i, &b.remote, 0)
	default:
		q.verdict(buf, pkt, v)
	}
}
