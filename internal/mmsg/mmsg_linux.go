//go:build linux

package mmsg

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Addr is the type of a message's socket address slot: an IPv6 address
// (large enough for an IPv4 one too, which a caller may write through an
// unsafe cast) or a link-layer one for a packet socket.
type Addr interface {
	unix.RawSockaddrInet6 | unix.RawSockaddrLinklayer
}

// Batch is a batch of messages with their I/O vectors, addresses and
// control buffers. A message has one or more vectors (UDP GSO sends a
// train of segments in place, one vector each); all of them come from the
// one array Iovs.
//
// A send batch is filled with Begin, AddIov, the address in Names and
// SetControl, sent with Send and emptied with Reset; the outcome of the
// sends (sent, failed, the last error) accumulates until Take. A receive
// batch points each message at its buffer once with PrepareRecv and
// receives with Recv.
//
// The fields are exported for the callers' fast paths and tests: Hdrs[i],
// Names[i] and the control buffer of a received message are read after
// Recv; N, NIov and the contents of Iovs are to be changed only through
// the methods. A Batch belongs to one goroutine.
type Batch[A Addr] struct {
	Hdrs  []unix.Mmsghdr
	Iovs  []unix.Iovec
	Names []A

	// N is the number of messages filled (send) or received (Recv);
	// NIov the number of I/O vectors in use (send).
	N, NIov int

	oob    []byte
	oobLen int // control space per message

	// from is the first message Send has not tried yet; sent, failed
	// and lastErr accumulate until Take, total counts every message
	// ever sent.
	from, sent, failed int
	lastErr            syscall.Errno
	total              uint64
}

// Init allocates room for msgs messages, iovs I/O vectors in all (at
// least msgs) and oobLen octets of control data per message, and empties
// the batch. It is the only allocation.
func (b *Batch[A]) Init(msgs, iovs, oobLen int) {
	*b = Batch[A]{
		Hdrs:   make([]unix.Mmsghdr, msgs),
		Iovs:   make([]unix.Iovec, max(iovs, msgs)),
		Names:  make([]A, msgs),
		oob:    make([]byte, msgs*oobLen),
		oobLen: oobLen,
	}
}

// Control returns message i's control buffer, all its room.
func (b *Batch[A]) Control(i int) []byte { return b.oob[i*b.oobLen : (i+1)*b.oobLen] }

// Full reports whether another message with niov vectors does not fit.
func (b *Batch[A]) Full(niov int) bool { return b.N == len(b.Hdrs) || b.NIov+niov > len(b.Iovs) }

// Begin starts message N with no vectors and no control data, its
// address slot Names[i] given whole (Namelen: the size of A; a caller
// that writes a shorter address sets Namelen), and returns its index.
// The caller checks Full first.
func (b *Batch[A]) Begin() int {
	i := b.N
	h := &b.Hdrs[i].Hdr
	h.Iov = &b.Iovs[b.NIov]
	h.SetIovlen(0)
	h.Name = (*byte)(unsafe.Pointer(&b.Names[i]))
	h.Namelen = uint32(unsafe.Sizeof(b.Names[i]))
	h.Control = nil
	h.SetControllen(0)
	h.Flags = 0
	b.N++
	return i
}

// AddIov appends p (not empty) to message i, which must be the last one
// begun. p must stay untouched until the batch is sent.
func (b *Batch[A]) AddIov(i int, p []byte) {
	v := &b.Iovs[b.NIov]
	v.Base = &p[0]
	v.SetLen(len(p))
	b.NIov++
	b.Hdrs[i].Hdr.Iovlen++
}

// SetControl gives message i the first n octets of its control buffer
// (filled by the caller); n == 0 leaves it without control data.
func (b *Batch[A]) SetControl(i, n int) {
	if n == 0 {
		return
	}
	h := &b.Hdrs[i].Hdr
	h.Control = &b.oob[i*b.oobLen]
	h.SetControllen(n)
}

// Send sends the messages not tried yet with sendmmsg(2) on fd until all
// are done (true) or the socket would block (false: EAGAIN, with a
// timeout on a blocking socket; call again when it can take more, it goes
// on where it stopped). sendmmsg stops at the first message the kernel
// refuses and reports its error only when nothing was sent before it, so
// the call after a short one starts at the refused message and gets its
// error: such a message is skipped and counted as failed, and the rest of
// the batch goes on. EINTR is retried.
func (b *Batch[A]) Send(fd uintptr, flags int) bool {
	for b.from < b.N {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.Hdrs[b.from])),
			uintptr(b.N-b.from), uintptr(flags), 0, 0)
		switch {
		case e == unix.EAGAIN:
			return false
		case e == unix.EINTR:
		case e != 0 || r == 0:
			if e == 0 {
				e = unix.EIO // cannot happen; never loop on it
			}
			b.Fail(e)
			b.from++
		default:
			b.sent += int(r)
			b.total += uint64(r)
			b.from += int(r)
		}
	}
	return true
}

// Fail counts a message that failed with e, such as one refused before it
// was queued.
func (b *Batch[A]) Fail(e syscall.Errno) {
	b.failed++
	b.lastErr = e
}

// Abandon counts the messages Send has not tried yet as failed (the
// socket is closed) and leaves none to try.
func (b *Batch[A]) Abandon() {
	b.failed += b.N - b.from
	b.from = b.N
}

// Reset empties a send batch and drops its references to the caller's
// buffers; the outcome stays until Take.
func (b *Batch[A]) Reset() {
	for i := range b.NIov {
		b.Iovs[i].Base = nil
	}
	b.N, b.NIov, b.from = 0, 0, 0
}

// Take returns and resets the outcome of the sends since the previous
// Take: messages sent, messages failed and the error of the last failure
// (0 if none).
func (b *Batch[A]) Take() (sent, failed int, lastErr syscall.Errno) {
	sent, failed, lastErr = b.sent, b.failed, b.lastErr
	b.sent, b.failed, b.lastErr = 0, 0, 0
	return sent, failed, lastErr
}

// Total is the number of messages sent since Init.
func (b *Batch[A]) Total() uint64 { return b.total }

// PrepareRecv points message i at buf (received into all of it), its
// address slot and its control buffer.
func (b *Batch[A]) PrepareRecv(i int, buf []byte) {
	b.Iovs[i].Base = &buf[0]
	b.Iovs[i].SetLen(len(buf))
	h := &b.Hdrs[i].Hdr
	h.Iov = &b.Iovs[i]
	h.SetIovlen(1)
	h.Name = (*byte)(unsafe.Pointer(&b.Names[i]))
	if b.oobLen > 0 {
		h.Control = &b.oob[i*b.oobLen]
	}
}

// Recv receives up to len(Hdrs) messages with one recvmmsg(2) on fd,
// into the buffers PrepareRecv gave, and sets N (0 on an error). It first
// restores the lengths the kernel overwrote on the previous receive.
func (b *Batch[A]) Recv(fd uintptr, flags int) syscall.Errno { return b.RecvN(fd, flags, len(b.Hdrs)) }

// RecvN is Recv into the first n messages only (1 <= n <= len(Hdrs)),
// for a caller whose batch size changes from call to call; only those n
// need PrepareRecv.
func (b *Batch[A]) RecvN(fd uintptr, flags, n int) syscall.Errno {
	b.N = 0
	for i := range b.Hdrs[:n] {
		h := &b.Hdrs[i].Hdr
		h.Namelen = uint32(unsafe.Sizeof(b.Names[i]))
		h.SetControllen(b.oobLen)
		h.Flags = 0
	}
	r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.Hdrs[0])),
		uintptr(n), uintptr(flags), 0, 0)
	if e == 0 {
		b.N = int(r)
	}
	return e
}
