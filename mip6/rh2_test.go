package mip6

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAppendRoutingHeader2(t *testing.T) {
	hoa := netip.MustParseAddr("2001:db8:1::1000")
	got := AppendRoutingHeader2([]byte{0xee}, ProtoMobility, hoa)
	// RFC 6275 §6.4.1, by hand; scapy's IPv6ExtHdrRouting(type=2, ...,
	// segleft=1) gives the same bytes (see scapyMPA).
	want := hexView(t, `
		ee          // the caller's prefix
		87          // Next Header: Mobility Header
		02          // Hdr Ext Len = 2
		02          // Routing Type = 2
		01          // Segments Left = 1
		00000000    // Reserved
		20010db8000100000000000000001000 // Home Address
	`)
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	r := RoutingHeader2(got[1:])
	if !r.IsValid() || len(r) != RoutingHeader2Len {
		t.Fatal("IsValid = false")
	}
	if r.NextHeader() != ProtoMobility || r.SegmentsLeft() != 1 || r.HomeAddress() != hoa {
		t.Errorf("accessors: %d %d %v", r.NextHeader(), r.SegmentsLeft(), r.HomeAddress())
	}
}

func TestRoutingHeader2Process(t *testing.T) {
	// The mobile node's routing step on scapyMPA: swap the IPv6
	// destination (care-of) and the home address, Segments Left 1 -> 0.
	// The pseudo-header destination stays the home address throughout
	// (RFC 8200 §8.1: final destination).
	pkt := hexView(t, scapyMPA)
	before, err := WalkIPv6(pkt)
	if err != nil {
		t.Fatal(err)
	}
	ip, r := IPv6Header(pkt), RoutingHeader2(pkt[before.RH2:])
	coa := ip.Dst()
	ip.SetDst(r.HomeAddress())
	r.SetHomeAddress(coa)
	r.SetSegmentsLeft(r.SegmentsLeft() - 1)
	if r.IsValid() {
		t.Error("processed header (SL 0) is still IsValid")
	}
	after, err := WalkIPv6(pkt)
	if err != nil {
		t.Fatal(err)
	}
	if after.RH2SegmentsLeft != 0 || after.PseudoDst != before.PseudoDst || after.Dst != before.PseudoDst {
		t.Errorf("after processing: %+v", after)
	}
	if !VerifyICMPChecksum(pkt[after.Offset:after.End], after.PseudoSrc, after.PseudoDst) {
		t.Error("checksum does not verify after processing")
	}
	r.SetNextHeader(ProtoNoNext)
	if pkt[before.RH2] != ProtoNoNext {
		t.Error("SetNextHeader did not write octet 0")
	}
}

func TestRoutingHeader2IsValid(t *testing.T) {
	good := hexView(t, "3b 02 02 01 00000000 20010db8000100000000000000001000")
	mod := func(i int, v byte) []byte {
		b := append([]byte(nil), good...)
		b[i] = v
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"good", good, true},
		{"reserved not zero is still valid (ignored, §6.4.1)", mod(4, 0xff), true},
		{"short", good[:23], false},
		{"Hdr Ext Len 4", mod(1, 4), false},
		{"routing type 0", mod(2, 0), false},
		{"Segments Left 0", mod(3, 0), false},
		{"Segments Left 2", mod(3, 2), false},
	} {
		if got := RoutingHeader2(tc.b).IsValid(); got != tc.want {
			t.Errorf("%s: IsValid = %v", tc.name, got)
		}
	}
}
