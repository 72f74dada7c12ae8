package correspondent

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/gomip6/gomip6/mip6"
)

// FuzzHandleMH feeds arbitrary Mobility Headers (checksum fixed up so they
// get past §9.2) to a correspondent that has run return routability with
// the seeded random source, so seeds with a valid authenticator reach
// acceptance. The first input octet chooses whether the packet carries a
// Home Address option. Whatever the input:
//   - no panic;
//   - a dropped message changes nothing;
//   - a reply is a whole IPv6 packet that walks, whose Mobility Header
//     checksum verifies and which parses; marshalling the parsed message
//     and parsing again gives the same message (parse -> marshal -> parse);
//   - a reply is never larger than its request, HoT and CoT aside (see
//     Options.StrictSize), and never goes anywhere but to the packet's
//     source or to the care-of address of an authenticated binding;
//   - only status 0 changes the cache.
func FuzzHandleMH(f *testing.F) {
	m := newMN()
	c := newCN(f, nil, Options{})
	m.runRR(f, c, t0)
	seq := m.seq
	for _, o := range []buOpts{{}, {noA: true}, {dereg: true}, {altCoA: coa2}, {badMAC: true}, {flags: mip6.BUFlagH},
		{homeIndex: new(uint16)}, {noNonces: true}} {
		m.seq = seq
		f.Add(byte(1), m.bu(f, o).MH)
	}
	f.Add(byte(0), m.hoti(f).MH)
	f.Add(byte(0), m.coti(f).MH)
	f.Add(byte(0), mhBytes(f, &mip6.RawMessage{Type: 99, Data: make([]byte, 26)}, coa1, cnAddr))
	f.Fuzz(func(t *testing.T, hao byte, mh []byte) {
		c := newCN(t, nil, Options{RateBuckets: 16}) // small: a new limiter per input
		m := newMN()
		m.runRR(t, c, t0)
		mh = bytes.Clone(mh)
		p := Packet{Src: coa1, Dst: cnAddr, MH: mh}
		if hao&1 != 0 {
			p.HomeAddress = hoa1
			mip6.SetMHChecksum(mh, hoa1, cnAddr)
		} else {
			mip6.SetMHChecksum(mh, coa1, cnAddr)
		}
		r := c.HandleMH(nil, p, t0.Add(time.Second))
		switch r.Verdict {
		case Drop:
			if r.Out != nil || c.Cache().Len() != 0 {
				t.Fatalf("drop %v with packet %x, cache %d", r.Drop, r.Out, c.Cache().Len())
			}
			return
		case Silent:
			if r.Status != 0 {
				t.Fatalf("silent with status %v", r.Status)
			}
			return
		}
		l, err := mip6.WalkIPv6(r.Out)
		if err != nil || l.Proto != mip6.ProtoMobility || l.End != len(r.Out) {
			t.Fatalf("reply walks: %v %+v", err, l)
		}
		out := r.Out[l.Offset:l.End]
		if !mip6.VerifyMHChecksum(out, l.PseudoSrc, l.PseudoDst) {
			t.Fatal("reply checksum")
		}
		msg, err := mip6.ParseMessage(out)
		if err != nil {
			t.Fatalf("reply does not parse: %v", err)
		}
		again, err := mip6.MarshalMessage(msg)
		if err != nil {
			t.Fatal(err)
		}
		msg2, err := mip6.ParseMessage(again)
		if err != nil {
			t.Fatal(err)
		}
		again2, _ := mip6.MarshalMessage(msg2)
		if !bytes.Equal(again, again2) {
			t.Fatalf("parse -> marshal -> parse not symmetric:\n%x\n%x", again, again2)
		}
		if r.Sent != mip6.MHHomeTest && r.Sent != mip6.MHCareofTest && len(r.Out) > p.size() {
			t.Fatalf("%v of %d octets for %d", r.Sent, len(r.Out), p.size())
		}
		if l.Dst != p.Src && !(r.Status == 0 && l.Dst == r.CareOf) {
			t.Fatalf("reply to %v (source %v, status %v)", l.Dst, p.Src, r.Status)
		}
		if (c.Cache().Len() != 0) && !(r.Sent == mip6.MHBindingAck && r.Status == 0) {
			t.Fatalf("cache changed with %v status %v", r.Sent, r.Status)
		}
	})
}

// FuzzRestoreHomeAddress: for any packet WalkIPv6 accepts with a Home
// Address option, a restored packet walks, has no option left, comes
// from the home address, and carries the same upper layer, octet for
// octet. Putting the canonical Destination Options header back gives
// the packet again when it was canonical (restore -> re-add symmetry).
func FuzzRestoreHomeAddress(f *testing.F) {
	_, udp := udpFrom(hoa1, cnAddr, "hello")
	f.Add(withHAO(hoa1, coa1, cnAddr, udp, false))
	f.Add(withHAO(hoa1, coa1, cnAddr, udp, true))
	f.Add(echoTo(cnAddr, hoa1))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		l, err := mip6.WalkIPv6(pkt)
		if err != nil || l.HAO == 0 {
			return
		}
		orig := bytes.Clone(pkt)
		upper := bytes.Clone(pkt[l.Offset:l.End])
		out, err := RestoreHomeAddress(pkt, &l)
		if err != nil {
			return
		}
		ol, err := mip6.WalkIPv6(out)
		if err != nil {
			t.Fatalf("restored packet does not walk: %v", err)
		}
		if ol.HAO != 0 || ol.Src != l.HomeAddress || ol.Dst != l.Dst || ol.Proto != l.Proto {
			t.Fatalf("restored %+v from %+v", ol, l)
		}
		if !bytes.Equal(out[ol.Offset:ol.End], upper) {
			t.Fatal("upper layer changed")
		}
		if ol.PseudoSrc != l.PseudoSrc {
			t.Fatalf("pseudo-header source %v, was %v", ol.PseudoSrc, l.PseudoSrc)
		}
		// Re-add: canonical header right after the IPv6 header.
		if orig[6] == mip6.ProtoDestOpts && l.HAO == 48 && bytes.Equal(orig[42:46], []byte{1, 2, 0, 0}) && orig[41] == 2 {
			back := mip6.AppendIPv6Header(nil, uint16(len(out)-40+24), mip6.ProtoDestOpts, out[7], l.Src, l.Dst)
			back[0], back[1], back[2], back[3] = orig[0], orig[1], orig[2], orig[3]
			back = mip6.AppendHomeAddressDestOpts(back, out[6], l.HomeAddress)
			back = append(back, out[40:]...)
			if !bytes.Equal(back, orig[:l.End]) {
				t.Fatalf("re-added\n%x\nwant\n%x", back, orig[:l.End])
			}
		}
	})
}

// FuzzInsertRoutingHeader2: inserting the routing header and taking it
// out again gives the packet back, octet for octet; a packet that walked
// before walks after, with the old destination in the routing header as
// the checksum's final destination.
func FuzzInsertRoutingHeader2(f *testing.F) {
	f.Add(echoTo(cnAddr, hoa1))
	_, udp := udpFrom(cnAddr, hoa1, "data")
	f.Add(withHAO(cnAddr, coa1, hoa1, udp, true))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		buf := make([]byte, 24+len(pkt))
		copy(buf[24:], pkt)
		out, err := InsertRoutingHeader2(buf, 24, len(pkt), coa1)
		if err != nil {
			return
		}
		h := mip6.IPv6Header(pkt)
		end := 40 + int(h.PayloadLength())
		ins := 40
		if pkt[6] == mip6.ProtoHopByHop {
			ins += (int(pkt[41]) + 1) * 8
		}
		// Take it out again.
		rh := mip6.RoutingHeader2(out[ins : ins+24])
		if !rh.IsValid() || rh.SegmentsLeft() != 1 || rh.HomeAddress() != h.Dst() {
			t.Fatalf("routing header %x", out[ins:ins+24])
		}
		back := append(bytes.Clone(out[:ins]), out[ins+24:]...)
		prev := 6
		if ins > 40 {
			prev = 40
		}
		back[prev] = rh.NextHeader()
		bh := mip6.IPv6Header(back)
		bh.SetDst(rh.HomeAddress())
		bh.SetPayloadLength(uint16(len(back) - 40))
		if !bytes.Equal(back, pkt[:end]) {
			t.Fatalf("insert -> remove\n%x\nwant\n%x", back, pkt[:end])
		}
		if l, err := mip6.WalkIPv6(pkt[:end]); err == nil {
			ol, err := mip6.WalkIPv6(out)
			if err != nil {
				// A Home Address option before our routing header
				// would now precede it: WalkIPv6 rightly refuses.
				if l.HAO != 0 {
					return
				}
				t.Fatalf("walked before, not after: %v", err)
			}
			if ol.PseudoDst != netip.Addr(h.Dst()) || ol.Proto != l.Proto {
				t.Fatalf("after insert %+v, before %+v", ol, l)
			}
		}
	})
}

// FuzzAppendHomePacketTooBig: whatever the ICMPv6 message, no panic; a
// translation is at most 1280 octets, checksummed, reports an MTU of at
// least 1280, and its quoted header turns back into the router's quote
// when the routing header's changes are undone (translate -> undo
// symmetry).
func FuzzAppendHomePacketTooBig(f *testing.F) {
	_, udp := udpFrom(cnAddr, hoa1, "data path")
	orig := append(mip6.AppendIPv6Header(nil, uint16(len(udp)), mip6.ProtoUDP, 64, cnAddr, hoa1), udp...)
	buf := append(make([]byte, 24), orig...)
	sent, _ := InsertRoutingHeader2(buf, 24, len(orig), coa1)
	f.Add(append([]byte{2, 0, 0, 0, 0, 0, 5, 0x78}, sent...))
	f.Add(append([]byte{2, 0, 0, 0, 0, 0, 0, 0}, sent[:64]...))
	router := netip.MustParseAddr("2001:db8:a::1")
	f.Fuzz(func(t *testing.T, icmp []byte) {
		pkt, hoa, coa, err := AppendHomePacketTooBig(nil, icmp, router)
		if err != nil {
			return
		}
		if len(pkt) > 1280 || len(pkt) < 48+40 {
			t.Fatalf("%d octets", len(pkt))
		}
		h := mip6.IPv6Header(pkt)
		if h.Src() != router || int(h.PayloadLength()) != len(pkt)-40 || !mip6.VerifyICMPChecksum(pkt[40:], router, h.Dst()) {
			t.Fatal("outer header or checksum")
		}
		if mtu := uint32(pkt[44])<<24 | uint32(pkt[45])<<16 | uint32(pkt[46])<<8 | uint32(pkt[47]); mtu < 1280 {
			t.Fatalf("mtu %d", mtu)
		}
		q := bytes.Clone(pkt[48:88])
		qh := mip6.IPv6Header(q)
		if qh.Dst() != hoa {
			t.Fatalf("quoted destination %v, home address %v", qh.Dst(), hoa)
		}
		qh.SetDst(coa)
		qh.SetNextHeader(mip6.ProtoRouting)
		qh.SetPayloadLength(qh.PayloadLength() + 24)
		if !bytes.Equal(q, icmp[8:48]) {
			t.Fatalf("undo:\n%x\n%x", q, icmp[8:48])
		}
	})
}
