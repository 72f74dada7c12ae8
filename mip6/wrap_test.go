package mip6

import (
	"net/netip"
	"testing"
)

func TestAppendMobilityPacket(t *testing.T) {
	src := netip.MustParseAddr("2001:db8:100::1")
	coa := netip.MustParseAddr("2001:db8:a::99")
	hoa := netip.MustParseAddr("2001:db8:100::10")
	for _, tc := range []struct {
		name          string
		src, dst      netip.Addr
		hao, rh2      netip.Addr
		wantLen       int
		psSrc, psDst  netip.Addr
		wantHAO, wRH2 bool
	}{
		{"plain", src, hoa, netip.Addr{}, netip.Addr{}, 40, src, hoa, false, false},
		{"rh2 (BA to a care-of address)", src, coa, netip.Addr{}, hoa, 64, src, hoa, false, true},
		{"hao (BU from a care-of address)", coa, src, hoa, netip.Addr{}, 64, hoa, src, true, false},
		{"both", coa, coa, hoa, hoa, 88, hoa, hoa, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mh, err := AppendMessage(nil, &BindingRefreshRequest{})
			if err != nil {
				t.Fatal(err)
			}
			// The caller computes the checksum with the §6.1.1 addresses.
			SetMHChecksum(mh, tc.psSrc, tc.psDst)
			pkt, ok := AppendMobilityPacket([]byte{0xee}, tc.src, tc.dst, tc.hao, tc.rh2, 64, mh)
			if !ok || pkt[0] != 0xee {
				t.Fatalf("ok %v, prefix %x", ok, pkt[:1])
			}
			pkt = pkt[1:]
			if len(pkt) != tc.wantLen+len(mh) {
				t.Fatalf("len %d, want %d", len(pkt), tc.wantLen+len(mh))
			}
			l, err := WalkIPv6(pkt)
			if err != nil {
				t.Fatal(err)
			}
			if l.Proto != ProtoMobility || l.End != len(pkt) || l.Src != tc.src || l.Dst != tc.dst {
				t.Fatalf("layout %+v", l)
			}
			if (l.HAO != 0) != tc.wantHAO || (l.RH2 != 0) != tc.wRH2 {
				t.Fatalf("HAO %d RH2 %d", l.HAO, l.RH2)
			}
			if tc.wantHAO && l.HomeAddress != hoa || tc.wRH2 && (l.RH2Address != hoa || l.RH2SegmentsLeft != 1) {
				t.Fatalf("layout %+v", l)
			}
			if !VerifyMHChecksum(pkt[l.Offset:l.End], l.PseudoSrc, l.PseudoDst) {
				t.Error("the receiver's pseudo-header does not verify the checksum")
			}
		})
	}
	if _, ok := AppendMobilityPacket(nil, src, coa, hoa, hoa, 64, make([]byte, 0xffff-40)); ok {
		t.Error("oversized packet accepted")
	}
}
