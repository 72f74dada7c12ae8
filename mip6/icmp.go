package mip6

import (
	"encoding/binary"
	"net/netip"
)

// This file holds the ICMPv6 messages of RFC 6275 §6.5–6.8: dynamic home
// agent address discovery and mobile prefix discovery, and the dispatch that
// also serves Router Advertisements (ra.go).
//
// On the Code field: RFC 6275 defines code 0 only, and senders use it. RFC
// 4443 gives no rule for an unknown code of a known informational message,
// but the Neighbor Discovery messages these extend make Code 0 part of
// validity (RFC 4861 §6.1: "ICMP Code is 0", else silently discard), and a
// nonzero code can only mean a future variant whose meaning we cannot know.
// So parsing rejects a nonzero code with ErrInvalid, and the caller drops the
// message as ND would.

// icmpHeaderLen is the length of the ICMPv6 header plus the 4 octets every
// message here has before its body: Type, Code, Checksum, then Identifier
// and Reserved (or the RA's first word).
const icmpHeaderLen = 8

// ICMPMessage is an ICMPv6 message this package parses: the set is closed,
// *HomeAgentDiscoveryRequest, *HomeAgentDiscoveryReply,
// *MobilePrefixSolicitation, *MobilePrefixAdvertisement and
// *RouterAdvertisement.
type ICMPMessage interface {
	// ICMPType returns the ICMPv6 Type.
	ICMPType() uint8
	appendICMP(b []byte) ([]byte, error)
}

// HomeAgentDiscoveryRequest is the Home Agent Address Discovery Request
// (RFC 6275 §6.5, type 144) a mobile node sends to the Mobile IPv6 Home
// Agents anycast address of its home subnet:
//
//	|     Type      |     Code      |            Checksum           |
//	|           Identifier          |R|        Reserved             |
type HomeAgentDiscoveryRequest struct {
	// Identifier matches the reply to the request.
	Identifier uint16
	// MobileRouter is the R flag of RFC 3963 §7.1, the top bit of the
	// Reserved field: the sender is a mobile router and wants home agents
	// that support mobile routers.
	MobileRouter bool
}

// HomeAgentDiscoveryReply is the Home Agent Address Discovery Reply (RFC
// 6275 §6.6, type 145):
//
//	|     Type      |     Code      |            Checksum           |
//	|           Identifier          |R|        Reserved             |
//	|                  Home Agent Addresses ...                     |
type HomeAgentDiscoveryReply struct {
	// Identifier is copied from the request.
	Identifier uint16
	// MobileRouter is the R flag of RFC 3963 §7.2: the listed home agents
	// support mobile routers.
	MobileRouter bool
	// HomeAgents are the home agents' addresses, most preferred first
	// (§10.5). The rest of the message is this list, so its length must be
	// a multiple of 16. The mobile node sends its Binding Update to one of
	// them, so each must be a unicast IPv6 address the mobile node can reach
	// from away: not unspecified, loopback, multicast, link-local or
	// IPv4-mapped. Parse and Marshal both check.
	HomeAgents []netip.Addr
}

// MobilePrefixSolicitation is the Mobile Prefix Solicitation (RFC 6275 §6.7,
// type 146) a mobile node sends to its home agent:
//
//	|     Type      |     Code      |            Checksum           |
//	|           Identifier          |            Reserved           |
type MobilePrefixSolicitation struct {
	// Identifier matches the advertisement to the solicitation.
	Identifier uint16
}

// MobilePrefixAdvertisement is the Mobile Prefix Advertisement (RFC 6275
// §6.8, type 147) a home agent sends to a mobile node away from home:
//
//	|     Type      |     Code      |            Checksum           |
//	|           Identifier          |M|O|        Reserved           |
//	|   Options ...
type MobilePrefixAdvertisement struct {
	// Identifier is copied from the solicitation, or any value for an
	// unsolicited advertisement.
	Identifier uint16
	// Managed (M) and Other (O) are the home link's address and other
	// configuration flags, with the RA meaning (RFC 4861 §4.2).
	Managed, Other bool
	// Options are ND options. §6.8: each message carries one or more Prefix
	// Information options (with the §7.2 R flag), the home network prefixes
	// the mobile node uses to form its home addresses, and mobile nodes
	// ignore options they do not know — here kept raw. That at least one
	// prefix is present is a processing check (§11.4.3), left to the caller.
	Options []NDOption
}

// ICMPType returns 144.
func (*HomeAgentDiscoveryRequest) ICMPType() uint8 { return ICMPHomeAgentDiscoveryReq }

// ICMPType returns 145.
func (*HomeAgentDiscoveryReply) ICMPType() uint8 { return ICMPHomeAgentDiscoveryReply }

// ICMPType returns 146.
func (*MobilePrefixSolicitation) ICMPType() uint8 { return ICMPMobilePrefixSolicitation }

// ICMPType returns 147.
func (*MobilePrefixAdvertisement) ICMPType() uint8 { return ICMPMobilePrefixAdvert }

// ParseICMP parses an ICMPv6 message that starts at the Type octet and
// fills b: the four messages of RFC 6275 §6.5–6.8 and Router
// Advertisements. Other types give ErrType; a nonzero Code gives ErrInvalid
// (see the file comment). Reserved fields are ignored, as §6.5–6.8 require
// of receivers, and octets after the fixed part of a request or
// solicitation (which have no options) are ignored too. The checksum is not
// checked: use VerifyICMPChecksum with the packet's addresses.
func ParseICMP(b []byte) (ICMPMessage, error) {
	if len(b) == 0 {
		return nil, errorf(ErrTruncated, "empty ICMPv6 message")
	}
	t := b[0]
	switch t {
	case ICMPRouterAdvertisement:
		return ParseRouterAdvertisement(b)
	case ICMPHomeAgentDiscoveryReq, ICMPHomeAgentDiscoveryReply,
		ICMPMobilePrefixSolicitation, ICMPMobilePrefixAdvert:
	default:
		return nil, errorf(ErrType, "ICMPv6 type %d", t)
	}
	if len(b) < icmpHeaderLen {
		return nil, errorf(ErrTruncated, "ICMPv6 type %d: %d octets, want at least %d", t, len(b), icmpHeaderLen)
	}
	if b[1] != 0 {
		return nil, errorf(ErrInvalid, "ICMPv6 type %d: code %d, want 0", t, b[1])
	}
	id := binary.BigEndian.Uint16(b[4:6])
	switch t {
	case ICMPHomeAgentDiscoveryReq:
		return &HomeAgentDiscoveryRequest{Identifier: id, MobileRouter: b[6]&0x80 != 0}, nil
	case ICMPHomeAgentDiscoveryReply:
		body := b[icmpHeaderLen:]
		if len(body)%16 != 0 {
			return nil, errorf(ErrLength, "Home Agent Address Discovery Reply: %d octets of addresses, not a multiple of 16", len(body))
		}
		m := &HomeAgentDiscoveryReply{Identifier: id, MobileRouter: b[6]&0x80 != 0}
		if len(body) > 0 {
			m.HomeAgents = make([]netip.Addr, 0, len(body)/16)
		}
		for i := 0; i < len(body); i += 16 {
			a := netip.AddrFrom16([16]byte(body[i : i+16]))
			if err := checkHomeAgentAddr(a); err != nil {
				return nil, err
			}
			m.HomeAgents = append(m.HomeAgents, a)
		}
		return m, nil
	case ICMPMobilePrefixSolicitation:
		return &MobilePrefixSolicitation{Identifier: id}, nil
	default: // ICMPMobilePrefixAdvert
		opts, err := ParseNDOptions(b[icmpHeaderLen:])
		if err != nil {
			return nil, err
		}
		return &MobilePrefixAdvertisement{
			Identifier: id,
			Managed:    b[6]&0x80 != 0,
			Other:      b[6]&0x40 != 0,
			Options:    opts,
		}, nil
	}
}

// checkHomeAgentAddr checks a Home Agent Addresses entry (§6.6).
func checkHomeAgentAddr(a netip.Addr) error {
	if !a.Is6() || a.Is4In6() || a.Zone() != "" || a.IsUnspecified() || a.IsLoopback() ||
		a.IsMulticast() || a.IsLinkLocalUnicast() {
		return errorf(ErrAddress, "Home Agent Address Discovery Reply: %v is not a global unicast IPv6 address", a)
	}
	return nil
}

// MarshalICMP returns the wire form of m, starting at the Type octet, with
// the Checksum zero: fill it with SetICMPChecksum once the addresses are
// known. Marshal checks what Parse checks.
func MarshalICMP(m ICMPMessage) ([]byte, error) {
	return AppendICMP(nil, m)
}

// AppendICMP appends the wire form of m to b, as MarshalICMP. On error it
// returns b unchanged.
func AppendICMP(b []byte, m ICMPMessage) ([]byte, error) {
	if m == nil {
		return b, errorf(ErrInvalid, "nil ICMPv6 message")
	}
	n0 := len(b)
	out, err := m.appendICMP(b)
	if err != nil {
		return b[:n0], err
	}
	return out, nil
}

// icmpAppendHeader appends Type, Code 0, Checksum 0, Identifier and the
// 16-bit flags/Reserved word.
func icmpAppendHeader(b []byte, t uint8, id uint16, flags byte) []byte {
	return append(b, t, 0, 0, 0, byte(id>>8), byte(id), flags, 0)
}

func (m *HomeAgentDiscoveryRequest) appendICMP(b []byte) ([]byte, error) {
	if m == nil {
		return b, errorf(ErrInvalid, "nil *HomeAgentDiscoveryRequest")
	}
	var f byte
	if m.MobileRouter {
		f = 0x80
	}
	return icmpAppendHeader(b, ICMPHomeAgentDiscoveryReq, m.Identifier, f), nil
}

func (m *HomeAgentDiscoveryReply) appendICMP(b []byte) ([]byte, error) {
	if m == nil {
		return b, errorf(ErrInvalid, "nil *HomeAgentDiscoveryReply")
	}
	var f byte
	if m.MobileRouter {
		f = 0x80
	}
	b = icmpAppendHeader(b, ICMPHomeAgentDiscoveryReply, m.Identifier, f)
	for _, a := range m.HomeAgents {
		if err := checkHomeAgentAddr(a); err != nil {
			return b, err
		}
		a16 := a.As16()
		b = append(b, a16[:]...)
	}
	return b, nil
}

func (m *MobilePrefixSolicitation) appendICMP(b []byte) ([]byte, error) {
	if m == nil {
		return b, errorf(ErrInvalid, "nil *MobilePrefixSolicitation")
	}
	return icmpAppendHeader(b, ICMPMobilePrefixSolicitation, m.Identifier, 0), nil
}

func (m *MobilePrefixAdvertisement) appendICMP(b []byte) ([]byte, error) {
	if m == nil {
		return b, errorf(ErrInvalid, "nil *MobilePrefixAdvertisement")
	}
	var f byte
	if m.Managed {
		f |= 0x80
	}
	if m.Other {
		f |= 0x40
	}
	b = icmpAppendHeader(b, ICMPMobilePrefixAdvert, m.Identifier, f)
	return AppendNDOptions(b, m.Options)
}

// SetICMPChecksum computes the ICMPv6 checksum of the message b (starting at
// the Type octet, exactly the ICMPv6 payload) over the pseudo-header of RFC
// 8200 §8.1 with next header 58 (RFC 4443 §2.3) and writes it into octets
// 2-3. src and dst are the pseudo-header addresses: for a Mobile Prefix
// Solicitation carrying a Home Address option the source is the home
// address, not the care-of address in the IP header (RFC 6275 §6.3;
// PacketLayout.PseudoSrc). It does nothing if b is shorter than 4 octets.
func SetICMPChecksum(b []byte, src, dst netip.Addr) {
	if len(b) < 4 {
		return
	}
	b[2], b[3] = 0, 0
	binary.BigEndian.PutUint16(b[2:4], PseudoHeaderChecksum(src, dst, ProtoICMPv6, b))
}

// VerifyICMPChecksum reports whether the checksum of the ICMPv6 message b
// verifies with the pseudo-header addresses src and dst (see
// SetICMPChecksum).
func VerifyICMPChecksum(b []byte, src, dst netip.Addr) bool {
	return len(b) >= 4 && PseudoHeaderChecksum(src, dst, ProtoICMPv6, b) == 0
}
