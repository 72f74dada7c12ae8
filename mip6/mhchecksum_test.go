package mip6

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
)

func TestMHChecksumAddrs(t *testing.T) {
	for _, tt := range []struct {
		name                   string
		ipSrc, ipDst, hoa, rh2 netip.Addr
		wantSrc, wantDst       netip.Addr
	}{
		{"plain", mhCN, mhHoA, netip.Addr{}, netip.Addr{}, mhCN, mhHoA},
		// §6.1.1: the Home Address option's address replaces the source.
		{"HAO", mhCoA, mhHA, mhHoA, netip.Addr{}, mhHoA, mhHA},
		// RFC 8200 §8.1: the final destination, the RH2 home address.
		{"RH2", mhHA, mhCoA, netip.Addr{}, mhHoA, mhHA, mhHoA},
		{"both", mhCoA, mhCN, mhHoA, mhAltCoA, mhHoA, mhAltCoA},
	} {
		src, dst := MHChecksumAddrs(tt.ipSrc, tt.ipDst, tt.hoa, tt.rh2)
		if src != tt.wantSrc || dst != tt.wantDst {
			t.Errorf("%s: %v -> %v, want %v -> %v", tt.name, src, dst, tt.wantSrc, tt.wantDst)
		}
	}
}

// TestMHChecksum checks known checksums. The expected values were computed
// by an RFC 1071 sum written in Python, independent of this package:
//
//	ph = src.packed + dst.packed + struct.pack('!I', len(mh)) + b'\0\0\0\x87'
//	s = sum of the 16-bit words of ph + mh (checksum field zero), folded
//	checksum = ~s & 0xffff
//
// and agree with the golden vectors mh-brr and mh-bu-home, which gen.py
// computed with its own code.
func TestMHChecksum(t *testing.T) {
	bu, err := MarshalMessage(&BindingUpdate{Sequence: 1, Flags: BUFlagA | BUFlagH, Lifetime: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ba, err := MarshalMessage(&BindingAck{Flags: BAFlagK, Sequence: 1, Lifetime: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	brr, err := MarshalMessage(&BindingRefreshRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name         string
		mh           []byte
		ipSrc, ipDst netip.Addr
		hoa, rh2     netip.Addr
		want         uint16 // with the substituted addresses
		wantIP       uint16 // with the IPv6 header's own addresses
	}{
		// A CN's BRR to the home address: no substitution.
		{"BRR", brr, mhCN, mhHoA, netip.Addr{}, netip.Addr{}, 0x67f7, 0x67f7},
		// A home registration from the care-of address with a HAO: the
		// pseudo-header source is the home address.
		{"BU with HAO", bu, mhCoA, mhHA, mhHoA, netip.Addr{}, 0xa1df, 0xa1de},
		// The home agent's BA to the care-of address with an RH2: the
		// pseudo-header destination is the home address.
		{"BA with RH2", ba, mhHA, mhCoA, netip.Addr{}, mhHoA, 0x6060, 0x605f},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mh := bytes.Clone(tt.mh)
			src, dst := MHChecksumAddrs(tt.ipSrc, tt.ipDst, tt.hoa, tt.rh2)
			SetMHChecksum(mh, src, dst)
			if got := binary.BigEndian.Uint16(mh[4:]); got != tt.want {
				t.Errorf("checksum %#04x, want %#04x", got, tt.want)
			}
			if !VerifyMHChecksum(mh, src, dst) {
				t.Errorf("does not verify")
			}
			if tt.want != tt.wantIP && VerifyMHChecksum(mh, tt.ipSrc, tt.ipDst) {
				t.Errorf("verifies with the IPv6 header's addresses")
			}
			// Setting again over a filled field gives the same value.
			SetMHChecksum(mh, src, dst)
			if got := binary.BigEndian.Uint16(mh[4:]); got != tt.want {
				t.Errorf("second SetMHChecksum %#04x, want %#04x", got, tt.want)
			}
			ip := bytes.Clone(tt.mh)
			SetMHChecksum(ip, tt.ipSrc, tt.ipDst)
			if got := binary.BigEndian.Uint16(ip[4:]); got != tt.wantIP {
				t.Errorf("checksum with IP addresses %#04x, want %#04x", got, tt.wantIP)
			}
			// Any flipped bit breaks it.
			for i := range mh {
				c := bytes.Clone(mh)
				c[i] ^= 0x10
				if VerifyMHChecksum(c, src, dst) {
					t.Errorf("verifies with octet %d changed", i)
				}
			}
		})
	}
}

// TestMHChecksumLength: the sum covers the Header Len octets only (the
// pseudo-header length is the Mobility Header's), and short input neither
// panics nor verifies.
func TestMHChecksumLength(t *testing.T) {
	mh, _ := MarshalMessage(&BindingRefreshRequest{})
	SetMHChecksum(mh, mhCN, mhHoA)
	withTail := append(bytes.Clone(mh), 1, 2, 3)
	if !VerifyMHChecksum(withTail, mhCN, mhHoA) {
		t.Errorf("trailing octets change the result")
	}
	SetMHChecksum(withTail, mhCN, mhHoA)
	if !bytes.Equal(withTail[:len(mh)], mh) {
		t.Errorf("SetMHChecksum with trailing octets: %x, want %x", withTail[:len(mh)], mh)
	}
	for _, b := range [][]byte{nil, {0x3b}, mh[:7], mhHex(t, "3b 01 00 00 0000 0000")} {
		c := bytes.Clone(b)
		SetMHChecksum(c, mhCN, mhHoA)
		if !bytes.Equal(c, b) {
			t.Errorf("SetMHChecksum(%x) changed it to %x", b, c)
		}
		if VerifyMHChecksum(b, mhCN, mhHoA) {
			t.Errorf("VerifyMHChecksum(%x) = true", b)
		}
	}
}
