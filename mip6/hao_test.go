package mip6

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAppendHomeAddressDestOpts(t *testing.T) {
	hoa := netip.MustParseAddr("2001:db8:1::1000")
	got := AppendHomeAddressDestOpts(nil, ProtoMobility, hoa)
	// RFC 6275 §6.3 and RFC 8200 §4.2, by hand; scapy's
	// IPv6ExtHdrDestOpt(options=[HAO(...)]) produces the same bytes (see
	// scapyMPS).
	want := hexView(t, `
		87     // Next Header: Mobility Header
		02     // Hdr Ext Len: 2, so 24 octets
		01 02 0000 // PadN with 2 octets of data: the HAO starts at 6 = 8n+6
		c9     // Option Type 201: top bits 11 = discard + ICMP if unknown
		10     // Option Length 16
		20010db8000100000000000000001000 // Home Address, 8-octet aligned
	`)
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	if len(got) != HomeAddressDestOptsLen {
		t.Errorf("len = %d, want %d", len(got), HomeAddressDestOptsLen)
	}

	h := DestOptsHeader(got)
	if !h.IsValid() || h.Len() != 24 || h.NextHeader() != ProtoMobility {
		t.Fatalf("view: valid %v len %d next %d", h.IsValid(), h.Len(), h.NextHeader())
	}
	off, err := FindHomeAddress(got)
	if err != nil || off != 8 {
		t.Fatalf("FindHomeAddress = %d, %v; want 8", off, err)
	}
	o := h.HomeAddressOption()
	if !o.IsValid() || o.Address() != hoa {
		t.Fatalf("HomeAddressOption = %x", []byte(o))
	}
	h.SetNextHeader(ProtoICMPv6)
	if got[0] != ProtoICMPv6 {
		t.Error("SetNextHeader did not write octet 0")
	}
}

func TestHomeAddressOptionSwap(t *testing.T) {
	// RFC 6275 §9.3.1: the receiver swaps the HAO's address and the IPv6
	// source; doing it again restores the packet as sent.
	pkt := hexView(t, scapyMPS)
	l, err := WalkIPv6(pkt)
	if err != nil {
		t.Fatal(err)
	}
	ip := IPv6Header(pkt)
	hao := HomeAddressOption(pkt[l.HAO-2 : l.HAO+16])
	coa, hoa := ip.Src(), hao.Address()

	src := ip.Src()
	ip.SetSrc(hao.Address())
	hao.SetAddress(src)
	if ip.Src() != hoa || hao.Address() != coa {
		t.Fatalf("after swap: src %v, HAO %v", ip.Src(), hao.Address())
	}
	// The swapped packet's checksum now verifies with the IPv6 header's own
	// source, as the upper layer above the swap sees it.
	if !VerifyICMPChecksum(pkt[l.Offset:l.End], ip.Src(), ip.Dst()) {
		t.Error("checksum does not verify after the swap")
	}
	if d := cmp.Diff(hexView(t, scapyMPS)[48:64], pkt[48:64]); d == "" {
		t.Error("the option bytes did not change in place")
	}
}

func TestHomeAddressOptionIsValid(t *testing.T) {
	good := hexView(t, "c9 10 20010db8000100000000000000001000")
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"good", good, true},
		{"longer slice", append(append([]byte(nil), good...), 0xff), true},
		{"short", good[:17], false},
		{"nil", nil, false},
		{"wrong type", append([]byte{0xc8}, good[1:]...), false},
		{"wrong length", append([]byte{0xc9, 0x08}, good[2:]...), false},
	} {
		if got := HomeAddressOption(tc.b).IsValid(); got != tc.want {
			t.Errorf("%s: IsValid = %v", tc.name, got)
		}
	}
}

func TestFindHomeAddress(t *testing.T) {
	for _, tc := range []struct {
		name    string
		hdr     string
		wantOff int
		wantErr error
	}{
		{"canonical", "3b 02 0102 0000 c9 10 20010db8000100000000000000001000", 8, nil},
		{"no HAO, PadN", "3b 00 0104 00000000", 0, nil},
		{"no HAO, Pad1s", "3b 00 00 00 00 00 00 00", 0, nil},
		{"HAO after an unknown option", "3b 02 1e 00 0000 c9 10 20010db8000100000000000000001000", 8, nil},
		{"extra octets after the header are not read", "3b 00 0104 00000000 c9", 0, nil},
		{"short", "3b 00 0104 0000", 0, ErrTruncated},
		{"Hdr Ext Len past the slice", "3b 01 0104 00000000", 0, ErrTruncated},
		{"option past the header", "3b 00 0106 00000000", 0, ErrTruncated},
		{"HAO length 15", "3b 02 0103 000000 c9 0f 20010db80001000000000000000010", 0, ErrLength},
		{"two HAOs", `3b 05 c9 10 20010db8000100000000000000001000
			c9 10 20010db8000100000000000000001000 01 08 0000000000000000`, 0, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := hexView(t, tc.hdr)
			off, err := FindHomeAddress(b)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if off != tc.wantOff {
				t.Errorf("off = %d, want %d", off, tc.wantOff)
			}
			if valid := DestOptsHeader(b).IsValid(); valid != (tc.wantErr == nil) {
				t.Errorf("IsValid = %v", valid)
			}
			if tc.wantErr == nil && tc.wantOff == 0 && DestOptsHeader(b).HomeAddressOption() != nil {
				t.Error("HomeAddressOption != nil without a HAO")
			}
		})
	}
}
