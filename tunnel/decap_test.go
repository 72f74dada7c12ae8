package tunnel

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// newHAAll returns a home agent with bindings of every kind: hoa over
// IPv6, hoa4 over 6in4, hoaU over UDP, and the mobile network prefix mnp
// over IPv6 (a mobile router whose home address is hoa).
var (
	hoa4 = netip.MustParseAddr("2001:db8:2::104")
	hoaU = netip.MustParseAddr("2001:db8:2::117")
)

func newHAAll(t testing.TB) *Tunnel {
	t.Helper()
	tab := NewTable(0)
	for _, s := range []struct {
		p netip.Prefix
		e Endpoint
	}{
		{netip.PrefixFrom(hoa, 128), ep6()},
		{netip.PrefixFrom(hoa4, 128), ep4()},
		{netip.PrefixFrom(hoaU, 128), epUDP()},
		{mnp, ep6()},
	} {
		if err := tab.Set(s.p, s.e); err != nil {
			t.Fatal(err)
		}
	}
	tun, err := New(Config{ErrorSource: haHome}, tab)
	if err != nil {
		t.Fatal(err)
	}
	return tun
}

// TestAntiSpoofing is the decapsulation matrix of issue 3 item 3 on a
// home agent.
func TestAntiSpoofing(t *testing.T) {
	inMNP := netip.MustParseAddr("2001:db8:3300:7::5")
	o6 := Outer{Kind: KindIPv6, Src: coa6, Dst: ha6}
	o4 := Outer{Kind: Kind6in4, Src: coa4, Dst: ha4}
	oU := Outer{Kind: KindUDP4, Src: coa4, Dst: ha4, SrcPort: natPort, DstPort: UDPPortDSMIP}
	with := func(o Outer, f func(*Outer)) Outer { f(&o); return o }
	tests := []struct {
		name     string
		src, dst netip.Addr
		o        Outer
		want     Reason
	}{
		{"ip6ip6 from its CoA", hoa, cnAddr, o6, ReasonOK},
		{"6in4 from its CoA", hoa4, cnAddr, o4, ReasonOK},
		{"udp4 from its NAT mapping", hoaU, cnAddr, oU, ReasonOK},
		{"mobile network prefix via the router's CoA", inMNP, cnAddr, o6, ReasonOK},
		{"to another mobile node", hoa, hoa4, o6, ReasonOK},
		{"outer source unknown (ip6ip6)", hoa, cnAddr, with(o6, func(o *Outer) { o.Src = other6 }), ReasonOuterSrc},
		{"outer source unknown (6in4)", hoa4, cnAddr, with(o4, func(o *Outer) { o.Src = other4 }), ReasonOuterSrc},
		{"outer source unknown (udp4)", hoaU, cnAddr, with(oU, func(o *Outer) { o.Src = other4 }), ReasonOuterSrc},
		{"IPv6 outer source on an IPv4 kind", hoa4, cnAddr, with(o4, func(o *Outer) { o.Src = coa6 }), ReasonOuterSrc},
		{"B's CoA claiming A's home address", hoa4, cnAddr, o6, ReasonKind},
		{"B's CoA claiming A's home address, same kind", hoa, cnAddr, with(o6, func(o *Outer) { o.Src = netip.MustParseAddr("2001:db8:cafe::3") }), ReasonOuterSrc},
		{"udp4 wrong source port", hoaU, cnAddr, with(oU, func(o *Outer) { o.SrcPort = natPort + 1 }), ReasonPort},
		{"udp4 wrong destination port", hoaU, cnAddr, with(oU, func(o *Outer) { o.DstPort = 4192 }), ReasonOuterDst},
		{"udp4 binding, 6in4 packet", hoaU, cnAddr, o4, ReasonKind},
		{"6in4 binding, udp4 packet", hoa4, cnAddr, oU, ReasonKind},
		{"outer destination not ours", hoa, cnAddr, with(o6, func(o *Outer) { o.Dst = other6 }), ReasonOuterDst},
		{"outer destination unknown is not checked", hoa, cnAddr, with(o6, func(o *Outer) { o.Dst = netip.Addr{} }), ReasonOK},
		{"inner source not owned by anyone", other6, cnAddr, o6, ReasonNoBinding},
		{"inner source outside the prefix", netip.MustParseAddr("2001:db8:3301::5"), cnAddr, o6, ReasonNoBinding},
		{"inner source link-local", netip.MustParseAddr("fe80::1"), cnAddr, o6, ReasonInnerSrc},
		{"inner source multicast", netip.MustParseAddr("ff02::1"), cnAddr, o6, ReasonInnerSrc},
		{"inner source unspecified", netip.IPv6Unspecified(), cnAddr, o6, ReasonInnerSrc},
		{"inner source loopback", netip.IPv6Loopback(), cnAddr, o6, ReasonInnerSrc},
		{"inner destination all-nodes", hoa, netip.MustParseAddr("ff02::1"), o6, ReasonInnerDst},
		{"inner destination global multicast", hoa, netip.MustParseAddr("ff0e::1"), o6, ReasonInnerDst},
		{"inner destination link-local", hoa, netip.MustParseAddr("fe80::1"), o6, ReasonInnerDst},
		{"inner destination loopback", hoa, netip.IPv6Loopback(), o6, ReasonInnerDst},
		{"inner destination unspecified", hoa, netip.IPv6Unspecified(), o6, ReasonInnerDst},
		{"inner destination IPv4-mapped", hoa, netip.MustParseAddr("::ffff:10.0.0.1"), o6, ReasonInnerDst},
		{"inner destination IPv4-compatible", hoa, netip.MustParseAddr("::10.0.0.1"), o6, ReasonInnerDst},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tun := newHAAll(t)
			pkt := mkInner(tt.src, tt.dst, 0, 59, []byte("payload"))
			got, v := tun.Decap(pkt, &tt.o)
			want := Verdict{ActionDrop, tt.want}
			if tt.want == ReasonOK {
				want.Action = ActionSend
			}
			if v != want {
				t.Fatalf("verdict %+v, want %+v", v, want)
			}
			if (got != nil) != (tt.want == ReasonOK) {
				t.Errorf("packet %x", got)
			}
			if n := tun.Counters.Snapshot().Get(In, tt.want).Packets; n != 1 {
				t.Errorf("counter %v = %d", tt.want, n)
			}
		})
	}
}

// TestAntiSpoofingMobileNode: a mobile node accepts packets for its home
// address only from its home agent.
func TestAntiSpoofingMobileNode(t *testing.T) {
	tab := NewTable(0)
	if err := tab.Set(netip.PrefixFrom(hoa, 128), Endpoint{Kind: KindIPv6, Local: coa6, Remote: ha6}); err != nil {
		t.Fatal(err)
	}
	tun, err := New(Config{Role: RoleMobileNode}, tab)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		src, dst netip.Addr
		osrc     netip.Addr
		want     Reason
	}{
		{"from the HA to our home address", cnAddr, hoa, ha6, ReasonOK},
		{"from elsewhere", cnAddr, hoa, other6, ReasonOuterSrc},
		{"not for us", cnAddr, other6, ha6, ReasonNoBinding},
	} {
		_, v := tun.Decap(mkInner(tt.src, tt.dst, 0, 59, nil), &Outer{Kind: KindIPv6, Src: tt.osrc, Dst: coa6})
		if v.Reason != tt.want {
			t.Errorf("%s: %+v, want %v", tt.name, v, tt.want)
		}
	}
}

// TestParseOuter checks the outer header parser on hand-built packets.
func TestParseOuter(t *testing.T) {
	inner := unhex(t, testInnerHex)
	v4 := func(tos uint8, flags uint16, proto uint8, payload []byte) []byte {
		h := make([]byte, 20, 20+len(payload))
		h[0], h[1] = 0x45, tos
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
		binary.BigEndian.PutUint16(h[6:], flags)
		h[8], h[9] = 64, proto
		copy(h[12:], []byte{198, 51, 100, 2})
		copy(h[16:], []byte{192, 0, 2, 1})
		binary.BigEndian.PutUint16(h[10:], ^onesSum(h))
		return append(h, payload...)
	}
	udp := func(sport, dport uint16, payload []byte) []byte {
		u := make([]byte, 8, 8+len(payload))
		binary.BigEndian.PutUint16(u[0:], sport)
		binary.BigEndian.PutUint16(u[2:], dport)
		binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
		return append(u, payload...)
	}
	v6 := func(next uint8, payload []byte) []byte {
		p := mkInner(coa6, ha6, 0x11, next, payload)
		return p
	}
	destOpts := append([]byte{41, 0, 1, 4, 0, 0, 0, 0}, inner...) // PadN
	fragHdr := append([]byte{41, 0, 0, 0, 0, 0, 0, 1}, inner...)  // offset 0, M=0
	badSum := v4(0, 0, 41, inner)
	badSum[10] ^= 1
	udpBadSum := v4(0, 0, 17, udp(natPort, 4191, inner))
	binary.BigEndian.PutUint16(udpBadSum[26:], 0x1234)
	tests := []struct {
		name  string
		pkt   []byte
		want  Outer
		inner []byte
		r     Reason
	}{
		{"6in4", v4(0xb8, 0x4000, 41, inner), Outer{Kind: Kind6in4, Src: coa4, Dst: ha4, TOS: 0xb8}, inner, ReasonOK},
		{"6in4 with trailer", append(v4(0, 0, 41, inner), 0, 0), Outer{Kind: Kind6in4, Src: coa4, Dst: ha4}, inner, ReasonOK},
		{"udp4", v4(1, 0, 17, udp(natPort, 4191, inner)), Outer{Kind: KindUDP4, Src: coa4, Dst: ha4, SrcPort: natPort, DstPort: 4191, TOS: 1}, inner, ReasonOK},
		{"ip6ip6", v6(41, inner), Outer{Kind: KindIPv6, Src: coa6, Dst: ha6, TOS: 0x11}, inner, ReasonOK},
		{"ip6ip6 after destination options", v6(60, destOpts), Outer{Kind: KindIPv6, Src: coa6, Dst: ha6, TOS: 0x11}, inner, ReasonOK},
		{"ip6 fragment", v6(44, fragHdr), Outer{Kind: KindIPv6, Src: coa6, Dst: ha6, TOS: 0x11}, nil, ReasonFragment},
		{"ip6 not 41", v6(17, inner), Outer{Kind: KindIPv6, Src: coa6, Dst: ha6, TOS: 0x11}, nil, ReasonNotOurs},
		{"ip6 truncated", v6(41, inner)[:39], Outer{}, nil, ReasonMalformed},
		{"ip4 bad header checksum", badSum, Outer{}, nil, ReasonMalformed},
		{"ip4 fragment MF", v4(0, 0x2000, 41, inner), Outer{Src: coa4, Dst: ha4}, nil, ReasonFragment},
		{"ip4 fragment offset", v4(0, 0x0001, 41, inner), Outer{Src: coa4, Dst: ha4}, nil, ReasonFragment},
		{"ip4 total length beyond data", v4(0, 0, 41, inner)[:60], Outer{}, nil, ReasonMalformed},
		{"ip4 GRE", v4(0, 0, 47, inner), Outer{Src: coa4, Dst: ha4}, nil, ReasonNotOurs},
		{"udp other port", v4(0, 0, 17, udp(53, 53, inner)), Outer{Kind: KindUDP4, Src: coa4, Dst: ha4, SrcPort: 53, DstPort: 53}, nil, ReasonNotOurs},
		{"udp bad checksum", udpBadSum, Outer{Kind: KindUDP4, Src: coa4, Dst: ha4, SrcPort: natPort, DstPort: 4191}, nil, ReasonMalformed},
		{"udp short", v4(0, 0, 17, []byte{1, 2, 3}), Outer{Kind: KindUDP4, Src: coa4, Dst: ha4}, nil, ReasonMalformed},
		{"version 5", []byte{0x50, 0, 0, 0}, Outer{}, nil, ReasonMalformed},
		{"empty", nil, Outer{}, nil, ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, in, r := ParseOuter(tt.pkt)
			if r != tt.r {
				t.Fatalf("reason %v, want %v", r, tt.r)
			}
			if diff := cmp.Diff(tt.want, o, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Errorf("outer (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.inner, in); diff != "" {
				t.Errorf("inner (-want +got):\n%s", diff)
			}
		})
	}
}

// onesSum is an independent one's-complement sum (16 bits at a time, RFC
// 1071's reference loop) for building test packets.
func onesSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// TestInputCountsParseFailures: a packet refused by ParseOuter is counted
// in the In direction.
func TestInputCountsParseFailures(t *testing.T) {
	tun := newHAAll(t)
	_, v := tun.Input([]byte{0x45, 0})
	if v != (Verdict{ActionDrop, ReasonMalformed}) {
		t.Fatalf("%+v", v)
	}
	s := tun.Counters.Snapshot()
	if s.Get(In, ReasonMalformed) != (Count{1, 2}) || s.Dropped(In) != (Count{1, 2}) {
		t.Errorf("%+v", s.Get(In, ReasonMalformed))
	}
}
