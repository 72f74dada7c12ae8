package rawsock

import (
	"bufio"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomip6/gomip6/internal/netlab"
	"github.com/gomip6/gomip6/mip6"
	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/packet"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// snmp6 reads the IPv6 counters of ns.
func snmp6(t *testing.T, ns *netlab.NS) map[string]int64 {
	t.Helper()
	out, err := ns.Run("cat", "/proc/net/snmp6")
	if err != nil {
		t.Fatalf("snmp6 in %s: %v", ns, err)
	}
	m := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			m[f[0]] = v
		}
	}
	return m
}

type rootLab struct {
	a, b      *netlab.NS
	ifB       *net.Interface // veth1 in b
	addrHomeB netip.Addr
}

func newRootLab(t *testing.T) *rootLab {
	netlab.SkipUnlessRoot(t)
	lab, err := netlab.New(t)
	if err != nil {
		t.Fatal(err)
	}
	a, err := lab.NS("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := lab.NS("b")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*netlab.NS{a, b} {
		if err := n.DisableDAD(); err != nil {
			t.Fatal(err)
		}
	}
	if err := lab.Link(a, "veth0", b, "veth1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Addr("veth0", addrA.String()+"/64"); err != nil {
		t.Fatal(err)
	}
	if err := b.Addr("veth1", addrB.String()+"/64"); err != nil {
		t.Fatal(err)
	}
	r := &rootLab{a: a, b: b, addrHomeB: netip.MustParseAddr("2001:db8:2::b")}
	if err := b.Do(func() error {
		var err error
		r.ifB, err = net.InterfaceByName("veth1")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// Neighbour discovery done, and plain traffic that the filter must
	// not take.
	if err := a.Ping(addrB, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rootLab) listen(t *testing.T, cfg Config) *Listener {
	t.Helper()
	var l *Listener
	if err := r.b.Do(func() error {
		var err error
		l, err = Listen(r.ifB, cfg)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func newSender(t *testing.T, ns *netlab.NS, ifname string) *Sender {
	t.Helper()
	var s *Sender
	if err := ns.Do(func() error {
		var err error
		s, err = NewSender(ifname)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func build(t *testing.T, src, dst, hoa, rh2 netip.Addr, m mip6.MobilityMessage) []byte {
	t.Helper()
	return buildMH(t, src, dst, hoa, rh2, m)
}

// readN reads n packets within a deadline.
func readN(t *testing.T, l *Listener, n int) []Message {
	t.Helper()
	if err := l.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var got []Message
	for len(got) < n {
		ms := make([]Message, n-len(got))
		for i := range ms {
			ms[i].Buf = make([]byte, 2048)
		}
		k, err := l.ReadBatch(ms)
		if err != nil {
			t.Fatalf("after %d of %d packets: %v", len(got), n, err)
		}
		got = append(got, ms[:k]...)
	}
	return got
}

// From a, a BU with a Home Address option, a BA with a type 2 routing
// header and a bare BRR, sent whole on the raw socket; b's kernel, without
// Mobile IPv6, drops all three with Parameter Problems, and b's Listener
// catches all three.
func TestRootCatchAndSend(t *testing.T) {
	r := newRootLab(t)
	filter, err := Assemble(MIPv6Filter(LinkIP, addrB))
	if err != nil {
		t.Fatal(err)
	}
	l := r.listen(t, Config{Filter: filter})
	s := newSender(t, r.a, "veth0")

	// a hears the ICMPv6 errors b sends back.
	var ic *icmp.PacketConn
	if err := r.a.Do(func() error {
		var err error
		ic, err = icmp.ListenPacket("ip6:ipv6-icmp", "::")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ic.Close()

	before := snmp6(t, r.b)
	beforeA := snmp6(t, r.a)

	// Plain traffic first (the ping of newRootLab, this UDP datagram and
	// a Destination Options header without a Home Address option, all to
	// b): the socket queue is FIFO, so if the first two packets read are
	// the BU and the BA, none of these was caught.
	if err := r.a.Do(func() error {
		c, err := net.Dial("udp6", "["+addrB.String()+"]:9")
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("plain"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	noHAO := frame(t, "dstopt_nohao")
	if err := s.Send(noHAO, 0); err != nil {
		t.Fatalf("send DestOpts without HAO: %v", err)
	}

	bu := &mip6.BindingUpdate{Sequence: 42, Flags: mip6.BUFlagA | mip6.BUFlagH, Lifetime: 400 * time.Second}
	ba := &mip6.BindingAck{Status: mip6.StatusAccepted, Sequence: 42, Lifetime: 400 * time.Second}
	buPkt := build(t, addrA, addrB, hoaA, netip.Addr{}, bu)
	baPkt := build(t, addrA, addrB, netip.Addr{}, r.addrHomeB, ba)
	if err := s.Send(buPkt, 0); err != nil {
		t.Fatalf("send BU with HAO: %v", err)
	}
	if err := s.Send(baPkt, 0); err != nil {
		t.Fatalf("send BA with RH2: %v", err)
	}
	// And a bare Mobility Header (IPv6 -> MH).
	brr := &mip6.BindingRefreshRequest{}
	brrPkt := build(t, addrA, addrB, netip.Addr{}, netip.Addr{}, brr)
	if err := s.Send(brrPkt, 0); err != nil {
		t.Fatalf("send BRR: %v", err)
	}

	got := readN(t, l, 3)
	for i, want := range [][]byte{buPkt, baPkt, brrPkt} {
		m := got[i]
		if m.Ifindex != r.ifB.Index || m.PktType != unix.PACKET_HOST || m.Truncated {
			t.Errorf("packet %d: ifindex %d (want %d), pkttype %d, truncated %v", i, m.Ifindex, r.ifB.Index, m.PktType, m.Truncated)
		}
		// The kernel sent exactly what we built: nothing added, nothing
		// rewritten.
		if diff := cmp.Diff(want, m.Buf[:m.N]); diff != "" {
			t.Errorf("packet %d differs from what was sent (-sent +caught):\n%s", i, diff)
		}
	}
	// Parsed back with mip6.
	checks := []struct {
		msg       mip6.MobilityMessage
		hoa, rh2  netip.Addr
		pseudoSrc netip.Addr
		pseudoDst netip.Addr
	}{
		{bu, hoaA, netip.Addr{}, hoaA, addrB},
		{ba, netip.Addr{}, r.addrHomeB, addrA, r.addrHomeB},
		{brr, netip.Addr{}, netip.Addr{}, addrA, addrB},
	}
	for i, c := range checks {
		pkt := got[i].Buf[:got[i].N]
		lay, err := mip6.WalkIPv6(pkt)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if lay.Proto != mip6.ProtoMobility || lay.HomeAddress != c.hoa || lay.RH2Address != c.rh2 ||
			lay.PseudoSrc != c.pseudoSrc || lay.PseudoDst != c.pseudoDst || lay.Src != addrA || lay.Dst != addrB {
			t.Errorf("packet %d layout: %+v", i, lay)
		}
		mh := pkt[lay.Offset:lay.End]
		if !mip6.VerifyMHChecksum(mh, lay.PseudoSrc, lay.PseudoDst) {
			t.Errorf("packet %d: checksum does not verify", i)
		}
		m, err := mip6.ParseMessage(mh)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if diff := cmp.Diff(c.msg, m); diff != "" {
			t.Errorf("packet %d message (-sent +caught):\n%s", i, diff)
		}
	}

	// b's kernel dropped both and said so: a Parameter Problem for each
	// comes back to a. Which code and pointer is what this kernel does.
	if err := ic.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var probs []string
	buf := make([]byte, 1500)
	for len(probs) < 3 {
		n, from, err := ic.ReadFrom(buf)
		if err != nil {
			t.Fatalf("waiting for Parameter Problems (got %q): %v", probs, err)
		}
		msg, err := icmp.ParseMessage(58, buf[:n])
		if err != nil || msg.Type != ipv6.ICMPTypeParameterProblem {
			continue
		}
		pp := msg.Body.(*icmp.ParamProb)
		probs = append(probs, "code "+strconv.Itoa(msg.Code)+" pointer "+strconv.FormatUint(uint64(pp.Pointer), 10))
		if from.String() != addrB.String() {
			t.Errorf("Parameter Problem from %v", from)
		}
	}
	// RFC 8200 §4.2: unrecognised option with top bits 11, code 2,
	// pointing at the Option Type (40+6); §4.4: unrecognised Routing
	// Type with Segments Left non-zero, code 0, pointing at the Routing
	// Type (40+2); §4: unrecognised Next Header, code 1, pointing at the
	// IPv6 header's Next Header (6).
	wantProbs := []string{"code 2 pointer 46", "code 0 pointer 42", "code 1 pointer 6"}
	if diff := cmp.Diff(wantProbs, probs); diff != "" {
		t.Errorf("Parameter Problems at a (-want +got):\n%s", diff)
	}
	after := snmp6(t, r.b)
	afterA := snmp6(t, r.a)
	for _, k := range []string{"Ip6InReceives", "Ip6InHdrErrors", "Ip6InUnknownProtos", "Ip6InDelivers", "Icmp6OutParmProblems"} {
		t.Logf("b %s +%d", k, after[k]-before[k])
	}
	t.Logf("a Icmp6InParmProblems +%d", afterA["Icmp6InParmProblems"]-beforeA["Icmp6InParmProblems"])
	if d := after["Icmp6OutParmProblems"] - before["Icmp6OutParmProblems"]; d != 3 {
		t.Errorf("b sent %d Parameter Problems, want 3: its kernel did not drop BU, BA and BRR", d)
	}
}

// PACKET_IGNORE_OUTGOING: what b sends itself is not read back, unless
// IncludeOutgoing asks for it.
func TestRootOutgoing(t *testing.T) {
	r := newRootLab(t)
	// The packet type check lets PACKET_OUTGOING through: b's own BRR to
	// a is read back by the IncludeOutgoing listener.
	filter, err := Assemble(MobilityFilter(LinkIP, addrA, addrB))
	if err != nil {
		t.Fatal(err)
	}
	quiet := r.listen(t, Config{Filter: filter})
	all := r.listen(t, Config{Filter: filter, IncludeOutgoing: true})
	sb := newSender(t, r.b, "veth1")
	sa := newSender(t, r.a, "")

	own := build(t, addrB, addrA, netip.Addr{}, netip.Addr{}, &mip6.BindingRefreshRequest{})
	in := build(t, addrA, addrB, netip.Addr{}, netip.Addr{}, &mip6.HomeTestInit{Cookie: [8]byte{7}})
	if err := sb.Send(own, 0); err != nil {
		t.Fatal(err)
	}
	if err := sa.Send(in, 0); err != nil {
		t.Fatal(err)
	}
	m := readN(t, quiet, 1)[0]
	if diff := cmp.Diff(in, m.Buf[:m.N]); diff != "" {
		t.Errorf("ignoring outgoing, first packet (-want +got):\n%s", diff)
	}
	ms := readN(t, all, 2)
	if diff := cmp.Diff([][]byte{own, in}, [][]byte{ms[0].Buf[:ms[0].N], ms[1].Buf[:ms[1].N]}); diff != "" {
		t.Errorf("with outgoing (-want +got):\n%s", diff)
	}
	if ms[0].PktType != unix.PACKET_OUTGOING {
		t.Errorf("own packet has pkttype %d", ms[0].PktType)
	}
}

// Reads allocate nothing, ReadBatch returns several packets per call,
// short buffers report truncation and Close unblocks a blocked reader.
func TestRootListenerMechanics(t *testing.T) {
	r := newRootLab(t)
	filter, err := Assemble(MobilityFilter(LinkIP, addrB))
	if err != nil {
		t.Fatal(err)
	}
	l := r.listen(t, Config{Filter: filter, ReadBuffer: 1 << 20})
	s := newSender(t, r.a, "veth0")
	const runs = 50
	pkt := build(t, addrA, addrB, netip.Addr{}, netip.Addr{}, &mip6.BindingRefreshRequest{})
	for range 2*runs + 1 + 8 {
		if err := s.Send(pkt, 0); err != nil {
			t.Fatal(err)
		}
	}
	if a := testing.AllocsPerRun(runs, func() {
		if err := s.Send(pkt, 0); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("Send allocates %v times", a)
	}
	buf := make([]byte, 2048)
	if err := l.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(runs, func() {
		n, _, err := l.Read(buf)
		if err != nil || n != len(pkt) {
			t.Fatalf("Read = %d, %v", n, err)
		}
	}); a != 0 {
		t.Errorf("Read allocates %v times", a)
	}
	ms := make([]Message, 8)
	for i := range ms {
		ms[i].Buf = make([]byte, 2048)
	}
	if a := testing.AllocsPerRun(runs/8, func() {
		if _, err := l.ReadBatch(ms); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("ReadBatch allocates %v times", a)
	}
	// What is left (over 50 packets) comes in batches.
	multi := false
	for range 10 {
		k, err := l.ReadBatch(ms)
		if err != nil {
			t.Fatal(err)
		}
		if k > 1 {
			multi = true
			break
		}
	}
	if !multi {
		t.Errorf("ten ReadBatch calls on a full queue returned one packet each")
	}

	// Truncation.
	if err := s.Send(pkt, 0); err != nil {
		t.Fatal(err)
	}
	small := make([]byte, 10)
	for {
		n, _, err := l.Read(small)
		if errors.Is(err, ErrTruncated) {
			if n != 10 {
				t.Errorf("truncated read returned %d", n)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}

	// PACKET_STATISTICS: every packet sent passed the filter, none dropped
	// (1 MiB of queue holds them all).
	if pk, drops, err := l.Stats(); err != nil || pk < 2*runs || drops != 0 {
		t.Errorf("Stats = %d packets, %d drops, %v", pk, drops, err)
	}

	// Close unblocks.
	if err := l.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	// Drain, then block.
	done := make(chan error, 1)
	go func() {
		for {
			if _, _, err := l.Read(buf); err != nil {
				done <- err
				return
			}
		}
	}()
	l.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("read after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
	if _, _, err := l.Read(buf); !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrClosed) {
		t.Errorf("Read on a closed Listener: %v", err)
	}
}

// TestRootPacketType: the kernel runs the packet type check. From a, three
// BUs to addrB on an AF_PACKET socket with chosen link-layer destinations:
// a MAC that is not b's (PACKET_OTHERHOST on b, which is promiscuous as a
// sniffing or bridged interface would be), the all-nodes multicast MAC
// (PACKET_MULTICAST) and b's own (PACKET_HOST). The daemon's filter
// (MIPv6Filter) passes only the last; the same program without the check
// passes all three, so they did arrive.
func TestRootPacketType(t *testing.T) {
	r := newRootLab(t)
	if _, err := r.b.Run("ip", "link", "set", "veth1", "promisc", "on"); err != nil {
		t.Fatal(err)
	}
	strict, err := Assemble(MIPv6Filter(LinkIP, addrB))
	if err != nil {
		t.Fatal(err)
	}
	loose, err := Assemble(IPv6Filter(IPv6Spec{Match: MatchAll, Dst: []netip.Addr{addrB}, AnyPacketType: true}))
	if err != nil {
		t.Fatal(err)
	}
	ls := r.listen(t, Config{Filter: strict})
	ll := r.listen(t, Config{Filter: loose})

	pkts := [][]byte{}
	for i := range 3 {
		pkts = append(pkts, build(t, addrA, addrB, netip.Addr{}, netip.Addr{}, &mip6.HomeTestInit{Cookie: [8]byte{byte(i + 1)}}))
	}
	macs := []net.HardwareAddr{{2, 0, 0, 0, 0, 0x99}, {0x33, 0x33, 0, 0, 0, 1}, r.ifB.HardwareAddr}
	if err := r.a.Do(func() error {
		ifi, err := net.InterfaceByName("veth0")
		if err != nil {
			return err
		}
		c, err := packet.Listen(ifi, packet.Datagram, unix.ETH_P_IPV6, nil)
		if err != nil {
			return err
		}
		defer c.Close()
		for i, p := range pkts {
			if _, err := c.WriteTo(p, &packet.Addr{HardwareAddr: macs[i]}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got := readN(t, ll, 3)
	types := []uint8{}
	for _, m := range got {
		types = append(types, m.PktType)
	}
	if diff := cmp.Diff([]uint8{unix.PACKET_OTHERHOST, unix.PACKET_MULTICAST, unix.PACKET_HOST}, types); diff != "" {
		t.Fatalf("packet types without the check (-want +got):\n%s", diff)
	}
	m := readN(t, ls, 1)[0]
	if diff := cmp.Diff(pkts[2], m.Buf[:m.N]); diff != "" {
		t.Errorf("with the check, first packet read (-want +got):\n%s", diff)
	}
	// Nothing else is queued.
	if err := ls.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	if n, _, err := ls.Read(buf); err == nil {
		t.Errorf("filter with the check also passed % x", buf[:n])
	}
	if pk, _, err := ls.Stats(); err != nil || pk != 1 {
		t.Errorf("Stats: %d packets passed the filter, %v; want 1", pk, err)
	}
}

// The IPv4 filters in the kernel: UDP port 4191 and protocol 41 are caught
// on a socket bound to IPv4, other UDP is not.
func TestRootIPv4(t *testing.T) {
	r := newRootLab(t)
	if err := r.a.Addr("veth0", "192.0.2.1/24"); err != nil {
		t.Fatal(err)
	}
	if err := r.b.Addr("veth1", "192.0.2.2/24"); err != nil {
		t.Fatal(err)
	}
	udp, err := Assemble(IPv4UDPPortFilter(LinkIP, mip6.UDPPortDSMIP))
	if err != nil {
		t.Fatal(err)
	}
	p41, err := Assemble(IPv4ProtocolFilter(LinkIP, mip6.ProtoIPv6))
	if err != nil {
		t.Fatal(err)
	}
	lu := r.listen(t, Config{Filter: udp, Protocol: unix.ETH_P_IP})
	lp := r.listen(t, Config{Filter: p41, Protocol: unix.ETH_P_IP})
	inner := frame(t, "brr")
	if err := r.a.Do(func() error {
		for _, dst := range []string{"192.0.2.2:53", "192.0.2.2:4191"} {
			c, err := net.Dial("udp4", dst)
			if err != nil {
				return err
			}
			_, err = c.Write(inner)
			c.Close()
			if err != nil {
				return err
			}
		}
		c, err := net.Dial("ip4:41", "192.0.2.2")
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write(inner)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	m := readN(t, lu, 1)[0]
	pkt := m.Buf[:m.N]
	// IPv4 (20) + UDP (8) + the IPv6 packet, to port 4191: the first
	// datagram, to port 53, was not caught.
	if m.N != 28+len(inner) || pkt[22] != 0x10 || pkt[23] != 0x5f {
		t.Errorf("UDP listener caught % x", pkt)
	}
	m = readN(t, lp, 1)[0]
	if diff := cmp.Diff(inner, m.Buf[20:m.N]); m.Buf[9] != 41 || diff != "" {
		t.Errorf("protocol 41 listener caught % x", m.Buf[:m.N])
	}
}
