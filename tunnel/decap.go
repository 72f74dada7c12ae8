package tunnel

import (
	"encoding/binary"
	"net/netip"

	"github.com/gomip6/gomip6/mip6"
)

// Outer describes the outer header(s) a packet arrived with. ParseOuter
// fills it from a header-included packet (a raw IPv4 socket, a capture);
// a socket receive path that gets only the payload (raw IPv6 sockets,
// RFC 3542 §3, and UDP sockets) fills it from the source address, the
// local address (IPV6_PKTINFO / IP_PKTINFO) and the received traffic class
// (IPV6_RECVTCLASS / IP_RECVTOS).
type Outer struct {
	// Kind is the encapsulation the packet arrived with.
	Kind Kind
	// Src and Dst are the outer addresses: IPv6 for KindIPv6, IPv4
	// otherwise. A zero Dst skips the destination check.
	Src, Dst netip.Addr
	// SrcPort and DstPort are the UDP ports of KindUDP4.
	SrcPort, DstPort uint16
	// TOS is the outer TOS / traffic class octet; its low two bits are
	// the ECN field that RFC 6040 §4.2 combines into the inner header.
	TOS uint8
}

// ParseOuter parses the outer headers of a received tunnel packet: an IPv6
// header (extension headers allowed) with next header 41, or an IPv4
// header (options allowed) with protocol 41 or with UDP. The IPv4 header
// checksum and a non-zero UDP checksum are verified; lengths must agree
// with the data (trailing octets beyond the stated length are ignored).
// Fragments are refused: the kernel reassembles before a raw socket sees
// them, and we do not reassemble. It returns the payload, the inner packet
// still unchecked, and ReasonOK, or a drop reason. It never allocates.
func ParseOuter(pkt []byte) (Outer, []byte, Reason) {
	var ro rawOuter
	inner, r := parseOuterRaw(&ro, pkt)
	return ro.outer(), inner, r
}

// rawOuter is Outer in table form (IPv4 addresses IPv4-mapped), what the
// packet path compares against bindings without building netip.Addr
// values.
type rawOuter struct {
	src, dst     [16]byte
	sport, dport uint16
	kind         Kind
	tos          uint8
	v4           bool // addresses are IPv4 (set even when kind is unknown)
	hasDst       bool
	valid        bool // addresses were parsed
}

// outer converts to the exported form.
func (ro *rawOuter) outer() Outer {
	if !ro.valid {
		return Outer{}
	}
	o := Outer{Kind: ro.kind, SrcPort: ro.sport, DstPort: ro.dport, TOS: ro.tos,
		Src: netip.AddrFrom16(ro.src), Dst: netip.AddrFrom16(ro.dst)}
	if ro.v4 {
		o.Src, o.Dst = o.Src.Unmap(), o.Dst.Unmap()
	}
	return o
}

// raw converts an Outer from a socket receive path to table form. An
// address of the wrong family for the kind cannot be the binding's, and
// gives the drop reason for that address.
func (o *Outer) raw() (ro rawOuter, r Reason) {
	ro = rawOuter{kind: o.Kind, sport: o.SrcPort, dport: o.DstPort, tos: o.TOS, v4: o.Kind.outer4(), valid: true}
	var ok bool
	if ro.src, ok = outerKey(o.Src, o.Kind); !ok {
		return ro, ReasonOuterSrc
	}
	if o.Dst.IsValid() {
		ro.hasDst = true
		if ro.dst, ok = outerKey(o.Dst, o.Kind); !ok {
			return ro, ReasonOuterDst
		}
	}
	return ro, ReasonOK
}

// parseOuterRaw is ParseOuter into *o, which must be zero: filled in
// place, since copying it around costs more than parsing.
func parseOuterRaw(o *rawOuter, pkt []byte) ([]byte, Reason) {
	if len(pkt) < 1 {
		return nil, ReasonMalformed
	}
	switch pkt[0] >> 4 {
	case 6:
		return parseOuter6(o, pkt)
	case 4:
		return parseOuter4(o, pkt)
	}
	return nil, ReasonMalformed
}

func parseOuter6(o *rawOuter, pkt []byte) ([]byte, Reason) {
	n, ok := innerLen(pkt)
	if !ok {
		return nil, ReasonMalformed
	}
	pkt = pkt[:n]
	o.kind, o.tos, o.hasDst, o.valid = KindIPv6, ip6TrafficClass(pkt), true, true
	copy(o.src[:], pkt[ip6Src:ip6Src+16])
	copy(o.dst[:], pkt[ip6Dst:ip6Dst+16])
	if fragmentInChain(pkt) {
		return nil, ReasonFragment
	}
	proto, off, ok := upperLayer(pkt)
	switch {
	case !ok:
		return nil, ReasonMalformed
	case proto != mip6.ProtoIPv6:
		return nil, ReasonNotOurs
	}
	return pkt[off:], ReasonOK
}

// fragmentInChain reports whether the extension headers of p include a
// Fragment header (upperLayer steps over a first fragment's).
func fragmentInChain(p []byte) bool {
	proto, off := p[ip6NextHeader], IPv6HeaderLen
	for range maxExtHeaders {
		switch proto {
		case mip6.ProtoFragment:
			return true
		case mip6.ProtoHopByHop, mip6.ProtoRouting, mip6.ProtoDestOpts:
			if off+2 > len(p) {
				return false
			}
			proto, off = p[off], off+(int(p[off+1])+1)*8
		case mip6.ProtoAH:
			if off+2 > len(p) {
				return false
			}
			proto, off = p[off], off+(int(p[off+1])+2)*4
		default:
			return false
		}
	}
	return false
}

func parseOuter4(o *rawOuter, pkt []byte) ([]byte, Reason) {
	if len(pkt) < IPv4HeaderLen {
		return nil, ReasonMalformed
	}
	ihl := int(pkt[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(pkt[ip4TotalLen:]))
	if ihl < IPv4HeaderLen || total < ihl || total > len(pkt) {
		return nil, ReasonMalformed
	}
	pkt = pkt[:total]
	if mip6.ChecksumFold(mip6.ChecksumAdd(0, pkt[:ihl])) != 0 {
		return nil, ReasonMalformed
	}
	o.tos, o.v4, o.hasDst, o.valid = pkt[ip4TOS], true, true, true
	o.src[10], o.src[11], o.dst[10], o.dst[11] = 0xff, 0xff, 0xff, 0xff
	copy(o.src[12:], pkt[ip4Src:ip4Src+4])
	copy(o.dst[12:], pkt[ip4Dst:ip4Dst+4])
	if binary.BigEndian.Uint16(pkt[ip4Flags:])&(ipv4MF|ipv4FragOffset) != 0 {
		return nil, ReasonFragment
	}
	switch pkt[ip4Proto] {
	case mip6.ProtoIPv6:
		o.kind = Kind6in4
		return pkt[ihl:], ReasonOK
	case mip6.ProtoUDP:
		o.kind = KindUDP4
		u := pkt[ihl:]
		if len(u) < UDPHeaderLen {
			return nil, ReasonMalformed
		}
		o.sport = binary.BigEndian.Uint16(u[0:])
		o.dport = binary.BigEndian.Uint16(u[2:])
		ulen := int(binary.BigEndian.Uint16(u[4:]))
		if ulen < UDPHeaderLen || ulen > len(u) {
			return nil, ReasonMalformed
		}
		u = u[:ulen]
		if o.sport != UDPPortDSMIP && o.dport != UDPPortDSMIP {
			return nil, ReasonNotOurs
		}
		if binary.BigEndian.Uint16(u[6:]) != 0 && udp4Checksum(pkt[ip4Src:ip4Src+4], pkt[ip4Dst:ip4Dst+4], u) != 0 {
			return nil, ReasonMalformed
		}
		return u[UDPHeaderLen:], ReasonOK
	}
	return nil, ReasonNotOurs
}

// Input parses a header-included outer packet (ParseOuter) and
// decapsulates it (Decap). The inner packet is returned in place.
func (t *Tunnel) Input(pkt []byte) ([]byte, Verdict) {
	var o rawOuter
	inner, r := parseOuterRaw(&o, pkt)
	if r != ReasonOK {
		t.Counters.add(In, r, len(pkt))
		return nil, Verdict{ActionDrop, r}
	}
	return t.decap(inner, &o)
}

// Decap checks the inner packet of a tunnel packet that arrived with outer
// headers o and, if it may pass, returns it (trimmed to its stated length)
// with its ECN field combined per RFC 6040 §4.2, to be written to the inner
// side. Nothing is copied; only the inner traffic class may change, in
// place (IPv6 has no header checksum to fix).
//
// Anti-spoofing and relay rules, each with its drop reason:
//
//  1. The inner packet must be IPv6 with a consistent payload length
//     (ReasonMalformed), or IPv4 for an IPv4 home address (inner4.go:
//     the same rules with IPv4's address classes).
//  2. Inner source and destination must be unicast addresses of global
//     reach: not multicast, link-local, unspecified, loopback, IPv4-mapped
//     or IPv4-compatible (ReasonInnerSrc, ReasonInnerDst). A multicast
//     destination would let one tunnelled packet fan out on the home link
//     (amplification; reverse-tunnelled multicast, RFC 6275 §10.4.5, is not
//     supported). A link-local destination or source would let a remote
//     node speak on our link as if on-link, where link-local traffic is
//     trusted (ND, DHCPv6, mDNS). Loopback and unspecified are martians.
//     IPv4-mapped and -compatible destinations reach translators and
//     automatic tunnels, turning us into a relay into IPv4 (RFC 4942
//     §2.1.3). These checks come before the binding lookup so that they
//     hold on both roles and whatever the table says.
//  3. The packet must belong to a binding: on a home agent its inner
//     source is a registered home address or inside a registered mobile
//     network prefix; on a mobile node its inner destination is ours
//     (ReasonNoBinding). Without this a home agent would forward any
//     source address handed to it: spoofed traffic laundered through the
//     home network, an open relay.
//  4. It must come through that binding's tunnel: same encapsulation
//     (ReasonKind), outer source = the registered care-of address (home
//     agent) or the home agent (mobile node) (ReasonOuterSrc), for UDP the
//     registered source port, the NAT mapping the binding update came
//     through (ReasonPort), and outer destination = our end of the tunnel
//     when o.Dst is known (ReasonOuterDst). Rules 3 and 4 together are the
//     ingress filter of RFC 6275 §10.4.5: a node can only send from the
//     addresses it registered, from where it registered them. A packet
//     whose inner source belongs to mobile node A but arrives from B's
//     care-of address is dropped: B cannot spoof A.
//  5. ECN: outer CE over inner Not-ECT is dropped (ReasonECN); the
//     "(!!!)" combinations are counted as anomalies and passed.
//
// Not checked, on purpose: the inner hop limit (the kernel decrements it
// when it forwards the packet and sends Time Exceeded itself); an inner
// destination that is another mobile node's home address (mobile node to
// mobile node through the home agent is legitimate, and the outbound path
// re-checks it against that node's binding); nested tunnel packets (an
// inner packet that is itself protocol 41 for us comes back through Input
// and meets the same checks with its own outer source).
func (t *Tunnel) Decap(inner []byte, o *Outer) ([]byte, Verdict) {
	ro, r := o.raw()
	if r != ReasonOK {
		t.Counters.add(In, r, len(inner))
		return nil, Verdict{ActionDrop, r}
	}
	return t.decap(inner, &ro)
}

func (t *Tunnel) decap(inner []byte, o *rawOuter) ([]byte, Verdict) {
	if len(inner) > 0 && inner[0]>>4 == 4 {
		return t.decap4(inner, o)
	}
	n, ok := innerLen(inner)
	if !ok {
		t.Counters.add(In, ReasonMalformed, len(inner))
		return nil, Verdict{ActionDrop, ReasonMalformed}
	}
	inner = inner[:n]
	src, dst := addr16(inner, ip6Src), addr16(inner, ip6Dst)
	if r := t.check(&src, &dst, o); r != ReasonOK {
		t.Counters.add(In, r, n)
		return nil, Verdict{ActionDrop, r}
	}
	tc := ip6TrafficClass(inner)
	ecn, drop, anomaly := DecapECN(ECN(o.tos&3), ECN(tc&3))
	if anomaly {
		t.Counters.ecnAnomaly.Add(1)
	}
	if drop {
		t.Counters.add(In, ReasonECN, n)
		return nil, Verdict{ActionDrop, ReasonECN}
	}
	if ECN(tc&3) != ecn {
		ip6SetTrafficClass(inner, tc&^3|uint8(ecn))
	}
	t.Counters.add(In, ReasonOK, n)
	return inner, Verdict{ActionSend, ReasonOK}
}

// check applies rules 2-4 of Decap.
func (t *Tunnel) check(src, dst *[16]byte, o *rawOuter) Reason {
	if badUnicast16(src) {
		return ReasonInnerSrc
	}
	if badUnicast16(dst) {
		return ReasonInnerDst
	}
	key := src
	if t.cfg.Role == RoleMobileNode {
		key = dst
	}
	return checkBinding(t.table.lookup(key), o)
}

// checkBinding applies rules 3 and 4 of Decap to the binding b the inner
// packet belongs to, for IPv6 and IPv4 inner packets alike.
func checkBinding(b *Binding, o *rawOuter) Reason {
	switch {
	case b == nil:
		return ReasonNoBinding
	case b.kind != o.kind:
		return ReasonKind
	case b.remote != o.src:
		return ReasonOuterSrc
	case !b.matchRemote(&o.src, o.sport):
		return ReasonPort
	case o.hasDst && (b.local != o.dst || (o.kind == KindUDP4 && b.lport != o.dport)):
		return ReasonOuterDst
	}
	return ReasonOK
}

// outerKey returns an outer address in table form (IPv4 kinds as
// IPv4-mapped) and whether it has the family the kind needs.
func outerKey(a netip.Addr, k Kind) ([16]byte, bool) {
	if k.outer4() {
		a = a.Unmap()
		if !a.Is4() {
			return [16]byte{}, false
		}
		return netip.AddrFrom4(a.As4()).As16(), true
	}
	return a.As16(), a.Is6() && !a.Is4In6()
}
