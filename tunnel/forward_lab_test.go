//go:build linux

package tunnel

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/internal/netlab"
	"github.com/gomip6/gomip6/mip6"
)

// The lab: a line mobile node — home agent — correspondent.
//
//	mn  m0 ──── h0  ha  h1 ──── c0  cn
//	2001:db8:1::2  ::1   2001:db8:2::1  ::2
//	192.0.2.2   192.0.2.1   198.51.100.1  198.51.100.2
//
// The mobile node's home address 2001:db8:3::100 sits on its tun device;
// the home agent routes it into its own tun device. Both run a Forwarder
// with one binding.
var (
	labHoA   = netip.MustParseAddr("2001:db8:3::100")
	labMN6   = netip.MustParseAddr("2001:db8:1::2")
	labHA6   = netip.MustParseAddr("2001:db8:1::1")
	labMN4   = netip.MustParseAddr("192.0.2.2")
	labHA4   = netip.MustParseAddr("192.0.2.1")
	labHAcn  = netip.MustParseAddr("2001:db8:2::1")
	labCN    = netip.MustParseAddr("2001:db8:2::2")
	labCN4   = netip.MustParseAddr("198.51.100.2")
	labOther = netip.MustParseAddr("2001:db8:3::666") // not a home address
)

// lab is one run of the line with forwarders on both ends.
type lab struct {
	mn, ha, cn   *netlab.NS
	haTab, mnTab *Table
	haT, mnT     *Tunnel
	haF, mnF     *Forwarder
	haEP, mnEP   Endpoint
	kind         Kind
	mnOut, haOut netip.Addr // outer addresses
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newLab(t *testing.T, kind Kind) *lab { return newLabWith(t, kind, nil, nil) }

// newLabWith is newLab with changes to the home agent's and the mobile
// node's forwarder configurations.
func newLabWith(t *testing.T, kind Kind, haCfg, mnCfg func(*ForwarderConfig)) *lab {
	l := &lab{kind: kind}
	nl, err := netlab.New(t)
	must(t, err)
	l.mn, err = nl.NS("mn")
	must(t, err)
	l.ha, err = nl.NS("ha")
	must(t, err)
	l.cn, err = nl.NS("cn")
	must(t, err)
	must(t, nl.Link(l.mn, "m0", l.ha, "h0"))
	must(t, nl.Link(l.ha, "h1", l.cn, "c0"))
	for _, a := range []struct {
		ns     *netlab.NS
		ifname string
		cidr   string
	}{
		{l.mn, "m0", "2001:db8:1::2/64"}, {l.mn, "m0", "192.0.2.2/24"},
		{l.ha, "h0", "2001:db8:1::1/64"}, {l.ha, "h0", "192.0.2.1/24"},
		{l.ha, "h1", "2001:db8:2::1/64"}, {l.ha, "h1", "198.51.100.1/24"},
		{l.cn, "c0", "2001:db8:2::2/64"}, {l.cn, "c0", "198.51.100.2/24"},
	} {
		must(t, a.ns.Addr(a.ifname, a.cidr))
	}
	must(t, l.ha.Forwarding(true, true))
	must(t, l.cn.Route("default", "via", "2001:db8:2::1"))
	must(t, l.cn.Route("0.0.0.0/0", "via", "198.51.100.1"))

	l.mnOut, l.haOut = labMN6, labHA6
	if kind != KindIPv6 {
		l.mnOut, l.haOut = labMN4, labHA4
	}
	l.haEP = Endpoint{Kind: kind, Local: l.haOut, Remote: l.mnOut}
	l.mnEP = Endpoint{Kind: kind, Local: l.mnOut, Remote: l.haOut}
	if kind == KindUDP4 {
		l.haEP.LocalPort, l.haEP.RemotePort = UDPPortDSMIP, UDPPortDSMIP
		l.mnEP.LocalPort, l.mnEP.RemotePort = UDPPortDSMIP, UDPPortDSMIP
	}
	l.haTab, l.mnTab = NewTable(1), NewTable(1)
	must(t, l.haTab.Set(netip.PrefixFrom(labHoA, 128), l.haEP))
	must(t, l.mnTab.Set(netip.PrefixFrom(labHoA, 128), l.mnEP))
	l.haT, err = New(Config{Role: RoleHomeAgent, ErrorSource: labHAcn}, l.haTab)
	must(t, err)
	l.mnT, err = New(Config{Role: RoleMobileNode, ErrorSource: labHoA}, l.mnTab)
	must(t, err)

	// Every forwarder terminates all three kinds, as a home agent would.
	fc := ForwarderConfig{Name: "gmtun0", IPv6: true, IPv4: true, UDP: true, Queues: 2,
		OnError: func(err error) { t.Errorf("forwarder: %v", err) }}
	hfc, mfc := fc, fc
	if haCfg != nil {
		haCfg(&hfc)
	}
	if mnCfg != nil {
		mnCfg(&mfc)
	}
	must(t, l.ha.Do(func() (err error) { l.haF, err = NewForwarder(l.haT, hfc); return err }))
	t.Cleanup(func() { must(t, l.haF.Close()) })
	must(t, l.mn.Do(func() (err error) { l.mnF, err = NewForwarder(l.mnT, mfc); return err }))
	t.Cleanup(func() { must(t, l.mnF.Close()) })

	must(t, l.mn.Addr("gmtun0", "2001:db8:3::100/128"))
	must(t, l.mn.Route("2001:db8:2::/64", "dev", "gmtun0", "src", labHoA.String()))
	must(t, l.ha.Route("2001:db8:3::100/128", "dev", "gmtun0"))
	return l
}

// TestForwarderClose: Close removes the tun device and stops every
// goroutine the forwarder started.
func TestForwarderClose(t *testing.T) {
	netlab.SkipUnlessRoot(t)
	nl, err := netlab.New(t)
	must(t, err)
	ns, err := nl.NS("x")
	must(t, err)
	tn, err := New(Config{}, NewTable(1))
	must(t, err)
	before := runtime.NumGoroutine()
	var f *Forwarder
	must(t, ns.Do(func() (err error) {
		f, err = NewForwarder(tn, ForwarderConfig{Name: "gmclose", IPv6: true, IPv4: true, UDP: true, Queues: 2})
		return err
	}))
	if _, err := ns.IP("link", "show", "gmclose"); err != nil {
		t.Fatalf("no tun device: %v", err)
	}
	if runtime.NumGoroutine() <= before {
		t.Fatal("no goroutines started")
	}
	start := time.Now()
	must(t, f.Close())
	if d := time.Since(start); d > 2*sockTimeout+time.Second {
		t.Errorf("Close took %v", d)
	}
	must(t, f.Close()) // idempotent
	if _, err := ns.IP("link", "show", "gmclose"); err == nil {
		t.Error("tun device still there")
	}
	// Close waited for its goroutines; netlab's Do goroutine may still
	// be finishing.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, had %d:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestForwarderLab runs the tunnel through real tun devices and sockets in
// network namespaces, for each encapsulation: ping and a TCP transfer both
// ways, Packet Too Big for an oversized packet, and the anti-spoofing
// drops.
func TestForwarderLab(t *testing.T) {
	netlab.SkipUnlessRoot(t)
	for _, kind := range []Kind{KindIPv6, Kind6in4, KindUDP4} {
		t.Run(kind.String(), func(t *testing.T) {
			l := newLab(t, kind)
			t.Run("ping", func(t *testing.T) {
				must(t, l.cn.Ping(labHoA, 5*time.Second))
				must(t, l.mn.Ping(labCN, 5*time.Second))
			})
			t.Run("tcp", l.testTCP)
			t.Run("ptb", l.testPTB)
			t.Run("spoof", l.testSpoof)
			t.Run("icmp relay", l.testICMPRelay)
			// Everything that went through was counted as forwarded on
			// both ends, in both directions.
			for name, tn := range map[string]*Tunnel{"ha": l.haT, "mn": l.mnT} {
				s := tn.Counters.Snapshot()
				if s.Get(Out, ReasonOK).Packets == 0 || s.Get(In, ReasonOK).Packets == 0 {
					t.Errorf("%s: nothing forwarded: out %v in %v", name, s.Get(Out, ReasonOK), s.Get(In, ReasonOK))
				}
			}
			if st := l.haF.Stats(); st.SendErrors != 0 || st.TunWriteErrors != 0 {
				t.Errorf("ha stats %+v", st)
			}
		})
	}
}

// testTCP sends 8 MiB from the correspondent to the home address and the
// mobile node sends them back: a TCP transfer through the tunnel both ways.
func (l *lab) testTCP(t *testing.T) {
	const size = 8 << 20
	var ln net.Listener
	must(t, l.mn.Do(func() (err error) {
		ln, err = net.Listen("tcp6", netip.AddrPortFrom(labHoA, 5001).String())
		return err
	}))
	defer ln.Close()
	srvErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		buf := make([]byte, size)
		if _, err := io.ReadFull(c, buf); err != nil {
			srvErr <- fmt.Errorf("mn read: %w", err)
			return
		}
		_, err = c.Write(buf)
		srvErr <- err
	}()
	data := make([]byte, size)
	rand.Read(data)
	var c net.Conn
	must(t, l.cn.Do(func() (err error) {
		c, err = net.DialTimeout("tcp6", netip.AddrPortFrom(labHoA, 5001).String(), 5*time.Second)
		return err
	}))
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	wErr := make(chan error, 1)
	go func() { _, err := c.Write(data); wErr <- err }()
	back := make([]byte, size)
	if _, err := io.ReadFull(c, back); err != nil {
		t.Fatalf("cn read: %v", err)
	}
	must(t, <-wErr)
	must(t, <-srvErr)
	if !bytes.Equal(back, data) {
		t.Fatal("data came back changed")
	}
}

// testPTB lowers the home agent's path MTU for the binding and sends a
// packet that fits the tun device but not the tunnel: the correspondent
// must get a Packet Too Big from the home agent's home-link address with
// the tunnel MTU (RFC 2473 §7.1, RFC 4213 §3.2).
func (l *lab) testPTB(t *testing.T) {
	const pmtu = 1400
	ep := l.haEP
	ep.PathMTU = pmtu
	must(t, l.haTab.Set(netip.PrefixFrom(labHoA, 128), ep))
	defer func() {
		ep.PathMTU = DefaultPathMTU
		must(t, l.haTab.Set(netip.PrefixFrom(labHoA, 128), ep))
	}()
	want := pmtu - l.kind.Overhead()
	before := l.haT.Counters.Snapshot().PTBSent.Packets

	ic := l.ptbListener(t)
	defer ic.Close()
	var uc net.PacketConn
	must(t, l.cn.Do(func() (err error) {
		uc, err = net.ListenPacket("udp6", "["+labCN.String()+"]:0")
		return err
	}))
	defer uc.Close()
	// 1400 octets of UDP payload: a 1448-octet packet, under the tun MTU
	// (1460) and over every tunnel MTU of a 1400 path.
	if _, err := uc.WriteTo(make([]byte, 1400), &net.UDPAddr{IP: labHoA.AsSlice(), Port: 9}); err != nil {
		t.Fatal(err)
	}
	waitPTB(t, ic, want)
	if after := l.haT.Counters.Snapshot().PTBSent.Packets; after != before+1 {
		t.Errorf("PTBSent %d -> %d", before, after)
	}
}

// ptbListener opens, in the correspondent, a raw ICMPv6 socket for the
// Packet Too Big the home agent sends.
func (l *lab) ptbListener(t *testing.T) *icmp.PacketConn {
	var ic *icmp.PacketConn
	must(t, l.cn.Do(func() (err error) {
		ic, err = icmp.ListenPacket("ip6:ipv6-icmp", labCN.String())
		return err
	}))
	return ic
}

// waitPTB reads ICMPv6 until a Packet Too Big arrives and checks it: from
// the home agent's home-link address, with MTU want, quoting a packet to
// the home address.
func waitPTB(t *testing.T, ic *icmp.PacketConn, want int) {
	t.Helper()
	buf := make([]byte, 2000)
	ic.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, from, err := ic.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no Packet Too Big: %v", err)
		}
		m, err := icmp.ParseMessage(58, buf[:n])
		if err != nil || m.Type != ipv6.ICMPTypePacketTooBig {
			continue
		}
		ptb := m.Body.(*icmp.PacketTooBig)
		if got := from.(*net.IPAddr).IP; !got.Equal(labHAcn.AsSlice()) {
			t.Errorf("Packet Too Big from %v, want %v", got, labHAcn)
		}
		if ptb.MTU != want {
			t.Errorf("Packet Too Big MTU %d, want %d", ptb.MTU, want)
		}
		if len(ptb.Data) < 40 || !bytes.Equal(ptb.Data[24:40], labHoA.AsSlice()) {
			t.Errorf("Packet Too Big quotes %x", ptb.Data[:min(len(ptb.Data), 40)])
		}
		return
	}
}

// testICMPRelay has the mobile node's side of the tunnel path report that
// an outer packet of the home agent was too big (ICMPv6 Packet Too Big,
// or ICMPv4 Fragmentation Needed, MTU 1400): the home agent's ICMP socket
// must pass it to HandleICMP, which lowers the binding's path MTU and
// relays a Packet Too Big with the new tunnel MTU to the inner source,
// the correspondent (RFC 2473 §8, RFC 4213 §3.4).
func (l *lab) testICMPRelay(t *testing.T) {
	const mtu = 1400
	defer func() {
		ep := l.haEP
		ep.PathMTU = DefaultPathMTU
		must(t, l.haTab.Set(netip.PrefixFrom(labHoA, 128), ep))
	}()
	ic := l.ptbListener(t)
	defer ic.Close()
	before := l.haT.Counters.Snapshot()

	// The quoted outer packet: what the home agent would have sent for a
	// 1440-octet packet from the correspondent to the home address.
	inner := mkInner(labCN, labHoA, 0, 59, make([]byte, 1400))
	tab := NewTable(1)
	must(t, tab.Set(netip.PrefixFrom(labHoA, 128), l.haEP))
	ha, err := New(Config{}, tab)
	must(t, err)
	buf, off := withHeadroom(inner)
	outer, v := ha.Output(buf, off)
	if v.Action != ActionSend {
		t.Fatal(v)
	}
	quote := outer[:200]
	var msg []byte
	network, to := "ip6:ipv6-icmp", l.haOut
	if l.kind == KindIPv6 {
		msg = icmp6Msg(icmp6PacketTooBig, 0, mtu, quote) // the kernel sums it
	} else {
		network = "ip4:icmp"
		msg = icmp4Msg(icmp4DestUnreach, icmp4CodeFragNeed, mtu, quote)
	}
	must(t, l.mn.Do(func() error {
		c, err := icmp.ListenPacket(network, l.mnOut.String())
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.WriteTo(msg, &net.IPAddr{IP: to.AsSlice()})
		return err
	}))
	waitPTB(t, ic, mtu-l.kind.Overhead())
	s := l.haT.Counters.Snapshot()
	if s.PathMTULowered != before.PathMTULowered+1 {
		t.Errorf("PathMTULowered %d -> %d", before.PathMTULowered, s.PathMTULowered)
	}
	if b := l.haTab.Lookup(labHoA); b.PathMTU() != mtu {
		t.Errorf("binding path MTU %d, want %d", b.PathMTU(), mtu)
	}
	if l.haF.Stats().ICMPReceived == 0 {
		t.Error("ICMPReceived 0")
	}
}

// testSpoof sends two forged tunnel packets to the home agent: one from
// the correspondent (wrong outer source) carrying the home address as
// inner source, one from the mobile node's own care-of address carrying
// an inner source that is not its home address. Both must be dropped and
// counted by reason, and neither may reach the correspondent.
func (l *lab) testSpoof(t *testing.T) {
	var uc net.PacketConn
	must(t, l.cn.Do(func() (err error) {
		uc, err = net.ListenPacket("udp6", "[::]:9999")
		return err
	}))
	defer uc.Close()

	cnOut := labCN
	if l.kind != KindIPv6 {
		cnOut = labCN4
	}
	cases := []struct {
		name     string
		from     *netlab.NS
		outerSrc netip.Addr
		innerSrc netip.Addr
		reason   Reason
	}{
		{"wrong outer source", l.cn, cnOut, labHoA, ReasonOuterSrc},
		{"inner source not the home address", l.mn, l.mnOut, labOther, ReasonNoBinding},
	}
	for _, c := range cases {
		before := l.haT.Counters.Snapshot()
		pkt := l.forge(t, c.outerSrc, c.innerSrc)
		must(t, c.from.Do(func() error { return sendRaw(pkt, l.haOut) }))
		deadline := time.Now().Add(3 * time.Second)
		for l.haT.Counters.Snapshot().Get(In, c.reason).Packets == before.Get(In, c.reason).Packets {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not counted as %v: %+v", c.name, c.reason, l.haT.Counters.Snapshot().ByReason[In])
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Delivery is checked at the correspondent rather than with the
	// forwarded counter, which other traffic of the lab may move.
	uc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, _, err := uc.ReadFrom(make([]byte, 100)); err == nil {
		t.Error("a forged packet reached the correspondent")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Error(err)
	}
}

// forge builds a complete outer packet to the home agent's tunnel end
// from outerSrc, carrying a UDP datagram from innerSrc to the
// correspondent's port 9999. It uses a separate Tunnel whose binding
// describes the forger's end.
func (l *lab) forge(t *testing.T, outerSrc, innerSrc netip.Addr) []byte {
	return l.forgeSize(t, outerSrc, innerSrc, 8)
}

// forgeSize is forge with a UDP payload of size octets (at least 8).
func (l *lab) forgeSize(t *testing.T, outerSrc, innerSrc netip.Addr, size int) []byte {
	udp := make([]byte, 8+size)
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], 9999)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], "spoofed!")
	// A valid checksum (RFC 8200 §8.1), so that the correspondent would
	// deliver the datagram if the home agent let it through.
	c := mip6.PseudoHeaderChecksum(innerSrc, labCN, 17, udp)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], c)
	inner := mkInner(innerSrc, labCN, 0, 17, udp)
	tab := NewTable(1)
	ep := Endpoint{Kind: l.kind, Local: outerSrc, Remote: l.haOut}
	if l.kind == KindUDP4 {
		ep.LocalPort, ep.RemotePort = UDPPortDSMIP, UDPPortDSMIP
	}
	must(t, tab.Set(netip.PrefixFrom(innerSrc, 128), ep))
	forger, err := New(Config{Role: RoleMobileNode}, tab)
	must(t, err)
	buf, off := withHeadroom(inner)
	out, v := forger.Output(buf, off)
	if v.Action != ActionSend {
		t.Fatalf("forge: %v", v)
	}
	return out
}

// sendRaw sends a header-included packet to dst from the calling
// namespace.
func sendRaw(pkt []byte, dst netip.Addr) error {
	if dst.Is4() {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Sendto(fd, pkt, 0, &unix.SockaddrInet4{Addr: dst.As4()})
	}
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_HDRINCL, 1); err != nil {
		return errors.Join(errors.New("IPV6_HDRINCL"), err)
	}
	return unix.Sendto(fd, pkt, 0, &unix.SockaddrInet6{Addr: dst.As16()})
}

// TestForwarderKernelPathFallback: a kernel path that does not start
// leaves the forwarder with packet sockets when PacketReceiveFallback
// asks for it, and without them when it does not.
func TestForwarderKernelPathFallback(t *testing.T) {
	netlab.SkipUnlessRoot(t)
	nl, err := netlab.New(t)
	must(t, err)
	ns, err := nl.NS("x")
	must(t, err)
	for _, fallback := range []bool{false, true} {
		tn, err := New(Config{}, NewTable(1))
		must(t, err)
		var f *Forwarder
		must(t, ns.Do(func() (err error) {
			f, err = NewForwarder(tn, ForwarderConfig{Name: "gmkpfb", IPv6: true, IPv4: true, Queues: 1,
				EBPF:                  func(string) (KernelPath, error) { return nil, errors.New("no kernel path here") },
				PacketReceiveFallback: fallback})
			return err
		}))
		if f.Stats().KernelPathError == "" {
			t.Errorf("fallback=%v: no KernelPathError", fallback)
		}
		if got := f.pkt6 != nil && f.pkt4 != nil; got != fallback {
			t.Errorf("fallback=%v: packet sockets open %v", fallback, got)
		}
		must(t, f.Close())
	}
}
