package mip6

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// This file holds Router Advertisements (RFC 4861 §4.2) with the Mobile IPv6
// extensions of RFC 6275 §7, and the Neighbor Discovery option codec that
// the Mobile Prefix Advertisement (§6.8) shares.

// NDInfiniteLifetime is the Valid or Preferred Lifetime all ones,
// 0xffffffff seconds, which RFC 4861 §4.6.2 defines as infinity.
const NDInfiniteLifetime = 0xffffffff * time.Second

// ndMaxOptionLen is the longest ND option: Length is 8 bits in units of 8
// octets (RFC 4861 §4.6).
const ndMaxOptionLen = 255 * 8

// NDOption is a Neighbor Discovery option (RFC 4861 §4.6). The set is
// closed: *PrefixInformation, *AdvertisementInterval,
// *HomeAgentInformation, *NDLinkLayerAddress, *NDMTU and, for every other
// type, *RawNDOption.
type NDOption interface {
	// NDOptionType returns the option's Type octet.
	NDOptionType() uint8
	appendND(b []byte) ([]byte, error)
}

// PrefixInformation is the Prefix Information option (RFC 4861 §4.6.2,
// type 3, length 4) with the Router Address flag of RFC 6275 §7.2:
//
//	|     Type      |    Length     | Prefix Length |L|A|R|Reserved1|
//	|                         Valid Lifetime                        |
//	|                       Preferred Lifetime                      |
//	|                           Reserved2                           |
//	|                       Prefix (16 octets)                      |
type PrefixInformation struct {
	// Prefix is the Prefix field with Prefix Length. Without RouterAddress
	// the bits after the prefix length are zero: the sender MUST zero them
	// and the receiver ignores them (RFC 4861 §4.6.2), so Parse masks them
	// and Marshal rejects a prefix that is not masked. With RouterAddress
	// the field is the router's complete global address (§7.2), kept whole:
	// Prefix.Addr() is the address, Prefix.Bits() the prefix length.
	Prefix netip.Prefix
	// OnLink is the L flag: the prefix can be used for on-link
	// determination.
	OnLink bool
	// Autonomous is the A flag: the prefix can be used for stateless
	// address autoconfiguration (RFC 4862).
	Autonomous bool
	// RouterAddress is the R flag (RFC 6275 §7.2): Prefix carries a
	// complete global address of the sending router, which is how the home
	// agents of a link learn each other's global addresses for their Home
	// Agents Lists and the DHAAD replies built from them (§10.5.1).
	RouterAddress bool
	// ValidLifetime and PreferredLifetime are in whole seconds on the wire;
	// NDInfiniteLifetime is infinity.
	ValidLifetime, PreferredLifetime time.Duration
}

// AdvertisementInterval is the Advertisement Interval option of RFC 6275
// §7.3 (type 7, length 1): the longest time between the sender's
// unsolicited RAs, which lets a mobile node detect movement when the
// interval passes without one (§11.5.1).
//
//	|     Type      |    Length     |           Reserved            |
//	|                   Advertisement Interval (ms)                 |
type AdvertisementInterval struct {
	// Interval is in whole milliseconds on the wire, 32 bits.
	Interval time.Duration
}

// HomeAgentInformation is the Home Agent Information option of RFC 6275
// §7.4 (type 8, length 1), with the Mobile Router flag of RFC 3963 §7.3:
//
//	|     Type      |    Length     |R|        Reserved             |
//	|    Home Agent Preference      |      Home Agent Lifetime      |
type HomeAgentInformation struct {
	// MobileRouter is the R flag of RFC 3963 §7.3, the top bit of the
	// Reserved field: the home agent supports mobile routers (NEMO).
	MobileRouter bool
	// Preference is the Home Agent Preference, a signed 16-bit integer
	// (§7.4): higher is more preferred; the default, without the option, is 0.
	Preference int16
	// Lifetime is the Home Agent Lifetime in whole seconds, 16 bits: at most
	// 65535 s (18.2 hours). §7.4 forbids a sender to use 0, so Marshal
	// rejects it; Parse keeps it, because a receiver gives it a meaning:
	// §10.5.1 has a home agent that receives 0 delete the sender from its
	// Home Agents List at once.
	Lifetime time.Duration
}

// NDLinkLayerAddress is the Source (type 1) or Target (type 2) Link-layer
// Address option of RFC 4861 §4.6.1.
type NDLinkLayerAddress struct {
	// Target selects the Target Link-layer Address option (type 2); false
	// is the Source Link-layer Address option (type 1), the one RAs carry.
	Target bool
	// Addr is the option body after Type and Length. The option length does
	// not say how long the address is (RFC 4861 leaves it to each link
	// layer), so Parse keeps the whole body: 6 octets for Ethernet (length
	// 1), and padding included for link layers whose address does not fill
	// 8n-2 octets. Marshal appends zero padding up to the next 8 octets.
	Addr net.HardwareAddr
}

// NDMTU is the MTU option of RFC 4861 §4.6.4 (type 5, length 1).
type NDMTU struct {
	// MTU is the recommended link MTU.
	MTU uint32
}

// RawNDOption is any ND option this package does not decode (RDNSS 25,
// DNSSL 31, Route Information 24, ...), kept whole so it survives a round
// trip.
type RawNDOption struct {
	// Type is the option type; it must not be one this package decodes.
	Type uint8
	// Data is the option body after Type and Length: 8n-2 octets.
	Data []byte
}

// NDOptionType returns 3.
func (*PrefixInformation) NDOptionType() uint8 { return NDOptPrefixInformation }

// NDOptionType returns 7.
func (*AdvertisementInterval) NDOptionType() uint8 { return NDOptAdvertisementInterval }

// NDOptionType returns 8.
func (*HomeAgentInformation) NDOptionType() uint8 { return NDOptHomeAgentInformation }

// NDOptionType returns 1 (source) or 2 (target).
func (o *NDLinkLayerAddress) NDOptionType() uint8 {
	if o != nil && o.Target {
		return NDOptTargetLinkLayer
	}
	return NDOptSourceLinkLayer
}

// NDOptionType returns 5.
func (*NDMTU) NDOptionType() uint8 { return NDOptMTU }

// NDOptionType returns o.Type.
func (o *RawNDOption) NDOptionType() uint8 {
	if o == nil {
		return 0
	}
	return o.Type
}

// ndKnownType reports whether t is an option type ParseNDOptions decodes
// into a struct, so a RawNDOption of that type would not round-trip.
func ndKnownType(t uint8) bool {
	switch t {
	case NDOptSourceLinkLayer, NDOptTargetLinkLayer, NDOptPrefixInformation,
		NDOptMTU, NDOptAdvertisementInterval, NDOptHomeAgentInformation:
		return true
	}
	return false
}

// ParseNDOptions parses a sequence of ND options (RFC 4861 §4.6), as found
// after the fixed part of an RA or MPA. Every option must have a nonzero
// length (§4.6: a node MUST silently discard an ND packet with a zero-length
// option, which would otherwise loop forever) and fit in b. Known options
// must have their fixed length. Unknown types come back as *RawNDOption, in
// order.
func ParseNDOptions(b []byte) ([]NDOption, error) {
	var opts []NDOption
	for off := 0; off < len(b); {
		if len(b)-off < 2 {
			return nil, errorf(ErrTruncated, "ND option at %d: %d octets", off, len(b)-off)
		}
		t, n := b[off], int(b[off+1])*8
		if n == 0 {
			return nil, errorf(ErrLength, "ND option type %d at %d: length 0 (RFC 4861 §4.6)", t, off)
		}
		if len(b)-off < n {
			return nil, errorf(ErrTruncated, "ND option type %d at %d: length %d, %d octets left", t, off, n, len(b)-off)
		}
		o, err := parseNDOption(t, b[off:off+n])
		if err != nil {
			return nil, err
		}
		opts = append(opts, o)
		off += n
	}
	return opts, nil
}

// parseNDOption decodes the option o (Type and Length included, length
// already checked against the input) of type t.
func parseNDOption(t uint8, o []byte) (NDOption, error) {
	fixed := func(want int) error {
		if len(o) != want {
			return errorf(ErrLength, "ND option type %d: length %d octets, want %d", t, len(o), want)
		}
		return nil
	}
	switch t {
	case NDOptPrefixInformation:
		if err := fixed(32); err != nil {
			return nil, err
		}
		bits := int(o[2])
		if bits > 128 {
			return nil, errorf(ErrInvalid, "Prefix Information: prefix length %d > 128", bits)
		}
		p := &PrefixInformation{
			OnLink:            o[3]&0x80 != 0,
			Autonomous:        o[3]&0x40 != 0,
			RouterAddress:     o[3]&0x20 != 0,
			ValidLifetime:     time.Duration(binary.BigEndian.Uint32(o[4:8])) * time.Second,
			PreferredLifetime: time.Duration(binary.BigEndian.Uint32(o[8:12])) * time.Second,
		}
		// Reserved1 (5 bits) and Reserved2 are ignored (RFC 4861 §4.6.2).
		p.Prefix = netip.PrefixFrom(netip.AddrFrom16([16]byte(o[16:32])), bits)
		if !p.RouterAddress {
			p.Prefix = p.Prefix.Masked()
		}
		return p, nil
	case NDOptAdvertisementInterval:
		if err := fixed(8); err != nil {
			return nil, err
		}
		ms := binary.BigEndian.Uint32(o[4:8])
		return &AdvertisementInterval{Interval: time.Duration(ms) * time.Millisecond}, nil
	case NDOptHomeAgentInformation:
		if err := fixed(8); err != nil {
			return nil, err
		}
		return &HomeAgentInformation{
			MobileRouter: o[2]&0x80 != 0,
			Preference:   int16(binary.BigEndian.Uint16(o[4:6])),
			Lifetime:     time.Duration(binary.BigEndian.Uint16(o[6:8])) * time.Second,
		}, nil
	case NDOptSourceLinkLayer, NDOptTargetLinkLayer:
		return &NDLinkLayerAddress{
			Target: t == NDOptTargetLinkLayer,
			Addr:   net.HardwareAddr(append([]byte(nil), o[2:]...)),
		}, nil
	case NDOptMTU:
		if err := fixed(8); err != nil {
			return nil, err
		}
		return &NDMTU{MTU: binary.BigEndian.Uint32(o[4:8])}, nil
	}
	return &RawNDOption{Type: t, Data: append([]byte(nil), o[2:]...)}, nil
}

// AppendNDOptions appends opts in order, each validated as Parse validates
// it. On error it returns b unchanged.
func AppendNDOptions(b []byte, opts []NDOption) ([]byte, error) {
	n0 := len(b)
	for i, o := range opts {
		var err error
		if o == nil {
			return b[:n0], errorf(ErrInvalid, "ND option %d is nil", i)
		}
		if b, err = o.appendND(b); err != nil {
			return b[:n0], err
		}
	}
	return b, nil
}

// ndUnits converts d to a count of unit, checking that it is whole and fits
// in max units.
func ndUnits(what string, d, unit time.Duration, max uint64) (uint64, error) {
	if d < 0 || d%unit != 0 || uint64(d/unit) > max {
		return 0, errorf(ErrInvalid, "%s %v: not a whole number of %v in [0, %d]", what, d, unit, max)
	}
	return uint64(d / unit), nil
}

func (p *PrefixInformation) appendND(b []byte) ([]byte, error) {
	if p == nil {
		return b, errorf(ErrInvalid, "nil *PrefixInformation")
	}
	a := p.Prefix.Addr()
	if !p.Prefix.IsValid() || !a.Is6() {
		return b, errorf(ErrAddress, "Prefix Information: prefix %v is not IPv6", p.Prefix)
	}
	if !p.RouterAddress && p.Prefix != p.Prefix.Masked() {
		return b, errorf(ErrInvalid, "Prefix Information: %v has bits after the prefix length and no R flag (RFC 4861 §4.6.2)", p.Prefix)
	}
	valid, err := ndUnits("Prefix Information: Valid Lifetime", p.ValidLifetime, time.Second, 0xffffffff)
	if err != nil {
		return b, err
	}
	pref, err := ndUnits("Prefix Information: Preferred Lifetime", p.PreferredLifetime, time.Second, 0xffffffff)
	if err != nil {
		return b, err
	}
	var flags byte
	if p.OnLink {
		flags |= 0x80
	}
	if p.Autonomous {
		flags |= 0x40
	}
	if p.RouterAddress {
		flags |= 0x20
	}
	b = append(b, NDOptPrefixInformation, 4, byte(p.Prefix.Bits()), flags)
	b = binary.BigEndian.AppendUint32(b, uint32(valid))
	b = binary.BigEndian.AppendUint32(b, uint32(pref))
	b = append(b, 0, 0, 0, 0) // Reserved2
	a16 := a.As16()
	return append(b, a16[:]...), nil
}

func (o *AdvertisementInterval) appendND(b []byte) ([]byte, error) {
	if o == nil {
		return b, errorf(ErrInvalid, "nil *AdvertisementInterval")
	}
	ms, err := ndUnits("Advertisement Interval", o.Interval, time.Millisecond, 0xffffffff)
	if err != nil {
		return b, err
	}
	b = append(b, NDOptAdvertisementInterval, 1, 0, 0)
	return binary.BigEndian.AppendUint32(b, uint32(ms)), nil
}

func (o *HomeAgentInformation) appendND(b []byte) ([]byte, error) {
	if o == nil {
		return b, errorf(ErrInvalid, "nil *HomeAgentInformation")
	}
	if o.Lifetime == 0 {
		return b, errorf(ErrInvalid, "Home Agent Information: lifetime 0 (RFC 6275 §7.4: MUST NOT be used)")
	}
	s, err := ndUnits("Home Agent Lifetime", o.Lifetime, time.Second, 0xffff)
	if err != nil {
		return b, err
	}
	var r byte
	if o.MobileRouter {
		r = 0x80
	}
	b = append(b, NDOptHomeAgentInformation, 1, r, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(o.Preference))
	return binary.BigEndian.AppendUint16(b, uint16(s)), nil
}

func (o *NDLinkLayerAddress) appendND(b []byte) ([]byte, error) {
	if o == nil {
		return b, errorf(ErrInvalid, "nil *NDLinkLayerAddress")
	}
	n := (2 + len(o.Addr) + 7) / 8 * 8
	if len(o.Addr) == 0 || n > ndMaxOptionLen {
		return b, errorf(ErrLength, "link-layer address option: %d-octet address", len(o.Addr))
	}
	b = append(b, o.NDOptionType(), byte(n/8))
	b = append(b, o.Addr...)
	for range n - 2 - len(o.Addr) {
		b = append(b, 0)
	}
	return b, nil
}

func (o *NDMTU) appendND(b []byte) ([]byte, error) {
	if o == nil {
		return b, errorf(ErrInvalid, "nil *NDMTU")
	}
	b = append(b, NDOptMTU, 1, 0, 0)
	return binary.BigEndian.AppendUint32(b, o.MTU), nil
}

func (o *RawNDOption) appendND(b []byte) ([]byte, error) {
	if o == nil {
		return b, errorf(ErrInvalid, "nil *RawNDOption")
	}
	if ndKnownType(o.Type) {
		return b, errorf(ErrType, "RawNDOption of type %d, which has its own struct", o.Type)
	}
	n := 2 + len(o.Data)
	if n%8 != 0 || n > ndMaxOptionLen {
		return b, errorf(ErrLength, "ND option type %d: %d octets of data, want 8n-2 up to %d", o.Type, len(o.Data), ndMaxOptionLen-2)
	}
	b = append(b, o.Type, byte(n/8))
	return append(b, o.Data...), nil
}

// RouterPreference is the 2-bit signed Default Router Preference (Prf) of
// RFC 4191 §2.2 in an RA's flags.
type RouterPreference int8

// Router preferences. On the wire High is 01, Medium 00 and Low 11; the
// fourth value, 10, is reserved and RFC 4191 §2.2 has the receiver treat it
// as Medium, so it never appears in a parsed RouterAdvertisement.
const (
	RouterPreferenceLow    RouterPreference = -1
	RouterPreferenceMedium RouterPreference = 0
	RouterPreferenceHigh   RouterPreference = 1
)

// String returns "low", "medium", "high" or "RouterPreference(n)".
func (p RouterPreference) String() string {
	switch p {
	case RouterPreferenceLow:
		return "low"
	case RouterPreferenceMedium:
		return "medium"
	case RouterPreferenceHigh:
		return "high"
	}
	return "RouterPreference(" + strconv.Itoa(int(p)) + ")"
}

// raLen is the fixed part of a Router Advertisement, ICMPv6 header
// included (RFC 4861 §4.2).
const raLen = 16

// RouterAdvertisement is an ICMPv6 Router Advertisement (RFC 4861 §4.2, type
// 134) with the Home Agent flag of RFC 6275 §7.1:
//
//	|     Type      |     Code      |          Checksum             |
//	| Cur Hop Limit |M|O|H|Prf|P|R|R|       Router Lifetime         |
//	|                         Reachable Time                        |
//	|                          Retrans Timer                        |
//	|   Options ...
type RouterAdvertisement struct {
	// CurHopLimit is the hop limit hosts should use; 0 means unspecified.
	CurHopLimit uint8
	// Managed (M) and Other (O) point hosts to DHCPv6 (RFC 4861 §4.2).
	Managed, Other bool
	// HomeAgent is the H flag (RFC 6275 §7.1): the router is also a home
	// agent on this link.
	HomeAgent bool
	// Preference is the Default Router Preference of RFC 4191 §2.2. With a
	// Router Lifetime of 0 the sender MUST send Medium and the receiver
	// ignores the field, so Parse reports Medium and Marshal requires it.
	Preference RouterPreference
	// Proxy is the P flag of RFC 4389 §4.1 (ND proxy).
	Proxy bool
	// RouterLifetime is in whole seconds on the wire, 16 bits; 0 means the
	// router is not a default router.
	RouterLifetime time.Duration
	// ReachableTime and RetransTimer are in whole milliseconds on the wire,
	// 32 bits; 0 means unspecified.
	ReachableTime, RetransTimer time.Duration
	// Options are the ND options in order. RFC 6275 §7 adds Prefix
	// Information with the R flag, Advertisement Interval and Home Agent
	// Information; anything unknown is kept raw.
	Options []NDOption
}

// ICMPType returns 134.
func (*RouterAdvertisement) ICMPType() uint8 { return ICMPRouterAdvertisement }

// ParseRouterAdvertisement parses the Router Advertisement b, which starts
// at the ICMPv6 Type octet and holds the whole ICMPv6 message. It requires
// Type 134 and Code 0 (RFC 4861 §6.1.2 has a host silently discard an RA
// with another code) and well-formed options. It does not check the
// checksum (VerifyICMPChecksum needs the addresses) nor the rules that
// depend on the IP header (hop limit 255, link-local source).
func ParseRouterAdvertisement(b []byte) (*RouterAdvertisement, error) {
	if len(b) < raLen {
		return nil, errorf(ErrTruncated, "Router Advertisement: %d octets, want at least %d", len(b), raLen)
	}
	if b[0] != ICMPRouterAdvertisement {
		return nil, errorf(ErrType, "ICMPv6 type %d, want Router Advertisement (134)", b[0])
	}
	if b[1] != 0 {
		return nil, errorf(ErrInvalid, "Router Advertisement: code %d (RFC 4861 §6.1.2)", b[1])
	}
	f := b[5]
	ra := &RouterAdvertisement{
		CurHopLimit:    b[4],
		Managed:        f&0x80 != 0,
		Other:          f&0x40 != 0,
		HomeAgent:      f&0x20 != 0,
		Proxy:          f&0x04 != 0,
		RouterLifetime: time.Duration(binary.BigEndian.Uint16(b[6:8])) * time.Second,
		ReachableTime:  time.Duration(binary.BigEndian.Uint32(b[8:12])) * time.Millisecond,
		RetransTimer:   time.Duration(binary.BigEndian.Uint32(b[12:16])) * time.Millisecond,
	}
	// Prf is bits 3-4 of the flags octet (RFC 4191 §2.2). The reserved value
	// 10 reads as Medium (00), as does anything under a zero Router
	// Lifetime, which the receiver MUST ignore. The two low bits are
	// reserved and ignored.
	switch (f >> 3) & 3 {
	case 1:
		ra.Preference = RouterPreferenceHigh
	case 3:
		ra.Preference = RouterPreferenceLow
	}
	if ra.RouterLifetime == 0 {
		ra.Preference = RouterPreferenceMedium
	}
	opts, err := ParseNDOptions(b[raLen:])
	if err != nil {
		return nil, err
	}
	ra.Options = opts
	return ra, nil
}

func (ra *RouterAdvertisement) appendICMP(b []byte) ([]byte, error) {
	if ra == nil {
		return b, errorf(ErrInvalid, "nil *RouterAdvertisement")
	}
	life, err := ndUnits("Router Lifetime", ra.RouterLifetime, time.Second, 0xffff)
	if err != nil {
		return b, err
	}
	reach, err := ndUnits("Reachable Time", ra.ReachableTime, time.Millisecond, 0xffffffff)
	if err != nil {
		return b, err
	}
	retrans, err := ndUnits("Retrans Timer", ra.RetransTimer, time.Millisecond, 0xffffffff)
	if err != nil {
		return b, err
	}
	var prf byte
	switch ra.Preference {
	case RouterPreferenceHigh:
		prf = 1
	case RouterPreferenceMedium:
		prf = 0
	case RouterPreferenceLow:
		prf = 3
	default:
		return b, errorf(ErrInvalid, "Router Advertisement: preference %v", ra.Preference)
	}
	if life == 0 && prf != 0 {
		return b, errorf(ErrInvalid, "Router Advertisement: preference %v with Router Lifetime 0 (RFC 4191 §2.2: MUST be medium)", ra.Preference)
	}
	f := prf << 3
	if ra.Managed {
		f |= 0x80
	}
	if ra.Other {
		f |= 0x40
	}
	if ra.HomeAgent {
		f |= 0x20
	}
	if ra.Proxy {
		f |= 0x04
	}
	b = append(b, ICMPRouterAdvertisement, 0, 0, 0, ra.CurHopLimit, f)
	b = binary.BigEndian.AppendUint16(b, uint16(life))
	b = binary.BigEndian.AppendUint32(b, uint32(reach))
	b = binary.BigEndian.AppendUint32(b, uint32(retrans))
	return AppendNDOptions(b, ra.Options)
}
