package rodata

import (
	"encoding/binary"
	"net/netip"
	"os"
	"syscall"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Sending on a packet socket. A header-included raw send runs the IP
// output path per packet: a route lookup (an uncached route for an
// on-link next hop, since the raw socket marks the flow "known next
// hop"), source address selection, netfilter's OUTPUT and POSTROUTING,
// the neighbour output and the qdisc. A packet socket (SOCK_DGRAM,
// PACKET_QDISC_BYPASS) takes the packet with the next hop's link-layer
// address and hands it to the driver. The Sender looks the next hop's
// interface and Ethernet address up (netlink: route, neighbour, link) per
// next hop, again after l2Refresh (l2Retry when none was usable), and
// uses the packet socket while the neighbour entry is usable; otherwise
// (no entry yet, STALE, INCOMPLETE, FAILED, not Ethernet) the packet goes
// through the raw socket, whose sends also make the kernel resolve or
// confirm the neighbour. What the packet socket skips is skipped for
// good: netfilter's OUTPUT and POSTROUTING (the daemons' nftables rules
// are at prerouting), tc egress, the route's path MTU (the interface's
// MTU still applies: EMSGSIZE); the Packet Too Big a router sends about
// a packet too big for the path still reaches the daemons' translators.
const (
	l2Refresh = time.Second
	l2Retry   = 100 * time.Millisecond
	// l2Max bounds the next-hop cache; it is emptied when full.
	l2Max = 1024
)

// l2Key is a next hop as Add is given it.
type l2Key struct {
	addr netip.Addr
	zone uint32
}

// l2Dst is a next hop's link-layer destination.
type l2Dst struct {
	ifindex int32
	mac     [6]byte
	ok      bool // usable: send on the packet socket
	checked time.Time
}

// l2Sender is the packet socket's side of a Sender.
type l2Sender struct {
	f     *os.File
	rc    syscall.RawConn
	nl    *netlink.Handle
	cache map[l2Key]l2Dst
	now   func() time.Time

	hdrs  [BatchSize]unix.Mmsghdr
	iovs  [BatchSize]unix.Iovec
	names [BatchSize]unix.RawSockaddrLinklayer
	n     int
	from  int
	// sent, failed and lastErr accumulate as the Sender's do; total
	// counts every packet sent, for tests.
	sent, failed int
	total        uint64
	lastErr      syscall.Errno
	sendFn       func(fd uintptr) bool
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
	h, err := netlink.NewHandle()
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	s := &l2Sender{f: os.NewFile(uintptr(fd), "packet"), nl: h, cache: map[l2Key]l2Dst{}, now: time.Now}
	if s.rc, err = s.f.SyscallConn(); err != nil {
		s.close()
		return nil, err
	}
	s.sendFn = s.send
	for i := range s.hdrs {
		s.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&s.names[i]))
		s.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrLinklayer
		s.hdrs[i].Hdr.Iov = &s.iovs[i]
		s.hdrs[i].Hdr.SetIovlen(1)
	}
	return s, nil
}

func (s *l2Sender) close() error {
	s.nl.Close()
	return s.f.Close()
}

// lookup returns the link-layer destination of the next hop, from the
// cache or netlink.
func (s *l2Sender) lookup(k l2Key) l2Dst {
	now := s.now()
	d, found := s.cache[k]
	if found {
		age := now.Sub(d.checked)
		if (d.ok && age < l2Refresh) || (!d.ok && age < l2Retry) {
			return d
		}
	}
	d = s.resolve(k)
	d.checked = now
	if !found && len(s.cache) >= l2Max {
		clear(s.cache)
	}
	s.cache[k] = d
	return d
}

// resolve asks the kernel: the route to the next hop (unless a zone
// names its link), the neighbour entry of the gateway or the next hop
// itself, and whether the link is Ethernet.
func (s *l2Sender) resolve(k l2Key) l2Dst {
	var d l2Dst
	ifindex, nh := int(k.zone), k.addr
	if ifindex == 0 {
		rs, err := s.nl.RouteGet(k.addr.AsSlice())
		if err != nil || len(rs) == 0 || rs[0].Type != unix.RTN_UNICAST {
			return d
		}
		ifindex = rs[0].LinkIndex
		if gw, ok := netip.AddrFromSlice(rs[0].Gw); ok && rs[0].Gw != nil {
			nh = gw.Unmap()
		}
	}
	l, err := s.nl.LinkByIndex(ifindex)
	if err != nil || l.Attrs().EncapType != "ether" || len(l.Attrs().HardwareAddr) != 6 {
		return d
	}
	ns, err := s.nl.NeighList(ifindex, netlink.FAMILY_V6)
	if err != nil {
		return d
	}
	const usable = netlink.NUD_REACHABLE | netlink.NUD_PERMANENT | netlink.NUD_DELAY | netlink.NUD_PROBE
	for _, n := range ns {
		if a, ok := netip.AddrFromSlice(n.IP); ok && a == nh && n.State&usable != 0 && len(n.HardwareAddr) == 6 {
			d.ifindex, d.ok = int32(ifindex), true
			copy(d.mac[:], n.HardwareAddr)
			break
		}
	}
	return d
}

// add queues pkt for the next hop d.
func (s *l2Sender) add(pkt []byte, d l2Dst) {
	if s.n == BatchSize {
		s.flush()
	}
	i := s.n
	s.n++
	s.iovs[i].Base = &pkt[0]
	s.iovs[i].SetLen(len(pkt))
	s.names[i] = unix.RawSockaddrLinklayer{
		Family: unix.AF_PACKET, Protocol: htons(unix.ETH_P_IPV6),
		Ifindex: d.ifindex, Halen: 6,
	}
	copy(s.names[i].Addr[:], d.mac[:])
}

// flush sends the batch, as Sender.flush.
func (s *l2Sender) flush() error {
	if s.n == 0 {
		return nil
	}
	s.from = 0
	err := s.rc.Write(s.sendFn)
	if err != nil {
		s.failed += s.n - s.from
		err = closedErr(err)
	}
	for i := range s.n {
		s.iovs[i].Base = nil
	}
	s.n = 0
	return err
}

func (s *l2Sender) send(fd uintptr) bool {
	for s.from < s.n {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.hdrs[s.from])),
			uintptr(s.n-s.from), unix.MSG_DONTWAIT, 0, 0)
		switch {
		case e == unix.EAGAIN:
			return false
		case e == unix.EINTR:
		case e != 0 || r == 0:
			if e == 0 {
				e = unix.EIO
			}
			s.failed++
			s.lastErr = e
			s.from++
		default:
			s.sent += int(r)
			s.total += uint64(r)
			s.from += int(r)
		}
	}
	return true
}

// htons converts a 16-bit value to network byte order for sockaddr_ll.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return *(*uint16)(unsafe.Pointer(&b[0]))
}
