package rodata

import (
	"fmt"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Tun is a tun device opened by OpenTun.
type Tun struct {
	// File reads the packets the kernel routes into the device and
	// writes packets the kernel receives from it, one IPv6 packet per
	// call. Reads park in the netpoller; Close wakes them.
	File *os.File
	// Name and Index identify the device.
	Name  string
	Index int
}

// OpenTun creates the tun device name (IFF_TUN, no packet information:
// each read and write is one IP packet) in the calling thread's network
// namespace, gives it no IPv6 address of its own (addr_gen_mode 1: no
// link-local address, no router solicitations; the device only carries
// packets for addresses that live elsewhere), sets its MTU and transmit
// queue length (0 leaves the kernel's) and brings it up. h is the netlink
// handle to configure it with. On error the descriptor is closed, which
// removes the (non-persistent) device again.
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
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF %q: %w", name, err)
	}
	// Non-blocking before os.NewFile: reads park in the netpoller and
	// Close wakes them.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	t := &Tun{File: os.NewFile(uintptr(fd), "/dev/net/tun"), Name: ifr.Name()}
	fail := func(err error) (*Tun, error) {
		t.File.Close()
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
