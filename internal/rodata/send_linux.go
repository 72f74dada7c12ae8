package rodata

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// SendBuffer is the Sender's SO_SNDBUF, as the tunnel forwarder's.
const SendBuffer = 4 << 20

// Sender sends batches of whole IPv6 packets, headers included, with one
// sendmmsg(2) per batch and socket. A packet whose next hop's Ethernet
// address the kernel's neighbour table knows goes on a packet socket,
// straight to the driver (see l2_linux.go: no route lookup, no IP output
// path); any other on an AF_INET6 SOCK_RAW socket of protocol
// IPPROTO_RAW, as rawsock.Sender (Linux implies IPV6_HDRINCL for that
// protocol, so the kernel sends the Home Address option and the type 2
// routing header it refuses through its socket API). Neither fragments:
// a packet too large (for the path MTU on the raw socket, the
// interface's on the packet socket) fails alone (EMSGSIZE) and the rest
// of the batch goes on.
//
// A Sender belongs to one goroutine (a data path's loop): it is not safe
// for concurrent use. Neither Add nor Flush allocates, but for the
// next-hop lookups (netlink, at most every 100 ms per next hop).
type Sender struct {
	c net.PacketConn
	// raw is the raw socket's batch.
	raw mmsgBatch[unix.RawSockaddrInet6]

	// l2 sends the packets whose next hop's Ethernet address is known
	// (see l2_linux.go); nil if its sockets could not be opened.
	l2 *l2Sender
}

// NewSender opens the raw socket. It needs CAP_NET_RAW.
func NewSender() (*Sender, error) {
	c, err := net.ListenPacket("ip6:255", "::")
	if err != nil {
		return nil, fmt.Errorf("rodata: raw socket: %w", err)
	}
	rc, err := c.(*net.IPConn).SyscallConn()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("rodata: raw socket: %w", err)
	}
	s := &Sender{c: c}
	s.raw.init(rc)
	_ = rc.Control(func(fd uintptr) {
		// Nothing arrives with protocol 255; close the read side all
		// the same, so that no queue can fill.
		_ = unix.Shutdown(int(fd), unix.SHUT_RD)
		// Room for several whole batches in flight: with the default
		// (net.core.wmem_default, about 140 full-sized packets) a
		// batch waits for the previous one to leave the qdisc. The
		// FORCE variant (we have CAP_NET_ADMIN with CAP_NET_RAW in
		// practice) is not capped by net.core.wmem_max.
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, SendBuffer) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, SendBuffer)
		}
	})
	if l2, err := newL2Sender(); err == nil {
		s.l2 = l2
	}
	return s, nil
}

// Add queues pkt, a whole IPv6 packet, for the next Flush, toward
// nextHop (on the interface zone for a link-local one), whatever its
// IPv6 header says: on the packet socket to the link-layer address of
// nextHop or of the gateway of the kernel's route to it when the
// neighbour entry is usable, else on the raw socket, where the kernel
// routes it. A full batch is flushed first.
// pkt must stay untouched until Flush. A zero-length pkt or a nextHop
// that is not IPv6 counts as failed at the next Flush.
func (s *Sender) Add(pkt []byte, nextHop netip.Addr, zone uint32) {
	if len(pkt) == 0 || !nextHop.Is6() {
		s.raw.Fail(unix.EINVAL)
		return
	}
	if s.l2 != nil {
		if d := s.l2.lookup(l2Key{nextHop, zone}); d.OK {
			s.l2.addTo(pkt, d)
			return
		}
	}
	*s.raw.add(pkt) = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: nextHop.As16(), Scope_id: zone}
}

// Len is the number of packets queued.
func (s *Sender) Len() int {
	if s.l2 != nil {
		return s.raw.N + s.l2.N
	}
	return s.raw.N
}

// Flush sends the queued packets and reports how many went out and how
// many failed since the previous Flush (Add flushes a full batch by
// itself), with the error of the last failure. It returns an error
// wrapping net.ErrClosed when the socket is closed.
func (s *Sender) Flush() (sent, failed int, err error) {
	cerr := s.raw.flush()
	sent, failed, last := s.raw.Take()
	if l := s.l2; l != nil {
		if lerr := l.flush(); lerr != nil {
			cerr = lerr
		}
		lsent, lfailed, llast := l.Take()
		sent, failed = sent+lsent, failed+lfailed
		if llast != 0 {
			last = llast
		}
	}
	switch {
	case cerr != nil:
		err = cerr
	case last != 0:
		err = last
	}
	return sent, failed, err
}

// closedErr makes the error of a write on a closed socket wrap
// net.ErrClosed.
func closedErr(err error) error {
	if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
		return err
	}
	return fmt.Errorf("rodata: send: %w (%w)", net.ErrClosed, err)
}

// Close closes the sockets.
func (s *Sender) Close() error {
	err := s.c.Close()
	if s.l2 != nil {
		s.l2.close()
	}
	return err
}
