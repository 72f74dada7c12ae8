package rawsock

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gomip6/gomip6/internal/mmsg"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// MaxBatch is the most packets one ReadBatch returns: the size of the
// recvmmsg vector a Listener keeps. 64 packets of a Binding Update flood
// per system call is plenty; more only grows the per-Listener arrays.
const MaxBatch = 64

// Config parameterises Listen.
type Config struct {
	// Filter is the classic BPF program that selects the packets, built
	// for LinkIP (the Listener's AF_PACKET socket is SOCK_DGRAM: the
	// kernel removes the link header before the filter runs, so one
	// program serves Ethernet, tun and every other link type). Required:
	// an unfiltered AF_PACKET socket copies every frame of the link.
	Filter []bpf.RawInstruction
	// Protocol is the EtherType the socket is bound to; zero means IPv6
	// (0x86dd). Use 0x0800 with the IPv4 filters.
	Protocol uint16
	// IncludeOutgoing makes the socket also see the packets this host
	// sends on the interface (sll_pkttype PACKET_OUTGOING). The kernel
	// shows outgoing packets only to taps bound to every protocol
	// (dev_queue_xmit_nit walks the ETH_P_ALL list), so this binds the
	// socket to ETH_P_ALL instead of Protocol, and the filter's IP
	// version check keeps the address family apart. Without it the
	// socket is bound to Protocol, which never sees outgoing packets, and
	// PACKET_IGNORE_OUTGOING (Linux 4.20) is set as well: a daemon must
	// not read back its own BUs and BAs, whoever sent them.
	IncludeOutgoing bool
	// ReadBuffer, when positive, sets SO_RCVBUF: the queue that absorbs
	// bursts between reads. Zero keeps the kernel default.
	ReadBuffer int
}

// Message is one packet read by ReadBatch.
type Message struct {
	// Buf is the caller's buffer; the packet is Buf[:N], starting at its
	// IPv6 (or IPv4) header.
	Buf []byte
	N   int
	// Ifindex is the interface the packet arrived on.
	Ifindex int
	// PktType is the sll_pkttype of packet(7): unix.PACKET_HOST for a
	// packet to this host, PACKET_MULTICAST, PACKET_OTHERHOST (only seen
	// in promiscuous mode), PACKET_OUTGOING (with IncludeOutgoing).
	PktType uint8
	// Truncated reports a packet longer than Buf; Buf holds its start.
	Truncated bool
}

// Listener reads the packets an AF_PACKET socket on one interface lets
// through its filter. It does not allocate per packet. ReadBatch and Read
// may be called from several goroutines (they take turns); Close unblocks
// them.
type Listener struct {
	c   *packet.Conn
	rc  syscall.RawConn
	ifi *net.Interface

	closed atomic.Bool

	mu     sync.Mutex                            // guards the recvmmsg state below
	b      mmsg.Batch[unix.RawSockaddrLinklayer] // MaxBatch messages, no control data
	n      int                                   // vector length of the current call
	errno  syscall.Errno                         // result of the current call; b.N the count
	recvFn func(fd uintptr) bool                 // l.recv, made once: no closure per read

	readMu sync.Mutex // guards one
	one    [1]Message
}

// dropAll is attached before bind(2) so that nothing unfiltered is queued
// between bind and the real filter (and before PACKET_IGNORE_OUTGOING).
var dropAll = []bpf.RawInstruction{{Op: 0x06, K: 0}} // ret #0

// Listen opens an AF_PACKET SOCK_DGRAM socket bound to ifi with cfg's
// filter attached. It needs CAP_NET_RAW.
func Listen(ifi *net.Interface, cfg Config) (*Listener, error) {
	if len(cfg.Filter) == 0 {
		return nil, errors.New("rawsock: Listen needs a filter")
	}
	proto := int(cfg.Protocol)
	if proto == 0 {
		proto = unix.ETH_P_IPV6
	}
	if cfg.IncludeOutgoing {
		proto = unix.ETH_P_ALL
	}
	c, err := packet.Listen(ifi, packet.Datagram, proto, &packet.Config{Filter: dropAll})
	if err != nil {
		return nil, fmt.Errorf("rawsock: listen on %s: %w", ifi.Name, err)
	}
	l := &Listener{c: c, ifi: ifi}
	l.b.Init(MaxBatch, MaxBatch, 0)
	l.recvFn = l.recv
	if err := l.setup(cfg); err != nil {
		c.Close()
		return nil, fmt.Errorf("rawsock: listen on %s: %w", ifi.Name, err)
	}
	return l, nil
}

func (l *Listener) setup(cfg Config) error {
	rc, err := l.c.SyscallConn()
	if err != nil {
		return err
	}
	l.rc = rc
	var serr error
	cerr := rc.Control(func(fd uintptr) {
		if !cfg.IncludeOutgoing {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); serr != nil {
				serr = fmt.Errorf("PACKET_IGNORE_OUTGOING: %w", serr)
				return
			}
		}
		if cfg.ReadBuffer > 0 {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, cfg.ReadBuffer); serr != nil {
				serr = fmt.Errorf("SO_RCVBUF: %w", serr)
			}
		}
	})
	if err := errors.Join(cerr, serr); err != nil {
		return err
	}
	if err := l.c.SetBPF(cfg.Filter); err != nil {
		return fmt.Errorf("attach filter: %w", err)
	}
	return nil
}

// Interface returns the interface the Listener is bound to.
func (l *Listener) Interface() *net.Interface { return l.ifi }

// recv is the RawConn.Read callback: one non-blocking recvmmsg. It returns
// false to wait for readability on EAGAIN.
func (l *Listener) recv(fd uintptr) bool {
	e := l.b.RecvN(fd, unix.MSG_DONTWAIT, l.n)
	if e == unix.EAGAIN || e == unix.EINTR {
		return false
	}
	l.errno = e
	return true
}

// ReadBatch blocks until at least one packet is there, then fills up to
// min(len(ms), MaxBatch) messages with the packets queued and returns how
// many. Each ms[i].Buf must have room (a zero-length Buf is an error). After
// Close it returns an error that wraps net.ErrClosed; after the read
// deadline one that wraps os.ErrDeadlineExceeded.
func (l *Listener) ReadBatch(ms []Message) (int, error) {
	n := min(len(ms), MaxBatch)
	if n == 0 {
		return 0, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range n {
		if len(ms[i].Buf) == 0 {
			return 0, fmt.Errorf("rawsock: message %d has no buffer", i)
		}
		l.b.PrepareRecv(i, ms[i].Buf)
	}
	l.n, l.b.N, l.errno = n, 0, 0
	err := l.rc.Read(l.recvFn)
	// Drop the references to the caller's buffers.
	for i := range n {
		l.b.Iovs[i].Base = nil
	}
	if err != nil {
		// The poller's "use of closed file" is neither net.ErrClosed nor
		// os.ErrClosed; the flag set by Close gives callers one to test.
		if l.closed.Load() && !errors.Is(err, net.ErrClosed) {
			return 0, fmt.Errorf("rawsock: read: %w (%w)", net.ErrClosed, err)
		}
		return 0, fmt.Errorf("rawsock: read: %w", err)
	}
	if l.errno != 0 {
		return 0, fmt.Errorf("rawsock: recvmmsg: %w", l.errno)
	}
	for i := range l.b.N {
		h, sa := &l.b.Hdrs[i], &l.b.Names[i]
		ms[i].N = int(h.Len)
		ms[i].Ifindex = int(sa.Ifindex)
		ms[i].PktType = sa.Pkttype
		ms[i].Truncated = h.Hdr.Flags&unix.MSG_TRUNC != 0
	}
	return l.b.N, nil
}

// Read reads one packet into b and returns its length and the interface
// it arrived on. A packet longer than b is cut to len(b) and reported with
// an error wrapping ErrTruncated.
func (l *Listener) Read(b []byte) (n, ifindex int, err error) {
	// ReadBatch takes mu itself; readMu guards the one Message kept for
	// Read, so that Read does not allocate either.
	l.readMu.Lock()
	defer l.readMu.Unlock()
	m := &l.one
	m[0] = Message{Buf: b}
	_, err = l.ReadBatch(m[:])
	r := m[0]
	m[0] = Message{} // keep no reference to b
	if err != nil {
		return 0, 0, err
	}
	if r.Truncated {
		return r.N, r.Ifindex, ErrTruncated
	}
	return r.N, r.Ifindex, nil
}

// ErrTruncated is returned by Read for a packet longer than its buffer.
var ErrTruncated = errors.New("rawsock: packet truncated")

// SetReadDeadline sets the deadline of ReadBatch and Read; zero means none.
func (l *Listener) SetReadDeadline(t time.Time) error { return l.c.SetReadDeadline(t) }

// Stats returns the kernel's counters of the socket since the last call
// (PACKET_STATISTICS resets them): packets that passed the filter and
// packets dropped because the queue was full.
func (l *Listener) Stats() (packets, drops uint32, err error) {
	s, err := l.c.Stats()
	if err != nil {
		return 0, 0, err
	}
	return s.Packets, s.Drops, nil
}

// Close closes the socket; blocked reads return an error wrapping
// net.ErrClosed.
func (l *Listener) Close() error {
	l.closed.Store(true)
	return l.c.Close()
}
