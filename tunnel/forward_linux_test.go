//go:build linux

package tunnel

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/tun"
)

// fakeDev is a tun.Device that records what is written to it.
type fakeDev struct {
	got    [][]byte
	off    int
	noCopy bool // count only (allocation tests)
	writes int
}

func (d *fakeDev) File() *os.File                         { return nil }
func (d *fakeDev) Read([][]byte, []int, int) (int, error) { return 0, os.ErrClosed }
func (d *fakeDev) MTU() (int, error)                      { return 1500, nil }
func (d *fakeDev) Name() (string, error)                  { return "fake", nil }
func (d *fakeDev) Events() <-chan tun.Event               { return nil }
func (d *fakeDev) Close() error                           { return nil }
func (d *fakeDev) BatchSize() int                         { return 128 }
func (d *fakeDev) Write(bufs [][]byte, off int) (int, error) {
	d.writes++
	d.off = off
	if d.noCopy {
		return len(bufs), nil
	}
	for _, b := range bufs {
		if off < 10 {
			panic("tun.Write needs 10 octets in front of each packet")
		}
		d.got = append(d.got, append([]byte(nil), b[off:]...))
	}
	return len(bufs), nil
}

// testForwarder is a Forwarder with placeholder sockets: enough for the
// per-packet paths, which never touch a descriptor until they flush.
func testForwarder(tn *Tunnel) *Forwarder { return testForwarderHdr(tn, false) }

// testForwarderHdr is testForwarder with HeaderIncluded set as given.
func testForwarderHdr(tn *Tunnel, hdrincl bool) *Forwarder {
	f := &Forwarder{t: tn, cfg: ForwarderConfig{IPv6: true, IPv4: true, UDP: true, UDPPort: UDPPortDSMIP, BatchSize: 16, MTU: 9000, HeaderIncluded: hdrincl}}
	f.raw6, f.raw4Send, f.raw4, f.udp = &sock{}, &sock{}, &sock{}, &sock{}
	if hdrincl {
		f.raw6Send = &sock{}
	}
	return f
}

// txPacket copies an inner packet into a fresh tun-read buffer.
func txPacket(q *txPath, i int, inner []byte) []byte {
	copy(q.bufs[i][Headroom:], inner)
	return q.bufs[i][:Headroom+len(inner)]
}

// iovBytes returns the octets of I/O vector j.
func iovBytes(m *sockBatch, j int) []byte {
	v := m.Iovs[j]
	return unsafe.Slice(v.Base, int(v.Len))
}

// msgIovs returns the I/O vectors of message i.
func msgIovs(m *sockBatch, i int) [][]byte {
	h := &m.Hdrs[i].Hdr
	first := int((uintptr(unsafe.Pointer(h.Iov)) - uintptr(unsafe.Pointer(&m.Iovs[0]))) / unsafe.Sizeof(m.Iovs[0]))
	var out [][]byte
	for j := range int(h.Iovlen) {
		out = append(out, iovBytes(m, first+j))
	}
	return out
}

// cmsgs decodes message i's control data into "level/type" → data.
type cmsgKey struct{ level, typ int32 }

func msgCmsgs(m *sockBatch, i int) map[cmsgKey][]byte {
	h := &m.Hdrs[i].Hdr
	out := map[cmsgKey][]byte{}
	if h.Control == nil {
		return out
	}
	c := unsafe.Slice(h.Control, int(h.Controllen))
	for {
		level, typ, data, rest, ok := nextCmsg(c)
		if !ok {
			return out
		}
		out[cmsgKey{level, typ}] = append([]byte(nil), data...)
		c = rest
	}
}

// sockaddr4 decodes a struct sockaddr_in by hand: family (host order),
// port (network order), address.
func sockaddr4(m *sockBatch, i int) (uint16, uint16, netip.Addr) {
	b := (*[16]byte)(unsafe.Pointer(&m.Names[i]))
	return *(*uint16)(unsafe.Pointer(&b[0])), binary.BigEndian.Uint16(b[2:4]), netip.AddrFrom4([4]byte(b[4:8]))
}

func TestTxPath6in4(t *testing.T) {
	inner := mkInner(cnAddr, hoa, 0xba, 59, []byte("gomip6!!"))
	for _, hdrincl := range []bool{false, true} {
		tn, _ := newHA(t, ep4(), nil)
		f := testForwarderHdr(tn, hdrincl)
		q := f.newTxPath(&fakeDev{})
		q.handle(txPacket(q, 0, inner), Headroom)
		s := q.kern4
		if hdrincl {
			s = q.hdr4
		}
		m := s.m
		if m.N != 1 || s.pkts != 1 || q.hdr4.m.N+q.kern4.m.N != 1 {
			t.Fatalf("hdrincl=%v: %d messages, %d packets", hdrincl, m.N, s.pkts)
		}
		fam, port, dst := sockaddr4(m, 0)
		if fam != unix.AF_INET || port != 0 || dst != coa4 {
			t.Errorf("hdrincl=%v: destination %d %d %v", hdrincl, fam, port, dst)
		}
		iov := msgIovs(m, 0)
		if !hdrincl {
			// Kernel-built: the inner packet, the source in IP_PKTINFO's
			// ipi_spec_dst, the outer TOS (inner DSCP and ECN, RFC 6040
			// §4.1 normal mode) in IP_TOS.
			if len(iov) != 1 || !bytes.Equal(iov[0], inner) {
				t.Errorf("payload % x", iov)
			}
			cm := msgCmsgs(m, 0)
			if pi := cm[cmsgKey{unix.IPPROTO_IP, unix.IP_PKTINFO}]; len(pi) != 12 || !bytes.Equal(pi[4:8], ha4.AsSlice()) {
				t.Errorf("IP_PKTINFO % x", pi)
			}
			if tos := cm[cmsgKey{unix.IPPROTO_IP, unix.IP_TOS}]; nativeInt(tos) != 0xba {
				t.Errorf("IP_TOS % x", tos)
			}
			continue
		}
		if len(iov) != 1 || len(iov[0]) != 20+len(inner) {
			t.Fatalf("iov %d", len(iov))
		}
		h := iov[0]
		// RFC 791 header as sent with IP_HDRINCL: version 4, IHL 5, DF
		// set, protocol 41, our addresses; the inner packet follows.
		if h[0] != 0x45 || binary.BigEndian.Uint16(h[6:8])&0x4000 == 0 || h[9] != 41 ||
			!bytes.Equal(h[12:16], ha4.AsSlice()) || !bytes.Equal(h[16:20], coa4.AsSlice()) || !bytes.Equal(h[20:], inner) {
			t.Errorf("outer packet % x", h[:20])
		}
		// The buffer is reused in place: the iov points into q.bufs[0].
		if &iov[0][0] != &q.bufs[0][Headroom-20] {
			t.Error("outer packet not built in place")
		}
	}
}

// TestTxPathFragmentable: a tunnel MTU under 1280 (path MTU 1290) and an
// inner packet between it and 1280 go out header included with DF clear,
// for 6in4 and UDP, since the kernel-built sockets set DF (RFC 4213
// §3.2.2).
func TestTxPathFragmentable(t *testing.T) {
	inner := mkInner(cnAddr, hoa, 0, 59, make([]byte, 1280-40))
	for _, ep := range []Endpoint{ep4(), epUDP()} {
		ep.PathMTU = 1290
		tn, _ := newHA(t, ep, nil)
		f := testForwarder(tn)
		q := f.newTxPath(&fakeDev{})
		q.handle(txPacket(q, 0, inner), Headroom)
		if q.hdr4.m.N != 1 || q.kern4.m.N != 0 || q.udp.m.N != 0 {
			t.Fatalf("%v: %d %d %d messages", ep.Kind, q.hdr4.m.N, q.kern4.m.N, q.udp.m.N)
		}
		h := msgIovs(q.hdr4.m, 0)[0]
		if binary.BigEndian.Uint16(h[6:8])&0x4000 != 0 || len(h) != ep.Kind.Overhead()+len(inner) {
			t.Errorf("%v: DF set or length %d", ep.Kind, len(h))
		}
		if s := tn.Counters.Snapshot().Get(Out, ReasonOK); s.Packets != 1 {
			t.Errorf("%v: counted %d times", ep.Kind, s.Packets)
		}
	}
}

func TestTxPathIPv6(t *testing.T) {
	inner := mkInner(cnAddr, hoa, 0xba, 59, []byte("gomip6!!"))
	for _, kernel := range []bool{false, true} {
		tn, _ := newHA(t, ep6(), nil)
		f := testForwarderHdr(tn, !kernel)
		q := f.newTxPath(&fakeDev{})
		q.handle(txPacket(q, 0, inner), Headroom)
		m := q.kern6.m
		if !kernel {
			m = q.hdr6.m
		}
		if m.N != 1 {
			t.Fatalf("kernel=%v: %d messages", kernel, m.N)
		}
		if sa := m.Names[0]; sa.Family != unix.AF_INET6 || netip.AddrFrom16(sa.Addr) != coa6 || sa.Port != 0 {
			t.Errorf("kernel=%v: destination %+v", kernel, sa)
		}
		iov := msgIovs(m, 0)
		if !kernel {
			// RFC 2473 §3.1: the whole outer packet, next header 41.
			if len(iov[0]) != 40+len(inner) || iov[0][0]>>4 != 6 || iov[0][6] != 41 || !bytes.Equal(iov[0][40:], inner) {
				t.Errorf("outer % x", iov[0][:40])
			}
			continue
		}
		// Kernel-built: the inner packet alone, the source in
		// IPV6_PKTINFO, the traffic class in IPV6_TCLASS (DSCP copied,
		// ECN of the inner Not-ECT... 0xba has ECT(0)? 0xba&3 = 2), and
		// IPV6_DONTFRAG.
		if !bytes.Equal(iov[0], inner) {
			t.Error("payload is not the inner packet")
		}
		cm := msgCmsgs(m, 0)
		src := ha6.As16()
		if pi := cm[cmsgKey{unix.IPPROTO_IPV6, unix.IPV6_PKTINFO}]; len(pi) != 20 || !bytes.Equal(pi[:16], src[:]) {
			t.Errorf("IPV6_PKTINFO % x", pi)
		}
		if tc := cm[cmsgKey{unix.IPPROTO_IPV6, unix.IPV6_TCLASS}]; nativeInt(tc) != 0xba {
			t.Errorf("IPV6_TCLASS %d", nativeInt(tc))
		}
		if df := cm[cmsgKey{unix.IPPROTO_IPV6, unix.IPV6_DONTFRAG}]; nativeInt(df) != 1 {
			t.Errorf("IPV6_DONTFRAG % x", df)
		}
	}
}

// TestTxPathUDPGSO: equal-sized packets to one endpoint become one
// UDP_SEGMENT message; a shorter packet ends the train; another endpoint
// starts a new message.
func TestTxPathUDPGSO(t *testing.T) {
	tn, _ := newHA(t, epUDP(), nil)
	other := netip.MustParseAddr("2001:db8:2::200")
	e2 := epUDP()
	e2.Remote = other4
	if err := tn.Table().Set(netip.PrefixFrom(other, 128), e2); err != nil {
		t.Fatal(err)
	}
	f := testForwarder(tn)
	q := f.newTxPath(&fakeDev{})
	big := mkInner(cnAddr, hoa, 0, 59, make([]byte, 1000))
	small := mkInner(cnAddr, hoa, 0, 59, make([]byte, 300))
	toOther := mkInner(cnAddr, other, 0, 59, make([]byte, 1000))
	pkts := [][]byte{big, big, big, small, big, toOther}
	for i, p := range pkts {
		q.handle(txPacket(q, i, p), Headroom)
	}
	q.closeRun()
	m := q.udp.m
	type msg struct {
		Segs    []int
		Dst     netip.Addr
		Port    uint16
		GSO     int
		HasGSO  bool
		Src     netip.Addr
		TOSSeen bool
	}
	var got []msg
	for i := range m.N {
		var g msg
		for _, b := range msgIovs(m, i) {
			g.Segs = append(g.Segs, len(b))
		}
		_, g.Port, g.Dst = sockaddr4(m, i)
		cm := msgCmsgs(m, i)
		if s, ok := cm[cmsgKey{unix.SOL_UDP, unix.UDP_SEGMENT}]; ok {
			g.HasGSO, g.GSO = true, nativeInt(s)
		}
		if pi := cm[cmsgKey{unix.IPPROTO_IP, unix.IP_PKTINFO}]; len(pi) == 12 {
			g.Src = netip.AddrFrom4([4]byte(pi[4:8])) // ipi_spec_dst
		}
		_, g.TOSSeen = cm[cmsgKey{unix.IPPROTO_IP, unix.IP_TOS}]
		got = append(got, g)
	}
	want := []msg{
		{Segs: []int{1040, 1040, 1040, 340}, Dst: coa4, Port: natPort, GSO: 1040, HasGSO: true, Src: ha4, TOSSeen: true},
		{Segs: []int{1040}, Dst: coa4, Port: natPort, Src: ha4, TOSSeen: true},
		{Segs: []int{1040}, Dst: other4, Port: natPort, Src: ha4, TOSSeen: true},
	}
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
		t.Errorf("messages (-want +got):\n%s", d)
	}
	if q.udp.pkts != len(pkts) {
		t.Errorf("%d packets counted", q.udp.pkts)
	}
}

// TestTxPathPTB: an inner packet over the tunnel MTU is answered with a
// Packet Too Big written back to the tun device, with room for the
// virtio-net header in front.
func TestTxPathPTB(t *testing.T) {
	tn, _ := newHA(t, ep6MTU(), nil)
	f := testForwarderHdr(tn, true)
	q := f.newTxPath(&fakeDev{})
	big := bigInner()
	q.handle(txPacket(q, 0, big), Headroom)
	if len(q.replies) != 1 {
		t.Fatalf("%d replies", len(q.replies))
	}
	r := q.replies[0][replyOff:]
	// RFC 4443 §3.2: ICMPv6 type 2, code 0, MTU 1400-40, to the source.
	if r[6] != 58 || r[40] != 2 || r[41] != 0 || binary.BigEndian.Uint32(r[44:48]) != 1360 ||
		!bytes.Equal(r[24:40], cnAddr.AsSlice()) || !bytes.Equal(r[8:24], haHome.AsSlice()) {
		t.Errorf("reply % x", r[:48])
	}
	if q.hdr6.m.N != 0 {
		t.Error("oversized packet sent")
	}
}

// TestTxPathDrops: disabled kinds, foreign ports and unknown addresses
// are dropped without touching a socket.
func TestTxPathDrops(t *testing.T) {
	tn, _ := newHA(t, epUDP(), nil)
	f := testForwarder(tn)
	f.cfg.UDPPort = 5555
	q := f.newTxPath(&fakeDev{})
	q.handle(txPacket(q, 0, mkInner(cnAddr, hoa, 0, 59, nil)), Headroom)
	q.handle(txPacket(q, 1, mkInner(cnAddr, other6, 0, 59, nil)), Headroom)
	q.handle(txPacket(q, 2, []byte{0x45, 0, 0, 20}), Headroom)
	if q.udp.m.N != 0 {
		t.Error("sent")
	}
	if st := f.Stats(); st.PortMismatch != 1 {
		t.Errorf("port mismatch %d", st.PortMismatch)
	}
	s := tn.Counters.Snapshot()
	if s.Get(Out, ReasonNoBinding).Packets != 1 || s.Get(Out, ReasonMalformed).Packets != 1 {
		t.Errorf("counters %+v", s.ByReason[Out])
	}
	f.udp = nil
	q = f.newTxPath(&fakeDev{})
	q.handle(txPacket(q, 0, mkInner(cnAddr, hoa, 0, 59, nil)), Headroom)
	if st := f.Stats(); st.KindDisabled != 1 {
		t.Errorf("kind disabled %d", st.KindDisabled)
	}
}

// encapTB is outerOf for benchmarks.
func encapTB(tb testing.TB, tn *Tunnel, inner []byte) []byte {
	buf, off := withHeadroom(inner)
	out, v := tn.Output(buf, off)
	if v.Action != ActionSend {
		tb.Fatalf("encap %+v", v)
	}
	return append([]byte(nil), out...)
}

// mnFor returns a mobile node tunnel that is the far end of e.
func mnFor(t testing.TB, e Endpoint) *Tunnel {
	tab := NewTable(1)
	if err := tab.Set(netip.PrefixFrom(hoa, 128), Endpoint{Kind: e.Kind, Local: e.Remote, Remote: e.Local, LocalPort: e.RemotePort, RemotePort: e.LocalPort}); err != nil {
		t.Fatal(err)
	}
	mn, err := New(Config{Role: RoleMobileNode}, tab)
	if err != nil {
		t.Fatal(err)
	}
	return mn
}

// rxFill puts a received message into slot i as the kernel would.
func rxFill(p *rxPath, i int, data []byte, name func(*unix.RawSockaddrInet6), cmsgs func([]byte) int) {
	copy(p.bufs[i][Headroom:], data)
	h := &p.m.Hdrs[i]
	h.Len = uint32(len(data))
	h.Hdr.Flags = 0
	p.m.Names[i] = unix.RawSockaddrInet6{}
	if name != nil {
		name(&p.m.Names[i])
	}
	n := 0
	if cmsgs != nil {
		n = cmsgs(p.m.Control(i))
	}
	h.Hdr.SetControllen(n)
}

func TestRxPath(t *testing.T) {
	inner := mkInner(cnAddr, hoa, 0, 59, make([]byte, 500))
	inner2 := mkInner(cnAddr, hoa, 0, 59, make([]byte, 200))
	t.Run("6in4", func(t *testing.T) {
		ha, _ := newHA(t, ep4(), nil)
		mn := mnFor(t, ep4())
		dev := &fakeDev{}
		p := testForwarder(mn).newRxPath(&sock{}, Kind6in4, dev, false)
		rxFill(p, 0, outerOf(t, ha, inner), nil, nil)
		// A forged one: right inner, outer from someone else.
		forged := outerOf(t, ha, inner)
		copy(forged[12:16], other4.AsSlice())
		binary.BigEndian.PutUint16(forged[10:], 0)
		binary.BigEndian.PutUint16(forged[10:], ipv4HeaderChecksum(forged[:20]))
		rxFill(p, 1, forged, nil, nil)
		p.m.N = 2
		p.handleBatch()
		if d := cmp.Diff([][]byte{inner}, dev.got); d != "" {
			t.Errorf("written (-want +got):\n%s", d)
		}
		if mn.Counters.Snapshot().Get(In, ReasonOuterSrc).Packets != 1 {
			t.Error("forgery not counted")
		}
	})
	t.Run("ipv6", func(t *testing.T) {
		mn := mnFor(t, ep6())
		dev := &fakeDev{}
		p := testForwarder(mn).newRxPath(&sock{}, KindIPv6, dev, false)
		from := func(a netip.Addr) func(*unix.RawSockaddrInet6) {
			return func(sa *unix.RawSockaddrInet6) { sa.Family, sa.Addr = unix.AF_INET6, a.As16() }
		}
		info := func(dst netip.Addr, tc int) func([]byte) int {
			return func(c []byte) int {
				d, n := putCmsg(c, unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, unix.SizeofInet6Pktinfo)
				a := dst.As16()
				copy(d, a[:])
				d, l := putCmsg(c[n:], unix.IPPROTO_IPV6, unix.IPV6_TCLASS, 4)
				putNativeInt(d, tc)
				return n + l
			}
		}
		ect := mkInner(cnAddr, hoa, 0x02, 59, make([]byte, 100)) // ECT(0)
		rxFill(p, 0, inner, from(ha6), info(coa6, 0))
		rxFill(p, 1, inner, from(other6), info(coa6, 0)) // wrong source
		rxFill(p, 2, inner, from(ha6), info(other6, 0))  // not to us
		rxFill(p, 3, ect, from(ha6), info(coa6, 3))      // CE on the outer
		p.m.N = 4
		p.handleBatch()
		ce := append([]byte(nil), ect...)
		ce[1] |= 0x30 // RFC 6040 §4.2: CE copied inward
		if d := cmp.Diff([][]byte{inner, ce}, dev.got); d != "" {
			t.Errorf("written (-want +got):\n%s", d)
		}
		s := mn.Counters.Snapshot()
		if s.Get(In, ReasonOuterSrc).Packets != 1 || s.Get(In, ReasonOuterDst).Packets != 1 {
			t.Errorf("counters %+v", s.ByReason[In])
		}
	})
	t.Run("udp4 GRO", func(t *testing.T) {
		mn := mnFor(t, epUDP())
		dev := &fakeDev{}
		f := testForwarder(mn)
		f.cfg.UDPPort = natPort
		p := f.newRxPath(&sock{}, KindUDP4, dev, false)
		from := func(sa *unix.RawSockaddrInet6) {
			s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
			s4.Family, s4.Addr = unix.AF_INET, ha4.As4()
			binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&s4.Port))[:], UDPPortDSMIP)
		}
		info := func(gso int) func([]byte) int {
			return func(c []byte) int {
				d, n := putCmsg(c, unix.IPPROTO_IP, unix.IP_PKTINFO, unix.SizeofInet4Pktinfo)
				clear(d)
				copy(d[8:12], coa4.AsSlice())
				d, l := putCmsg(c[n:], unix.IPPROTO_IP, unix.IP_TOS, 1)
				d[0] = 0
				n += l
				if gso > 0 {
					d, l = putCmsg(c[n:], unix.SOL_UDP, unix.UDP_GRO, 4)
					putNativeInt(d, gso)
					n += l
				}
				return n
			}
		}
		train := append(append(append([]byte(nil), inner...), inner...), inner2...)
		rxFill(p, 0, train, from, info(len(inner)))
		rxFill(p, 1, inner2, from, info(0))
		p.m.N = 2
		p.handleBatch()
		if d := cmp.Diff([][]byte{inner, inner, inner2, inner2}, dev.got); d != "" {
			t.Errorf("written (-want +got):\n%s", d)
		}
		if st := f.Stats(); st.SocketPackets != 4 {
			t.Errorf("socket packets %d", st.SocketPackets)
		}
	})
}

// TestForwarderPathsZeroAllocs: the batch paths allocate nothing per
// packet (issue 3 item 4), outbound (encapsulation into send batches) and
// inbound (decapsulation into a tun write).
func TestForwarderPathsZeroAllocs(t *testing.T) {
	inner := mkInner(cnAddr, hoa, 0, 6, make([]byte, 1000))
	for _, ep := range []Endpoint{ep6(), ep4(), epUDP()} {
		for _, kernel := range []bool{false, true} {
			if kernel && ep.Kind == KindUDP4 {
				continue
			}
			tn, _ := newHA(t, ep, nil)
			f := testForwarderHdr(tn, !kernel)
			q := f.newTxPath(&fakeDev{noCopy: true})
			for i := range q.bufs {
				txPacket(q, i, inner)
			}
			queued := 0
			if n := testing.AllocsPerRun(100, func() {
				for i := range 8 {
					copy(q.bufs[i][Headroom:], inner)
					q.handle(q.bufs[i][:Headroom+len(inner)], Headroom)
				}
				q.closeRun()
				for _, s := range []*sender{q.hdr6, q.kern6, q.hdr4, q.kern4, q.udp} {
					if s != nil {
						queued += s.pkts
						s.m.Reset()
						s.pkts = 0
					}
				}
			}); n != 0 {
				t.Errorf("tx %v kernel=%v: %.1f allocations per batch", ep.Kind, kernel, n)
			}
			// A path that dropped everything would allocate nothing
			// too.
			if queued == 0 {
				t.Errorf("tx %v kernel=%v: nothing queued", ep.Kind, kernel)
			}
		}
		ha, _ := newHA(t, ep, nil)
		mn := mnFor(t, ep)
		f := testForwarder(mn)
		f.cfg.UDPPort = ep.RemotePort
		p := f.newRxPath(&sock{}, ep.Kind, &fakeDev{noCopy: true}, false)
		outer := outerOf(t, ha, inner)
		var o rawOuter
		payload, _ := parseOuterRaw(&o, outer)
		for i := range 8 {
			switch ep.Kind {
			case Kind6in4:
				rxFill(p, i, outer, nil, nil)
			case KindIPv6:
				rxFill(p, i, payload, func(sa *unix.RawSockaddrInet6) { sa.Family, sa.Addr = unix.AF_INET6, ha6.As16() }, nil)
			case KindUDP4:
				rxFill(p, i, append(append([]byte(nil), payload...), payload...), func(sa *unix.RawSockaddrInet6) {
					s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
					s4.Family, s4.Addr = unix.AF_INET, ha4.As4()
					binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&s4.Port))[:], UDPPortDSMIP)
				}, func(c []byte) int {
					d, n := putCmsg(c, unix.SOL_UDP, unix.UDP_GRO, 4)
					putNativeInt(d, len(payload))
					return n
				})
			}
		}
		p.m.N = 8
		before := mn.Counters.Snapshot().Get(In, ReasonOK).Packets
		if n := testing.AllocsPerRun(100, p.handleBatch); n != 0 {
			t.Errorf("rx %v: %.1f allocations per batch", ep.Kind, n)
		}
		if mn.Counters.Snapshot().Get(In, ReasonOK).Packets == before {
			t.Errorf("rx %v: nothing decapsulated", ep.Kind)
		}
	}
}

func TestWriteSlice(t *testing.T) {
	buf := make([]byte, 100)
	got, ok := writeSlice(buf, buf[30:50], 16)
	if !ok || &got[0] != &buf[14] || len(got) != 36 || cap(got) != 86 {
		t.Errorf("got len %d cap %d ok %v", len(got), cap(got), ok)
	}
	if _, ok := writeSlice(buf, buf[10:20], 16); ok {
		t.Error("accepted a packet without room in front")
	}
}

func TestNextCmsg(t *testing.T) {
	c := make([]byte, 64)
	d, n := putCmsg(c, 41, 67, 4)
	putNativeInt(d, 0xb8)
	d, l := putCmsg(c[n:], 0, 8, 12)
	copy(d, "abcdefghijkl")
	var got []string
	b := c[:n+l]
	for {
		level, typ, data, rest, ok := nextCmsg(b)
		if !ok {
			break
		}
		got = append(got, string(rune('0'+level%10))+"/"+string(rune('0'+typ%10))+":"+string(data[:min(len(data), 12)]))
		b = rest
	}
	want := []string{"1/7:" + string([]byte{0xb8, 0, 0, 0}), "0/8:abcdefghijkl"}
	if d := cmp.Diff(want, got); d != "" {
		t.Error(d)
	}
	// Malformed lengths end the walk instead of panicking.
	for _, bad := range [][]byte{{1, 2, 3}, make([]byte, 16), {0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
		if _, _, _, _, ok := nextCmsg(bad); ok {
			t.Errorf("accepted % x", bad)
		}
	}
}

// BenchmarkTxBatch: encapsulation of a 64-packet batch of 1400-octet
// packets into send batches (no system calls), per kind.
func BenchmarkTxBatch(b *testing.B) {
	inner := mkInner(cnAddr, hoa, 0, 6, make([]byte, 1360))
	for _, c := range []struct {
		ep      Endpoint
		hdrincl bool
	}{{ep6(), false}, {ep6(), true}, {ep4(), false}, {ep4(), true}, {epUDP(), false}} {
		ep, hdrincl := c.ep, c.hdrincl
		name := ep.Kind.String()
		if hdrincl {
			name += "-hdrincl"
		}
		b.Run(name, func(b *testing.B) {
			tn, _ := newHA(b, ep, nil)
			f := testForwarderHdr(tn, hdrincl)
			f.cfg.BatchSize = 64
			q := f.newTxPath(&fakeDev{noCopy: true})
			b.SetBytes(int64(len(inner) * 64))
			b.ReportAllocs()
			for b.Loop() {
				for i := range 64 {
					copy(q.bufs[i][Headroom:Headroom+40], inner) // the header Encap overwrote
					q.handle(q.bufs[i][:Headroom+len(inner)], Headroom)
				}
				q.closeRun()
				for _, s := range []*sender{q.hdr6, q.kern6, q.hdr4, q.kern4, q.udp} {
					if s == nil {
						continue
					}
					s.m.Reset()
					s.pkts = 0
				}
			}
		})
	}
}

// BenchmarkRxBatch: decapsulation of a received 64-packet batch into a
// tun write (the write itself faked).
func BenchmarkRxBatch(b *testing.B) {
	inner := mkInner(cnAddr, hoa, 0, 6, make([]byte, 1360))
	for _, ep := range []Endpoint{ep4(), epUDP()} {
		b.Run(ep.Kind.String(), func(b *testing.B) {
			ha, _ := newHA(b, ep, nil)
			mn := mnFor(b, ep)
			f := testForwarder(mn)
			f.cfg.BatchSize = 64
			f.cfg.UDPPort = ep.RemotePort
			p := f.newRxPath(&sock{}, ep.Kind, &fakeDev{noCopy: true}, false)
			var o rawOuter
			outer := encapTB(b, ha, inner)
			payload, _ := parseOuterRaw(&o, outer)
			n := len(p.bufs)
			for i := range n {
				if ep.Kind == Kind6in4 {
					rxFill(p, i, outer, nil, nil)
					continue
				}
				rxFill(p, i, payload, func(sa *unix.RawSockaddrInet6) {
					s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
					s4.Family, s4.Addr = unix.AF_INET, ha4.As4()
					binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&s4.Port))[:], UDPPortDSMIP)
				}, nil)
			}
			p.m.N = n
			b.SetBytes(int64(len(inner) * n))
			b.ReportAllocs()
			for b.Loop() {
				p.handleBatch()
			}
		})
	}
}
