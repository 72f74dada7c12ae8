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
	var sum uint64
	sum = sumBytes(sum, s[:])
	sum = sumBytes(sum, d[:])
	sum += uint64(uint32(len(payload)))
	sum += uint64(proto)
	sum = sumBytes(sum, payload)
	return ^fold(sum)
}

// sumBytes adds b to sum as big-endian 16-bit words, 8 bytes at a time.
func sumBytes(sum uint64, b []byte) uint64 {
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		sum += v >> 32
		sum += v & 0xffffffff
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

func fold(sum uint64) uint16 {
	for sum>>16 != 0 {
		sum = (sum & 0xffff) + sum>>16
	}
	return uint16(sum)
}
