package mip6

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// scapyRA is a radvd-style RA from a home agent, built by scapy (the ICMPv6
// part of the packet; scapy computed the checksum over the addresses below):
//
//	IPv6(src="fe80::5054:ff:fe12:3456", dst="ff02::1", hlim=255)/
//	ICMPv6ND_RA(chlim=64, M=0, O=1, H=1, prf=1, P=0, routerlifetime=1800,
//	            reachabletime=30000, retranstimer=1000)/
//	ICMPv6NDOptSrcLLAddr(lladdr="52:54:00:12:34:56")/
//	ICMPv6NDOptMTU(mtu=1500)/
//	ICMPv6NDOptPrefixInfo(prefixlen=64, L=1, A=1, R=1, validlifetime=86400,
//	                      preferredlifetime=14400, prefix="2001:db8:1::1")/
//	ICMPv6NDOptAdvInterval(advint=3000)/
//	ICMPv6NDOptHAInfo(pref=0xfff6, lifetime=1800)/
//	ICMPv6NDOptRDNSS(lifetime=600, dns=["2001:db8::53"])/
//	ICMPv6NDOptDNSSL(lifetime=600, searchlist=["example.org"])/
//	ICMPv6NDOptRouteInfo(plen=48, prf=1, rtlifetime=1800, prefix="2001:db8:2::")
const scapyRA = `
	86 00 d0aa        // type 134, code 0, checksum
	40 68 0708        // cur hop limit 64; M=0 O=1 H=1 Prf=01 (high) P=0; router lifetime 1800 s
	00007530          // reachable time 30000 ms
	000003e8          // retrans timer 1000 ms
	01 01 525400123456 // source link-layer address
	05 01 0000 000005dc // MTU 1500
	03 04 40 e0 00015180 00003840 00000000 // prefix info: /64, L A R, valid 86400 s, preferred 14400 s
	20010db8000100000000000000000001       //   the router's address 2001:db8:1::1 (R)
	07 01 0000 00000bb8 // advertisement interval 3000 ms (RFC 6275 §7.3)
	08 01 0000 fff6 0708 // HA information: preference -10, lifetime 1800 s (§7.4)
	19 03 0000 00000258 20010db8000000000000000000000053 // RDNSS (RFC 8106), raw
	1f 03 0000 00000258 076578616d706c65036f7267 00 000000 // DNSSL (RFC 8106), raw
	18 03 30 08 00000708 20010db8000200000000000000000000 // Route Information (RFC 4191), raw
`

var scapyRAStruct = &RouterAdvertisement{
	CurHopLimit:    64,
	Other:          true,
	HomeAgent:      true,
	Preference:     RouterPreferenceHigh,
	RouterLifetime: 1800 * time.Second,
	ReachableTime:  30 * time.Second,
	RetransTimer:   time.Second,
	Options: []NDOption{
		&NDLinkLayerAddress{Addr: net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}},
		&NDMTU{MTU: 1500},
		&PrefixInformation{
			Prefix: netip.PrefixFrom(netip.MustParseAddr("2001:db8:1::1"), 64),
			OnLink: true, Autonomous: true, RouterAddress: true,
			ValidLifetime: 86400 * time.Second, PreferredLifetime: 14400 * time.Second,
		},
		&AdvertisementInterval{Interval: 3 * time.Second},
		&HomeAgentInformation{Preference: -10, Lifetime: 1800 * time.Second},
		&RawNDOption{Type: 25, Data: mustHexView("0000 00000258 20010db8000000000000000000000053")},
		&RawNDOption{Type: 31, Data: mustHexView("0000 00000258 076578616d706c65036f7267 00 000000")},
		&RawNDOption{Type: 24, Data: mustHexView("30 08 00000708 20010db8000200000000000000000000")},
	},
}

func TestParseRouterAdvertisementScapy(t *testing.T) {
	wire := hexView(t, scapyRA)
	src, dst := netip.MustParseAddr("fe80::5054:ff:fe12:3456"), netip.MustParseAddr("ff02::1")
	if !VerifyICMPChecksum(wire, src, dst) {
		t.Error("scapy's checksum does not verify")
	}
	ra, err := ParseRouterAdvertisement(wire)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(scapyRAStruct, ra, viewCmpOpts); d != "" {
		t.Errorf("parse (-want +got):\n%s", d)
	}
	m, err := ParseICMP(wire)
	if err != nil || cmp.Diff(ICMPMessage(scapyRAStruct), m, viewCmpOpts) != "" {
		t.Errorf("ParseICMP differs from ParseRouterAdvertisement: %v", err)
	}
	// Marshal + checksum gives scapy's bytes back exactly.
	out, err := MarshalICMP(ra)
	if err != nil {
		t.Fatal(err)
	}
	if out[2] != 0 || out[3] != 0 {
		t.Error("Marshal wrote a checksum")
	}
	SetICMPChecksum(out, src, dst)
	if d := cmp.Diff(wire, out); d != "" {
		t.Errorf("marshal (-want +got):\n%s", d)
	}
}

func TestNDOptionVectors(t *testing.T) {
	// Each option by hand from its RFC diagram.
	for _, tc := range []struct {
		name string
		wire string
		opt  NDOption
	}{
		{"prefix information, masked (RFC 4861 §4.6.2)", `
			03 04      // type 3, length 4 (32 octets)
			30         // prefix length 48
			80         // L=1 A=0 R=0, Reserved1
			ffffffff   // valid lifetime: infinity
			00000e10   // preferred lifetime 3600 s
			00000000   // Reserved2
			20010db8000200000000000000000000`,
			&PrefixInformation{
				Prefix: netip.MustParsePrefix("2001:db8:2::/48"), OnLink: true,
				ValidLifetime: NDInfiniteLifetime, PreferredLifetime: time.Hour,
			}},
		{"prefix information, R keeps the whole address (RFC 6275 §7.2)", `
			03 04 40 60 00000000 00000000 00000000 // /64, A=1 R=1, lifetimes 0
			20010db80001000000000000000000fe`,
			&PrefixInformation{
				Prefix:     netip.PrefixFrom(netip.MustParseAddr("2001:db8:1::fe"), 64),
				Autonomous: true, RouterAddress: true,
			}},
		{"prefix length 0 and 128", `
			03 04 80 00 00000001 00000001 00000000 20010db8000100000000000000000001`,
			&PrefixInformation{Prefix: netip.MustParsePrefix("2001:db8:1::1/128"),
				ValidLifetime: time.Second, PreferredLifetime: time.Second}},
		{"advertisement interval (RFC 6275 §7.3)", `
			07 01       // type 7, length 1
			0000        // reserved
			00015f90    // 90000 ms`,
			&AdvertisementInterval{Interval: 90 * time.Second}},
		{"HA information, R flag (RFC 3963 §7.3)", `
			08 01       // type 8, length 1
			8000        // R=1, reserved
			7fff        // preference +32767
			ffff        // lifetime 65535 s`,
			&HomeAgentInformation{MobileRouter: true, Preference: 32767, Lifetime: 65535 * time.Second}},
		{"HA information, most negative preference", `08 01 0000 8000 0001`,
			&HomeAgentInformation{Preference: -32768, Lifetime: time.Second}},
		{"target link-layer address (RFC 4861 §4.6.1)", `02 01 0a0b0c0d0e0f`,
			&NDLinkLayerAddress{Target: true, Addr: net.HardwareAddr{10, 11, 12, 13, 14, 15}}},
		{"EUI-64 link-layer address keeps its padding", `01 02 0102030405060708 000000000000`,
			&NDLinkLayerAddress{Addr: mustHexView("0102030405060708 000000000000")}},
		{"MTU (RFC 4861 §4.6.4)", `05 01 0000 00002328`, &NDMTU{MTU: 9000}},
		{"unknown option 200, length 2", `c8 02 0102030405060708090a0b0c0d0e`,
			&RawNDOption{Type: 200, Data: mustHexView("0102030405060708090a0b0c0d0e")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wire := hexView(t, tc.wire)
			opts, err := ParseNDOptions(wire)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff([]NDOption{tc.opt}, opts, viewCmpOpts); d != "" {
				t.Errorf("parse (-want +got):\n%s", d)
			}
			out, err := AppendNDOptions(nil, opts)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(wire, out); d != "" {
				t.Errorf("marshal (-want +got):\n%s", d)
			}
			if opts[0].NDOptionType() != wire[0] {
				t.Errorf("NDOptionType = %d, want %d", opts[0].NDOptionType(), wire[0])
			}
		})
	}
}

func TestNDOptionParseNormalizes(t *testing.T) {
	for _, tc := range []struct {
		name, wire, canonical string
		opt                   NDOption
	}{
		{"host bits without R are ignored (RFC 4861 §4.6.2)",
			"03 04 40 c0 0000003c 0000003c 00000000 20010db80001000000000000000000ff",
			"03 04 40 c0 0000003c 0000003c 00000000 20010db8000100000000000000000000",
			&PrefixInformation{Prefix: netip.MustParsePrefix("2001:db8:1::/64"), OnLink: true, Autonomous: true,
				ValidLifetime: time.Minute, PreferredLifetime: time.Minute}},
		{"reserved fields are ignored",
			"03 04 40 1f 0000003c 0000003c ffffffff 20010db8000100000000000000000000",
			"03 04 40 00 0000003c 0000003c 00000000 20010db8000100000000000000000000",
			&PrefixInformation{Prefix: netip.MustParsePrefix("2001:db8:1::/64"),
				ValidLifetime: time.Minute, PreferredLifetime: time.Minute}},
		{"HA info reserved bits", "08 01 7fff 0001 0001", "08 01 0000 0001 0001",
			&HomeAgentInformation{Preference: 1, Lifetime: time.Second}},
		{"adv interval reserved", "07 01 ffff 00000001", "07 01 0000 00000001",
			&AdvertisementInterval{Interval: time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := ParseNDOptions(hexView(t, tc.wire))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff([]NDOption{tc.opt}, opts, viewCmpOpts); d != "" {
				t.Errorf("parse (-want +got):\n%s", d)
			}
			out, err := AppendNDOptions(nil, opts)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(hexView(t, tc.canonical), out); d != "" {
				t.Errorf("marshal (-want +got):\n%s", d)
			}
		})
	}
}

func TestHomeAgentLifetimeZero(t *testing.T) {
	// RFC 6275 §7.4: a sender MUST NOT use 0; §10.5.1: a home agent that
	// receives 0 deletes the entry. So Parse keeps it and Marshal refuses.
	opts, err := ParseNDOptions(hexView(t, "08 01 0000 0005 0000"))
	if err != nil {
		t.Fatal(err)
	}
	want := []NDOption{&HomeAgentInformation{Preference: 5, Lifetime: 0}}
	if d := cmp.Diff(want, opts); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if _, err := AppendNDOptions(nil, opts); !errors.Is(err, ErrInvalid) {
		t.Errorf("Marshal of lifetime 0: %v, want ErrInvalid", err)
	}
}

func TestNDOptionParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, wire string
		want       error
	}{
		{"length 0 (RFC 4861 §4.6)", "19 00 000000000000", ErrLength},
		{"one octet", "01", ErrTruncated},
		{"length past the end", "01 02 525400123456", ErrTruncated},
		{"second option cut", "05 01 0000 000005dc 07", ErrTruncated},
		{"prefix info length 3", "03 03 40 c0 0000003c 0000003c 00000000 20010db80001000000000000", ErrLength},
		{"prefix length 129", "03 04 81 c0 0000003c 0000003c 00000000 20010db8000100000000000000000000", ErrInvalid},
		{"adv interval length 2", "07 02 0000 00000001 0000000000000000", ErrLength},
		{"HA info length 2", "08 02 0000 0001 0001 0000000000000000", ErrLength},
		{"MTU length 2", "05 02 0000 000005dc 0000000000000000", ErrLength},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseNDOptions(hexView(t, tc.wire)); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestNDOptionMarshalErrors(t *testing.T) {
	p64 := netip.MustParsePrefix("2001:db8:1::/64")
	for _, tc := range []struct {
		name string
		opt  NDOption
		want error
	}{
		{"nil interface", nil, ErrInvalid},
		{"nil pointer", (*PrefixInformation)(nil), ErrInvalid},
		{"nil HA info", (*HomeAgentInformation)(nil), ErrInvalid},
		{"nil adv interval", (*AdvertisementInterval)(nil), ErrInvalid},
		{"nil link-layer", (*NDLinkLayerAddress)(nil), ErrInvalid},
		{"nil MTU", (*NDMTU)(nil), ErrInvalid},
		{"nil raw", (*RawNDOption)(nil), ErrInvalid},
		{"zero prefix", &PrefixInformation{}, ErrAddress},
		{"IPv4 prefix", &PrefixInformation{Prefix: netip.MustParsePrefix("192.0.2.0/24")}, ErrAddress},
		{"host bits without R", &PrefixInformation{Prefix: netip.MustParsePrefix("2001:db8:1::1/64")}, ErrInvalid},
		{"fractional lifetime", &PrefixInformation{Prefix: p64, ValidLifetime: 1500 * time.Millisecond}, ErrInvalid},
		{"negative lifetime", &PrefixInformation{Prefix: p64, PreferredLifetime: -time.Second}, ErrInvalid},
		{"lifetime past infinity", &PrefixInformation{Prefix: p64, ValidLifetime: NDInfiniteLifetime + time.Second}, ErrInvalid},
		{"interval in microseconds", &AdvertisementInterval{Interval: 1500 * time.Microsecond}, ErrInvalid},
		{"interval over 32 bits", &AdvertisementInterval{Interval: (1 << 32) * time.Millisecond}, ErrInvalid},
		{"HA lifetime 0 (RFC 6275 §7.4)", &HomeAgentInformation{Preference: 1}, ErrInvalid},
		{"HA lifetime over 65535 s", &HomeAgentInformation{Lifetime: 65536 * time.Second}, ErrInvalid},
		{"HA lifetime fractional", &HomeAgentInformation{Lifetime: 1500 * time.Millisecond}, ErrInvalid},
		{"empty link-layer address", &NDLinkLayerAddress{}, ErrLength},
		{"link-layer address too long", &NDLinkLayerAddress{Addr: make([]byte, 2039)}, ErrLength},
		{"raw of a known type", &RawNDOption{Type: NDOptHomeAgentInformation, Data: make([]byte, 6)}, ErrType},
		{"raw of 7 octets", &RawNDOption{Type: 25, Data: make([]byte, 5)}, ErrLength},
		{"raw empty", &RawNDOption{Type: 25}, ErrLength},
		{"raw too long", &RawNDOption{Type: 25, Data: make([]byte, 2046)}, ErrLength},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte{0xee}
			out, err := AppendNDOptions(prefix, []NDOption{&NDMTU{MTU: 1280}, tc.opt})
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if len(out) != 1 {
				t.Errorf("on error the output grew to %d octets", len(out))
			}
		})
	}
	// The longest options are allowed.
	if _, err := AppendNDOptions(nil, []NDOption{
		&NDLinkLayerAddress{Addr: make([]byte, 2038)}, &RawNDOption{Type: 25, Data: make([]byte, 2038)},
	}); err != nil {
		t.Errorf("longest options: %v", err)
	}
}

func TestLinkLayerAddressPadding(t *testing.T) {
	// A 7-octet address is padded with zeros to 16 octets (length 2).
	out, err := AppendNDOptions(nil, []NDOption{&NDLinkLayerAddress{Addr: []byte{1, 2, 3, 4, 5, 6, 7}}})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(hexView(t, "01 02 01020304050607 00000000000000"), out); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestRouterAdvertisementFlags(t *testing.T) {
	// The flags octet of RFC 4861 §4.2 with H (RFC 6275 §7.1), Prf (RFC
	// 4191 §2.2) and P (RFC 4389 §4.1): |M|O|H|Prf|P|R|R|.
	for _, tc := range []struct {
		name      string
		flags     byte
		lifetime  string
		want      RouterAdvertisement
		canonical byte
	}{
		{"M", 0x80, "0001", RouterAdvertisement{Managed: true}, 0x80},
		{"O", 0x40, "0001", RouterAdvertisement{Other: true}, 0x40},
		{"H", 0x20, "0001", RouterAdvertisement{HomeAgent: true}, 0x20},
		{"Prf high 01", 0x08, "0001", RouterAdvertisement{Preference: RouterPreferenceHigh}, 0x08},
		{"Prf low 11", 0x18, "0001", RouterAdvertisement{Preference: RouterPreferenceLow}, 0x18},
		{"Prf reserved 10 reads as medium", 0x10, "0001", RouterAdvertisement{}, 0x00},
		{"Prf ignored under lifetime 0", 0x08, "0000", RouterAdvertisement{}, 0x00},
		{"P", 0x04, "0001", RouterAdvertisement{Proxy: true}, 0x04},
		{"reserved bits ignored", 0x03, "0001", RouterAdvertisement{}, 0x00},
		{"all", 0xff, "0001", RouterAdvertisement{Managed: true, Other: true, HomeAgent: true,
			Preference: RouterPreferenceLow, Proxy: true}, 0xfc},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wire := hexView(t, "86 00 0000 00 00"+tc.lifetime+"00000000 00000000")
			wire[5] = tc.flags
			ra, err := ParseRouterAdvertisement(wire)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if tc.lifetime == "0001" {
				want.RouterLifetime = time.Second
			}
			if d := cmp.Diff(&want, ra); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
			out, err := MarshalICMP(ra)
			if err != nil {
				t.Fatal(err)
			}
			if out[5] != tc.canonical {
				t.Errorf("flags marshal to %#x, want %#x", out[5], tc.canonical)
			}
		})
	}
}

func TestRouterAdvertisementVector(t *testing.T) {
	// RFC 4861 §4.2 by hand, no options.
	wire := hexView(t, `
		86 00 0000   // type 134, code 0, checksum (zero: not yet computed)
		ff           // cur hop limit 255
		00           // no flags
		ffff         // router lifetime 65535 s
		ffffffff     // reachable time 2^32-1 ms
		00000001     // retrans timer 1 ms
	`)
	want := &RouterAdvertisement{
		CurHopLimit: 255, RouterLifetime: 65535 * time.Second,
		ReachableTime: 0xffffffff * time.Millisecond, RetransTimer: time.Millisecond,
	}
	ra, err := ParseRouterAdvertisement(wire)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, ra); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	out, err := AppendICMP(nil, ra)
	if err != nil || cmp.Diff(wire, out) != "" {
		t.Errorf("marshal: %x, %v", out, err)
	}
}

func TestRouterAdvertisementErrors(t *testing.T) {
	for _, tc := range []struct {
		name, wire string
		want       error
	}{
		{"15 octets", "86 00 0000 40 00 0708 00000000 000000", ErrTruncated},
		{"type 133", "85 00 0000 40 00 0708 00000000 00000000", ErrType},
		{"code 1 (RFC 4861 §6.1.2)", "86 01 0000 40 00 0708 00000000 00000000", ErrInvalid},
		{"zero-length option", "86 00 0000 40 00 0708 00000000 00000000 01 00 000000000000", ErrLength},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseRouterAdvertisement(hexView(t, tc.wire)); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}

	for _, tc := range []struct {
		name string
		ra   *RouterAdvertisement
		want error
	}{
		{"nil", nil, ErrInvalid},
		{"lifetime over 16 bits", &RouterAdvertisement{RouterLifetime: 65536 * time.Second}, ErrInvalid},
		{"fractional lifetime", &RouterAdvertisement{RouterLifetime: 1500 * time.Millisecond}, ErrInvalid},
		{"reachable time in microseconds", &RouterAdvertisement{ReachableTime: time.Microsecond}, ErrInvalid},
		{"negative retrans timer", &RouterAdvertisement{RetransTimer: -time.Millisecond}, ErrInvalid},
		{"preference 2", &RouterAdvertisement{RouterLifetime: time.Second, Preference: 2}, ErrInvalid},
		{"preference -2 (reserved 10)", &RouterAdvertisement{RouterLifetime: time.Second, Preference: -2}, ErrInvalid},
		{"high preference with lifetime 0 (RFC 4191 §2.2)", &RouterAdvertisement{Preference: RouterPreferenceHigh}, ErrInvalid},
		{"bad option", &RouterAdvertisement{Options: []NDOption{&RawNDOption{Type: 3}}}, ErrType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := AppendICMP([]byte{1, 2}, tc.ra)
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if len(out) != 2 {
				t.Errorf("on error the output grew to %d octets", len(out))
			}
		})
	}
}

func TestRouterPreferenceString(t *testing.T) {
	got := []string{RouterPreferenceLow.String(), RouterPreferenceMedium.String(),
		RouterPreferenceHigh.String(), RouterPreference(-2).String()}
	want := []string{"low", "medium", "high", "RouterPreference(-2)"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestNDOptionTypeOfNil(t *testing.T) {
	// NDOptionType must not panic on typed nil pointers: callers switch
	// on it before validation.
	for _, o := range []NDOption{(*PrefixInformation)(nil), (*AdvertisementInterval)(nil),
		(*HomeAgentInformation)(nil), (*NDLinkLayerAddress)(nil), (*NDMTU)(nil), (*RawNDOption)(nil)} {
		_ = o.NDOptionType()
	}
}
