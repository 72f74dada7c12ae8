package mip6

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// mhCmpOpts compares messages and options: netip values by ==, and a nil
// slice equal to an empty one (parsing an empty field gives either).
var mhCmpOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmpopts.EquateEmpty(),
}

// mhHex decodes hex written with spaces between fields.
func mhHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(s))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

var (
	mhHoA    = netip.MustParseAddr("2001:db8:1::100")
	mhHA     = netip.MustParseAddr("2001:db8:1::1")
	mhCoA    = netip.MustParseAddr("2001:db8:2::100")
	mhAltCoA = netip.MustParseAddr("2001:db8:2::200")
	mhCN     = netip.MustParseAddr("2001:db8:3::3")
)

// mhVectors are messages with their wire form written by hand from the
// RFC 6275 §6.1 diagrams (and RFC 4285, 5555 for the options), one
// string per field; the checksum field is zero as Marshal leaves it.
var mhVectors = []struct {
	name string
	msg  MobilityMessage
	hex  string
}{
	{
		name: "BRR §6.1.2",
		msg:  &BindingRefreshRequest{},
		hex: "3b" + // Payload Proto 59
			"00" + // Header Len 0: 8 octets
			"00" + // MH Type 0
			"00" + // Reserved
			"0000" + // Checksum
			"0000", // Reserved; no options, already 8n
	},
	{
		name: "HoTI §6.1.3",
		msg:  &HomeTestInit{Cookie: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}},
		hex: "3b 01 01 00" + // Header Len 1: 16 octets, MH Type 1
			"0000" + // Checksum
			"0000" + // Reserved
			"0102030405060708", // Home Init Cookie
	},
	{
		name: "CoTI §6.1.4",
		msg:  &CareofTestInit{Cookie: [8]byte{0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87}},
		hex: "3b 01 02 00" + // MH Type 2
			"0000" + // Checksum
			"0000" + // Reserved
			"f0e1d2c3b4a59687", // Care-of Init Cookie
	},
	{
		name: "HoT §6.1.5",
		msg: &HomeTest{NonceIndex: 0x1234, Cookie: [8]byte{1, 2, 3, 4, 5, 6, 7, 8},
			KeygenToken: [8]byte{0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7}},
		hex: "3b 02 03 00" + // Header Len 2: 24 octets, MH Type 3
			"0000" + // Checksum
			"1234" + // Home Nonce Index
			"0102030405060708" + // Home Init Cookie
			"a0a1a2a3a4a5a6a7", // Home Keygen Token
	},
	{
		name: "CoT §6.1.6",
		msg: &CareofTest{NonceIndex: 0xfffe, Cookie: [8]byte{8, 7, 6, 5, 4, 3, 2, 1},
			KeygenToken: [8]byte{0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7}},
		hex: "3b 02 04 00" + // MH Type 4
			"0000" + // Checksum
			"fffe" + // Care-of Nonce Index
			"0807060504030201" + // Care-of Init Cookie
			"b0b1b2b3b4b5b6b7", // Care-of Keygen Token
	},
	{
		name: "BU §6.1.7 home registration",
		msg:  &BindingUpdate{Sequence: 1, Flags: BUFlagA | BUFlagH | BUFlagK, Lifetime: 60 * time.Second},
		hex: "3b 01 05 00" + // Header Len 1: 16 octets, MH Type 5
			"0000" + // Checksum
			"0001" + // Sequence #
			"d000" + // A (0x8000) H (0x4000) K (0x1000), Reserved
			"000f" + // Lifetime: 15 units of 4 s = 60 s
			"01 02 0000", // PadN with 2 zero octets: 12 -> 16
	},
	{
		name: "BU deregistration, max sequence",
		msg:  &BindingUpdate{Sequence: 0xffff, Flags: BUFlagA | BUFlagH},
		hex: "3b 01 05 00 0000" +
			"ffff" + // Sequence #
			"c000" + // A H
			"0000" + // Lifetime 0: delete the binding
			"01020000",
	},
	{
		name: "BU max lifetime",
		msg:  &BindingUpdate{Sequence: 2, Lifetime: MaxLifetime},
		hex: "3b 01 05 00 0000" +
			"0002" +
			"0000" + // no flags
			"ffff" + // 65535 units = 262140 s
			"01020000",
	},
	{
		name: "BA §6.1.8",
		msg:  &BindingAck{Status: StatusSequenceOutOfWindow, Flags: BAFlagK | BAFlagR, Sequence: 0x0102, Lifetime: 400 * time.Second},
		hex: "3b 01 06 00" + // MH Type 6
			"0000" + // Checksum
			"87" + // Status 135
			"c0" + // K (0x80) R (0x40), Reserved
			"0102" + // Sequence #
			"0064" + // Lifetime: 100 units = 400 s
			"01020000", // PadN to 16
	},
	{
		name: "BE §6.1.9",
		msg:  &BindingError{Status: BEUnknownHomeAddress, HomeAddress: mhHoA},
		hex: "3b 02 07 00" + // Header Len 2: 24 octets, MH Type 7
			"0000" + // Checksum
			"01" + // Status 1
			"00" + // Reserved
			"20010db8000100000000000000000100", // Home Address
	},
	{
		name: "BE unspecified home address",
		msg:  &BindingError{Status: BEUnknownMHType, HomeAddress: netip.IPv6Unspecified()},
		hex:  "3b 02 07 00 0000 02 00 00000000000000000000000000000000",
	},
	{
		name: "unknown MH Type kept raw",
		msg:  &RawMessage{Type: 200, Data: []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		hex: "3b 01 c8 00" + // MH Type 200
			"0000" + // Checksum
			"00010203040506070809", // whatever follows, 10 octets
	},
	{
		name: "BU to a CN: AltCoA 8n+6, Nonce Indices 2n, BAD 8n+2",
		msg: &BindingUpdate{Sequence: 0x1234, Flags: BUFlagA, Lifetime: 420 * time.Second, Options: []MobilityOption{
			&AlternateCareofAddress{Address: mhAltCoA},
			&NonceIndices{HomeNonceIndex: 0x0102, CareofNonceIndex: 0x0304},
			&BindingAuthorizationData{Authenticator: [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		}},
		hex: "3b 06 05 00 0000" + // Header Len 6: 56 octets
			"1234 8000 0069" + // Sequence, A, Lifetime 105 units = 420 s
			"01 00" + // offset 12: PadN(0) so the AltCoA starts at 14 = 8n+6
			"03 10 20010db8000200000000000000000200" + // offset 14: AltCoA, length 16
			"04 04 0102 0304" + // offset 32 = 2n: Nonce Indices, home then care-of
			"01 02 0000" + // offset 38: PadN(2) so the BAD starts at 42 = 8n+2
			"05 0c 0102030405060708090a0b0c", // offset 42: BAD, length 12; ends at 56 = 8n
	},
	{
		name: "BU RFC 4285: MN-ID, Mesg-ID 8n+2, Authentication 4n+1 last",
		msg: &BindingUpdate{Sequence: 0x42, Flags: BUFlagA | BUFlagH | BUFlagK, Lifetime: 600 * time.Second, Options: []MobilityOption{
			MNIdentifierNAI("mn1@example.com"),
			&ReplayProtection{Timestamp: 0xe7a1b2c300000000},
			&Authentication{Subtype: AuthSubtypeMNHA, SPI: 256, Data: make([]byte, 12)},
		}},
		hex: "3b 07 05 00 0000" + // Header Len 7: 64 octets
			"0042 d000 0096" + // Sequence, A H K, Lifetime 150 units
			"08 10 01 6d6e31406578616d706c652e636f6d" + // offset 12: MN-ID, length 16, NAI "mn1@example.com"
			"01 02 0000" + // offset 30: PadN(2) so the Mesg-ID starts at 34 = 8n+2
			"0a 08 e7a1b2c300000000" + // offset 34: Mesg-ID, NTP timestamp
			"00" + // offset 44: Pad1 so the Authentication starts at 45 = 4n+1
			"09 11 01 00000100 000000000000000000000000", // offset 45: Auth, length 17, MN-HA, SPI 256, 12 octets; ends at 64
	},
	{
		name: "BA RFC 5555: IPv4 Address Ack and NAT Detection, 4n",
		msg: &BindingAck{Sequence: 3, Lifetime: 400 * time.Second, Options: []MobilityOption{
			&IPv4AddressAck{Status: IPv4AckSuccess, PrefixLen: 32, Address: netip.MustParseAddr("192.0.2.100")},
			&NATDetection{ForceUDP: true, RefreshTime: 110 * time.Second},
		}},
		hex: "3b 03 06 00 0000" +
			"00 00 0003 0064" + // Status 0, no flags, Sequence 3, Lifetime 100 units
			"1e 06 00 80 c0000264" + // offset 12 = 4n: IPv4 Ack, status 0, Pref-len 32 << 2, 192.0.2.100
			"1f 06 8000 0000006e" + // offset 20 = 4n: NAT Detection, F, refresh 110 s
			"01 02 0000", // offset 28: PadN(2) to 32
	},
}

func TestMessageVectors(t *testing.T) {
	for _, tt := range mhVectors {
		t.Run(tt.name, func(t *testing.T) {
			want := mhHex(t, tt.hex)
			if len(want)%8 != 0 {
				t.Fatalf("vector is %d octets, not 8n", len(want))
			}
			got, err := MarshalMessage(tt.msg)
			if err != nil {
				t.Fatalf("MarshalMessage: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("MarshalMessage:\n got %x\nwant %x", got, want)
			}
			m, err := ParseMessage(want)
			if err != nil {
				t.Fatalf("ParseMessage: %v", err)
			}
			if diff := cmp.Diff(tt.msg, m, mhCmpOpts); diff != "" {
				t.Errorf("ParseMessage (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAppendMessageOffset checks that alignment counts from the start of
// the appended header, not of the buffer.
func TestAppendMessageOffset(t *testing.T) {
	v := mhVectors[len(mhVectors)-3] // the one with AltCoA and BAD
	want := mhHex(t, v.hex)
	prefix := []byte{0xaa, 0xbb, 0xcc}
	got, err := AppendMessage(bytes.Clone(prefix), v.msg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:3], prefix) || !bytes.Equal(got[3:], want) {
		t.Errorf("AppendMessage:\n got %x\nwant %x%x", got, prefix, want)
	}
}

func TestMessageRoundTrip(t *testing.T) {
	allOptions := []MobilityOption{
		&BindingRefreshAdvice{RefreshInterval: 48 * time.Second},
		&AlternateCareofAddress{Address: mhAltCoA},
		&NonceIndices{HomeNonceIndex: 1, CareofNonceIndex: 2},
		&MobileNetworkPrefix{Prefix: netip.MustParsePrefix("2001:db8:100::/48")},
		MNIdentifierNAI("mn@example.org"),
		&ReplayProtection{Timestamp: 1 << 63},
		&IPv4HomeAddress{PrefixLen: 24, RequestPrefix: true, Address: netip.IPv4Unspecified()},
		&IPv4AddressAck{Status: IPv4AckDynamicNotAvailable, Address: netip.IPv4Unspecified()},
		&NATDetection{RefreshTime: 0xffffffff * time.Second},
		&IPv4CareofAddress{Address: netip.MustParseAddr("198.51.100.10")},
		&BindingIdentifier{BID: 1},
		&BindingIdentifier{BID: 2, SimultaneousHome: true, Priority: 127, CareofAddress: netip.MustParseAddr("198.51.100.10")},
		&BindingIdentifier{BID: 3, Status: StatusDADFailed, CareofAddress: mhCoA},
		&RawOption{Type: 18, Data: []byte{0, 0xde, 0xad}},
		&RawOption{Type: 255},
		&Authentication{Subtype: AuthSubtypeMNAAA, SPI: 0xdeadbeef, Data: make([]byte, 16)},
	}
	msgs := []MobilityMessage{
		&BindingRefreshRequest{Options: allOptions},
		&HomeTestInit{Cookie: [8]byte{1}, Options: allOptions[:3]},
		&CareofTestInit{Cookie: [8]byte{2}, Options: allOptions[3:6]},
		&HomeTest{NonceIndex: 7, Cookie: [8]byte{3}, KeygenToken: [8]byte{4}, Options: allOptions[6:9]},
		&CareofTest{NonceIndex: 8, Cookie: [8]byte{5}, KeygenToken: [8]byte{6}, Options: allOptions[9:]},
		&BindingUpdate{Sequence: 9, Flags: buFlagsAssigned, Lifetime: 4 * time.Second, Options: allOptions},
		&BindingAck{Status: StatusAccepted, Flags: baFlagsAssigned, Sequence: 10, Lifetime: MaxLifetime, Options: allOptions},
		&BindingError{Status: 255, HomeAddress: mhHoA, Options: allOptions[:1]},
		// A BU to a correspondent: Binding Authorization Data must be the
		// last option (RFC 6275 §6.2.7).
		&BindingUpdate{Sequence: 11, Flags: BUFlagA, Lifetime: 8 * time.Second, Options: append(slices.Clone(allOptions[:3]),
			&BindingAuthorizationData{Authenticator: [12]byte{11: 0xff}})},
		&RawMessage{Type: 8, Data: make([]byte, 2)},
		&RawMessage{Type: 255, Data: make([]byte, 2042)},
	}
	for _, m := range msgs {
		t.Run(m.MHType().String(), func(t *testing.T) {
			b, err := MarshalMessage(m)
			if err != nil {
				t.Fatalf("MarshalMessage: %v", err)
			}
			if len(b)%8 != 0 || int(b[1]) != len(b)/8-1 || b[0] != ProtoNoNext || b[4] != 0 || b[5] != 0 {
				t.Errorf("header: len %d, Header Len %d, Payload Proto %d, checksum %x", len(b), b[1], b[0], b[4:6])
			}
			got, err := ParseMessage(b)
			if err != nil {
				t.Fatalf("ParseMessage: %v", err)
			}
			if diff := cmp.Diff(m, got, mhCmpOpts); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBUFlagBits checks each flag's bit position against the IANA "Binding
// Update Flags" registry: one BU per flag, the flags word written by hand.
func TestBUFlagBits(t *testing.T) {
	for _, tt := range []struct {
		flag   BUFlags
		letter string
		word   string // octets 8 and 9 of the BU
	}{
		{BUFlagA, "A", "8000"}, // RFC 6275 §6.1.7: first bit
		{BUFlagH, "H", "4000"},
		{BUFlagL, "L", "2000"},
		{BUFlagK, "K", "1000"},
		{BUFlagM, "M", "0800"}, // RFC 5380
		{BUFlagR, "R", "0400"}, // RFC 3963 §4.1
		{BUFlagP, "P", "0200"}, // RFC 5213 §8.1
		{BUFlagF, "F", "0100"}, // RFC 5555
		{BUFlagT, "T", "0080"}, // RFC 5845
		{BUFlagB, "B", "0040"}, // RFC 6602
		{BUFlagS, "S", "0020"}, // RFC 7161
		{BUFlagD, "D", "0010"}, // RFC 8885
	} {
		want := mhHex(t, "3b010500 0000 0001"+tt.word+"0000 01020000")
		got, err := MarshalMessage(&BindingUpdate{Sequence: 1, Flags: tt.flag})
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: got %x, %v; want %x", tt.letter, got, err, want)
		}
		if l := tt.flag.Letters(); len(l) != 1 || l[0] != tt.letter || tt.flag.String() != tt.letter {
			t.Errorf("%s: Letters %v String %q", tt.letter, l, tt.flag.String())
		}
	}
}

// TestBAFlagBits does the same for the IANA "Binding Acknowledgment Flags".
func TestBAFlagBits(t *testing.T) {
	for _, tt := range []struct {
		flag   BAFlags
		letter string
		octet  string // octet 7 of the BA
	}{
		{BAFlagK, "K", "80"}, // RFC 6275 §6.1.8
		{BAFlagR, "R", "40"}, // RFC 3963 §4.2
		{BAFlagP, "P", "20"}, // RFC 5213 §8.2
		{BAFlagT, "T", "10"}, // RFC 5845
		{BAFlagB, "B", "08"}, // RFC 6602
		{BAFlagS, "S", "04"}, // RFC 7161
		{BAFlagD, "D", "02"}, // RFC 8885
	} {
		want := mhHex(t, "3b010600 0000 00"+tt.octet+"0001 0000 01020000")
		got, err := MarshalMessage(&BindingAck{Sequence: 1, Flags: tt.flag})
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: got %x, %v; want %x", tt.letter, got, err, want)
		}
		if l := tt.flag.Letters(); len(l) != 1 || l[0] != tt.letter || tt.flag.String() != tt.letter {
			t.Errorf("%s: Letters %v String %q", tt.letter, l, tt.flag.String())
		}
	}
}

func TestFlagStrings(t *testing.T) {
	if diff := cmp.Diff([]string{"A", "H", "L", "K", "R"}, (BUFlagA | BUFlagH | BUFlagL | BUFlagK | BUFlagR).Letters()); diff != "" {
		t.Errorf("BU Letters: %s", diff)
	}
	for _, tt := range []struct{ got, want string }{
		{(BUFlagK | BUFlagA | BUFlagH).String(), "AHK"},
		{BUFlags(0).String(), "none"},
		{BUFlags(0x000f).String(), "none"}, // Reserved bits only
		{(BAFlagK | BAFlagR).String(), "KR"},
		{BAFlags(0x01).String(), "none"},
	} {
		if tt.got != tt.want {
			t.Errorf("String() = %q, want %q", tt.got, tt.want)
		}
	}
	if l := BUFlags(0).Letters(); l != nil {
		t.Errorf("no flags: Letters %v", l)
	}
}

// TestReservedBitsIgnored: §6.1.7, §6.1.8: Reserved fields are ignored on
// receipt and zero on send; so are the unassigned flag bits.
func TestReservedBitsIgnored(t *testing.T) {
	bu := mhHex(t, "3b 01 05 ff 1234 0001 c00f 000f 01 02 ffff") // Reserved octet, reserved flag bits, PadN content
	m, err := ParseMessage(bu)
	if err != nil {
		t.Fatal(err)
	}
	want := &BindingUpdate{Sequence: 1, Flags: BUFlagA | BUFlagH, Lifetime: 60 * time.Second}
	if diff := cmp.Diff(want, m, mhCmpOpts); diff != "" {
		t.Errorf("BU (-want +got):\n%s", diff)
	}
	ba := mhHex(t, "3b 01 06 00 0000 00 81 0001 0000 01020000")
	m, err = ParseMessage(ba)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&BindingAck{Flags: BAFlagK, Sequence: 1}, m, mhCmpOpts); diff != "" {
		t.Errorf("BA (-want +got):\n%s", diff)
	}
	// And unassigned bits in a struct never reach the wire.
	got, err := MarshalMessage(&BindingUpdate{Flags: 0xffff})
	if err != nil || !bytes.Equal(got[8:10], []byte{0xff, 0xf0}) {
		t.Errorf("BU flags 0xffff marshal to %x, %v", got, err)
	}
	got, err = MarshalMessage(&BindingAck{Flags: 0xff})
	if err != nil || got[7] != 0xfe {
		t.Errorf("BA flags 0xff marshal to %x, %v", got, err)
	}
	// Reserved octets of BRR, HoTI, BE are ignored too.
	for _, h := range []string{
		"3b 00 00 00 0000 ffff",
		"3b 01 01 00 0000 ffff 0102030405060708",
		"3b 02 07 00 0000 01 ff 20010db8000100000000000000000100",
	} {
		if _, err := ParseMessage(mhHex(t, h)); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
}

// TestParseMessageTrailing: octets after Header Len are ignored (RFC 8200
// §4.7, Payload Proto is No Next Header).
func TestParseMessageTrailing(t *testing.T) {
	b := append(mhHex(t, mhVectors[0].hex), 0xde, 0xad, 0xbe, 0xef)
	m, err := ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&BindingRefreshRequest{}, m, mhCmpOpts); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestParseMessageUnknownType: §9.2 puts the unknown-type rule (answer with
// a Binding Error status 2) before the Payload Proto rule, so the message
// comes back raw whatever its Payload Proto; the caller still gets it.
func TestParseMessageUnknownType(t *testing.T) {
	for _, h := range []string{
		"3b 00 08 00 0000 abcd",                         // FBU (RFC 5568), not modelled
		"06 00 ff 00 0000 abcd",                         // Payload Proto TCP
		"3b 01 11 00 0000 000102030405060708090a0b0c0d", // more data
	} {
		b := mhHex(t, h)
		m, err := ParseMessage(b)
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		want := &RawMessage{Type: MHType(b[2]), Data: b[6 : (int(b[1])+1)*8]}
		if diff := cmp.Diff(want, m, mhCmpOpts); diff != "" {
			t.Errorf("%s (-want +got):\n%s", h, diff)
		}
	}
}

func TestParseMessageErrors(t *testing.T) {
	for _, tt := range []struct {
		name    string
		hex     string
		want    error
		pointer int // for an *MHHeaderError; -1 for none
	}{
		{"empty", "", ErrTruncated, -1},
		{"7 octets", "3b 00 00 00 0000 00", ErrTruncated, -1},
		{"Header Len past the end", "3b 01 05 00 0000 0001 c000 000f", ErrTruncated, -1},
		{"Header Len 255, 8 octets", "3b ff 00 00 0000 0000", ErrTruncated, -1},
		// §9.2: Payload Proto MUST be 59, ICMP pointer at the field.
		{"Payload Proto 6", "06 00 00 00 0000 0000", ErrInvalid, 0},
		{"Payload Proto 0", "00 01 05 00 0000 0001 c000 000f 01020000", ErrInvalid, 0},
		// §9.2: Header Len too short for the type, pointer at Header Len.
		{"BU in 8 octets", "3b 00 05 00 0000 0001", ErrLength, 1},
		{"BA in 8 octets", "3b 00 06 00 0000 0001", ErrLength, 1},
		{"HoTI in 8 octets", "3b 00 01 00 0000 0000", ErrLength, 1},
		{"CoTI in 8 octets", "3b 00 02 00 0000 0000", ErrLength, 1},
		{"HoT in 16 octets", "3b 01 03 00 0000 0000 0102030405060708", ErrLength, 1},
		{"CoT in 16 octets", "3b 01 04 00 0000 0000 0102030405060708", ErrLength, 1},
		{"BE in 16 octets", "3b 01 07 00 0000 0100 20010db8000100000000", ErrLength, 1},
		// Options.
		{"option without Length", "3b 01 05 00 0000 0001 c000 000f 0000 00 02", ErrTruncated, -1},
		{"option past the end", "3b 01 05 00 0000 0001 c000 000f 01 03 0000", ErrTruncated, -1},
		{"Nonce Indices length 16 (scapy)", "3b 03 05 00 0000 0001 8000 0001 04 10 0001 0002" + strings.Repeat("00", 14) + "0100", ErrLength, -1},
		{"BAD length 16 (scapy)", "3b 04 05 00 0000 0001 8000 0001 0104 00000000 05 10" + strings.Repeat("11", 16) + "00000000", ErrLength, -1},
		{"multicast AltCoA", "3b 03 05 00 0000 0001 8000 0001 0100 03 10 ff020000000000000000000000000001 0000", ErrAddress, -1},
		{"bad option in BA", "3b 01 06 00 0000 00 00 0001 0000 02 01 00 00", ErrLength, -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMessage(mhHex(t, tt.hex))
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseMessage = %v, %v; want %v", m, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "mip6: ") {
				t.Errorf("error %q lacks the mip6: prefix", err)
			}
			var he *MHHeaderError
			switch {
			case errors.As(err, &he) && he.Pointer != tt.pointer:
				t.Errorf("MHHeaderError.Pointer = %d, want %d", he.Pointer, tt.pointer)
			case !errors.As(err, &he) && tt.pointer >= 0:
				t.Errorf("error %v is not an *MHHeaderError", err)
			}
		})
	}
}

func TestMarshalMessageErrors(t *testing.T) {
	var nilBU *BindingUpdate
	for _, tt := range []struct {
		name string
		msg  MobilityMessage
		want error
	}{
		{"nil", nil, ErrInvalid},
		{"typed nil", nilBU, ErrInvalid},
		{"negative lifetime", &BindingUpdate{Lifetime: -4 * time.Second}, ErrInvalid},
		{"lifetime not 4 s units", &BindingUpdate{Lifetime: 5 * time.Second}, ErrInvalid},
		{"lifetime 1 ns", &BindingAck{Lifetime: 1}, ErrInvalid},
		{"lifetime above MaxLifetime", &BindingAck{Lifetime: MaxLifetime + LifetimeUnit}, ErrInvalid},
		{"BE without home address", &BindingError{}, ErrAddress},
		{"BE IPv4 home address", &BindingError{HomeAddress: netip.MustParseAddr("192.0.2.1")}, ErrAddress},
		{"BE zoned home address", &BindingError{HomeAddress: netip.MustParseAddr("fe80::1%eth0")}, ErrAddress},
		{"RawMessage of a known type", &RawMessage{Type: MHBindingUpdate, Data: make([]byte, 10)}, ErrType},
		{"RawMessage not 8n", &RawMessage{Type: 100, Data: make([]byte, 3)}, ErrLength},
		{"RawMessage empty", &RawMessage{Type: 100}, ErrLength},
		{"RawMessage too long", &RawMessage{Type: 100, Data: make([]byte, MaxMHLen-6+8)}, ErrLength},
		{"header too long", &BindingRefreshRequest{Options: func() []MobilityOption {
			var o []MobilityOption
			for range 9 {
				o = append(o, &RawOption{Type: 200, Data: make([]byte, 255)})
			}
			return o
		}()}, ErrLength},
		{"nil option", &BindingUpdate{Options: []MobilityOption{nil}}, ErrInvalid},
		{"typed nil option", &BindingUpdate{Options: []MobilityOption{(*NonceIndices)(nil)}}, ErrInvalid},
		{"bad option", &BindingAck{Options: []MobilityOption{&BindingRefreshAdvice{RefreshInterval: time.Second}}}, ErrInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := MarshalMessage(tt.msg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("MarshalMessage = %x, %v; want %v", b, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "mip6: ") {
				t.Errorf("error %q lacks the mip6: prefix", err)
			}
		})
	}
}

// TestMaxHeader: the longest header Header Len allows marshals and parses.
func TestMaxHeader(t *testing.T) {
	var opts []MobilityOption
	for range 7 {
		opts = append(opts, &RawOption{Type: 200, Data: make([]byte, 255)}) // 257 octets each
	}
	// 8 + 7*257 = 1807; one more of 233 data octets reaches 2042, PadN 6 to 2048.
	opts = append(opts, &RawOption{Type: 200, Data: make([]byte, 233)})
	b, err := MarshalMessage(&BindingRefreshRequest{Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != MaxMHLen || b[1] != 0xff {
		t.Fatalf("length %d Header Len %d, want %d and 255", len(b), b[1], MaxMHLen)
	}
	if _, err := ParseMessage(b); err != nil {
		t.Fatal(err)
	}
}

func TestAuthenticatorOffset(t *testing.T) {
	cnBU := mhHex(t, mhVectors[len(mhVectors)-3].hex)   // BAD at offset 42
	authBU := mhHex(t, mhVectors[len(mhVectors)-2].hex) // Auth at offset 45
	for _, tt := range []struct {
		name          string
		mh            []byte
		typ           OptionType
		wantOff, want int
		err           error
	}{
		{"BAD", cnBU, OptBindingAuthData, 44, 12, nil},             // option at 42, data after Type and Length
		{"Authentication", authBU, OptAuthentication, 52, 12, nil}, // option at 45; Type, Length, Subtype, SPI
		{"BAD missing", authBU, OptBindingAuthData, 0, 0, ErrInvalid},
		{"Auth missing", cnBU, OptAuthentication, 0, 0, ErrInvalid},
		{"not an authenticator", cnBU, OptNonceIndices, 0, 0, ErrType},
		{"truncated header", cnBU[:20], OptBindingAuthData, 0, 0, ErrTruncated},
		{"unknown MH Type", mhHex(t, "3b 00 c8 00 0000 0000"), OptBindingAuthData, 0, 0, ErrType},
		{"BAD wrong length", mhHex(t, "3b 02 05 00 0000 0001 8000 0001 05 0a 00000000000000000000"), OptBindingAuthData, 0, 0, ErrLength},
		{"Auth too short", mhHex(t, "3b 01 05 00 0000 0001 8000 0001 09 02 0000"), OptAuthentication, 0, 0, ErrLength},
		{"option overrun", mhHex(t, "3b 01 05 00 0000 0001 8000 0001 01 08 0000"), OptAuthentication, 0, 0, ErrTruncated},
	} {
		t.Run(tt.name, func(t *testing.T) {
			off, n, err := AuthenticatorOffset(tt.mh, tt.typ)
			if !errors.Is(err, tt.err) || off != tt.wantOff || n != tt.want {
				t.Errorf("AuthenticatorOffset = %d, %d, %v; want %d, %d, %v", off, n, err, tt.wantOff, tt.want, tt.err)
			}
		})
	}
	// The offsets point at the authenticators the vectors hold.
	off, n, _ := AuthenticatorOffset(cnBU, OptBindingAuthData)
	if !bytes.Equal(cnBU[off:off+n], []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}) {
		t.Errorf("BAD authenticator at %d: %x", off, cnBU[off:off+n])
	}
	off, n, _ = AuthenticatorOffset(authBU, OptAuthentication)
	if off+n != len(authBU) || !bytes.Equal(authBU[off-4:off], []byte{0, 0, 1, 0}) {
		t.Errorf("Authentication data at %d+%d in %d octets, SPI before it %x", off, n, len(authBU), authBU[off-4:off])
	}
}

// AppendMessage leaves the caller's buffer as it was when it fails.
func TestAppendMessageErrorKeepsBuffer(t *testing.T) {
	b := []byte{1, 2, 3}
	got, err := AppendMessage(b, &BindingUpdate{Lifetime: 3 * time.Second})
	if err == nil {
		t.Fatal("lifetime of 3 s marshalled")
	}
	if !bytes.Equal(got, []byte{1, 2, 3}) {
		t.Fatalf("buffer after error: %x", got)
	}
}
