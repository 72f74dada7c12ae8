package rawsock

import (
	"fmt"
	"net/netip"

	"github.com/gomip6/gomip6/mip6"
)

// DefaultHopLimit is the Hop Limit of packets built when MHPacket.HopLimit
// is zero: Linux's default (net.ipv6.conf.*.hop_limit). Mobility signalling
// goes end to end across the Internet, so it is not 255 as for ND.
const DefaultHopLimit = 64

// MHPacket describes a whole IPv6 packet carrying a Mobility Header
// message, for AppendMH.
type MHPacket struct {
	// Src and Dst are the IPv6 header's addresses: for a mobile node away
	// from home, its care-of address; for a packet to it with a type 2
	// routing header, its care-of address as Dst.
	Src, Dst netip.Addr
	// HomeAddress, when valid, adds a Destination Options header with a
	// Home Address option (RFC 6275 §6.3), as a mobile node sends its
	// Binding Update (§11.7.1).
	HomeAddress netip.Addr
	// RH2, when valid, adds a type 2 routing header holding this home
	// address (§6.4), as a home agent or correspondent sends a Binding
	// Acknowledgement to a care-of address (§6.1.8, §9.5.4, §10.3.1).
	RH2 netip.Addr
	// HopLimit of the IPv6 header; zero means DefaultHopLimit.
	HopLimit uint8
	// Message is the Mobility Header message.
	Message mip6.MobilityMessage
}

func checkAddr(name string, a netip.Addr, optional bool) error {
	if optional && !a.IsValid() {
		return nil
	}
	if !a.Is6() || a.Is4In6() || a.Zone() != "" {
		return fmt.Errorf("rawsock: %s %v is not an IPv6 address without zone", name, a)
	}
	return nil
}

// AppendMH appends the packet p describes to b and returns it: IPv6
// header, type 2 routing header, Destination Options with the Home Address
// option, Mobility Header, in the order of RFC 8200 §4.1 and RFC 6275 §6.3
// (the Home Address option goes after a routing header). The Mobility
// Header checksum is set last, with the pseudo-header of §6.1.1: the home
// address as source when there is a Home Address option, the routing
// header's address as destination when there is a type 2 routing header.
//
// A message whose authenticator (RFC 4285) covers the marshalled header
// must have it in its options already, computed with a zero checksum; when
// the authenticator is written into the packet afterwards, call
// SetChecksum again.
func AppendMH(b []byte, p MHPacket) ([]byte, error) {
	if err := checkAddr("source", p.Src, false); err != nil {
		return nil, err
	}
	if err := checkAddr("destination", p.Dst, false); err != nil {
		return nil, err
	}
	if err := checkAddr("home address", p.HomeAddress, true); err != nil {
		return nil, err
	}
	if err := checkAddr("type 2 routing header address", p.RH2, true); err != nil {
		return nil, err
	}
	hl := p.HopLimit
	if hl == 0 {
		hl = DefaultHopLimit
	}
	start := len(b)
	first := uint8(mip6.ProtoMobility)
	if p.HomeAddress.IsValid() {
		first = mip6.ProtoDestOpts
	}
	if p.RH2.IsValid() {
		first = mip6.ProtoRouting
	}
	b = mip6.AppendIPv6Header(b, 0, first, hl, p.Src, p.Dst)
	if p.RH2.IsValid() {
		next := uint8(mip6.ProtoMobility)
		if p.HomeAddress.IsValid() {
			next = mip6.ProtoDestOpts
		}
		b = mip6.AppendRoutingHeader2(b, next, p.RH2)
	}
	if p.HomeAddress.IsValid() {
		b = mip6.AppendHomeAddressDestOpts(b, mip6.ProtoMobility, p.HomeAddress)
	}
	mhOff := len(b)
	b, err := mip6.AppendMessage(b, p.Message)
	if err != nil {
		return nil, err
	}
	plen := len(b) - start - mip6.IPv6HeaderLen
	if plen > 0xffff {
		return nil, fmt.Errorf("rawsock: payload of %d octets needs a jumbogram", plen)
	}
	mip6.IPv6Header(b[start:]).SetPayloadLength(uint16(plen))
	src, dst := mip6.MHChecksumAddrs(p.Src, p.Dst, p.HomeAddress, p.RH2)
	mip6.SetMHChecksum(b[mhOff:], src, dst)
	return b, nil
}

// BuildMH returns a new packet from src to dst carrying m, with a Home
// Address option for hoa and a type 2 routing header for rh2 when those are
// valid (pass netip.Addr{} for none); see AppendMH.
func BuildMH(src, dst, hoa, rh2 netip.Addr, m mip6.MobilityMessage) ([]byte, error) {
	return AppendMH(nil, MHPacket{Src: src, Dst: dst, HomeAddress: hoa, RH2: rh2, Message: m})
}

// SetChecksum recomputes the Mobility Header checksum of the whole IPv6
// packet pkt in place, after its extension headers were walked with
// mip6.WalkIPv6 for the pseudo-header addresses. It fails when pkt is not
// a valid IPv6 packet carrying a Mobility Header.
func SetChecksum(pkt []byte) error {
	l, err := mip6.WalkIPv6(pkt)
	if err != nil {
		return err
	}
	if l.Proto != mip6.ProtoMobility {
		return fmt.Errorf("rawsock: packet carries protocol %d, not a Mobility Header", l.Proto)
	}
	mh := pkt[l.Offset:l.End]
	if len(mh) < 6 {
		return fmt.Errorf("rawsock: Mobility Header of %d octets", len(mh))
	}
	mip6.SetMHChecksum(mh, l.PseudoSrc, l.PseudoDst)
	if !mip6.VerifyMHChecksum(mh, l.PseudoSrc, l.PseudoDst) {
		return fmt.Errorf("rawsock: Mobility Header shorter than its Header Len")
	}
	return nil
}
