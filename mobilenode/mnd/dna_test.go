package mnd

import (
	"encoding/hex"
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gomip6/gomip6/internal/ndproxy"
)

// The reference packets were built by scapy 2.5 (Debian python3-scapy),
// not by buildDNAProbe:
//
//	IPv6(src=ll, dst=rtr, hlim=255)/ICMPv6ND_NS(tgt=rtr)[/ICMPv6NDOptSrcLLAddr(lladdr=mac)]
//	IPv6(src=rtr, dst=ll, hlim=255)/ICMPv6ND_NA(tgt=rtr, R=1, S=1, O=0|1)[/ICMPv6NDOptDstLLAddr(...)]
var (
	dnaLL  = netip.MustParseAddr("fe80::5054:ff:fe12:3456")
	dnaRtr = netip.MustParseAddr("fe80::200:5eff:fe00:5301")
	dnaMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}

	scapyNSWithSLLA = "6000000000203afffe80000000000000505400fffe123456fe8000000000000002005efffe00530187000da500000000fe8000000000000002005efffe0053010101525400123456"
	scapyNS         = "6000000000183afffe80000000000000505400fffe123456fe8000000000000002005efffe0053018700956a00000000fe8000000000000002005efffe005301"
	scapyNA         = "6000000000183afffe8000000000000002005efffe005301fe80000000000000505400fffe1234568800d469c0000000fe8000000000000002005efffe005301"
	scapyNATLLA     = "6000000000203afffe8000000000000002005efffe005301fe80000000000000505400fffe1234568800015fe0000000fe8000000000000002005efffe005301020100005e005301"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBuildDNAProbe(t *testing.T) {
	for _, tc := range []struct {
		name string
		mac  net.HardwareAddr
		want string
	}{
		{"with our link-layer address", dnaMAC, scapyNSWithSLLA},
		{"from an optimistic address: no option (RFC 4429)", nil, scapyNS},
	} {
		got := buildDNAProbe(dnaLL, dnaRtr, tc.mac)
		if d := cmp.Diff(unhex(t, tc.want), got); d != "" {
			t.Errorf("%s (-scapy +got):\n%s", tc.name, d)
		}
	}
}

func TestParseDNAAnswer(t *testing.T) {
	mut := func(s string, f func(b []byte)) []byte {
		b := unhex(t, s)
		f(b)
		return b
	}
	for _, tc := range []struct {
		name string
		pkt  []byte
		ok   bool
	}{
		{"solicited NA, no option (Linux answers a unicast NS so)", unhex(t, scapyNA), true},
		{"solicited NA with the target link-layer address", unhex(t, scapyNATLLA), true},
		{"trailing link-layer padding", append(unhex(t, scapyNA), 0, 0), true},
		{"hop limit 254: forwarded", mut(scapyNA, func(b []byte) { b[7] = 254 }), false},
		{"bad checksum", mut(scapyNA, func(b []byte) { b[43] ^= 1 }), false},
		{"not solicited", mut(scapyNA, func(b []byte) { b[44] &^= 0x40 }), false},
		{"code 1", mut(scapyNA, func(b []byte) { b[41] = 1 }), false},
		{"an NS", unhex(t, scapyNS), false},
		{"truncated", unhex(t, scapyNA)[:60], false},
		{"payload length past the end", mut(scapyNA, func(b []byte) { b[5] = 0x30 }), false},
		{"zero-length option", mut(scapyNATLLA, func(b []byte) { b[65] = 0 }), false},
		{"not IPv6", mut(scapyNA, func(b []byte) { b[0] = 0x45 }), false},
		{"empty", nil, false},
	} {
		src, ok := parseDNAAnswer(tc.pkt)
		if ok != tc.ok || (ok && src != dnaRtr) {
			t.Errorf("%s: got %v %v, want ok=%v", tc.name, src, ok, tc.ok)
		}
	}
}

// FuzzParseDNAAnswer: any input gives an answer or a refusal, never a
// panic, and an accepted one is a solicited NA at hop limit 255 whose
// target is its link-local source, and rebuilt from its fields (the
// checksum recomputed, by ndproxy.AppendPacket) it is accepted again as
// from the same router.
func FuzzParseDNAAnswer(f *testing.F) {
	for _, s := range []string{scapyNA, scapyNATLLA, scapyNS} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		src, ok := parseDNAAnswer(pkt)
		if !ok {
			return
		}
		if !src.IsLinkLocalUnicast() || pkt[7] != 255 || pkt[40] != ndproxy.ICMPNeighborAdvertisement || pkt[44]&0x40 == 0 {
			t.Fatalf("accepted %x as from %v", pkt, src)
		}
		if netip.AddrFrom16([16]byte(pkt[48:64])) != src {
			t.Fatalf("target is not the source in %x", pkt)
		}
		p, err := ndproxy.ParsePacket(pkt)
		if err != nil {
			t.Fatalf("accepted %x, which ndproxy refuses: %v", pkt, err)
		}
		rebuilt, err := ndproxy.AppendPacket(nil, p.Src, p.Dst, p.Message)
		if err != nil {
			t.Fatalf("rebuilding %x: %v", pkt, err)
		}
		if again, ok := parseDNAAnswer(rebuilt); !ok || again != src {
			t.Fatalf("rebuilt %x: got %v %v, want %v", rebuilt, again, ok, src)
		}
	})
}
