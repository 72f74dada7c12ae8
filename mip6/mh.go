package mip6

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"time"
)

// This file holds the Mobility Header messages of RFC 6275 §6.1.
//
// Every message starts with the same 6 octets (§6.1.1):
//
//	| Payload Proto |  Header Len   |   MH Type     |   Reserved    |
//	|           Checksum            |                               |
//	|                         Message Data                          |
//
// Header Len counts 8-octet units after the first 8, so a header is 8 to
// 2048 octets long and always a multiple of 8; the encoder pads with Pad1
// and PadN options to get there (options.go).
//
// What ParseMessage checks, in the order of the receiver rules of §9.2
// (after the checksum, which it leaves to VerifyMHChecksum since it needs
// the IP addresses):
//
//  1. The buffer holds the Header Len octets (else ErrTruncated). Octets
//     after them are ignored: the Payload Proto is No Next Header, and RFC
//     8200 §4.7 says octets past a header whose next header is 59 "must be
//     ignored".
//  2. An MH Type other than 0–7 is not an error: it comes back as a
//     RawMessage, kept whole, for the caller to answer with a Binding Error
//     status 2 as §9.2 requires. That rule comes before the Payload Proto
//     rule in §9.2, so a RawMessage is returned whatever its Payload Proto.
//  3. Payload Proto must be 59 (IPPROTO_NONE): §9.2 says discard otherwise
//     and send ICMP Parameter Problem code 0 pointing at it. The error is an
//     *MHHeaderError with Pointer 0, wrapping ErrInvalid.
//  4. Header Len must not be shorter than the message type's fixed part:
//     same remedy, Pointer 1, wrapping ErrLength.
//  5. The options are well-formed (options.go), and nothing but another
//     Authentication option follows an Authentication option (RFC 4285
//     §5: it would not be authenticated). Alignment is not checked.

// mhFixedLen is the common part of every message: Payload Proto, Header
// Len, MH Type, Reserved, Checksum.
const mhFixedLen = 6

// MaxMHLen is the longest Mobility Header: Header Len 255.
const MaxMHLen = (0xff + 1) * 8

// MobilityMessage is a Mobility Header message. The set is closed:
// *BindingRefreshRequest, *HomeTestInit, *CareofTestInit, *HomeTest,
// *CareofTest, *BindingUpdate, *BindingAck, *BindingError, and *RawMessage
// for every other MH Type.
type MobilityMessage interface {
	// MHType returns the MH Type octet.
	MHType() MHType
	// appendBody appends the message data after the Checksum field,
	// options and padding included; start is the offset in b where the
	// header begins, for the alignment of options.
	appendBody(b []byte, start int) ([]byte, error)
}

// BindingRefreshRequest is the Binding Refresh Request (RFC 6275 §6.1.2,
// MH Type 0), which a correspondent node sends to ask for a fresh Binding
// Update.
//
//	|          Reserved             |  Mobility Options ...
type BindingRefreshRequest struct {
	Options []MobilityOption
}

// HomeTestInit is the Home Test Init message (RFC 6275 §6.1.3, MH Type 1),
// the mobile node's start of the home address test of return routability.
//
//	|           Reserved            |
//	|                       Home Init Cookie (64 bits)              |
//	|  Mobility Options ...
type HomeTestInit struct {
	// Cookie is a random value the Home Test must echo.
	Cookie  [CookieLen]byte
	Options []MobilityOption
}

// CareofTestInit is the Care-of Test Init message (RFC 6275 §6.1.4, MH Type
// 2), the start of the care-of address test; same layout as HomeTestInit.
type CareofTestInit struct {
	Cookie  [CookieLen]byte
	Options []MobilityOption
}

// HomeTest is the Home Test message (RFC 6275 §6.1.5, MH Type 3), the
// correspondent node's answer to a Home Test Init.
//
//	|       Home Nonce Index        |
//	|                       Home Init Cookie (64 bits)              |
//	|                      Home Keygen Token (64 bits)              |
//	|  Mobility Options ...
type HomeTest struct {
	NonceIndex  uint16
	Cookie      [CookieLen]byte      // copied from the Home Test Init
	KeygenToken [KeygenTokenLen]byte // §5.2.5
	Options     []MobilityOption
}

// CareofTest is the Care-of Test message (RFC 6275 §6.1.6, MH Type 4); same
// layout as HomeTest, with the care-of nonce index, init cookie and keygen
// token.
type CareofTest struct {
	NonceIndex  uint16
	Cookie      [CookieLen]byte
	KeygenToken [KeygenTokenLen]byte
	Options     []MobilityOption
}

// BindingUpdate is the Binding Update (RFC 6275 §6.1.7, MH Type 5).
//
//	|          Sequence #           |
//	|A|H|L|K|M|R|P|F|T|B|S|D|Rsvd.  |            Lifetime           |
//	|  Mobility Options ...
type BindingUpdate struct {
	Sequence uint16
	Flags    BUFlags
	// Lifetime travels in units of 4 seconds (LifetimeUnit): it must be a
	// non-negative multiple of 4 s, at most MaxLifetime. Zero deletes the
	// binding (§6.1.7).
	Lifetime time.Duration
	Options  []MobilityOption
}

// BindingAck is the Binding Acknowledgement (RFC 6275 §6.1.8, MH Type 6).
//
//	|    Status     |K|R|P|T|B|S|D|-|
//	|           Sequence #          |           Lifetime            |
//	|  Mobility Options ...
type BindingAck struct {
	Status   Status
	Flags    BAFlags
	Sequence uint16
	// Lifetime: as in BindingUpdate, units of 4 s up to MaxLifetime.
	Lifetime time.Duration
	Options  []MobilityOption
}

// BindingError is the Binding Error message (RFC 6275 §6.1.9, MH Type 7).
//
//	|     Status    |   Reserved    |
//	|                          Home Address                         |
//	|  Mobility Options ...
type BindingError struct {
	Status BEStatus
	// HomeAddress is the home address of the offending packet's Home
	// Address option, or the unspecified address (::) when there was
	// none; any IPv6 address is accepted, an IPv4 one is not.
	HomeAddress netip.Addr
	Options     []MobilityOption
}

// RawMessage is a Mobility Header message of a type this package does not
// model (anything but 0–7), kept whole: Data is everything after the
// Checksum field, options and padding included. A receiver answers one
// with a Binding Error status 2 (§9.2).
type RawMessage struct {
	Type MHType
	// Data is 8n+2 octets for some n >= 0 (the header is a multiple of 8
	// and 6 octets precede Data); Marshal refuses other lengths, since it
	// cannot know where padding would go.
	Data []byte
}

// MHType returns 0.
func (*BindingRefreshRequest) MHType() MHType { return MHBindingRefreshRequest }

// MHType returns 1.
func (*HomeTestInit) MHType() MHType { return MHHomeTestInit }

// MHType returns 2.
func (*CareofTestInit) MHType() MHType { return MHCareofTestInit }

// MHType returns 3.
func (*HomeTest) MHType() MHType { return MHHomeTest }

// MHType returns 4.
func (*CareofTest) MHType() MHType { return MHCareofTest }

// MHType returns 5.
func (*BindingUpdate) MHType() MHType { return MHBindingUpdate }

// MHType returns 6.
func (*BindingAck) MHType() MHType { return MHBindingAck }

// MHType returns 7.
func (*BindingError) MHType() MHType { return MHBindingError }

// MHType returns the raw type.
func (m *RawMessage) MHType() MHType { return m.Type }

// BUFlags are the flag bits of a Binding Update (IANA "Binding Update
// Flags"): the 16-bit word after the Sequence number, whose low bits are
// Reserved.
type BUFlags uint16

// Binding Update flags, each checked against the IANA registry.
const (
	BUFlagA BUFlags = 0x8000 // Acknowledge (RFC 6275 §6.1.7)
	BUFlagH BUFlags = 0x4000 // Home Registration (RFC 6275)
	BUFlagL BUFlags = 0x2000 // Link-Local Address Compatibility (RFC 6275)
	BUFlagK BUFlags = 0x1000 // Key Management Mobility Capability (RFC 6275)
	BUFlagM BUFlags = 0x0800 // MAP Registration (RFC 5380, was RFC 4140)
	BUFlagR BUFlags = 0x0400 // Mobile Router (RFC 3963 §4.1)
	BUFlagP BUFlags = 0x0200 // Proxy Registration (RFC 5213 §8.1)
	BUFlagF BUFlags = 0x0100 // Forcing UDP encapsulation (RFC 5555)
	BUFlagT BUFlags = 0x0080 // TLV-header format (RFC 5845)
	BUFlagB BUFlags = 0x0040 // Bulk binding update (RFC 6602)
	BUFlagS BUFlags = 0x0020 // (RFC 7161)
	BUFlagD BUFlags = 0x0010 // (RFC 8885)
)

// buFlagsAssigned masks the IANA-assigned BU flags: the rest of the word is
// Reserved, zero on send and ignored on receipt (§6.1.7), so the parser
// drops those bits and the encoder never sets them.
const buFlagsAssigned BUFlags = 0xfff0

// BAFlags are the flag bits of a Binding Acknowledgement (IANA "Binding
// Acknowledgment Flags"): the octet after the Status.
type BAFlags uint8

// Binding Acknowledgement flags, each checked against the IANA registry.
const (
	BAFlagK BAFlags = 0x80 // Key Management Mobility Capability (RFC 6275 §6.1.8)
	BAFlagR BAFlags = 0x40 // Mobile Router (RFC 3963 §4.2)
	BAFlagP BAFlags = 0x20 // Proxy Registration (RFC 5213 §8.2)
	BAFlagT BAFlags = 0x10 // TLV-header format (RFC 5845)
	BAFlagB BAFlags = 0x08 // Bulk binding update (RFC 6602)
	BAFlagS BAFlags = 0x04 // (RFC 7161)
	BAFlagD BAFlags = 0x02 // (RFC 8885)
)

// baFlagsAssigned masks the IANA-assigned BA flags; the last bit is
// Reserved.
const baFlagsAssigned BAFlags = 0xfe

var (
	buFlagLetters = []struct {
		f BUFlags
		s string
	}{{BUFlagA, "A"}, {BUFlagH, "H"}, {BUFlagL, "L"}, {BUFlagK, "K"}, {BUFlagM, "M"}, {BUFlagR, "R"},
		{BUFlagP, "P"}, {BUFlagF, "F"}, {BUFlagT, "T"}, {BUFlagB, "B"}, {BUFlagS, "S"}, {BUFlagD, "D"}}
	baFlagLetters = []struct {
		f BAFlags
		s string
	}{{BAFlagK, "K"}, {BAFlagR, "R"}, {BAFlagP, "P"}, {BAFlagT, "T"}, {BAFlagB, "B"}, {BAFlagS, "S"},
		{BAFlagD, "D"}}
)

// Letters returns the letters of the assigned flags that are set, in bit
// order from the most significant: BUFlagA|BUFlagH gives ["A", "H"].
func (f BUFlags) Letters() []string {
	var out []string
	for _, l := range buFlagLetters {
		if f&l.f != 0 {
			out = append(out, l.s)
		}
	}
	return out
}

// String returns the letters joined ("AHK"), or "none".
func (f BUFlags) String() string {
	if s := strings.Join(f.Letters(), ""); s != "" {
		return s
	}
	return "none"
}

// Letters returns the letters of the assigned flags that are set, in bit
// order: BAFlagK|BAFlagR gives ["K", "R"].
func (f BAFlags) Letters() []string {
	var out []string
	for _, l := range baFlagLetters {
		if f&l.f != 0 {
			out = append(out, l.s)
		}
	}
	return out
}

// String returns the letters joined ("KR"), or "none".
func (f BAFlags) String() string {
	if s := strings.Join(f.Letters(), ""); s != "" {
		return s
	}
	return "none"
}

// MHHeaderError is the error of ParseMessage for the two header faults
// after which RFC 6275 §9.2 says a node "MUST discard the message and
// SHOULD send ICMP Parameter Problem, Code 0" to the packet's source:
// a Payload Proto other than 59, and a Header Len too short for the MH
// Type. It unwraps to the sentinel (ErrInvalid or ErrLength).
type MHHeaderError struct {
	// Pointer is the offset of the faulty field from the start of the
	// Mobility Header: 0 for Payload Proto, 1 for Header Len. The ICMP
	// Pointer is this plus the header's offset in the invoking packet.
	Pointer int
	Err     error
}

// Error returns the wrapped error's text.
func (e *MHHeaderError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error, so errors.Is finds the sentinel.
func (e *MHHeaderError) Unwrap() error { return e.Err }

// mhOptionsOffset returns where the options of a known message type start,
// which is also the shortest the header can be (§6.1.2–6.1.9, checked by
// §9.2's Header Len rule), and false for a type this package does not know.
func mhOptionsOffset(t MHType) (int, bool) {
	switch t {
	case MHBindingRefreshRequest:
		return 8, true // Reserved (16)
	case MHHomeTestInit, MHCareofTestInit:
		return 16, true // Reserved (16), cookie (64)
	case MHHomeTest, MHCareofTest:
		return 24, true // nonce index (16), cookie (64), token (64)
	case MHBindingUpdate, MHBindingAck:
		return 12, true // sequence/flags/lifetime or status/flags/sequence/lifetime
	case MHBindingError:
		return 24, true // status, reserved, home address (128)
	}
	return 0, false
}

// mhLen checks the Header Len of b against its length and returns the
// header's length.
func mhLen(b []byte) (int, error) {
	if len(b) < 8 {
		return 0, errorf(ErrTruncated, "Mobility Header of %d octets, want at least 8", len(b))
	}
	n := (int(b[1]) + 1) * 8
	if len(b) < n {
		return 0, errorf(ErrTruncated, "Header Len %d says %d octets, have %d", b[1], n, len(b))
	}
	return n, nil
}

// ParseMessage parses a Mobility Header, b starting at its Payload Proto
// octet, with the checks listed at the top of this file. It does not verify
// the checksum: see VerifyMHChecksum. Reserved fields and unassigned flag
// bits are ignored. Byte slices in the result are copies, not views of b.
func ParseMessage(b []byte) (MobilityMessage, error) {
	n, err := mhLen(b)
	if err != nil {
		return nil, err
	}
	b = b[:n]
	t := MHType(b[2])
	optOff, known := mhOptionsOffset(t)
	if !known {
		return &RawMessage{Type: t, Data: bytes.Clone(b[mhFixedLen:])}, nil
	}
	if b[0] != ProtoNoNext {
		return nil, &MHHeaderError{Pointer: 0,
			Err: errorf(ErrInvalid, "%v: Payload Proto %d, want %d (IPPROTO_NONE)", t, b[0], ProtoNoNext)}
	}
	if n < optOff {
		return nil, &MHHeaderError{Pointer: 1,
			Err: errorf(ErrLength, "%v: Header Len %d gives %d octets, the message needs %d", t, b[1], n, optOff)}
	}
	opts, err := parseOptions(b[optOff:], optOff)
	if err == nil {
		err = checkAuthenticationLast(opts)
	}
	if err != nil {
		return nil, errorf(err, "in %v", t)
	}
	// Options are accepted at any offset (options.go), but the encoder
	// aligns them, and a dense run of misaligned options can need more
	// padding than the 2048 octets Header Len allows. Such a message
	// could not be written back (nor forwarded, logged or re-signed by
	// this package), so it is refused here: Parse accepts exactly what
	// Marshal can produce, which keeps parse(marshal(parse(x))) defined.
	// No sender that aligns its options, as §6.2 requires, comes near.
	if w := encodedLen(optOff, opts); w > MaxMHLen {
		return nil, errorf(ErrLength, "%v: its options need %d octets once aligned (RFC 6275 §6.2), more than Header Len can say (%d)", t, w, MaxMHLen)
	}
	be := binary.BigEndian
	switch t {
	case MHBindingRefreshRequest:
		return &BindingRefreshRequest{Options: opts}, nil
	case MHHomeTestInit:
		return &HomeTestInit{Cookie: [CookieLen]byte(b[8:16]), Options: opts}, nil
	case MHCareofTestInit:
		return &CareofTestInit{Cookie: [CookieLen]byte(b[8:16]), Options: opts}, nil
	case MHHomeTest:
		return &HomeTest{NonceIndex: be.Uint16(b[6:]), Cookie: [CookieLen]byte(b[8:16]),
			KeygenToken: [KeygenTokenLen]byte(b[16:24]), Options: opts}, nil
	case MHCareofTest:
		return &CareofTest{NonceIndex: be.Uint16(b[6:]), Cookie: [CookieLen]byte(b[8:16]),
			KeygenToken: [KeygenTokenLen]byte(b[16:24]), Options: opts}, nil
	case MHBindingUpdate:
		return &BindingUpdate{Sequence: be.Uint16(b[6:]), Flags: BUFlags(be.Uint16(b[8:])) & buFlagsAssigned,
			Lifetime: time.Duration(be.Uint16(b[10:])) * LifetimeUnit, Options: opts}, nil
	case MHBindingAck:
		return &BindingAck{Status: Status(b[6]), Flags: BAFlags(b[7]) & baFlagsAssigned, Sequence: be.Uint16(b[8:]),
			Lifetime: time.Duration(be.Uint16(b[10:])) * LifetimeUnit, Options: opts}, nil
	default: // MHBindingError, the last known type
		return &BindingError{Status: BEStatus(b[6]), HomeAddress: netip.AddrFrom16([16]byte(b[8:24])), Options: opts}, nil
	}
}

// MarshalMessage returns the wire form of m: Payload Proto 59, Header Len
// set, Checksum zero (compute it last with SetMHChecksum, after any
// authenticator), options padded to their alignment and the whole header
// to a multiple of 8 octets. It refuses with an error wrapping a sentinel
// anything ParseMessage would refuse.
func MarshalMessage(m MobilityMessage) ([]byte, error) {
	return AppendMessage(nil, m)
}

// AppendMessage appends the wire form of m to b, as MarshalMessage. Option
// alignment is counted from the start of the appended header, not of b.
func AppendMessage(b []byte, m MobilityMessage) ([]byte, error) {
	// On error the caller gets its own buffer back unchanged, as from
	// AppendICMP and AppendNDOptions.
	orig := b
	if isNilMessage(m) {
		return orig, errorf(ErrInvalid, "nil Mobility Header message")
	}
	start := len(b)
	b = append(b, ProtoNoNext, 0, byte(m.MHType()), 0, 0, 0)
	b, err := m.appendBody(b, start)
	if err != nil {
		return orig, err
	}
	n := len(b) - start
	if n > MaxMHLen {
		return orig, errorf(ErrLength, "%v of %d octets, the most Header Len can say is %d", m.MHType(), n, MaxMHLen)
	}
	b[start+1] = byte(n/8 - 1)
	return b, nil
}

func isNilMessage(m MobilityMessage) bool {
	switch m := m.(type) {
	case nil:
		return true
	case *BindingRefreshRequest:
		return m == nil
	case *HomeTestInit:
		return m == nil
	case *CareofTestInit:
		return m == nil
	case *HomeTest:
		return m == nil
	case *CareofTest:
		return m == nil
	case *BindingUpdate:
		return m == nil
	case *BindingAck:
		return m == nil
	case *BindingError:
		return m == nil
	case *RawMessage:
		return m == nil
	}
	return false
}

func (m *BindingRefreshRequest) appendBody(b []byte, start int) ([]byte, error) {
	return appendOptions(append(b, 0, 0), start, m.Options)
}

func (m *HomeTestInit) appendBody(b []byte, start int) ([]byte, error) {
	b = append(append(b, 0, 0), m.Cookie[:]...)
	return appendOptions(b, start, m.Options)
}

func (m *CareofTestInit) appendBody(b []byte, start int) ([]byte, error) {
	b = append(append(b, 0, 0), m.Cookie[:]...)
	return appendOptions(b, start, m.Options)
}

func (m *HomeTest) appendBody(b []byte, start int) ([]byte, error) {
	b = binary.BigEndian.AppendUint16(b, m.NonceIndex)
	b = append(append(b, m.Cookie[:]...), m.KeygenToken[:]...)
	return appendOptions(b, start, m.Options)
}

func (m *CareofTest) appendBody(b []byte, start int) ([]byte, error) {
	b = binary.BigEndian.AppendUint16(b, m.NonceIndex)
	b = append(append(b, m.Cookie[:]...), m.KeygenToken[:]...)
	return appendOptions(b, start, m.Options)
}

// lifetimeUnits converts a BU or BA lifetime to its 16-bit wire value.
func lifetimeUnits(t MHType, d time.Duration) (uint16, error) {
	// The fast case first: the label for the error is built only when
	// there is one, so marshalling a BA does not allocate for it.
	if d >= 0 && d%LifetimeUnit == 0 && d <= MaxLifetime {
		return uint16(d / LifetimeUnit), nil
	}
	u, err := durationUnits(t.String()+" Lifetime", d, LifetimeUnit, 0xffff)
	return uint16(u), err
}

func (m *BindingUpdate) appendBody(b []byte, start int) ([]byte, error) {
	lt, err := lifetimeUnits(MHBindingUpdate, m.Lifetime)
	if err != nil {
		return nil, err
	}
	b = binary.BigEndian.AppendUint16(b, m.Sequence)
	b = binary.BigEndian.AppendUint16(b, uint16(m.Flags&buFlagsAssigned))
	b = binary.BigEndian.AppendUint16(b, lt)
	return appendOptions(b, start, m.Options)
}

func (m *BindingAck) appendBody(b []byte, start int) ([]byte, error) {
	lt, err := lifetimeUnits(MHBindingAck, m.Lifetime)
	if err != nil {
		return nil, err
	}
	b = append(b, byte(m.Status), byte(m.Flags&baFlagsAssigned))
	b = binary.BigEndian.AppendUint16(b, m.Sequence)
	b = binary.BigEndian.AppendUint16(b, lt)
	return appendOptions(b, start, m.Options)
}

func (m *BindingError) appendBody(b []byte, start int) ([]byte, error) {
	if err := check6("Binding Error home address", m.HomeAddress); err != nil {
		return nil, err
	}
	a := m.HomeAddress.As16()
	b = append(append(b, byte(m.Status), 0), a[:]...)
	return appendOptions(b, start, m.Options)
}

func (m *RawMessage) appendBody(b []byte, _ int) ([]byte, error) {
	if _, known := mhOptionsOffset(m.Type); known {
		return nil, errorf(ErrType, "RawMessage with MH Type %d (%v), which has its own struct", m.Type, m.Type)
	}
	if n := mhFixedLen + len(m.Data); n%8 != 0 || n < 8 {
		return nil, errorf(ErrLength, "RawMessage with %d octets of data makes a %d-octet header, want a multiple of 8 from 8", len(m.Data), n)
	}
	return append(b, m.Data...), nil
}

// AuthenticatorOffset finds, in a marshalled Mobility Header, the first
// option of type t and returns where its authenticator lies: for
// OptBindingAuthData (RFC 6275 §6.2.7) the 12 Authenticator octets, for
// OptAuthentication (RFC 4285 §5) the Authentication Data after the SPI.
// mh[off:off+n] is the authenticator; package binding computes it over the
// header around it. Other option types give ErrType, a header without the
// option ErrInvalid. It walks the option TLVs only, without allocating.
func AuthenticatorOffset(mh []byte, t OptionType) (off, n int, err error) {
	if t != OptBindingAuthData && t != OptAuthentication {
		return 0, 0, errorf(ErrType, "option %v carries no authenticator", t)
	}
	hl, err := mhLen(mh)
	if err != nil {
		return 0, 0, err
	}
	i, known := mhOptionsOffset(MHType(mh[2]))
	if !known {
		return 0, 0, errorf(ErrType, "MH Type %d has no options this package knows", mh[2])
	}
	for i < hl {
		ot := OptionType(mh[i])
		if ot == OptPad1 {
			i++
			continue
		}
		if i+2 > hl || i+2+int(mh[i+1]) > hl {
			return 0, 0, errorf(ErrTruncated, "option %d at offset %d runs past the header", ot, i)
		}
		l := int(mh[i+1])
		if ot == t {
			switch {
			case t == OptBindingAuthData && l != AuthenticatorLen:
				return 0, 0, errorf(ErrLength, "Binding Authorization Data of length %d, want %d", l, AuthenticatorLen)
			case t == OptAuthentication && l < authFixed:
				return 0, 0, errorf(ErrLength, "Authentication option of length %d, want at least %d", l, authFixed)
			case t == OptAuthentication:
				return i + 2 + authFixed, l - authFixed, nil
			}
			return i + 2, l, nil
		}
		i += 2 + l
	}
	return 0, 0, errorf(ErrInvalid, "%v has no %v option", MHType(mh[2]), t)
}
