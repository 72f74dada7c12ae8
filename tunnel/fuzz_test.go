package tunnel

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gomip6/gomip6/mip6"
	"github.com/google/go-cmp/cmp"
)

// The fuzz targets cover every parser of received data (ParseOuter,
// Input/Decap, ParseTunnelError/RelayError) and the encapsulation itself,
// each asserting a round trip, not only the absence of panics. Seed corpora
// are in testdata/fuzz/<name>.

// FuzzEncapDecap: decap(encap(p)) == p for every encapsulation, and
// ParseOuter gives back exactly the endpoint encap wrote.
func FuzzEncapDecap(f *testing.F) {
	f.Add(mkInner(cnAddr, hoa, 0xba, 59, []byte("gomip6!!")), uint8(0))
	f.Add(mkInner(cnAddr, hoa, 3, 6, make([]byte, 1500)), uint8(1))
	f.Add(mkInner(cnAddr, hoa, 1, 17, nil), uint8(2))
	eps := [...]Endpoint{ep6(), ep4(), epUDP()}
	var has [6]*Tunnel
	var mns [3]*Tunnel
	for i, ep := range eps {
		has[i], _ = newHA(f, ep, nil)
		has[i+3], _ = newHA(f, ep, func(c *Config) { c.UDPChecksum = true })
		mtab := NewTable(0)
		_ = mtab.Set(netip.PrefixFrom(hoa, 128), Endpoint{Kind: ep.Kind, Local: ep.Remote, Remote: ep.Local, LocalPort: ep.RemotePort, RemotePort: ep.LocalPort})
		mns[i], _ = New(Config{Role: RoleMobileNode}, mtab)
	}
	f.Fuzz(func(t *testing.T, data []byte, kind uint8) {
		ep, ha, mn := eps[kind%3], has[kind%6], mns[kind%3]
		if len(data) >= 40 {
			copy(data[24:40], hoa.AsSlice()) // make the HA find the binding
		}
		buf, off := withHeadroom(data)
		out, v := ha.Output(buf, off)
		n, ok := innerLen(data)
		switch {
		case !ok:
			if v != (Verdict{ActionDrop, ReasonMalformed}) {
				t.Fatalf("malformed inner: %+v", v)
			}
			return
		case v.Action == ActionReply:
			if n <= DefaultPathMTU-ep.Kind.Overhead() || n <= MinIPv6MTU {
				t.Fatalf("PTB for a packet that fits: %d", n)
			}
			if mip6.PseudoHeaderChecksum(haHome, netip.AddrFrom16([16]byte(data[8:24])), 58, out[40:]) != 0 {
				t.Fatal("PTB checksum")
			}
			return
		case v.Action == ActionDrop:
			if v.Reason != ReasonTooBig {
				t.Fatalf("dropped: %+v", v)
			}
			return
		}
		o, inner, r := ParseOuter(out)
		if r != ReasonOK {
			t.Fatalf("own outer packet does not parse: %v", r)
		}
		want := Outer{Kind: ep.Kind, Src: ep.Local, Dst: ep.Remote, SrcPort: ep.LocalPort, DstPort: ep.RemotePort, TOS: ip6TrafficClass(data)}
		if o != want {
			t.Fatalf("outer %+v, want %+v", o, want)
		}
		if !bytes.Equal(inner, data[:n]) {
			t.Fatal("inner changed by encapsulation")
		}
		got, v := mn.Input(out)
		src := addr16(data, ip6Src)
		if badUnicast16(&src) {
			if v.Reason != ReasonInnerSrc {
				t.Fatalf("bad inner source passed: %+v", v)
			}
			return
		}
		if v != (Verdict{ActionSend, ReasonOK}) {
			t.Fatalf("decap: %+v", v)
		}
		if diff := cmp.Diff(data[:n], got); diff != "" {
			t.Fatalf("decap(encap(p)) != p:\n%s", diff)
		}
	})
}

// FuzzParseOuter: whatever ParseOuter accepts, rebuilding the outer header
// from the parsed fields and parsing again gives the same fields and
// payload, and the payload lies inside the input.
func FuzzParseOuter(f *testing.F) {
	f.Add(unhex(f, "45ba00440001400040294d9fc0000201c6336402"+testInnerHex))
	f.Add(unhex(f, "45ba004c0001400040114dafc0000201c6336402105f9c400038d9d2"+testInnerHex))
	f.Add(unhex(f, "6bade2e10030294020010db8ffff0000000000000000000120010db8cafe00000000000000000002"+testInnerHex))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, inner, r := ParseOuter(data)
		if r != ReasonOK {
			if inner != nil {
				t.Fatal("payload with a failure")
			}
			return
		}
		if len(inner) > 0 && !within(inner, data) {
			t.Fatal("payload not inside the input")
		}
		oh := o.Kind.Overhead()
		pkt := make([]byte, oh+len(inner))
		copy(pkt[oh:], inner)
		l, rem := o.Src.As16(), o.Dst.As16()
		switch o.Kind {
		case KindIPv6:
			writeIPv6(pkt, o.TOS, 0, uint16(len(inner)), 41, 64, &l, &rem)
		case Kind6in4:
			writeIPv4(pkt, o.TOS, 0, true, 64, 41, &l, &rem)
		case KindUDP4:
			writeIPv4(pkt, o.TOS, 0, true, 64, 17, &l, &rem)
			writeUDP4(pkt, o.SrcPort, o.DstPort, true)
		default:
			t.Fatalf("kind %v", o.Kind)
		}
		o2, inner2, r := ParseOuter(pkt)
		if r != ReasonOK || o2 != o || !bytes.Equal(inner, inner2) {
			t.Fatalf("reparse: %v %+v, want %+v", r, o2, o)
		}
	})
}

// within reports whether the non-empty sub is a subslice of b.
func within(sub, b []byte) bool {
	for i := range b {
		if &b[i] == &sub[0] {
			return i+len(sub) <= len(b)
		}
	}
	return false
}

// FuzzInput: the whole receive path on a home agent with bindings of every
// kind. A packet it forwards passes the anti-spoofing rules checked here
// independently of Decap.
func FuzzInput(f *testing.F) {
	f.Add(unhex(f, "45ba00440001400040294d9fc0000201c6336402"+testInnerHex))
	tun := newHAAll(f)
	ref := newHAAll(f).Table()
	for _, b := range []*Binding{ref.Lookup(hoa), ref.Lookup(hoa4), ref.Lookup(hoaU)} {
		// Seeds from each binding's mobile node.
		in := mkInner(b.Prefix().Addr(), cnAddr, 0x02, 58, []byte{128, 0, 0, 0})
		e := b.Endpoint()
		mt := NewTable(0)
		_ = mt.Set(b.Prefix(), Endpoint{Kind: e.Kind, Local: e.Remote, Remote: e.Local, LocalPort: e.RemotePort, RemotePort: e.LocalPort})
		mn, _ := New(Config{Role: RoleMobileNode}, mt)
		buf, off := withHeadroom(in)
		out, _ := mn.Output(buf, off)
		f.Add(append([]byte(nil), out...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		orig := append([]byte(nil), data...)
		got, v := tun.Input(data)
		if v.Action != ActionSend {
			if v.Action != ActionDrop || got != nil || v.Reason == ReasonOK {
				t.Fatalf("verdict %+v", v)
			}
			return
		}
		o, _, r := ParseOuter(orig)
		if r != ReasonOK {
			t.Fatal("forwarded what ParseOuter refuses")
		}
		n, ok := innerLen(got)
		if !ok || n != len(got) {
			t.Fatal("forwarded a malformed inner packet")
		}
		src, dst := addr16(got, ip6Src), addr16(got, ip6Dst)
		b := ref.Lookup(netip.AddrFrom16(src))
		if b == nil || badUnicast16(&src) || badUnicast16(&dst) {
			t.Fatalf("forwarded %v -> %v", netip.AddrFrom16(src), netip.AddrFrom16(dst))
		}
		e := b.Endpoint()
		if e.Kind != o.Kind || e.Remote != o.Src || e.Local != o.Dst || (e.Kind == KindUDP4 && (e.RemotePort != o.SrcPort || e.LocalPort != o.DstPort)) {
			t.Fatalf("forwarded from %+v for binding %+v", o, e)
		}
	})
}

// FuzzParseTunnelError: parse -> rebuild -> parse gives the same error,
// and relaying it never panics and, when it answers, answers with a valid
// ICMPv6 packet.
func FuzzParseTunnelError(f *testing.F) {
	tun6, _ := newHA(f, ep6(), func(c *Config) { c.ICMPRate = 1e12; c.ICMPBurst = 1 << 30 })
	tun4, _ := newHA(f, ep4(), func(c *Config) { c.ICMPRate = 1e12; c.ICMPBurst = 1 << 30 })
	inner := mkInner(cnAddr, hoa, 0, 59, make([]byte, 1400))
	for _, tun := range []*Tunnel{tun6, tun4} {
		buf, off := withHeadroom(inner)
		out, _ := tun.Output(buf, off)
		if tun == tun6 {
			f.Add(icmp6Msg(2, 0, 1300, out[:1232]), false)
			f.Add(icmp6Msg(1, 0, 0, out[:200]), false)
		} else {
			f.Add(icmp4Msg(3, 4, 1300, out[:576]), true)
			f.Add(icmp4Msg(11, 0, 0, out[:28]), true)
		}
	}
	f.Fuzz(func(t *testing.T, msg []byte, v4 bool) {
		te, r := ParseTunnelError(msg, v4)
		if r != ReasonOK {
			return
		}
		re := make([]byte, 8+len(te.Quote))
		re[0], re[1] = te.Type, te.Code
		copy(re[4:8], msg[4:8])
		copy(re[8:], te.Quote)
		if v4 {
			binary.BigEndian.PutUint16(re[2:], ^onesSum(re))
		}
		te2, r2 := ParseTunnelError(re, v4)
		if r2 != ReasonOK {
			t.Fatalf("reparse: %v", r2)
		}
		if diff := cmp.Diff(te, te2, cmpAddr); diff != "" {
			t.Fatalf("reparse differs:\n%s", diff)
		}
		tun := tun6
		if v4 {
			tun = tun4
		}
		dst := make([]byte, 1500)
		pkt, v := tun.RelayError(dst, &te)
		// Whatever the message, the path MTU stays between the kind's
		// floor and the installed value (RFC 8201 §4: never below the
		// minimum link MTU, never raised by a message).
		if b := tun.Table().Lookup(hoa); b.PathMTU() < b.kind.minPathMTU() || b.PathMTU() > int(b.base) {
			t.Fatalf("path MTU %d outside [%d, %d]", b.PathMTU(), b.kind.minPathMTU(), b.base)
		}
		if v.Action == ActionReply {
			to := netip.AddrFrom16([16]byte(pkt[24:40]))
			if mip6.PseudoHeaderChecksum(haHome, to, 58, pkt[40:]) != 0 || len(pkt) > MinIPv6MTU {
				t.Fatal("relayed ICMPv6 invalid")
			}
		}
	})
}
