package homeagent

import (
	"net/netip"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/tunnel"
)

// This file holds Dual-Stack Mobile IPv6 (RFC 5555) at the home agent:
// Binding Updates that arrive over IPv4 with an IPv4 care-of address, NAT
// detection, and IPv4 home addresses.
//
// What goes over the wire (RFC 5555 §4.1, §4.2): a mobile node on an IPv4
// network sends its Binding Update to the home agent's IPv4 address, in
// UDP to port 4191 (or as IPv6 in IPv4, protocol 41; we accept both). The
// inner IPv6 packet goes from the home address to the home agent's IPv6
// address, so it needs no Home Address option, and carries the IPv4
// Care-of Address option (§3.1.2) with the address the node has on its
// link. The home agent compares that address with the outer source it
// saw: if they differ a NAT rewrote it, and the binding must tunnel in UDP
// to the NAT's public address and port, the only way back through the
// NAT's mapping; the Binding Acknowledgement then carries the NAT
// Detection option (§3.2.2) with the keepalive refresh time. The F flag
// (§3.1.3) asks for UDP even with no NAT, and so does this home agent for
// a node with an IPv4 home address (see syncIPv4). The Binding
// Acknowledgement goes
// back the way the Binding Update came, inner IPv6 packet from the home
// agent's IPv6 address to the home address.
//
// Authentication (RFC 4285 §5.1): the Mobility Data covers "care-of
// address | home address | MH Data". With an IPv4 care-of address there
// is no IPv6 care-of address; both ends use the IPv4 Care-of Address
// option's address, in its IPv4-mapped form (binding.SetMNHAAuthenticator
// takes IPv4 that way, RFC 4291 §2.5.5.2), and not the outer source,
// which a NAT rewrites and the mobile node cannot know. The option is
// also inside MH Data, so the care-of address is covered twice over; what
// the authenticator cannot cover is the NAT's public address and port,
// which only the path knows. A forged packet with the genuine node's
// Binding Update replayed from elsewhere is stopped by the timestamp
// (RFC 4285 §6), as for IPv6.

// checkIPv4 applies to a Binding Update that came over IPv4 what comes
// before authentication: IPv4 enabled and the right IPv4 address, an IPv4
// Care-of Address option (RFC 5555 §4.2: a Binding Update from an IPv4
// network carries one) with a unicast address, a unicast outer source; and
// it makes the NAT detection of §4.1, which is only a comparison. On
// success in.coa is the option's address.
func (h *HomeAgent) checkIPv4(p Packet, in *buInfo) DropReason {
	if !h.addr4.IsValid() || (p.OuterDst.IsValid() && p.OuterDst.Unmap() != h.addr4) {
		return DropIPv4Disabled
	}
	in.outer = netip.AddrPortFrom(p.Outer.Addr().Unmap(), p.Outer.Port())
	if !in.sawV4CoA || !unicast4(in.v4CoAOption) || !unicast4(in.outer.Addr()) {
		return DropBadCareOf
	}
	in.coa = in.v4CoAOption
	// §4.1: the option is what the node put on its packet; the outer
	// source is what reached us. A difference is a NAT.
	in.nat = in.coa != in.outer.Addr()
	// UDP through a NAT, when the node forces it (F), and when it asks
	// for an IPv4 home address: the data plane carries IPv4 packets in
	// UDP only (tunnel.Table.SetIPv4), so the home agent forces UDP
	// then, which the NAT Detection option's F flag lets it (§3.2.2).
	in.udp = in.nat || in.flags&mip6.BUFlagF != 0 || (in.hasV4req && h.pool4.IsValid())
	return NotDropped
}

// unicast4 reports whether a is an IPv4 address a tunnel can be pointed
// at: not in 0.0.0.0/8 ("this network", RFC 1122 §3.2.1.3, which holds
// the unspecified address), 127.0.0.0/8 (loopback), 169.254.0.0/16
// (link-local, RFC 3927: not forwarded), 224.0.0.0/4 (multicast) or
// 240.0.0.0/4 (reserved, with the limited broadcast address). Private
// addresses (RFC 1918) are fine: behind a NAT the IPv4 Care-of Address
// option holds one, and a home agent inside a private network may see
// them as outer sources.
func unicast4(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	b := a.As4()
	return b[0] != 0 && b[0] != 127 && b[0] < 224 && !(b[0] == 169 && b[1] == 254)
}

// careOfOK reports whether a binding's care-of address, as the cache
// holds it, is one ProcessBU could have accepted: routable IPv6, or a
// unicast IPv4 address when this home agent does IPv4.
func (h *HomeAgent) careOfOK(a netip.Addr) bool {
	if a.Is4() {
		return h.addr4.IsValid() && unicast4(a)
	}
	return routable(a)
}

// reply is the Result skeleton of an answer to in: the BA goes to the
// care-of address with a type 2 routing header (RFC 6275 §6.1.8); for a
// Binding Update that came over IPv4, inside IPv4 back to where it came
// from, the inner packet to the home address (RFC 5555 §4).
func (h *HomeAgent) reply(in *buInfo) Result {
	res := Result{Verdict: Reply, BADst: in.coa, HomeAddress: in.hoa}
	if in.v4() {
		res.BADst, res.Outer, res.OuterSrc, res.NAT, res.UDP = in.hoa, in.outer, h.addr4, in.nat, in.udp
	}
	return res
}

// IPv4HomeAddress returns the IPv4 home address the node with home
// address hoa holds (RFC 5555 §3.1.1), if any: the daemon routes it into
// the node's tunnel.
func (h *HomeAgent) IPv4HomeAddress(hoa netip.Addr) (netip.Addr, bool) {
	ni, ok := h.byHoA[hoa.As16()]
	if !ok || !h.nodes[ni].v4hoa.IsValid() {
		return netip.Addr{}, false
	}
	return h.nodes[ni].v4hoa, true
}

// assignIPv4 answers the IPv4 Home Address option of an accepted Binding
// Update (RFC 5555 §3.1.1, §3.2.1) and records the answer in in.ack:
//
//   - no [ipv4] home_pool: 129 (administratively prohibited), nothing to
//     assign from;
//   - a Binding Update from an IPv6 care-of address: 129 too. RFC 5555
//     would carry the node's IPv4 traffic in IPv6 then, which the data
//     plane does not do (it carries IPv4 in UDP over IPv4 only); a node
//     that held an address releases it;
//   - the P flag (a mobile network prefix) or a prefix length other than
//     32: 129, only single addresses are assigned;
//   - 0.0.0.0 (assign one): the node's configured ipv4_home_address, or
//     the address it already holds, or the first free one of the pool;
//     132 (dynamic assignment not available) when the pool is full;
//   - a specific address: granted when it is the node's configured one,
//     or the node has none configured and the address is free (or
//     already its own) in the pool; 130 (incorrect IPv4 home address) when
//     it belongs to someone else or the node has another configured; 131
//     (invalid IPv4 address) when it is not a usable address of the pool.
//
// A success is Pref-len 32. The address stays the node's until its
// binding is deleted or expires (releaseIPv4); the configured one stays
// reserved for it always. The assignment is not in the binding cache's
// state file: after a restart a configured address comes back with the
// restored binding (Restore), and a pool address with the node's next
// Binding Update, which names it, nobody else having taken it meanwhile.
func (h *HomeAgent) assignIPv4(ni uint32, in *buInfo) {
	n := &h.nodes[ni]
	req := in.v4req
	in.hasAck = true
	in.ack = mip6.IPv4AddressAck{Status: mip6.IPv4AckProhibited, Address: req.Address}
	if !h.pool4.IsValid() || req.RequestPrefix || req.PrefixLen != 32 || !in.v4() {
		return
	}
	grant := func(a netip.Addr) {
		if n.v4hoa.IsValid() && n.v4hoa != a {
			h.releaseIPv4(ni)
		}
		n.v4hoa = a
		if a != n.v4fixed {
			h.v4used[a] = ni
		}
		in.ack = mip6.IPv4AddressAck{Status: mip6.IPv4AckSuccess, PrefixLen: 32, Address: a}
		in.v4granted = a
	}
	a := req.Address
	switch {
	case a.IsUnspecified():
		switch {
		case n.v4fixed.IsValid():
			grant(n.v4fixed)
		case n.v4hoa.IsValid():
			grant(n.v4hoa)
		default:
			if free, ok := h.freeIPv4(); ok {
				grant(free)
			} else {
				in.ack.Status = mip6.IPv4AckDynamicNotAvailable
			}
		}
	case n.v4fixed.IsValid():
		if a == n.v4fixed {
			grant(a)
		} else {
			in.ack.Status = mip6.IPv4AckIncorrectHomeAddress
		}
	case !h.poolUsable(a):
		in.ack.Status = mip6.IPv4AckInvalidAddress
	case h.v4owner(a) >= 0 && uint32(h.v4owner(a)) != ni:
		in.ack.Status = mip6.IPv4AckIncorrectHomeAddress
	default:
		grant(a)
	}
}

// releaseIPv4 gives back the pool address node ni held, and withdraws it
// from the data plane table; a configured one stays reserved for it.
func (h *HomeAgent) releaseIPv4(ni uint32) {
	if int(ni) >= len(h.nodes) {
		return
	}
	n := &h.nodes[ni]
	a := n.v4hoa
	if !a.IsValid() {
		return
	}
	if a != n.v4fixed {
		if owner, ok := h.v4used[a]; ok && owner == ni {
			delete(h.v4used, a)
		}
	}
	if h.table != nil {
		h.table.DeleteIPv4(a)
	}
	n.v4hoa = netip.Addr{}
}

// syncIPv4 points node ni's IPv4 home address, if it holds one, at the
// tunnel of its binding e in the data plane table, after every accepted
// registration; a binding that no longer tunnels in UDP (the node moved to
// an IPv6 network, or home) cannot carry it, and the address is released.
// A table that refuses it turns a success in in.ack into 128.
func (h *HomeAgent) syncIPv4(ni uint32, e *binding.Entry, in *buInfo) {
	n := &h.nodes[ni]
	if !n.v4hoa.IsValid() {
		return
	}
	ep := h.endpoint(e.CareOf, e.CareOfPort)
	if ep.Kind != tunnel.KindUDP4 {
		h.releaseIPv4(ni)
		return
	}
	if h.table == nil {
		return
	}
	if err := h.table.SetIPv4(n.v4hoa, ep); err != nil {
		h.releaseIPv4(ni)
		if in.hasAck && in.ack.Status == mip6.IPv4AckSuccess {
			in.ack = mip6.IPv4AddressAck{Status: mip6.IPv4AckUnspecified, Address: in.ack.Address}
			in.v4granted = netip.Addr{}
		}
	}
}

// v4owner returns the index of the node that holds or is configured with
// IPv4 home address a, or -1.
func (h *HomeAgent) v4owner(a netip.Addr) int {
	if ni, ok := h.v4used[a]; ok {
		return int(ni)
	}
	if ni, ok := h.v4conf[a]; ok {
		return int(ni)
	}
	return -1
}

// poolUsable reports whether a is an address of the pool a node can hold:
// inside it, and for pools of /30 and shorter not its network or
// broadcast address (RFC 919 / RFC 922 give those meanings on a subnet;
// conf refuses them as ipv4_home_address for the same reason).
func (h *HomeAgent) poolUsable(a netip.Addr) bool {
	if !a.Is4() || !h.pool4.Contains(a) || !unicast4(a) || a == h.addr4 {
		return false
	}
	if h.pool4.Bits() <= 30 {
		if a == h.pool4.Addr() || a == lastAddr4(h.pool4) {
			return false
		}
	}
	return true
}

// freeIPv4 returns the first usable pool address nobody holds or is
// configured with. It walks at most the first 65536 addresses: a pool is
// a handful of addresses for a home's mobile nodes, and a bound keeps a /8
// from turning a Binding Update into a long loop.
func (h *HomeAgent) freeIPv4() (netip.Addr, bool) {
	a := h.pool4.Addr()
	for range 1 << 16 {
		if !h.pool4.Contains(a) {
			break
		}
		if h.poolUsable(a) && h.v4owner(a) < 0 {
			return a, true
		}
		a = a.Next()
	}
	return netip.Addr{}, false
}

// lastAddr4 is the last address of IPv4 prefix p.
func lastAddr4(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// restoreIPv4 gives node ni, whose binding e was restored from the state
// file, its configured IPv4 home address back when e tunnels in UDP.
func (h *HomeAgent) restoreIPv4(ni uint32, e *binding.Entry) {
	n := &h.nodes[ni]
	if !n.v4fixed.IsValid() || !h.pool4.IsValid() {
		return
	}
	n.v4hoa = n.v4fixed
	h.syncIPv4(ni, e, &buInfo{})
}
