package tunnel

import (
	"encoding/binary"
	"net/netip"

	"github.com/gomip6/gomip6/mip6"
)

// This file holds the tunnel's own header offsets and the Internet
// checksum. The data plane owns its IPv4 handling; for IPv6 it reads the
// same fixed offsets as mip6.IPv6Header, kept here as unexported helpers so
// the per-packet path is a few loads and stores with no indirection.

// Fixed IPv6 header offsets (RFC 8200 §3).
const (
	ip6PayloadLen = 4
	ip6NextHeader = 6
	ip6HopLimit   = 7
	ip6Src        = 8
	ip6Dst        = 24
)

// Fixed IPv4 header offsets (RFC 791 §3.1).
const (
	ip4TOS      = 1
	ip4TotalLen = 2
	ip4ID       = 4
	ip4Flags    = 6
	ip4TTL      = 8
	ip4Proto    = 9
	ip4Checksum = 10
	ip4Src      = 12
	ip4Dst      = 16
)

// ip6TrafficClass returns the traffic class of an IPv6 header: bits 4-11.
func ip6TrafficClass(h []byte) uint8 { return h[0]<<4 | h[1]>>4 }

// ip6SetTrafficClass writes the traffic class, keeping version and flow
// label.
func ip6SetTrafficClass(h []byte, tc uint8) {
	h[0] = 6<<4 | tc>>4
	h[1] = tc<<4 | h[1]&0x0f
}

// ip6FlowLabel returns the 20-bit flow label.
func ip6FlowLabel(h []byte) uint32 {
	return uint32(h[1]&0x0f)<<16 | uint32(h[2])<<8 | uint32(h[3])
}

// innerLen validates the inner IPv6 packet at the start of p and returns
// its length from the payload length field: at least the fixed header,
// version 6, and not longer than p. Trailing octets beyond it (padding some
// links add) are not part of the packet. Jumbograms (payload length 0 with
// more data, RFC 2675) cannot cross a tunnel whose MTU is at most 65535 and
// are refused.
func innerLen(p []byte) (int, bool) {
	if len(p) < IPv6HeaderLen || p[0]>>4 != 6 {
		return 0, false
	}
	n := IPv6HeaderLen + int(binary.BigEndian.Uint16(p[ip6PayloadLen:]))
	if n > len(p) {
		return 0, false
	}
	return n, true
}

// addr16 returns the 16 octets at p[off:].
func addr16(p []byte, off int) [16]byte { return [16]byte(p[off : off+16]) }

// Address classes of RFC 4291 §2.4, on the raw 16 octets so the checks do
// not build netip.Addr values per packet.
func isMulticast16(a *[16]byte) bool { return a[0] == 0xff }

func isLinkLocal16(a *[16]byte) bool { return a[0] == 0xfe && a[1]&0xc0 == 0x80 }

// isV4Mapped16 reports ::ffff:0:0/96 (RFC 4291 §2.5.5.2): such an address
// on the wire is meant for a translator, never for a mobile node.
func isV4Mapped16(a *[16]byte) bool {
	return [12]byte(a[:12]) == [12]byte{10: 0xff, 11: 0xff}
}

// isV4Compat16 reports the deprecated ::/96 IPv4-compatible range (RFC
// 4291 §2.5.5.1), which some stacks still turn into automatic tunnels.
func isV4Compat16(a *[16]byte) bool { return [12]byte(a[:12]) == [12]byte{} }

// badUnicast16 reports whether a cannot be the source of a packet that
// came through a tunnel, or a destination we forward to: see the relay
// rules in decap.go.
func badUnicast16(a *[16]byte) bool {
	return isMulticast16(a) || isLinkLocal16(a) || isV4Mapped16(a) || isV4Compat16(a)
	// isV4Compat16 covers :: and ::1 too.
}

// upperLayer walks the extension headers of the IPv6 packet p and returns
// the upper-layer protocol and its offset. ok is false when the chain is
// malformed, too long, or the packet is a non-first fragment whose upper
// layer is not in this packet (RFC 8200 §4.5).
func upperLayer(p []byte) (proto uint8, off int, ok bool) {
	proto = p[ip6NextHeader]
	off = IPv6HeaderLen
	for range maxExtHeaders {
		switch proto {
		case mip6.ProtoHopByHop, mip6.ProtoRouting, mip6.ProtoDestOpts:
			if off+2 > len(p) {
				return proto, off, false
			}
			proto, off = p[off], off+(int(p[off+1])+1)*8
		case mip6.ProtoFragment:
			if off+8 > len(p) {
				return proto, off, false
			}
			if binary.BigEndian.Uint16(p[off+2:])&0xfff8 != 0 {
				return proto, off, false // not the first fragment
			}
			proto, off = p[off], off+8
		case mip6.ProtoAH:
			if off+2 > len(p) {
				return proto, off, false
			}
			proto, off = p[off], off+(int(p[off+1])+2)*4
		default:
			return proto, off, off <= len(p)
		}
	}
	return proto, off, false
}

// ipv4HeaderChecksum computes the header checksum of RFC 791 §3.1 over h
// with its checksum field taken as zero.
func ipv4HeaderChecksum(h []byte) uint16 {
	sum := mip6.ChecksumAdd(0, h[:ip4Checksum])
	return mip6.ChecksumFold(mip6.ChecksumAdd(sum, h[ip4Checksum+2:]))
}

// addrFrom16 turns table form back into an address: IPv4-mapped becomes
// plain IPv4, since that is what the IPv4 encapsulations carry.
func addrFrom16(a [16]byte) netip.Addr {
	return netip.AddrFrom16(a).Unmap()
}
