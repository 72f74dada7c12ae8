package ndproxy

import (
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gomip6/gomip6/mip6"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	hoa    = netip.MustParseAddr("2001:db8:1::100")
	host   = netip.MustParseAddr("2001:db8:1::2")
	haLL   = netip.MustParseAddr("fe80::1")
	snHoA  = netip.MustParseAddr("ff02::1:ff00:100")
	haMAC  = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	hstMAC = net.HardwareAddr{2, 0, 0, 0, 0, 2}
)

var cmpAddr = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// Vectors built with scapy 2.x (Debian python3-scapy), independent of this
// codec; the expressions are given with each. The checksums are scapy's.
var scapyVectors = []struct {
	name string
	// scapy expression
	expr string
	hex  string
	want Packet
}{
	{
		name: "NS address resolution with SLLA",
		expr: `IPv6(src="2001:db8:1::2",dst="ff02::1:ff00:100",hlim=255)/ICMPv6ND_NS(tgt="2001:db8:1::100")/ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:02")`,
		hex:  "6000000000203aff20010db8000100000000000000000002ff0200000000000000000001ff00010087001a270000000020010db80001000000000000000001000101020000000002",
		want: Packet{Src: host, Dst: snHoA, Message: &NeighborSolicitation{Target: hoa, SourceLinkLayer: hstMAC}},
	},
	{
		name: "DAD NS",
		expr: `IPv6(src="::",dst="ff02::1:ff00:100",hlim=255)/ICMPv6ND_NS(tgt="2001:db8:1::100")`,
		hex:  "6000000000183aff00000000000000000000000000000000ff0200000000000000000001ff00010087004aee0000000020010db8000100000000000000000100",
		want: Packet{Src: netip.IPv6Unspecified(), Dst: snHoA, Message: &NeighborSolicitation{Target: hoa}},
	},
	{
		name: "solicited NA S O TLLA",
		expr: `IPv6(src="fe80::1",dst="2001:db8:1::2",hlim=255)/ICMPv6ND_NA(R=0,S=1,O=1,tgt="2001:db8:1::100")/ICMPv6NDOptDstLLAddr(lladdr="02:00:00:00:00:01")`,
		hex:  "6000000000203afffe80000000000000000000000000000120010db80001000000000000000000028800b8aa6000000020010db80001000000000000000001000201020000000001",
		want: Packet{Src: haLL, Dst: host, Message: &NeighborAdvertisement{Solicited: true, Override: true, Target: hoa, TargetLinkLayer: haMAC}},
	},
	{
		name: "gratuitous NA O to all-nodes",
		expr: `IPv6(src="fe80::1",dst="ff02::1",hlim=255)/ICMPv6ND_NA(R=0,S=0,O=1,tgt="2001:db8:1::100")/ICMPv6NDOptDstLLAddr(lladdr="02:00:00:00:00:01")`,
		hex:  "6000000000203afffe800000000000000000000000000001ff020000000000000000000000000001880027632000000020010db80001000000000000000001000201020000000001",
		want: Packet{Src: haLL, Dst: allNodes, Message: &NeighborAdvertisement{Override: true, Target: hoa, TargetLinkLayer: haMAC}},
	},
	{
		name: "NA R S with an MTU option kept raw",
		expr: `IPv6(src="fe80::2",dst="fe80::1",hlim=255)/ICMPv6ND_NA(R=1,S=1,O=0,tgt="fe80::2")/ICMPv6NDOptMTU(mtu=1280)`,
		hex:  "6000000000203afffe800000000000000000000000000002fe8000000000000000000000000000018800b21bc0000000fe8000000000000000000000000000020501000000000500",
		want: Packet{Src: netip.MustParseAddr("fe80::2"), Dst: haLL, Message: &NeighborAdvertisement{
			Router: true, Solicited: true, Target: netip.MustParseAddr("fe80::2"),
			Options: []RawOption{{Type: mip6.NDOptMTU, Data: []byte{0, 0, 0, 0, 5, 0}}},
		}},
	},
}

func TestScapyVectors(t *testing.T) {
	for _, v := range scapyVectors {
		t.Run(v.name, func(t *testing.T) {
			b := unhex(t, v.hex)
			got, err := ParsePacket(b)
			if err != nil {
				t.Fatalf("ParsePacket: %v", err)
			}
			if d := cmp.Diff(v.want, got, cmpAddr); d != "" {
				t.Errorf("ParsePacket (-want +got):\n%s", d)
			}
			out, err := AppendPacket(nil, v.want.Src, v.want.Dst, v.want.Message)
			if err != nil {
				t.Fatalf("AppendPacket: %v", err)
			}
			if d := cmp.Diff(b, out); d != "" {
				t.Errorf("AppendPacket differs from scapy (-scapy +ours):\n%s", d)
			}
		})
	}
}

// TestWireLayout checks field positions against RFC 4861 §4.3/§4.4
// directly, not through the parser.
func TestWireLayout(t *testing.T) {
	na := &NeighborAdvertisement{Router: true, Target: hoa, TargetLinkLayer: haMAC}
	b, err := AppendPacket(nil, haLL, host, na)
	if err != nil {
		t.Fatal(err)
	}
	icmp := b[40:]
	want := []byte{136, 0}
	if d := cmp.Diff(want, icmp[:2]); d != "" {
		t.Errorf("type, code: %s", d)
	}
	if icmp[4] != 0x80 || icmp[5] != 0 || icmp[6] != 0 || icmp[7] != 0 {
		t.Errorf("flags word % x, want 80 00 00 00 (R only)", icmp[4:8])
	}
	if got := netip.AddrFrom16([16]byte(icmp[8:24])); got != hoa {
		t.Errorf("target %v", got)
	}
	if d := cmp.Diff([]byte{2, 1, 2, 0, 0, 0, 0, 1}, icmp[24:]); d != "" {
		t.Errorf("TLLA option: %s", d)
	}
	if b[7] != 255 || b[6] != 58 {
		t.Errorf("hop limit %d next header %d", b[7], b[6])
	}
}

func TestSolicitedNodeAndMAC(t *testing.T) {
	// RFC 4291 §2.7.1: FF02:0:0:0:0:1:FFXX:XXXX; RFC 2464 §7: 33-33-last four.
	a := netip.MustParseAddr("2001:db8::abcd:ef12:3456")
	if got, want := SolicitedNodeMulticast(a), netip.MustParseAddr("ff02::1:ff12:3456"); got != want {
		t.Errorf("SolicitedNodeMulticast = %v, want %v", got, want)
	}
	if got, want := MulticastMAC(netip.MustParseAddr("ff02::1:ff12:3456")).String(), "33:33:ff:12:34:56"; got != want {
		t.Errorf("MulticastMAC = %s, want %s", got, want)
	}
	if got, want := LinkLocal(a), netip.MustParseAddr("fe80::abcd:ef12:3456"); got != want {
		t.Errorf("LinkLocal = %v, want %v", got, want)
	}
}

// mutate returns a copy of the hex packet with f applied and, when fix is
// set, the checksum recomputed.
func mutate(t *testing.T, h string, fix bool, f func(b []byte) []byte) []byte {
	b := f(append([]byte(nil), unhex(t, h)...))
	if fix && len(b) >= 44 {
		mip6.IPv6Header(b).SetPayloadLength(uint16(len(b) - 40))
		b[42], b[43] = 0, 0
		c := mip6.PseudoHeaderChecksum(mip6.IPv6Header(b).Src(), mip6.IPv6Header(b).Dst(), 58, b[40:])
		b[42], b[43] = byte(c>>8), byte(c)
	}
	return b
}

func TestParsePacketErrors(t *testing.T) {
	ns, dad, na := scapyVectors[0].hex, scapyVectors[1].hex, scapyVectors[3].hex
	tests := []struct {
		name string
		pkt  []byte
		want error
	}{
		{"short", unhex(t, ns)[:39], mip6.ErrTruncated},
		{"hop limit 64", mutate(t, ns, true, func(b []byte) []byte { b[7] = 64; return b }), mip6.ErrInvalid},
		{"bad checksum", mutate(t, ns, false, func(b []byte) []byte { b[43] ^= 1; return b }), mip6.ErrChecksum},
		{"code 1", mutate(t, ns, true, func(b []byte) []byte { b[41] = 1; return b }), mip6.ErrInvalid},
		{"multicast target", mutate(t, ns, true, func(b []byte) []byte { b[48] = 0xff; return b }), mip6.ErrAddress},
		{"option length 0", mutate(t, ns, true, func(b []byte) []byte { b[65] = 0; return b }), mip6.ErrLength},
		{"option overruns", mutate(t, ns, true, func(b []byte) []byte { b[65] = 2; return b }), mip6.ErrTruncated},
		{"duplicate SLLA", mutate(t, ns, true, func(b []byte) []byte { return append(b, b[64:72]...) }), mip6.ErrInvalid},
		{"DAD to unicast", mutate(t, dad, true, func(b []byte) []byte { copy(b[24:40], host.AsSlice()); return b }), mip6.ErrAddress},
		{"DAD with SLLA", mutate(t, dad, true, func(b []byte) []byte { return append(b, 1, 1, 2, 0, 0, 0, 0, 2) }), mip6.ErrInvalid},
		{"NA S to multicast", mutate(t, na, true, func(b []byte) []byte { b[44] |= 0x40; return b }), mip6.ErrInvalid},
		{"message too short", mutate(t, na, true, func(b []byte) []byte { return b[:60] }), mip6.ErrTruncated},
		{"not ICMPv6", mutate(t, ns, true, func(b []byte) []byte { b[6] = 0; return b }), mip6.ErrType},
		{"echo request", mutate(t, ns, true, func(b []byte) []byte { b[40] = 128; return b }), mip6.ErrType},
		{"payload length beyond", mutate(t, ns, false, func(b []byte) []byte { b[5]++; return b }), mip6.ErrTruncated},
		{"IPv4", mutate(t, ns, false, func(b []byte) []byte { b[0] = 0x45; return b }), mip6.ErrInvalid},
		{"multicast source", mutate(t, ns, true, func(b []byte) []byte { b[8] = 0xff; return b }), mip6.ErrAddress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePacket(tt.pkt)
			if !errors.Is(err, tt.want) {
				t.Errorf("ParsePacket: %v, want %v", err, tt.want)
			}
		})
	}
	// Link padding after Payload Length is ignored.
	if _, err := ParsePacket(append(unhex(t, ns), 0, 0, 0, 0)); err != nil {
		t.Errorf("padded: %v", err)
	}
}

func TestAppendPacketErrors(t *testing.T) {
	mc := netip.MustParseAddr("ff02::1")
	tests := []struct {
		name     string
		src, dst netip.Addr
		m        Message
		want     error
	}{
		{"nil", haLL, host, nil, mip6.ErrInvalid},
		{"nil NS", haLL, host, (*NeighborSolicitation)(nil), mip6.ErrInvalid},
		{"multicast target", haLL, host, &NeighborSolicitation{Target: mc}, mip6.ErrAddress},
		{"IPv4 target", haLL, host, &NeighborAdvertisement{Target: netip.MustParseAddr("192.0.2.1")}, mip6.ErrAddress},
		{"zoned target", haLL, host, &NeighborAdvertisement{Target: hoa.WithZone("eth0")}, mip6.ErrAddress},
		{"DAD to unicast", netip.IPv6Unspecified(), host, &NeighborSolicitation{Target: hoa}, mip6.ErrAddress},
		{"DAD with SLLA", netip.IPv6Unspecified(), snHoA, &NeighborSolicitation{Target: hoa, SourceLinkLayer: hstMAC}, mip6.ErrInvalid},
		{"S to multicast", haLL, mc, &NeighborAdvertisement{Solicited: true, Target: hoa}, mip6.ErrInvalid},
		{"multicast src", mc, host, &NeighborAdvertisement{Target: hoa}, mip6.ErrAddress},
		{"raw of LLA type", haLL, host, &NeighborAdvertisement{Target: hoa, Options: []RawOption{{Type: 2, Data: make([]byte, 6)}}}, mip6.ErrType},
		{"raw bad length", haLL, host, &NeighborAdvertisement{Target: hoa, Options: []RawOption{{Type: 14, Data: make([]byte, 5)}}}, mip6.ErrLength},
		{"empty LLA", haLL, host, &NeighborAdvertisement{Target: hoa, TargetLinkLayer: net.HardwareAddr{}}, mip6.ErrLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte{1, 2, 3}
			got, err := AppendPacket(prefix, tt.src, tt.dst, tt.m)
			if !errors.Is(err, tt.want) {
				t.Errorf("AppendPacket: %v, want %v", err, tt.want)
			}
			if d := cmp.Diff([]byte{1, 2, 3}, got); d != "" {
				t.Errorf("b changed on error: %s", d)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	msgs := []struct {
		src, dst netip.Addr
		m        Message
	}{
		{host, snHoA, &NeighborSolicitation{Target: hoa, SourceLinkLayer: hstMAC, Options: []RawOption{{Type: 14, Data: []byte{1, 2, 3, 4, 5, 6}}}}},
		{haLL, host, &NeighborAdvertisement{Router: true, Solicited: true, Override: true, Target: hoa,
			TargetLinkLayer: net.HardwareAddr{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}}},
		{haLL, host, &NeighborSolicitation{Target: hoa, Options: []RawOption{{Type: 2, Data: make([]byte, 6)}}}},
	}
	for _, tt := range msgs {
		b, err := AppendPacket(nil, tt.src, tt.dst, tt.m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParsePacket(b)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(Packet{Src: tt.src, Dst: tt.dst, Message: tt.m}, got, cmpAddr, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("round trip (-want +got):\n%s", d)
		}
	}
}

// FuzzParsePacket: any input parses or fails without panic, and what
// parses marshals back to a packet that parses to the same value.
func FuzzParsePacket(f *testing.F) {
	for _, v := range scapyVectors {
		f.Add(unhex(f, v.hex))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// The receive path's parser agrees with ParsePacket.
		checkView(t, b)
		p, err := ParsePacket(b)
		if err != nil {
			return
		}
		out, err := AppendPacket(nil, p.Src, p.Dst, p.Message)
		if err != nil {
			t.Fatalf("AppendPacket of parsed %+v: %v", p, err)
		}
		q, err := ParsePacket(out)
		if err != nil {
			t.Fatalf("reparse: %v", err)
		}
		if d := cmp.Diff(p, q, cmpAddr, cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("parse -> append -> parse differs:\n%s", d)
		}
		// The message alone parses to the same value too.
		m, err := ParseMessage(out[40:])
		if err != nil {
			t.Fatalf("ParseMessage: %v", err)
		}
		if d := cmp.Diff(p.Message, m, cmpAddr, cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("ParseMessage differs:\n%s", d)
		}
	})
}
