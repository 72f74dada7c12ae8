package mnd

import (
	"net/netip"
	"slices"

	"github.com/gomip6/gomip6/mobilenode"
	"github.com/gomip6/gomip6/tunnel"
)

// This file is the pure half of Dual-Stack Mobile IPv6 (RFC 5555) in the
// daemon: which IPv4 address becomes the care-of address, and the
// tunnel endpoint and status words of a binding registered over IPv4.
// dsmip_linux.go wires it to netlink, the forwarder and the loop.

// ipv4Link is what the daemon knows of the IPv4 side of one access
// interface, from netlink: its IPv4 addresses, in the order the kernel
// reported them, and its IPv4 default routes in the main table.
type ipv4Link struct {
	addrs    []netip.Addr
	defaults []v4Default
}

// v4Default is an IPv4 default route: its next hop (an invalid Addr for
// a route without a gateway, as on a point-to-point link) and its metric,
// which with the table identifies it in the kernel (a replace keeps the
// metric and changes the gateway).
type v4Default struct {
	gw     netip.Addr
	metric int
}

// routeEvent applies a default route's addition (replacing the one of the
// same metric) or removal, and reports whether anything changed.
func (l *ipv4Link) routeEvent(r v4Default, add bool) bool {
	i := slices.IndexFunc(l.defaults, func(x v4Default) bool { return x.metric == r.metric })
	switch {
	case add && i < 0:
		l.defaults = append(l.defaults, r)
	case add && l.defaults[i] != r:
		l.defaults[i] = r
	case !add && i >= 0 && l.defaults[i] == r:
		l.defaults = slices.Delete(l.defaults, i, i+1)
	default:
		return false
	}
	return true
}

// usableIPv4 reports whether a can be an IPv4 care-of address: a unicast
// address that can leave the host. Private (RFC 1918) addresses count:
// behind a NAT they are all a node has, and RFC 5555's NAT detection
// (§4.2) is there for exactly that. Link-local ones (169.254/16, RFC
// 3927) do not: no router
// forwards them, so the home agent could never be reached from one.
func usableIPv4(a netip.Addr) bool {
	return a.Is4() && !a.IsUnspecified() && !a.IsLoopback() && !a.IsLinkLocalUnicast() && !a.IsMulticast() &&
		a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// careOf returns l's IPv4 care-of address: cur if l still has it, else the
// first usable address; and whether l has a default route. Without one a
// link is not a way to the home agent (its IPv4 address may be on a
// link with no way out).
func (l *ipv4Link) careOf(cur netip.Addr) (netip.Addr, bool) {
	if l == nil || len(l.defaults) == 0 {
		return netip.Addr{}, false
	}
	if cur.Is4() && slices.Contains(l.addrs, cur) {
		return cur, true
	}
	for _, a := range l.addrs {
		if usableIPv4(a) {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// gateway returns the next hop of l's default route of the lowest metric,
// the one the kernel uses (an invalid Addr: a device route).
func (l *ipv4Link) gateway() netip.Addr {
	if l == nil || len(l.defaults) == 0 {
		return netip.Addr{}
	}
	best := l.defaults[0]
	for _, r := range l.defaults[1:] {
		if r.metric < best.metric {
			best = r
		}
	}
	return best.gw
}

// chooseInput is what chooseCareOf decides from.
type chooseInput struct {
	// Interfaces are the access interfaces, most preferred first.
	Interfaces []string
	// IPv6 is the IPv6 movement decision (mobilenode.Movement.Current).
	IPv6 mobilenode.MoveEvent
	// IPv4 is the IPv4 side of each interface; nil or missing: none.
	IPv4 map[string]*ipv4Link
	// Up reports an interface operationally up, Held one held down by
	// flap damping (mobilenode.Movement.HeldDown).
	Up, Held func(string) bool
	// Current is the decision acted on last (its IPv4 care-of address
	// is kept while it stays usable, so that a second address on the
	// same link does not make the node move).
	Current mobilenode.MoveEvent
}

// chooseCareOf combines the IPv6 movement decision with the IPv4 care-of
// addresses of the access interfaces. The rule, in order:
//
//  1. The home link, on any interface (RFC 6275 §11.5.5: at home no
//     tunnel at all).
//  2. An IPv6 care-of address, on any interface, in the interfaces'
//     preference order (mobilenode.Movement's choice): it needs no NAT
//     traversal, no keepalives and 20 fewer octets of overhead per
//     packet than IPv6 in UDP over IPv4, and it is what RFC 6275 knows.
//     So a dual-stack link registers its IPv6 address, and an IPv6
//     link beats an IPv4-only one whatever their order in mnd.toml.
//  3. An IPv4 care-of address (RFC 5555): the first interface in
//     preference order that is up, not held down by flap damping, and
//     has a usable IPv4 address and an IPv4 default route; a held-down
//     one only when no other qualifies (as Movement does for IPv6).
//  4. Otherwise no connectivity.
//
// Debouncing is Movement's for both families: a flapping link is held
// down for IPv4 as for IPv6, and the IPv6 decision itself already waits
// for a Router Advertisement.
func chooseCareOf(in chooseInput) mobilenode.MoveEvent {
	switch in.IPv6.Kind {
	case mobilenode.ReturnedHome, mobilenode.MovedTo:
		return mobilenode.MoveEvent{Kind: in.IPv6.Kind, Interface: in.IPv6.Interface, CareOf: in.IPv6.CareOf}
	}
	for pass := range 2 {
		for _, name := range in.Interfaces {
			if !in.Up(name) || (pass == 0 && in.Held(name)) {
				continue
			}
			cur := netip.Addr{}
			if in.Current.Interface == name {
				cur = in.Current.CareOf
			}
			if coa, ok := in.IPv4[name].careOf(cur); ok {
				return mobilenode.MoveEvent{Kind: mobilenode.MovedTo, Interface: name, CareOf: coa}
			}
		}
	}
	return mobilenode.MoveEvent{Kind: mobilenode.LostConnectivity}
}

// sameDecision reports whether a and b are the same movement decision.
func sameDecision(a, b mobilenode.MoveEvent) bool {
	return a.Kind == b.Kind && a.Interface == b.Interface && a.CareOf == b.CareOf
}

// ipv4Endpoint returns the tunnel endpoint of a binding registered from
// the IPv4 care-of address coa with home agent ha4 (RFC 5555 §4.1): IPv6
// in UDP between port 4191 at both ends when the Binding Acknowledgement
// carried a NAT Detection option (a NAT on the path, or the F flag),
// else IPv6 in IPv4 (protocol 41). Behind a NAT the local end is the
// private care-of address: the NAT rewrites it, and the home agent answers
// to the mapping it saw.
func ipv4Endpoint(coa, ha4 netip.Addr, udp bool) tunnel.Endpoint {
	if udp {
		return tunnel.Endpoint{Kind: tunnel.KindUDP4, Local: coa, Remote: ha4,
			LocalPort: tunnel.UDPPortDSMIP, RemotePort: tunnel.UDPPortDSMIP}
	}
	return tunnel.Endpoint{Kind: tunnel.Kind6in4, Local: coa, Remote: ha4}
}
