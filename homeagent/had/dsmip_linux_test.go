package had

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/internal/control"
	"github.com/gomip6/gomip6/internal/netlab"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/mobilenode"
	"github.com/gomip6/gomip6/tunnel"
)

// The Dual-Stack MIPv6 lab (RFC 5555): the mobile node on an IPv4-only
// link behind a router that is a plain router or, for the NAT tests, an
// nftables masquerade NAT (netlab.NS.Masquerade).
//
//	hh hh0 ─── hl0  home  hu0 ─────── n1  nat  n0 ─────── m0  mn
//	2001:db8:100::50  ::1  198.51.100.2   198.51.100.1 192.0.2.1  192.0.2.10
//	203.0.113.50     203.0.113.1 (the IPv4 home pool 203.0.113.64/28 is on the home link)
//
// had runs in home with [ipv4] address 198.51.100.2. The mobile node is
// the mobilenode core behind a plain UDP socket on port 4191, as mnd
// sends its signalling (RFC 5555 §4.2); what the home agent tunnels to it
// is read on that socket too.
var (
	dHA4     = netip.MustParseAddr("198.51.100.2")
	dNATOut  = netip.MustParseAddr("198.51.100.1")
	dMN4     = netip.MustParseAddr("192.0.2.10")
	dMN4b    = netip.MustParseAddr("192.0.2.11")
	dHH4     = netip.MustParseAddr("203.0.113.50")
	dPoolHoA = netip.MustParseAddr("203.0.113.65")
)

// newDSLab builds the lab; with nat the router masquerades.
func newDSLab(t *testing.T, nat bool, ipv4Extra string) (*lab, *netlab.NS) {
	netlab.SkipUnlessRoot(t)
	l := &lab{t: t, dir: t.TempDir()}
	var err error
	l.nl, err = netlab.New(t)
	must(t, err)
	var router *netlab.NS
	for _, p := range []struct {
		ns   **netlab.NS
		name string
	}{{&l.home, "home"}, {&l.mn, "mn"}, {&l.hh, "hh"}, {&router, "nat"}} {
		*p.ns, err = l.nl.NS(p.name)
		must(t, err)
		must(t, (*p.ns).DisableDAD())
	}
	must(t, l.nl.Link(l.home, "hl0", l.hh, "hh0"))
	must(t, l.nl.Link(l.home, "hu0", router, "n1"))
	must(t, l.nl.Link(router, "n0", l.mn, "m0"))
	for _, a := range []struct {
		ns     *netlab.NS
		ifname string
		cidr   string
	}{
		{l.home, "hl0", "2001:db8:100::1/64"}, {l.home, "hl0", "203.0.113.1/24"}, {l.home, "hu0", "198.51.100.2/24"},
		{l.hh, "hh0", "2001:db8:100::50/64"}, {l.hh, "hh0", "203.0.113.50/24"},
		{router, "n1", "198.51.100.1/24"}, {router, "n0", "192.0.2.1/24"},
		{l.mn, "m0", "192.0.2.10/24"}, {l.mn, "m0", "192.0.2.11/24"},
	} {
		must(t, a.ns.Addr(a.ifname, a.cidr))
	}
	must(t, l.hh.Route("default", "via", "2001:db8:100::1"))
	must(t, l.hh.Route("0.0.0.0/0", "via", "203.0.113.1"))
	must(t, l.mn.Route("0.0.0.0/0", "via", "192.0.2.1"))
	must(t, l.home.Route("192.0.2.0/24", "via", "198.51.100.1"))
	must(t, router.Forwarding(false, true))
	if nat {
		must(t, router.Masquerade("n1"))
	}

	l.key = base64.StdEncoding.EncodeToString([]byte("dsmip-lab-key-0123456789abcdefgh"))
	l.cfgPath = l.dir + "/had.toml"
	l.writeConfig("[ipv4]\naddress = \"198.51.100.2\"\n" + ipv4Extra)
	return l, router
}

// dsMN is a mobile node on an IPv4 network: the registration core and a
// UDP socket on port 4191 in the mobile node's namespace.
type dsMN struct {
	t      *testing.T
	reg    *mobilenode.Registration
	conn   *net.UDPConn
	raw    *net.IPConn // when set: signalling as IPv6 in IPv4 (protocol 41)
	mn     *netlab.NS
	events []mobilenode.Event
}

func (l *lab) newDSMN(force bool, hoa4 netip.Addr) *dsMN {
	t := l.t
	key, err := base64.StdEncoding.DecodeString(l.key)
	must(t, err)
	reg, err := mobilenode.NewRegistration(mobilenode.Config{
		ID: "laptop@home.example", HomeAddress: tHoA, HomeAgent: tHA, HomeAgentIPv4: dHA4, ForceUDP: force,
		IPv4HomeAddress: hoa4, Lifetime: 60 * time.Second,
		SA: mobilenode.SA{SPI: 1000, Key: key, Algorithm: binding.HMACSHA1_96}, InitialSequence: 100,
	})
	must(t, err)
	m := &dsMN{t: t, reg: reg, mn: l.mn}
	m.conn = m.listen(netip.AddrPortFrom(netip.IPv4Unspecified(), mip6.UDPPortDSMIP))
	return m
}

// listen opens a UDP socket in the mobile node's namespace.
func (m *dsMN) listen(a netip.AddrPort) *net.UDPConn { return listenIn(m.t, m.mn, a) }

// listenIn opens a UDP socket in namespace ns.
func listenIn(t *testing.T, ns *netlab.NS, a netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	must(t, ns.Do(func() (err error) {
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(a))
		return err
	}))
	t.Cleanup(func() { c.Close() })
	return c
}

// rebind moves the mobile node's signalling and tunnel to a new local
// port, as a NAT that lost its mapping gives a new public port.
func (m *dsMN) rebind(port uint16) {
	m.conn.Close()
	m.conn = m.listen(netip.AddrPortFrom(netip.IPv4Unspecified(), port))
}

// exchange sends the core's Binding Updates in UDP to the home agent's
// IPv4 address port 4191 and feeds it the Mobility Headers that come back,
// until it reaches state want. Its clock is real time (the home agent
// checks the timestamps) plus skew.
func (m *dsMN) exchange(out mobilenode.Output, want mobilenode.State, skew time.Duration) error {
	deadline := time.Now().Add(8 * time.Second)
	buf := make([]byte, 4096)
	for time.Now().Before(deadline) {
		m.events = append(m.events, out.Events...)
		if p := out.Send; p != nil {
			if !p.Outer.IsValid() || p.HomeAddress.IsValid() {
				return fmt.Errorf("not a Binding Update over IPv4: %+v", p)
			}
			pkt, _ := mip6.AppendMobilityPacket(nil, p.Src, p.Dst, netip.Addr{}, netip.Addr{}, 64, p.MH)
			var err error
			if m.raw != nil {
				_, err = m.raw.WriteToIP(pkt, &net.IPAddr{IP: p.Outer.Addr().AsSlice()})
			} else {
				_, err = m.conn.WriteToUDPAddrPort(pkt, p.Outer)
			}
			if err != nil {
				return err
			}
		}
		if m.reg.State() == want {
			return nil
		}
		wake := deadline
		if !out.Timer.IsZero() && out.Timer.Add(-skew).Before(wake) {
			wake = out.Timer.Add(-skew)
		}
		var n int
		var from netip.AddrPort
		var err error
		if m.raw != nil {
			m.raw.SetReadDeadline(wake)
			var a *net.IPAddr
			n, a, err = m.raw.ReadFromIP(buf)
			if a != nil {
				ip, _ := netip.AddrFromSlice(a.IP)
				from = netip.AddrPortFrom(ip.Unmap(), 0)
			}
		} else {
			m.conn.SetReadDeadline(wake)
			n, from, err = m.conn.ReadFromUDPAddrPort(buf)
		}
		now := time.Now().Add(skew)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			out = m.reg.Timer(now)
			continue
		}
		if err != nil {
			return err
		}
		lay, err := mip6.WalkIPv6(buf[:n])
		if err != nil || lay.Proto != mip6.ProtoMobility || from.Addr() != dHA4 {
			out = mobilenode.Output{Timer: out.Timer}
			continue
		}
		out, err = m.reg.HandleMH(mobilenode.Packet{Src: lay.Src, Dst: lay.Dst, MH: buf[lay.Offset:lay.End]}, now)
		if err != nil {
			m.t.Logf("mobile node ignored a message: %v", err)
		}
	}
	return fmt.Errorf("state %v, want %v", m.reg.State(), want)
}

// registered returns the last EventRegistered.
func (m *dsMN) registered() mobilenode.Event {
	m.t.Helper()
	for i := len(m.events) - 1; i >= 0; i-- {
		if m.events[i].Kind == mobilenode.EventRegistered {
			return m.events[i]
		}
	}
	m.t.Fatalf("no registered event in %+v", m.events)
	return mobilenode.Event{}
}

// recv reads datagrams until one satisfies match (from the home agent's
// port 4191) or the timeout passes.
func recv(c *net.UDPConn, timeout time.Duration, match func(pkt []byte) bool) ([]byte, error) {
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(timeout))
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return nil, err
		}
		if from != netip.AddrPortFrom(dHA4, mip6.UDPPortDSMIP) {
			continue
		}
		if match(buf[:n]) {
			return append([]byte(nil), buf[:n]...), nil
		}
	}
}

// echo6 is an ICMPv6 Echo Request (type 128) or Reply (129) in IPv6.
func echo6(typ uint8, src, dst netip.Addr, id, seq uint16) []byte {
	body := []byte{typ, 0, 0, 0, byte(id >> 8), byte(id), byte(seq >> 8), byte(seq), 'd', 's', 'm', 'i', 'p'}
	mip6.SetICMPChecksum(body, src, dst)
	return append(mip6.AppendIPv6Header(nil, uint16(len(body)), mip6.ProtoICMPv6, 64, src, dst), body...)
}

// isEcho6 reports whether pkt is an ICMPv6 echo message of type typ from
// src (any address of the home prefix when invalid) to dst (id 0: any).
func isEcho6(pkt []byte, typ uint8, src, dst netip.Addr, id uint16) bool {
	l, err := mip6.WalkIPv6(pkt)
	srcOK := l.Src == src || (!src.IsValid() && netip.MustParsePrefix("2001:db8:100::/64").Contains(l.Src))
	if err != nil || l.Proto != mip6.ProtoICMPv6 || l.End-l.Offset < 8 || !srcOK || l.Dst != dst {
		return false
	}
	b := pkt[l.Offset:]
	return b[0] == typ && (id == 0 || binary.BigEndian.Uint16(b[4:]) == id)
}

// isEcho4 reports whether pkt is an IPv4 ICMP Echo Request from src to dst.
func isEcho4(pkt []byte, src, dst netip.Addr) bool {
	if len(pkt) < 28 || pkt[0]>>4 != 4 || pkt[9] != 1 {
		return false
	}
	ihl := int(pkt[0]&15) * 4
	return len(pkt) > ihl && netip.AddrFrom4([4]byte(pkt[12:16])) == src && netip.AddrFrom4([4]byte(pkt[16:20])) == dst && pkt[ihl] == 8
}

// echoHome sends an echo request from the home address to the home-link
// host through the UDP tunnel, on c, and waits for the reply, which
// crosses the home agent's proxy, its tun device and the UDP tunnel back.
func echoHome(t *testing.T, c *net.UDPConn, id uint16) {
	t.Helper()
	for seq := range uint16(3) {
		if _, err := c.WriteToUDPAddrPort(echo6(128, tHoA, tHomeHost, id, seq), netip.AddrPortFrom(dHA4, mip6.UDPPortDSMIP)); err != nil {
			t.Fatal(err)
		}
		if _, err := recv(c, 2*time.Second, func(p []byte) bool { return isEcho6(p, 129, tHomeHost, tHoA, id) }); err == nil {
			return
		}
	}
	t.Fatalf("no echo reply from the home link through the UDP tunnel")
}

// pingFromHome runs a ping from the home-link host to the home address in
// the background; the mobile node reads the requests on its socket.
func (l *lab) pingFromHome(dst netip.Addr) {
	go l.hh.Ping(dst, 2*time.Second) // nobody answers: the node is a socket
}

func (l *lab) tunCount(dir tunnel.Direction, r tunnel.Reason) uint64 {
	return l.d.tun.Counters.Snapshot().Get(dir, r).Packets
}

// waitCount waits until f() reaches want.
func waitCount(t *testing.T, what string, f func() uint64, want uint64) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for f() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d, want %d", what, f(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDSMIPRegistration: no NAT. The F flag gives a UDP binding, its
// absence IPv6 in IPv4 (RFC 5555 §4.1); either way the Binding Update goes
// in UDP and the Binding Acknowledgement comes back in UDP through the
// forwarder's port; data flows both ways; de-registration withdraws it.
func TestDSMIPRegistration(t *testing.T) {
	for _, c := range []struct {
		name         string
		force, sig41 bool
	}{{"udp-f-flag", true, false}, {"udp-6in4-binding", false, false}, {"6in4-signalling", false, true}} {
		force := c.force
		t.Run(c.name, func(t *testing.T) {
			l, _ := newDSLab(t, false, "")
			l.start()
			m := l.newDSMN(force, netip.Addr{})
			if c.sig41 {
				// The Binding Update as IPv6 in IPv4 (RFC 5555 §4
				// allows both); the answer must come back that way.
				m.raw = listen41(t, l)
			}
			must(t, m.exchange(m.reg.Moved(dMN4, time.Now()), mobilenode.Registered, 0))
			if ev := m.registered(); ev.UDP != force || ev.NAT {
				t.Fatalf("registered: UDP %v NAT %v, want UDP %v, no NAT", ev.UDP, ev.NAT, force)
			}
			st := l.status()
			want := BindingStatus{HomeAddress: tHoA.String(), CareOfAddress: dMN4.String(), Encapsulation: "ipv4", Sequence: 100, LifetimeS: 60, Flags: "AH"}
			if force {
				want.CareOfPort, want.Encapsulation, want.Flags = 4191, "udp4", "AHF"
			}
			if len(st.Bindings) != 1 {
				t.Fatalf("bindings %+v", st.Bindings)
			}
			got := st.Bindings[0]
			got.LifetimeRemainingS = 0
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("binding status (-want +got):\n%s", d)
			}
			sigKey := "signalling_udp4_received"
			if c.sig41 {
				sigKey = "signalling_ipv4_received"
			}
			if st.Counters[sigKey] < 1 || st.Counters["ba_sent"] < 1 {
				t.Errorf("counters %v", st.Counters)
			}
			if r := l.routes(); !strings.Contains(r, "2001:db8:100::10 dev mip6ha0") {
				t.Errorf("routes: %q", r)
			}
			if !force {
				// 6in4: the home agent tunnels in protocol 41; the
				// node's side is a raw socket.
				raw := m.raw
				if raw == nil {
					raw = listen41(t, l)
				}
				dsData6in4(t, raw)
			} else {
				echoHome(t, m.conn, 0x4242)
				l.pingFromHome(tHoA)
				if _, err := recv(m.conn, 5*time.Second, func(p []byte) bool { return isEcho6(p, 128, netip.Addr{}, tHoA, 0) }); err != nil {
					t.Fatalf("ping from the home link did not reach the mobile node in UDP: %v", err)
				}
			}

			// De-registration over IPv4: the BA comes back the same
			// way and the binding, its route and the tunnel go.
			must(t, m.exchange(m.reg.Deregister(time.Now()), mobilenode.Unregistered, 0))
			if st := l.status(); len(st.Bindings) != 0 {
				t.Errorf("bindings after de-registration: %+v", st.Bindings)
			}
			if r := l.routes(); strings.Contains(r, "2001:db8:100::10") {
				t.Errorf("route left: %q", r)
			}
			if b := l.d.table.Lookup(tHoA); b != nil {
				t.Errorf("tunnel table still holds %v", b.Endpoint())
			}
		})
	}
}

// listen41 opens a protocol-41 socket on the mobile node's address.
func listen41(t *testing.T, l *lab) *net.IPConn {
	t.Helper()
	var c *net.IPConn
	must(t, l.mn.Do(func() (err error) {
		c, err = net.ListenIP("ip4:41", &net.IPAddr{IP: dMN4.AsSlice()})
		return err
	}))
	t.Cleanup(func() { c.Close() })
	return c
}

// dsData6in4 checks data through a 6in4 binding: the node sends an echo
// request as IPv6 in IPv4 (protocol 41) on c and gets the reply that way.
func dsData6in4(t *testing.T, c *net.IPConn) {
	t.Helper()
	buf := make([]byte, 4096)
	for seq := range uint16(3) {
		if _, err := c.WriteToIP(echo6(128, tHoA, tHomeHost, 7, seq), &net.IPAddr{IP: dHA4.AsSlice()}); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		for {
			n, from, err := c.ReadFromIP(buf)
			if err != nil {
				break
			}
			if from.IP.Equal(dHA4.AsSlice()) && isEcho6(buf[:n], 129, tHomeHost, tHoA, 7) {
				return
			}
		}
	}
	t.Fatal("no echo reply through the 6in4 tunnel")
}

// TestDSMIPNAT: behind a masquerade NAT the Binding Acknowledgement
// carries the NAT Detection option, the binding is udp4 to the NAT's
// public address and port; when the NAT's mapping changes (conntrack
// flushed, the node's port changed), the next refresh moves the binding
// and the traffic follows. A NAT keepalive (an empty UDP datagram) creates
// nothing and is not an anti-spoofing drop.
func TestDSMIPNAT(t *testing.T) {
	l, nat := newDSLab(t, true, "nat_keepalive = \"4s\"\n")
	l.start()
	m := l.newDSMN(false, netip.Addr{})
	must(t, m.exchange(m.reg.Moved(dMN4, time.Now()), mobilenode.Registered, 0))
	if ev := m.registered(); !ev.UDP || !ev.NAT || ev.Keepalive != 4*time.Second {
		t.Fatalf("registered: %+v, want UDP, NAT, keepalive 4s", ev)
	}
	st := l.status()
	if len(st.Bindings) != 1 {
		t.Fatalf("bindings %+v", st.Bindings)
	}
	b := st.Bindings[0]
	if b.CareOfAddress != dNATOut.String() || b.CareOfPort == 0 || b.Encapsulation != "udp4" || !b.NAT {
		t.Fatalf("binding through the NAT: %+v", b)
	}
	oldPort := b.CareOfPort
	echoHome(t, m.conn, 1)

	// A NAT keepalive: an empty UDP datagram from the node's port.
	before := l.d.tun.Counters.Snapshot()
	if _, err := m.conn.WriteToUDPAddrPort(nil, netip.AddrPortFrom(dHA4, mip6.UDPPortDSMIP)); err != nil {
		t.Fatal(err)
	}
	// The socket's reader takes datagrams in order: once the echo after
	// the keepalive has come back, the keepalive has been counted.
	echoHome(t, m.conn, 11)
	after := l.d.tun.Counters.Snapshot()
	for r := tunnel.ReasonOK + 1; r < tunnel.NumReasons; r++ {
		if d := after.Get(tunnel.In, r).Packets - before.Get(tunnel.In, r).Packets; d != 0 {
			t.Logf("an empty UDP datagram (NAT keepalive) counted in: direction in, reason %v (+%d)", r, d)
			switch r {
			case tunnel.ReasonOuterSrc, tunnel.ReasonPort, tunnel.ReasonNoBinding, tunnel.ReasonKind, tunnel.ReasonOuterDst:
				t.Errorf("a NAT keepalive counted as an anti-spoofing drop (%v)", r)
			}
		}
	}
	if st := l.status(); len(st.Bindings) != 1 || st.Bindings[0].CareOfPort != oldPort {
		t.Fatalf("the keepalive changed the bindings: %+v", st.Bindings)
	}

	// The NAT forgets its mappings and the node's traffic leaves from
	// another port: a new public port. Until the node's refresh its
	// packets are the wrong port (dropped, counted); the refresh, a
	// keepalive at most 4 s after the last one, moves the binding.
	if err := nat.Do(func() error { return netlink.ConntrackTableFlush(netlink.ConntrackTable) }); err != nil {
		t.Logf("conntrack flush: %v (the port change alone rebinds)", err)
	}
	m.rebind(4192)
	portDrops := l.tunCount(tunnel.In, tunnel.ReasonPort)
	m.conn.WriteToUDPAddrPort(echo6(128, tHoA, tHomeHost, 2, 0), netip.AddrPortFrom(dHA4, mip6.UDPPortDSMIP))
	waitCount(t, "port drops", func() uint64 { return l.tunCount(tunnel.In, tunnel.ReasonPort) }, portDrops+1)

	// The refresh, taken now: the registration's clock runs ahead to its
	// refresh time (within the home agent's 7 s timestamp window).
	e := m.reg.Entry()
	skew := time.Until(e.RefreshAt)
	must(t, m.exchange(m.reg.Timer(e.RefreshAt), mobilenode.Registered, skew))
	st = l.status()
	if len(st.Bindings) != 1 || st.Bindings[0].CareOfPort == oldPort || st.Bindings[0].CareOfAddress != dNATOut.String() || !st.Bindings[0].NAT {
		t.Fatalf("after the rebinding: %+v (old port %d)", st.Bindings, oldPort)
	}
	if st.Counters["bindings_moved"] != 1 {
		t.Errorf("bindings_moved %d, want 1", st.Counters["bindings_moved"])
	}
	if b := l.d.table.Lookup(tHoA); b == nil || b.Endpoint().RemotePort != st.Bindings[0].CareOfPort {
		t.Fatalf("the tunnel did not follow: %+v", b)
	}
	echoHome(t, m.conn, 3)

	body, err := control.NewClient(l.dir+"/had.sock").Get(context.Background(), "/v1/metrics")
	must(t, err)
	for _, want := range []string{`mip6_ha_signalling_ipv4_received_total{encapsulation="udp4"} 2`, `mip6_ha_bindings_moved_total 1`,
		`mip6_tunnel_signalling_sent_total 2`, `mip6_tunnel_packets_total{direction="in",reason="port"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

// TestDSMIPAddressMissing: an ipv4.address that is not on the host is a
// warning at start (had does not add it), not an error.
func TestDSMIPAddressMissing(t *testing.T) {
	l, _ := newDSLab(t, false, "")
	l.writeConfig("[ipv4]\naddress = \"198.51.100.99\"\n")
	cfg, err := conf.LoadHA(l.cfgPath)
	must(t, err)
	core, logs := observer.New(zap.WarnLevel)
	must(t, l.home.Do(func() (err error) {
		l.d, err = New(cfg, Options{Log: zap.New(core)})
		return err
	}))
	l.d.closeAll()
	if n := logs.FilterMessageSnippet("ipv4.address is not an address of this host").Len(); n != 1 {
		t.Errorf("%d warnings about the missing address; logs: %+v", n, logs.All())
	}
}

// TestDSMIPHostile: packets in the UDP tunnel of a registered node with a
// spoofed inner source, from another outer address, or from another port
// are dropped and counted; a forged Binding Update over IPv4 creates
// nothing; an unknown Mobility Header type gets a Binding Error back in
// UDP.
func TestDSMIPHostile(t *testing.T) {
	l, _ := newDSLab(t, false, "")
	l.start()
	m := l.newDSMN(true, netip.Addr{})
	must(t, m.exchange(m.reg.Moved(dMN4, time.Now()), mobilenode.Registered, 0))
	ha := netip.AddrPortFrom(dHA4, mip6.UDPPortDSMIP)

	cases := []struct {
		name   string
		from   netip.AddrPort
		src    netip.Addr
		reason tunnel.Reason
	}{
		{"spoofed inner source", netip.AddrPortFrom(dMN4, 4191), tOtherHoA, tunnel.ReasonNoBinding},
		{"wrong outer address", netip.AddrPortFrom(dMN4b, 4193), tHoA, tunnel.ReasonOuterSrc},
		{"wrong outer port", netip.AddrPortFrom(dMN4, 5555), tHoA, tunnel.ReasonPort},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn := m.conn
			if c.from.Port() != 4191 || c.from.Addr() != dMN4 {
				conn = listenIn(t, l.mn, c.from)
			}
			before := l.tunCount(tunnel.In, c.reason)
			ok := l.tunCount(tunnel.In, tunnel.ReasonOK)
			_, err := conn.WriteToUDPAddrPort(echo6(128, c.src, tHomeHost, 9, 0), ha)
			must(t, err)
			waitCount(t, c.reason.String(), func() uint64 { return l.tunCount(tunnel.In, c.reason) }, before+1)
			if n := l.tunCount(tunnel.In, tunnel.ReasonOK); n != ok {
				t.Errorf("decapsulated %d packets", n-ok)
			}
		})
	}

	// A forged Binding Update from elsewhere for the registered home
	// address: a key nobody has. Answered 146 at most; no state.
	t.Run("forged binding update", func(t *testing.T) {
		f, err := mobilenode.NewRegistration(mobilenode.Config{ID: "laptop@home.example", HomeAddress: tHoA, HomeAgent: tHA,
			HomeAgentIPv4: dHA4, Lifetime: 60 * time.Second, InitialSequence: 5000,
			SA: mobilenode.SA{SPI: 1000, Key: bytes.Repeat([]byte{7}, 32), Algorithm: binding.HMACSHA1_96}})
		must(t, err)
		out := f.Moved(dMN4b, time.Now())
		conn := listenIn(t, l.mn, netip.AddrPortFrom(dMN4b, 4194))
		pkt, _ := mip6.AppendMobilityPacket(nil, out.Send.Src, out.Send.Dst, netip.Addr{}, netip.Addr{}, 64, out.Send.MH)
		sig := l.d.c.sigUDP.Load()
		_, err = conn.WriteToUDPAddrPort(pkt, ha)
		must(t, err)
		waitCount(t, "signalling", l.d.c.sigUDP.Load, sig+1)
		st := l.status()
		if len(st.Bindings) != 1 || st.Bindings[0].CareOfAddress != dMN4.String() || st.Bindings[0].CareOfPort != 4191 {
			t.Fatalf("bindings after a forged BU: %+v", st.Bindings)
		}
		if b := l.d.table.Lookup(tHoA); b == nil || b.Endpoint().Remote != dMN4 {
			t.Fatalf("tunnel after a forged BU: %+v", b)
		}
	})

	// An unknown MH type over IPv4: a Binding Error status 2 back in UDP
	// (RFC 6275 §9.2), inner to the source it came from.
	t.Run("unknown mh type", func(t *testing.T) {
		mh := []byte{59, 0, 99, 0, 0, 0, 0, 0}
		mip6.SetMHChecksum(mh, tHoA, tHA)
		pkt := append(mip6.AppendIPv6Header(nil, uint16(len(mh)), mip6.ProtoMobility, 64, tHoA, tHA), mh...)
		_, err := m.conn.WriteToUDPAddrPort(pkt, ha)
		must(t, err)
		got, err := recv(m.conn, 3*time.Second, func(p []byte) bool {
			l, err := mip6.WalkIPv6(p)
			return err == nil && l.Proto == mip6.ProtoMobility && l.End-l.Offset >= 6 && mip6.MHType(p[l.Offset+2]) == mip6.MHBindingError
		})
		if err != nil {
			t.Fatalf("no Binding Error: %v", err)
		}
		lay, _ := mip6.WalkIPv6(got)
		msg, err := mip6.ParseMessage(got[lay.Offset:lay.End])
		must(t, err)
		be, ok := msg.(*mip6.BindingError)
		if !ok || be.Status != mip6.BEUnknownMHType || lay.Src != tHA || lay.Dst != tHoA {
			t.Fatalf("binding error %+v from %v to %v", msg, lay.Src, lay.Dst)
		}
	})
}

// TestDSMIPIPv4HomeAddress: a node asks for an IPv4 home address (RFC 5555
// §3.1.1); the home agent grants one from the pool, which is on the home
// link: a /32 route into the tun device and a proxy ARP entry on the home
// link; a ping from the home-link host reaches the node in its UDP tunnel;
// de-registration takes both away.
func TestDSMIPIPv4HomeAddress(t *testing.T) {
	l, _ := newDSLab(t, false, "home_pool = \"203.0.113.64/28\"\n")
	l.start()
	if !l.d.poolOnLink {
		t.Fatal("the pool on the home link's subnet is not seen as on-link")
	}
	m := l.newDSMN(false, netip.IPv4Unspecified())
	must(t, m.exchange(m.reg.Moved(dMN4, time.Now()), mobilenode.Registered, 0))
	if ev := m.registered(); ev.IPv4HomeAddress != dPoolHoA || !ev.UDP {
		t.Fatalf("registered %+v, want IPv4 home address %v in UDP", ev, dPoolHoA)
	}
	st := l.status()
	if len(st.Bindings) != 1 || st.Bindings[0].IPv4HomeAddress != dPoolHoA.String() {
		t.Fatalf("bindings %+v", st.Bindings)
	}
	r4, err := l.home.IP("-4", "route", "show", "proto", "109")
	must(t, err)
	if !strings.Contains(r4, "203.0.113.65 dev mip6ha0") {
		t.Errorf("IPv4 routes: %q", r4)
	}
	px, err := l.home.IP("-4", "neigh", "show", "proxy", "dev", "hl0")
	must(t, err)
	if !strings.Contains(px, "203.0.113.65") {
		t.Errorf("proxy ARP: %q", px)
	}
	l.pingFromHome(dPoolHoA)
	if _, err := recv(m.conn, 5*time.Second, func(p []byte) bool { return isEcho4(p, dHH4, dPoolHoA) }); err != nil {
		t.Fatalf("an IPv4 ping from the home link did not reach the node in UDP: %v", err)
	}

	must(t, m.exchange(m.reg.Deregister(time.Now()), mobilenode.Unregistered, 0))
	r4, err = l.home.IP("-4", "route", "show", "proto", "109")
	must(t, err)
	px, err2 := l.home.IP("-4", "neigh", "show", "proxy", "dev", "hl0")
	must(t, err2)
	if strings.Contains(r4, "203.0.113.65") || strings.Contains(px, "203.0.113.65") {
		t.Errorf("left after de-registration: routes %q proxy %q", r4, px)
	}
	if len(l.d.ds) != 0 {
		t.Errorf("DSMIPv6 state left: %+v", l.d.ds)
	}

	// Registered again, then had stops: the proxy entry, which does not
	// go with the tun device, is removed too.
	must(t, m.exchange(m.reg.Moved(dMN4, time.Now()), mobilenode.Registered, 0))
	px, err = l.home.IP("-4", "neigh", "show", "proxy", "dev", "hl0")
	must(t, err)
	if !strings.Contains(px, "203.0.113.65") {
		t.Fatalf("proxy ARP after registering again: %q", px)
	}
	l.stop()
	px, err = l.home.IP("-4", "neigh", "show", "proxy", "dev", "hl0")
	must(t, err)
	if strings.Contains(px, "203.0.113.65") {
		t.Errorf("proxy ARP left after shutdown: %q", px)
	}
}

// TestDSMIPReload: a changed [ipv4] section is refused whole.
func TestDSMIPReload(t *testing.T) {
	l, _ := newDSLab(t, false, "")
	_, reload := l.startReloadable()
	l.writeConfig("[ipv4]\naddress = \"198.51.100.2\"\nnat_keepalive = \"30s\"\n")
	changed, err := conf.LoadHA(l.cfgPath)
	must(t, err)
	reload <- changed
	var ka time.Duration
	l.d.do(context.Background(), func() { ka = l.d.cfg.IPv4.NATKeepalive.Std() })
	if ka != conf.DefaultNATKeepalive {
		t.Errorf("reload applied an [ipv4] change: nat_keepalive %v", ka)
	}
}

func TestOuterAddrPort(t *testing.T) {
	a4 := netip.MustParseAddr("192.0.2.7")
	for _, c := range []struct {
		in   tunnel.Outer
		want netip.AddrPort
	}{
		{tunnel.Outer{Kind: tunnel.KindUDP4, Src: a4, SrcPort: 61000}, netip.AddrPortFrom(a4, 61000)},
		{tunnel.Outer{Kind: tunnel.KindUDP4, Src: netip.AddrFrom16(a4.As16()), SrcPort: 4191}, netip.AddrPortFrom(a4, 4191)},
		{tunnel.Outer{Kind: tunnel.Kind6in4, Src: a4}, netip.AddrPortFrom(a4, 0)},
		{tunnel.Outer{Kind: tunnel.KindIPv6, Src: tCoA}, netip.AddrPort{}},
		{tunnel.Outer{Kind: tunnel.KindUDP4, Src: tCoA, SrcPort: 1}, netip.AddrPort{}},
		{tunnel.Outer{}, netip.AddrPort{}},
	} {
		if got := outerAddrPort(c.in); got != c.want {
			t.Errorf("outerAddrPort(%+v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestOuterEndpoint(t *testing.T) {
	local, nat := netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("203.0.113.9")
	got := []tunnel.Endpoint{
		outerEndpoint(local, netip.AddrPortFrom(nat, 40000)),
		outerEndpoint(local, netip.AddrPortFrom(nat, 0)),
	}
	want := []tunnel.Endpoint{
		{Kind: tunnel.KindUDP4, Local: local, Remote: nat, LocalPort: 4191, RemotePort: 40000},
		{Kind: tunnel.Kind6in4, Local: local, Remote: nat},
	}
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	for _, ep := range got {
		if err := ep.Validate(); err != nil {
			t.Errorf("%+v: %v", ep, err)
		}
	}
}

func TestPoolOnLink(t *testing.T) {
	pool := netip.MustParsePrefix("203.0.113.64/28")
	p := netip.MustParsePrefix
	for _, c := range []struct {
		link []netip.Prefix
		want bool
	}{
		{nil, false},
		{[]netip.Prefix{p("203.0.113.1/24")}, true},
		{[]netip.Prefix{p("198.51.100.2/24"), p("203.0.113.70/29")}, true},
		{[]netip.Prefix{p("203.0.113.1/26")}, false},
		{[]netip.Prefix{p("2001:db8::1/64")}, false},
	} {
		if got := poolOnLink(pool, c.link); got != c.want {
			t.Errorf("poolOnLink(%v, %v) = %v", pool, c.link, got)
		}
	}
	if poolOnLink(netip.Prefix{}, []netip.Prefix{p("203.0.113.1/24")}) {
		t.Error("no pool is on-link")
	}
}

func TestSameIPv4(t *testing.T) {
	a := &conf.HAIPv4{Address: dHA4, NATKeepalive: conf.Duration(conf.DefaultNATKeepalive)}
	b := *a
	c := *a
	c.HomePool = netip.MustParsePrefix("203.0.113.64/28")
	d := *a
	d.Address = dNATOut
	for _, x := range []struct {
		a, b *conf.HAIPv4
		want bool
	}{
		{nil, nil, true}, {a, nil, false}, {nil, a, false}, {a, &b, true}, {a, &c, false}, {a, &d, false},
	} {
		if got := sameIPv4(x.a, x.b); got != x.want {
			t.Errorf("sameIPv4(%+v, %+v) = %v", x.a, x.b, got)
		}
	}
}

// TestOnSignalQueue: the forwarder's hand-off never blocks; a full queue
// drops and counts.
func TestOnSignalQueue(t *testing.T) {
	d := &Daemon{sigq: make(chan sigPacket, 2)}
	o := tunnel.Outer{Kind: tunnel.KindUDP4, Src: dMN4, SrcPort: 4191}
	for range 5 {
		d.onSignal([]byte{0x60}, o)
	}
	if got := len(d.sigq); got != 2 {
		t.Errorf("queued %d, want 2", got)
	}
	if got := d.c.sigQueueFull.Load(); got != 3 {
		t.Errorf("queue full drops %d, want 3", got)
	}
}

// TestHandleSignalMalformed: what is not a Mobility Header packet over
// IPv4 is counted malformed before anything reaches the core (d.ha is nil
// here: reaching it would panic).
func TestHandleSignalMalformed(t *testing.T) {
	mh := []byte{59, 0, 5, 0, 0, 0, 0, 0}
	good := append(mip6.AppendIPv6Header(nil, uint16(len(mh)), mip6.ProtoMobility, 64, tHoA, tHA), mh...)
	for _, c := range []struct {
		name  string
		pkt   []byte
		outer tunnel.Outer
	}{
		{"short", []byte{0x60, 0}, tunnel.Outer{Kind: tunnel.KindUDP4, Src: dMN4, SrcPort: 4191}},
		{"not mobility", echo6(128, tHoA, tHA, 1, 1), tunnel.Outer{Kind: tunnel.Kind6in4, Src: dMN4}},
		{"ipv6 outer", good, tunnel.Outer{Kind: tunnel.KindIPv6, Src: tCoA}},
		{"truncated mh", good[:44], tunnel.Outer{Kind: tunnel.KindUDP4, Src: dMN4, SrcPort: 4191}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := &Daemon{}
			d.handleSignal(sigPacket{pkt: c.pkt, outer: c.outer})
			if got := d.c.malformed.Load(); got != 1 {
				t.Errorf("malformed %d, want 1", got)
			}
		})
	}
}

// TestDSMIPRefreshRequest: a binding over IPv4 that nears its end without
// a refresh gets a Binding Refresh Request (RFC 6275 §9.5.5) inside its
// own encapsulation, inner to the home address; the node's refresh
// answers it. The home agent's clock is moved on instead of waiting.
func TestDSMIPRefreshRequest(t *testing.T) {
	l, _ := newDSLab(t, true, "")
	var offset atomic.Int64
	cfg, err := conf.LoadHA(l.cfgPath)
	must(t, err)
	must(t, l.home.Do(func() (err error) {
		l.d, err = New(cfg, Options{Log: zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)),
			Now: func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }})
		return err
	}))
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan error, 1)
	go func() { l.done <- l.d.Run(ctx, nil) }()
	t.Cleanup(l.stop)

	m := l.newDSMN(false, netip.Addr{})
	must(t, m.exchange(m.reg.Moved(dMN4, time.Now()), mobilenode.Registered, 0))
	// 60 s granted: due at 7/8, 52.5 s. A status request makes the loop
	// re-arm its timer with the new time.
	offset.Store(int64(55 * time.Second))
	l.status()
	got, err := recv(m.conn, 3*time.Second, func(p []byte) bool {
		lay, err := mip6.WalkIPv6(p)
		return err == nil && lay.Proto == mip6.ProtoMobility && mip6.MHType(p[lay.Offset+2]) == mip6.MHBindingRefreshRequest
	})
	if err != nil {
		t.Fatalf("no Binding Refresh Request in the UDP tunnel: %v", err)
	}
	lay, _ := mip6.WalkIPv6(got)
	if lay.Src != tHA || lay.Dst != tHoA || !mip6.VerifyMHChecksum(got[lay.Offset:lay.End], tHA, tHoA) {
		t.Fatalf("refresh request from %v to %v, checksum ok %v", lay.Src, lay.Dst, mip6.VerifyMHChecksum(got[lay.Offset:lay.End], tHA, tHoA))
	}
	if st := l.status(); st.Counters["brr_sent"] != 1 {
		t.Errorf("brr_sent %d", st.Counters["brr_sent"])
	}
	// The node answers with a refresh (its clock moved on too).
	out, err := m.reg.HandleMH(mobilenode.Packet{Src: lay.Src, Dst: lay.Dst, MH: got[lay.Offset:lay.End]}, time.Now().Add(55*time.Second))
	must(t, err)
	must(t, m.exchange(out, mobilenode.Registered, 55*time.Second))
	if st := l.status(); st.Counters["bindings_refreshed"] != 1 {
		t.Errorf("bindings_refreshed %d", st.Counters["bindings_refreshed"])
	}
}

// TestDSMIPKeepalive: an empty UDP datagram to port 4191, the NAT
// keepalive some mobile nodes send, is counted as a keepalive and not as
// a malformed tunnel packet (which would alarm an operator).
func TestDSMIPKeepalive(t *testing.T) {
	l, _ := newDSLab(t, false, "")
	l.start()
	c := listenIn(t, l.mn, netip.AddrPortFrom(netip.IPv4Unspecified(), 0))
	for range 3 {
		if _, err := c.WriteToUDPAddrPort(nil, netip.AddrPortFrom(dHA4, mip6.UDPPortDSMIP)); err != nil {
			t.Fatal(err)
		}
	}
	waitCount(t, "keepalives", func() uint64 { return l.d.fwd.Stats().Keepalives }, 3)
	if n := l.tunCount(tunnel.In, tunnel.ReasonMalformed); n != 0 {
		t.Errorf("%d malformed tunnel packets", n)
	}
	body, err := control.NewClient(l.dir+"/had.sock").Get(t.Context(), "/v1/metrics")
	must(t, err)
	if !strings.Contains(string(body), "mip6_tunnel_nat_keepalives_total 3\n") {
		t.Errorf("metrics lack the keepalives:\n%s", body)
	}
}
