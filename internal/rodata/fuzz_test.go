package rodata

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gomip6/gomip6/correspondent"
	"github.com/gomip6/gomip6/mip6"
)

// FuzzRestoreRoutingHeader2 asserts, for any packet the function accepts,
// that routing the result again (correspondent.InsertRoutingHeader2, the
// correspondent's side) and restoring it gives the same packet: parse,
// marshal, parse.
func FuzzRestoreRoutingHeader2(f *testing.F) {
	in := udpPacket(cn, hoa, "seed")
	buf, off := withHeadroom(in, 24)
	routed, err := correspondent.InsertRoutingHeader2(buf, off, len(in), coa)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(append([]byte(nil), routed...))
	f.Add(in)
	f.Fuzz(func(t *testing.T, data []byte) {
		pkt := append([]byte(nil), data...)
		l, err := mip6.WalkIPv6(pkt)
		if err != nil {
			return
		}
		out, err := RestoreRoutingHeader2(pkt, &l, l.RH2Address)
		if err != nil {
			return
		}
		if h := mip6.IPv6Header(out); h.Dst() != l.RH2Address || h.Src() != l.Src || len(out) != l.End-mip6.RoutingHeader2Len {
			t.Fatalf("restored % x from % x", out, data)
		}
		b, o := withHeadroom(out, 24)
		again, err := correspondent.InsertRoutingHeader2(b, o, len(out), l.Dst)
		if err != nil {
			// The restored packet has no routing header and a
			// valid length: the correspondent's side must take it.
			t.Fatalf("re-routing: %v", err)
		}
		l2, err := mip6.WalkIPv6(again)
		if err != nil {
			t.Fatalf("re-routed packet: %v", err)
		}
		out2, err := RestoreRoutingHeader2(again, &l2, l.RH2Address)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("second restore: %v\n% x\n% x", err, out, out2)
		}
	})
}

// FuzzInsertHomeAddress asserts that for any well-formed packet the
// function accepts, the result walks with the home address (the original
// source) in its option and the care-of address as source, and that the
// correspondent's RestoreHomeAddress gives the original back.
func FuzzInsertHomeAddress(f *testing.F) {
	f.Add(udpPacket(hoa, cn, "seed"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l0, err := mip6.WalkIPv6(data)
		if err != nil || l0.HAO != 0 {
			return
		}
		buf, off := withHeadroom(data, 24)
		out, err := InsertHomeAddress(buf, off, len(data), coa)
		if err != nil {
			return
		}
		l, err := mip6.WalkIPv6(out)
		if err != nil {
			t.Fatalf("inserted packet does not walk: %v\n% x", err, out)
		}
		if l.HomeAddress != l0.Src || l.Src != coa || l.Proto != l0.Proto || l.PseudoSrc != l0.Src {
			t.Fatalf("layout %+v from %+v", l, l0)
		}
		back, err := correspondent.RestoreHomeAddress(out, &l)
		if err != nil || !bytes.Equal(back, data[:l0.End]) {
			t.Fatalf("round trip: %v\n% x\n% x", err, back, data[:l0.End])
		}
	})
}

// FuzzAppendHomeAddressPacketTooBig asserts, for any message the
// translation accepts, that the result is a whole IPv6 packet of at most
// 1280 octets from the router to the home address, carrying a checksummed
// Packet Too Big with an MTU of at least 1280 about a packet from the
// home address, and that translating a Packet Too Big about that packet
// with the Home Address option put back gives the same message again:
// parse, build, parse.
func FuzzAppendHomeAddressPacketTooBig(f *testing.F) {
	in := udpPacket(hoa, cn, "seed")
	buf, off := withHeadroom(in, 24)
	sent, err := InsertHomeAddress(buf, off, len(in), coa)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ptbAbout(sent, 1400))
	f.Fuzz(func(t *testing.T, icmp []byte) {
		out, h, c, dst, err := AppendHomeAddressPacketTooBig(nil, icmp, router)
		if err != nil {
			return
		}
		l, err := mip6.WalkIPv6(out)
		if err != nil || len(out) > 1280 || l.End != len(out) || l.Proto != mip6.ProtoICMPv6 || l.Src != router || l.Dst != h {
			t.Fatalf("translated: %v\n% x", err, out)
		}
		m := out[l.Offset:]
		if !mip6.VerifyICMPChecksum(m, router, h) || m[0] != icmpPacketTooBig || binary.BigEndian.Uint32(m[4:8]) < 1280 {
			t.Fatalf("message % x", m)
		}
		q := mip6.IPv6Header(m[8:])
		if q.Src() != h || q.Dst() != dst {
			t.Fatalf("quoted packet from %v to %v", q.Src(), q.Dst())
		}
		// Put the option back into the quoted packet, as it was on
		// the wire, and translate again.
		quoted := m[8:]
		again := append([]byte(nil), icmp[:8]...)
		again = append(again, quoted[:40]...)
		mip6.IPv6Header(again[8:]).SetSrc(c)
		mip6.IPv6Header(again[8:]).SetNextHeader(mip6.ProtoDestOpts)
		mip6.IPv6Header(again[8:]).SetPayloadLength(q.PayloadLength() + 24)
		again = mip6.AppendHomeAddressDestOpts(again, quoted[6], h)
		again = append(again, quoted[40:]...)
		out2, _, _, _, err := AppendHomeAddressPacketTooBig(nil, again, router)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("second translation: %v\n% x\n% x", err, out, out2)
		}
	})
}
