//go:build linux

package ebpf

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/internal/netlab"
	"github.com/gomip6/gomip6/tunnel"
)

var (
	hoa   = netip.MustParseAddr("2001:db8:3::100")
	hoa4  = netip.MustParseAddr("2001:db8:3::104") // bound over 6in4
	mnp   = netip.MustParsePrefix("2001:db8:4::/48")
	other = netip.MustParseAddr("2001:db8:3::666") // no binding
	cn    = netip.MustParseAddr("2001:db8:2::2")
	mn6   = netip.MustParseAddr("2001:db8:1::2")
	ha6   = netip.MustParseAddr("2001:db8:1::1")
	mn4   = netip.MustParseAddr("192.0.2.2")
	ha4   = netip.MustParseAddr("192.0.2.1")
	bad6  = netip.MustParseAddr("2001:db8:1::3")
	bad4  = netip.MustParseAddr("192.0.2.3")
)

// bindingOf returns the binding a table makes of p and e, for Update.
func bindingOf(t *testing.T, p netip.Prefix, e tunnel.Endpoint) *tunnel.Binding {
	t.Helper()
	tab := tunnel.NewTable(1)
	if err := tab.Set(p, e); err != nil {
		t.Fatal(err)
	}
	return tab.Lookup(p.Addr())
}

// haBindings are the home agent's bindings of the program tests: a home
// address and a mobile network prefix over IPv6 in IPv6, another home
// address over 6in4.
var haBindings = map[netip.Prefix]tunnel.Endpoint{
	netip.PrefixFrom(hoa, 128):  {Kind: tunnel.KindIPv6, Local: ha6, Remote: mn6},
	mnp:                         {Kind: tunnel.KindIPv6, Local: ha6, Remote: mn6},
	netip.PrefixFrom(hoa4, 128): {Kind: tunnel.Kind6in4, Local: ha4, Remote: mn4},
}

// TestTemplate checks the outer header templates against the header
// layouts of RFC 8200 §3 and RFC 791 §3.1, field by field.
func TestTemplate(t *testing.T) {
	a := &Accelerator{cfg: Config{Tunnel: tunnel.Config{HopLimit: 33}}}
	v, err := a.template(tunnel.Endpoint{Kind: tunnel.KindIPv6, Local: ha6, Remote: mn6})
	if err != nil {
		t.Fatal(err)
	}
	want := [valueSize]byte{
		0x60, 0, 0, 0, // version 6; class and label per packet
		0, 0, 41, 33, // payload length per packet, next header 41, hop limit
		0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // source: our end
		0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, // destination: the far end
	}
	binary.NativeEndian.PutUint32(want[valKind:], uint32(tunnel.KindIPv6))
	if d := cmp.Diff(want, v); d != "" {
		t.Errorf("IPv6 template (-want +got):\n%s", d)
	}
	v, err = a.template(tunnel.Endpoint{Kind: tunnel.Kind6in4, Local: ha4, Remote: mn4})
	if err != nil {
		t.Fatal(err)
	}
	want = [valueSize]byte{
		0x45, 0, 0, 0, // version 4, IHL 5; TOS and total length per packet
		0, 0, 0x40, 0, // identification 0, DF, offset 0
		33, 41, 0, 0, // TTL, protocol 41, checksum left to the kernel
		192, 0, 2, 1, // source
		192, 0, 2, 2, // destination
	}
	binary.NativeEndian.PutUint32(want[valKind:], uint32(tunnel.Kind6in4))
	if d := cmp.Diff(want, v); d != "" {
		t.Errorf("6in4 template (-want +got):\n%s", d)
	}
	if _, err := a.template(tunnel.Endpoint{Kind: tunnel.KindUDP4, Local: ha4, Remote: mn4, LocalPort: 4191, RemotePort: 4191}); err == nil {
		t.Error("udp4 template: no error")
	}
}

// pkt describes a test frame: Ethernet, an outer header (IPv6 or IPv4,
// with ECN ecnOut), an IPv6 inner header (ECN ecnIn, next header next)
// and 8 octets of payload.
type pkt struct {
	outerSrc, outerDst netip.Addr
	innerSrc, innerDst netip.Addr
	ecnOut, ecnIn      uint8
	next               uint8 // inner next header; 0 means UDP
	outerProto         uint8 // 0 means 41
	frag               bool  // IPv4 MF
	badSum             bool  // IPv4 header checksum off by one
	outerLen           int   // added to the outer length field
	innerLen           int   // added to the inner payload length
	dstMAC             byte  // first octet of the destination MAC address
}

func (p pkt) inner() []byte {
	next := p.next
	if next == 0 {
		next = 17
	}
	b := make([]byte, 48)
	b[0] = 0x60 | 0x0b // traffic class 0xb8 with the ECN bits below
	b[1] = 0x80 | p.ecnIn<<4
	b[2], b[3] = 0x12, 0x34 // flow label 0x81234
	binary.BigEndian.PutUint16(b[4:], uint16(8+p.innerLen))
	b[6], b[7] = next, 64
	s, d := p.innerSrc.As16(), p.innerDst.As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	copy(b[40:], "payload!")
	return b
}

func (p pkt) frame() []byte {
	in := p.inner()
	proto := p.outerProto
	if proto == 0 {
		proto = 41
	}
	// To the MAC address of the loopback device BPF_PROG_TEST_RUN
	// uses, so that the frame is PACKET_HOST.
	f := []byte{p.dstMAC, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 0, 0}
	if p.outerSrc.Is4() {
		binary.BigEndian.PutUint16(f[12:], 0x0800)
		h := make([]byte, 20)
		h[0], h[1] = 0x45, 0xb8|p.ecnOut
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(in)+p.outerLen))
		if p.frag {
			h[6] = 0x20
		} else {
			h[6] = 0x40
		}
		h[8], h[9] = 64, proto
		s, d := p.outerSrc.As4(), p.outerDst.As4()
		copy(h[12:], s[:])
		copy(h[16:], d[:])
		sum := ^ipv4Checksum(h) // RFC 1071, over the header with a zero checksum field
		if p.badSum {
			sum++
		}
		binary.BigEndian.PutUint16(h[10:], ^sum)
		f = append(f, h...)
	} else {
		binary.BigEndian.PutUint16(f[12:], 0x86dd)
		h := make([]byte, 40)
		h[0], h[1] = 0x6b, 0x80|p.ecnOut<<4
		binary.BigEndian.PutUint16(h[4:], uint16(len(in)+p.outerLen))
		h[6], h[7] = proto, 64
		s, d := p.outerSrc.As16(), p.outerDst.As16()
		copy(h[8:], s[:])
		copy(h[24:], d[:])
		f = append(f, h...)
	}
	return append(f, in...)
}

// decapped is the frame the program should leave: the MAC header with
// EtherType IPv6, then the inner packet with ECN field ecn.
func (p pkt) decapped(ecn uint8) []byte {
	f := []byte{0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 0x86, 0xdd}
	in := p.inner()
	in[1] = 0x80 | ecn<<4
	return append(f, in...)
}

func newTestAccelerator(t testing.TB, role tunnel.Role) *Accelerator {
	t.Helper()
	netlab.SkipUnlessRoot(t)
	a, err := New(Config{Tunnel: tunnel.Config{Role: role}})
	if errors.Is(err, os.ErrPermission) || errors.Is(err, ebpf.ErrNotSupported) {
		t.Skipf("no BPF here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// run feeds frame to the decapsulation program (BPF_PROG_TEST_RUN) and
// returns its verdict, the frame it left and the counters that changed.
func run(t *testing.T, a *Accelerator, frame []byte) (int32, []byte, map[string]uint64) {
	t.Helper()
	before, err := a.Counters()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, len(frame)+64)
	ret, err := a.decap.Run(&ebpf.RunOptions{Data: frame, DataOut: out})
	if err != nil {
		t.Fatal(err)
	}
	after, err := a.Counters()
	if err != nil {
		t.Fatal(err)
	}
	return int32(ret), out, counterDiff(before, after)
}

func counterDiff(before, after Counters) map[string]uint64 {
	m := map[string]uint64{}
	for d := range after.ByReason {
		for r := range after.ByReason[d] {
			if n := after.ByReason[d][r] - before.ByReason[d][r]; n != 0 {
				m[tunnel.Direction(d).String()+"_"+tunnel.Reason(r).String()] = n
			}
		}
		if n := after.Passed[d] - before.Passed[d]; n != 0 {
			m[tunnel.Direction(d).String()+"_passed"] = n
		}
	}
	return m
}

// TestDecapProgram runs the decapsulation program on crafted frames: the
// rules of Tunnel.Decap (anti-spoofing, RFC 6040 §4.2) and what it leaves
// to the forwarder.
func TestDecapProgram(t *testing.T) {
	ha := newTestAccelerator(t, tunnel.RoleHomeAgent)
	for p, e := range haBindings {
		if err := ha.Update(bindingOf(t, p, e)); err != nil {
			t.Fatal(err)
		}
	}
	const (
		notECT, ect1, ect0, ce = 0, 1, 2, 3
		pass, drop, next       = 0, 2, -1
	)
	in := mnp.Addr().Next()
	good := pkt{outerSrc: mn6, outerDst: ha6, innerSrc: hoa, innerDst: cn}
	good4 := pkt{outerSrc: mn4, outerDst: ha4, innerSrc: hoa4, innerDst: cn}
	with := func(p pkt, f func(*pkt)) pkt { f(&p); return p }
	for _, c := range []struct {
		name  string
		p     pkt
		ret   int32
		ecn   uint8 // of the decapsulated packet, when ret is pass
		count string
	}{
		{"ipv6", good, pass, notECT, "in_ok"},
		{"6in4", good4, pass, notECT, "in_ok"},
		{"mobile network prefix", with(good, func(p *pkt) { p.innerSrc = in }), pass, notECT, "in_ok"},
		{"outer source spoofed", with(good, func(p *pkt) { p.outerSrc = bad6 }), drop, 0, "in_outer_src"},
		{"6in4 outer source spoofed", with(good4, func(p *pkt) { p.outerSrc = bad4 }), drop, 0, "in_outer_src"},
		{"outer destination", with(good, func(p *pkt) { p.outerDst = bad6 }), drop, 0, "in_outer_dst"},
		{"6in4 outer destination", with(good4, func(p *pkt) { p.outerDst = bad4 }), drop, 0, "in_outer_dst"},
		{"kind", with(good4, func(p *pkt) { p.innerSrc = hoa }), drop, 0, "in_kind"},
		{"inner source link-local", with(good, func(p *pkt) { p.innerSrc = netip.MustParseAddr("fe80::1") }), drop, 0, "in_inner_src"},
		{"inner source multicast", with(good, func(p *pkt) { p.innerSrc = netip.MustParseAddr("ff0e::1") }), drop, 0, "in_inner_src"},
		{"inner destination multicast", with(good, func(p *pkt) { p.innerDst = netip.MustParseAddr("ff02::1") }), drop, 0, "in_inner_dst"},
		{"inner destination link-local", with(good, func(p *pkt) { p.innerDst = netip.MustParseAddr("febf::1") }), drop, 0, "in_inner_dst"},
		{"fec0 is not link-local", with(good, func(p *pkt) { p.innerDst = netip.MustParseAddr("fec0::1") }), pass, notECT, "in_ok"},
		{"inner destination loopback", with(good, func(p *pkt) { p.innerDst = netip.IPv6Loopback() }), next, 0, "in_passed"},
		{"no binding", with(good, func(p *pkt) { p.innerSrc = other }), next, 0, "in_passed"},
		{"mobility header", with(good, func(p *pkt) { p.next = 135 }), next, 0, "in_passed"},
		{"destination options", with(good, func(p *pkt) { p.next = 60 }), next, 0, "in_passed"},
		{"routing header", with(good, func(p *pkt) { p.next = 43 }), next, 0, "in_passed"},
		{"6in4 fragment", with(good4, func(p *pkt) { p.frag = true }), next, 0, "in_passed"},
		{"6in4 header checksum", with(good4, func(p *pkt) { p.badSum = true }), next, 0, "in_passed"},
		{"6in4 total length beyond the packet", with(good4, func(p *pkt) { p.outerLen = 1 }), next, 0, "in_passed"},
		{"6in4 total length short of the inner packet", with(good4, func(p *pkt) { p.outerLen = -1 }), next, 0, "in_passed"},
		{"payload length beyond the packet", with(good, func(p *pkt) { p.outerLen = 1 }), next, 0, "in_passed"},
		{"payload length short of the inner packet", with(good, func(p *pkt) { p.outerLen = -1 }), next, 0, "in_passed"},
		{"inner payload length beyond the packet", with(good, func(p *pkt) { p.innerLen = 1 }), next, 0, "in_passed"},
		{"6in4 inner payload length beyond the packet", with(good4, func(p *pkt) { p.innerLen = 1 }), next, 0, "in_passed"},
		{"inner payload length short", with(good, func(p *pkt) { p.innerLen = -1 }), pass, notECT, "in_ok"},
		{"not a tunnel packet", with(good, func(p *pkt) { p.outerProto = 17 }), next, 0, ""},
		{"not to our MAC address", with(good, func(p *pkt) { p.dstMAC = 0x33 }), next, 0, ""},
		{"6in4 not a tunnel packet", with(good4, func(p *pkt) { p.outerProto = 17 }), next, 0, ""},
		// RFC 6040 §4.2, Figure 4.
		{"CE over Not-ECT", with(good, func(p *pkt) { p.ecnOut = ce }), drop, 0, "in_ecn"},
		{"6in4 CE over Not-ECT", with(good4, func(p *pkt) { p.ecnOut = ce }), drop, 0, "in_ecn"},
		{"CE over ECT(0)", with(good, func(p *pkt) { p.ecnOut, p.ecnIn = ce, ect0 }), pass, ce, "in_ok"},
		{"CE over ECT(1)", with(good, func(p *pkt) { p.ecnOut, p.ecnIn = ce, ect1 }), pass, ce, "in_ok"},
		{"6in4 CE over ECT(0)", with(good4, func(p *pkt) { p.ecnOut, p.ecnIn = ce, ect0 }), pass, ce, "in_ok"},
		{"CE over CE", with(good, func(p *pkt) { p.ecnOut, p.ecnIn = ce, ce }), pass, ce, "in_ok"},
		{"ECT(1) over ECT(0)", with(good, func(p *pkt) { p.ecnOut, p.ecnIn = ect1, ect0 }), pass, ect1, "in_ok"},
		{"ECT(0) over ECT(1)", with(good, func(p *pkt) { p.ecnOut, p.ecnIn = ect0, ect1 }), pass, ect1, "in_ok"},
		{"Not-ECT over CE", with(good, func(p *pkt) { p.ecnIn = ce }), pass, ce, "in_ok"},
		{"ECT(0) over Not-ECT", with(good, func(p *pkt) { p.ecnOut = ect0 }), pass, notECT, "in_ok"},
	} {
		t.Run(c.name, func(t *testing.T) {
			frame := c.p.frame()
			ret, out, ctr := run(t, ha, frame)
			if ret != c.ret {
				t.Errorf("verdict %d, want %d", ret, c.ret)
			}
			want := map[string]uint64{}
			if c.count != "" {
				want[c.count] = 1
			}
			if d := cmp.Diff(want, ctr); d != "" {
				t.Errorf("counters (-want +got):\n%s", d)
			}
			switch c.ret {
			case pass:
				if d := cmp.Diff(c.p.decapped(c.ecn), out[:len(c.p.decapped(c.ecn))]); d != "" {
					t.Errorf("frame (-want +got):\n%s", d)
				}
			case next:
				if d := cmp.Diff(frame, out[:len(frame)]); d != "" {
					t.Errorf("frame changed (-want +got):\n%s", d)
				}
			}
		})
	}

	// A deleted binding's packets go to the forwarder.
	if err := ha.Delete(netip.PrefixFrom(hoa, 128)); err != nil {
		t.Fatal(err)
	}
	if ret, _, ctr := run(t, ha, good.frame()); ret != next || ctr["in_passed"] != 1 {
		t.Errorf("after Delete: verdict %d, counters %v", ret, ctr)
	}
}

// TestDecapProgramMobileNode: a mobile node keys its binding on the inner
// destination, its home address, and takes packets from its home agent
// only.
func TestDecapProgramMobileNode(t *testing.T) {
	mn := newTestAccelerator(t, tunnel.RoleMobileNode)
	if err := mn.Update(bindingOf(t, netip.PrefixFrom(hoa, 128), tunnel.Endpoint{Kind: tunnel.KindIPv6, Local: mn6, Remote: ha6})); err != nil {
		t.Fatal(err)
	}
	good := pkt{outerSrc: ha6, outerDst: mn6, innerSrc: cn, innerDst: hoa}
	if ret, out, ctr := run(t, mn, good.frame()); ret != 0 || ctr["in_ok"] != 1 || cmp.Diff(good.decapped(0), out[:len(good.decapped(0))]) != "" {
		t.Errorf("from the home agent: verdict %d, counters %v", ret, ctr)
	}
	spoof := good
	spoof.outerSrc = bad6
	if ret, _, ctr := run(t, mn, spoof.frame()); ret != 2 || ctr["in_outer_src"] != 1 {
		t.Errorf("from elsewhere: verdict %d, counters %v", ret, ctr)
	}
	// An inner source key lookup would find nothing; the inner
	// destination is what counts.
	wrong := good
	wrong.innerDst = other
	if ret, _, ctr := run(t, mn, wrong.frame()); ret != -1 || ctr["in_passed"] != 1 {
		t.Errorf("not our home address: verdict %d, counters %v", ret, ctr)
	}
	// A move: one Update changes both ends of the template at once. The
	// old care-of address is no longer our end (RFC 6275 §10.4.5's
	// filter, from the mobile node's side), the new one is.
	newCoA := netip.MustParseAddr("2001:db8:9::2")
	if err := mn.Update(bindingOf(t, netip.PrefixFrom(hoa, 128), tunnel.Endpoint{Kind: tunnel.KindIPv6, Local: newCoA, Remote: ha6})); err != nil {
		t.Fatal(err)
	}
	if ret, _, ctr := run(t, mn, good.frame()); ret != 2 || ctr["in_outer_dst"] != 1 {
		t.Errorf("to the old care-of address: verdict %d, counters %v", ret, ctr)
	}
	moved := good
	moved.outerDst = newCoA
	if ret, out, ctr := run(t, mn, moved.frame()); ret != 0 || ctr["in_ok"] != 1 || cmp.Diff(moved.decapped(0), out[:len(moved.decapped(0))]) != "" {
		t.Errorf("to the new care-of address: verdict %d, counters %v", ret, ctr)
	}
	if err := mn.Delete(netip.PrefixFrom(hoa, 128)); err != nil {
		t.Fatal(err)
	}
	if ret, _, ctr := run(t, mn, moved.frame()); ret != -1 || ctr["in_passed"] != 1 {
		t.Errorf("after Delete (at home): verdict %d, counters %v", ret, ctr)
	}
}

// FuzzDecapProgram runs the decapsulation program (BPF_PROG_TEST_RUN) and
// Tunnel.Input, the userspace path, on the same frame, with the same
// bindings, and holds the program to the userspace verdict: what it
// decapsulates, Tunnel.Input forwards, byte for byte (ECN combined
// alike); what it drops, Tunnel.Input drops; what it leaves to the
// forwarder (TCX_NEXT), it leaves unchanged. Needs root.
func FuzzDecapProgram(f *testing.F) {
	a := newTestAccelerator(f, tunnel.RoleHomeAgent)
	tab := tunnel.NewTable(1)
	for p, e := range haBindings {
		if err := tab.Set(p, e); err != nil {
			f.Fatal(err)
		}
	}
	if err := a.Sync(tab); err != nil {
		f.Fatal(err)
	}
	tn, err := tunnel.New(tunnel.Config{Role: tunnel.RoleHomeAgent}, tab)
	if err != nil {
		f.Fatal(err)
	}
	good := pkt{outerSrc: mn6, outerDst: ha6, innerSrc: hoa, innerDst: cn}
	good4 := pkt{outerSrc: mn4, outerDst: ha4, innerSrc: hoa4, innerDst: cn}
	for _, p := range []pkt{good, good4} {
		f.Add(p.frame())
		p.ecnOut, p.ecnIn = 3, 2
		f.Add(p.frame())
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < ethHdrLen || len(frame) > 3000 {
			// BPF_PROG_TEST_RUN wants an Ethernet header, and the
			// frame in one page with the skb's head and tail room.
			return
		}
		out := make([]byte, len(frame)+64)
		ret, err := a.decap.Run(&ebpf.RunOptions{Data: frame, DataOut: out})
		if errors.Is(err, unix.EINVAL) && len(frame) < ethHdrLen+ip6HdrLen {
			// bpf_prog_test_run_skb wants the IP header its EtherType
			// names: a harness limit; the kernel never hands tc less.
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		pkt := append([]byte(nil), frame[ethHdrLen:]...)
		inner, v := tn.Input(pkt)
		switch int32(ret) {
		case tcxPass:
			if v.Action != tunnel.ActionSend {
				t.Fatalf("program decapsulated, Tunnel.Input: %v", v)
			}
			if out[12] != 0x86 || out[13] != 0xdd {
				t.Fatalf("EtherType %x", out[12:14])
			}
			if d := cmp.Diff(inner, out[ethHdrLen:ethHdrLen+len(inner)]); d != "" {
				t.Fatalf("inner packet, Tunnel.Input (-) vs program (+):\n%s", d)
			}
		case tcxDrop:
			if v.Action != tunnel.ActionDrop {
				t.Fatalf("program dropped, Tunnel.Input: %v", v)
			}
		case tcxNext:
			if d := cmp.Diff(frame, out[:len(frame)]); d != "" {
				t.Fatalf("frame changed (-want +got):\n%s", d)
			}
		default:
			t.Fatalf("verdict %d", int32(ret))
		}
	})
}
