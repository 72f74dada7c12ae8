package mip6

import (
	"net/netip"
)

// RoutingHeader2Len is the length of a type 2 routing header: 24 octets
// (RFC 6275 §6.4.1, Hdr Ext Len 2).
const RoutingHeader2Len = 24

// RoutingHeader2 is a zero-copy view of the type 2 routing header of RFC 6275
// §6.4.1, which carries the mobile node's home address from a correspondent
// or home agent to the care-of address:
//
//	|  Next Header  | Hdr Ext Len=2 | Routing Type=2|Segments Left=1|
//	|                            Reserved                           |
//	|                    Home Address (16 octets)                   |
//
// The mobile node processes it like any routing header: it swaps the IPv6
// Destination Address (its care-of address) with the Home Address and
// decrements Segments Left to 0, in place, with SetHomeAddress,
// SetSegmentsLeft and IPv6Header.SetDst.
type RoutingHeader2 []byte

// IsValid reports whether r is a type 2 routing header as §6.4.1 defines
// it: at least 24 octets, Hdr Ext Len 2, Routing Type 2 and Segments Left 1.
// Both values are MUSTs of §6.4.1: the header carries exactly one address,
// the mobile node's own home address, and is consumed by exactly one routing
// step at the mobile node itself; §6.4 has every node that processes it
// check that the address is its own home address, so a packet can never be
// forwarded on from there. A receiver drops a header that breaks these rules
// (Linux discards it silently). A header whose Segments Left is already 0
// has been processed and is not IsValid; the walker (WalkIPv6) still
// reports it, since the pseudo-header then takes the IPv6 destination.
func (r RoutingHeader2) IsValid() bool {
	return len(r) >= RoutingHeader2Len && r[1] == 2 && r[2] == RoutingType2 && r[3] == 1
}

// NextHeader returns the type of the header that follows.
func (r RoutingHeader2) NextHeader() uint8 { return r[0] }

// SetNextHeader sets the Next Header.
func (r RoutingHeader2) SetNextHeader(p uint8) { r[0] = p }

// SegmentsLeft returns Segments Left: 1 on the wire, 0 once processed.
func (r RoutingHeader2) SegmentsLeft() uint8 { return r[3] }

// SetSegmentsLeft sets Segments Left.
func (r RoutingHeader2) SetSegmentsLeft(n uint8) { r[3] = n }

// HomeAddress returns the Home Address. It does not allocate.
func (r RoutingHeader2) HomeAddress() netip.Addr {
	return netip.AddrFrom16([16]byte(r[8:24]))
}

// SetHomeAddress overwrites the Home Address in place. a should be an IPv6
// address; see IPv6Header.SetSrc.
func (r RoutingHeader2) SetHomeAddress(a netip.Addr) {
	a16 := a.As16()
	copy(r[8:24], a16[:])
}

// AppendRoutingHeader2 appends a type 2 routing header for hoa: Next Header
// next, Hdr Ext Len 2, Routing Type 2, Segments Left 1, Reserved zero (the
// sender MUST zero it, §6.4.1) and the home address.
func AppendRoutingHeader2(b []byte, next uint8, hoa netip.Addr) []byte {
	a := hoa.As16()
	b = append(b, next, 2, RoutingType2, 1, 0, 0, 0, 0)
	return append(b, a[:]...)
}
