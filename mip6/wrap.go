package mip6

import "net/netip"

// AppendMobilityPacket appends a whole IPv6 packet from src to dst carrying
// the already marshalled Mobility Header mh (its checksum computed with the
// pseudo-header of RFC 6275 §6.1.1), with a type 2 routing header holding
// rh2 when rh2 is valid (a home agent's or correspondent's BA or BRR to a
// care-of address, §6.4) and a Home Address destination option holding hoa
// when hoa is valid (a mobile node's BU from its care-of address, §6.3).
// The headers go in RFC 8200 §4.1 order: routing header, then the
// Destination Options header with the Home Address option (§6.3: after the
// routing header), then the Mobility Header.
//
// It returns b unchanged and false when the packet would exceed the 65535
// octets of an IPv6 payload.
func AppendMobilityPacket(b []byte, src, dst, hoa, rh2 netip.Addr, hopLimit uint8, mh []byte) ([]byte, bool) {
	n := len(mh)
	if rh2.IsValid() {
		n += 24
	}
	if hoa.IsValid() {
		n += 24
	}
	if n > 0xffff {
		return b, false
	}
	first := uint8(ProtoMobility)
	if hoa.IsValid() {
		first = ProtoDestOpts
	}
	if rh2.IsValid() {
		b = AppendIPv6Header(b, uint16(n), ProtoRouting, hopLimit, src, dst)
		b = AppendRoutingHeader2(b, first, rh2)
	} else {
		b = AppendIPv6Header(b, uint16(n), first, hopLimit, src, dst)
	}
	if hoa.IsValid() {
		b = AppendHomeAddressDestOpts(b, ProtoMobility, hoa)
	}
	return append(b, mh...), true
}
