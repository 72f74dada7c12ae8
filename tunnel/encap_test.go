package tunnel

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gomip6/gomip6/mip6"
	"github.com/google/go-cmp/cmp"
)

// The expected outer packets below were produced with Debian's
// python3-scapy 2.5 from the inner packet testInnerHex:
//
//	inner = IPv6(tc=0xba, fl=0x12345, nh=59, hlim=63, src="2001:db8:1::1",
//	             dst="2001:db8:2::100")/Raw(b"gomip6!!")
//
// and are checked byte for byte, and field by field below with values
// worked out by hand from the RFCs.
func TestEncapVectors(t *testing.T) {
	tests := []struct {
		name   string
		ep     Endpoint
		cfg    func(*Config)
		scapy  string // see each case
		fields []field
	}{
		{
			name: "ip6ip6",
			ep:   ep6(),
			// IPv6(tc=0xba, fl=0xde2e1, nh=41, hlim=64, src="2001:db8:ffff::1",
			//      dst="2001:db8:cafe::2")/inner
			// (0xde2e1 is flowLabel(inner), a hash: see TestFlowLabel)
			scapy: "6bade2e10030294020010db8ffff0000000000000000000120010db8cafe00000000000000000002" + testInnerHex,
			fields: []field{
				{"version 6, traffic class 0xba copied (DSCP 46 + ECT(0), RFC 6040 normal mode)", 0, []byte{0x6b, 0xa0}, []byte{0xff, 0xf0}},
				{"payload length 48 = inner", 4, []byte{0, 48}, nil},
				{"next header 41 (RFC 2473 §3.1)", 6, []byte{41}, nil},
				{"hop limit 64 (RFC 2473 §6.3)", 7, []byte{64}, nil},
				{"source = HA", 8, ha6.AsSlice(), nil},
				{"destination = CoA", 24, coa6.AsSlice(), nil},
			},
		},
		{
			name: "6in4",
			ep:   ep4(),
			// IP(tos=0xba, id=1, flags="DF", ttl=64, proto=41,
			//    src="192.0.2.1", dst="198.51.100.2")/inner
			scapy: "45ba00440001400040294d9fc0000201c6336402" + testInnerHex,
			fields: []field{
				{"version 4, IHL 5", 0, []byte{0x45}, nil},
				{"TOS 0xba copied", 1, []byte{0xba}, nil},
				{"total length 20+48", 2, []byte{0, 68}, nil},
				{"ID 1 (first of the counter)", 4, []byte{0, 1}, nil},
				{"DF set, offset 0 (RFC 4213 §3.2.2)", 6, []byte{0x40, 0}, nil},
				{"TTL 64", 8, []byte{64}, nil},
				{"protocol 41 (RFC 4213 §3.5)", 9, []byte{41}, nil},
				{"header checksum", 10, []byte{0x4d, 0x9f}, nil},
				{"source = HA", 12, []byte{192, 0, 2, 1}, nil},
				{"destination = CoA", 16, []byte{198, 51, 100, 2}, nil},
			},
		},
		{
			name: "udp4 zero checksum",
			ep:   epUDP(),
			// IP(tos=0xba, id=1, flags="DF", ttl=64, src="192.0.2.1",
			//    dst="198.51.100.2")/UDP(sport=4191, dport=40000, chksum=0)/inner
			scapy: "45ba004c0001400040114dafc0000201c6336402105f9c4000380000" + testInnerHex,
			fields: []field{
				{"total length 20+8+48", 2, []byte{0, 76}, nil},
				{"DF", 6, []byte{0x40, 0}, nil},
				{"protocol 17", 9, []byte{17}, nil},
				{"header checksum", 10, []byte{0x4d, 0xaf}, nil},
				{"source port 4191 (RFC 5555 §4.1)", 20, []byte{0x10, 0x5f}, nil},
				{"destination port = NAT mapping", 22, []byte{0x9c, 0x40}, nil},
				{"UDP length 8+48", 24, []byte{0, 56}, nil},
				{"UDP checksum 0 (RFC 768, IPv4)", 26, []byte{0, 0}, nil},
			},
		},
		{
			name: "udp4 with checksum",
			ep:   epUDP(),
			cfg:  func(c *Config) { c.UDPChecksum = true },
			// same, UDP(sport=4191, dport=40000) with scapy's checksum
			scapy: "45ba004c0001400040114dafc0000201c6336402105f9c400038d9d2" + testInnerHex,
			fields: []field{
				{"UDP checksum", 26, []byte{0xd9, 0xd2}, nil},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tun, _ := newHA(t, tt.ep, tt.cfg)
			buf, off := withHeadroom(unhex(t, testInnerHex))
			out, v := tun.Output(buf, off)
			if v != (Verdict{ActionSend, ReasonOK}) {
				t.Fatalf("verdict %+v", v)
			}
			want := unhex(t, tt.scapy)
			if !bytes.Equal(out, want) {
				t.Errorf("outer packet\n got %x\nwant %x", out, want)
			}
			for _, f := range tt.fields {
				got := append([]byte(nil), out[f.off:f.off+len(f.want)]...)
				if f.mask != nil {
					for i := range got {
						got[i] &= f.mask[i]
					}
				}
				if !bytes.Equal(got, f.want) {
					t.Errorf("%s: got %x want %x", f.name, got, f.want)
				}
			}
			if &out[len(out)-1] != &buf[len(buf)-1] || &out[0] != &buf[off-tt.ep.Kind.Overhead()] {
				t.Error("outer packet not built in place in the headroom")
			}
		})
	}
}

type field struct {
	name string
	off  int
	want []byte
	mask []byte
}

func TestFlowLabel(t *testing.T) {
	a := mkInner(cnAddr, hoa, 0, 6, []byte("x"))
	b := mkInner(cnAddr, hoa, 0, 6, []byte("y, other payload"))
	c := mkInner(other6, hoa, 0, 6, []byte("x"))
	if flowLabel(a) != flowLabel(b) {
		t.Error("same flow, different labels")
	}
	if flowLabel(a) == flowLabel(c) {
		t.Error("different flows, same label")
	}
	for _, p := range [][]byte{a, c} {
		if fl := flowLabel(p); fl > 0xfffff {
			t.Errorf("label %#x wider than 20 bits", fl)
		}
	}
}

// TestRoundTrip sends a packet through a home agent's tunnel and into a
// mobile node's, for each kind, and back the other way.
func TestRoundTrip(t *testing.T) {
	for _, ep := range []Endpoint{ep6(), ep4(), epUDP()} {
		t.Run(ep.Kind.String(), func(t *testing.T) {
			ha, _ := newHA(t, ep, nil)
			// The mobile node's view: its home address, tunnel to the HA.
			mnEP := Endpoint{Kind: ep.Kind, Local: ep.Remote, Remote: ep.Local, LocalPort: ep.RemotePort, RemotePort: ep.LocalPort}
			mtab := NewTable(0)
			if err := mtab.Set(netip.PrefixFrom(hoa, 128), mnEP); err != nil {
				t.Fatal(err)
			}
			mn, err := New(Config{Role: RoleMobileNode}, mtab)
			if err != nil {
				t.Fatal(err)
			}
			for _, dir := range []struct {
				name     string
				from, to *Tunnel
				inner    []byte
			}{
				{"HA to MN", ha, mn, mkInner(cnAddr, hoa, 0x02, 17, []byte("downstream payload"))},
				{"MN to HA", mn, ha, mkInner(hoa, cnAddr, 0x01, 6, []byte("upstream payload, reverse tunnelled"))},
			} {
				buf, off := withHeadroom(dir.inner)
				out, v := dir.from.Output(buf, off)
				if v.Action != ActionSend {
					t.Fatalf("%s: encap verdict %+v", dir.name, v)
				}
				got, v := dir.to.Input(out)
				if v.Action != ActionSend {
					t.Fatalf("%s: decap verdict %+v", dir.name, v)
				}
				if diff := cmp.Diff(dir.inner, got); diff != "" {
					t.Errorf("%s: decap(encap(p)) != p (-want +got):\n%s", dir.name, diff)
				}
			}
		})
	}
}

func TestEncapConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     func(*Config)
		innerTC uint8
		wantTOS uint8
		wantHop uint8
	}{
		{"defaults copy DSCP and ECN", nil, 0xb9, 0xb9, 64},
		{"CE copied in normal mode", nil, 0x03, 0x03, 64},
		{"compatibility mode clears ECN", func(c *Config) { c.ECN = ECNCompatibility }, 0xbb, 0xb8, 64},
		{"fixed DSCP keeps ECN", func(c *Config) { c.DSCP, c.DSCPValue = DSCPFixed, 10 }, 0xba, 10<<2 | 2, 64},
		{"fixed DSCP 0 and compatibility", func(c *Config) { c.DSCP, c.ECN = DSCPFixed, ECNCompatibility }, 0xff, 0, 64},
		{"hop limit", func(c *Config) { c.HopLimit = 7 }, 0, 0, 7},
	}
	for _, tt := range tests {
		for _, ep := range []Endpoint{ep6(), ep4()} {
			t.Run(tt.name+"/"+ep.Kind.String(), func(t *testing.T) {
				tun, _ := newHA(t, ep, tt.cfg)
				buf, off := withHeadroom(mkInner(cnAddr, hoa, tt.innerTC, 59, nil))
				out, v := tun.Output(buf, off)
				if v.Action != ActionSend {
					t.Fatalf("verdict %+v", v)
				}
				var tos, hop uint8
				if ep.Kind == KindIPv6 {
					tos, hop = out[0]<<4|out[1]>>4, out[7]
				} else {
					tos, hop = out[1], out[8]
				}
				if tos != tt.wantTOS || hop != tt.wantHop {
					t.Errorf("outer TOS %#x hop %d, want %#x %d", tos, hop, tt.wantTOS, tt.wantHop)
				}
				if got := out[len(out)-40:][0]<<4 | out[len(out)-40:][1]>>4; got != tt.innerTC {
					t.Errorf("inner traffic class changed to %#x", got)
				}
			})
		}
	}
}

// TestEncapMTU covers RFC 2473 §7.1 and RFC 4213 §3.2.2: too big and >
// 1280 gets a PTB with max(tunnel MTU, 1280); too big but <= 1280 goes out
// fragmentable (IPv4: DF clear).
func TestEncapMTU(t *testing.T) {
	tests := []struct {
		ep      Endpoint
		pmtu    int
		size    int // inner packet size
		action  Action
		ptbMTU  uint32
		wantDF  bool
		comment string
	}{
		{ep6(), 1500, 1460, ActionSend, 0, false, "exactly fits: 1500-40"},
		{ep6(), 1500, 1461, ActionReply, 1460, false, "one over"},
		{ep6(), 1400, 1400, ActionReply, 1360, false, ""},
		{ep6(), 1300, 1281, ActionReply, 1280, false, "tunnel MTU 1260 < 1280: report 1280"},
		{ep6(), 1300, 1280, ActionSendFragmentable, 0, false, "<= 1280 must pass, fragmented outside"},
		{ep6(), 1300, 1260, ActionSend, 0, false, "fits"},
		{ep4(), 1500, 1480, ActionSend, 0, true, "1500-20"},
		{ep4(), 1500, 1481, ActionReply, 1480, false, ""},
		{ep4(), 1000, 1281, ActionReply, 1280, false, "RFC 4213: MTU = 1280"},
		{ep4(), 1000, 1280, ActionSendFragmentable, 0, false, "RFC 4213: encapsulate, DF clear"},
		{ep4(), 1000, 980, ActionSend, 0, true, "fits: DF set"},
		{epUDP(), 1500, 1472, ActionSend, 0, true, "1500-28"},
		{epUDP(), 1500, 1473, ActionReply, 1472, false, ""},
		{epUDP(), 600, 1280, ActionSendFragmentable, 0, false, ""},
	}
	for _, tt := range tests {
		name := tt.ep.Kind.String() + "/" + tt.comment
		t.Run(name, func(t *testing.T) {
			tt.ep.PathMTU = tt.pmtu
			tun, _ := newHA(t, tt.ep, nil)
			in := mkInner(cnAddr, hoa, 0, 59, make([]byte, tt.size-40))
			buf, off := withHeadroom(in)
			out, v := tun.Output(buf, off)
			if v.Action != tt.action {
				t.Fatalf("pmtu %d size %d: verdict %+v, want %v", tt.pmtu, tt.size, v, tt.action)
			}
			switch tt.action {
			case ActionReply:
				if v.Reason != ReasonTooBig {
					t.Errorf("reason %v", v.Reason)
				}
				if out[40] != 2 || binary.BigEndian.Uint32(out[44:]) != tt.ptbMTU {
					t.Errorf("PTB type %d MTU %d, want 2 %d", out[40], binary.BigEndian.Uint32(out[44:]), tt.ptbMTU)
				}
			default:
				if tt.ep.Kind.outer4() {
					if df := out[6]&0x40 != 0; df != tt.wantDF {
						t.Errorf("DF %v, want %v", df, tt.wantDF)
					}
				}
				if len(out) != tt.size+tt.ep.Kind.Overhead() {
					t.Errorf("outer length %d", len(out))
				}
			}
		})
	}
}

func TestEncapDrops(t *testing.T) {
	tun, _ := newHA(t, ep6(), nil)
	good := mkInner(cnAddr, hoa, 0, 59, []byte("abc"))
	tests := []struct {
		name string
		buf  []byte
		off  int
		want Reason
	}{
		{"empty", make([]byte, 64), 64, ReasonMalformed},
		{"IPv4 inner", append(make([]byte, 64), 0x45, 0, 0, 20), 64, ReasonMalformed},
		{"payload length beyond data", func() []byte {
			b, _ := withHeadroom(good)
			return b[:len(b)-1]
		}(), 64, ReasonMalformed},
		{"no headroom", good, 0, ReasonHeadroom},
		{"offset out of range", good, len(good) + 1, ReasonHeadroom},
		{"negative offset", good, -1, ReasonHeadroom},
		{"no binding", func() []byte {
			b, _ := withHeadroom(mkInner(cnAddr, other6, 0, 59, nil))
			return b
		}(), 64, ReasonNoBinding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tun.Counters.Snapshot()
			out, v := tun.Output(tt.buf, tt.off)
			if out != nil || v != (Verdict{ActionDrop, tt.want}) {
				t.Fatalf("got %x %+v, want drop %v", out, v, tt.want)
			}
			after := tun.Counters.Snapshot()
			if after.Get(Out, tt.want).Packets != before.Get(Out, tt.want).Packets+1 {
				t.Errorf("counter %v not incremented", tt.want)
			}
		})
	}
}

func TestEncapTrimsTrailer(t *testing.T) {
	tun, _ := newHA(t, ep4(), nil)
	in := mkInner(cnAddr, hoa, 0, 59, []byte("abcd"))
	buf, off := withHeadroom(append(append([]byte(nil), in...), 0, 0, 0, 0))
	out, v := tun.Output(buf, off)
	if v.Action != ActionSend || len(out) != 20+len(in) || binary.BigEndian.Uint16(out[2:]) != uint16(20+len(in)) {
		t.Fatalf("verdict %+v len %d", v, len(out))
	}
}

func TestPrepare(t *testing.T) {
	e := epUDP()
	e.PathMTU = 1000
	tun, _ := newHA(t, e, func(c *Config) { c.HopLimit = 30 })
	b := tun.Table().Lookup(hoa)
	for _, tt := range []struct {
		size   int
		action Action
		df     bool
	}{
		{972, ActionSend, true},
		{1200, ActionSendFragmentable, false},
		{1300, ActionReply, false},
	} {
		in := mkInner(cnAddr, hoa, 0x42, 59, make([]byte, tt.size-40))
		buf, off := withHeadroom(in)
		pkt, p, v := tun.Prepare(buf, off, b)
		if v.Action != tt.action {
			t.Fatalf("size %d: %+v", tt.size, v)
		}
		if tt.action == ActionReply {
			if pkt[40] != 2 || binary.BigEndian.Uint32(pkt[44:]) != 1280 {
				t.Errorf("not a PTB(1280): %x", pkt[40:48])
			}
			continue
		}
		want := Prepared{Kind: KindUDP4, LocalPort: UDPPortDSMIP, RemotePort: natPort, TOS: 0x42, HopLimit: 30, DontFragment: tt.df}
		if diff := cmp.Diff(want, p); diff != "" {
			t.Errorf("size %d (-want +got):\n%s", tt.size, diff)
		}
		if !bytes.Equal(pkt, in) || &pkt[0] != &buf[off] {
			t.Error("payload is not the inner packet in place")
		}
	}
}

// TestKindOverheads checks the overheads against the header sizes of the
// RFCs: IPv6 40 (RFC 8200 §3), IPv4 20 (RFC 791), UDP 8 (RFC 768).
func TestKindOverheads(t *testing.T) {
	got := []int{KindNone.Overhead(), KindIPv6.Overhead(), Kind6in4.Overhead(), KindUDP4.Overhead(), Kind(9).Overhead()}
	if diff := cmp.Diff([]int{0, 40, 20, 28, 0}, got); diff != "" {
		t.Error(diff)
	}
	if UDPPortDSMIP != 4191 || mip6.ProtoIPv6 != 41 {
		t.Error("code points")
	}
}
