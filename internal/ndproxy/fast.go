package ndproxy

import (
	"encoding/binary"
	"net/netip"

	"github.com/gomip6/gomip6/mip6"
)

// The receive path. Every NS and NA on the home link passes the socket's
// filter (Filter cannot match the 2^24 solicited-node groups), so the
// reader sees all of the link's address resolution, most of it for
// addresses the home agent does not proxy, and an attacker on the link
// can send as many as the link carries. ParsePacket builds a Message with
// its options, which costs allocations per packet; the receive path uses
// parseView instead, which applies the same checks (FuzzParsePacket holds
// the two to the same verdicts and fields) on the packet in place, and
// builds its answers with appendNA into a buffer of the Proxy's.

// ndView is a received NS or NA, validated, read in place: lla is a view
// of the packet (the data of the Source Link-layer Address option of an
// NS, or of the Target Link-layer Address option of an NA, nil when
// absent).
type ndView struct {
	src, dst netip.Addr
	typ      uint8
	flags    byte // NA: the R, S, O octet
	target   netip.Addr
	lla      []byte
	body     []byte // the ICMPv6 message, for checksumValid
}

// checksumValid verifies the ICMPv6 checksum (RFC 4443 §2.3). parseView
// leaves it out: most of a busy link's address resolution is for
// addresses the proxy does not care about, and summing every packet of it
// would be the receive path's largest cost. handle calls it only for a
// packet it is about to act on.
func (v *ndView) checksumValid() bool {
	return mip6.PseudoHeaderChecksum(v.src, v.dst, mip6.ProtoICMPv6, v.body) == 0
}

// parseView validates pkt as ParsePacket does (RFC 4861 §7.1.1, §7.1.2),
// except for the checksum (checksumValid), and returns the view; ok is
// false for anything else ParsePacket refuses. It does not allocate.
func parseView(pkt []byte) (v ndView, ok bool) {
	h := mip6.IPv6Header(pkt)
	if !h.IsValid() || h.NextHeader() != mip6.ProtoICMPv6 || h.HopLimit() != HopLimit {
		return v, false
	}
	end := mip6.IPv6HeaderLen + int(h.PayloadLength())
	if end > len(pkt) {
		return v, false
	}
	b := pkt[mip6.IPv6HeaderLen:end]
	v.src, v.dst = h.Src(), h.Dst()
	v.body = b
	// ParseMessage.
	if len(b) < ndFixedLen || b[1] != 0 {
		return v, false
	}
	v.typ = b[0]
	var llaType uint8
	switch v.typ {
	case ICMPNeighborSolicitation:
		llaType = mip6.NDOptSourceLinkLayer
	case ICMPNeighborAdvertisement:
		llaType = mip6.NDOptTargetLinkLayer
		v.flags = b[4]
	default:
		return v, false
	}
	v.target = netip.AddrFrom16([16]byte(b[8:24]))
	if v.target.IsMulticast() {
		return v, false
	}
	// parseOptions: nonzero lengths that fit, one link-layer option of the
	// message's own kind at most.
	opts := b[ndFixedLen:]
	for off := 0; off < len(opts); {
		if len(opts)-off < 2 {
			return v, false
		}
		t, n := opts[off], int(opts[off+1])*8
		if n == 0 || len(opts)-off < n {
			return v, false
		}
		if t == llaType {
			if v.lla != nil {
				return v, false
			}
			v.lla = opts[off+2 : off+n]
		}
		off += n
	}
	// checkIP.
	if v.src.IsMulticast() {
		return v, false
	}
	switch v.typ {
	case ICMPNeighborSolicitation:
		if v.src.IsUnspecified() && (!isSolicitedNode(v.dst) || v.lla != nil) {
			return v, false
		}
	case ICMPNeighborAdvertisement:
		if v.dst.IsMulticast() && v.flags&flagSolicited != 0 {
			return v, false
		}
	}
	return v, true
}

// naLen is the length of the NAs the proxy sends with a link-layer address
// of n octets: IPv6 header, NA, and the Target Link-layer Address option
// padded to 8 octets (RFC 4861 §4.6.1).
func naLen(n int) int { return mip6.IPv6HeaderLen + ndFixedLen + (2+n+7)/8*8 }

// appendNA appends the whole NA packet from src to dst for target with the
// flags octet and a Target Link-layer Address option holding mac (not
// empty, at most 253 octets), checksum included: the octets AppendPacket
// makes of the same NeighborAdvertisement, without the allocations. The
// caller has made sure the addresses obey checkIP.
func appendNA(b []byte, src, dst, target netip.Addr, flags byte, mac []byte) []byte {
	n0 := len(b)
	opt := (2 + len(mac) + 7) / 8 * 8
	body := ndFixedLen + opt
	b = mip6.AppendIPv6Header(b, uint16(body), mip6.ProtoICMPv6, HopLimit, src, dst)
	t := target.As16()
	b = append(b, ICMPNeighborAdvertisement, 0, 0, 0, flags, 0, 0, 0)
	b = append(b, t[:]...)
	b = append(b, mip6.NDOptTargetLinkLayer, byte(opt/8))
	b = append(b, mac...)
	for range opt - 2 - len(mac) {
		b = append(b, 0)
	}
	m := b[n0+mip6.IPv6HeaderLen:]
	binary.BigEndian.PutUint16(m[2:4], mip6.PseudoHeaderChecksum(src, dst, mip6.ProtoICMPv6, m))
	return b
}
