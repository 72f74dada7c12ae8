package mip6

import (
	"encoding/binary"
	"net/netip"
)

// The Mobility Header checksum (RFC 6275 §6.1.1) is the Internet checksum
// of the RFC 8200 §8.1 pseudo-header (source, destination, upper-layer
// length, next header 135) followed by the whole Mobility Header, Payload
// Proto to the last padding octet, with the Checksum field zero. The
// upper-layer length is the Mobility Header's own length, so the functions
// here sum exactly the Header Len octets and ignore anything after them.
//
// Which addresses go in the pseudo-header is where Mobile IPv6 differs from
// the IP header; see MHChecksumAddrs.

// mhChecksumOff is the offset of the Checksum field (§6.1.1).
const mhChecksumOff = 4

// MHChecksumAddrs returns the pseudo-header addresses of a Mobility Header
// checksum, given the packet's IPv6 source and destination, the address of
// its Home Address destination option (the zero Addr when there is none)
// and the home address of its type 2 routing header (the zero Addr when
// there is none).
//
// RFC 6275 §6.1.1: "If a mobility message has a Home Address destination
// option, then the checksum calculation uses the home address in this
// option as the value of the IPv6 Source Address field", since the receiver
// swaps it into the source before the upper layer sees the packet (§9.3.1).
// And "the type 2 routing header is treated as explained in [RFC 8200]":
// RFC 8200 §8.1 takes the destination of the pseudo-header from the final
// destination when a Routing header is present, which for a type 2 routing
// header is its home address while Segments Left is 1. A sender passes the
// addresses it will put in those headers. A receiver passes what it found
// before processing them: the routing header's address only while its
// Segments Left is 1 (after the routing step the IPv6 Destination Address
// already holds the home address, and the header holds the care-of
// address). PacketLayout.PseudoSrc and PseudoDst from WalkIPv6 apply the
// same rule.
func MHChecksumAddrs(ipSrc, ipDst, homeAddress, rh2Final netip.Addr) (src, dst netip.Addr) {
	src, dst = ipSrc, ipDst
	if homeAddress.IsValid() {
		src = homeAddress
	}
	if rh2Final.IsValid() {
		dst = rh2Final
	}
	return src, dst
}

// mhChecksummed returns the octets the checksum covers, or false when mh is
// too short for its own Header Len (or for a header at all).
func mhChecksummed(mh []byte) ([]byte, bool) {
	n, err := mhLen(mh)
	if err != nil {
		return nil, false
	}
	return mh[:n], true
}

// SetMHChecksum computes the checksum of the marshalled Mobility Header mh
// with the pseudo-header addresses src and dst (from MHChecksumAddrs) and
// writes it into the Checksum field, octets 4 and 5. Anything already in
// the field is ignored. An mh too short for its own Header Len is left
// unchanged: it is not a header, and VerifyMHChecksum would reject it.
//
// Compute it last: an authenticator (package binding) is computed with the
// checksum taken as zero, and writing it changes the sum.
func SetMHChecksum(mh []byte, src, dst netip.Addr) {
	h, ok := mhChecksummed(mh)
	if !ok {
		return
	}
	h[mhChecksumOff], h[mhChecksumOff+1] = 0, 0
	binary.BigEndian.PutUint16(h[mhChecksumOff:], PseudoHeaderChecksum(src, dst, ProtoMobility, h))
}

// VerifyMHChecksum reports whether the checksum of the Mobility Header mh
// is right for the pseudo-header addresses src and dst (from
// MHChecksumAddrs). A header too short for its own Header Len does not
// verify. §9.2: a node MUST silently discard a message whose checksum
// fails.
func VerifyMHChecksum(mh []byte, src, dst netip.Addr) bool {
	h, ok := mhChecksummed(mh)
	// With the checksum in place a correct header sums to zero (RFC 1071).
	return ok && PseudoHeaderChecksum(src, dst, ProtoMobility, h) == 0
}
