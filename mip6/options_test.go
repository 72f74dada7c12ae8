package mip6

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// optVectors are single options with their wire form written by hand from
// the RFC diagrams, Type and Length included, one string per field.
var optVectors = []struct {
	name string
	opt  MobilityOption
	hex  string
}{
	{"BRA RFC 6275 §6.2.4", &BindingRefreshAdvice{RefreshInterval: 48 * time.Second},
		"02" + // Type 2
			"02" + // Length 2
			"000c"}, // Refresh Interval: 12 units of 4 s
	{"BRA max", &BindingRefreshAdvice{RefreshInterval: 0xffff * 4 * time.Second}, "02 02 ffff"},
	{"AltCoA §6.2.5", &AlternateCareofAddress{Address: mhAltCoA},
		"03" + // Type 3
			"10" + // Length 16
			"20010db8000200000000000000000200"}, // Alternate Care-of Address
	{"Nonce Indices §6.2.6", &NonceIndices{HomeNonceIndex: 0x0102, CareofNonceIndex: 0xfffe},
		"04 04" + // Type 4, Length 4
			"0102" + // Home Nonce Index
			"fffe"}, // Care-of Nonce Index
	{"BAD §6.2.7", &BindingAuthorizationData{Authenticator: [12]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		"05 0c" + // Type 5, Length 12: 96 bits (§5.2.6)
			"000102030405060708090a0b"}, // Authenticator
	{"MNP RFC 3963 §4.3", &MobileNetworkPrefix{Prefix: netip.MustParsePrefix("2001:db8:100::/48")},
		"06 12" + // Type 6, Length 18
			"00" + // Reserved
			"30" + // Prefix Length 48
			"20010db8010000000000000000000000"}, // Mobile Network Prefix
	{"MNP /128 host bits kept", &MobileNetworkPrefix{Prefix: netip.PrefixFrom(netip.MustParseAddr("2001:db8::1"), 64)},
		"06 12 00 40 20010db8000000000000000000000001"},
	{"MN-ID NAI RFC 4283 §3", MNIdentifierNAI("mn1@example.com"),
		"08 10" + // Type 8, Length 16: Subtype and Identifier
			"01" + // Subtype 1: NAI
			"6d6e31406578616d706c652e636f6d"}, // "mn1@example.com"
	{"MN-ID other subtype", &MNIdentifier{Subtype: 9, Identifier: []byte{0xff}}, "08 02 09 ff"},
	{"Auth MN-HA RFC 4285 §5", &Authentication{Subtype: AuthSubtypeMNHA, SPI: 256,
		Data: []byte{0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab}},
		"09 11" + // Type 9, Length 17: Subtype, SPI, 12 octets
			"01" + // Subtype 1: MN-HA (§5.1)
			"00000100" + // Mobility SPI 256
			"a0a1a2a3a4a5a6a7a8a9aaab"}, // Authentication Data
	{"Auth MN-AAA", &Authentication{Subtype: AuthSubtypeMNAAA, SPI: 0x01020304}, "09 05 02 01020304"},
	{"Mesg-ID RFC 4285 §6", &ReplayProtection{Timestamp: 0xe7a1b2c300000001},
		"0a 08" + // Type 10, Length 8
			"e7a1b2c300000001"}, // Timestamp
	{"IPv4 HoA RFC 5555 §3.1.1", &IPv4HomeAddress{PrefixLen: 32, Address: netip.MustParseAddr("192.0.2.100")},
		"1d 06" + // Type 29, Length 6
			"80 00" + // Prefix-len 32 in the top 6 bits (100000xx), P 0, Reserved
			"c0000264"}, // 192.0.2.100
	{"IPv4 HoA request with P", &IPv4HomeAddress{PrefixLen: 24, RequestPrefix: true, Address: netip.IPv4Unspecified()},
		"1d 06" +
			"62 00" + // 011000 1 0: Prefix-len 24, P set
			"00000000"}, // 0.0.0.0: assign one (§3.1.1)
	{"IPv4 Ack RFC 5555 §3.2.1", &IPv4AddressAck{Status: IPv4AckSuccess, PrefixLen: 32, Address: netip.MustParseAddr("192.0.2.100")},
		"1e 06" + // Type 30, Length 6
			"00" + // Status 0
			"80" + // Pref-len 32 in the top 6 bits, Res
			"c0000264"},
	// RFC 5555 §3.2.1: with a failure, Pref-len "MUST be set to zero".
	{"IPv4 Ack failure", &IPv4AddressAck{Status: IPv4AckDynamicNotAvailable, Address: netip.IPv4Unspecified()},
		"1e 06 84 00 00000000"},
	{"NAT Detection RFC 5555 §3.2.2", &NATDetection{ForceUDP: true, RefreshTime: 110 * time.Second},
		"1f 06" + // Type 31, Length 6
			"8000" + // F, Reserved
			"0000006e"}, // Refresh time 110 s
	{"NAT Detection all ones", &NATDetection{RefreshTime: 0xffffffff * time.Second}, "1f 06 0000 ffffffff"},
	{"IPv4 CoA RFC 5555 §3.1.2", &IPv4CareofAddress{Address: netip.MustParseAddr("198.51.100.10")},
		"20 06" + // Type 32, Length 6
			"0000" + // Reserved
			"c633640a"}, // 198.51.100.10
	{"BID RFC 5648 §6.1", &BindingIdentifier{BID: 1},
		"23 04" + // Type 35, Length 4
			"0001" + // BID
			"00" + // Status
			"00"}, // H, BID-PRI
	{"BID IPv4 CoA", &BindingIdentifier{BID: 2, SimultaneousHome: true, CareofAddress: netip.MustParseAddr("198.51.100.10")},
		"23 08 0002 00" +
			"80" + // H
			"c633640a"}, // IPv4 care-of address
	{"BID IPv6 CoA", &BindingIdentifier{BID: 3, Status: StatusSequenceOutOfWindow, CareofAddress: mhAltCoA},
		"23 14 0003" +
			"87" + // Status 135
			"00" +
			"20010db8000200000000000000000200"}, // IPv6 care-of address
	{"BID-PRI RFC 6089", &BindingIdentifier{BID: 0xffff, SimultaneousHome: true, Priority: 5}, "23 04 ffff 00 85"},
	{"raw RFC 5096 experimental", &RawOption{Type: 18, Data: []byte{0, 0xde, 0xad, 0xbe, 0xef}}, "12 05 00deadbeef"},
	{"raw empty", &RawOption{Type: 200}, "c8 00"},
}

func TestOptionVectors(t *testing.T) {
	for _, tt := range optVectors {
		t.Run(tt.name, func(t *testing.T) {
			want := mhHex(t, tt.hex)
			got, err := AppendMobilityOption(nil, tt.opt)
			if err != nil {
				t.Fatalf("AppendMobilityOption: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("AppendMobilityOption:\n got %x\nwant %x", got, want)
			}
			opts, err := ParseMobilityOptions(want)
			if err != nil {
				t.Fatalf("ParseMobilityOptions: %v", err)
			}
			if diff := cmp.Diff([]MobilityOption{tt.opt}, opts, mhCmpOpts); diff != "" {
				t.Errorf("ParseMobilityOptions (-want +got):\n%s", diff)
			}
			if opts[0].OptionType() != OptionType(want[0]) {
				t.Errorf("OptionType %d, wire %d", opts[0].OptionType(), want[0])
			}
		})
	}
}

// TestParseOptionsPadding: Pad1 and PadN vanish, PadN content is ignored
// (§6.2.3), and options come back in wire order.
func TestParseOptionsPadding(t *testing.T) {
	b := mhHex(t, "00 01 00 0404 00010002 00 00 01 03 ffffff 02 02 0001 01 00")
	opts, err := ParseMobilityOptions(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []MobilityOption{&NonceIndices{HomeNonceIndex: 1, CareofNonceIndex: 2}, &BindingRefreshAdvice{RefreshInterval: 4 * time.Second}}
	if diff := cmp.Diff(want, opts, mhCmpOpts); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if opts, err := ParseMobilityOptions(nil); err != nil || opts != nil {
		t.Errorf("no options: %v, %v", opts, err)
	}
}

// TestParseOptionsCopies: parsed slices do not alias the input.
func TestParseOptionsCopies(t *testing.T) {
	b := mhHex(t, "08 03 01 6162 12 01 ff 09 06 01 00000001 aa")
	opts, err := ParseMobilityOptions(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0
	}
	want := []MobilityOption{
		&MNIdentifier{Subtype: 1, Identifier: []byte("ab")},
		&RawOption{Type: 18, Data: []byte{0xff}},
		&Authentication{Subtype: 1, SPI: 1, Data: []byte{0xaa}},
	}
	if diff := cmp.Diff(want, opts, mhCmpOpts); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestOptionParseErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		hex  string
		want error
	}{
		{"no Length octet", "02", ErrTruncated},
		{"data past the end", "02 02 00", ErrTruncated},
		{"PadN past the end", "01 05 0000", ErrTruncated},
		{"BRA length 1", "02 01 00", ErrLength},
		{"BRA length 3", "02 03 000000", ErrLength},
		{"AltCoA length 15", "03 0f 20010db80002000000000000000002", ErrLength},
		{"AltCoA unspecified", "03 10 00000000000000000000000000000000", ErrAddress},
		{"AltCoA loopback", "03 10 00000000000000000000000000000001", ErrAddress},
		{"AltCoA multicast", "03 10 ff020000000000000000000000000001", ErrAddress},
		{"AltCoA link-local", "03 10 fe800000000000000000000000000001", ErrAddress},
		{"AltCoA IPv4-mapped", "03 10 00000000000000000000ffffc0000201", ErrAddress},
		{"Nonce Indices length 16 (scapy)", "04 10 00010002000000000000000000000000", ErrLength},
		{"BAD length 16 (scapy)", "05 10 00000000000000000000000000000000", ErrLength},
		{"BAD length 8", "05 08 0000000000000000", ErrLength},
		{"MNP length 17", "06 11 00 30 20010db80100000000000000000000", ErrLength},
		{"MNP length 0", "06 12 00 00 20010db8010000000000000000000000", ErrInvalid},
		{"MNP length 129", "06 12 00 81 20010db8010000000000000000000000", ErrInvalid},
		{"MN-ID empty", "08 00", ErrLength},
		{"MN-ID subtype only", "08 01 01", ErrLength},
		{"Auth length 4", "09 04 01 000001", ErrLength},
		{"Mesg-ID length 4", "0a 04 00000000", ErrLength},
		{"IPv4 HoA length 4", "1d 04 8000 c000", ErrLength},
		{"IPv4 HoA prefix-len 33", "1d 06 84 00 c0000264", ErrInvalid},
		{"IPv4 HoA prefix-len 63", "1d 06 fc 00 c0000264", ErrInvalid},
		{"IPv4 Ack length 8", "1e 08 00 80 c0000264 0000", ErrLength},
		{"IPv4 Ack pref-len 40", "1e 06 00 a0 c0000264", ErrInvalid},
		{"NAT Detection length 8", "1f 08 8000 0000006e 0000", ErrLength},
		{"IPv4 CoA length 4", "20 04 c633640a", ErrLength},
		{"BID length 0", "23 00", ErrLength},
		{"BID length 2", "23 02 0001", ErrLength},
		{"BID length 6", "23 06 0001 0000 0000", ErrLength},
		{"BID length 16", "23 10 0001 0000 000000000000000000000000", ErrLength},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := ParseMobilityOptions(mhHex(t, tt.hex))
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseMobilityOptions = %v, %v; want %v", opts, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "mip6: ") {
				t.Errorf("error %q lacks the mip6: prefix", err)
			}
		})
	}
}

func TestOptionMarshalErrors(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.1")
	for _, tt := range []struct {
		name string
		opt  MobilityOption
		want error
	}{
		{"nil", nil, ErrInvalid},
		{"typed nil", (*BindingIdentifier)(nil), ErrInvalid},
		{"BRA negative", &BindingRefreshAdvice{RefreshInterval: -4 * time.Second}, ErrInvalid},
		{"BRA not 4 s units", &BindingRefreshAdvice{RefreshInterval: 3 * time.Second}, ErrInvalid},
		{"BRA too long", &BindingRefreshAdvice{RefreshInterval: 0x10000 * 4 * time.Second}, ErrInvalid},
		{"AltCoA zero", &AlternateCareofAddress{}, ErrAddress},
		{"AltCoA IPv4", &AlternateCareofAddress{Address: v4}, ErrAddress},
		{"AltCoA IPv4-mapped", &AlternateCareofAddress{Address: netip.AddrFrom16(v4.As16())}, ErrAddress},
		{"AltCoA unspecified", &AlternateCareofAddress{Address: netip.IPv6Unspecified()}, ErrAddress},
		{"AltCoA loopback", &AlternateCareofAddress{Address: netip.IPv6Loopback()}, ErrAddress},
		{"AltCoA multicast", &AlternateCareofAddress{Address: netip.MustParseAddr("ff0e::1")}, ErrAddress},
		{"AltCoA link-local", &AlternateCareofAddress{Address: netip.MustParseAddr("fe80::1")}, ErrAddress},
		{"AltCoA zone", &AlternateCareofAddress{Address: netip.MustParseAddr("2001:db8::1%eth0")}, ErrAddress},
		{"MNP zero", &MobileNetworkPrefix{}, ErrInvalid},
		{"MNP IPv4", &MobileNetworkPrefix{Prefix: netip.MustParsePrefix("192.0.2.0/24")}, ErrAddress},
		{"MNP /0", &MobileNetworkPrefix{Prefix: netip.MustParsePrefix("::/0")}, ErrInvalid},
		{"MN-ID empty", &MNIdentifier{Subtype: 1}, ErrLength},
		{"MN-ID 255 octets", &MNIdentifier{Subtype: 1, Identifier: make([]byte, 255)}, ErrLength},
		{"Auth 251 octets", &Authentication{Data: make([]byte, 251)}, ErrLength},
		{"IPv4 HoA prefix 33", &IPv4HomeAddress{PrefixLen: 33, Address: v4}, ErrInvalid},
		{"IPv4 HoA prefix 0", &IPv4HomeAddress{PrefixLen: 0, Address: v4}, ErrInvalid}, // RFC 5555 §3.1.1
		{"IPv4 HoA IPv6", &IPv4HomeAddress{PrefixLen: 32, Address: mhHoA}, ErrAddress},
		{"IPv4 HoA zero", &IPv4HomeAddress{PrefixLen: 32}, ErrAddress},
		{"IPv4 HoA IPv4-mapped", &IPv4HomeAddress{PrefixLen: 32, Address: netip.AddrFrom16(v4.As16())}, ErrAddress},
		{"IPv4 Ack prefix 64", &IPv4AddressAck{PrefixLen: 64, Address: v4}, ErrInvalid},
		{"IPv4 Ack zero", &IPv4AddressAck{}, ErrAddress},
		{"IPv4 Ack failure with Pref-len", &IPv4AddressAck{Status: IPv4AckProhibited, PrefixLen: 24, Address: v4}, ErrInvalid},
		{"NATD negative", &NATDetection{RefreshTime: -time.Second}, ErrInvalid},
		{"NATD fraction", &NATDetection{RefreshTime: 1500 * time.Millisecond}, ErrInvalid},
		{"NATD 2^32 s", &NATDetection{RefreshTime: 1 << 32 * time.Second}, ErrInvalid},
		{"IPv4 CoA IPv6", &IPv4CareofAddress{Address: mhCoA}, ErrAddress},
		{"BID priority 128", &BindingIdentifier{Priority: 128}, ErrInvalid},
		{"BID zoned CoA", &BindingIdentifier{CareofAddress: netip.MustParseAddr("fe80::1%eth0")}, ErrAddress},
		{"raw Pad1", &RawOption{Type: OptPad1}, ErrType},
		{"raw PadN", &RawOption{Type: OptPadN}, ErrType},
		{"raw BRA", &RawOption{Type: OptBindingRefreshAdvice, Data: []byte{0, 1}}, ErrType},
		{"raw BID", &RawOption{Type: OptBindingIdentifier, Data: []byte{0, 1, 0, 0}}, ErrType},
		{"raw 256 octets", &RawOption{Type: 200, Data: make([]byte, 256)}, ErrLength},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := AppendMobilityOption(nil, tt.opt)
			if !errors.Is(err, tt.want) {
				t.Fatalf("AppendMobilityOption = %x, %v; want %v", b, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "mip6: ") {
				t.Errorf("error %q lacks the mip6: prefix", err)
			}
			// A message carrying it fails the same way.
			if tt.opt != nil {
				if _, err := MarshalMessage(&BindingUpdate{Options: []MobilityOption{tt.opt}}); !errors.Is(err, tt.want) {
					t.Errorf("MarshalMessage = %v, want %v", err, tt.want)
				}
			}
		})
	}
}

// checkPadding reports whether b[from:to] is the canonical padding of its
// length: nothing, one Pad1, or one PadN with zero data (§6.2.2, §6.2.3).
func checkPadding(t *testing.T, b []byte, from, to int) {
	t.Helper()
	p := b[from:to]
	switch n := len(p); {
	case n == 0:
	case n == 1:
		if p[0] != byte(OptPad1) {
			t.Errorf("padding at %d: %x, want Pad1", from, p)
		}
	default:
		want := append([]byte{byte(OptPadN), byte(n - 2)}, make([]byte, n-2)...)
		if !bytes.Equal(p, want) {
			t.Errorf("padding at %d: %x, want PadN %x", from, p, want)
		}
	}
}

// TestOptionAlignment puts every option after a raw option of 0 to 7 data
// octets, so it would start at each residue modulo 8, and checks that the
// encoder moved it to its xn+y with the least padding, in canonical form,
// and padded the header to 8n.
func TestOptionAlignment(t *testing.T) {
	for _, tt := range []struct {
		opt  MobilityOption
		x, y int // the RFC rule, written out here rather than read from the code
	}{
		{&BindingRefreshAdvice{}, 2, 0},                                              // RFC 6275 §6.2.4
		{&AlternateCareofAddress{Address: mhAltCoA}, 8, 6},                           // §6.2.5
		{&NonceIndices{}, 2, 0},                                                      // §6.2.6
		{&BindingAuthorizationData{}, 8, 2},                                          // §6.2.7
		{&MobileNetworkPrefix{Prefix: netip.MustParsePrefix("2001:db8::/48")}, 8, 4}, // RFC 3963 §4.3
		{MNIdentifierNAI("a@b"), 1, 0},                                               // RFC 4283 §3: none
		{&ReplayProtection{}, 8, 2},                                                  // RFC 4285 §6
		{&IPv4HomeAddress{PrefixLen: 32, Address: netip.IPv4Unspecified()}, 4, 0},    // RFC 5555 §3.1.1
		{&IPv4AddressAck{Address: netip.IPv4Unspecified()}, 4, 0},                    // §3.2.1
		{&NATDetection{}, 4, 0},                                                      // §3.2.2
		{&IPv4CareofAddress{Address: netip.MustParseAddr("192.0.2.1")}, 4, 0},        // §3.1.2
		{&BindingIdentifier{BID: 1}, 2, 0},                                           // RFC 5648 §6.1, no care-of address
		{&BindingIdentifier{BID: 1, CareofAddress: netip.MustParseAddr("192.0.2.1")}, 8, 2},
		{&BindingIdentifier{BID: 1, CareofAddress: mhCoA}, 8, 2},
		{&RawOption{Type: 100, Data: []byte{1}}, 1, 0}, // unknown: none
	} {
		tlv, err := AppendMobilityOption(nil, tt.opt)
		if err != nil {
			t.Fatal(err)
		}
		for k := range 8 {
			t.Run(tt.opt.OptionType().String()+"/"+string(rune('0'+k)), func(t *testing.T) {
				lead := &RawOption{Type: 200, Data: make([]byte, k)}
				m := &BindingRefreshRequest{Options: []MobilityOption{lead, tt.opt}}
				b, err := MarshalMessage(m)
				if err != nil {
					t.Fatal(err)
				}
				end := 8 + 2 + k // BRR options start at 8
				s := end
				for tt.x > 1 && s%tt.x != tt.y {
					s++
				}
				if s-end >= max(tt.x, 1) {
					t.Fatalf("bad rule %d/%d", tt.x, tt.y)
				}
				if s+len(tlv) > len(b) || !bytes.Equal(b[s:s+len(tlv)], tlv) {
					t.Fatalf("option not at %d:\n%x", s, b)
				}
				checkPadding(t, b, end, s)
				tail := s + len(tlv)
				if len(b)%8 != 0 || len(b)-tail >= 8 {
					t.Errorf("header of %d octets, option ends at %d", len(b), tail)
				}
				checkPadding(t, b, tail, len(b))
				got, err := ParseMessage(b)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(m, got, mhCmpOpts); diff != "" {
					t.Errorf("round trip (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// TestAuthenticationLast: RFC 4285 §5 makes the Authentication option the
// last one; the encoder puts all padding before it and ends the header
// with it, starting it at 4n+1 whenever the data length allows.
func TestAuthenticationLast(t *testing.T) {
	for _, dataLen := range []int{0, 1, 2, 3, 4, 10, 12, 16, 20, 32} {
		for k := range 8 {
			auth := &Authentication{Subtype: AuthSubtypeMNHA, SPI: 300, Data: bytes.Repeat([]byte{0xaa}, dataLen)}
			m := &BindingUpdate{Sequence: 1, Options: []MobilityOption{&RawOption{Type: 200, Data: make([]byte, k)}, auth}}
			b, err := MarshalMessage(m)
			if err != nil {
				t.Fatalf("data %d lead %d: %v", dataLen, k, err)
			}
			optLen := 7 + dataLen
			s := len(b) - optLen
			if len(b)%8 != 0 || b[s] != byte(OptAuthentication) || int(b[s+1]) != optLen-2 ||
				(dataLen%4 == 0 && s%4 != 1) || s-(12+2+k) >= 8 {
				t.Errorf("data %d lead %d: Authentication at %d of %d octets:\n%x", dataLen, k, s, len(b), b)
			}
			checkPadding(t, b, 12+2+k, s)
			off, n, err := AuthenticatorOffset(b, OptAuthentication)
			if err != nil || off != s+7 || n != dataLen || off+n != len(b) {
				t.Errorf("AuthenticatorOffset = %d, %d, %v", off, n, err)
			}
			if got, err := ParseMessage(b); err != nil || cmp.Diff(m, got, mhCmpOpts) != "" {
				t.Errorf("round trip: %v %s", err, cmp.Diff(m, got, mhCmpOpts))
			}
		}
	}
	// The mh-bu-auth layout (RFC 4285 with HMAC_SHA1_96): after a 10-octet
	// Mesg-ID at 34, one Pad1 at 44 and the option at 45, ending at 64.
	b, err := MarshalMessage(&BindingUpdate{Options: []MobilityOption{
		MNIdentifierNAI("mn1@example.com"), &ReplayProtection{}, &Authentication{Subtype: 1, Data: make([]byte, 12)}}})
	if err != nil || len(b) != 64 || b[44] != byte(OptPad1) || b[45] != byte(OptAuthentication) {
		t.Errorf("mh-bu-auth layout: %v\n%x", err, b)
	}
	// MN-HA then MN-AAA: the first at 4n+1 (its own rule), the last one
	// ending the header, all padding before it.
	b, err = MarshalMessage(&BindingUpdate{Options: []MobilityOption{
		&Authentication{Subtype: AuthSubtypeMNHA, SPI: 256, Data: make([]byte, 12)},
		&Authentication{Subtype: AuthSubtypeMNAAA, SPI: 257, Data: make([]byte, 12)}}})
	want := mhHex(t, "3b 06 05 00 0000 0000 0000 0000"+
		"00"+ // offset 12: Pad1, MN-HA at 13 = 4n+1
		"09 11 01 00000100 000000000000000000000000"+ // 13 to 32
		"01 03 000000"+ // offset 32: PadN(3), so MN-AAA ends at 56
		"09 11 02 00000101 000000000000000000000000") // 37 = 4n+1 to 56
	if err != nil || !bytes.Equal(b, want) {
		t.Errorf("MN-HA + MN-AAA: %v\n got %x\nwant %x", err, b, want)
	}

	for _, tt := range []struct {
		name string
		opts []MobilityOption
	}{
		{"before Nonce Indices", []MobilityOption{&Authentication{}, &NonceIndices{}}},
		{"before a raw option", []MobilityOption{&Authentication{}, &Authentication{}, &RawOption{Type: 200}}},
	} {
		if _, err := MarshalMessage(&BindingUpdate{Options: tt.opts}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", tt.name, err)
		}
	}
	// Parse refuses the same: an option after the authenticator would not
	// be covered by it. Padding after it carries nothing and is accepted.
	b = mhHex(t, "3b 02 05 00 0000 0001 0000 0000 09 05 01 00000100 02 02 0000 00")
	if _, err := ParseMessage(b); !errors.Is(err, ErrInvalid) {
		t.Errorf("BRA after Authentication: %v, want ErrInvalid", err)
	}
	b = mhHex(t, "3b 02 05 00 0000 0001 0000 0000 09 05 01 00000100 01 03 000000")
	if _, err := ParseMessage(b); err != nil {
		t.Errorf("PadN after Authentication: %v", err)
	}
}

// TestParseAcceptsMisaligned: alignment is a sender rule; scapy and others
// break it, so a receiver that refused would not interoperate.
func TestParseAcceptsMisaligned(t *testing.T) {
	// AltCoA at offset 12 (not 8n+6), BAD at 30 (not 8n+2), then Pad1s.
	b := mhHex(t, "3b 05 05 00 0000 0001 8000 0001"+
		"03 10 20010db8000200000000000000000200"+
		"05 0c 000102030405060708090a0b"+
		"00 00 00 00")
	m, err := ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	want := &BindingUpdate{Sequence: 1, Flags: BUFlagA, Lifetime: 4 * time.Second, Options: []MobilityOption{
		&AlternateCareofAddress{Address: mhAltCoA},
		&BindingAuthorizationData{Authenticator: [12]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
	}}
	if diff := cmp.Diff(want, m, mhCmpOpts); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestReplayProtectionTime(t *testing.T) {
	for _, tt := range []struct {
		ts   uint64
		time time.Time
	}{
		// NTP second 0x83aa7e80 = 2208988800 is the Unix epoch (RFC 5905).
		{0x83aa7e80_00000000, time.Unix(0, 0)},
		{0x83aa7e80_80000000, time.Unix(0, 5e8)}, // half a second
		// 3 ns = 12.88 units of 2^-32 s: rounded to 13, not cut to 12.
		{0x83aa7e80_0000000d, time.Unix(0, 3)},
		// The mh-bu-auth vector: 0xe7a1b2c3 = 2023-02-23 09:39:15 UTC.
		{0xe7a1b2c3_00000000, time.Date(2023, 2, 23, 9, 39, 15, 0, time.UTC)},
		// Era 1 (RFC 4330 §3): seconds 0 are 2036-02-07 06:28:16 UTC.
		{0, time.Date(2036, 2, 7, 6, 28, 16, 0, time.UTC)},
		{0x7fffffff_00000000, time.Date(2036, 2, 7, 6, 28, 16, 0, time.UTC).Add(0x7fffffff * time.Second)},
	} {
		if got := ReplayProtectionAt(tt.time).Timestamp; got != tt.ts {
			t.Errorf("ReplayProtectionAt(%v) = %#x, want %#x", tt.time, got, tt.ts)
		}
		if got := (&ReplayProtection{Timestamp: tt.ts}).Time(); !got.Equal(tt.time) || got.Location() != time.UTC {
			t.Errorf("Time(%#x) = %v, want %v", tt.ts, got, tt.time)
		}
	}
	// Any nanosecond survives the trip: 2^-32 s is finer than 1 ns.
	for _, ns := range []int{0, 1, 499999999, 500000000, 999999999} {
		in := time.Date(2025, 6, 1, 12, 0, 0, ns, time.UTC)
		if got := ReplayProtectionAt(in).Time(); !got.Equal(in) {
			t.Errorf("%v -> %v", in, got)
		}
	}
}

func TestMNIdentifierNAI(t *testing.T) {
	if s, ok := MNIdentifierNAI("mn@example.com").NAI(); !ok || s != "mn@example.com" {
		t.Errorf("NAI() = %q, %v", s, ok)
	}
	if s, ok := (&MNIdentifier{Subtype: 2, Identifier: []byte("x")}).NAI(); ok || s != "" {
		t.Errorf("subtype 2: NAI() = %q, %v", s, ok)
	}
}

func TestOptionTypeString(t *testing.T) {
	for _, tt := range []struct {
		t    OptionType
		want string
	}{
		{OptPad1, "Pad1"}, {OptPadN, "PadN"}, {OptBindingRefreshAdvice, "BindingRefreshAdvice"},
		{OptAlternateCareofAddress, "AlternateCareofAddress"}, {OptNonceIndices, "NonceIndices"},
		{OptBindingAuthData, "BindingAuthorizationData"}, {OptMobileNetworkPrefix, "MobileNetworkPrefix"},
		{OptMNIdentifier, "MNIdentifier"}, {OptAuthentication, "Authentication"},
		{OptReplayProtection, "ReplayProtection"}, {OptIPv4HomeAddress, "IPv4HomeAddress"},
		{OptIPv4AddressAck, "IPv4AddressAck"}, {OptNATDetection, "NATDetection"},
		{OptIPv4CareofAddress, "IPv4CareofAddress"}, {OptBindingIdentifier, "BindingIdentifier"},
		{7, "option(7)"}, {255, "option(255)"},
	} {
		if got := tt.t.String(); got != tt.want {
			t.Errorf("OptionType(%d).String() = %q, want %q", tt.t, got, tt.want)
		}
	}
}

// RFC 6275 §6.2.7: the Binding Authorization Data option must be the last
// mobility option; both directions refuse anything after it.
func TestBindingAuthDataLast(t *testing.T) {
	m := &BindingUpdate{Sequence: 1, Lifetime: 8 * time.Second, Options: []MobilityOption{
		&BindingAuthorizationData{}, &NonceIndices{HomeNonceIndex: 1, CareofNonceIndex: 2},
	}}
	if _, err := MarshalMessage(m); !errors.Is(err, ErrInvalid) {
		t.Fatalf("marshal with an option after BAD: %v, want ErrInvalid", err)
	}
	m.Options[0], m.Options[1] = m.Options[1], m.Options[0]
	b, err := MarshalMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	// Swap the two options in the wire form (BAD at 8n+2 then Nonce
	// Indices) by hand: Parse must refuse it too.
	bad := &BindingUpdate{Sequence: 1, Lifetime: 8 * time.Second, Options: []MobilityOption{&BindingAuthorizationData{}}}
	wire, err := MarshalMessage(bad)
	if err != nil {
		t.Fatal(err)
	}
	// Append Nonce Indices (type 4, length 4) after the BAD and fix the
	// Header Len: 24 + 6 octets, padded to 32 with a PadN of 2.
	wire = append(wire, byte(OptNonceIndices), 4, 0, 1, 0, 2, byte(OptPadN), 0)
	wire[1] = byte(len(wire)/8 - 1)
	if _, err := ParseMessage(wire); !errors.Is(err, ErrInvalid) {
		t.Fatalf("parse with an option after BAD: %v, want ErrInvalid", err)
	}
	if _, err := ParseMessage(b); err != nil {
		t.Fatalf("BAD last: %v", err)
	}
}

// TestIPv4AckFailureIgnoresPrefixLen: RFC 5555 §3.2.1 has the receiver
// ignore Pref-len when the Status is a failure (128 and up), so a Binding
// Acknowledgement that echoes the request's length, or carries garbage
// there, still parses; the value comes back as 0. With success the field
// counts and 40 is refused.
func TestIPv4AckFailureIgnoresPrefixLen(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.100")
	for _, tt := range []struct {
		name, hex string
		want      MobilityOption
		err       error
	}{
		{"failure, Pref-len 40", "1e 06 80 a0 c0000264", &IPv4AddressAck{Status: IPv4AckUnspecified, Address: v4}, nil},
		{"failure, Pref-len 24 echoed", "1e 06 83 60 c0000264", &IPv4AddressAck{Status: IPv4AckInvalidAddress, Address: v4}, nil},
		{"failure, Pref-len 63 and Res bits", "1e 06 ff ff c0000264", &IPv4AddressAck{Status: 255, Address: v4}, nil},
		{"success 127, Pref-len 40", "1e 06 7f a0 c0000264", nil, ErrInvalid},
		{"success, Pref-len 24", "1e 06 00 60 c0000264", &IPv4AddressAck{Status: IPv4AckSuccess, PrefixLen: 24, Address: v4}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := ParseMobilityOptions(mhHex(t, tt.hex))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]MobilityOption{tt.want}, opts, mhCmpOpts); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// And it writes back, Pref-len zero as §3.2.1 requires.
			b, err := AppendMobilityOption(nil, opts[0])
			if err != nil {
				t.Fatal(err)
			}
			if ipv4AckFailed(opts[0].(*IPv4AddressAck).Status) && b[3] != 0 {
				t.Errorf("re-encoded %x: Pref-len octet not 0", b)
			}
		})
	}
}

// TestParseRefusesWhatCannotBeAligned: 113 Alternate Care-of Address
// options packed back to back after the 12 octets of a Binding Update
// fill Header Len 255 exactly (12 + 113*18 + PadN 2 = 2048), but the
// encoder puts each at 8n+6 (RFC 6275 §6.2.5): the first at 14, then
// every 24 octets, so the k-th ends at 24k+8 and 113 would need 2720.
// Parse refuses it (ErrLength), so that everything Parse accepts
// marshals. 85 options end at 2048 once aligned and parse; 86 (1560
// octets on the wire, 2072 aligned) do not.
func TestParseRefusesWhatCannotBeAligned(t *testing.T) {
	build := func(n int) []byte {
		b := mhHex(t, "3b 00 05 00 0000 0001 0000 0001")
		for range n {
			b = append(b, mhHex(t, "03 10 20010db8000200000000000000000200")...)
		}
		if pad := (8 - len(b)%8) % 8; pad == 1 {
			b = append(b, 0)
		} else if pad > 1 {
			b = append(b, 1, byte(pad-2))
			b = append(b, make([]byte, pad-2)...)
		}
		b[1] = byte(len(b)/8 - 1)
		return b
	}
	dense := build(113)
	if len(dense) != MaxMHLen {
		t.Fatalf("dense BU is %d octets, want %d", len(dense), MaxMHLen)
	}
	if _, err := ParseMessage(dense); !errors.Is(err, ErrLength) {
		t.Errorf("ParseMessage(dense) err = %v, want ErrLength", err)
	}
	for _, n := range []int{84, 85} {
		m, err := ParseMessage(build(n))
		if err != nil {
			t.Fatalf("%d options: %v", n, err)
		}
		out, err := MarshalMessage(m)
		if err != nil {
			t.Fatalf("%d options: marshal: %v", n, err)
		}
		if n == 85 && len(out) != MaxMHLen {
			t.Errorf("85 aligned options: %d octets, want %d", len(out), MaxMHLen)
		}
	}
	if _, err := ParseMessage(build(86)); !errors.Is(err, ErrLength) {
		t.Errorf("86 options: err = %v, want ErrLength", err)
	}
}
