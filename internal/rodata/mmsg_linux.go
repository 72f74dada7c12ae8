package rodata

import (
	"syscall"

	"github.com/gomip6/gomip6/internal/mmsg"
	"golang.org/x/sys/unix"
)

// mmsgBatch is one socket's batch of whole packets (internal/mmsg), one
// I/O vector a packet, sent with one sendmmsg(2) per Flush (or per full
// batch) through the Go netpoller: the socket is non-blocking and a full
// socket buffer waits in RawConn.Write. The raw socket's and the packet
// socket's sides of a Sender are each one; only the destination address
// type differs.
type mmsgBatch[A mmsg.Addr] struct {
	mmsg.Batch[A]
	rc syscall.RawConn
	// sendFn is the RawConn.Write callback, made once: no closure per
	// flush.
	sendFn func(fd uintptr) bool
}

// init allocates the batch; rc is the socket.
func (b *mmsgBatch[A]) init(rc syscall.RawConn) {
	b.Init(BatchSize, BatchSize, 0)
	b.rc = rc
	b.sendFn = func(fd uintptr) bool { return b.Send(fd, unix.MSG_DONTWAIT) }
}

// add queues pkt (flushing a full batch first) and returns its message's
// address for the caller to fill.
func (b *mmsgBatch[A]) add(pkt []byte) *A {
	if b.Full(1) {
		b.flush()
	}
	i := b.Begin()
	b.AddIov(i, pkt)
	return &b.Names[i]
}

// flush sends the batch; the outcome accumulates until Take. The error
// wraps net.ErrClosed when the socket is closed (what was left failed).
func (b *mmsgBatch[A]) flush() error {
	if b.N == 0 {
		return nil
	}
	err := b.rc.Write(b.sendFn)
	if err != nil {
		b.Abandon()
		err = closedErr(err)
	}
	b.Reset() // keeps no reference to the caller's buffers
	return err
}
