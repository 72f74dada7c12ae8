//go:build linux

package tunnel

import (
	"fmt"

	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/tun"
)

// openTUN creates (or attaches to) the tun device name with queues
// queues, each a wireguard tun.Device over its own file descriptor. The
// device is opened with IFF_VNET_HDR, so the kernel hands us TSO/USO
// super-packets that tun.Device.Read splits (GSO) and takes coalesced
// ones from tun.Device.Write (GRO): one system call per super-packet
// instead of one per MTU-sized packet. With more than one queue it is
// IFF_MULTI_QUEUE: the kernel spreads flows over the queues by hash, and
// one reader per queue keeps every core busy (Documentation/networking/
// tuntap.rst, "Multiqueue tuntap interface").
//
// The devices are "unmonitored": wireguard's link-state goroutines are
// not started, since the forwarder neither needs the events nor wants
// goroutines it does not own.
func openTUN(name string, queues int) ([]tun.Device, string, error) {
	var devs []tun.Device
	closeAll := func() {
		for _, d := range devs {
			d.Close()
		}
	}
	for i := range queues {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			closeAll()
			return nil, "", fmt.Errorf("tunnel: open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			unix.Close(fd)
			closeAll()
			return nil, "", fmt.Errorf("tunnel: tun name %q: %w", name, err)
		}
		flags := uint16(unix.IFF_TUN | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
		if queues > 1 {
			flags |= unix.IFF_MULTI_QUEUE
		}
		ifr.SetUint16(flags)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			closeAll()
			return nil, "", fmt.Errorf("tunnel: TUNSETIFF %q queue %d: %w", name, i, err)
		}
		// CreateUnmonitoredTUNFromFD makes the descriptor non-blocking
		// before os.NewFile, so reads park in the Go netpoller and Close
		// wakes them.
		d, got, err := tun.CreateUnmonitoredTUNFromFD(fd)
		if err != nil {
			unix.Close(fd)
			closeAll()
			return nil, "", fmt.Errorf("tunnel: tun queue %d: %w", i, err)
		}
		devs = append(devs, d)
		name = got // a pattern such as "gm%d" resolves on the first queue
	}
	return devs, name, nil
}

// setLink sets the MTU and transmit queue length of interface name and
// brings it up, through the classic interface ioctls on a throwaway
// datagram socket (in the calling thread's network namespace).
func setLink(name string, mtu, txqlen int) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("tunnel: ioctl socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if mtu > 0 {
		ifr.SetUint32(uint32(mtu))
		if err := unix.IoctlIfreq(fd, unix.SIOCSIFMTU, ifr); err != nil {
			return fmt.Errorf("tunnel: set MTU %d on %s: %w", mtu, name, err)
		}
	}
	if txqlen > 0 {
		// The tun default of 500 packets overflows under a burst the
		// size of one GSO batch from several flows; drops there look
		// like loss on the tunnel path to TCP.
		ifr.SetUint32(uint32(txqlen))
		if err := unix.IoctlIfreq(fd, unix.SIOCSIFTXQLEN, ifr); err != nil {
			return fmt.Errorf("tunnel: set txqueuelen %d on %s: %w", txqlen, name, err)
		}
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("tunnel: get flags of %s: %w", name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("tunnel: bring %s up: %w", name, err)
	}
	return nil
}
