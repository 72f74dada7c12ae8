package mnd

import (
	"net"
	"net/netip"

	"github.com/gomip6/gomip6/internal/ndproxy"
)

// This file is the pure half of Detecting Network Attachment (RFC 6059)
// in the daemon: the unicast Neighbor Solicitation that probes a
// remembered router, and the check of the Neighbor Advertisement that
// answers it. dna_linux.go sends and receives them on an AF_PACKET socket
// of the access interface; mobilenode.Movement decides what an answer
// means.

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
// of the router, so only that very router can answer. The codec is
// internal/ndproxy's; it fails only on addresses no probe has (a
// multicast router), and then nil is returned.
func buildDNAProbe(src, router netip.Addr, mac net.HardwareAddr) []byte {
	src, router = src.WithZone(""), router.WithZone("")
	ns := &ndproxy.NeighborSolicitation{Target: router}
	if len(mac) == 6 {
		ns.SourceLinkLayer = mac
	}
	b, err := ndproxy.AppendPacket(nil, src, router, ns)
	if err != nil {
		return nil
	}
	return b
}

// parseDNAAnswer checks an IPv6 packet (from its IPv6 header) as a
// Neighbor Advertisement that can answer a DNA probe and returns the
// advertising router's address: RFC 4861 §7.1.2's validity checks
// (ndproxy.ParsePacket: hop limit 255, checksum, code 0, at least 24
// octets, target not multicast, S clear when sent to a multicast address,
// options of non-zero length), then what DNA needs: the Solicited flag (it
// answers a solicitation), and the target being the source (the router
// speaks for its own link-local address, the one the probe asked about).
// Extension headers are refused: a Neighbor Advertisement carries none.
func parseDNAAnswer(pkt []byte) (netip.Addr, bool) {
	p, err := ndproxy.ParsePacket(pkt)
	if err != nil {
		return netip.Addr{}, false
	}
	na, ok := p.Message.(*ndproxy.NeighborAdvertisement)
	if !ok || !na.Solicited || na.Target != p.Src || !p.Src.IsLinkLocalUnicast() {
		return netip.Addr{}, false
	}
	return p.Src, true
}
