package rodata

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sockaddr is the destination address of one message of a batch: an IPv6
// address for the raw socket, a link-layer one for the packet socket.
type sockaddr interface {
	unix.RawSockaddrInet6 | unix.RawSockaddrLinklayer
}

// mmsgBatch is one socket's batch of whole packets, sent with one
// sendmmsg(2) per Flush (or per full batch). The raw socket's and the
// packet socket's sides of a Sender are each one; only the destination
// address type differs. It keeps the outcome of its sends (sent, failed,
// the last error) until take.
type mmsgBatch[A sockaddr] struct {
	rc    syscall.RawConn
	hdrs  [BatchSize]unix.Mmsghdr
	iovs  [BatchSize]unix.Iovec
	names [BatchSize]A
	n     int

	// The state of one flush, for sendFn; sent, failed and lastErr
	// accumulate until take; total counts every packet sent, for tests.
	from, sent, failed int
	total              uint64
	lastErr            syscall.Errno
	sendFn             func(fd uintptr) bool
}

// init points each message at its address and iovec; rc is the socket.
func (b *mmsgBatch[A]) init(rc syscall.RawConn) {
	b.rc = rc
	b.sendFn = b.send
	var a A
	for i := range b.hdrs {
		b.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		b.hdrs[i].Hdr.Namelen = uint32(unsafe.Sizeof(a))
		b.hdrs[i].Hdr.Iov = &b.iovs[i]
		b.hdrs[i].Hdr.SetIovlen(1)
	}
}

// add queues pkt (flushing a full batch first) and returns its message's
// address for the caller to fill.
func (b *mmsgBatch[A]) add(pkt []byte) *A {
	if b.n == BatchSize {
		b.flush()
	}
	i := b.n
	b.n++
	b.iovs[i].Base = &pkt[0]
	b.iovs[i].SetLen(len(pkt))
	return &b.names[i]
}

// fail counts a packet refused before it was queued.
func (b *mmsgBatch[A]) fail(e syscall.Errno) {
	b.failed++
	b.lastErr = e
}

// flush sends the batch; the outcome accumulates until take. The error
// wraps net.ErrClosed when the socket is closed (what was left failed).
func (b *mmsgBatch[A]) flush() error {
	if b.n == 0 {
		return nil
	}
	b.from = 0
	err := b.rc.Write(b.sendFn)
	if err != nil {
		b.failed += b.n - b.from
		err = closedErr(err)
	}
	for i := range b.n {
		b.iovs[i].Base = nil // keep no reference to the caller's buffers
	}
	b.n = 0
	return err
}

// take returns and resets the outcome since the previous take.
func (b *mmsgBatch[A]) take() (sent, failed int, lastErr syscall.Errno) {
	sent, failed, lastErr = b.sent, b.failed, b.lastErr
	b.sent, b.failed, b.lastErr = 0, 0, 0
	return sent, failed, lastErr
}

// send is the RawConn.Write callback: sendmmsg from b.from until the
// batch is done. A message that fails is skipped (sendmmsg stops at the
// first failure and reports it only when nothing was sent before it);
// false waits for the socket to be writable on EAGAIN.
func (b *mmsgBatch[A]) send(fd uintptr) bool {
	for b.from < b.n {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[b.from])),
			uintptr(b.n-b.from), unix.MSG_DONTWAIT, 0, 0)
		switch {
		case e == unix.EAGAIN:
			return false
		case e == unix.EINTR:
		case e != 0 || r == 0:
			if e == 0 {
				e = unix.EIO // cannot happen; never loop on it
			}
			b.failed++
			b.lastErr = e
			b.from++
		default:
			b.sent += int(r)
			b.total += uint64(r)
			b.from += int(r)
		}
	}
	return true
}
