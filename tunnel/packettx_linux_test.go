//go:build linux

package tunnel

import (
	"net/netip"
	"os"
	"testing"
	"unsafe"

	"github.com/gomip6/gomip6/internal/netif"
	"github.com/gomip6/gomip6/internal/nexthop"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// fixedHop is a nexthop.Querier with one answer for every destination,
// so that nothing asks netlink.
type fixedHop nexthop.Entry

func (h fixedHop) Route(dst, _ netip.Addr, _ int) (nexthop.Hop, bool) {
	return nexthop.Hop{Ifindex: h.Ifindex, Addr: dst}, true
}

func (h fixedHop) Neigh(nexthop.Hop) nexthop.Entry { return nexthop.Entry(h) }

// packetSendForwarder is testForwarder with PacketSend's state and a
// usable next hop for every end point.
func packetSendForwarder(t testing.TB, tn *Tunnel) (*Forwarder, *txPath) {
	f := testForwarder(tn)
	f.ptx = &packetTX{sock: &sock{}, nh: fixedHop{Ifindex: 7, MAC: [6]byte{2, 0, 0, 0, 0, 9}, OK: true}}
	return f, f.newTxPath(&fakeDev{noCopy: true})
}

// TestTxPathPacketSend: with PacketSend and a known next hop, IPv6 in
// IPv6 and 6in4 packets leave on the packet socket as Encap builds them,
// addressed to the next hop's interface and MAC with the outer packet's
// ethertype; packets that must be allowed to fragment, and bindings with
// no usable next hop, take the raw sockets.
func TestTxPathPacketSend(t *testing.T) {
	inner := mkInner(cnAddr, hoa, 0, 6, make([]byte, 1000))
	for _, c := range []struct {
		ep    Endpoint
		proto uint16
	}{{ep6(), unix.ETH_P_IPV6}, {ep4(), unix.ETH_P_IP}} {
		t.Run(c.ep.Kind.String(), func(t *testing.T) {
			tn, _ := newHA(t, c.ep, nil)
			_, q := packetSendForwarder(t, tn)
			q.handle(txPacket(q, 0, inner), Headroom)
			if q.pkt.m.N != 1 || q.kern6.m.N+q.kern4.m.N+q.hdr4.m.N != 0 {
				t.Fatalf("queued: packet %d, raw %d %d %d", q.pkt.m.N, q.kern6.m.N, q.kern4.m.N, q.hdr4.m.N)
			}
			want := outerOf(t, tn, inner)
			if c.ep.Kind == Kind6in4 {
				clear(want[4:6]) // the IPv4 identification: a counter
				clear(want[10:12])
			}
			got := append([]byte(nil), msgIovs(q.pkt.m, 0)[0]...)
			if c.ep.Kind == Kind6in4 {
				clear(got[4:6])
				clear(got[10:12])
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("sent (-want +got):\n%s", d)
			}
			sa := (*unix.RawSockaddrLinklayer)(unsafe.Pointer(&q.pkt.m.Names[0]))
			wantSA := unix.RawSockaddrLinklayer{Family: unix.AF_PACKET, Protocol: netif.Htons(c.proto), Ifindex: 7, Halen: 6, Addr: [8]byte{2, 0, 0, 0, 0, 9}}
			if *sa != wantSA || q.pkt.m.Hdrs[0].Hdr.Namelen != unix.SizeofSockaddrLinklayer {
				t.Errorf("address %+v len %d, want %+v", *sa, q.pkt.m.Hdrs[0].Hdr.Namelen, wantSA)
			}

			// No usable next hop: the raw sockets.
			q.pkt.m.Reset()
			q.l2 = nexthop.NewCache[l2Key](l2Max, fixedHop{})
			q.handle(txPacket(q, 1, inner), Headroom)
			if q.pkt.m.N != 0 || q.kern6.m.N+q.kern4.m.N != 1 {
				t.Errorf("without a next hop: packet %d, raw %d %d", q.pkt.m.N, q.kern6.m.N, q.kern4.m.N)
			}
		})
	}
	t.Run("fragmentable", func(t *testing.T) {
		// Path MTU 1290: a 1275-octet inner packet is over the tunnel
		// MTU but not over 1280, and must be allowed to fragment
		// (RFC 2473 §7.1(a)): never on the packet socket.
		small := mkInner(cnAddr, hoa, 0, 6, make([]byte, 1235))
		for _, ep := range []Endpoint{ep6(), ep4()} {
			ep.PathMTU = 1290
			tn, _ := newHA(t, ep, nil)
			_, q := packetSendForwarder(t, tn)
			q.handle(txPacket(q, 0, small), Headroom)
			if q.pkt.m.N != 0 || q.kern6.m.N+q.hdr4.m.N != 1 {
				t.Errorf("%v: packet %d, kernel-built IPv6 %d, header-included IPv4 %d", ep.Kind, q.pkt.m.N, q.kern6.m.N, q.hdr4.m.N)
			}
		}
	})
}

// TestPacketPathsZeroAllocs: PacketSend's and PacketReceive's per-packet
// paths allocate nothing (issue 3 item 4): encapsulation into the packet
// socket's batch, and a batch of packet-socket receives, plain ones into
// the tun write batch and super-packets written on their own.
func TestPacketPathsZeroAllocs(t *testing.T) {
	inner := mkInner(cnAddr, hoa, 0, 6, make([]byte, 1000))
	for _, ep := range []Endpoint{ep6(), ep4()} {
		tn, _ := newHA(t, ep, nil)
		_, q := packetSendForwarder(t, tn)
		queued := 0
		if n := testing.AllocsPerRun(100, func() {
			for i := range 8 {
				copy(q.bufs[i][Headroom:], inner)
				q.handle(q.bufs[i][:Headroom+len(inner)], Headroom)
			}
			queued += q.pkt.pkts
			q.pkt.m.Reset()
			q.pkt.pkts = 0
		}); n != 0 {
			t.Errorf("tx %v: %.1f allocations per batch", ep.Kind, n)
		}
		if queued == 0 {
			t.Errorf("tx %v: nothing queued", ep.Kind)
		}
	}

	ep := ep6()
	ep.PathMTU = 9000
	ha, _ := newHA(t, ep, nil)
	mn := mnFor(t, ep)
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	p := testForwarder(mn).newRxPath(&sock{}, KindIPv6, &fakeDev{noCopy: true}, true)
	p.file = null
	outer := outerOf(t, ha, mkInner(cnAddr, hoa, 0, 6, make([]byte, 3000)))
	for i := range 8 {
		v := vnetHdr(0, 0, 0, 0, 0, 0)
		if i%2 == 1 {
			v = vnetHdr(vnetFlagNeedsCsum, 4, 40+40+20, 1000, 40+40, 16)
		}
		b := p.bufs[i]
		copy(b[Headroom-vnetHdrLen:], v)
		copy(b[Headroom:], outer)
		p.m.Hdrs[i].Len = uint32(vnetHdrLen + len(outer))
		sll := (*unix.RawSockaddrLinklayer)(unsafe.Pointer(&p.m.Names[i]))
		*sll = unix.RawSockaddrLinklayer{Family: unix.AF_PACKET, Hatype: unix.ARPHRD_NONE}
	}
	p.m.N = 8
	if n := testing.AllocsPerRun(100, p.handleBatch); n != 0 {
		t.Errorf("rx: %.1f allocations per batch", n)
	}
	if st := p.f.Stats(); st.TunGSOWrites == 0 || st.TunWriteErrors != 0 {
		t.Errorf("stats %+v", st)
	}
}

// BenchmarkTxPathPacketSend is the forwarder's per-packet cost in user
// space on the PacketSend path (lookup, Encap, the packet socket's batch
// entry), against BenchmarkTxPathKernel, the raw socket's (Prepare and
// control messages). The system call is not in either.
func BenchmarkTxPathPacketSend(b *testing.B) { benchTxPath(b, true) }

// BenchmarkTxPathKernel: see BenchmarkTxPathPacketSend.
func BenchmarkTxPathKernel(b *testing.B) { benchTxPath(b, false) }

func benchTxPath(b *testing.B, packet bool) {
	inner := mkInner(cnAddr, hoa, 0, 6, make([]byte, 1400))
	tn, _ := newHA(b, ep6(), nil)
	q := testForwarder(tn).newTxPath(&fakeDev{noCopy: true})
	if packet {
		_, q = packetSendForwarder(b, tn)
	}
	b.SetBytes(int64(len(inner)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		j := i % 8
		copy(q.bufs[j][Headroom:Headroom+40], inner)
		q.handle(q.bufs[j][:Headroom+len(inner)], Headroom)
		if j == 7 {
			for _, s := range []*sender{q.kern6, q.pkt} {
				if s != nil {
					s.m.Reset()
					s.pkts = 0
				}
			}
		}
	}
}
