package mip6

import (
	"encoding/binary"
	"net/netip"
)

// This file holds the zero-copy view of the fixed IPv6 header and the
// extension header walker. Both are data-plane code in the style of gVisor's
// tcpip/header: they read and write the packet bytes in place and never
// allocate, so the forwarding path can call them per packet.

// IPv6HeaderLen is the length of the fixed IPv6 header (RFC 8200 §3).
const IPv6HeaderLen = 40

// IPv6Header is a zero-copy view of the fixed IPv6 header (RFC 8200 §3):
//
//	| Version | Traffic Class |           Flow Label                  |
//	|         Payload Length        |  Next Header  |   Hop Limit   |
//	|                  Source Address (16 octets)                   |
//	|               Destination Address (16 octets)                 |
//
// Call IsValid once; the accessors and setters then assume at least 40
// octets and panic on a shorter slice, as slice indexing does.
type IPv6Header []byte

// IsValid reports whether h is long enough for the fixed header and carries
// version 6.
func (h IPv6Header) IsValid() bool {
	return len(h) >= IPv6HeaderLen && h[0]>>4 == 6
}

// Version returns the 4-bit Internet Protocol version number.
func (h IPv6Header) Version() uint8 { return h[0] >> 4 }

// TrafficClass returns the 8-bit Traffic Class (DSCP and ECN, RFC 2474 and
// RFC 3168), which straddles the first two octets.
func (h IPv6Header) TrafficClass() uint8 { return h[0]<<4 | h[1]>>4 }

// FlowLabel returns the 20-bit Flow Label (RFC 6437).
func (h IPv6Header) FlowLabel() uint32 {
	return uint32(h[1]&0x0f)<<16 | uint32(h[2])<<8 | uint32(h[3])
}

// PayloadLength returns the length of everything after the fixed header,
// extension headers included. Zero with a Hop-by-Hop header means a
// jumbogram (RFC 2675).
func (h IPv6Header) PayloadLength() uint16 { return binary.BigEndian.Uint16(h[4:6]) }

// NextHeader returns the type of the header that follows the fixed header.
func (h IPv6Header) NextHeader() uint8 { return h[6] }

// HopLimit returns the Hop Limit.
func (h IPv6Header) HopLimit() uint8 { return h[7] }

// Src returns the Source Address. It does not allocate.
func (h IPv6Header) Src() netip.Addr { return netip.AddrFrom16([16]byte(h[8:24])) }

// Dst returns the Destination Address. It does not allocate.
func (h IPv6Header) Dst() netip.Addr { return netip.AddrFrom16([16]byte(h[24:40])) }

// SetTrafficClass sets the Traffic Class, leaving Version and Flow Label.
func (h IPv6Header) SetTrafficClass(tc uint8) {
	h[0] = h[0]&0xf0 | tc>>4
	h[1] = tc<<4 | h[1]&0x0f
}

// SetFlowLabel sets the Flow Label from the low 20 bits of fl, leaving
// Version and Traffic Class.
func (h IPv6Header) SetFlowLabel(fl uint32) {
	h[1] = h[1]&0xf0 | byte(fl>>16)&0x0f
	h[2] = byte(fl >> 8)
	h[3] = byte(fl)
}

// SetPayloadLength sets the Payload Length.
func (h IPv6Header) SetPayloadLength(n uint16) { binary.BigEndian.PutUint16(h[4:6], n) }

// SetNextHeader sets the Next Header.
func (h IPv6Header) SetNextHeader(p uint8) { h[6] = p }

// SetHopLimit sets the Hop Limit.
func (h IPv6Header) SetHopLimit(n uint8) { h[7] = n }

// SetSrc sets the Source Address. a should be an IPv6 address: an IPv4
// address is written in its IPv4-mapped form and the zero Addr as ::.
func (h IPv6Header) SetSrc(a netip.Addr) { a16 := a.As16(); copy(h[8:24], a16[:]) }

// SetDst sets the Destination Address, with the same rules as SetSrc.
func (h IPv6Header) SetDst(a netip.Addr) { a16 := a.As16(); copy(h[24:40], a16[:]) }

// AppendIPv6Header appends a fixed IPv6 header with version 6, Traffic
// Class and Flow Label zero (set them afterwards through the view if
// needed) and the given fields.
func AppendIPv6Header(b []byte, payloadLen uint16, next, hopLimit uint8, src, dst netip.Addr) []byte {
	s, d := src.As16(), dst.As16()
	b = append(b, 6<<4, 0, 0, 0, byte(payloadLen>>8), byte(payloadLen), next, hopLimit)
	b = append(b, s[:]...)
	return append(b, d[:]...)
}

// MaxExtensionHeaders bounds WalkIPv6: a chain with more extension headers
// than this is rejected. The packet length alone would bound the walk, but a
// 64 KiB packet holds thousands of 8-octet headers, and a legitimate chain
// has a handful (RFC 8200 §4.1 recommends one of each, Destination Options at
// most twice), so a small cap costs nothing and stops a cheap CPU burn.
const MaxExtensionHeaders = 16

// PacketLayout is what WalkIPv6 learns about an IPv6 packet. Offsets count
// from the first octet of the IPv6 header; an offset field of 0 means the
// header is absent, since no extension header can start inside the fixed
// 40-octet header.
type PacketLayout struct {
	// Src and Dst are the addresses of the fixed IPv6 header.
	Src, Dst netip.Addr
	// End is where the packet ends by its Payload Length (40 + Payload
	// Length; for a jumbogram, the end of the slice). Octets after End,
	// such as Ethernet padding, are not part of the packet.
	End int

	// Proto is the upper-layer protocol number (or 59 No Next Header, or 50
	// ESP, whose payload cannot be walked), and Offset where that header
	// starts. pkt[Offset:End] is the upper-layer packet. For a non-first
	// fragment Proto is 44 (Fragment) and Offset the Fragment header's: the
	// bytes after it are the middle of some payload.
	Proto  uint8
	Offset int

	// HAO is the offset of the 16-octet Home Address field of the Home
	// Address destination option (RFC 6275 §6.3), 0 when there is none;
	// HomeAddress is its value. pkt[HAO-2:HAO+16] is a HomeAddressOption.
	HAO         int
	HomeAddress netip.Addr

	// RH2 is the offset of the type 2 routing header (RFC 6275 §6.4), 0 when
	// there is none; RH2SegmentsLeft and RH2Address are its Segments Left
	// and address field (the home address on the wire; the care-of address
	// once the mobile node has processed the header and swapped them).
	// pkt[RH2:RH2+24] is a RoutingHeader2.
	RH2             int
	RH2SegmentsLeft uint8
	RH2Address      netip.Addr

	// Fragment is the offset of the Fragment header, 0 when there is none.
	// NonFirstFragment reports a Fragment Offset other than zero, where the
	// walk stops.
	Fragment         int
	NonFirstFragment bool

	// PseudoSrc and PseudoDst are the addresses of the upper-layer
	// checksum's pseudo-header (RFC 8200 §8.1). The source is the home
	// address when a Home Address option is present (RFC 6275 §6.3): the
	// sender's upper layer used the home address (§11.3.1), and the
	// receiver swaps it back into the Source Address before its upper
	// layer sees the packet (§9.3.1); §6.1.1 states the rule for the
	// Mobility Header checksum. The destination is the final destination
	// (RFC 8200 §8.1): the type 2 routing header's address while its
	// Segments Left is 1 (the packet has not reached the mobile node's
	// routing step yet), else the IPv6 Destination Address, which after
	// that step already holds the home address. Only type 2 is looked at:
	// for another routing type with segments left (RH0 is deprecated by
	// RFC 5095) PseudoDst stays the IPv6 Destination Address.
	PseudoSrc, PseudoDst netip.Addr
}

// Errors of the walker, made once so that WalkIPv6 does not allocate even
// when it fails: a data plane drops malformed packets at line rate.
var (
	errWalkShort      = errorf(ErrTruncated, "IPv6 packet shorter than its 40-octet header")
	errWalkVersion    = errorf(ErrInvalid, "IP version is not 6")
	errWalkPayload    = errorf(ErrTruncated, "IPv6 Payload Length runs past the packet")
	errWalkExtShort   = errorf(ErrTruncated, "IPv6 extension header runs past the packet")
	errWalkTooMany    = errorf(ErrInvalid, "more than MaxExtensionHeaders extension headers")
	errWalkHopByHop   = errorf(ErrInvalid, "Hop-by-Hop Options header not right after the IPv6 header (RFC 8200 §4.1)")
	errWalkTwoFrag    = errorf(ErrInvalid, "two Fragment headers")
	errWalkTwoRH2     = errorf(ErrInvalid, "two type 2 routing headers")
	errWalkRH2Len     = errorf(ErrLength, "type 2 routing header Hdr Ext Len is not 2 (RFC 6275 §6.4.1)")
	errWalkRH2SegLeft = errorf(ErrInvalid, "type 2 routing header Segments Left above 1 (RFC 6275 §6.4.1)")
	errWalkTwoHAO     = errorf(ErrInvalid, "more than one Home Address option (RFC 6275 §6.3)")
	errWalkOptShort   = errorf(ErrTruncated, "destination option runs past its header")
	errWalkHAOLen     = errorf(ErrLength, "Home Address option length is not 16 (RFC 6275 §6.3)")
	errWalkHAOBeforeR = errorf(ErrInvalid, "Home Address option in a Destination Options header before a routing header (RFC 6275 §6.3)")
	errWalkOptsShort  = errorf(ErrTruncated, "Destination Options header shorter than its Hdr Ext Len")
)

// WalkIPv6 walks the extension header chain of the IPv6 packet pkt (which
// starts at the IPv6 header) and reports its layout: where the upper-layer
// header is, the Home Address option and type 2 routing header if any, and
// the pseudo-header addresses for the upper-layer checksum.
//
// It understands Hop-by-Hop Options (only right after the fixed header, RFC
// 8200 §4.1), Routing (any type; type 2 is checked against RFC 6275 §6.4.1:
// Hdr Ext Len 2 and Segments Left at most 1 — 1 on the wire, 0 once the
// mobile node has processed it), Destination Options before and after the
// routing header (their option TLVs are checked and a Home Address option
// must have length 16 and appear once, §6.3, and not before a routing
// header: see below), Fragment (the walk continues
// through a first fragment and stops at any other) and AH (RFC 4302 §2.2,
// length in 4-octet units). Anything else ends the walk: an upper layer
// (135 Mobility Header, 58 ICMPv6, 41 IPv6, 4 IPv4, 17 UDP, ...), 59 No
// Next Header or 50 ESP.
//
// A Home Address option in a Destination Options header that precedes a
// routing header is rejected. RFC 8200 §4.1 gives the Destination Options
// header before the routing header to the routers the routing header
// lists, each of which processes it, while the Home Address option is for
// the final destination alone, and RFC 6275 §6.3 says where it goes: after
// the routing header if there is one (before Fragment, AH and ESP). A
// receiver that took the option from the earlier header would swap in a
// home address that every intermediate node also saw as its own
// destination option; no conforming sender builds that, so it is a
// malformed packet, not a layout to guess at.
//
// The address kind of the home address (§6.3: unicast routable) is a
// processing rule left to the caller. WalkIPv6 never allocates and never
// panics, whatever pkt holds. On error the returned layout is incomplete and
// only good for diagnostics.
func WalkIPv6(pkt []byte) (PacketLayout, error) {
	var l PacketLayout
	if len(pkt) < IPv6HeaderLen {
		return l, errWalkShort
	}
	h := IPv6Header(pkt)
	if h.Version() != 6 {
		return l, errWalkVersion
	}
	l.Src, l.Dst = h.Src(), h.Dst()
	l.PseudoSrc, l.PseudoDst = l.Src, l.Dst

	end := IPv6HeaderLen + int(h.PayloadLength())
	if h.PayloadLength() == 0 && h.NextHeader() == ProtoHopByHop {
		// A jumbogram (RFC 2675 §2): the length is in the Jumbo Payload
		// option; the captured slice is the best bound we have.
		end = len(pkt)
	}
	if end > len(pkt) {
		return l, errWalkPayload
	}
	l.End = end

	nh, off := h.NextHeader(), IPv6HeaderLen
	for n := 0; ; n++ {
		switch nh {
		case ProtoHopByHop, ProtoRouting, ProtoDestOpts, ProtoFragment, ProtoAH:
		default:
			l.Proto, l.Offset = nh, off
			return l, nil
		}
		if n == MaxExtensionHeaders {
			return l, errWalkTooMany
		}
		if end-off < 8 {
			return l, errWalkExtShort
		}
		var hlen int
		switch nh {
		case ProtoHopByHop:
			if off != IPv6HeaderLen {
				return l, errWalkHopByHop
			}
			hlen = (int(pkt[off+1]) + 1) * 8
		case ProtoDestOpts:
			hlen = (int(pkt[off+1]) + 1) * 8
			if end-off < hlen {
				return l, errWalkExtShort
			}
			a, err := findHomeAddressTLV(pkt[off : off+hlen])
			if err != nil {
				return l, err
			}
			if a != 0 {
				if l.HAO != 0 {
					return l, errWalkTwoHAO
				}
				l.HAO = off + a
				l.HomeAddress = netip.AddrFrom16([16]byte(pkt[l.HAO : l.HAO+16]))
				l.PseudoSrc = l.HomeAddress
			}
		case ProtoRouting:
			hlen = (int(pkt[off+1]) + 1) * 8
			if end-off < hlen {
				return l, errWalkExtShort
			}
			if l.HAO != 0 {
				// §6.3: the option belongs after the routing header.
				return l, errWalkHAOBeforeR
			}
			if pkt[off+2] == RoutingType2 {
				if l.RH2 != 0 {
					return l, errWalkTwoRH2
				}
				if pkt[off+1] != 2 {
					return l, errWalkRH2Len
				}
				sl := pkt[off+3]
				if sl > 1 {
					return l, errWalkRH2SegLeft
				}
				l.RH2, l.RH2SegmentsLeft = off, sl
				l.RH2Address = netip.AddrFrom16([16]byte(pkt[off+8 : off+24]))
				if sl == 1 {
					l.PseudoDst = l.RH2Address
				}
			}
		case ProtoFragment:
			hlen = 8
			if l.Fragment != 0 {
				return l, errWalkTwoFrag
			}
			l.Fragment = off
			// Fragment Offset is the top 13 bits of octets 2-3 (RFC 8200
			// §4.5). Only the first fragment holds the rest of the chain.
			if binary.BigEndian.Uint16(pkt[off+2:off+4])>>3 != 0 {
				l.NonFirstFragment = true
				l.Proto, l.Offset = ProtoFragment, off
				return l, nil
			}
		case ProtoAH:
			// RFC 4302 §2.2: Payload Len is the AH length in 32-bit words
			// minus 2.
			hlen = (int(pkt[off+1]) + 2) * 4
		}
		if end-off < hlen {
			return l, errWalkExtShort
		}
		nh = pkt[off]
		off += hlen
	}
}

// findHomeAddressTLV scans the option TLVs of a Destination Options header
// hdr (exactly Hdr Ext Len long) and returns the offset in hdr of the Home
// Address option's 16-octet address, or 0 when there is none. It checks that
// every option fits in the header (RFC 8200 §4.2) and that a Home Address
// option has length 16 and appears once (RFC 6275 §6.3).
func findHomeAddressTLV(hdr []byte) (int, error) {
	found := 0
	for i := 2; i < len(hdr); {
		t := hdr[i]
		if t == 0 { // Pad1 is the one option without a length octet.
			i++
			continue
		}
		if len(hdr)-i < 2 || len(hdr)-i-2 < int(hdr[i+1]) {
			return 0, errWalkOptShort
		}
		n := int(hdr[i+1])
		if t == OptHomeAddress {
			if n != 16 {
				return 0, errWalkHAOLen
			}
			if found != 0 {
				return 0, errWalkTwoHAO
			}
			found = i + 2
		}
		i += 2 + n
	}
	return found, nil
}

// InsertionPoint finds where a Mobile IPv6 extension header (a type 2
// routing header, a Destination Options header with the Home Address
// option) goes into the IPv6 packet pkt: right after the IPv6 header, or
// after a Hop-by-Hop Options header, which must come first (RFC 8200
// §4.1). at is that offset; prev the offset of the Next Header octet that
// names what follows (6 in the IPv6 header, or the Hop-by-Hop header's
// first octet); end is 40 + Payload Length. ok is false for anything that
// is not an IPv6 packet whose payload and Hop-by-Hop header fit in pkt.
func InsertionPoint(pkt []byte) (prev, at, end int, ok bool) {
	h := IPv6Header(pkt)
	if !h.IsValid() || h.Version() != 6 {
		return 0, 0, 0, false
	}
	end = IPv6HeaderLen + int(h.PayloadLength())
	if end > len(pkt) {
		return 0, 0, 0, false
	}
	prev, at = 6, IPv6HeaderLen
	if pkt[6] == ProtoHopByHop {
		if at+2 > end {
			return 0, 0, 0, false
		}
		prev, at = at, at+(int(pkt[at+1])+1)*8
		if at > end {
			return 0, 0, 0, false
		}
	}
	return prev, at, end, true
}
