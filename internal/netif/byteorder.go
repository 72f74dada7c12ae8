package netif

import "encoding/binary"

// Htons returns v (an Ethernet protocol number, ETH_P_*) laid out in
// memory in network byte order, as the kernel wants the __be16 of an
// AF_PACKET socket: socket(2)'s protocol argument and sockaddr_ll's
// sll_protocol (packet(7)). It swaps the octets on a little-endian host
// and leaves them on a big-endian one; it is also what a BPF program's
// 16-bit load of the ethertype's wire octets finds.
func Htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}
