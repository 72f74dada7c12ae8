package mnd

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/gomip6/gomip6/mip6"
)

// This file is the pure half of Detecting Network Attachment (RFC 6059)
// in the daemon: the unicast Neighbor Solicitation that probes a
// remembered router, and the check of the Neighbor Advertisement that
// answers it. dna_linux.go sends and receives them on an AF_PACKET socket
// of the access interface; mobilenode.Movement decides what an answer
// means.

const (
	icmpNS = 135 // RFC 4861 §4.3
	icmpNA = 136 // RFC 4861 §4.4

	ipv6HeaderLen = 40
	nsLen         = 24 // type, code, checksum, reserved, target
	naLen         = 24
	// naSolicited is the S flag of a Neighbor Advertisement (RFC 4861
	// §4.4), in the first octet after the checksum.
	naSolicited = 0x40
)

// buildDNAProbe returns the IPv6 packet (header included) of the unicast
// Neighbor Solicitation (RFC 4861 §4.3) that asks router, a remembered
// router's link-local address, whether it is on the link: from our
// link-local address src, to router, target router, hop limit 255 (§7.1.1
// receivers drop anything else). With mac (not optimistic) it carries our
// Source Link-layer Address option, so the router answers at once without
// resolving us first; from an optimistic address it must not (RFC 4429
// §3.3: the option would overwrite a neighbour's cache entry for an
// address that may yet prove a duplicate), and the router resolves us
// before it answers. The frame goes to the remembered link-layer address
// of the router, so only that very router can answer.
func buildDNAProbe(src, router netip.Addr, mac net.HardwareAddr) []byte {
	icmpLen := nsLen
	if len(mac) == 6 {
		icmpLen += 8
	}
	b := make([]byte, ipv6HeaderLen+icmpLen)
	b[0] = 6 << 4
	binary.BigEndian.PutUint16(b[4:6], uint16(icmpLen))
	b[6] = mip6.ProtoICMPv6
	b[7] = 255
	s, d := src.As16(), router.As16()
	copy(b[8:24], s[:])
	copy(b[24:40], d[:])
	m := b[ipv6HeaderLen:]
	m[0] = icmpNS
	copy(m[8:24], d[:])
	if len(mac) == 6 {
		m[24], m[25] = mip6.NDOptSourceLinkLayer, 1
		copy(m[26:32], mac)
	}
	binary.BigEndian.PutUint16(m[2:4], mip6.PseudoHeaderChecksum(src, router, mip6.ProtoICMPv6, m))
	return b
}

// parseDNAAnswer checks an IPv6 packet (from its IPv6 header) as a
// Neighbor Advertisement that can answer a DNA probe and returns the
// advertising router's address: RFC 4861 §7.1.2's validity checks (hop
// limit 255, checksum, code 0, at least 24 octets, target not multicast,
// S clear when sent to a multicast address, options of non-zero length),
// then what DNA needs: the Solicited flag (it answers a solicitation), and
// the target being the source (the router speaks for its own link-local
// address, the one the probe asked about). Extension headers are not
// walked: a Neighbor Advertisement carries none.
func parseDNAAnswer(pkt []byte) (netip.Addr, bool) {
	if len(pkt) < ipv6HeaderLen+naLen || pkt[0]>>4 != 6 || pkt[6] != mip6.ProtoICMPv6 || pkt[7] != 255 {
		return netip.Addr{}, false
	}
	plen := int(binary.BigEndian.Uint16(pkt[4:6]))
	if plen < naLen || ipv6HeaderLen+plen > len(pkt) {
		return netip.Addr{}, false
	}
	src := netip.AddrFrom16([16]byte(pkt[8:24]))
	dst := netip.AddrFrom16([16]byte(pkt[24:40]))
	m := pkt[ipv6HeaderLen : ipv6HeaderLen+plen]
	if m[0] != icmpNA || m[1] != 0 {
		return netip.Addr{}, false
	}
	if mip6.PseudoHeaderChecksum(src, dst, mip6.ProtoICMPv6, m) != 0 {
		return netip.Addr{}, false
	}
	target := netip.AddrFrom16([16]byte(m[8:24]))
	solicited := m[4]&naSolicited != 0
	if target.IsMulticast() || (dst.IsMulticast() && solicited) {
		return netip.Addr{}, false
	}
	for o := m[naLen:]; len(o) > 0; {
		if len(o) < 2 || o[1] == 0 || int(o[1])*8 > len(o) {
			return netip.Addr{}, false
		}
		o = o[int(o[1])*8:]
	}
	if !solicited || target != src || !src.IsLinkLocalUnicast() {
		return netip.Addr{}, false
	}
	return src, true
}
