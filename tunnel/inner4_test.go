package tunnel

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gomip6/gomip6/mip6"
)

// The IPv4 home address of the tests (RFC 5555 §3.1.1) and a
// correspondent on IPv4.
var (
	v4hoa = netip.MustParseAddr("198.51.100.5")
	cn4   = netip.MustParseAddr("203.0.113.9")
)

// Scapy vectors:
//
//	inner = IP(tos=0xba, id=7, flags="DF", ttl=63, src="203.0.113.9",
//	           dst="198.51.100.5", proto=253)/Raw(b"gomip6!!")
//	IP(tos=0xba, id=1, flags="DF", ttl=64, src="192.0.2.1",
//	   dst="198.51.100.2")/UDP(sport=4191, dport=40000, chksum=0)/inner
const (
	inner4Hex = "45ba001c000740003ffdd3e1cb007109c6336405676f6d6970362121"
	outer4Hex = "45ba00380001400040114dc3c0000201c6336402105f9c400024000045ba001c000740003ffdd3e1cb007109c6336405676f6d6970362121"
)

// mkInner4 builds an IPv4 packet by hand, with a valid header checksum.
func mkInner4(src, dst netip.Addr, tos uint8, df bool, payload []byte) []byte {
	p := make([]byte, 20+len(payload))
	p[0], p[1] = 0x45, tos
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	if df {
		p[6] = 0x40
	}
	p[8], p[9] = 63, 253
	s, d := src.As4(), dst.As4()
	copy(p[12:], s[:])
	copy(p[16:], d[:])
	binary.BigEndian.PutUint16(p[10:], ^mip6.ChecksumFold(mip6.ChecksumAdd(0, p[:20])))
	copy(p[20:], payload)
	return p
}

func udpEP() Endpoint {
	return Endpoint{Kind: KindUDP4, Local: ha4, Remote: coa4, LocalPort: UDPPortDSMIP, RemotePort: natPort}
}

// TestInner4Encap: the home agent's side: an IPv4 packet to the IPv4 home
// address goes into the node's UDP tunnel as RFC 5555 §4.1 has it, byte
// for byte as scapy builds it.
func TestInner4Encap(t *testing.T) {
	tab := NewTable(0)
	if err := tab.SetIPv4(v4hoa, udpEP()); err != nil {
		t.Fatal(err)
	}
	tn, err := New(Config{}, tab)
	if err != nil {
		t.Fatal(err)
	}
	inner := unhex(t, inner4Hex)
	buf, off := withHeadroom(inner)
	out, v := tn.Output(buf, off)
	if v != (Verdict{ActionSend, ReasonOK}) {
		t.Fatalf("verdict %+v", v)
	}
	if want := unhex(t, outer4Hex); !bytes.Equal(out, want) {
		t.Fatalf("outer\n got %x\nwant %x", out, want)
	}
	// Prepare gives the kernel-built send the same.
	buf, off = withHeadroom(inner)
	pkt, p, v := tn.Prepare(buf, off, tab.Lookup(v4hoa))
	if v.Action != ActionSend || !bytes.Equal(pkt, inner) || p.TOS != 0xba || p.RemotePort != natPort || !p.DontFragment {
		t.Fatalf("Prepare: %+v %+v", p, v)
	}
	if got := tab.Lookup(v4hoa).Prefix(); got != netip.PrefixFrom(v4hoa, 32) {
		t.Errorf("Prefix %v", got)
	}
}

// TestInner4Decap: the mobile node's side decapsulates the scapy packet;
// the relay and binding rules apply to IPv4 as to IPv6.
func TestInner4Decap(t *testing.T) {
	tab := NewTable(0)
	// The mobile node: its IPv4 home address bound to the home agent.
	mnEP := Endpoint{Kind: KindUDP4, Local: coa4, Remote: ha4, LocalPort: natPort, RemotePort: UDPPortDSMIP}
	if err := tab.SetIPv4(v4hoa, mnEP); err != nil {
		t.Fatal(err)
	}
	tn, err := New(Config{Role: RoleMobileNode}, tab)
	if err != nil {
		t.Fatal(err)
	}
	from := Outer{Kind: KindUDP4, Src: ha4, Dst: coa4, SrcPort: UDPPortDSMIP, DstPort: natPort}
	outer := unhex(t, outer4Hex)
	o, payload, r := ParseOuter(outer)
	if r != ReasonOK || o != (Outer{Kind: KindUDP4, Src: ha4, Dst: coa4, SrcPort: UDPPortDSMIP, DstPort: natPort, TOS: 0xba}) {
		t.Fatalf("ParseOuter %+v %v", o, r)
	}
	if got, v := tn.Decap(payload, &o); v.Action != ActionSend || !bytes.Equal(got, unhex(t, inner4Hex)) {
		t.Fatalf("decap %x %+v", got, v)
	}
	cases := []struct {
		name  string
		inner []byte
		o     Outer
		want  Reason
	}{
		{"ok", mkInner4(cn4, v4hoa, 0, true, []byte("x")), from, ReasonOK},
		{"multicast destination", mkInner4(cn4, netip.MustParseAddr("224.0.0.1"), 0, true, nil), from, ReasonInnerDst},
		{"broadcast destination", mkInner4(cn4, netip.MustParseAddr("255.255.255.255"), 0, true, nil), from, ReasonInnerDst},
		{"loopback source", mkInner4(netip.MustParseAddr("127.0.0.1"), v4hoa, 0, true, nil), from, ReasonInnerSrc},
		{"link-local source", mkInner4(netip.MustParseAddr("169.254.0.1"), v4hoa, 0, true, nil), from, ReasonInnerSrc},
		{"not our address", mkInner4(cn4, other4, 0, true, nil), from, ReasonNoBinding},
		{"from elsewhere", mkInner4(cn4, v4hoa, 0, true, nil), Outer{Kind: KindUDP4, Src: other4, SrcPort: UDPPortDSMIP}, ReasonOuterSrc},
		{"other port", mkInner4(cn4, v4hoa, 0, true, nil), Outer{Kind: KindUDP4, Src: ha4, SrcPort: 1}, ReasonPort},
		{"6in4", mkInner4(cn4, v4hoa, 0, true, nil), Outer{Kind: Kind6in4, Src: ha4}, ReasonKind},
		{"truncated", mkInner4(cn4, v4hoa, 0, true, nil)[:19], from, ReasonMalformed},
		{"total length past the end", mkInner4(cn4, v4hoa, 0, true, []byte("xy"))[:21], from, ReasonMalformed},
	}
	for _, tc := range cases {
		_, v := tn.Decap(tc.inner, &tc.o)
		if v.Reason != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, v.Reason, tc.want)
		}
	}
	// ECN (RFC 6040 §4.2): outer CE over inner ECT(0) gives inner CE,
	// and the header checksum still verifies.
	ce := from
	ce.TOS = 3
	got, v := tn.Decap(mkInner4(cn4, v4hoa, 0xb8|2, true, nil), &ce)
	if v.Action != ActionSend || got[1] != 0xb8|3 || mip6.ChecksumFold(mip6.ChecksumAdd(0, got[:20])) != 0 {
		t.Fatalf("ECN: tos %#x checksum ok %v %+v", got[1], mip6.ChecksumFold(mip6.ChecksumAdd(0, got[:20])) == 0, v)
	}
	// Outer CE over Not-ECT: dropped.
	if _, v := tn.Decap(mkInner4(cn4, v4hoa, 0, true, nil), &ce); v.Reason != ReasonECN {
		t.Fatalf("CE over Not-ECT: %v", v.Reason)
	}
}

// TestInner4Rules: what the IPv4 bindings refuse and the MTU rules.
func TestInner4Rules(t *testing.T) {
	tab := NewTable(0)
	if err := tab.SetIPv4(v4hoa, Endpoint{Kind: Kind6in4, Local: ha4, Remote: coa4}); err == nil {
		t.Error("SetIPv4 with 6in4 accepted")
	}
	if err := tab.SetIPv4(hoa, udpEP()); err == nil {
		t.Error("SetIPv4 with an IPv6 address accepted")
	}
	ep := udpEP()
	ep.PathMTU = 1300 // tunnel MTU 1272
	if err := tab.SetIPv4(v4hoa, ep); err != nil {
		t.Fatal(err)
	}
	tn, err := New(Config{}, tab)
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1280)
	// DF set and too big: dropped (no ICMPv4 Fragmentation Needed).
	buf, off := withHeadroom(mkInner4(cn4, v4hoa, 0, true, big))
	if _, v := tn.Output(buf, off); v.Reason != ReasonTooBig || v.Action != ActionDrop {
		t.Errorf("DF, too big: %+v", v)
	}
	// DF clear: sent with the outer DF clear, to be fragmented.
	buf, off = withHeadroom(mkInner4(cn4, v4hoa, 0, false, big))
	out, v := tn.Output(buf, off)
	if v.Action != ActionSendFragmentable || out[6]&0x40 != 0 {
		t.Errorf("no DF, too big: %+v, outer flags %#x", v, out[6])
	}
	// An IPv6 packet to the IPv4-mapped form is not the IPv4 home
	// address's.
	mapped := netip.AddrFrom16(v4hoa.As16())
	buf, off = withHeadroom(mkInner(cnAddr, mapped, 0, 59, nil))
	if _, v := tn.Output(buf, off); v.Reason != ReasonNoBinding {
		t.Errorf("IPv6 to %v: %+v", mapped, v)
	}
	if !tab.DeleteIPv4(v4hoa) || tab.DeleteIPv4(v4hoa) || tab.Len() != 0 {
		t.Error("DeleteIPv4")
	}
	buf, off = withHeadroom(mkInner4(cn4, v4hoa, 0, true, nil))
	if _, v := tn.Output(buf, off); v.Reason != ReasonNoBinding {
		t.Errorf("after delete: %+v", v)
	}
}

// FuzzInner4: any octets given to the home agent's Output as an IPv4
// packet either fail with a reason or give an outer packet that ParseOuter
// and the mobile node's Decap turn back into exactly the inner packet
// (encapsulate -> parse -> decapsulate is the identity, RFC 6040 normal
// mode leaving ECN as it was); nothing panics, whatever the input.
func FuzzInner4(f *testing.F) {
	f.Add(unhex(f, inner4Hex))
	f.Add(mkInner4(cn4, v4hoa, 3, false, []byte("ce")))
	f.Add(mkInner4(cn4, v4hoa, 0, true, make([]byte, 1400)))
	haTab, mnTab := NewTable(0), NewTable(0)
	if err := haTab.SetIPv4(v4hoa, udpEP()); err != nil {
		f.Fatal(err)
	}
	if err := mnTab.SetIPv4(v4hoa, Endpoint{Kind: KindUDP4, Local: coa4, Remote: ha4, LocalPort: natPort, RemotePort: UDPPortDSMIP}); err != nil {
		f.Fatal(err)
	}
	ha, _ := New(Config{}, haTab)
	mn, _ := New(Config{Role: RoleMobileNode}, mnTab)
	f.Fuzz(func(t *testing.T, p []byte) {
		if len(p) > 0 {
			p[0] = 4<<4 | p[0]&0x0f // always IPv4
		}
		buf, off := withHeadroom(p)
		out, v := ha.Output(buf, off)
		if v.Action != ActionSend && v.Action != ActionSendFragmentable {
			if v.Action != ActionDrop || v.Reason == ReasonOK {
				t.Fatalf("verdict %+v", v)
			}
			return
		}
		n, _ := inner4Len(p)
		want := append([]byte(nil), p[:n]...)
		o, payload, r := ParseOuter(out)
		if r != ReasonOK {
			t.Fatalf("ParseOuter of our own packet: %v", r)
		}
		got, v := mn.Decap(payload, &o)
		switch {
		case v.Action == ActionSend:
			if !bytes.Equal(got, want) {
				t.Fatalf("round trip\n got %x\nwant %x", got, want)
			}
		case v.Reason != ReasonInnerSrc && v.Reason != ReasonInnerDst:
			// The home agent does not apply the relay rules on the
			// way out (the kernel routed the packet to it); only
			// those may refuse it on the way in.
			t.Fatalf("decap %+v", v)
		}
	})
}
