package rodata

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/gomip6/gomip6/internal/netif"
	"golang.org/x/sys/unix"
)

// ListenPacketTooBig opens a raw ICMPv6 socket that receives a copy of
// every Packet Too Big (the kernel handles them too) and nothing else
// (ICMP6_FILTER, RFC 3542 §3.2: a set bit blocks a type). Both daemons
// read it to carry path MTU discovery (RFC 8201) across the header they
// add to local packets: the type 2 routing header of a correspondent
// (correspondent.AppendHomePacketTooBig), the Home Address option of a
// mobile node (AppendHomeAddressPacketTooBig).
func ListenPacketTooBig() (*net.IPConn, error) {
	c, err := net.ListenIP("ip6:ipv6-icmp", &net.IPAddr{IP: net.IPv6unspecified})
	if err != nil {
		return nil, fmt.Errorf("icmpv6 socket: %w", err)
	}
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	var f unix.ICMPv6Filter
	for i := range f.Data {
		f.Data[i] = 0xffffffff
	}
	f.Data[0] &^= 1 << icmpPacketTooBig
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptICMPv6Filter(int(fd), unix.SOL_ICMPV6, unix.ICMPV6_FILTER, &f)
	}); err != nil {
		serr = err
	}
	if serr != nil {
		c.Close()
		return nil, fmt.Errorf("icmpv6 socket filter: %w", serr)
	}
	return c, nil
}

// ReadPacketTooBig reads the socket ListenPacketTooBig opened until it is
// closed, calling f with each message (from its Type octet; f must not
// keep it) and the address of the router that sent it. A read error
// other than the close waits 10 ms, or returns once done is closed.
func ReadPacketTooBig(c *net.IPConn, done <-chan struct{}, f func(icmp []byte, from netip.Addr)) {
	buf := make([]byte, 2048)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			if netif.ReadStop(err, done) {
				return
			}
			continue
		}
		if ip, ok := netip.AddrFromSlice(from.(*net.IPAddr).IP); ok {
			f(buf[:n], ip.Unmap())
		}
	}
}
