package rodata

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/correspondent"
	"github.com/gomip6/gomip6/internal/netlab"
	"github.com/gomip6/gomip6/mip6"
)

// TestPacketAllocs: the per-packet transforms of both directions of the
// mobile node's data path allocate nothing.
func TestPacketAllocs(t *testing.T) {
	in := udpPacket(hoa, cn, "outbound")
	buf := make([]byte, 64+len(in)+mip6.HomeAddressDestOptsLen)
	inb := udpPacket(cn, hoa, "inbound")
	routed, err := correspondent.InsertRoutingHeader2(append(make([]byte, 24), inb...), 24, len(inb), coa)
	if err != nil {
		t.Fatal(err)
	}
	work := make([]byte, len(routed))
	n := testing.AllocsPerRun(200, func() {
		copy(buf[64:], in)
		if _, err := InsertHomeAddress(buf, 64, len(in), coa); err != nil {
			t.Fatal(err)
		}
		copy(work, routed)
		l, err := mip6.WalkIPv6(work)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := RestoreRoutingHeader2(work, &l, hoa); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per packet pair", n)
	}
}

// TestTunWriterAdd: Add keeps a packet where the restore functions leave
// it (WriteOffset in), moves one that starts later, and refuses one
// without the room the virtio-net header needs or outside its buffer.
func TestTunWriterAdd(t *testing.T) {
	pkt := udpPacket(cn, hoa, "data")
	for _, tc := range []struct {
		name string
		at   int // where the packet starts in its buffer
		ok   bool
	}{
		{"at WriteOffset", WriteOffset, true},
		{"later", WriteOffset + 16, true},
		{"no room in front", WriteOffset - 1, false},
		{"at the start", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := NewTunWriter(nil)
			buf := make([]byte, 2048)
			copy(buf[tc.at:], pkt)
			if got := w.Add(buf, buf[tc.at:tc.at+len(pkt)]); got != tc.ok {
				t.Fatalf("Add = %v, want %v", got, tc.ok)
			}
			if !tc.ok {
				if w.Len() != 0 {
					t.Errorf("%d queued", w.Len())
				}
				return
			}
			if w.Len() != 1 {
				t.Fatalf("%d queued", w.Len())
			}
			q := w.bufs[0]
			if diff := cmp.Diff(pkt, q[WriteOffset:]); diff != "" {
				t.Errorf("queued packet (-want +got):\n%s", diff)
			}
			if &q[0] != &buf[0] || cap(q) != cap(buf) {
				t.Error("not queued in its own buffer (GRO needs the room behind it)")
			}
		})
	}
	// A slice of another buffer.
	w := NewTunWriter(nil)
	if w.Add(make([]byte, 2048), append(make([]byte, WriteOffset), pkt...)[WriteOffset:]) {
		t.Error("a packet outside buf queued")
	}
}

// batchLab is a network namespace with a tun device (routes to
// 2001:db8:9::/64 lead into it), a veth pair: the local address
// 2001:db8:1::1 on v0, MTU 1280 on v1 (routes to 2001:db8:8::/64), and
// a UDP socket on the local address.
type batchLab struct {
	ns   *netlab.NS
	tun  *Tun
	tx   *Sender
	sock *net.UDPConn
}

var (
	labLocal  = netip.MustParseAddr("2001:db8:1::1")
	labRemote = netip.MustParseAddr("2001:db8:9::1")
	labSmall  = netip.MustParseAddr("2001:db8:8::1")
)

func newBatchLab(t *testing.T) *batchLab {
	netlab.SkipUnlessRoot(t)
	nl, err := netlab.New(t)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := nl.NS("rd")
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.DisableDAD(); err != nil {
		t.Fatal(err)
	}
	l := &batchLab{ns: ns}
	for _, args := range [][]string{
		{"link", "add", "v0", "type", "veth", "peer", "name", "v1"},
		{"link", "set", "v0", "up"},
		{"link", "set", "v1", "mtu", "1280", "up"},
		{"-6", "addr", "add", labLocal.String() + "/64", "dev", "v0", "nodad"},
		{"-6", "route", "add", "2001:db8:8::/64", "dev", "v1"},
	} {
		if out, err := ns.IP(args...); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	err = ns.Do(func() error {
		h, err := netlink.NewHandle()
		if err != nil {
			return err
		}
		defer h.Close()
		if l.tun, err = OpenTun(h, "rdtun0", 1400, 0); err != nil {
			return err
		}
		if l.tx, err = NewSender(); err != nil {
			return err
		}
		l.sock, err = net.ListenUDP("udp6", &net.UDPAddr{IP: labLocal.AsSlice(), Port: 5000})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.tun.Close()
		l.tx.Close()
		l.sock.Close()
	})
	if out, err := ns.IP("-6", "route", "add", "2001:db8:9::/64", "dev", "rdtun0"); err != nil {
		t.Fatalf("route: %v %s", err, out)
	}
	return l
}

// recv reads n datagrams from the lab's socket and returns their
// payloads.
func (l *batchLab) recv(t *testing.T, n int) []string {
	t.Helper()
	var got []string
	buf := make([]byte, 2048)
	l.sock.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(got) < n {
		m, err := l.sock.Read(buf)
		if err != nil {
			t.Fatalf("after %d of %d datagrams: %v", len(got), n, err)
		}
		got = append(got, string(buf[:m]))
	}
	return got
}

// TestRootTunRead: packets a local socket sends into the tun device come
// out of Read whole, in order, and a burst comes out in fewer reads than
// packets (the drain).
func TestRootTunRead(t *testing.T) {
	l := newBatchLab(t)
	var c *net.UDPConn
	err := l.ns.Do(func() (err error) {
		c, err = net.DialUDP("udp6", &net.UDPAddr{IP: labLocal.AsSlice(), Port: 6000}, &net.UDPAddr{IP: labRemote.AsSlice(), Port: 7000})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const count = 100
	var want []string
	for i := range count {
		p := fmt.Sprintf("datagram %03d", i)
		want = append(want, p)
		if _, err := c.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	bufs, sizes := NewReadBufs(64, 1400)
	var got []string
	reads := 0
	for len(got) < count {
		n, err := l.tun.Read(bufs, sizes, 64)
		if err != nil {
			t.Fatal(err)
		}
		reads++
		for i := range n {
			pkt := bufs[i][64 : 64+sizes[i]]
			h := mip6.IPv6Header(pkt)
			if !h.IsValid() || h.Src() != labLocal || h.Dst() != labRemote || h.NextHeader() != mip6.ProtoUDP {
				continue // a router solicitation or the like
			}
			// The checksum is complete (the kernel may hand the
			// packet with CHECKSUM_PARTIAL: tun.Device.Read finishes it).
			if sum := mip6.PseudoHeaderChecksum(h.Src(), h.Dst(), mip6.ProtoUDP, pkt[40:]); sum != 0 && sum != 0xffff {
				t.Errorf("packet %d: checksum residue %#04x", len(got), sum)
			}
			got = append(got, string(pkt[48:]))
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("payloads (-want +got):\n%s", diff)
	}
	t.Logf("%d packets in %d reads", count, reads)
	if reads >= count {
		t.Errorf("%d reads for %d queued packets: no batching", reads, count)
	}
}

// TestRootTunWrite: a batch written into the tun device reaches the
// local socket, UDP datagrams of one flow included (Write coalesces them
// into one GSO packet where the kernel has UDP offloads; the kernel
// splits it again for a socket without UDP GRO); WritePacket too.
func TestRootTunWrite(t *testing.T) {
	l := newBatchLab(t)
	w := NewTunWriter(l.tun)
	const count = 40
	var want []string
	for i := range count {
		p := fmt.Sprintf("datagram %03d", i)
		want = append(want, p)
		pkt := udpPacketPorts(labRemote, labLocal, 7000, 5000, p)
		buf := make([]byte, 4096)
		copy(buf[WriteOffset:], pkt)
		if !w.Add(buf, buf[WriteOffset:WriteOffset+len(pkt)]) {
			t.Fatal("not queued")
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if w.Len() != 0 {
		t.Errorf("%d left after Flush", w.Len())
	}
	if diff := cmp.Diff(want, l.recv(t, count)); diff != "" {
		t.Errorf("payloads (-want +got):\n%s", diff)
	}
	if err := l.tun.WritePacket(udpPacketPorts(labRemote, labLocal, 7000, 5000, "one")); err != nil {
		t.Fatal(err)
	}
	if got := l.recv(t, 1); got[0] != "one" {
		t.Errorf("WritePacket: %q", got)
	}
}

// TestRootSender: a batch of header-included packets goes out in order;
// one the kernel refuses (larger than its route's MTU) fails alone. Add
// and Flush allocate nothing.
func TestRootSender(t *testing.T) {
	l := newBatchLab(t)
	var want []string
	for i := range 6 {
		p := fmt.Sprintf("datagram %03d", i)
		want = append(want, p)
		l.tx.Add(udpPacketPorts(labRemote, labLocal, 7000, 5000, p), labLocal, 0)
		if i == 2 {
			big := udpPacketPorts(labLocal, labSmall, 7000, 5000, string(bytes.Repeat([]byte("x"), 1300)))
			l.tx.Add(big, labSmall, 0)
		}
	}
	if l.tx.Len() != 7 {
		t.Fatalf("%d queued", l.tx.Len())
	}
	sent, failed, err := l.tx.Flush()
	if sent != 6 || failed != 1 || !errors.Is(err, unix.EMSGSIZE) {
		t.Errorf("Flush = %d sent, %d failed, %v; want 6, 1, EMSGSIZE", sent, failed, err)
	}
	if diff := cmp.Diff(want, l.recv(t, len(want))); diff != "" {
		t.Errorf("payloads (-want +got):\n%s", diff)
	}
	if sent, failed, err := l.tx.Flush(); sent != 0 || failed != 0 || err != nil {
		t.Errorf("empty Flush = %d, %d, %v", sent, failed, err)
	}
	// Empty: failed at the next Flush, nothing sent.
	l.tx.Add(nil, labLocal, 0)
	if _, failed, _ := l.tx.Flush(); failed != 1 {
		t.Errorf("empty packet: %d failed", failed)
	}

	pkt := udpPacketPorts(labRemote, labLocal, 7000, 5000, "allocs")
	n := testing.AllocsPerRun(100, func() {
		for range 8 {
			l.tx.Add(pkt, labLocal, 0)
		}
		if sent, _, err := l.tx.Flush(); sent != 8 || err != nil {
			t.Fatalf("sent %d: %v", sent, err)
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per batch", n)
	}
}

// udpPacketPorts is udpPacket with ports.
func udpPacketPorts(src, dst netip.Addr, sport, dport uint16, payload string) []byte {
	p := udpPacket(src, dst, payload)
	u := p[mip6.IPv6HeaderLen:]
	u[0], u[1], u[2], u[3] = byte(sport>>8), byte(sport), byte(dport>>8), byte(dport)
	u[6], u[7] = 0, 0
	sum := mip6.PseudoHeaderChecksum(src, dst, mip6.ProtoUDP, u)
	u[6], u[7] = byte(sum>>8), byte(sum)
	return p
}

// TestRootSenderPacketSocket: a next hop whose neighbour entry is usable
// gets its packets on the packet socket (here: out of v1 to v0's
// Ethernet address, through a gateway on v1), one without (STALE,
// INCOMPLETE, or none) on the raw socket; both arrive.
func TestRootSenderPacketSocket(t *testing.T) {
	l := newBatchLab(t)
	if l.tx.l2 == nil {
		t.Fatal("no packet socket")
	}
	var mac string
	err := l.ns.Do(func() error {
		ifi, err := net.InterfaceByName("v0")
		if err == nil {
			mac = ifi.HardwareAddr.String()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-6", "neigh", "add", "2001:db8:7::1", "lladdr", mac, "dev", "v1", "nud", "permanent"},
		{"-6", "route", "add", "2001:db8:7::/64", "dev", "v1"},
		{"-6", "route", "add", "2001:db8:6::/64", "via", "2001:db8:7::1", "dev", "v1"},
		{"-6", "neigh", "add", "2001:db8:7::2", "lladdr", mac, "dev", "v1", "nud", "stale"},
		{"-6", "route", "add", "2001:db8:5::/64", "via", "2001:db8:7::2", "dev", "v1"},
	} {
		if out, err := l.ns.IP(args...); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	for _, tc := range []struct {
		name    string
		nextHop netip.Addr
		l2      bool
	}{
		{"permanent neighbour", netip.MustParseAddr("2001:db8:6::5"), true},
		{"stale neighbour", netip.MustParseAddr("2001:db8:5::5"), false},
		{"local", labLocal, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := l.tx.l2.Total()
			var want []string
			for i := range 5 {
				p := fmt.Sprintf("%s %d", tc.name, i)
				want = append(want, p)
				l.tx.Add(udpPacketPorts(labRemote, labLocal, 7000, 5000, p), tc.nextHop, 0)
			}
			if sent, failed, err := l.tx.Flush(); sent != 5 || failed != 0 || err != nil {
				t.Errorf("Flush = %d sent, %d failed, %v", sent, failed, err)
			}
			if diff := cmp.Diff(want, l.recv(t, len(want))); diff != "" {
				t.Errorf("payloads (-want +got):\n%s", diff)
			}
			if got := l.tx.l2.Total() - before; (got == 5) != tc.l2 {
				t.Errorf("%d of 5 on the packet socket, want all: %v", got, tc.l2)
			}
		})
	}
}
