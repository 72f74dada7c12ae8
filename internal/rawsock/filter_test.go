package rawsock

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"testing"

	"github.com/gomip6/gomip6/mip6"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/bpf"
)

// Frames generated with scapy (python3-scapy 2.x, scapy.layers.inet6 and
// scapy.layers.mobileip), an encoder independent of ours, between
// 2001:db8:1::a (mobile node, home address 2001:db8:2::a) and 2001:db8:1::b.
// Each starts at the IP header.
var frames = map[string]string{
	// IPv6 / DestOpts(PadN 2, HAO) / MH BU. RFC 6275 §6.3: option type
	// 201 at 8n+6; the Destination Options header is 870201020000c910.
	"bu_hao": "6000000000283c4020010db800010000000000000000000a20010db800010000000000000000000b870201020000c91020010db800020000000000000000000a3b010500f2c900077000000a01020000",
	// IPv6 / RH type 2 (§6.4: len 2, type 2, segments left 1) / MH BA.
	"ba_rh2": "6000000000282b4020010db800010000000000000000000b20010db800010000000000000000000a870202010000000020010db800020000000000000000000a3b010600614a00800007000a01020000",
	// IPv6 / MH BRR, no extension header.
	"brr": "600000000008874020010db800010000000000000000000b20010db800010000000000000000000a3b00000068e70000",
	// IPv6 / HbH / DestOpts(HAO) / MH BU.
	"hbh_dst_mh": "600000000030004020010db800010000000000000000000a20010db800010000000000000000000b3c00010400000000870201020000c91020010db800020000000000000000000a3b01050092d60001d000000301020000",
	// IPv6 / RH2 / TCP (route-optimised data to a mobile node).
	"rh2_tcp": "60000000002c2b4020010db800010000000000000000000b20010db800010000000000000000000a060202010000000020010db800020000000000000000000a0014005000000000000000005002200033f50000",
	// IPv6 / DestOpts(HAO) / UDP (route-optimised data from a mobile node).
	"hao_udp": "6000000000203c4020010db800010000000000000000000a20010db800010000000000000000000b110201020000c91020010db800020000000000000000000a000100020008a451",
	// IPv6 / Fragment (offset 0, M) / MH BU.
	"frag_mh": "6000000000182c4020010db800010000000000000000000a20010db800010000000000000000000b87000001000000053b01050092d70001d000000301020000",
	// IPv6 / Fragment (offset 3) naming MH: a later fragment, no MH in it.
	"frag2_mh": "6000000000182c4020010db800010000000000000000000a20010db800010000000000000000000b87000018000000053b0105003b0105003b0105003b010500",
	// Plain TCP.
	"tcp": "600000000014064020010db800010000000000000000000a20010db800010000000000000000000b04d200500000000000000000500220002f380000",
	// ICMPv6 Neighbor Solicitation.
	"ns": "6000000000203aff20010db800010000000000000000000aff0200000000000000000001ff00000b87001c010000000020010db800010000000000000000000b010102000000000a",
	// IPv6 / DestOpts(PadN only) / UDP: a Destination Options header
	// without a Home Address option.
	"dstopt_nohao": "6000000000103c4020010db800010000000000000000000a20010db800010000000000000000000b1100010400000000003500350008a3eb",
	// IPv6 / RH type 0 (segments left 0) / MH BRR.
	"rh0_mh": "6000000000202b4020010db800010000000000000000000a20010db800010000000000000000000b870200000000000020010db800020000000000000000000a3b00000068e70000",

	// IPv4 / UDP 5000 -> 4191 / IPv6 (RFC 5555 IPv6 in UDP).
	"v4udp": "45000044000100004011f6a4c0000201c00002021388105f003060d96000000000003b4020010db800010000000000000000000a20010db800010000000000000000000b",
	// IPv4 / UDP 4191 -> 5000.
	"v4udp_src": "4500001c000100004011f6ccc0000201c0000202105f1388000857f3",
	// IPv4 / UDP 53 -> 53.
	"v4udp_other": "4500001c000100004011f6ccc0000201c00002020035003500087b70",
	// IPv4 with 4 NOP options (IHL 6) / UDP 5000 -> 4191.
	"v4udp_opts": "46000020000100004011f3c6c0000201c0000202010101011388105f000857f3",
	// IPv4 protocol 41 / IPv6.
	"v4_41": "4500003c000100004029f694c0000201c00002026000000000003b4020010db800010000000000000000000a20010db800010000000000000000000b",
	// IPv4 / TCP.
	"v4_tcp": "45000028000100004006f6cbc0000201c0000202001400500000000000000000500220000b7b0000",
}

func frame(t *testing.T, name string) []byte {
	t.Helper()
	s, ok := frames[name]
	if !ok {
		t.Fatalf("no frame %q", name)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("frame %q: %v", name, err)
	}
	return b
}

// ethernet prepends an Ethernet II header with type etype.
func ethernet(pkt []byte, etype uint16) []byte {
	h := []byte{2, 0, 0, 0, 0, 0xb, 2, 0, 0, 0, 0, 0xa, byte(etype >> 8), byte(etype)}
	return append(h, pkt...)
}

// withLink returns pkt framed for link.
func withLink(pkt []byte, link Link) []byte {
	if link == LinkIP {
		return pkt
	}
	et := uint16(0x86dd)
	if pkt[0]>>4 == 4 {
		et = 0x0800
	}
	return ethernet(pkt, et)
}

// vm returns a function that checks a filter function's result and loads
// it into the x/net/bpf VM.
func vm(t *testing.T) func([]bpf.Instruction, error) *bpf.VM {
	t.Helper()
	return func(ins []bpf.Instruction, err error) *bpf.VM { return loadVM(t, ins, err) }
}

func loadVM(t *testing.T, ins []bpf.Instruction, err error) *bpf.VM {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	// The kernel checks the same: it must assemble.
	if _, err := bpf.Assemble(ins); err != nil {
		t.Fatalf("assemble: %v", err)
	}
	v, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatalf("NewVM: %v", err)
	}
	return v
}

// The VM variants of the filters: the x/net/bpf VM cannot run the packet
// type check (TestPacketTypeCheck covers it, and TestRootPacketType in the
// kernel), and an empty dst means any destination here.
func vmFilter(link Link, m Match, dst ...netip.Addr) ([]bpf.Instruction, error) {
	return IPv6Filter(IPv6Spec{Link: link, Match: m, Dst: dst, AnyDestination: len(dst) == 0, AnyPacketType: true})
}

func mhVM(l Link, d ...netip.Addr) ([]bpf.Instruction, error)  { return vmFilter(l, MatchMH, d...) }
func haoVM(l Link, d ...netip.Addr) ([]bpf.Instruction, error) { return vmFilter(l, MatchHAO, d...) }
func rh2VM(l Link, d ...netip.Addr) ([]bpf.Instruction, error) { return vmFilter(l, MatchRH2, d...) }
func allVM(l Link, d ...netip.Addr) ([]bpf.Instruction, error) { return vmFilter(l, MatchAll, d...) }

func run(t *testing.T, v *bpf.VM, b []byte) bool {
	t.Helper()
	n, err := v.Run(b)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return n != 0
}

var (
	addrA = netip.MustParseAddr("2001:db8:1::a")
	addrB = netip.MustParseAddr("2001:db8:1::b")
	hoaA  = netip.MustParseAddr("2001:db8:2::a")
)

func TestIPv6Filters(t *testing.T) {
	type want struct{ mh, hao, rh2, all, toB bool }
	tests := []struct {
		frame string
		want  want
	}{
		{"bu_hao", want{mh: true, hao: true, all: true, toB: true}},
		{"ba_rh2", want{mh: true, rh2: true, all: true}},
		{"brr", want{mh: true, all: true}},
		{"hbh_dst_mh", want{mh: true, hao: true, all: true, toB: true}},
		{"rh2_tcp", want{rh2: true, all: true}},
		{"hao_udp", want{hao: true, all: true, toB: true}},
		{"frag_mh", want{mh: true, all: true, toB: true}},
		{"frag2_mh", want{}},
		{"tcp", want{}},
		{"ns", want{}},
		{"dstopt_nohao", want{}},
		{"rh0_mh", want{mh: true, all: true, toB: true}},
		{"v4udp", want{}},
		{"v4_41", want{}},
	}
	for _, link := range []Link{LinkIP, LinkEthernet} {
		mh := vm(t)(mhVM(link))
		hao := vm(t)(haoVM(link))
		rh2 := vm(t)(rh2VM(link))
		all := vm(t)(allVM(link))
		toB := vm(t)(allVM(link, netip.MustParseAddr("2001:db8::99"), addrB))
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%d/%s", link, tt.frame), func(t *testing.T) {
				b := withLink(frame(t, tt.frame), link)
				got := want{
					mh:  run(t, mh, b),
					hao: run(t, hao, b),
					rh2: run(t, rh2, b),
					all: run(t, all, b),
					toB: run(t, toB, b),
				}
				if got != tt.want {
					t.Errorf("got %+v, want %+v", got, tt.want)
				}
			})
		}
	}
}

// A cut frame is never accepted when the whole one is not (a filter only
// loses information), and the cuts that remove what a filter looks at are
// rejected.
func TestIPv6FilterTruncated(t *testing.T) {
	all := vm(t)(allVM(LinkIP))
	for name := range frames {
		b := frame(t, name)
		full := run(t, all, b)
		for n := range len(b) {
			if run(t, all, b[:n]) && !full {
				t.Errorf("%s cut to %d accepted, whole frame rejected", name, n)
			}
		}
	}
	tests := []struct {
		name  string
		frame string
		n     int
		f     func(Link, ...netip.Addr) ([]bpf.Instruction, error)
	}{
		// The MH of brr starts at 40: 7 of its 8 octets.
		{"MH 7 octets", "brr", 47, mhVM},
		// Up to the Option Type of the HAO (offset 40+6) excluded.
		{"HAO type missing", "bu_hao", 46, haoVM},
		// Routing Type at 40+2 excluded.
		{"RH type missing", "ba_rh2", 42, rh2VM},
		{"IPv6 header only", "bu_hao", 40, allVM},
		{"empty", "bu_hao", 0, allVM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := vm(t)(tt.f(LinkIP))
			b := frame(t, tt.frame)
			if !run(t, v, b) {
				t.Fatalf("whole frame rejected")
			}
			if run(t, v, b[:tt.n]) {
				t.Errorf("frame cut to %d accepted", tt.n)
			}
		})
	}
}

// chain builds IPv6 / n Destination Options headers (PadN only) / MH BRR
// with mip6's encoders.
func chain(n int) []byte {
	var ext []byte
	for range n {
		ext = append(ext, mip6.ProtoDestOpts, 0, 1, 4, 0, 0, 0, 0)
	}
	for i := 0; i+8 <= len(ext); i += 8 {
		if i+8 == len(ext) {
			ext[i] = mip6.ProtoMobility
		}
	}
	mh, err := mip6.MarshalMessage(&mip6.BindingRefreshRequest{})
	if err != nil {
		panic(err)
	}
	first := uint8(mip6.ProtoMobility)
	if n > 0 {
		first = mip6.ProtoDestOpts
	}
	b := mip6.AppendIPv6Header(nil, uint16(len(ext)+len(mh)), first, 64, addrA, addrB)
	return append(append(b, ext...), mh...)
}

func TestIPv6FilterChainLength(t *testing.T) {
	v := vm(t)(mhVM(LinkIP))
	for n := 0; n <= MaxFilterHeaders+1; n++ {
		b := chain(n)
		if _, err := mip6.WalkIPv6(b); err != nil {
			t.Fatalf("chain(%d) is not a valid packet: %v", n, err)
		}
		// MaxFilterHeaders extension headers are walked; the MH after
		// them is step MaxFilterHeaders+1, which no longer exists.
		want := n < MaxFilterHeaders
		if got := run(t, v, b); got != want {
			t.Errorf("%d extension headers: accepted %v, want %v", n, got, want)
		}
	}
}

// The documented miss: a Home Address option that is not the first option
// of its header (here at offset 14 behind an 8-octet PadN run and a PadN
// of 4). The kernel then reports it with a Parameter Problem.
func TestHomeAddressFilterLaterOption(t *testing.T) {
	a := hoaA.As16()
	ext := []byte{mip6.ProtoNoNext, 3, 1, 6, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, mip6.OptHomeAddress, 16}
	ext = append(ext, a[:]...)
	b := mip6.AppendIPv6Header(nil, uint16(len(ext)), mip6.ProtoDestOpts, 64, addrA, addrB)
	b = append(b, ext...)
	l, err := mip6.WalkIPv6(b)
	if err != nil || l.HomeAddress != hoaA {
		t.Fatalf("test packet: %v %v", l.HomeAddress, err)
	}
	if run(t, vm(t)(haoVM(LinkIP)), b) {
		t.Errorf("HAO at offset 14 accepted; the doc says it is not")
	}
}

// Fragment Offset 1 (octets 0x0008) is a later fragment: the lowest bit
// of the 13-bit field must count.
func TestIPv6FilterFragmentOffsetOne(t *testing.T) {
	b := frame(t, "frag_mh")
	b[42], b[43] = 0, 0x08
	if run(t, vm(t)(mhVM(LinkIP)), b) {
		t.Errorf("fragment with offset 1 accepted")
	}
}

func TestIPv6FilterEthernet(t *testing.T) {
	v := vm(t)(allVM(LinkEthernet))
	bu := frame(t, "bu_hao")
	if !run(t, v, ethernet(bu, 0x86dd)) {
		t.Errorf("BU in Ethernet rejected")
	}
	// Same bytes under another EtherType, and 802.1Q-tagged.
	if run(t, v, ethernet(bu, 0x0800)) {
		t.Errorf("EtherType 0x0800 accepted")
	}
	tagged := append([]byte{2, 0, 0, 0, 0, 0xb, 2, 0, 0, 0, 0, 0xa, 0x81, 0, 0, 5, 0x86, 0xdd}, bu...)
	if run(t, v, tagged) {
		t.Errorf("VLAN-tagged frame accepted")
	}
	// An IP-link filter must not take an Ethernet frame for IPv6.
	if run(t, vm(t)(allVM(LinkIP)), ethernet(bu, 0x86dd)) {
		t.Errorf("LinkIP filter accepted an Ethernet frame")
	}
}

// Many destinations make a program longer than a conditional jump reaches;
// the assembler routes the far jumps through unconditional ones.
func TestIPv6FilterManyDestinations(t *testing.T) {
	var dst []netip.Addr
	for i := range 200 {
		dst = append(dst, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 15: byte(i)}))
	}
	bu := frame(t, "bu_hao") // to addrB
	v := vm(t)(allVM(LinkEthernet, dst...))
	if run(t, v, ethernet(bu, 0x86dd)) {
		t.Errorf("BU to an address not in the list accepted")
	}
	v = vm(t)(allVM(LinkEthernet, append(dst, addrB)...))
	if !run(t, v, ethernet(bu, 0x86dd)) {
		t.Errorf("BU to the last address of the list rejected")
	}
	// Differing only in the last word.
	v = vm(t)(allVM(LinkIP, netip.MustParseAddr("2001:db8:1::c")))
	if run(t, v, bu) {
		t.Errorf("BU to 2001:db8:1::b accepted by a filter for ::c")
	}
}

func TestIPv6FilterErrors(t *testing.T) {
	for _, s := range []IPv6Spec{
		{Match: 0},
		{Match: 0x80},
		{Link: 7, Match: MatchMH},
		{Match: MatchMH, Dst: []netip.Addr{netip.MustParseAddr("192.0.2.1")}},
		{Match: MatchMH, Dst: []netip.Addr{netip.MustParseAddr("::ffff:192.0.2.1")}},
		{Match: MatchMH, Dst: []netip.Addr{{}}},
	} {
		if _, err := IPv6Filter(s); err == nil {
			t.Errorf("IPv6Filter(%+v) succeeded", s)
		}
	}
	if _, err := IPv4UDPPortFilter(LinkIP, 0); err == nil {
		t.Errorf("port 0 accepted")
	}
	if _, err := Assemble(nil, fmt.Errorf("x")); err == nil {
		t.Errorf("Assemble dropped the error")
	}
}

func TestSnaplen(t *testing.T) {
	bu := frame(t, "bu_hao")
	for _, tt := range []struct{ snap, want uint32 }{{0, DefaultSnaplen}, {96, 96}} {
		v := vm(t)(IPv6Filter(IPv6Spec{Match: MatchAll, Snaplen: tt.snap, AnyDestination: true, AnyPacketType: true}))
		n, err := v.Run(bu)
		if err != nil || uint32(n) != tt.want {
			t.Errorf("snaplen %d: Run = %d, %v; want %d", tt.snap, n, err, tt.want)
		}
	}
}

func TestIPv4Filters(t *testing.T) {
	type want struct{ udp, p41 bool }
	tests := []struct {
		frame string
		want  want
	}{
		{"v4udp", want{udp: true}},
		{"v4udp_src", want{udp: true}},
		{"v4udp_opts", want{udp: true}},
		{"v4udp_other", want{}},
		{"v4_41", want{p41: true}},
		{"v4_tcp", want{}},
		{"bu_hao", want{}},
		{"tcp", want{}},
	}
	for _, link := range []Link{LinkIP, LinkEthernet} {
		udp := vm(t)(ipv4UDPPortFilter(link, mip6.UDPPortDSMIP, false))
		p41 := vm(t)(ipv4ProtocolFilter(link, mip6.ProtoIPv6, false))
		for _, tt := range tests {
			b := withLink(frame(t, tt.frame), link)
			got := want{udp: run(t, udp, b), p41: run(t, p41, b)}
			if got != tt.want {
				t.Errorf("link %d %s: got %+v, want %+v", link, tt.frame, got, tt.want)
			}
		}
	}
	// A later fragment of a UDP datagram carries no UDP header, even if
	// its octets read 4191 where the port would be.
	b := frame(t, "v4udp")
	b[6], b[7] = 0, 3
	if run(t, vm(t)(ipv4UDPPortFilter(LinkIP, mip6.UDPPortDSMIP, false)), b) {
		t.Errorf("non-first fragment accepted")
	}
	// Cut inside the UDP header before the destination port.
	if run(t, vm(t)(ipv4UDPPortFilter(LinkIP, mip6.UDPPortDSMIP, false)), frame(t, "v4udp")[:23]) {
		t.Errorf("truncated datagram accepted")
	}
}

// TestFiltersNeedDestination: a daemon's filter without its own addresses
// is an error, not a filter that matches any destination.
func TestFiltersNeedDestination(t *testing.T) {
	for name, f := range map[string]func(Link, ...netip.Addr) ([]bpf.Instruction, error){
		"MobilityFilter": MobilityFilter, "HomeAddressFilter": HomeAddressFilter,
		"RoutingHeader2Filter": RoutingHeader2Filter, "MIPv6Filter": MIPv6Filter,
	} {
		if _, err := f(LinkIP); err == nil {
			t.Errorf("%s without destination succeeded", name)
		}
		if _, err := f(LinkIP, addrB); err != nil {
			t.Errorf("%s(%v): %v", name, addrB, err)
		}
	}
	if _, err := IPv6Filter(IPv6Spec{Match: MatchMH}); err == nil {
		t.Error("IPv6Spec without Dst nor AnyDestination succeeded")
	}
	if _, err := IPv6Filter(IPv6Spec{Match: MatchMH, AnyDestination: true}); err != nil {
		t.Errorf("AnyDestination: %v", err)
	}
}

// TestPacketTypeCheck: every filter a daemon gets starts with the packet
// type check and is otherwise the program the VM tests run. The check is
// compared with linux/filter.h and linux/if_packet.h, not with x/net/bpf:
// ld [SKF_AD_OFF + SKF_AD_PKTTYPE] is BPF_LD|BPF_W|BPF_ABS (0x20) with k =
// -0x1000 + 4; PACKET_HOST is 0, PACKET_OUTGOING 4; anything else jumps to
// the program's final "ret #0".
func TestPacketTypeCheck(t *testing.T) {
	type pair struct {
		strict, vm func() ([]bpf.Instruction, error)
	}
	pairs := map[string]pair{}
	for _, link := range []Link{LinkIP, LinkEthernet} {
		for name, f := range map[string]func(Link, ...netip.Addr) ([]bpf.Instruction, error){
			"MH": MobilityFilter, "HAO": HomeAddressFilter, "RH2": RoutingHeader2Filter, "all": MIPv6Filter,
		} {
			m := map[string]Match{"MH": MatchMH, "HAO": MatchHAO, "RH2": MatchRH2, "all": MatchAll}[name]
			pairs[fmt.Sprintf("%s/%d", name, link)] = pair{
				func() ([]bpf.Instruction, error) { return f(link, addrA, addrB) },
				func() ([]bpf.Instruction, error) { return vmFilter(link, m, addrA, addrB) },
			}
		}
		pairs[fmt.Sprintf("UDP/%d", link)] = pair{
			func() ([]bpf.Instruction, error) { return IPv4UDPPortFilter(link, mip6.UDPPortDSMIP) },
			func() ([]bpf.Instruction, error) { return ipv4UDPPortFilter(link, mip6.UDPPortDSMIP, false) },
		}
		pairs[fmt.Sprintf("41/%d", link)] = pair{
			func() ([]bpf.Instruction, error) { return IPv4ProtocolFilter(link, mip6.ProtoIPv6) },
			func() ([]bpf.Instruction, error) { return ipv4ProtocolFilter(link, mip6.ProtoIPv6, false) },
		}
	}
	for name, p := range pairs {
		t.Run(name, func(t *testing.T) {
			strict, err := p.strict()
			if err != nil {
				t.Fatal(err)
			}
			base, err := p.vm()
			if err != nil {
				t.Fatal(err)
			}
			if len(strict) != len(base)+4 {
				t.Fatalf("%d instructions, want %d + 4", len(strict), len(base))
			}
			if diff := cmp.Diff(base, strict[4:]); diff != "" {
				t.Errorf("after the check (-vm +strict):\n%s", diff)
			}
			raw, err := bpf.Assemble(strict)
			if err != nil {
				t.Fatal(err)
			}
			last := len(raw) - 1
			if raw[last] != (bpf.RawInstruction{Op: 0x06, K: 0}) {
				t.Fatalf("last instruction %+v, want ret #0", raw[last])
			}
			want := []bpf.RawInstruction{
				{Op: 0x20, K: 0xfffff004},           // ld [SKF_AD_OFF + SKF_AD_PKTTYPE]
				{Op: 0x15, Jt: 2, Jf: 0, K: 0},      // jeq #PACKET_HOST, ok
				{Op: 0x15, Jt: 1, Jf: 0, K: 4},      // jeq #PACKET_OUTGOING, ok
				{Op: 0x05, K: uint32(last - 3 - 1)}, // ja reject
			}
			if diff := cmp.Diff(want, raw[:4]); diff != "" {
				t.Errorf("check (-want +got):\n%s", diff)
			}
			// What the VM tests run is the rest: the VM refuses the load.
			if _, err := bpf.NewVM(strict); err == nil {
				t.Error("x/net/bpf VM accepted the pkttype load; the VM tests could run it")
			}
		})
	}
}
