//go:build linux

package tunnel

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gomip6/gomip6/internal/mmsg"
	"golang.org/x/sys/unix"
)

// sock is a blocking socket that its goroutine calls directly, outside
// the Go netpoller. A socket in epoll costs a callback on every wakeup:
// for a raw socket that is one per packet sent (sock_wfree signals write
// space as each skb is freed) and one per packet queued for receipt: 6-8%
// of the forwarding CPU under perf, and 6in4 TCP through the tunnel went
// from 1.65 to 2.0 Gbit/s without them. Blocking calls with a timeout
// (sockTimeout) cost a wakeup only when the goroutine actually sleeps, and
// let it notice Close. (The tun device stays in the netpoller: its reads
// are per super-packet, and the drain in txPath.loop uses its deadline.)
type sock struct {
	fd     int
	closed *atomic.Bool // the forwarder's
}

// sockTimeout bounds a blocking receive or send, so a goroutine notices
// Close even if shutdown(2) did not wake it.
const sockTimeout = 200 * time.Millisecond

// newSock opens a socket and runs setup on its descriptor.
func newSock(closed *atomic.Bool, name string, family, typ, proto int, setup func(fd int) error) (*sock, error) {
	fd, err := unix.Socket(family, typ|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, fmt.Errorf("tunnel: %s socket: %w", name, err)
	}
	tv := unix.NsecToTimeval(int64(sockTimeout))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tunnel: %s socket: %w", name, err)
	}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tunnel: %s socket: %w", name, err)
	}
	if setup != nil {
		if err := setup(fd); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("tunnel: %s socket: %w", name, err)
		}
	}
	return &sock{fd: fd, closed: closed}, nil
}

// shutdown wakes the goroutines blocked on the socket (the receive
// returns nothing); the descriptor stays valid until Close, which must
// wait until they are gone so the number cannot be reused under them.
func (s *sock) shutdown() {
	if s != nil {
		unix.Shutdown(s.fd, unix.SHUT_RDWR) // ENOTCONN on unconnected sockets, after waking them
	}
}

// Close closes the descriptor.
func (s *sock) Close() error {
	if s == nil {
		return nil
	}
	return unix.Close(s.fd)
}

// isClosed reports whether the forwarder is closing.
func (s *sock) isClosed() bool { return s.closed != nil && s.closed.Load() }

// sockopts applies integer socket options in order, naming the one that
// failed.
func sockopts(fd int, opts ...[3]int) error {
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, o[0], o[1], o[2]); err != nil {
			return fmt.Errorf("setsockopt(%d, %d, %d): %w", o[0], o[1], o[2], err)
		}
	}
	return nil
}

// setBuffers sizes the socket buffers, with the *FORCE variants (we are
// privileged anyway, having opened raw sockets) so net.core.rmem_max does
// not cap them; falls back to the plain ones.
func setBuffers(fd, size int) {
	if size <= 0 {
		return
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, size)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, size) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, size)
	}
}

// sockBatch is a preallocated batch for recvmmsg(2) / sendmmsg(2) on a
// blocking sock (mmsg.Batch: headers, vectors, addresses and control
// buffers, all reused, so a batch costs one system call and no
// allocation). Its address slots are IPv6 ones, which also hold a
// sockaddr_in or a sockaddr_ll written through a cast.
type sockBatch struct {
	mmsg.Batch[unix.RawSockaddrInet6]
	s *sock
}

func newSockBatch(s *sock, msgs, iovs, oobLen int) *sockBatch {
	m := &sockBatch{s: s}
	m.Init(msgs, iovs, oobLen)
	return m
}

// recv receives up to len(m.Hdrs) messages, waiting for the first; it
// sets m.N. It returns os.ErrClosed once the forwarder is closing, or the
// system call's error.
func (m *sockBatch) recv() error {
	for {
		if m.s.isClosed() {
			m.N = 0
			return os.ErrClosed
		}
		switch e := m.Recv(uintptr(m.s.fd), unix.MSG_WAITFORONE); {
		case e == unix.EINTR || e == unix.EAGAIN:
			continue // interrupted, or sockTimeout passed
		case e != 0:
			return e
		case m.N == 0:
			continue // shut down: the check above ends it
		}
		return nil
	}
}

// setName6 sets message i's destination to an IPv6 address.
func (m *sockBatch) setName6(i int, a *[16]byte) {
	m.Names[i] = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: *a}
	m.Hdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
}

// setName4 sets message i's destination to an IPv4 address (table form:
// IPv4-mapped) and port.
func (m *sockBatch) setName4(i int, a *[16]byte, port uint16) {
	sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&m.Names[i]))
	*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: [4]byte(a[12:16])}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], port)
	m.Hdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet4
}

// flush sends the batch, waiting while the socket buffer is full (the
// socket blocks for up to sockTimeout), and empties it. A message the
// kernel refuses is skipped and counted in failed, the last such error
// in lastErr. The error returned is os.ErrClosed once the forwarder is
// closing.
func (m *sockBatch) flush() (failed int, lastErr error, err error) {
	defer m.Reset()
	for !m.Send(uintptr(m.s.fd), 0) {
		// EAGAIN: the socket buffer stayed full for sockTimeout.
		if m.s.isClosed() {
			m.Abandon()
			err = os.ErrClosed
			break
		}
	}
	_, failed, last := m.Take()
	if last != 0 {
		lastErr = last
	}
	return failed, lastErr, err
}

// putCmsg writes a control message header of the given level and type
// with room for dataLen octets at b and returns the data part and the
// space used.
func putCmsg(b []byte, level, typ int32, dataLen int) ([]byte, int) {
	space := unix.CmsgSpace(dataLen)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(dataLen))
	hl := unix.CmsgLen(0)
	return b[hl : hl+dataLen], space
}

// nextCmsg parses the control message at the start of b: level, type,
// data, and the rest of b; ok is false at the end or on a malformed one.
func nextCmsg(b []byte) (level, typ int32, data, rest []byte, ok bool) {
	hl := unix.CmsgLen(0)
	if len(b) < hl {
		return 0, 0, nil, nil, false
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	l := int(h.Len)
	if l < hl || l > len(b) {
		return 0, 0, nil, nil, false
	}
	next := min(unix.CmsgSpace(l-hl), len(b))
	return h.Level, h.Type, b[hl:l], b[next:], true
}

// nativeInt reads a host-order int from a control message.
func nativeInt(b []byte) int {
	switch len(b) {
	case 1:
		return int(b[0])
	case 2:
		return int(*(*uint16)(unsafe.Pointer(&b[0])))
	case 4, 8:
		return int(*(*int32)(unsafe.Pointer(&b[0])))
	}
	return 0
}

// putNativeInt writes a host-order int32.
func putNativeInt(b []byte, v int) { *(*int32)(unsafe.Pointer(&b[0])) = int32(v) }

// putNativeUint16 writes a host-order uint16 (UDP_SEGMENT).
func putNativeUint16(b []byte, v uint16) { *(*uint16)(unsafe.Pointer(&b[0])) = v }
