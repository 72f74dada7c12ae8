package mip6

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strconv"
	"time"
)

// This file holds the mobility options of RFC 6275 §6.2 and of the
// extensions the suite speaks (RFC 3963, 4283, 4285, 5555, 5648/6089).
//
// Every option is a TLV: Type (8 bits), Length (8 bits, the length of the
// data, "not including the Option Type and Option Length fields", §6.2.1),
// then the data. Pad1 is the one exception: a single zero octet.
//
// Alignment (§6.2: "xn + y" means the Type octet sits y octets past a
// multiple of x, counted from the start of the Mobility Header) is a rule
// for senders. The RFC never tells a receiver to drop a misaligned option,
// and not every sender gets it right: a tool that builds an option it has
// no class for, as scapy does for the RFC 5555 and 5648 options (its
// MIP6OptUnknown has no alignment), cannot align it. So parsing accepts
// options at any offset and only the encoder enforces alignment: it
// inserts the padding itself, so a caller cannot produce a misaligned
// option at all.
//
// Parsing is strict about everything else, and Marshal checks exactly what
// Parse checks: lengths where the RFC fixes them, address families and
// kinds, prefix lengths, field ranges. So any value Parse returns marshals,
// and marshal(parse(x)) parses to the same value. Unassigned bits and
// reserved fields are ignored on receipt and sent as zero.
//
// Which options may appear in which message is a processing rule, not a
// syntax rule (§6.2.1: a receiver skips options it does not expect), so the
// codec keeps whatever the sender put in, in order, and unknown types come
// back as RawOption, never lost.

// MobilityOption is a mobility option (RFC 6275 §6.2). The set is closed:
// *BindingRefreshAdvice, *AlternateCareofAddress, *NonceIndices,
// *BindingAuthorizationData, *MobileNetworkPrefix, *MNIdentifier,
// *Authentication, *ReplayProtection, *IPv4HomeAddress, *IPv4AddressAck,
// *NATDetection, *IPv4CareofAddress, *BindingIdentifier, and *RawOption
// for every other type. Pad1 and PadN are not values: the parser consumes
// them and the encoder writes them where alignment needs them.
type MobilityOption interface {
	// OptionType returns the option's Type octet.
	OptionType() OptionType

	// validate checks every field against what the RFC allows.
	validate() error
	// dataLen is the Option Length octet; valid once validate succeeded.
	dataLen() int
	// appendData appends the option data (after Type and Length).
	appendData(b []byte) []byte
	// alignment returns the xn+y rule for the Type octet; x <= 1 means
	// no requirement.
	alignment() (x, y int)
}

// maxOptionData is the largest Option Length: the field is one octet.
const maxOptionData = 0xff

// String returns the option's name as this package spells its type
// (BindingRefreshAdvice, ...), or "option(n)" for a type it does not model.
func (t OptionType) String() string {
	switch t {
	case OptPad1:
		return "Pad1"
	case OptPadN:
		return "PadN"
	case OptBindingRefreshAdvice:
		return "BindingRefreshAdvice"
	case OptAlternateCareofAddress:
		return "AlternateCareofAddress"
	case OptNonceIndices:
		return "NonceIndices"
	case OptBindingAuthData:
		return "BindingAuthorizationData"
	case OptMobileNetworkPrefix:
		return "MobileNetworkPrefix"
	case OptMNIdentifier:
		return "MNIdentifier"
	case OptAuthentication:
		return "Authentication"
	case OptReplayProtection:
		return "ReplayProtection"
	case OptIPv4HomeAddress:
		return "IPv4HomeAddress"
	case OptIPv4AddressAck:
		return "IPv4AddressAck"
	case OptNATDetection:
		return "NATDetection"
	case OptIPv4CareofAddress:
		return "IPv4CareofAddress"
	case OptBindingIdentifier:
		return "BindingIdentifier"
	}
	return "option(" + strconv.Itoa(int(t)) + ")"
}

// knownOption reports whether t is a type this package parses into its own
// struct (or consumes, for the two paddings): a RawOption must not carry
// one, or it would come back from the parser as something else.
func knownOption(t OptionType) bool {
	switch t {
	case OptPad1, OptPadN, OptBindingRefreshAdvice, OptAlternateCareofAddress,
		OptNonceIndices, OptBindingAuthData, OptMobileNetworkPrefix, OptMNIdentifier,
		OptAuthentication, OptReplayProtection, OptIPv4HomeAddress, OptIPv4AddressAck,
		OptNATDetection, OptIPv4CareofAddress, OptBindingIdentifier:
		return true
	}
	return false
}

// BindingRefreshAdvice is the Binding Refresh Advice option (RFC 6275
// §6.2.4, type 2, length 2, alignment 2n): in a Binding Acknowledgement, the
// interval after which the home agent wants the mobile node to refresh.
//
//	|     Type = 2  |   Length = 2  |
//	|       Refresh Interval        |
type BindingRefreshAdvice struct {
	// RefreshInterval travels in units of 4 seconds (LifetimeUnit): it
	// must be a non-negative multiple of 4 s, at most 65535 units.
	RefreshInterval time.Duration
}

// AlternateCareofAddress is the Alternate Care-of Address option (RFC 6275
// §6.2.5, type 3, length 16, alignment 8n+6, which puts the address on an
// 8-octet boundary): in a Binding Update, the care-of address to register
// instead of the packet's source address.
//
//	|     Type = 3  |  Length = 16  |
//	|                 Alternate Care-of Address (128 bits)          |
type AlternateCareofAddress struct {
	// Address is the care-of address. §6.2.5 makes it an address the
	// binding can route to, so Parse and Marshal reject the unspecified,
	// loopback, multicast, link-local and IPv4-mapped addresses with
	// ErrAddress (and an IPv4 or zoned value on Marshal).
	Address netip.Addr
}

// NonceIndices is the Nonce Indices option (RFC 6275 §6.2.6, type 4, length
// 4, alignment 2n): in a Binding Update to a correspondent node, which home
// and care-of nonces the return routability keys came from.
//
//	|     Type = 4  |   Length = 4  |
//	|       Home Nonce Index        |     Care-of Nonce Index       |
type NonceIndices struct {
	HomeNonceIndex   uint16 // from the Home Test (§6.1.5)
	CareofNonceIndex uint16 // from the Care-of Test (§6.1.6)
}

// BindingAuthorizationData is the Binding Authorization Data option (RFC
// 6275 §6.2.7, type 5, alignment 8n+2): the 96-bit authenticator of a
// Binding Update or Acknowledgement exchanged with a correspondent node.
// §5.2.6 makes the authenticator First(96, HMAC_SHA1(Kbm, ...)), so the
// length is exactly 12 (scapy's default of 16 is wrong and is rejected).
// Package binding computes it; AuthenticatorOffset finds where it goes.
//
//	|     Type = 5  | Option Length |
//	|                         Authenticator                         |
type BindingAuthorizationData struct {
	Authenticator [AuthenticatorLen]byte
}

// MobileNetworkPrefix is the Mobile Network Prefix option of NEMO (RFC 3963
// §4.3, type 6, length 18, alignment 8n+4, which puts the prefix on an
// 8-octet boundary): a prefix a mobile router registers or is given.
//
//	|     Type      |    Length     |   Reserved    | Prefix Length |
//	|                    Mobile Network Prefix (128 bits)           |
type MobileNetworkPrefix struct {
	// Prefix is an IPv6 prefix of length 1 to 128. Its address is kept as
	// sent, host bits included.
	Prefix netip.Prefix
}

// MNIDSubtype is the Subtype of the Mobile Node Identifier option (RFC 4283
// §3, IANA "Mobile Node Identifier Option Subtypes").
type MNIDSubtype uint8

// MNIDSubtypeNAI says the identifier is a Network Access Identifier (RFC
// 4283 §3, RFC 4282).
const MNIDSubtypeNAI MNIDSubtype = 1

// MNIdentifier is the Mobile Node Identifier option (RFC 4283 §3, type 8, no
// alignment requirement): the mobile node's identity, in practice a NAI, the
// key RFC 4285 uses to find the security association.
//
//	|  Option Type  | Option Length |
//	|  Subtype      |          Identifier ...
type MNIdentifier struct {
	Subtype MNIDSubtype
	// Identifier is 1 to 254 octets: the Option Length counts the
	// Subtype octet too, and an empty identifier identifies no one.
	Identifier []byte
}

// MNIdentifierNAI returns the option carrying nai as a NAI (subtype 1).
func MNIdentifierNAI(nai string) *MNIdentifier {
	return &MNIdentifier{Subtype: MNIDSubtypeNAI, Identifier: []byte(nai)}
}

// NAI returns the identifier as a string and true when the subtype is NAI.
func (o *MNIdentifier) NAI() (string, bool) {
	if o.Subtype != MNIDSubtypeNAI {
		return "", false
	}
	return string(o.Identifier), true
}

// AuthSubtype is the Subtype of the Mobility Message Authentication option
// (RFC 4285 §5).
type AuthSubtype uint8

// Authentication option subtypes (RFC 4285 §5.1, §5.2).
const (
	AuthSubtypeMNHA  AuthSubtype = 1 // MN-HA: keyed between mobile node and home agent
	AuthSubtypeMNAAA AuthSubtype = 2 // MN-AAA: checked by the AAA server
)

// Authentication is the Mobility Message Authentication option (RFC 4285
// §5, type 9, alignment 4n+1, which puts the SPI on a 4-octet boundary).
//
//	                |  Option Type  | Option Length |  Subtype      |
//	|                  Mobility SPI                                 |
//	|                  Authentication Data ....
//
// RFC 4285 §5 makes it the last option of the message: the authenticator
// covers the header up to and including the SPI, so whatever followed it
// would travel unauthenticated. Both Parse and Marshal therefore refuse
// (ErrInvalid) any option after an Authentication option other than
// another Authentication option: §5 asks for it to be last "if it is the
// only mobility message authentication option", which leaves room for an
// MN-HA option followed by an MN-AAA one. Padding after it is accepted on
// receipt (it carries nothing) but never sent: the encoder puts all padding
// before the last Authentication option, choosing its start so that it
// ends the header exactly on an 8-octet boundary. That start is also 4n+1
// when the Authentication Data is a multiple of 4 octets (12 for
// HMAC_SHA1_96); for other lengths the two rules cannot both hold and the
// end of the header wins, since it is what makes the option last.
//
// To send one, put alg.Size() zero octets in Data, marshal, then let
// package binding write the authenticator at AuthenticatorOffset.
type Authentication struct {
	Subtype AuthSubtype
	// SPI is the Mobility SPI, the index of the security association.
	SPI uint32
	// Data is the Authentication Data: Option Length - 5 octets.
	Data []byte
}

// ReplayProtection is the Mobility Message Replay Protection option, also
// called Mesg-ID (RFC 4285 §6, type 10, length 8, alignment 8n+2).
//
//	|  Option Type  | Option Length |
//	|                          Timestamp (64 bits)                  |
type ReplayProtection struct {
	// Timestamp is in NTP format (RFC 5905 §6): seconds since 1900-01-01
	// UTC in the high 32 bits, fractions of 2^-32 s in the low 32.
	Timestamp uint64
}

// ntpEpochOffset is the number of seconds from 1900-01-01 to 1970-01-01:
// 70 years of which 17 are leap years.
const ntpEpochOffset = (70*365 + 17) * 86400

// ReplayProtectionAt returns the option whose timestamp is t, rounded to
// the nearest 2^-32 s.
func ReplayProtectionAt(t time.Time) *ReplayProtection {
	secs := uint32(t.Unix() + ntpEpochOffset) // wraps into the NTP era
	// Nanosecond() < 1e9, so the rounded fraction stays below 2^32.
	frac := (uint64(t.Nanosecond())<<32 + 5e8) / 1e9
	return &ReplayProtection{Timestamp: uint64(secs)<<32 | frac}
}

// Time returns the instant of the timestamp in UTC. The 32-bit seconds wrap
// in 2036; as RFC 4330 §3 suggests, a value with the top bit clear is read
// in era 1 (from 2036-02-07), so timestamps cover 1968 to 2104.
func (o *ReplayProtection) Time() time.Time {
	secs := int64(o.Timestamp >> 32)
	if secs < 1<<31 {
		secs += 1 << 32
	}
	ns := (int64(uint32(o.Timestamp))*1e9 + 1<<31) >> 32 // may be 1e9: time.Unix carries
	return time.Unix(secs-ntpEpochOffset, ns).UTC()
}

// IPv4HomeAddress is the IPv4 Home Address option of Dual-Stack MIPv6 (RFC
// 5555 §3.1.1, type 29, length 6, alignment 4n): in a Binding Update, the
// IPv4 home address the mobile node has or asks for.
//
//	|     Type      |    Length     |Prefix-len |P|    Reserved     |
//	|                      IPv4 home address                        |
type IPv4HomeAddress struct {
	// PrefixLen is the 6-bit Prefix-len: the length of the prefix the
	// mobile node has or asks for, 32 for a single address. Values above
	// 32 mean nothing for IPv4 and are refused with ErrInvalid.
	PrefixLen uint8
	// RequestPrefix is the P flag: the mobile node asks for a mobile
	// network prefix.
	RequestPrefix bool
	// Address is the IPv4 home address; 0.0.0.0 asks the home agent to
	// assign one (§3.1.1).
	Address netip.Addr
}

// IPv4AddressAck is the IPv4 Address Acknowledgement option (RFC 5555
// §3.2.1, type 30, length 6, alignment 4n): the home agent's answer to an
// IPv4 Home Address option, in the Binding Acknowledgement.
//
//	|     Type      |   Length      |    Status     |Pref-len   |Res|
//	|                     IPv4 home address                         |
type IPv4AddressAck struct {
	Status IPv4AckStatus
	// PrefixLen is the 6-bit Pref-len, 0 to 32 (larger values are
	// refused with ErrInvalid). RFC 5555 §3.2.1 makes it meaningful only
	// with a success Status (below 128): with a failure it "MUST be set
	// to zero and ignored". So Parse ignores the wire value of a failure
	// and returns 0, whatever the sender put there, and Marshal refuses a
	// failure with a PrefixLen other than 0 (ErrInvalid).
	PrefixLen uint8
	// Address is the IPv4 home address granted.
	Address netip.Addr
}

// NATDetection is the NAT Detection option (RFC 5555 §3.2.2, type 31,
// length 6, alignment 4n): in a Binding Acknowledgement, the home agent's
// verdict that a NAT sits on the path.
//
//	|     Type      |   Length      |F|          Reserved           |
//	|                      Refresh time                             |
type NATDetection struct {
	// ForceUDP is the F flag: the mobile node must tunnel in UDP.
	ForceUDP bool
	// RefreshTime is the keepalive interval, carried in whole seconds
	// (32 bits): a non-negative multiple of a second, at most 2^32-1 s.
	RefreshTime time.Duration
}

// IPv4CareofAddress is the IPv4 Care-of Address option (RFC 5555 §3.1.2,
// type 32, length 6, alignment 4n): the IPv4 care-of address a mobile node
// registers from an IPv4-only network.
//
//	|   Type        |   Length      |         Reserved              |
//	|                     IPv4 Care-of address                      |
type IPv4CareofAddress struct {
	Address netip.Addr // an IPv4 address
}

// BindingIdentifier is the Binding Identifier option of multiple care-of
// address registration (RFC 5648 §6.1, type 35; the BID-PRI field is RFC
// 6089's), length 4, 8 or 20:
//
//	                                |   Type = 35   |     Length    |
//	|       Binding ID (BID)        |     Status    |H|   BID-PRI   |
//	:                 IPv4 or IPv6 care-of address (CoA)            :
//
// Alignment: 2n without a care-of address, 8n+2 with one, which puts the
// address on an 8-octet boundary.
type BindingIdentifier struct {
	BID uint16
	// Status overrides the Binding Acknowledgement's status for this BID.
	Status Status
	// SimultaneousHome is the H flag: bindings at home and away at once.
	SimultaneousHome bool
	// Priority is the 7-bit BID-PRI of RFC 6089 §4.1 (0 when the sender
	// follows RFC 5648 alone); 0 to 127.
	Priority uint8
	// CareofAddress is optional: the zero Addr sends none (length 4), an
	// IPv4 address gives length 8, an IPv6 one length 20.
	CareofAddress netip.Addr
}

// RawOption is a mobility option this package does not model, kept as sent
// (§6.2.1 asks receivers to skip such options, not to lose them). Type must
// not be one the package models, nor Pad1 or PadN.
type RawOption struct {
	Type OptionType
	Data []byte // at most 255 octets
}

// OptionType returns 2.
func (*BindingRefreshAdvice) OptionType() OptionType { return OptBindingRefreshAdvice }

// OptionType returns 3.
func (*AlternateCareofAddress) OptionType() OptionType { return OptAlternateCareofAddress }

// OptionType returns 4.
func (*NonceIndices) OptionType() OptionType { return OptNonceIndices }

// OptionType returns 5.
func (*BindingAuthorizationData) OptionType() OptionType { return OptBindingAuthData }

// OptionType returns 6.
func (*MobileNetworkPrefix) OptionType() OptionType { return OptMobileNetworkPrefix }

// OptionType returns 8.
func (*MNIdentifier) OptionType() OptionType { return OptMNIdentifier }

// OptionType returns 9.
func (*Authentication) OptionType() OptionType { return OptAuthentication }

// OptionType returns 10.
func (*ReplayProtection) OptionType() OptionType { return OptReplayProtection }

// OptionType returns 29.
func (*IPv4HomeAddress) OptionType() OptionType { return OptIPv4HomeAddress }

// OptionType returns 30.
func (*IPv4AddressAck) OptionType() OptionType { return OptIPv4AddressAck }

// OptionType returns 31.
func (*NATDetection) OptionType() OptionType { return OptNATDetection }

// OptionType returns 32.
func (*IPv4CareofAddress) OptionType() OptionType { return OptIPv4CareofAddress }

// OptionType returns 35.
func (*BindingIdentifier) OptionType() OptionType { return OptBindingIdentifier }

// OptionType returns the raw type.
func (o *RawOption) OptionType() OptionType { return o.Type }

// Alignment rules, each from the RFC section the type doc cites.
func (*BindingRefreshAdvice) alignment() (int, int)     { return 2, 0 }
func (*AlternateCareofAddress) alignment() (int, int)   { return 8, 6 }
func (*NonceIndices) alignment() (int, int)             { return 2, 0 }
func (*BindingAuthorizationData) alignment() (int, int) { return 8, 2 }
func (*MobileNetworkPrefix) alignment() (int, int)      { return 8, 4 }
func (*MNIdentifier) alignment() (int, int)             { return 0, 0 } // RFC 4283 §3: none
func (*Authentication) alignment() (int, int)           { return 4, 1 }
func (*ReplayProtection) alignment() (int, int)         { return 8, 2 }
func (*IPv4HomeAddress) alignment() (int, int)          { return 4, 0 }
func (*IPv4AddressAck) alignment() (int, int)           { return 4, 0 }
func (*NATDetection) alignment() (int, int)             { return 4, 0 }
func (*IPv4CareofAddress) alignment() (int, int)        { return 4, 0 }
func (*RawOption) alignment() (int, int)                { return 0, 0 } // unknown: none we can know

func (o *BindingIdentifier) alignment() (int, int) {
	if o.CareofAddress.IsValid() {
		return 8, 2
	}
	return 2, 0
}

// Option data lengths fixed by the RFCs.
const (
	braLen     = 2
	altCoALen  = 16
	nonceLen   = 4
	mnpLen     = 18
	mesgIDLen  = 8
	ipv4OptLen = 6 // all four RFC 5555 options
	bidLen     = 4 // without a care-of address
	authFixed  = 5 // Subtype and SPI
)

func (*BindingRefreshAdvice) dataLen() int     { return braLen }
func (*AlternateCareofAddress) dataLen() int   { return altCoALen }
func (*NonceIndices) dataLen() int             { return nonceLen }
func (*BindingAuthorizationData) dataLen() int { return AuthenticatorLen }
func (*MobileNetworkPrefix) dataLen() int      { return mnpLen }
func (o *MNIdentifier) dataLen() int           { return 1 + len(o.Identifier) }
func (o *Authentication) dataLen() int         { return authFixed + len(o.Data) }
func (*ReplayProtection) dataLen() int         { return mesgIDLen }
func (*IPv4HomeAddress) dataLen() int          { return ipv4OptLen }
func (*IPv4AddressAck) dataLen() int           { return ipv4OptLen }
func (*NATDetection) dataLen() int             { return ipv4OptLen }
func (*IPv4CareofAddress) dataLen() int        { return ipv4OptLen }
func (o *RawOption) dataLen() int              { return len(o.Data) }

func (o *BindingIdentifier) dataLen() int {
	switch {
	case o.CareofAddress.Is4():
		return bidLen + 4
	case o.CareofAddress.Is6():
		return bidLen + 16
	}
	return bidLen
}

// checkRoutable6 is the test for an address a binding routes to (§6.2.5:
// a care-of address): a global-scope unicast IPv6 address in its 16-octet
// form.
func checkRoutable6(what string, a netip.Addr) error {
	switch {
	case !a.Is6() || a.Is4In6():
		return errorf(ErrAddress, "%s %v is not an IPv6 address", what, a)
	case a.Zone() != "":
		return errorf(ErrAddress, "%s %v has a zone, which the wire cannot carry", what, a)
	case a.IsUnspecified(), a.IsLoopback(), a.IsMulticast(), a.IsLinkLocalUnicast():
		return errorf(ErrAddress, "%s %v is not a routable unicast address", what, a)
	}
	return nil
}

// check6 accepts any IPv6 address in its 16-octet form: what a 16-octet
// field can hold, and nothing it cannot (IPv4, a zone).
func check6(what string, a netip.Addr) error {
	if !a.Is6() || a.Zone() != "" {
		return errorf(ErrAddress, "%s %v is not a 16-octet IPv6 address", what, a)
	}
	return nil
}

func check4(what string, a netip.Addr) error {
	if !a.Is4() {
		return errorf(ErrAddress, "%s %v is not an IPv4 address", what, a)
	}
	return nil
}

// durationUnits converts d to a count of unit, refusing what the field
// cannot carry exactly.
func durationUnits(what string, d, unit time.Duration, max uint64) (uint64, error) {
	if d < 0 || d%unit != 0 || uint64(d/unit) > max {
		return 0, errorf(ErrInvalid, "%s %v is not a multiple of %v between 0 and %v", what, d, unit,
			time.Duration(max)*unit)
	}
	return uint64(d / unit), nil
}

func (o *BindingRefreshAdvice) validate() error {
	_, err := durationUnits("Binding Refresh Advice interval", o.RefreshInterval, LifetimeUnit, 0xffff)
	return err
}

func (o *AlternateCareofAddress) validate() error {
	return checkRoutable6("Alternate Care-of Address", o.Address)
}

func (*NonceIndices) validate() error             { return nil }
func (*BindingAuthorizationData) validate() error { return nil }
func (*ReplayProtection) validate() error         { return nil }

func (o *MobileNetworkPrefix) validate() error {
	if !o.Prefix.IsValid() {
		return errorf(ErrInvalid, "Mobile Network Prefix %v is not a valid prefix", o.Prefix)
	}
	if err := check6("Mobile Network Prefix", o.Prefix.Addr()); err != nil {
		return err
	}
	// RFC 3963 §4.3: a zero length names no network.
	if o.Prefix.Bits() < 1 {
		return errorf(ErrInvalid, "Mobile Network Prefix length %d, want 1 to 128", o.Prefix.Bits())
	}
	return nil
}

func (o *MNIdentifier) validate() error {
	if len(o.Identifier) == 0 || len(o.Identifier) > maxOptionData-1 {
		return errorf(ErrLength, "MN Identifier of %d octets, want 1 to %d", len(o.Identifier), maxOptionData-1)
	}
	return nil
}

func (o *Authentication) validate() error {
	if len(o.Data) > maxOptionData-authFixed {
		return errorf(ErrLength, "Authentication Data of %d octets, want at most %d", len(o.Data), maxOptionData-authFixed)
	}
	return nil
}

func checkIPv4PrefixLen(what string, n uint8) error {
	if n > 32 {
		return errorf(ErrInvalid, "%s prefix length %d, want 0 to 32", what, n)
	}
	return nil
}

func (o *IPv4HomeAddress) validate() error {
	// RFC 5555 §3.1.1: "A value of zero is invalid and MUST be considered
	// an error" (32 for a single address).
	if o.PrefixLen == 0 {
		return errorf(ErrInvalid, "IPv4 Home Address Prefix-len 0 (RFC 5555 §3.1.1)")
	}
	if err := checkIPv4PrefixLen("IPv4 Home Address", o.PrefixLen); err != nil {
		return err
	}
	return check4("IPv4 home address", o.Address)
}

// ipv4AckFailed reports whether s is a failure: RFC 5555 §3.2.1, values
// from 128 on.
func ipv4AckFailed(s IPv4AckStatus) bool { return s >= 128 }

func (o *IPv4AddressAck) validate() error {
	if ipv4AckFailed(o.Status) && o.PrefixLen != 0 {
		return errorf(ErrInvalid, "IPv4 Address Acknowledgement with failure status %d and Pref-len %d: RFC 5555 §3.2.1 wants 0", o.Status, o.PrefixLen)
	}
	if err := checkIPv4PrefixLen("IPv4 Address Acknowledgement", o.PrefixLen); err != nil {
		return err
	}
	return check4("IPv4 Address Acknowledgement home address", o.Address)
}

func (o *NATDetection) validate() error {
	_, err := durationUnits("NAT Detection refresh time", o.RefreshTime, time.Second, 0xffffffff)
	return err
}

func (o *IPv4CareofAddress) validate() error { return check4("IPv4 care-of address", o.Address) }

func (o *BindingIdentifier) validate() error {
	if o.Priority > 0x7f {
		return errorf(ErrInvalid, "Binding Identifier BID-PRI %d, want 0 to 127", o.Priority)
	}
	if a := o.CareofAddress; a.IsValid() && !a.Is4() {
		return check6("Binding Identifier care-of address", a)
	}
	return nil
}

func (o *RawOption) validate() error {
	if knownOption(o.Type) {
		return errorf(ErrType, "RawOption with type %d (%v), which has its own struct or is padding", o.Type, o.Type)
	}
	if len(o.Data) > maxOptionData {
		return errorf(ErrLength, "option %d with %d octets of data, want at most %d", o.Type, len(o.Data), maxOptionData)
	}
	return nil
}

func (o *BindingRefreshAdvice) appendData(b []byte) []byte {
	return binary.BigEndian.AppendUint16(b, uint16(o.RefreshInterval/LifetimeUnit))
}

func (o *AlternateCareofAddress) appendData(b []byte) []byte {
	a := o.Address.As16()
	return append(b, a[:]...)
}

func (o *NonceIndices) appendData(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, o.HomeNonceIndex)
	return binary.BigEndian.AppendUint16(b, o.CareofNonceIndex)
}

func (o *BindingAuthorizationData) appendData(b []byte) []byte {
	return append(b, o.Authenticator[:]...)
}

func (o *MobileNetworkPrefix) appendData(b []byte) []byte {
	a := o.Prefix.Addr().As16()
	b = append(b, 0, byte(o.Prefix.Bits())) // Reserved, Prefix Length
	return append(b, a[:]...)
}

func (o *MNIdentifier) appendData(b []byte) []byte {
	return append(append(b, byte(o.Subtype)), o.Identifier...)
}

func (o *Authentication) appendData(b []byte) []byte {
	b = append(b, byte(o.Subtype))
	b = binary.BigEndian.AppendUint32(b, o.SPI)
	return append(b, o.Data...)
}

func (o *ReplayProtection) appendData(b []byte) []byte {
	return binary.BigEndian.AppendUint64(b, o.Timestamp)
}

func (o *IPv4HomeAddress) appendData(b []byte) []byte {
	// Prefix-len in the top 6 bits, P next, 9 reserved bits.
	v := uint16(o.PrefixLen) << 10
	if o.RequestPrefix {
		v |= 1 << 9
	}
	b = binary.BigEndian.AppendUint16(b, v)
	a := o.Address.As4()
	return append(b, a[:]...)
}

func (o *IPv4AddressAck) appendData(b []byte) []byte {
	b = append(b, byte(o.Status), o.PrefixLen<<2) // Pref-len in the top 6 bits
	a := o.Address.As4()
	return append(b, a[:]...)
}

func (o *NATDetection) appendData(b []byte) []byte {
	var f uint16
	if o.ForceUDP {
		f = 1 << 15
	}
	b = binary.BigEndian.AppendUint16(b, f)
	return binary.BigEndian.AppendUint32(b, uint32(o.RefreshTime/time.Second))
}

func (o *IPv4CareofAddress) appendData(b []byte) []byte {
	a := o.Address.As4()
	return append(append(b, 0, 0), a[:]...)
}

func (o *BindingIdentifier) appendData(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, o.BID)
	f := o.Priority
	if o.SimultaneousHome {
		f |= 0x80
	}
	b = append(b, byte(o.Status), f)
	switch {
	case o.CareofAddress.Is4():
		a := o.CareofAddress.As4()
		b = append(b, a[:]...)
	case o.CareofAddress.Is6():
		a := o.CareofAddress.As16()
		b = append(b, a[:]...)
	}
	return b
}

func (o *RawOption) appendData(b []byte) []byte { return append(b, o.Data...) }

// parseOption decodes the data of one option of type t (not padding).
func parseOption(t OptionType, d []byte) (MobilityOption, error) {
	fixed := func(want int) error {
		if len(d) != want {
			return errorf(ErrLength, "%v option of length %d, want %d", t, len(d), want)
		}
		return nil
	}
	var o MobilityOption
	switch t {
	case OptBindingRefreshAdvice:
		if err := fixed(braLen); err != nil {
			return nil, err
		}
		o = &BindingRefreshAdvice{RefreshInterval: time.Duration(binary.BigEndian.Uint16(d)) * LifetimeUnit}
	case OptAlternateCareofAddress:
		if err := fixed(altCoALen); err != nil {
			return nil, err
		}
		o = &AlternateCareofAddress{Address: netip.AddrFrom16([16]byte(d))}
	case OptNonceIndices:
		if err := fixed(nonceLen); err != nil {
			return nil, err
		}
		o = &NonceIndices{HomeNonceIndex: binary.BigEndian.Uint16(d), CareofNonceIndex: binary.BigEndian.Uint16(d[2:])}
	case OptBindingAuthData:
		if err := fixed(AuthenticatorLen); err != nil {
			return nil, err
		}
		o = &BindingAuthorizationData{Authenticator: [AuthenticatorLen]byte(d)}
	case OptMobileNetworkPrefix:
		if err := fixed(mnpLen); err != nil {
			return nil, err
		}
		if d[1] > 128 {
			return nil, errorf(ErrInvalid, "Mobile Network Prefix length %d, want 1 to 128", d[1])
		}
		o = &MobileNetworkPrefix{Prefix: netip.PrefixFrom(netip.AddrFrom16([16]byte(d[2:])), int(d[1]))}
	case OptMNIdentifier:
		if len(d) < 2 {
			return nil, errorf(ErrLength, "MN Identifier option of length %d, want at least 2", len(d))
		}
		o = &MNIdentifier{Subtype: MNIDSubtype(d[0]), Identifier: bytes.Clone(d[1:])}
	case OptAuthentication:
		if len(d) < authFixed {
			return nil, errorf(ErrLength, "Authentication option of length %d, want at least %d", len(d), authFixed)
		}
		o = &Authentication{Subtype: AuthSubtype(d[0]), SPI: binary.BigEndian.Uint32(d[1:]), Data: bytes.Clone(d[authFixed:])}
	case OptReplayProtection:
		if err := fixed(mesgIDLen); err != nil {
			return nil, err
		}
		o = &ReplayProtection{Timestamp: binary.BigEndian.Uint64(d)}
	case OptIPv4HomeAddress:
		if err := fixed(ipv4OptLen); err != nil {
			return nil, err
		}
		o = &IPv4HomeAddress{PrefixLen: d[0] >> 2, RequestPrefix: d[0]&0x02 != 0,
			Address: netip.AddrFrom4([4]byte(d[2:]))}
	case OptIPv4AddressAck:
		if err := fixed(ipv4OptLen); err != nil {
			return nil, err
		}
		ack := &IPv4AddressAck{Status: IPv4AckStatus(d[0]), PrefixLen: d[1] >> 2, Address: netip.AddrFrom4([4]byte(d[2:]))}
		if ipv4AckFailed(ack.Status) {
			// RFC 5555 §3.2.1: Pref-len is ignored with a failure, so
			// a bad one (above 32, or the requested length echoed) is
			// no reason to drop the Binding Acknowledgement.
			ack.PrefixLen = 0
		}
		o = ack
	case OptNATDetection:
		if err := fixed(ipv4OptLen); err != nil {
			return nil, err
		}
		o = &NATDetection{ForceUDP: d[0]&0x80 != 0,
			RefreshTime: time.Duration(binary.BigEndian.Uint32(d[2:])) * time.Second}
	case OptIPv4CareofAddress:
		if err := fixed(ipv4OptLen); err != nil {
			return nil, err
		}
		o = &IPv4CareofAddress{Address: netip.AddrFrom4([4]byte(d[2:]))}
	case OptBindingIdentifier:
		if n := len(d); n != bidLen && n != bidLen+4 && n != bidLen+16 {
			return nil, errorf(ErrLength, "Binding Identifier option of length %d, want 4, 8 or 20", n)
		}
		bid := &BindingIdentifier{BID: binary.BigEndian.Uint16(d), Status: Status(d[2]),
			SimultaneousHome: d[3]&0x80 != 0, Priority: d[3] & 0x7f}
		switch len(d) {
		case bidLen + 4:
			bid.CareofAddress = netip.AddrFrom4([4]byte(d[bidLen:]))
		case bidLen + 16:
			bid.CareofAddress = netip.AddrFrom16([16]byte(d[bidLen:]))
		}
		o = bid
	default:
		return &RawOption{Type: t, Data: bytes.Clone(d)}, nil
	}
	// The same checks Marshal makes, so whatever parses marshals.
	if err := o.validate(); err != nil {
		return nil, err
	}
	return o, nil
}

// ParseMobilityOptions parses a run of mobility options, such as the tail
// of a Mobility Header after its fixed fields, into values in wire order.
// Pad1 and PadN are consumed (§6.2.2, §6.2.3: PadN content is ignored).
// The rules that depend on the message around the run are not checked:
// alignment (see the file comment) and the place of the Authentication
// option, which ParseMessage checks. An option running past the end of b
// is ErrTruncated.
func ParseMobilityOptions(b []byte) ([]MobilityOption, error) {
	return parseOptions(b, 0)
}

// parseOptions is ParseMobilityOptions for options starting base octets
// into the Mobility Header, which error messages report.
func parseOptions(b []byte, base int) ([]MobilityOption, error) {
	var opts []MobilityOption
	for i := 0; i < len(b); {
		t := OptionType(b[i])
		if t == OptPad1 {
			i++
			continue
		}
		if i+2 > len(b) {
			return nil, errorf(ErrTruncated, "option %d at offset %d has no Length octet", t, base+i)
		}
		end := i + 2 + int(b[i+1])
		if end > len(b) {
			return nil, errorf(ErrTruncated, "option %d at offset %d runs %d octets past the end", t, base+i, end-len(b))
		}
		if t != OptPadN {
			o, err := parseOption(t, b[i+2:end])
			if err != nil {
				return nil, errorf(err, "at offset %d", base+i)
			}
			opts = append(opts, o)
		}
		i = end
	}
	return opts, nil
}

// AppendMobilityOption appends one option, Type and Length included, with
// no padding around it: for building or checking a single option. Messages
// go through AppendMessage, which pads.
func AppendMobilityOption(b []byte, o MobilityOption) ([]byte, error) {
	if err := validateOption(o); err != nil {
		return nil, err
	}
	return appendOptionTLV(b, o), nil
}

// validateOption checks o, including for nil and the length octet.
func validateOption(o MobilityOption) error {
	if isNilOption(o) {
		return errorf(ErrInvalid, "nil mobility option")
	}
	if err := o.validate(); err != nil {
		return err
	}
	if n := o.dataLen(); n > maxOptionData {
		return errorf(ErrLength, "%v option with %d octets of data, want at most %d", o.OptionType(), n, maxOptionData)
	}
	return nil
}

func appendOptionTLV(b []byte, o MobilityOption) []byte {
	b = append(b, byte(o.OptionType()), byte(o.dataLen()))
	return o.appendData(b)
}

// isNilOption catches a nil interface and a typed nil pointer, either of
// which would otherwise panic in the encoder.
func isNilOption(o MobilityOption) bool {
	switch o := o.(type) {
	case nil:
		return true
	case *BindingRefreshAdvice:
		return o == nil
	case *AlternateCareofAddress:
		return o == nil
	case *NonceIndices:
		return o == nil
	case *BindingAuthorizationData:
		return o == nil
	case *MobileNetworkPrefix:
		return o == nil
	case *MNIdentifier:
		return o == nil
	case *Authentication:
		return o == nil
	case *ReplayProtection:
		return o == nil
	case *IPv4HomeAddress:
		return o == nil
	case *IPv4AddressAck:
		return o == nil
	case *NATDetection:
		return o == nil
	case *IPv4CareofAddress:
		return o == nil
	case *BindingIdentifier:
		return o == nil
	case *RawOption:
		return o == nil
	}
	return false
}

// checkAuthenticationLast enforces RFC 4285 §5 (see Authentication): no
// option but another Authentication option may follow one. Nil options are
// left to validateOption.
func checkAuthenticationLast(opts []MobilityOption) error {
	seen, bad := -1, -1
	for i, o := range opts {
		if isNilOption(o) {
			continue
		}
		if bad >= 0 {
			// RFC 6275 §6.2.7: "this option must be the last mobility
			// option" — its authenticator covers everything before it.
			return errorf(ErrInvalid, "%v option at index %d follows the Binding Authorization Data option at index %d: RFC 6275 §6.2.7 makes that the last option", o.OptionType(), i, bad)
		}
		if o.OptionType() == OptBindingAuthData {
			bad = i
			continue
		}
		switch {
		case o.OptionType() == OptAuthentication:
			if seen < 0 {
				seen = i
			}
		case seen >= 0:
			return errorf(ErrInvalid, "%v option at index %d follows the Authentication option at index %d: RFC 4285 §5 makes that the last option", o.OptionType(), i, seen)
		}
	}
	return nil
}

// appendPadding appends n octets of padding: nothing, one Pad1 (§6.2.2),
// or one PadN with n-2 zero octets of data (§6.2.3).
func appendPadding(b []byte, n int) []byte {
	switch {
	case n == 1:
		return append(b, byte(OptPad1))
	case n >= 2:
		b = append(b, byte(OptPadN), byte(n-2))
		for range n - 2 {
			b = append(b, 0)
		}
	}
	return b
}

// padTo returns how many octets to insert at offset off to reach the next
// offset of the form xn+y.
func padTo(off, x, y int) int {
	if x <= 1 {
		return 0
	}
	return ((y-off)%x + x) % x
}

// appendOptions appends opts to a Mobility Header that starts at b[start],
// each preceded by the least padding its alignment rule needs, then pads the
// header to a multiple of 8 octets (§6.1.1). The padding pattern is the
// canonical one: minimal, right before the option that needs it, and one
// Pad1 or PadN at the end.
func appendOptions(b []byte, start int, opts []MobilityOption) ([]byte, error) {
	if err := checkAuthenticationLast(opts); err != nil {
		return nil, err
	}
	for i, o := range opts {
		if err := validateOption(o); err != nil {
			return nil, errorf(err, "option %d", i)
		}
		x, y := placement(o, i == len(opts)-1)
		b = appendPadding(b, padTo(len(b)-start, x, y))
		b = appendOptionTLV(b, o)
	}
	return appendPadding(b, padTo(len(b)-start, 8, 0)), nil
}

// placement returns the xn+y rule the encoder places o by; last says o is
// the last option of the header.
func placement(o MobilityOption, last bool) (x, y int) {
	if o.OptionType() == OptAuthentication && last {
		// RFC 4285 §5: the last option ends the header, so the
		// authenticator covers everything before it. Start at -total mod
		// 8; with total = 3 mod 4 that is 4n+1 as well.
		return 8, (8 - (2+o.dataLen())%8) % 8
	}
	return o.alignment()
}

// encodedLen returns the length of the Mobility Header appendOptions
// builds from opts (valid options) after a fixed part of off octets,
// padding included, without building it.
func encodedLen(off int, opts []MobilityOption) int {
	for i, o := range opts {
		x, y := placement(o, i == len(opts)-1)
		off += padTo(off, x, y) + 2 + o.dataLen()
	}
	return off + padTo(off, 8, 0)
}
