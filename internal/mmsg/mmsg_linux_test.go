//go:build linux

package mmsg

import (
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// udpSocket opens a blocking UDP socket bound to [::1]:0 and returns it
// with its address.
func udpSocket(t *testing.T) (int, unix.RawSockaddrInet6) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet6{Addr: [16]byte{15: 1}}); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	tv := unix.NsecToTimeval(2e9) // a broken test fails instead of hanging
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	a := sa.(*unix.SockaddrInet6)
	raw := unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.Addr}
	// The port in network order, as the kernel wants it.
	p := (*[2]byte)(unsafe.Pointer(&raw.Port))
	p[0], p[1] = byte(a.Port>>8), byte(a.Port)
	return fd, raw
}

// TestSendSkipsRefused sends a batch in which one message is refused
// (a UDP datagram over 65535 octets, EMSGSIZE): the messages around it go
// out, one of them with two I/O vectors that arrive as one datagram, and
// the outcome counts one failure with its error.
func TestSendSkipsRefused(t *testing.T) {
	tx, _ := udpSocket(t)
	rx, dst := udpSocket(t)

	var b Batch[unix.RawSockaddrInet6]
	b.Init(4, 8, 0)
	big := make([]byte, 70000)
	for _, m := range [][][]byte{
		{[]byte("one")},
		{big},
		{[]byte("two "), []byte("parts")},
		{[]byte("three")},
	} {
		if b.Full(len(m)) {
			t.Fatalf("full before %d messages", b.N)
		}
		i := b.Begin()
		for _, p := range m {
			b.AddIov(i, p)
		}
		b.Names[i] = dst
	}
	if !b.Full(1) {
		t.Error("not full after 4 of 4 messages")
	}
	if !b.Send(uintptr(tx), 0) {
		t.Fatal("Send would block")
	}
	b.Fail(unix.EINVAL) // a refusal before queueing counts too
	sent, failed, last := b.Take()
	if sent != 3 || failed != 2 || last != unix.EINVAL {
		t.Errorf("Take = %d sent, %d failed, %v; want 3, 2, EINVAL", sent, failed, last)
	}
	if sent, failed, last := b.Take(); sent != 0 || failed != 0 || last != 0 {
		t.Errorf("second Take = %d, %d, %v; want zeros", sent, failed, last)
	}
	if b.Total() != 3 {
		t.Errorf("Total = %d, want 3", b.Total())
	}
	b.Reset()
	if b.N != 0 || b.NIov != 0 {
		t.Errorf("after Reset: N %d, NIov %d", b.N, b.NIov)
	}
	for i, v := range b.Iovs {
		if v.Base != nil {
			t.Errorf("after Reset: vector %d still points at a buffer", i)
		}
	}

	// Receive them, two at a time: the second receive over the same
	// batch must restore the address length the first one overwrote.
	var r Batch[unix.RawSockaddrInet6]
	r.Init(2, 2, unix.CmsgSpace(4))
	bufs := make([][]byte, 2)
	for i := range bufs {
		bufs[i] = make([]byte, 100)
		r.PrepareRecv(i, bufs[i])
	}
	var got []string
	for recvs := 0; len(got) < 3; recvs++ {
		if recvs == 2 {
			t.Fatalf("received %q in two batches of two", got)
		}
		if e := r.Recv(uintptr(rx), unix.MSG_WAITFORONE); e != 0 {
			t.Fatalf("Recv: %v", e)
		}
		for i := range r.N {
			got = append(got, string(bufs[i][:r.Hdrs[i].Len]))
			if r.Names[i].Family != unix.AF_INET6 || r.Names[i].Addr != dst.Addr {
				t.Errorf("source %+v", r.Names[i])
			}
		}
		// As a short source address would leave them.
		r.Hdrs[0].Hdr.Namelen = 0
		r.Names[0] = unix.RawSockaddrInet6{}
	}
	if diff := cmp.Diff([]string{"one", "two parts", "three"}, got); diff != "" {
		t.Errorf("received (-want +got):\n%s", diff)
	}
}

// TestSendWouldBlock fills a non-blocking socket's buffer: Send stops
// with false at EAGAIN, and Abandon counts what was left as failed.
func TestSendWouldBlock(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	var b Batch[unix.RawSockaddrInet6]
	b.Init(64, 64, 0)
	pkt := make([]byte, 1000)
	for {
		for !b.Full(1) {
			i := b.Begin()
			b.AddIov(i, pkt)
			b.Hdrs[i].Hdr.Name, b.Hdrs[i].Hdr.Namelen = nil, 0 // connected
		}
		if !b.Send(uintptr(fds[0]), 0) {
			break
		}
		b.Reset()
		if b.Total() > 1<<20 {
			t.Fatal("the socket buffer never filled")
		}
	}
	b.Abandon()
	sent, failed, last := b.Take()
	if sent+failed == 0 || failed == 0 || last != 0 {
		t.Errorf("Take = %d sent, %d failed, %v; want some of each, no error", sent, failed, last)
	}
	if b.Send(uintptr(fds[0]), 0) != true {
		t.Error("Send after Abandon tried again")
	}
}

// TestControl gives a message control data: SetControl points it at its
// own part of the control buffer, and 0 leaves none.
func TestControl(t *testing.T) {
	var b Batch[unix.RawSockaddrLinklayer]
	b.Init(2, 2, 24)
	for range 2 {
		i := b.Begin()
		b.AddIov(i, []byte{1})
		if c := b.Control(i); len(c) != 24 {
			t.Fatalf("control buffer of %d octets", len(c))
		}
	}
	b.SetControl(1, 16)
	b.SetControl(0, 0)
	if h := b.Hdrs[0].Hdr; h.Control != nil || h.Controllen != 0 {
		t.Errorf("message 0 has control data")
	}
	if h := b.Hdrs[1].Hdr; h.Control != &b.Control(1)[0] || h.Controllen != 16 {
		t.Errorf("message 1: control %p/%d, want %p/16", h.Control, h.Controllen, &b.Control(1)[0])
	}
	if h := b.Hdrs[1].Hdr; h.Namelen != unix.SizeofSockaddrLinklayer || h.Name != (*byte)(unsafe.Pointer(&b.Names[1])) {
		t.Errorf("message 1: address %p/%d", h.Name, h.Namelen)
	}
}

// TestRecvN receives into the first n messages only: with three
// datagrams queued, RecvN with n 1 takes one and leaves two, which the
// messages not prepared (no buffer) must not swallow.
func TestRecvN(t *testing.T) {
	tx, _ := udpSocket(t)
	rx, _ := udpSocket(t)
	to, err := unix.Getsockname(rx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a", "bb", "ccc"} {
		if err := unix.Sendto(tx, []byte(p), 0, to); err != nil {
			t.Fatal(err)
		}
	}
	var r Batch[unix.RawSockaddrInet6]
	r.Init(4, 4, 0)
	bufs := [][]byte{make([]byte, 10), make([]byte, 10)}
	var got []string
	for i, n := range []int{1, 2} {
		r.PrepareRecv(i, bufs[i])
		if e := r.RecvN(uintptr(rx), unix.MSG_DONTWAIT, n); e != 0 {
			t.Fatalf("RecvN(%d): %v", n, e)
		}
		if r.N != n {
			t.Errorf("RecvN(%d) received %d", n, r.N)
		}
		for j := range r.N {
			got = append(got, string(bufs[j][:r.Hdrs[j].Len]))
		}
	}
	if diff := cmp.Diff([]string{"a", "bb", "ccc"}, got); diff != "" {
		t.Errorf("received (-want +got):\n%s", diff)
	}
}
