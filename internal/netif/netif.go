// Package netif holds small helpers about network interfaces that several
// daemons' packages need.
package netif

import (
	"net"
	"net/netip"
)

// LinkLocal returns ifi's first IPv6 link-local address, or the zero Addr
// when it has none (yet: a fresh interface may still be doing DAD).
func LinkLocal(ifi *net.Interface) netip.Addr {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Is6() && ip.IsLinkLocalUnicast() {
				return ip
			}
		}
	}
	return netip.Addr{}
}
