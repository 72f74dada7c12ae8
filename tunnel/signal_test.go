package tunnel

import (
	"net/netip"
	"testing"

	"github.com/gomip6/gomip6/mip6"
)

// TestIsSignal: what the forwarder takes off as signalling.
func TestIsSignal(t *testing.T) {
	ha := netip.MustParseAddr("2001:db8:100::1")
	hoa := netip.MustParseAddr("2001:db8:100::10")
	other := netip.MustParseAddr("2001:db8:2::2")
	addrs := []netip.Addr{netip.MustParseAddr("2001:db8:ffff::1"), ha, netip.MustParseAddr("::ffff:192.0.2.1")}
	bu := mhPacket(t, hoa, ha, netip.Addr{})
	withHAO := mhPacket(t, netip.MustParseAddr("2001:db8:a::1"), ha, hoa)
	frag := func() []byte {
		// The Mobility Header behind a Fragment header (first
		// fragment, M set).
		mh := bu[mip6.IPv6HeaderLen:]
		p := mip6.AppendIPv6Header(nil, uint16(8+len(mh)), mip6.ProtoFragment, 64, hoa, ha)
		p = append(p, mip6.ProtoMobility, 0, 0, 1, 0, 0, 0, 1)
		return append(p, mh...)
	}()
	cases := []struct {
		name  string
		pkt   []byte
		addrs []netip.Addr
		want  bool
	}{
		{"Binding Update to the home agent", bu, addrs, true},
		{"behind a Home Address option", withHAO, addrs, true},
		{"to another address", mhPacket(t, hoa, other, netip.Addr{}), addrs, false},
		{"not a Mobility Header", echoPacket(hoa, ha), addrs, false},
		{"no signalling addresses", bu, nil, false},
		{"only an IPv4-mapped address", bu, []netip.Addr{netip.MustParseAddr("::ffff:192.0.2.1")}, false},
		{"zoned address still matches", bu, []netip.Addr{ha.WithZone("eth0")}, true},
		{"a fragment", frag, addrs, false},
		{"truncated header", bu[:39], addrs, false},
		{"payload length past the end", bu[:len(bu)-1], addrs, false},
		{"IPv4", append([]byte{0x45}, bu[1:]...), addrs, false},
		{"empty", nil, addrs, false},
	}
	for _, tc := range cases {
		if got := newSignalAddrs(tc.addrs).match(tc.pkt); got != tc.want {
			t.Errorf("%s: IsSignal = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// FuzzIsSignal: any input gives an answer, never a panic, and a packet
// said to be signalling walks (mip6.WalkIPv6) to a Mobility Header whose
// destination is the signalling address; re-building the packet from what
// the walk found (header, then the upper layer as it is) gives the same
// answer.
func FuzzIsSignal(f *testing.F) {
	ha := netip.MustParseAddr("2001:db8:100::1")
	hoa := netip.MustParseAddr("2001:db8:100::10")
	f.Add(mhPacket(f, hoa, ha, netip.Addr{}))
	f.Add(mhPacket(f, netip.MustParseAddr("2001:db8:a::1"), ha, hoa))
	f.Add(echoPacket(hoa, ha))
	addrs := []netip.Addr{ha}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if !newSignalAddrs(addrs).match(pkt) {
			return
		}
		l, err := mip6.WalkIPv6(pkt)
		if err != nil || l.Proto != mip6.ProtoMobility || l.Dst != ha {
			t.Fatalf("signal but walk %+v err %v", l, err)
		}
		up := pkt[l.Offset:l.End]
		again := mip6.AppendIPv6Header(nil, uint16(len(up)), mip6.ProtoMobility, 64, l.Src, l.Dst)
		again = append(again, up...)
		if !newSignalAddrs(addrs).match(again) {
			t.Fatalf("rebuilt packet %x not signalling", again)
		}
	})
}

// mhPacket is an IPv6 packet from src to dst carrying a Mobility Header
// (a Binding Refresh Request: any message will do for the forwarder),
// with a Home Address option when hao is valid.
func mhPacket(t testing.TB, src, dst, hao netip.Addr) []byte {
	t.Helper()
	mh, err := mip6.MarshalMessage(&mip6.BindingRefreshRequest{})
	if err != nil {
		t.Fatal(err)
	}
	cs := src
	if hao.IsValid() {
		cs = hao
	}
	mip6.SetMHChecksum(mh, cs, dst)
	p, ok := mip6.AppendMobilityPacket(nil, src, dst, hao, netip.Addr{}, 64, mh)
	if !ok {
		t.Fatal("packet too big")
	}
	return p
}

// echoPacket is an ICMPv6 Echo Request from src to dst (not signalling).
func echoPacket(src, dst netip.Addr) []byte {
	icmp := []byte{128, 0, 0, 0, 0, 1, 0, 1}
	p := mip6.AppendIPv6Header(nil, uint16(len(icmp)), mip6.ProtoICMPv6, 64, src, dst)
	return append(p, icmp...)
}
