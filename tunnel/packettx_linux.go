//go:build linux

package tunnel

import (
	"fmt"
	"net/netip"
	"time"
	"unsafe"

	"github.com/gomip6/gomip6/internal/netif"
	"github.com/gomip6/gomip6/internal/nexthop"
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
// the kernel's route (per tunnel end point) and neighbour tables (per
// next hop: one query for all the end points behind a gateway) over
// netlink, per tx queue, again after a second (a tenth of a second while
// there is none), and only for Ethernet interfaces. Whenever there is no usable
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

// l2Max bounds a tx queue's next-hop cache (internal/nexthop).
const l2Max = 4096

// packetTX is the Forwarder's PacketSend state.
type packetTX struct {
	sock  *sock
	res   *nexthop.Resolver
	nh    nexthop.Querier // res, or a test's
	epoch time.Time
}

// openPacketTX opens the packet socket and the next-hop resolver, in the
// calling thread's network namespace, where they stay.
func (f *Forwarder) openPacketTX() error {
	res, err := nexthop.NewResolver()
	if err != nil {
		return fmt.Errorf("tunnel: netlink: %w", err)
	}
	s, err := newSock(&f.closed, "packet-send", unix.AF_PACKET, unix.SOCK_DGRAM, 0, func(fd int) error {
		setBuffers(fd, f.cfg.SocketBuffer)
		// Protocol 0 and never bound: it receives nothing.
		return sockopts(fd, [3]int{unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1})
	})
	if err != nil {
		res.Close()
		return err
	}
	f.socks = append(f.socks, s)
	f.ptx = &packetTX{sock: s, res: res, nh: res, epoch: time.Now()}
	return nil
}

// close releases the resolver.
func (p *packetTX) close() {
	if p != nil && p.res != nil {
		p.res.Close()
	}
}

// clock is the monotonic time packetTX caches are stamped with.
func (p *packetTX) clock() int64 { return int64(time.Since(p.epoch)) }

// l2Key is a next-hop cache key: the tunnel's remote and local end
// points (the source can select the route: policy routing).
type l2Key [32]byte

// l2For puts b's next hop on the packet socket in q.cur and reports
// whether there is one (false: the packet must take the raw sockets). It
// looks the next hop up again when the cached one is stale
// (nexthop.Refresh, or Retry if none was usable; q.now is the batch's
// time).
func (q *txPath) l2For(b *Binding) bool {
	var k l2Key
	copy(k[:16], b.remote[:])
	copy(k[16:], b.local[:])
	e, fresh := q.l2.Lookup(k, q.now)
	if !fresh {
		e = q.l2.Resolve(k, netip.AddrFrom16(b.remote), netip.AddrFrom16(b.local), 0, q.now)
	}
	q.cur = e
	return e.OK
}

// sendPacket encapsulates for b (Encap: outer header ours) and queues the
// result on the packet socket to next hop q.cur (set by l2For), or on the
// usual socket when the packet must be allowed to fragment.
func (q *txPath) sendPacket(buf []byte, off int, b *Binding) {
	d := &q.cur
	pkt, v := q.f.t.Encap(buf, off, b)
	switch {
	case v.Action == ActionSend:
		s := q.pkt
		i := s.start(q.f, pkt)
		proto := uint16(unix.ETH_P_IPV6)
		if b.kind != KindIPv6 {
			proto = unix.ETH_P_IP
		}
		sa := (*unix.RawSockaddrLinklayer)(unsafe.Pointer(&s.m.Names[i]))
		*sa = unix.RawSockaddrLinklayer{Family: unix.AF_PACKET, Protocol: netif.Htons(proto), Ifindex: d.Ifindex, Halen: 6}
		copy(sa.Addr[:], d.MAC[:])
		s.m.Hdrs[i].Hdr.Namelen = unix.SizeofSockaddrLinklayer
	case v.Action == ActionSendFragmentable && b.kind == KindIPv6:
		// IPv6 routers do not fragment: the kernel must, at the source
		// (RFC 2473 §7.1).
		q.addKernel6(pkt[OverheadIPv6:], b, ip6TrafficClass(pkt), false)
	case v.Action == ActionSendFragmentable:
		// Encap built the IPv4 header with DF clear.
		q.addHdr4(pkt, b)
	default:
		q.verdict(buf, pkt, v)
	}
}
