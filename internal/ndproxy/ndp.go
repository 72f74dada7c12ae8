// Package ndproxy is the home agent's proxy Neighbor Discovery on the home
// link (RFC 6275 §10.4.1): it answers Neighbor Solicitations for the home
// addresses of registered mobile nodes with the home agent's own link-layer
// address, multicasts gratuitous Neighbor Advertisements when a binding is
// created, runs Duplicate Address Detection (RFC 4862 §5.4) for a home
// address before a registration is accepted (RFC 6275 §10.3.1, status 134
// on a duplicate), and stops answering on de-registration.
//
// It holds its own Neighbor Solicitation and Advertisement codec (RFC 4861
// §4.3, §4.4) with the receive validation of §7.1.1 and §7.1.2; the
// link-layer address options go through mip6's ND option codec.
package ndproxy

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/gomip6/gomip6/mip6"
)

// ICMPv6 types of Neighbor Discovery (RFC 4861 §4.3, §4.4). mip6/const.go
// has the router ones only.
const (
	ICMPNeighborSolicitation  = 135
	ICMPNeighborAdvertisement = 136
)

// HopLimit is the IPv6 Hop Limit every ND message is sent with and must
// arrive with (RFC 4861 §7.1.1, §7.1.2): 255 proves it was not forwarded by
// a router, i.e. that the sender is on the link.
const HopLimit = 255

// ndFixedLen is the length of an NS or NA before the options: Type, Code,
// Checksum, 4 octets of Reserved or flags, Target Address (RFC 4861 §4.3,
// §4.4).
const ndFixedLen = 24

// NA flag bits, in the first octet after the checksum (RFC 4861 §4.4).
const (
	flagRouter    = 0x80
	flagSolicited = 0x40
	flagOverride  = 0x20
)

// RawOption is an ND option the NS/NA codec does not decode, kept whole so
// that it survives a round trip: RFC 4861 §4.3 and §4.4 have a receiver
// ignore options it does not recognise, and an option that means nothing in
// this message (a Target Link-layer Address option in an NS, a Prefix
// Information option) is kept here as well.
type RawOption struct {
	// Type is the option type.
	Type uint8
	// Data is the option body after Type and Length: 8n-2 octets.
	Data []byte
}

// NeighborSolicitation is an ICMPv6 Neighbor Solicitation (RFC 4861 §4.3):
//
//	|     Type      |     Code      |          Checksum             |
//	|                           Reserved                            |
//	|                       Target Address                          |
//	|   Options ...
type NeighborSolicitation struct {
	// Target is the address whose link-layer address is asked for; never
	// multicast (§7.1.1).
	Target netip.Addr
	// SourceLinkLayer is the Source Link-layer Address option (type 1), nil
	// when absent. It must be absent when the IP source is the unspecified
	// address (§7.1.1: a DAD probe).
	SourceLinkLayer net.HardwareAddr
	// Options are the other options, in order.
	Options []RawOption
}

// NeighborAdvertisement is an ICMPv6 Neighbor Advertisement (RFC 4861
// §4.4):
//
//	|     Type      |     Code      |          Checksum             |
//	|R|S|O|                     Reserved                            |
//	|                       Target Address                          |
//	|   Options ...
type NeighborAdvertisement struct {
	// Router is the R flag: the sender is a router.
	Router bool
	// Solicited is the S flag: sent in response to an NS; never set when
	// the IP destination is multicast (§7.1.2).
	Solicited bool
	// Override is the O flag: the advertisement should replace an
	// existing cached link-layer address (§7.2.5).
	Override bool
	// Target is the address advertised; never multicast (§7.1.2).
	Target netip.Addr
	// TargetLinkLayer is the Target Link-layer Address option (type 2),
	// nil when absent.
	TargetLinkLayer net.HardwareAddr
	// Options are the other options, in order.
	Options []RawOption
}

// Message is *NeighborSolicitation or *NeighborAdvertisement.
type Message interface {
	// ICMPType returns 135 or 136.
	ICMPType() uint8
	appendBody(b []byte) ([]byte, error)
}

// ICMPType returns 135.
func (*NeighborSolicitation) ICMPType() uint8 { return ICMPNeighborSolicitation }

// ICMPType returns 136.
func (*NeighborAdvertisement) ICMPType() uint8 { return ICMPNeighborAdvertisement }

func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: ndproxy: "+format, append([]any{sentinel}, args...)...)
}

// checkTarget applies the rule both messages share (§7.1.1, §7.1.2): the
// Target Address is a 16-octet IPv6 address and not multicast.
func checkTarget(what string, a netip.Addr) error {
	switch {
	case !a.Is6():
		return errorf(mip6.ErrAddress, "%s: target %v is not IPv6", what, a)
	case a.Zone() != "":
		return errorf(mip6.ErrAddress, "%s: target %v has a zone", what, a)
	case a.IsMulticast():
		return errorf(mip6.ErrAddress, "%s: target %v is multicast (RFC 4861 §7.1)", what, a)
	}
	return nil
}

// ParseMessage parses an ICMPv6 NS or NA, starting at its Type octet, with
// the checks that need no IP header (RFC 4861 §7.1.1, §7.1.2): Code 0,
// at least 24 octets, target not multicast, options of nonzero length that
// fit, at most one link-layer address option of the message's own kind.
// The checksum is not verified: it needs the IP addresses (ParsePacket
// does it).
func ParseMessage(b []byte) (Message, error) {
	if len(b) < ndFixedLen {
		return nil, errorf(mip6.ErrTruncated, "ND message: %d octets, want at least %d", len(b), ndFixedLen)
	}
	if b[1] != 0 {
		return nil, errorf(mip6.ErrInvalid, "ND message type %d: code %d, want 0 (RFC 4861 §7.1)", b[0], b[1])
	}
	target := netip.AddrFrom16([16]byte(b[8:24]))
	switch b[0] {
	case ICMPNeighborSolicitation:
		m := &NeighborSolicitation{Target: target}
		if err := checkTarget("NS", target); err != nil {
			return nil, err
		}
		lla, raw, err := parseOptions(b[ndFixedLen:], mip6.NDOptSourceLinkLayer)
		if err != nil {
			return nil, err
		}
		m.SourceLinkLayer, m.Options = lla, raw
		return m, nil
	case ICMPNeighborAdvertisement:
		// The 29 Reserved bits are ignored on receipt (§4.4).
		m := &NeighborAdvertisement{
			Router:    b[4]&flagRouter != 0,
			Solicited: b[4]&flagSolicited != 0,
			Override:  b[4]&flagOverride != 0,
			Target:    target,
		}
		if err := checkTarget("NA", target); err != nil {
			return nil, err
		}
		lla, raw, err := parseOptions(b[ndFixedLen:], mip6.NDOptTargetLinkLayer)
		if err != nil {
			return nil, err
		}
		m.TargetLinkLayer, m.Options = lla, raw
		return m, nil
	}
	return nil, errorf(mip6.ErrType, "ICMPv6 type %d is not NS or NA", b[0])
}

// parseOptions splits the options into the link-layer address option of
// type llaType, decoded with mip6.ParseNDOptions, and the rest, kept raw.
// A second option of type llaType is an error: the two could disagree, and
// Linux (ndisc_parse_options) drops such a message as well.
func parseOptions(b []byte, llaType uint8) (net.HardwareAddr, []RawOption, error) {
	var (
		lla net.HardwareAddr
		raw []RawOption
	)
	for off := 0; off < len(b); {
		if len(b)-off < 2 {
			return nil, nil, errorf(mip6.ErrTruncated, "ND option at %d: %d octets", off, len(b)-off)
		}
		t, n := b[off], int(b[off+1])*8
		if n == 0 {
			// §7.1.1/§7.1.2: all included options have a length greater
			// than zero; a zero length would loop forever.
			return nil, nil, errorf(mip6.ErrLength, "ND option type %d at %d: length 0", t, off)
		}
		if len(b)-off < n {
			return nil, nil, errorf(mip6.ErrTruncated, "ND option type %d at %d: length %d, %d octets left", t, off, n, len(b)-off)
		}
		o := b[off : off+n]
		off += n
		if t != llaType {
			raw = append(raw, RawOption{Type: t, Data: append([]byte(nil), o[2:]...)})
			continue
		}
		if lla != nil {
			return nil, nil, errorf(mip6.ErrInvalid, "ND option type %d repeated", t)
		}
		opts, err := mip6.ParseNDOptions(o)
		if err != nil {
			return nil, nil, err
		}
		l, ok := opts[0].(*mip6.NDLinkLayerAddress)
		if !ok || len(opts) != 1 {
			return nil, nil, errorf(mip6.ErrType, "ND option type %d: not a link-layer address", t)
		}
		lla = l.Addr
	}
	return lla, raw, nil
}

// AppendMessage appends m as an ICMPv6 message with the checksum field
// zero (AppendPacket fills it), validated as ParseMessage validates. On
// error it returns b unchanged.
func AppendMessage(b []byte, m Message) ([]byte, error) {
	if m == nil {
		return b, errorf(mip6.ErrInvalid, "nil message")
	}
	out, err := m.appendBody(b)
	if err != nil {
		return b, err
	}
	return out, nil
}

func (m *NeighborSolicitation) appendBody(b []byte) ([]byte, error) {
	if m == nil {
		return b, errorf(mip6.ErrInvalid, "nil *NeighborSolicitation")
	}
	if err := checkTarget("NS", m.Target); err != nil {
		return b, err
	}
	t := m.Target.As16()
	b = append(b, ICMPNeighborSolicitation, 0, 0, 0, 0, 0, 0, 0)
	b = append(b, t[:]...)
	return appendOptions(b, mip6.NDOptSourceLinkLayer, m.SourceLinkLayer, m.Options)
}

func (m *NeighborAdvertisement) appendBody(b []byte) ([]byte, error) {
	if m == nil {
		return b, errorf(mip6.ErrInvalid, "nil *NeighborAdvertisement")
	}
	if err := checkTarget("NA", m.Target); err != nil {
		return b, err
	}
	var f byte
	if m.Router {
		f |= flagRouter
	}
	if m.Solicited {
		f |= flagSolicited
	}
	if m.Override {
		f |= flagOverride
	}
	t := m.Target.As16()
	b = append(b, ICMPNeighborAdvertisement, 0, 0, 0, f, 0, 0, 0)
	b = append(b, t[:]...)
	return appendOptions(b, mip6.NDOptTargetLinkLayer, m.TargetLinkLayer, m.Options)
}

// appendOptions appends the link-layer address option (when lla is not
// nil) first, through mip6's codec, then the raw options in order.
func appendOptions(b []byte, llaType uint8, lla net.HardwareAddr, raw []RawOption) ([]byte, error) {
	if lla != nil {
		var err error
		o := &mip6.NDLinkLayerAddress{Target: llaType == mip6.NDOptTargetLinkLayer, Addr: lla}
		if b, err = mip6.AppendNDOptions(b, []mip6.NDOption{o}); err != nil {
			return b, err
		}
	}
	for _, o := range raw {
		if o.Type == llaType {
			return b, errorf(mip6.ErrType, "raw ND option of type %d, which has its own field", o.Type)
		}
		n := 2 + len(o.Data)
		if n%8 != 0 || n > 255*8 {
			return b, errorf(mip6.ErrLength, "ND option type %d: %d octets of data, want 8n-2 up to %d", o.Type, len(o.Data), 255*8-2)
		}
		b = append(b, o.Type, byte(n/8))
		b = append(b, o.Data...)
	}
	return b, nil
}

// SolicitedNodeMulticast returns the solicited-node multicast address of a
// (RFC 4291 §2.7.1): ff02::1:ff00:0/104 with the low 24 bits of a. NSs for
// address resolution and DAD go there (RFC 4861 §7.2.2, RFC 4862 §5.4.2).
func SolicitedNodeMulticast(a netip.Addr) netip.Addr {
	s := a.As16()
	return netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 0x01, 12: 0xff, 13: s[13], 14: s[14], 15: s[15]})
}

// isSolicitedNode reports whether a is in ff02::1:ff00:0/104.
func isSolicitedNode(a netip.Addr) bool {
	return a.Is6() && SolicitedNodeMulticast(a) == a.WithZone("")
}

// MulticastMAC returns the Ethernet address an IPv6 multicast address maps
// to (RFC 2464 §7): 33:33 followed by the address's last 32 bits.
func MulticastMAC(a netip.Addr) net.HardwareAddr {
	s := a.As16()
	return net.HardwareAddr{0x33, 0x33, s[12], s[13], s[14], s[15]}
}

// AppendPacket appends a whole IPv6 packet carrying m from src to dst:
// the fixed header with Next Header 58 and Hop Limit 255 and the message
// with its checksum (RFC 4443 §2.3, pseudo-header of RFC 8200 §8.1). It
// applies the IP-level rules of §7.1.1/§7.1.2 that ParsePacket checks, so
// what it builds is accepted by a conforming receiver. On error it returns
// b unchanged.
func AppendPacket(b []byte, src, dst netip.Addr, m Message) ([]byte, error) {
	if err := checkIP(src, dst, m); err != nil {
		return b, err
	}
	n0 := len(b)
	b = mip6.AppendIPv6Header(b, 0, mip6.ProtoICMPv6, HopLimit, src, dst)
	out, err := AppendMessage(b, m)
	if err != nil {
		return b[:n0], err
	}
	body := out[n0+mip6.IPv6HeaderLen:]
	if len(body) > 0xffff {
		return b[:n0], errorf(mip6.ErrLength, "ND message of %d octets", len(body))
	}
	mip6.IPv6Header(out[n0:]).SetPayloadLength(uint16(len(body)))
	binary.BigEndian.PutUint16(body[2:4], mip6.PseudoHeaderChecksum(src, dst, mip6.ProtoICMPv6, body))
	return out, nil
}

// checkIP applies the rules of RFC 4861 §7.1.1 and §7.1.2 that involve the
// IP addresses.
func checkIP(src, dst netip.Addr, m Message) error {
	if !src.Is6() || !dst.Is6() || src.Zone() != "" || dst.Zone() != "" {
		return errorf(mip6.ErrAddress, "ND packet %v -> %v: want IPv6 addresses without zone", src, dst)
	}
	if src.IsMulticast() {
		return errorf(mip6.ErrAddress, "ND packet from multicast %v", src)
	}
	switch m := m.(type) {
	case *NeighborSolicitation:
		if m != nil && src.IsUnspecified() {
			// §7.1.1: a DAD probe goes to a solicited-node group and
			// carries no Source Link-layer Address option.
			if !isSolicitedNode(dst) {
				return errorf(mip6.ErrAddress, "NS from :: to %v, not a solicited-node multicast address (RFC 4861 §7.1.1)", dst)
			}
			if m.SourceLinkLayer != nil {
				return errorf(mip6.ErrInvalid, "NS from :: with a Source Link-layer Address option (RFC 4861 §7.1.1)")
			}
		}
	case *NeighborAdvertisement:
		if m != nil && dst.IsMulticast() && m.Solicited {
			return errorf(mip6.ErrInvalid, "NA to multicast %v with the Solicited flag (RFC 4861 §7.1.2)", dst)
		}
	}
	return nil
}

// Packet is a received ND packet: the IP addresses and the message.
type Packet struct {
	Src, Dst netip.Addr
	Message  Message
}

// ParsePacket parses a whole IPv6 packet, starting at its IPv6 header, that
// carries an NS or NA, and validates it as RFC 4861 §7.1.1 and §7.1.2 ask
// of a receiver: Hop Limit 255, a valid ICMPv6 checksum, and the checks of
// ParseMessage and AppendPacket. The ICMPv6 message must follow the fixed
// header directly: ND messages are not sent with extension headers, and a
// packet that has them is rejected rather than walked. Octets after
// Payload Length (link padding) are ignored.
func ParsePacket(pkt []byte) (Packet, error) {
	h := mip6.IPv6Header(pkt)
	if len(pkt) < mip6.IPv6HeaderLen {
		return Packet{}, errorf(mip6.ErrTruncated, "IPv6 packet of %d octets", len(pkt))
	}
	if !h.IsValid() {
		return Packet{}, errorf(mip6.ErrInvalid, "IP version %d", pkt[0]>>4)
	}
	if h.NextHeader() != mip6.ProtoICMPv6 {
		return Packet{}, errorf(mip6.ErrType, "next header %d, want ICMPv6 directly", h.NextHeader())
	}
	if h.HopLimit() != HopLimit {
		return Packet{}, errorf(mip6.ErrInvalid, "hop limit %d, want 255 (RFC 4861 §7.1)", h.HopLimit())
	}
	end := mip6.IPv6HeaderLen + int(h.PayloadLength())
	if end > len(pkt) {
		return Packet{}, errorf(mip6.ErrTruncated, "payload length %d, %d octets after the header", h.PayloadLength(), len(pkt)-mip6.IPv6HeaderLen)
	}
	body := pkt[mip6.IPv6HeaderLen:end]
	src, dst := h.Src(), h.Dst()
	if len(body) >= 4 && mip6.PseudoHeaderChecksum(src, dst, mip6.ProtoICMPv6, body) != 0 {
		return Packet{}, errorf(mip6.ErrChecksum, "ICMPv6 checksum %#04x", binary.BigEndian.Uint16(body[2:4]))
	}
	m, err := ParseMessage(body)
	if err != nil {
		return Packet{}, err
	}
	if err := checkIP(src, dst, m); err != nil {
		return Packet{}, err
	}
	return Packet{Src: src, Dst: dst, Message: m}, nil
}
