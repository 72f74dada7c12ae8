//go:build linux

package tunnel

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

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

// mmsg is a preallocated batch for recvmmsg(2) / sendmmsg(2): message
// headers, I/O vectors, socket addresses and control buffers, all reused,
// so a batch costs one system call and no allocation.
type mmsg struct {
	hdrs   []unix.Mmsghdr
	iovs   []unix.Iovec
	names  []unix.RawSockaddrInet6 // large enough for sockaddr_in too
	oob    []byte
	oobLen int // control space per message

	n    int // messages filled (send) or received (recv)
	niov int // I/O vectors in use (send)

	s *sock
}

func newMmsg(s *sock, msgs, iovs, oobLen int) *mmsg {
	m := &mmsg{
		hdrs:   make([]unix.Mmsghdr, msgs),
		iovs:   make([]unix.Iovec, max(iovs, msgs)),
		names:  make([]unix.RawSockaddrInet6, msgs),
		oob:    make([]byte, msgs*oobLen),
		oobLen: oobLen,
		s:      s,
	}
	return m
}

// control returns message i's control buffer.
func (m *mmsg) control(i int) []byte { return m.oob[i*m.oobLen : (i+1)*m.oobLen] }

// prepareRecv points message i at buf (receive into all of it).
func (m *mmsg) prepareRecv(i int, buf []byte) {
	m.iovs[i].Base = &buf[0]
	m.iovs[i].SetLen(len(buf))
	h := &m.hdrs[i].Hdr
	h.Iov = &m.iovs[i]
	h.SetIovlen(1)
	h.Name = (*byte)(unsafe.Pointer(&m.names[i]))
	if m.oobLen > 0 {
		h.Control = &m.oob[i*m.oobLen]
	}
}

// resetRecv restores the lengths the kernel overwrote on the last receive.
func (m *mmsg) resetRecv() {
	for i := range m.hdrs {
		h := &m.hdrs[i].Hdr
		h.Namelen = unix.SizeofSockaddrInet6
		h.SetControllen(m.oobLen)
		h.Flags = 0
	}
}

// recv receives up to len(m.hdrs) messages, waiting for the first; it sets
// m.n. It returns os.ErrClosed once the forwarder is closing, or the
// system call's error.
func (m *mmsg) recv() error {
	m.n = 0
	for {
		if m.s.isClosed() {
			return os.ErrClosed
		}
		m.resetRecv()
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(m.s.fd), uintptr(unsafe.Pointer(&m.hdrs[0])), uintptr(len(m.hdrs)), unix.MSG_WAITFORONE, 0, 0)
		switch {
		case e == unix.EINTR || e == unix.EAGAIN:
			continue // interrupted, or sockTimeout passed
		case e != 0:
			return e
		case r == 0:
			continue // shut down: the check above ends it
		}
		m.n = int(r)
		return nil
	}
}

// reset empties a send batch.
func (m *mmsg) reset() { m.n, m.niov = 0, 0 }

// full reports whether another message with niov vectors does not fit.
func (m *mmsg) full(niov int) bool { return m.n == len(m.hdrs) || m.niov+niov > len(m.iovs) }

// begin starts message m.n with no vectors and no control data and
// returns its index.
func (m *mmsg) begin() int {
	i := m.n
	h := &m.hdrs[i].Hdr
	h.Iov = &m.iovs[m.niov]
	h.SetIovlen(0)
	h.Name = (*byte)(unsafe.Pointer(&m.names[i]))
	h.Control = nil
	h.SetControllen(0)
	h.Flags = 0
	m.n++
	return i
}

// addIov appends b to message i, which must be the last one begun.
func (m *mmsg) addIov(i int, b []byte) {
	m.iovs[m.niov].Base = &b[0]
	m.iovs[m.niov].SetLen(len(b))
	m.niov++
	h := &m.hdrs[i].Hdr
	h.Iovlen++
}

// setName6 sets message i's destination to an IPv6 address.
func (m *mmsg) setName6(i int, a *[16]byte) {
	m.names[i] = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: *a}
	m.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
}

// setName4 sets message i's destination to an IPv4 address (table form:
// IPv4-mapped) and port.
func (m *mmsg) setName4(i int, a *[16]byte, port uint16) {
	sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&m.names[i]))
	*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: [4]byte(a[12:16])}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], port)
	m.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet4
}

// setControl gives message i the first n octets of its control buffer
// (filled by the caller with putCmsg).
func (m *mmsg) setControl(i, n int) {
	if n == 0 {
		return
	}
	h := &m.hdrs[i].Hdr
	h.Control = &m.oob[i*m.oobLen]
	h.SetControllen(n)
}

// flush sends the batch, waiting while the socket buffer is full, and
// empties it. A message the kernel refuses is skipped (sendmmsg stops at
// it) and counted in failed, the last such error in lastErr. The error
// returned is os.ErrClosed once the forwarder is closing.
func (m *mmsg) flush() (failed int, lastErr error, err error) {
	defer m.reset()
	for off := 0; off < m.n; {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(m.s.fd), uintptr(unsafe.Pointer(&m.hdrs[off])), uintptr(m.n-off), 0, 0, 0)
		switch {
		case e == unix.EINTR:
		case e == unix.EAGAIN:
			// The socket buffer stayed full for sockTimeout.
			if m.s.isClosed() {
				return failed + m.n - off, lastErr, os.ErrClosed
			}
		case e != 0:
			failed++
			lastErr = e
			off++
		default:
			off += max(int(r), 1)
		}
	}
	return failed, lastErr, nil
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
