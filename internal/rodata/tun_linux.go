package rodata

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/tun"
)

// Batch sizes of the data path.
const (
	// BatchSize is the number of packets one Tun.Read, one Sender batch
	// and one Tun.Write carry at most: wireguard's conn.IdealBatchSize,
	// as the tunnel forwarder uses.
	BatchSize = 128
	// drainRoom is how many free buffers a tun read needs before Read
	// tries another without waiting: a 64 KiB super-packet at the
	// minimum MTU splits into 52, and tun.Device.Read drops one that
	// does not fit.
	drainRoom = 64
	// WriteOffset is where TunWriter puts a packet in its buffer: room
	// for the 10-octet virtio-net header (struct virtio_net_hdr) that
	// tun.Device.Write puts in front of every packet, and at most where RestoreRoutingHeader2
	// and correspondent.RestoreHomeAddress leave a packet received at
	// the start of its buffer (24 octets in), so that no packet moves.
	WriteOffset = 24
)

// Tun is a tun device opened by OpenTun. It is opened with IFF_VNET_HDR
// and the TCP (and, where the kernel has it, UDP) segmentation offloads,
// as the tunnel forwarder's: the kernel hands a local TCP flow's
// super-packets up to 64 KiB in one read, which Read splits into
// MTU-sized packets (software GSO), and Write coalesces the packets of a
// batch that belong to one TCP flow into one super-packet (software GRO):
// one system call per up to 64 KiB in both directions instead of one per
// packet. Read and Write may be called concurrently; Close wakes a
// blocked Read.
type Tun struct {
	dev tun.Device
	// pfd is the descriptor, for poll(2) readiness checks only.
	pfd [1]unix.PollFd
	// one is WritePacket's buffer, guarded by oneMu.
	oneMu sync.Mutex
	one   [1][]byte
	// Name and Index identify the device.
	Name  string
	Index int
}

// OpenTun creates the tun device name (IFF_TUN, no packet information,
// virtio-net headers with offloads: see Tun) in the calling thread's
// network namespace, gives it no IPv6 address of its own (addr_gen_mode
// 1: no link-local address, no router solicitations; the device only
// carries packets for addresses that live elsewhere), sets its MTU and
// transmit queue length (0 leaves the kernel's) and brings it up. h is
// the netlink handle to configure it with. On error the descriptor is
// closed, which removes the (non-persistent) device again.
func OpenTun(h *netlink.Handle, name string, mtu, txqlen int) (*Tun, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tun name %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF %q: %w", name, err)
	}
	// CreateUnmonitoredTUNFromFD makes the descriptor non-blocking
	// (reads park in the netpoller and Close wakes them) and sets the
	// offloads; "unmonitored": no link-state goroutines of its own.
	dev, got, err := tun.CreateUnmonitoredTUNFromFD(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tun device %q: %w", name, err)
	}
	t := &Tun{dev: dev, Name: got}
	t.pfd[0] = unix.PollFd{Fd: -1, Events: unix.POLLIN}
	if f := dev.File(); f != nil {
		// Control, not Fd(): Fd would make the descriptor blocking.
		if rc, err := f.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) { t.pfd[0].Fd = int32(fd) })
		}
	}
	t.one[0] = make([]byte, WriteOffset+65536)
	fail := func(err error) (*Tun, error) {
		t.dev.Close()
		return nil, err
	}
	l, err := h.LinkByName(t.Name)
	if err != nil {
		return fail(fmt.Errorf("tun device %s: %w", t.Name, err))
	}
	t.Index = l.Attrs().Index
	// Best effort, and before the device goes up.
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+t.Name+"/addr_gen_mode", []byte("1"), 0o644)
	if mtu > 0 {
		if err := h.LinkSetMTU(l, mtu); err != nil {
			return fail(fmt.Errorf("tun device %s mtu: %w", t.Name, err))
		}
	}
	// A long queue absorbs the bursts a local application sends faster
	// than one reader moves them (the kernel drops at the tun queue,
	// without back-pressure on UDP senders).
	if txqlen > 0 {
		if err := h.LinkSetTxQLen(l, txqlen); err != nil {
			return fail(fmt.Errorf("tun device %s txqueuelen: %w", t.Name, err))
		}
	}
	if err := h.LinkSetUp(l); err != nil {
		return fail(fmt.Errorf("tun device %s up: %w", t.Name, err))
	}
	return t, nil
}

// NewReadBufs returns BatchSize buffers for Read, each with off octets of
// headroom in front of an MTU-sized packet.
func NewReadBufs(off, mtu int) (bufs [][]byte, sizes []int) {
	bufs = make([][]byte, BatchSize)
	for i := range bufs {
		bufs[i] = make([]byte, off+mtu)
	}
	return bufs, make([]int, BatchSize)
}

// Read blocks until the kernel routes a packet into the device, then
// reads it and, as long as poll(2) says more is queued and a whole
// super-packet still fits, the packets behind it: packet i is
// bufs[i][off:off+sizes[i]], complete with its checksums. It returns
// how many. A malformed super-packet (tun.Device.Read refuses it whole)
// ends the batch early; an error is returned only when nothing was read,
// and wraps os.ErrClosed after Close. It allocates nothing.
func (t *Tun) Read(bufs [][]byte, sizes []int, off int) (int, error) {
	n, err := t.dev.Read(bufs, sizes, off)
	if err != nil {
		if errors.Is(err, unix.EBADF) || errors.Is(err, unix.EBADFD) {
			err = fmt.Errorf("tun read: %w (%w)", os.ErrClosed, err)
		}
		return 0, err
	}
	// tun.Read gives one packet, or one super-packet split: without the
	// drain, small packets would cost a read and a send each. (A read
	// deadline in the past would not do: the netpoller fails such a
	// read before trying it.)
	for t.pfd[0].Fd >= 0 && n <= len(bufs)-drainRoom {
		if r, err := unix.Poll(t.pfd[:], 0); r <= 0 || err != nil || t.pfd[0].Revents&unix.POLLIN == 0 {
			break
		}
		m, err := t.dev.Read(bufs[n:], sizes[n:], off)
		if err != nil {
			break
		}
		n += m
	}
	return n, nil
}

// Write writes a batch into the device for the kernel to receive: packet
// i is bufs[i][off:], with off at least 10 (the virtio-net header goes in
// front of it). TCP and UDP packets of one flow are coalesced into the
// buffer of the first (tun.Device.Write's GRO), which must have room
// behind it: its capacity. It returns the first error; the other packets
// are written all the same.
func (t *Tun) Write(bufs [][]byte, off int) error {
	_, err := t.dev.Write(bufs, off)
	return err
}

// WritePacket writes one packet, copied into a buffer of the Tun's: for
// the odd packet outside a batch (a Packet Too Big). It allocates nothing.
func (t *Tun) WritePacket(pkt []byte) error {
	t.oneMu.Lock()
	defer t.oneMu.Unlock()
	if len(pkt) > len(t.one[0])-WriteOffset {
		return fmt.Errorf("tun write: %d-octet packet", len(pkt))
	}
	b := t.one[0][:WriteOffset+copy(t.one[0][WriteOffset:], pkt)]
	bufs := t.one[:]
	bufs[0] = b
	err := t.Write(bufs, WriteOffset)
	t.one[0] = b[:cap(b)]
	return err
}

// Close closes the device, which removes it (it is not persistent) with
// its routes; a blocked Read returns.
func (t *Tun) Close() error { return t.dev.Close() }

// TunWriter gathers a batch of packets for Tun.Write. Each packet stays in
// the buffer it was received into; see Add. A TunWriter belongs to one
// goroutine; it allocates nothing.
type TunWriter struct {
	t    *Tun
	bufs [][]byte
}

// NewTunWriter returns a TunWriter for t.
func NewTunWriter(t *Tun) *TunWriter {
	return &TunWriter{t: t, bufs: make([][]byte, 0, BatchSize)}
}

// Add queues pkt, a slice of buf (the whole buffer it was received into,
// whose tail after pkt GRO may use), for the next Flush, which it runs
// first when the batch is full. The packet must start at least
// WriteOffset octets into buf; it is moved to exactly WriteOffset when
// it starts later. It reports false, queueing nothing, for a pkt that is
// empty or not within buf with that headroom. buf must not be reused
// before Flush.
func (w *TunWriter) Add(buf, pkt []byte) bool {
	pos := cap(buf) - cap(pkt)
	if pos < WriteOffset || pos+len(pkt) > len(buf) || len(pkt) == 0 || &buf[pos] != &pkt[0] {
		return false
	}
	if pos != WriteOffset {
		copy(buf[WriteOffset:], pkt)
	}
	if len(w.bufs) == cap(w.bufs) {
		w.Flush()
	}
	w.bufs = append(w.bufs, buf[:WriteOffset+len(pkt)])
	return true
}

// Len is the number of packets queued.
func (w *TunWriter) Len() int { return len(w.bufs) }

// Flush writes the queued packets and forgets them.
func (w *TunWriter) Flush() error {
	if len(w.bufs) == 0 {
		return nil
	}
	err := w.t.Write(w.bufs, WriteOffset)
	clear(w.bufs)
	w.bufs = w.bufs[:0]
	return err
}
