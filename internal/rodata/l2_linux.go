package rodata

import (
	"net/netip"
	"os"
	"time"

	"github.com/gomip6/gomip6/internal/netif"
	"github.com/gomip6/gomip6/internal/nexthop"
	"golang.org/x/sys/unix"
)

// Sending on a packet socket. A header-included raw send runs the IP
// output path per packet: a route lookup (an uncached route for an
// on-link next hop, since the raw socket marks the flow "known next
// hop"), source address selection, netfilter's OUTPUT and POSTROUTING,
// the neighbour output and the qdisc. A packet socket (SOCK_DGRAM,
// PACKET_QDISC_BYPASS) takes the packet with the next hop's link-layer
// address (internal/nexthop) and hands it to the driver; while none is
// usable the packet goes through the raw socket, whose sends make the
// kernel resolve or confirm the neighbour. The daemons' nftables rules
// are on the input side, which the packet socket does not skip; the
// Packet Too Big a router sends about a packet too big for the path
// still reaches the daemons' translators.

// l2Max bounds the next-hop cache.
const l2Max = 1024

// l2Key is a next hop as Add is given it.
type l2Key struct {
	addr netip.Addr
	zone uint32
}

// l2Sender is the packet socket's side of a Sender.
type l2Sender struct {
	mmsgBatch[unix.RawSockaddrLinklayer]
	f     *os.File
	res   *nexthop.Resolver
	cache *nexthop.Cache[l2Key]
	epoch time.Time
}

// newL2Sender opens the packet socket and a netlink handle, in the
// calling thread's network namespace.
func newL2Sender() (*l2Sender, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	// Protocol 0: the socket receives nothing. Bypass the qdisc: the
	// packets come paced by the tun device already.
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, SendBuffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, SendBuffer)
	}
	res, err := nexthop.NewResolver()
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	s := &l2Sender{f: os.NewFile(uintptr(fd), "packet"), res: res, cache: nexthop.NewCache[l2Key](l2Max, res), epoch: time.Now()}
	rc, err := s.f.SyscallConn()
	if err != nil {
		s.close()
		return nil, err
	}
	s.init(rc)
	return s, nil
}

func (s *l2Sender) close() error {
	s.res.Close()
	return s.f.Close()
}

// lookup returns the link-layer destination of the next hop: cached, or
// asked of the kernel when stale.
func (s *l2Sender) lookup(k l2Key) nexthop.Entry {
	now := int64(time.Since(s.epoch))
	e, fresh := s.cache.Lookup(k, now)
	if !fresh {
		e = s.cache.Resolve(k, k.addr, netip.Addr{}, int(k.zone), now)
	}
	return e
}

// addTo queues pkt for the next hop d.
func (s *l2Sender) addTo(pkt []byte, d nexthop.Entry) {
	a := s.add(pkt)
	*a = unix.RawSockaddrLinklayer{
		Family: unix.AF_PACKET, Protocol: netif.Htons(unix.ETH_P_IPV6),
		Ifindex: d.Ifindex, Halen: 6,
	}
	copy(a.Addr[:], d.MAC[:])
}
