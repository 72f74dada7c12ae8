package mip6

import (
	"encoding/binary"
	"net/netip"
)

// PseudoHeaderChecksum returns the Internet checksum (RFC 1071) of payload
// preceded by the IPv6 pseudo-header of RFC 8200 §8.1: source, destination,
// upper-layer length and next header. The checksum field inside payload must
// be zero when computing and left in place when verifying (a valid packet
// then sums to 0).
//
// Which addresses go in is the caller's choice, and for Mobile IPv6 it is
// not always the IP header's: see MHChecksumAddrs. src and dst must be
// IPv6 (IPv4-mapped addresses are used as their 16 bytes).
func PseudoHeaderChecksum(src, dst netip.Addr, proto uint8, payload []byte) uint16 {
	s := src.As16()
	d := dst.As16()
	sum := ChecksumAdd(0, s[:])
	sum = ChecksumAdd(sum, d[:])
	sum += uint64(uint32(len(payload)))
	sum += uint64(proto)
	return ChecksumFold(ChecksumAdd(sum, payload))
}

// ChecksumAdd adds b to the unfolded Internet checksum accumulator sum as
// big-endian 16-bit words (RFC 1071), 32 octets per step: RFC 1071 §2(B)
// lets the sum run in any word size as long as the fold comes last. Only
// the last chunk added may have an odd length. The data plane (package
// tunnel) builds its IPv4, UDP and ICMPv6 checksums from this and
// ChecksumFold.
func ChecksumAdd(sum uint64, b []byte) uint64 {
	for len(b) >= 32 {
		v0 := binary.BigEndian.Uint64(b)
		v1 := binary.BigEndian.Uint64(b[8:])
		v2 := binary.BigEndian.Uint64(b[16:])
		v3 := binary.BigEndian.Uint64(b[24:])
		sum += v0>>32 + v0&0xffffffff + v1>>32 + v1&0xffffffff +
			v2>>32 + v2&0xffffffff + v3>>32 + v3&0xffffffff
		b = b[32:]
	}
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		sum += v>>32 + v&0xffffffff
		b = b[8:]
	}
	for len(b) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	return sum
}

// ChecksumFold folds the accumulator to 16 bits and complements it: the
// value that goes into a checksum field (or 0 when verifying a valid one).
func ChecksumFold(sum uint64) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
