package mip6

import (
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// mustHexView decodes a hex vector written with spaces, newlines and //
// comments for readability, and panics on a malformed vector (package-level
// vectors use it).
func mustHexView(s string) []byte {
	var sb strings.Builder
	for line := range strings.SplitSeq(s, "\n") {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		sb.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(sb.String())
	if err != nil {
		panic("bad hex vector: " + err.Error())
	}
	return b
}

// hexView is mustHexView for use inside a test.
func hexView(t testing.TB, s string) []byte {
	t.Helper()
	return mustHexView(s)
}

// viewCmpOpts compares netip values by ==, which cmp cannot do by itself
// (their fields are unexported).
var viewCmpOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

func TestIPv6HeaderView(t *testing.T) {
	// RFC 8200 §3, written by hand:
	b := hexView(t, `
		6 ab 12345   // version 6, traffic class 0xab, flow label 0x12345
		0018 87 40   // payload length 24, next header 135, hop limit 64
		20010db8000900000000000000000100 // source 2001:db8:9::100
		20010db8000100000000000000001000 // destination 2001:db8:1::1000
	`)
	h := IPv6Header(b)
	if !h.IsValid() {
		t.Fatal("IsValid = false")
	}
	got := []any{h.Version(), h.TrafficClass(), h.FlowLabel(), h.PayloadLength(), h.NextHeader(), h.HopLimit(), h.Src(), h.Dst()}
	want := []any{uint8(6), uint8(0xab), uint32(0x12345), uint16(24), uint8(135), uint8(64),
		netip.MustParseAddr("2001:db8:9::100"), netip.MustParseAddr("2001:db8:1::1000")}
	if d := cmp.Diff(want, got, viewCmpOpts); d != "" {
		t.Errorf("accessors (-want +got):\n%s", d)
	}

	h.SetTrafficClass(0x5c)
	h.SetFlowLabel(0xfedcb)
	h.SetPayloadLength(0x1234)
	h.SetNextHeader(58)
	h.SetHopLimit(255)
	h.SetSrc(netip.MustParseAddr("fe80::1"))
	h.SetDst(netip.MustParseAddr("ff02::1"))
	wantB := hexView(t, `
		6 5c fedcb 1234 3a ff
		fe800000000000000000000000000001
		ff020000000000000000000000000001
	`)
	if d := cmp.Diff(wantB, b); d != "" {
		t.Errorf("after setters (-want +got):\n%s", d)
	}
	// The setters of one field leave the neighbouring bits alone.
	h.SetFlowLabel(0)
	if h.Version() != 6 || h.TrafficClass() != 0x5c {
		t.Errorf("SetFlowLabel clobbered version/traffic class: %d %#x", h.Version(), h.TrafficClass())
	}
	h.SetTrafficClass(0)
	if h.Version() != 6 || h.FlowLabel() != 0 {
		t.Errorf("SetTrafficClass clobbered version/flow label")
	}

	for _, bad := range [][]byte{nil, make([]byte, 39), append([]byte{0x40}, make([]byte, 39)...)} {
		if IPv6Header(bad).IsValid() {
			t.Errorf("IsValid(%x) = true", bad)
		}
	}
}

func TestAppendIPv6Header(t *testing.T) {
	got := AppendIPv6Header([]byte{0xee}, 8, ProtoMobility, 64,
		netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"))
	want := hexView(t, `
		ee               // the prefix the caller passed
		60000000 0008 87 40
		20010db8000000000000000000000001
		20010db8000000000000000000000002
	`)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// scapyChain is a packet built by scapy (not by this package), with every
// extension header WalkIPv6 knows, in RFC 8200 §4.1 order:
//
//	IPv6(src="2001:db8:9::100", dst="2001:db8:9::200")/
//	IPv6ExtHdrHopByHop()/IPv6ExtHdrDestOpt()/
//	IPv6ExtHdrRouting(type=2, addresses=["2001:db8:1::1000"], segleft=1)/
//	IPv6ExtHdrDestOpt(options=[HAO(hoa="2001:db8:1::2000")])/
//	IPv6ExtHdrFragment(offset=0, m=0, id=0x01020304)/
//	AH(nh=135, payloadlen=4, spi=0x100, seq=1, icv=b"\xaa"*12)/MIP6MH_BRR()
//
// scapy computed the MH checksum 0x38fc; a python one's-complement sum
// confirms that is the sum over source = home address 2001:db8:1::2000,
// destination = RH2 address 2001:db8:1::1000 (RFC 6275 §6.1.1).
const scapyChain = `
	60000000 0068 00 40               // IPv6: payload 104, next HBH
	20010db8000900000000000000000100  // src 2001:db8:9::100 (care-of)
	20010db8000900000000000000000200  // dst 2001:db8:9::200
	3c 00 0104 00000000               // 40 HBH: next DestOpts, PadN 4
	2b 00 0104 00000000               // 48 DestOpts (before RH): next Routing, PadN 4
	3c 02 02 01 00000000              // 56 RH2: next DestOpts, len 2, type 2, SL 1, reserved
	20010db8000100000000000000001000  // 64    home address 2001:db8:1::1000
	2c 02 0102 0000 c9 10             // 80 DestOpts: next Fragment, len 2, PadN 2, HAO type 201 len 16
	20010db8000100000000000000002000  // 88    home address 2001:db8:1::2000
	33 00 0000 01020304               // 104 Fragment: next AH, offset 0, M 0, id
	87 04 0000 00000100 00000001      // 112 AH: next MH, len 4 (6 words), SPI 0x100, seq 1
	aaaaaaaaaaaaaaaaaaaaaaaa          //     ICV (12 octets)
	3b 00 00 00 38fc 0000             // 136 MH BRR: proto 59, len 0, type 0, checksum 0x38fc
`

func TestWalkIPv6ScapyChain(t *testing.T) {
	pkt := hexView(t, scapyChain)
	l, err := WalkIPv6(pkt)
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr
	want := PacketLayout{
		Src: a("2001:db8:9::100"), Dst: a("2001:db8:9::200"), End: 144,
		Proto: ProtoMobility, Offset: 136,
		HAO: 88, HomeAddress: a("2001:db8:1::2000"),
		RH2: 56, RH2SegmentsLeft: 1, RH2Address: a("2001:db8:1::1000"),
		Fragment:  104,
		PseudoSrc: a("2001:db8:1::2000"), PseudoDst: a("2001:db8:1::1000"),
	}
	if d := cmp.Diff(want, l, viewCmpOpts); d != "" {
		t.Errorf("layout (-want +got):\n%s", d)
	}
	// The pseudo-header addresses verify scapy's MH checksum; the IP
	// header's addresses do not.
	mh := pkt[l.Offset:l.End]
	if PseudoHeaderChecksum(l.PseudoSrc, l.PseudoDst, ProtoMobility, mh) != 0 {
		t.Error("MH checksum does not verify with the pseudo-header addresses")
	}
	if PseudoHeaderChecksum(l.Src, l.Dst, ProtoMobility, mh) == 0 {
		t.Error("MH checksum verifies with the IP addresses: the test proves nothing")
	}
	// The offsets are views on the same bytes.
	if !HomeAddressOption(pkt[l.HAO-2:l.HAO+16]).IsValid() || !RoutingHeader2(pkt[l.RH2:l.RH2+24]).IsValid() {
		t.Error("HAO or RH2 offset does not point at a valid view")
	}
}

// scapyMPS is a Mobile Prefix Solicitation from a mobile node away from
// home, built by scapy, which put the checksum over the home address:
//
//	IPv6(src="2001:db8:9::100", dst="2001:db8:1::1")/
//	IPv6ExtHdrDestOpt(options=[HAO(hoa="2001:db8:1::1000")])/ICMPv6MPSol(id=0x1234)
const scapyMPS = `
	60000000 0020 3c 40
	20010db8000900000000000000000100 // care-of address
	20010db8000100000000000000000001 // home agent
	3a 02 0102 0000 c9 10            // DestOpts: next ICMPv6, PadN 2, HAO
	20010db8000100000000000000001000 // home address
	92 00 f013 1234 0000             // MPS: type 146, code 0, checksum, id 0x1234, reserved
`

// scapyMPA is the home agent's Mobile Prefix Advertisement to it, with a
// type 2 routing header:
//
//	IPv6(src="2001:db8:1::1", dst="2001:db8:9::100")/
//	IPv6ExtHdrRouting(type=2, addresses=["2001:db8:1::1000"], segleft=1)/
//	ICMPv6MPAdv(id=0x1234, flags=2)/ICMPv6NDOptPrefixInfo(prefixlen=64, L=1,
//	A=1, R=1, validlifetime=86400, preferredlifetime=14400, prefix="2001:db8:1::1")
const scapyMPA = `
	60000000 0040 2b 40
	20010db8000100000000000000000001 // home agent
	20010db8000900000000000000000100 // care-of address
	3a 02 02 01 00000000             // RH2: next ICMPv6, len 2, type 2, SL 1
	20010db8000100000000000000001000 // home address
	93 00 7392 1234 8000             // MPA: type 147, code 0, checksum, id, M=1 O=0
	03 04 40 e0 00015180 00003840 00000000 // Prefix Information: /64, L A R, 86400 s, 14400 s
	20010db8000100000000000000000001 // the router's whole address (R set)
`

func TestWalkIPv6ScapyICMP(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		name string
		pkt  string
		want PacketLayout
	}{
		{"MPS with HAO", scapyMPS, PacketLayout{
			Src: a("2001:db8:9::100"), Dst: a("2001:db8:1::1"), End: 72,
			Proto: ProtoICMPv6, Offset: 64,
			HAO: 48, HomeAddress: a("2001:db8:1::1000"),
			PseudoSrc: a("2001:db8:1::1000"), PseudoDst: a("2001:db8:1::1"),
		}},
		{"MPA with RH2", scapyMPA, PacketLayout{
			Src: a("2001:db8:1::1"), Dst: a("2001:db8:9::100"), End: 104,
			Proto: ProtoICMPv6, Offset: 64,
			RH2: 40, RH2SegmentsLeft: 1, RH2Address: a("2001:db8:1::1000"),
			PseudoSrc: a("2001:db8:1::1"), PseudoDst: a("2001:db8:1::1000"),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkt := hexView(t, tc.pkt)
			l, err := WalkIPv6(pkt)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, l, viewCmpOpts); d != "" {
				t.Errorf("layout (-want +got):\n%s", d)
			}
			icmp := pkt[l.Offset:l.End]
			if !VerifyICMPChecksum(icmp, l.PseudoSrc, l.PseudoDst) {
				t.Error("scapy's checksum does not verify with the pseudo-header addresses")
			}
			if VerifyICMPChecksum(icmp, l.Src, l.Dst) {
				t.Error("checksum verifies with the IP addresses: the test proves nothing")
			}
		})
	}
}

// walkPkt builds an IPv6 packet from hand-written extension headers: the
// fixed header comes from the arguments and its Payload Length from the
// length of rest.
func walkPkt(t testing.TB, next uint8, rest string) []byte {
	t.Helper()
	body := hexView(t, rest)
	b := AppendIPv6Header(nil, uint16(len(body)), next, 64,
		netip.MustParseAddr("2001:db8::a"), netip.MustParseAddr("2001:db8::b"))
	return append(b, body...)
}

func TestWalkIPv6Layouts(t *testing.T) {
	a := netip.MustParseAddr
	srcA, dstB := a("2001:db8::a"), a("2001:db8::b")
	hoa := a("2001:db8:1::1")
	base := func(end int, proto uint8, off int) PacketLayout {
		return PacketLayout{Src: srcA, Dst: dstB, End: end, Proto: proto, Offset: off, PseudoSrc: srcA, PseudoDst: dstB}
	}
	for _, tc := range []struct {
		name string
		next uint8
		rest string
		want PacketLayout
	}{
		{"no extension headers, UDP", ProtoUDP, "0000 0000 0008 0000", base(48, ProtoUDP, 40)},
		{"no next header, empty", ProtoNoNext, "", base(40, ProtoNoNext, 40)},
		{"IPv6 in IPv6", ProtoIPv6, "", base(40, ProtoIPv6, 40)},
		{"IPv4 in IPv6", ProtoIPv4, "", base(40, ProtoIPv4, 40)},
		{"ESP stops the walk", ProtoESP, "00000100 00000001", base(48, ProtoESP, 40)},
		{"HBH then ICMPv6", ProtoHopByHop, "3a 00 0104 00000000", base(48, ProtoICMPv6, 48)},
		{"Pad1 only destination options", ProtoDestOpts, "87 00 00 00 00 00 00 00", base(48, ProtoMobility, 48)},
		{"HAO with other options around it", ProtoDestOpts, `
			87 03           // next MH, 32 octets
			1e 01 ff        // 2: an unknown option, type 0x1e (skip), length 1
			00              // 5: Pad1
			c9 10 20010db8000100000000000000000001 // 6: HAO (8n+6)
			01 06 000000000000 // 24: PadN 6 to the end
		`, func() PacketLayout {
			l := base(72, ProtoMobility, 72)
			l.HAO, l.HomeAddress, l.PseudoSrc = 48, hoa, hoa
			return l
		}()},
		{"misaligned HAO is found anyway", ProtoDestOpts, `
			3a 02 c9 10 20010db8000100000000000000000001 01 02 0000
		`, func() PacketLayout {
			l := base(64, ProtoICMPv6, 64)
			l.HAO, l.HomeAddress, l.PseudoSrc = 44, hoa, hoa
			return l
		}()},
		{"RH2 already processed (SL 0): final destination is the IPv6 dst", ProtoRouting, `
			3b 02 02 00 00000000 20010db8000100000000000000000001
		`, func() PacketLayout {
			l := base(64, ProtoNoNext, 64)
			l.RH2, l.RH2Address = 40, hoa
			return l
		}()},
		{"other routing type with SL 0 is skipped", ProtoRouting, `
			3a 02 00 00 00000000 20010db8000100000000000000000009
		`, base(64, ProtoICMPv6, 64)},
		{"first fragment continues", ProtoFragment, "3a 00 0001 00000001", func() PacketLayout {
			l := base(48, ProtoICMPv6, 48)
			l.Fragment = 40
			return l
		}()},
		{"non-first fragment stops", ProtoFragment, "3a 00 0008 00000001 deadbeef", func() PacketLayout {
			l := base(52, ProtoFragment, 40)
			l.Fragment, l.NonFirstFragment = 40, true
			return l
		}()},
		{"AH length in 4-octet units", ProtoAH, "3a 04 0000 00000100 00000001 000000000000000000000000", base(64, ProtoICMPv6, 64)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkt := walkPkt(t, tc.next, tc.rest)
			got, err := WalkIPv6(pkt)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got, viewCmpOpts); d != "" {
				t.Errorf("layout (-want +got):\n%s", d)
			}
		})
	}
}

func TestWalkIPv6TrailingAndJumbo(t *testing.T) {
	// Link-layer padding after the packet is not part of it.
	pkt := append(walkPkt(t, ProtoNoNext, "00000000"), 0, 0, 0, 0, 0, 0)
	l, err := WalkIPv6(pkt)
	if err != nil || l.End != 44 {
		t.Errorf("End = %d, %v; want 44", l.End, err)
	}
	// Payload Length 0 with Hop-by-Hop: a jumbogram (RFC 2675), walked to the
	// end of the slice.
	pkt = walkPkt(t, ProtoHopByHop, "3b 00 c2 04 00010000 ffffffff")
	IPv6Header(pkt).SetPayloadLength(0)
	l, err = WalkIPv6(pkt)
	if err != nil || l.End != len(pkt) || l.Proto != ProtoNoNext || l.Offset != 48 {
		t.Errorf("jumbogram: %+v, %v", l, err)
	}
}

// destOptsChain returns n Destination Options headers of 8 octets, then No
// Next Header.
func destOptsChain(n int) string {
	var sb strings.Builder
	for i := range n {
		next := "3c"
		if i == n-1 {
			next = "3b"
		}
		sb.WriteString(next + "00 0104 00000000\n")
	}
	return sb.String()
}

func TestWalkIPv6Errors(t *testing.T) {
	hdr := func(s string) []byte { return hexView(t, s) }
	for _, tc := range []struct {
		name string
		pkt  []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"39 octets", make([]byte, 39), ErrTruncated},
		{"IPv4", append(hdr("45000014"), make([]byte, 36)...), ErrInvalid},
		{"payload length past the slice", walkPkt(t, ProtoUDP, "00")[:40], ErrTruncated},
		{"extension header cut under 8", walkPkt(t, ProtoDestOpts, "3b 00 0102 00"), ErrTruncated},
		{"extension header cut by Hdr Ext Len", walkPkt(t, ProtoDestOpts, "3b 01 0104 00000000"), ErrTruncated},
		{"routing header cut by Hdr Ext Len", walkPkt(t, ProtoRouting, "3b 02 02 01 00000000"), ErrTruncated},
		{"AH cut", walkPkt(t, ProtoAH, "3b 04 0000 00000100 00000001"), ErrTruncated},
		{"HBH after another header", walkPkt(t, ProtoDestOpts, "00 00 0104 00000000 3b 00 0104 00000000"), ErrInvalid},
		{"option past the header", walkPkt(t, ProtoDestOpts, "3b 00 0105 00000000"), ErrTruncated},
		{"option type without length octet", walkPkt(t, ProtoDestOpts, "3b 00 0103 000000 1e"), ErrTruncated},
		{"HAO of length 8", walkPkt(t, ProtoDestOpts, "3b 01 0000 0000 c9 08 2001 0db8 0000 0000 0000 0000"), ErrLength},
		{"two HAOs in one header", walkPkt(t, ProtoDestOpts, `3b 06 0102 0000
			c9 10 20010db8000100000000000000000001 // at 6
			010c 000000000000000000000000          // PadN 12
			c9 10 20010db8000100000000000000000002 // at 38`), ErrInvalid},
		{"HAOs in two headers", walkPkt(t, ProtoDestOpts, `3c 02 0102 0000
			c9 10 20010db8000100000000000000000001
			3b 02 0102 0000
			c9 10 20010db8000100000000000000000002`), ErrInvalid},
		{"RH2 with Hdr Ext Len 4", walkPkt(t, ProtoRouting, `3b 04 02 01 00000000
			20010db8000100000000000000000001 20010db8000100000000000000000002`), ErrLength},
		{"RH2 with Segments Left 2", walkPkt(t, ProtoRouting, "3b 02 02 02 00000000 20010db8000100000000000000000001"), ErrInvalid},
		{"two RH2", walkPkt(t, ProtoRouting, `2b 02 02 01 00000000 20010db8000100000000000000000001
			3b 02 02 01 00000000 20010db8000100000000000000000001`), ErrInvalid},
		// RFC 6275 §6.3: the option goes after the routing header; in the
		// header before it every listed router would process it (RFC 8200
		// §4.1).
		{"HAO before a type 2 routing header", walkPkt(t, ProtoDestOpts, `2b 02 0102 0000
			c9 10 20010db8000100000000000000000001
			87 02 02 01 00000000 20010db8000100000000000000000002`), ErrInvalid},
		{"HAO before a type 0 routing header", walkPkt(t, ProtoDestOpts, `2b 02 0102 0000
			c9 10 20010db8000100000000000000000001
			3b 02 00 00 00000000 20010db8000100000000000000000002`), ErrInvalid},
		{"two Fragment headers", walkPkt(t, ProtoFragment, "2c 00 0000 00000001 3b 00 0000 00000001"), ErrInvalid},
		{"17 extension headers", walkPkt(t, ProtoDestOpts, destOptsChain(MaxExtensionHeaders+1)), ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := WalkIPv6(tc.pkt)
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}

	// The cap is exact: MaxExtensionHeaders headers still walk.
	l, err := WalkIPv6(walkPkt(t, ProtoDestOpts, destOptsChain(MaxExtensionHeaders)))
	if err != nil || l.Proto != ProtoNoNext || l.Offset != 40+8*MaxExtensionHeaders {
		t.Errorf("%d headers: %+v, %v", MaxExtensionHeaders, l, err)
	}
}

// TestWalkIPv6Truncations cuts the scapy chain (with its Payload Length
// fixed to match) at every length: each cut must give an error or a layout
// that fits, never a panic.
func TestWalkIPv6Truncations(t *testing.T) {
	full := hexView(t, scapyChain)
	for n := range len(full) {
		pkt := append([]byte(nil), full[:n]...)
		if n >= 40 {
			IPv6Header(pkt).SetPayloadLength(uint16(n - 40))
		}
		l, err := WalkIPv6(pkt)
		if err != nil {
			if !errors.Is(err, ErrTruncated) {
				t.Errorf("cut at %d: %v, want ErrTruncated", n, err)
			}
			continue
		}
		// Only a cut right at the MH header start or inside the MH
		// leaves a walkable chain.
		if l.Offset != 136 || l.End != n {
			t.Errorf("cut at %d: walked to %d..%d", n, l.Offset, l.End)
		}
	}
}

func TestWalkIPv6ZeroAlloc(t *testing.T) {
	good := hexView(t, scapyChain)
	bad := walkPkt(t, ProtoRouting, "3b 02 02 02 00000000 20010db8000100000000000000000001")
	var sink PacketLayout
	if n := testing.AllocsPerRun(100, func() {
		sink, _ = WalkIPv6(good)
		sink, _ = WalkIPv6(bad)
	}); n != 0 {
		t.Errorf("WalkIPv6 allocates %v times per run", n)
	}
	_ = sink
}

func TestViewsZeroAlloc(t *testing.T) {
	pkt := hexView(t, scapyChain)
	ip := IPv6Header(pkt)
	hao := HomeAddressOption(pkt[86:104])
	rh := RoutingHeader2(pkt[56:80])
	opts := DestOptsHeader(pkt[80:104])
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() {
		if !ip.IsValid() || !hao.IsValid() || !rh.IsValid() || !opts.IsValid() {
			panic("invalid")
		}
		// The §9.3.1 swap, twice, so the packet ends as it began.
		for range 2 {
			src := ip.Src()
			ip.SetSrc(hao.Address())
			hao.SetAddress(src)
		}
		_ = rh.HomeAddress()
		_ = opts.HomeAddressOption()
		_, _ = FindHomeAddress(opts)
		buf = AppendHomeAddressDestOpts(buf[:0], ProtoMobility, ip.Dst())
		buf = AppendRoutingHeader2(buf[:0], ProtoMobility, ip.Dst())
	}); n != 0 {
		t.Errorf("views allocate %v times per run", n)
	}
}

func TestInsertionPoint(t *testing.T) {
	src, dst := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	udp := make([]byte, 8)
	plain := AppendIPv6Header(nil, 8, ProtoUDP, 64, src, dst)
	plain = append(plain, udp...)
	hbh := AppendIPv6Header(nil, 16, ProtoHopByHop, 64, src, dst)
	hbh = append(hbh, ProtoUDP, 0, 1, 4, 0, 0, 0, 0)
	hbh = append(hbh, udp...)
	for _, c := range []struct {
		name          string
		pkt           []byte
		prev, at, end int
		ok            bool
	}{
		{"plain", plain, 6, 40, 48, true},
		{"hop-by-hop first", hbh, 40, 48, 56, true},
		{"trailing octets kept out", append(append([]byte(nil), plain...), 0, 0), 6, 40, 48, true},
		{"payload past the packet", plain[:47], 0, 0, 0, false},
		{"hop-by-hop past the payload", func() []byte { b := append([]byte(nil), hbh...); b[41] = 9; return b }(), 0, 0, 0, false},
		{"IPv4", func() []byte { b := append([]byte(nil), plain...); b[0] = 0x45; return b }(), 0, 0, 0, false},
		{"short", plain[:30], 0, 0, 0, false},
	} {
		prev, at, end, ok := InsertionPoint(c.pkt)
		if prev != c.prev || at != c.at || end != c.end || ok != c.ok {
			t.Errorf("%s: %d %d %d %v, want %d %d %d %v", c.name, prev, at, end, ok, c.prev, c.at, c.end, c.ok)
		}
	}
}
