package rodata

import (
	"encoding/binary"
	"net/netip"

	"github.com/gomip6/gomip6/mip6"
)

// icmpPacketTooBig is the ICMPv6 type of Packet Too Big (RFC 4443 §3.2).
const icmpPacketTooBig = 2

// minMTU is the IPv6 minimum link MTU (RFC 8200 §5).
const minMTU = 1280

// ErrNotOurPacket: an ICMPv6 message that is not a Packet Too Big about a
// packet InsertHomeAddress built.
var ErrNotOurPacket error = &Error{"rodata: not a Packet Too Big about a packet with a Home Address option", mip6.ErrInvalid}

// AppendHomeAddressPacketTooBig carries path MTU discovery (RFC 8201)
// across the Home Address option of a mobile node's direct path (§11.3.1).
// A router between the care-of address and a correspondent answers a
// packet too big for its next link with a Packet Too Big about the packet
// as it saw it: from the care-of address, with our Destination Options
// header. The local socket that sent the packet from the home address
// would never match that, and would keep sending packets that are
// dropped. This builds the Packet Too Big that socket needs: to the home
// address, about the packet as the socket sent it (from the home address,
// without the option), with an MTU 24 octets smaller (the header we add),
// at least 1280, from the router's address from.
//
// icmp is the ICMPv6 message from its Type octet, as a raw ICMPv6 socket
// reads it. Only the layout InsertHomeAddress builds right after the IPv6
// header is translated: the 24-octet header whose one option, at offset
// 6, is the Home Address option. The returned packet (appended to b) is
// whole, checksummed, at most 1280 octets (RFC 4443 §2.4(c)); hoa, coa and
// cn are the home address of the option, the care-of address and the
// correspondent the packet went to, for the caller to check against its
// bindings before injecting it. Anything else gives ErrNotOurPacket.
func AppendHomeAddressPacketTooBig(b, icmp []byte, from netip.Addr) (pkt []byte, hoa, coa, cn netip.Addr, err error) {
	const dl = mip6.HomeAddressDestOptsLen
	if len(icmp) < 8+mip6.IPv6HeaderLen+dl || icmp[0] != icmpPacketTooBig || icmp[1] != 0 || !from.Is6() {
		return b, hoa, coa, cn, ErrNotOurPacket
	}
	inner := icmp[8:]
	ih := mip6.IPv6Header(inner)
	opts := inner[mip6.IPv6HeaderLen : mip6.IPv6HeaderLen+dl]
	hao := mip6.HomeAddressOption(opts[6:])
	if ih.Version() != 6 || ih.NextHeader() != mip6.ProtoDestOpts || opts[1] != 2 || !hao.IsValid() ||
		ih.PayloadLength() < dl {
		return b, hoa, coa, cn, ErrNotOurPacket
	}
	hoa, coa, cn = hao.Address(), ih.Src(), ih.Dst()
	mtu := binary.BigEndian.Uint32(icmp[4:8])
	if mtu > dl {
		mtu -= dl
	}
	mtu = max(mtu, minMTU)
	// The original packet, as much as the router quoted, cut so that
	// the whole message fits in 1280 octets.
	rest := inner[mip6.IPv6HeaderLen+dl:]
	quote := min(mip6.IPv6HeaderLen+len(rest), minMTU-mip6.IPv6HeaderLen-8)
	b = mip6.AppendIPv6Header(b, uint16(8+quote), mip6.ProtoICMPv6, 255, from, hoa)
	m := len(b)
	b = append(b, icmpPacketTooBig, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, mtu)
	o := len(b)
	b = append(b, inner[:mip6.IPv6HeaderLen]...)
	oh := mip6.IPv6Header(b[o:])
	oh.SetNextHeader(opts[0])
	oh.SetSrc(hoa)
	oh.SetPayloadLength(ih.PayloadLength() - dl)
	b = append(b, rest[:quote-mip6.IPv6HeaderLen]...)
	mip6.SetICMPChecksum(b[m:], from, hoa)
	return b, hoa, coa, cn, nil
}
