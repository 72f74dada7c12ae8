package mip6

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Two scapy-built messages with their IPv6 packets; scapy filled the
// checksums over the IPv6 addresses (no HAO, no RH2).
//
//	IPv6(src="2001:db8:9::100", dst="2001:db8:1::fdff:ffff:ffff:fffe")/
//	ICMPv6HAADRequest(id=0xbeef, R=0)
const scapyHAADRequest = `
	60000000 0008 3a 40
	20010db8000900000000000000000100 // the mobile node's care-of address
	20010db800010000fdfffffffffffffe // Mobile IPv6 Home-Agents anycast (RFC 2526)
	90 00 5652 beef 0000             // type 144, code 0, checksum, id, R=0
`

// IPv6(src="2001:db8:1::1", dst="2001:db8:9::100")/
// ICMPv6HAADReply(id=0xbeef, R=1, addresses=["2001:db8:1::1","2001:db8:1::2"])
const scapyHAADReply = `
	60000000 0028 3a 40
	20010db8000100000000000000000001
	20010db8000900000000000000000100
	91 00 77b8 beef 8000             // type 145, code 0, checksum, id, R=1 (RFC 3963 §7.2)
	20010db8000100000000000000000001 // home agent 1
	20010db8000100000000000000000002 // home agent 2
`

func TestICMPScapyVectors(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		name string
		pkt  string
		want ICMPMessage
	}{
		{"HAAD request", scapyHAADRequest, &HomeAgentDiscoveryRequest{Identifier: 0xbeef}},
		{"HAAD reply", scapyHAADReply, &HomeAgentDiscoveryReply{Identifier: 0xbeef, MobileRouter: true,
			HomeAgents: []netip.Addr{a("2001:db8:1::1"), a("2001:db8:1::2")}}},
		{"MPS behind a HAO", scapyMPS, &MobilePrefixSolicitation{Identifier: 0x1234}},
		{"MPA behind an RH2", scapyMPA, &MobilePrefixAdvertisement{Identifier: 0x1234, Managed: true,
			Options: []NDOption{&PrefixInformation{
				Prefix: netip.PrefixFrom(a("2001:db8:1::1"), 64), OnLink: true, Autonomous: true, RouterAddress: true,
				ValidLifetime: 86400 * time.Second, PreferredLifetime: 14400 * time.Second,
			}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkt := hexView(t, tc.pkt)
			l, err := WalkIPv6(pkt)
			if err != nil || l.Proto != ProtoICMPv6 {
				t.Fatalf("walk: %+v, %v", l, err)
			}
			wire := pkt[l.Offset:l.End]
			if !VerifyICMPChecksum(wire, l.PseudoSrc, l.PseudoDst) {
				t.Error("scapy's checksum does not verify")
			}
			m, err := ParseICMP(wire)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, m, viewCmpOpts); d != "" {
				t.Errorf("parse (-want +got):\n%s", d)
			}
			out, err := MarshalICMP(m)
			if err != nil {
				t.Fatal(err)
			}
			SetICMPChecksum(out, l.PseudoSrc, l.PseudoDst)
			if d := cmp.Diff(wire, out); d != "" {
				t.Errorf("marshal + checksum (-want +got):\n%s", d)
			}
		})
	}
}

func TestICMPVectors(t *testing.T) {
	a := netip.MustParseAddr
	// RFC 6275 §6.5-6.8 by hand, checksum left zero.
	for _, tc := range []struct {
		name string
		wire string
		want ICMPMessage
	}{
		{"HAAD request §6.5, R (RFC 3963 §7.1)", `
			90 00 0000  // type 144, code 0, checksum
			0001        // identifier 1
			8000        // R=1, reserved`,
			&HomeAgentDiscoveryRequest{Identifier: 1, MobileRouter: true}},
		{"HAAD reply §6.6 with no home agents", `91 00 0000 ffff 0000`,
			&HomeAgentDiscoveryReply{Identifier: 0xffff}},
		{"HAAD reply §6.6 with one", `
			91 00 0000 0102 0000
			20010db8000100000000000000000003`,
			&HomeAgentDiscoveryReply{Identifier: 0x0102, HomeAgents: []netip.Addr{a("2001:db8:1::3")}}},
		{"MPS §6.7", `92 00 0000 4242 0000`, &MobilePrefixSolicitation{Identifier: 0x4242}},
		{"MPA §6.8, M and O, two prefixes and an unknown option", `
			93 00 0000 0007
			c000        // M=1 O=1, reserved
			03 04 40 c0 00000e10 00000708 00000000 20010db8000100000000000000000000
			03 04 40 e0 00000e10 00000708 00000000 20010db80001000000000000000000fe
			c8 01 000000000000`,
			&MobilePrefixAdvertisement{Identifier: 7, Managed: true, Other: true, Options: []NDOption{
				&PrefixInformation{Prefix: netip.MustParsePrefix("2001:db8:1::/64"), OnLink: true, Autonomous: true,
					ValidLifetime: time.Hour, PreferredLifetime: 30 * time.Minute},
				&PrefixInformation{Prefix: netip.PrefixFrom(a("2001:db8:1::fe"), 64), OnLink: true, Autonomous: true,
					RouterAddress: true, ValidLifetime: time.Hour, PreferredLifetime: 30 * time.Minute},
				&RawNDOption{Type: 200, Data: make([]byte, 6)},
			}}},
		{"MPA with O only and no options", `93 00 0000 0008 4000`,
			&MobilePrefixAdvertisement{Identifier: 8, Other: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wire := hexView(t, tc.wire)
			m, err := ParseICMP(wire)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, m, viewCmpOpts); d != "" {
				t.Errorf("parse (-want +got):\n%s", d)
			}
			if m.ICMPType() != wire[0] {
				t.Errorf("ICMPType = %d", m.ICMPType())
			}
			out, err := AppendICMP(nil, m)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(wire, out); d != "" {
				t.Errorf("marshal (-want +got):\n%s", d)
			}
		})
	}
}

func TestICMPParseNormalizes(t *testing.T) {
	// Reserved fields are ignored on receipt (§6.5-6.8), as are octets
	// after a request or solicitation, which have no options.
	for _, tc := range []struct{ name, wire, canonical string }{
		{"request reserved", "90 00 1234 0001 7fff", "90 00 0000 0001 0000"},
		{"request trailing octets", "90 00 0000 0001 0000 deadbeef", "90 00 0000 0001 0000"},
		{"reply reserved", "91 00 0000 0001 7fff", "91 00 0000 0001 0000"},
		{"MPS reserved and trailing", "92 00 0000 0001 ffff 00", "92 00 0000 0001 0000"},
		{"MPA reserved", "93 00 0000 0001 3fff", "93 00 0000 0001 0000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseICMP(hexView(t, tc.wire))
			if err != nil {
				t.Fatal(err)
			}
			out, err := MarshalICMP(m)
			if err != nil || cmp.Diff(hexView(t, tc.canonical), out) != "" {
				t.Errorf("canonical form %x, %v", out, err)
			}
		})
	}
}

func TestICMPParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, wire string
		want       error
	}{
		{"empty", "", ErrTruncated},
		{"unknown type (echo request)", "80 00 0000 0001 0001", ErrType},
		{"unknown type 148", "94 00 0000 0001 0000", ErrType},
		{"7 octets", "90 00 0000 0001 00", ErrTruncated},
		{"4 octets", "93 00 0000", ErrTruncated},
		{"nonzero code", "90 01 0000 0001 0000", ErrInvalid},
		{"nonzero code, reply", "91 ff 0000 0001 0000", ErrInvalid},
		{"reply with 15 octets of address", "91 00 0000 0001 0000 20010db80001000000000000000000", ErrLength},
		{"reply with a multicast HA", "91 00 0000 0001 0000 ff020000000000000000000000000002", ErrAddress},
		{"reply with a link-local HA", "91 00 0000 0001 0000 fe800000000000000000000000000001", ErrAddress},
		{"reply with ::", "91 00 0000 0001 0000 00000000000000000000000000000000", ErrAddress},
		{"reply with ::1", "91 00 0000 0001 0000 00000000000000000000000000000001", ErrAddress},
		{"reply with IPv4-mapped", "91 00 0000 0001 0000 00000000000000000000ffffc0000201", ErrAddress},
		{"MPA with a zero-length option", "93 00 0000 0001 0000 03 00 000000000000", ErrLength},
		{"MPA with a cut option", "93 00 0000 0001 0000 03 04 40c0", ErrTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseICMP(hexView(t, tc.wire)); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestICMPMarshalErrors(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		name string
		m    ICMPMessage
		want error
	}{
		{"nil interface", nil, ErrInvalid},
		{"nil request", (*HomeAgentDiscoveryRequest)(nil), ErrInvalid},
		{"nil reply", (*HomeAgentDiscoveryReply)(nil), ErrInvalid},
		{"nil MPS", (*MobilePrefixSolicitation)(nil), ErrInvalid},
		{"nil MPA", (*MobilePrefixAdvertisement)(nil), ErrInvalid},
		{"nil RA", (*RouterAdvertisement)(nil), ErrInvalid},
		{"reply with zero Addr", &HomeAgentDiscoveryReply{HomeAgents: []netip.Addr{{}}}, ErrAddress},
		{"reply with IPv4", &HomeAgentDiscoveryReply{HomeAgents: []netip.Addr{a("192.0.2.1")}}, ErrAddress},
		{"reply with a zone", &HomeAgentDiscoveryReply{HomeAgents: []netip.Addr{a("2001:db8::1%eth0")}}, ErrAddress},
		{"reply with multicast", &HomeAgentDiscoveryReply{HomeAgents: []netip.Addr{a("2001:db8::1"), a("ff05::2")}}, ErrAddress},
		{"MPA with a bad option", &MobilePrefixAdvertisement{Options: []NDOption{&PrefixInformation{}}}, ErrAddress},
		{"MPA with a nil option", &MobilePrefixAdvertisement{Options: []NDOption{nil}}, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := AppendICMP([]byte{9}, tc.m)
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if len(out) != 1 {
				t.Errorf("on error the output grew to %d octets", len(out))
			}
		})
	}
}

func TestICMPChecksum(t *testing.T) {
	src, dst := netip.MustParseAddr("2001:db8:9::100"), netip.MustParseAddr("2001:db8:1::1")
	b, err := MarshalICMP(&MobilePrefixSolicitation{Identifier: 0x1234})
	if err != nil {
		t.Fatal(err)
	}
	SetICMPChecksum(b, src, dst)
	// 0xff0b: the one's-complement sum of the pseudo-header (RFC 8200 §8.1,
	// next header 58, length 8) and the message, computed independently
	// in python for these addresses.
	if b[2] != 0xff || b[3] != 0x0b {
		t.Errorf("checksum = %02x%02x, want ff0b", b[2], b[3])
	}
	if !VerifyICMPChecksum(b, src, dst) {
		t.Error("does not verify")
	}
	if VerifyICMPChecksum(b, netip.MustParseAddr("2001:db8:1::1000"), dst) {
		t.Error("verifies with the wrong source")
	}
	b[7] ^= 1
	if VerifyICMPChecksum(b, src, dst) {
		t.Error("verifies after corruption")
	}
	// Short inputs neither panic nor verify.
	for _, short := range [][]byte{nil, {0x92}, {0x92, 0, 0}} {
		SetICMPChecksum(short, src, dst)
		if VerifyICMPChecksum(short, src, dst) {
			t.Errorf("%x verifies", short)
		}
	}
}
