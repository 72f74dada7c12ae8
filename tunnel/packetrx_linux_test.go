//go:build linux

package tunnel

import (
	"encoding/binary"
	"io"
	"os"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// vnetHdr builds a struct virtio_net_hdr (include/uapi/linux/virtio_net.h:
// flags, gso_type, then hdr_len, gso_size, csum_start, csum_offset as
// 16-bit fields in the host's order, legacy virtio).
func vnetHdr(flags, gsoType uint8, hdrLen, gsoSize, csumStart, csumOff uint16) []byte {
	h := make([]byte, 10)
	h[0], h[1] = flags, gsoType
	ne := binary.NativeEndian
	ne.PutUint16(h[2:], hdrLen)
	ne.PutUint16(h[4:], gsoSize)
	ne.PutUint16(h[6:], csumStart)
	ne.PutUint16(h[8:], csumOff)
	return h
}

// TestVnetPacket: packets from a packet socket (PacketReceive). A plain
// one joins the tun write batch; a TCP super-packet (GSO TCPV6, checksum
// to finish) goes to the tun device on its own with the virtio-net header
// moved past the outer headers (csum_start and hdr_len less the Ethernet
// and outer IPv6 headers, the rest as the kernel gave it); an interface
// type we cannot find the network header of is dropped as malformed; a
// forged outer source is caught as on the raw path.
func TestVnetPacket(t *testing.T) {
	ep := ep6()
	ep.PathMTU = 9000 // room to encapsulate a super-packet's worth
	ha, _ := newHA(t, ep, nil)
	mn := mnFor(t, ep)
	dev := &fakeDev{}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := testForwarder(mn).newRxPath(&sock{}, KindIPv6, dev, true)
	p.file = w

	tcp := make([]byte, 20+3000)
	tcp[12] = 5 << 4 // data offset
	for i := range tcp[20:] {
		tcp[20+i] = byte(i)
	}
	inner := mkInner(cnAddr, hoa, 0, 6, tcp)
	outer := outerOf(t, ha, inner)
	forged := append([]byte(nil), outer...)
	o6 := other6.As16()
	copy(forged[8:24], o6[:])
	eth := []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd}

	fill := func(i int, hatype uint16, vnet, ll, pkt []byte) {
		b := p.bufs[i]
		copy(b[Headroom-vnetHdrLen:], vnet)
		copy(b[Headroom:], ll)
		copy(b[Headroom+len(ll):], pkt)
		p.m.Hdrs[i].Len = uint32(vnetHdrLen + len(ll) + len(pkt))
		p.m.Hdrs[i].Hdr.Flags = 0
		sll := (*unix.RawSockaddrLinklayer)(unsafe.Pointer(&p.m.Names[i]))
		*sll = unix.RawSockaddrLinklayer{Family: unix.AF_PACKET, Hatype: hatype}
	}
	const gsoTCPv6 = 4 // VIRTIO_NET_HDR_GSO_TCPV6
	none := vnetHdr(0, 0, 0, 0, 0, 0)
	fill(0, unix.ARPHRD_ETHER, none, eth, outer)
	fill(1, unix.ARPHRD_ETHER, vnetHdr(vnetFlagNeedsCsum, gsoTCPv6, 14+40+40+20, 1000, 14+40+40, 16), eth, outer)
	fill(2, 0x1234, none, eth, outer)           // unknown link type
	fill(3, unix.ARPHRD_NONE, none, nil, outer) // no link-layer header (tun)
	fill(4, unix.ARPHRD_ETHER, none, eth, forged)
	p.m.N = 5
	p.handleBatch()
	w.Close()

	if d := cmp.Diff([][]byte{inner, inner}, dev.got); d != "" {
		t.Errorf("batched writes (-want +got):\n%s", d)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	want := append(vnetHdr(vnetFlagNeedsCsum, gsoTCPv6, 40+20, 1000, 40, 16), inner...)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("super-packet write (-want +got):\n%s", d)
	}
	s := mn.Counters.Snapshot()
	if s.Get(In, ReasonMalformed).Packets != 1 || s.Get(In, ReasonOuterSrc).Packets != 1 || s.Get(In, ReasonOK).Packets != 3 {
		t.Errorf("counters %+v", s.ByReason[In])
	}
	if st := p.f.Stats(); st.TunGSOWrites != 1 {
		t.Errorf("TunGSOWrites %d, want 1", st.TunGSOWrites)
	}
}

// TestSplitFilters runs the packet-socket filters and their raw-socket
// complements over outer headers: every packet is taken by exactly one of
// the two sockets, the packet socket only large unfragmented ones to this
// host, and packets reassembled from fragments (IPv4: DF clear after
// reassembly) stay on the raw socket. The raw socket's IPv6 filter reads
// through SKF_NET_OFF, which the x/net/bpf VM does not have, so both
// IPv6 programs run here on the network header with the offsets moved.
func TestSplitFilters(t *testing.T) {
	ipv6 := func(next uint8, plen uint16) []byte {
		h := make([]byte, 40)
		h[0] = 6 << 4
		binary.BigEndian.PutUint16(h[4:], plen)
		h[6] = next
		return h
	}
	ipv4 := func(proto uint8, flags, total uint16) []byte {
		h := make([]byte, 20)
		h[0] = 0x45
		binary.BigEndian.PutUint16(h[2:], total)
		binary.BigEndian.PutUint16(h[6:], flags)
		h[9] = proto
		return h
	}
	// run runs prog on pkt; packet-type loads (ExtType) see PACKET_HOST
	// unless other, net-relative loads are made absolute.
	run := func(t *testing.T, prog []bpf.Instruction, pkt []byte, other bool) bool {
		t.Helper()
		var out []bpf.Instruction
		for _, ins := range prog {
			switch x := ins.(type) {
			case bpf.LoadExtension:
				v := uint32(unix.PACKET_HOST)
				if other {
					v = unix.PACKET_OTHERHOST
				}
				out = append(out, bpf.LoadConstant{Dst: bpf.RegA, Val: v})
			case bpf.LoadAbsolute:
				if x.Off >= skfNetOff {
					x.Off -= skfNetOff
				}
				out = append(out, x)
			default:
				out = append(out, ins)
			}
		}
		vm, err := bpf.NewVM(out)
		if err != nil {
			t.Fatal(err)
		}
		n, err := vm.Run(pkt)
		if err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	for _, c := range []struct {
		name     string
		pkt      []byte
		v4       bool
		other    bool
		toPacket bool
		notRaw   bool // not protocol 41: the raw socket never sees it
	}{
		{name: "ipv6 large", pkt: ipv6(41, 1400), toPacket: true},
		{name: "ipv6 super-packet", pkt: ipv6(41, 64000), toPacket: true},
		{name: "ipv6 1280", pkt: ipv6(41, 1280)},
		{name: "ipv6 small", pkt: ipv6(41, 60)},
		{name: "ipv6 extension header", pkt: ipv6(60, 1400)},
		{name: "ipv6 fragment", pkt: ipv6(44, 1400)},
		{name: "ipv6 not to us", pkt: ipv6(41, 1400), other: true},
		{name: "ipv4 large DF", pkt: ipv4(41, 0x4000, 1400), v4: true, toPacket: true},
		{name: "ipv4 1300 DF", pkt: ipv4(41, 0x4000, 1300), v4: true},
		{name: "ipv4 large no DF (reassembled)", pkt: ipv4(41, 0, 1400), v4: true},
		{name: "ipv4 first fragment", pkt: ipv4(41, 0x2000, 1400), v4: true},
		{name: "ipv4 DF and offset", pkt: ipv4(41, 0x4000|10, 1400), v4: true},
		{name: "ipv4 not 41", pkt: ipv4(17, 0x4000, 1400), v4: true, notRaw: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			pf, rf := packetFilter6(), rawFilter6()
			if c.v4 {
				pf, rf = packetFilter4(), rawFilter4()
			}
			pkt := append(c.pkt, make([]byte, 64)...)
			if got := run(t, pf, pkt, c.other); got != c.toPacket {
				t.Errorf("packet socket takes it: %v, want %v", got, c.toPacket)
			}
			if c.other || c.notRaw {
				return // the raw socket sees only protocol 41 that IP delivers
			}
			if got := run(t, rf, pkt, false); got != !c.toPacket {
				t.Errorf("raw socket takes it: %v, want %v", got, !c.toPacket)
			}
		})
	}
}

// FuzzVnetPacket feeds packet-socket receives (a virtio-net header, the
// link-layer type, the rest) to the PacketReceive path of a mobile node
// whose binding is ep6's far end: nothing panics, and whatever it writes
// to the tun device on its own is a virtio-net header whose checksum
// start and offset lie inside the packet behind it, followed by an IPv6
// packet of the length its header states.
func FuzzVnetPacket(f *testing.F) {
	ep := ep6()
	ep.PathMTU = 9000
	ha, _ := newHA(f, ep, nil)
	tcp := make([]byte, 20+2000)
	tcp[12] = 5 << 4
	outer := outerOf(&testing.T{}, ha, mkInner(cnAddr, hoa, 0, 6, tcp))
	f.Add(vnetHdr(vnetFlagNeedsCsum, 4, 100, 1000, 80, 16), uint16(unix.ARPHRD_NONE), outer)
	f.Add(vnetHdr(0, 0, 0, 0, 0, 0), uint16(unix.ARPHRD_NONE), outer)
	f.Add(vnetHdr(vnetFlagNeedsCsum, 0, 0, 0, 6000, 16), uint16(unix.ARPHRD_ETHER), append(make([]byte, 14), outer...))
	mn := mnFor(f, ep)
	r, w, err := os.Pipe()
	if err != nil {
		f.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	// Fd, once: it puts the descriptor in blocking mode, every time.
	rfd := int(r.Fd())
	if err := unix.SetNonblock(rfd, true); err != nil {
		f.Fatal(err)
	}
	// Room for the largest write, so that it never waits for the reader.
	if _, err := unix.FcntlInt(uintptr(rfd), unix.F_SETPIPE_SZ, 1<<20); err != nil {
		f.Fatal(err)
	}
	got := make([]byte, 1<<17)
	f.Fuzz(func(t *testing.T, vnet []byte, hatype uint16, data []byte) {
		p := testForwarder(mn).newRxPath(&sock{}, KindIPv6, &fakeDev{noCopy: true}, true)
		p.file = w
		if len(vnet) != vnetHdrLen || len(data) > 65535 {
			return
		}
		b := p.bufs[0]
		copy(b[Headroom-vnetHdrLen:], vnet)
		copy(b[Headroom:], data)
		p.m.Hdrs[0].Len = uint32(vnetHdrLen + len(data))
		sll := (*unix.RawSockaddrLinklayer)(unsafe.Pointer(&p.m.Names[0]))
		*sll = unix.RawSockaddrLinklayer{Family: unix.AF_PACKET, Hatype: hatype}
		p.m.N = 1
		p.handleBatch()
		n, _ := unix.Read(rfd, got)
		if n <= 0 {
			return
		}
		w := got[:n]
		if n < vnetHdrLen+IPv6HeaderLen {
			t.Fatalf("wrote %d octets", n)
		}
		pkt := w[vnetHdrLen:]
		if l, ok := innerLen(pkt); !ok || l != len(pkt) {
			t.Fatalf("wrote a packet of %d octets whose header says otherwise", len(pkt))
		}
		ne := binary.NativeEndian
		if w[0]&vnetFlagNeedsCsum != 0 && int(ne.Uint16(w[6:]))+int(ne.Uint16(w[8:]))+2 > len(pkt) {
			t.Fatalf("checksum at %d+%d outside %d octets", ne.Uint16(w[6:]), ne.Uint16(w[8:]), len(pkt))
		}
	})
}
