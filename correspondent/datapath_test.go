package correspondent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gomip6/gomip6/mip6"
)

// udpFrom builds what a mobile node's upper layer sends: a UDP datagram
// from the home address to the correspondent, checksum over that pair
// (RFC 6275 §11.3.1: the upper layer uses the home address).
func udpFrom(src, dst netip.Addr, payload string) (ipHdr, udp []byte) {
	udp = make([]byte, 8, 8+len(payload))
	udp = append(udp, payload...)
	binary.BigEndian.PutUint16(udp[0:], 4000)
	binary.BigEndian.PutUint16(udp[2:], 5000)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	binary.BigEndian.PutUint16(udp[6:], mip6.PseudoHeaderChecksum(src, dst, mip6.ProtoUDP, udp))
	return mip6.AppendIPv6Header(nil, uint16(len(udp)), mip6.ProtoUDP, 64, src, dst), udp
}

// withHAO is the same datagram as the mobile node sends it away from
// home (§11.3.1): from the care-of address, with a Home Address option.
func withHAO(hoa, coa, dst netip.Addr, udp []byte, hopByHop bool) []byte {
	n := 24 + len(udp)
	first := uint8(mip6.ProtoDestOpts)
	if hopByHop {
		n += 8
		first = mip6.ProtoHopByHop
	}
	b := mip6.AppendIPv6Header(nil, uint16(n), first, 64, coa, dst)
	if hopByHop {
		b = append(b, mip6.ProtoDestOpts, 0, 1, 4, 0, 0, 0, 0) // PadN
	}
	b = mip6.AppendHomeAddressDestOpts(b, mip6.ProtoUDP, hoa)
	return append(b, udp...)
}

func TestRestoreHomeAddress(t *testing.T) {
	for _, hbh := range []bool{false, true} {
		hdr, udp := udpFrom(hoa1, cnAddr, "hello")
		want := append(hdr, udp...)
		if hbh {
			// The Hop-by-Hop header stays.
			want = mip6.AppendIPv6Header(nil, uint16(8+len(udp)), mip6.ProtoHopByHop, 64, hoa1, cnAddr)
			want = append(want, mip6.ProtoUDP, 0, 1, 4, 0, 0, 0, 0)
			want = append(want, udp...)
		}
		pkt := withHAO(hoa1, coa1, cnAddr, udp, hbh)
		pkt = append(pkt, 0, 0, 0) // link padding after the packet
		l, err := mip6.WalkIPv6(pkt)
		if err != nil || l.HAO == 0 {
			t.Fatal(err)
		}
		got, err := RestoreHomeAddress(pkt, &l)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("hop-by-hop %v (-want +got):\n%s", hbh, diff)
		}
		gl, err := mip6.WalkIPv6(got)
		if err != nil || gl.HAO != 0 || gl.Src != hoa1 || gl.Proto != mip6.ProtoUDP {
			t.Fatalf("restored %v %+v", err, gl)
		}
		// The UDP checksum still verifies, now with the IPv6 source.
		if mip6.PseudoHeaderChecksum(gl.Src, gl.Dst, mip6.ProtoUDP, got[gl.Offset:gl.End]) != 0 {
			t.Error("UDP checksum does not verify after the swap")
		}
	}

	// Another option beside the Home Address option: refused.
	_, udp := udpFrom(hoa1, cnAddr, "x")
	pkt := withHAO(hoa1, coa1, cnAddr, udp, false)
	pkt[42], pkt[43] = 0x1e, 2 // the PadN becomes an unknown skippable option
	l, err := mip6.WalkIPv6(pkt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RestoreHomeAddress(pkt, &l); !errors.Is(err, ErrOtherOptions) || !errors.Is(err, mip6.ErrInvalid) {
		t.Errorf("other options: %v", err)
	}
	hdr, udp := udpFrom(hoa1, cnAddr, "x")
	plain := append(hdr, udp...)
	l, _ = mip6.WalkIPv6(plain)
	if _, err := RestoreHomeAddress(plain, &l); !errors.Is(err, ErrNoHomeAddress) {
		t.Errorf("no option: %v", err)
	}
}

// echoTo is an ICMPv6 Echo Request from src to dst as a local socket
// sends it, checksum over that pair.
func echoTo(src, dst netip.Addr) []byte {
	icmp := []byte{128, 0, 0, 0, 0, 1, 0, 1, 'p', 'i', 'n', 'g'}
	binary.BigEndian.PutUint16(icmp[2:], mip6.PseudoHeaderChecksum(src, dst, mip6.ProtoICMPv6, icmp))
	return append(mip6.AppendIPv6Header(nil, uint16(len(icmp)), mip6.ProtoICMPv6, 64, src, dst), icmp...)
}

func TestInsertRoutingHeader2(t *testing.T) {
	orig := echoTo(cnAddr, hoa1)
	buf := make([]byte, 64+len(orig))
	copy(buf[64:], orig)
	got, err := InsertRoutingHeader2(buf, 64, len(orig), coa1)
	if err != nil {
		t.Fatal(err)
	}
	// RFC 6275 §6.4.1 octet by octet: Next Header 58, Hdr Ext Len 2,
	// Routing Type 2, Segments Left 1, Reserved 0, Home Address.
	want := mip6.AppendIPv6Header(nil, uint16(24+len(orig)-40), mip6.ProtoRouting, 64, cnAddr, coa1)
	want = append(want, 58, 2, 2, 1, 0, 0, 0, 0)
	h := hoa1.As16()
	want = append(want, h[:]...)
	want = append(want, orig[40:]...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	l, err := mip6.WalkIPv6(got)
	if err != nil || l.RH2Address != hoa1 || l.PseudoDst != hoa1 || l.Dst != coa1 {
		t.Fatalf("%v %+v", err, l)
	}
	if mip6.PseudoHeaderChecksum(l.PseudoSrc, l.PseudoDst, mip6.ProtoICMPv6, got[l.Offset:l.End]) != 0 {
		t.Error("ICMPv6 checksum does not verify with the routing header's final destination")
	}

	// After a Hop-by-Hop header.
	hbh := mip6.AppendIPv6Header(nil, uint16(8+len(orig)-40), mip6.ProtoHopByHop, 64, cnAddr, hoa1)
	hbh = append(hbh, mip6.ProtoICMPv6, 0, 1, 4, 0, 0, 0, 0)
	hbh = append(hbh, orig[40:]...)
	buf = make([]byte, 24+len(hbh))
	copy(buf[24:], hbh)
	got, err = InsertRoutingHeader2(buf, 24, len(hbh), coa1)
	if err != nil {
		t.Fatal(err)
	}
	if l, err := mip6.WalkIPv6(got); err != nil || l.RH2 != 48 || l.Proto != mip6.ProtoICMPv6 || got[40] != mip6.ProtoRouting {
		t.Errorf("after hop-by-hop: %v %+v", err, l)
	}

	// Refusals.
	if _, err := InsertRoutingHeader2(buf, 23, len(hbh), coa1); !errors.Is(err, ErrNoRoom) {
		t.Errorf("no headroom: %v", err)
	}
	withRH := bytes.Clone(got)
	buf = make([]byte, 24+len(withRH))
	copy(buf[24:], withRH)
	if _, err := InsertRoutingHeader2(buf, 24, len(withRH), coa1); !errors.Is(err, ErrHasRoutingHeader) {
		t.Errorf("second routing header: %v", err)
	}
	if _, err := InsertRoutingHeader2(make([]byte, 50), 24, 26, coa1); !errors.Is(err, ErrNotIPv6) {
		t.Errorf("short: %v", err)
	}
}

func TestDataPathAllocs(t *testing.T) {
	orig := echoTo(cnAddr, hoa1)
	buf := make([]byte, 24+len(orig))
	_, udp := udpFrom(hoa1, cnAddr, "hello")
	in := withHAO(hoa1, coa1, cnAddr, udp, false)
	work := make([]byte, len(in))
	var tbl Table
	tbl.Set(hoa1, coa1)
	n := testing.AllocsPerRun(100, func() {
		copy(buf[24:], orig)
		r := tbl.Lookup(hoa1)
		if _, err := InsertRoutingHeader2(buf, 24, len(orig), r.CareOf); err != nil {
			t.Fatal(err)
		}
		r.Packets.Add(1)
		copy(work, in)
		l, err := mip6.WalkIPv6(work)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := RestoreHomeAddress(work, &l); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per packet", n)
	}
}

func TestTable(t *testing.T) {
	var tbl Table
	if tbl.Lookup(hoa1) != nil || tbl.Len() != 0 {
		t.Fatal("zero table not empty")
	}
	tbl.Set(hoa1, coa1)
	r := tbl.Lookup(hoa1)
	r.Packets.Add(5)
	tbl.Set(hoa1, coa1) // same: same Route
	if tbl.Lookup(hoa1) != r {
		t.Error("unchanged binding replaced its Route")
	}
	tbl.Set(hoa1, coa2)
	r2 := tbl.Lookup(hoa1)
	if r2 == r || r2.CareOf != coa2 || r2.Packets.Load() != 5 || r.CareOf != coa1 {
		t.Errorf("move: %v %d", r2.CareOf, r2.Packets.Load())
	}
	tbl.Delete(hoa1)
	tbl.Delete(hoa1)
	if tbl.Lookup(hoa1) != nil || tbl.Len() != 0 {
		t.Error("delete")
	}
}

func TestAppendHomePacketTooBig(t *testing.T) {
	router := netip.MustParseAddr("2001:db8:a::1")
	_, udp := udpFrom(cnAddr, hoa1, string(make([]byte, 1400)))
	orig := append(mip6.AppendIPv6Header(nil, uint16(len(udp)), mip6.ProtoUDP, 64, cnAddr, hoa1), udp...)
	buf := make([]byte, 24+len(orig))
	copy(buf[24:], orig)
	sent, err := InsertRoutingHeader2(buf, 24, len(orig), coa1)
	if err != nil {
		t.Fatal(err)
	}
	// The router's Packet Too Big (RFC 4443 §3.2): as much of the packet
	// as fits in 1280 octets.
	icmp := append([]byte{2, 0, 0, 0, 0, 0, 0x05, 0x78}, sent[:1280-48]...) // MTU 1400
	mip6.SetICMPChecksum(icmp, router, cnAddr)

	pkt, hoa, coa, err := AppendHomePacketTooBig([]byte("prefix"), icmp, router)
	if err != nil {
		t.Fatal(err)
	}
	if string(pkt[:6]) != "prefix" {
		t.Fatal("prefix lost")
	}
	pkt = pkt[6:]
	if hoa != hoa1 || coa != coa1 {
		t.Errorf("about %v at %v", hoa, coa)
	}
	h := mip6.IPv6Header(pkt)
	if h.Src() != router || h.Dst() != cnAddr || h.NextHeader() != mip6.ProtoICMPv6 || len(pkt) > 1280 ||
		int(h.PayloadLength()) != len(pkt)-40 {
		t.Fatalf("packet %v -> %v next %d, %d octets", h.Src(), h.Dst(), h.NextHeader(), len(pkt))
	}
	m := pkt[40:]
	if !mip6.VerifyICMPChecksum(m, router, cnAddr) {
		t.Error("checksum")
	}
	if m[0] != 2 || m[1] != 0 || binary.BigEndian.Uint32(m[4:8]) != 1400-24 {
		t.Errorf("type %d code %d mtu %d", m[0], m[1], binary.BigEndian.Uint32(m[4:8]))
	}
	// The quoted packet is the original as the socket sent it.
	if q := m[8:]; !bytes.Equal(q, orig[:len(q)]) {
		t.Errorf("quote differs from the original packet:\n%x\n%x", q[:64], orig[:64])
	}
	// An MTU below 1280 + 24 still reports 1280.
	binary.BigEndian.PutUint32(icmp[4:], 1290)
	pkt, _, _, _ = AppendHomePacketTooBig(nil, icmp, router)
	if got := binary.BigEndian.Uint32(pkt[44:48]); got != 1280 {
		t.Errorf("mtu %d, want 1280", got)
	}
	// Not ours: other types, no routing header, a type 0 routing header.
	for _, bad := range [][]byte{
		append([]byte{1, 4, 0, 0, 0, 0, 0, 0}, sent[:200]...),
		append([]byte{2, 0, 0, 0, 0, 0, 5, 0}, orig[:200]...),
		func() []byte { b := append([]byte{2, 0, 0, 0, 0, 0, 5, 0}, sent[:200]...); b[8+42] = 0; return b }(),
		icmp[:60],
	} {
		if _, _, _, err := AppendHomePacketTooBig(nil, bad, router); !errors.Is(err, ErrNotOurs) {
			t.Errorf("%x: %v", bad[:16], err)
		}
	}
}
