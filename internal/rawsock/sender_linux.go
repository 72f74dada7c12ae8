package rawsock

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"github.com/gomip6/gomip6/mip6"
	"golang.org/x/sys/unix"
)

// Sender sends whole IPv6 packets, headers included, on an AF_INET6
// SOCK_RAW socket of protocol IPPROTO_RAW (255). On Linux that protocol
// implies IPV6_HDRINCL (net/ipv6/raw.c sets hdrincl for it; no socket
// option is needed): the kernel routes on the destination given to
// sendto, takes the packet as it is, extension headers included, and
// neither checks nor builds the Home Address option or the type 2 routing
// header that its socket API refuses without CONFIG_IPV6_MIP6. It does not
// fragment: a packet larger than the path MTU fails with EMSGSIZE. The
// socket receives nothing (no packet has protocol 255).
//
// Send is safe for concurrent use and does not allocate.
type Sender struct {
	c  net.PacketConn
	rc syscall.RawConn

	mu     sync.Mutex // guards the sendto state below
	sa     unix.SockaddrInet6
	pkt    []byte
	err    error
	sendFn func(fd uintptr) bool
}

// NewSender opens the raw socket. With a non-empty ifname it is bound to
// that interface (SO_BINDTODEVICE): the route lookup is confined to it,
// which a daemon wants when it answers on the link a message came from,
// and a link-local destination needs. It needs CAP_NET_RAW.
func NewSender(ifname string) (*Sender, error) {
	c, err := net.ListenPacket("ip6:255", "::")
	if err != nil {
		return nil, fmt.Errorf("rawsock: raw socket: %w", err)
	}
	s := &Sender{c: c}
	s.sendFn = s.send
	rc, err := c.(*net.IPConn).SyscallConn()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("rawsock: raw socket: %w", err)
	}
	s.rc = rc
	var serr error
	cerr := rc.Control(func(fd uintptr) {
		// Nothing arrives with protocol 255, but close the read side
		// all the same so that no queue can fill.
		_ = unix.Shutdown(int(fd), unix.SHUT_RD)
		if ifname != "" {
			serr = unix.BindToDevice(int(fd), ifname)
		}
	})
	if err := errors.Join(cerr, serr); err != nil {
		c.Close()
		return nil, fmt.Errorf("rawsock: bind raw socket to %q: %w", ifname, err)
	}
	return s, nil
}

func (s *Sender) send(fd uintptr) bool {
	err := unix.Sendto(int(fd), s.pkt, 0, &s.sa)
	if err == unix.EAGAIN {
		return false
	}
	s.err = err
	return true
}

// Send sends the IPv6 packet pkt, which starts at its IPv6 header, to the
// IPv6 Destination Address in that header (the first hop: a care-of
// address when there is a type 2 routing header). zone is the interface
// index for a link-local destination, 0 otherwise.
func (s *Sender) Send(pkt []byte, zone uint32) error {
	h := mip6.IPv6Header(pkt)
	if !h.IsValid() || h.Version() != 6 {
		return errors.New("rawsock: send: not an IPv6 packet")
	}
	if int(h.PayloadLength())+mip6.IPv6HeaderLen != len(pkt) {
		return fmt.Errorf("rawsock: send: Payload Length %d does not match the %d octets after the header",
			h.PayloadLength(), len(pkt)-mip6.IPv6HeaderLen)
	}
	return s.SendTo(pkt, h.Dst(), zone)
}

// SendTo is Send with the next hop given: the kernel routes the packet
// toward dst whatever its IPv6 header says.
func (s *Sender) SendTo(pkt []byte, dst netip.Addr, zone uint32) error {
	if !dst.Is6() {
		return fmt.Errorf("rawsock: send: destination %v is not IPv6", dst)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sa = unix.SockaddrInet6{Addr: dst.As16(), ZoneId: zone}
	s.pkt, s.err = pkt, nil
	err := s.rc.Write(s.sendFn)
	s.pkt = nil
	if err == nil {
		err = s.err
	}
	if err != nil {
		return fmt.Errorf("rawsock: send to %v: %w", dst, err)
	}
	return nil
}

// Close closes the socket.
func (s *Sender) Close() error { return s.c.Close() }
