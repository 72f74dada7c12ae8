package had

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/net/icmp"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/internal/control"
	"github.com/gomip6/gomip6/internal/netlab"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/tunnel"
)

// The uplink's addresses: a tunnel broker at 198.51.100.2 routes
// 2001:db8:1000::/48 to the home router at 203.0.113.2 over 6in4; the
// tunnel link is 2001:db8:ff::/64 (broker ::1, router ::2); the home link
// is 2001:db8:1000:1::/64; the "internet" is 2001:db8:ffff::/64 behind
// the broker.
var (
	upLocal4  = netip.MustParseAddr("203.0.113.2")
	upRemote4 = netip.MustParseAddr("198.51.100.2")
	upISP4    = netip.MustParseAddr("203.0.113.1") // an IPv4 router between them
	upLocal6  = netip.MustParseAddr("2001:db8:ff::2")
	upRemote6 = netip.MustParseAddr("2001:db8:ff::1")
	upRouted  = netip.MustParsePrefix("2001:db8:1000::/48")
	upHome    = netip.MustParsePrefix("2001:db8:1000:1::/64")
	upHA      = netip.MustParseAddr("2001:db8:1000:1::1")
	upInet    = netip.MustParseAddr("2001:db8:ffff::2")
	upOutside = netip.MustParseAddr("2001:db8:9999::1") // not routed to us
)

func testUplink() *conf.Uplink {
	return &conf.Uplink{
		Type: "6in4", Interface: conf.DefaultUplinkInterface,
		LocalIPv4: upLocal4, RemoteIPv4: upRemote4, LocalIPv6: upLocal6, RemoteIPv6: upRemote6,
		RoutedPrefix: upRouted, MTU: conf.DefaultUplinkMTU,
	}
}

// ip6udp builds an IPv6 packet carrying a UDP datagram with a correct
// checksum (RFC 8200 §8.1, RFC 768), by hand from the RFCs' layouts.
func ip6udp(src, dst netip.Addr, dport uint16, payload []byte) []byte {
	p := make([]byte, 40+8+len(payload))
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:], uint16(8+len(payload)))
	p[6] = 17 // UDP
	p[7] = 64
	s, d := src.As16(), dst.As16()
	copy(p[8:], s[:])
	copy(p[24:], d[:])
	u := p[40:]
	binary.BigEndian.PutUint16(u[0:], 40000)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	copy(u[8:], payload)
	c := mip6.PseudoHeaderChecksum(src, dst, 17, u)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], c)
	return p
}

// ip4proto41 puts inner behind an IPv4 header with protocol 41 (RFC 4213
// §3.5; RFC 791 layout, header checksum over the header).
func ip4proto41(src, dst netip.Addr, inner []byte) []byte {
	p := make([]byte, 20+len(inner))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	p[6] = 0x40 // DF
	p[8] = 64
	p[9] = 41
	s, d := src.As4(), dst.As4()
	copy(p[12:], s[:])
	copy(p[16:], d[:])
	binary.BigEndian.PutUint16(p[10:], mip6.ChecksumFold(mip6.ChecksumAdd(0, p[:20])))
	copy(p[20:], inner)
	return p
}

// TestUplinkTunnel checks the uplink's tunnel without a kernel: what it
// accepts from the broker, what it sends to it, and the Packet Too Big it
// answers an oversized packet with.
func TestUplinkTunnel(t *testing.T) {
	u := testUplink()
	tun, err := newUplinkTunnel(u, upHA)
	if err != nil {
		t.Fatal(err)
	}
	homeHost := netip.MustParseAddr("2001:db8:1000:1::50")
	other := netip.MustParseAddr("2001:db8:1000:7::9") // routed, not on the home link
	in := []struct {
		name     string
		src, dst netip.Addr // outer
		isrc     netip.Addr // inner
		idst     netip.Addr
		want     tunnel.Reason
	}{
		{"to a home host", upRemote4, upLocal4, upInet, homeHost, tunnel.ReasonOK},
		{"to the routed prefix", upRemote4, upLocal4, upInet, other, tunnel.ReasonOK},
		{"to local_ipv6", upRemote4, upLocal4, upInet, upLocal6, tunnel.ReasonOK},
		{"from the broker's tunnel address", upRemote4, upLocal4, upRemote6, upLocal6, tunnel.ReasonOK},
		{"outside the routed prefix", upRemote4, upLocal4, upInet, upOutside, tunnel.ReasonNoBinding},
		{"the tunnel link's other addresses", upRemote4, upLocal4, upInet, netip.MustParseAddr("2001:db8:ff::3"), tunnel.ReasonNoBinding},
		{"from another IPv4 source", upISP4, upLocal4, upInet, homeHost, tunnel.ReasonOuterSrc},
		{"to another IPv4 address", upRemote4, netip.MustParseAddr("203.0.113.9"), upInet, homeHost, tunnel.ReasonOuterDst},
		{"link-local inner destination", upRemote4, upLocal4, upInet, netip.MustParseAddr("fe80::1"), tunnel.ReasonInnerDst},
		{"multicast inner destination", upRemote4, upLocal4, upInet, netip.MustParseAddr("ff02::1"), tunnel.ReasonInnerDst},
		{"link-local inner source", upRemote4, upLocal4, netip.MustParseAddr("fe80::1"), homeHost, tunnel.ReasonInnerSrc},
	}
	for _, c := range in {
		inner := ip6udp(c.isrc, c.idst, 9, []byte("x"))
		got, v := tun.Input(ip4proto41(c.src, c.dst, inner))
		if v.Reason != c.want {
			t.Errorf("in, %s: reason %v, want %v", c.name, v.Reason, c.want)
			continue
		}
		if c.want == tunnel.ReasonOK && !bytes.Equal(got, inner) {
			t.Errorf("in, %s: inner packet changed: %x, want %x", c.name, got, inner)
		}
	}

	out := []struct {
		name string
		src  netip.Addr
		want tunnel.Reason
	}{
		{"from a home host", homeHost, tunnel.ReasonOK},
		{"from local_ipv6", upLocal6, tunnel.ReasonOK},
		{"from the routed prefix", other, tunnel.ReasonOK},
		{"from outside the routed prefix", upOutside, tunnel.ReasonNoBinding},
		{"from the broker's address", upRemote6, tunnel.ReasonNoBinding},
	}
	for _, c := range out {
		inner := ip6udp(c.src, upInet, 9, []byte("hello"))
		buf := append(make([]byte, tunnel.Headroom), inner...)
		pkt, v := tun.Output(buf, tunnel.Headroom)
		if v.Reason != c.want {
			t.Errorf("out, %s: reason %v, want %v", c.name, v.Reason, c.want)
			continue
		}
		if c.want != tunnel.ReasonOK {
			continue
		}
		// The outer header, field by field (RFC 791, RFC 4213 §3.5).
		want := ip4proto41(upLocal4, upRemote4, inner)
		if len(pkt) != len(want) || pkt[0] != 0x45 || pkt[9] != 41 || !bytes.Equal(pkt[12:20], want[12:20]) ||
			binary.BigEndian.Uint16(pkt[2:]) != uint16(len(want)) || pkt[6]&0x40 == 0 ||
			mip6.ChecksumFold(mip6.ChecksumAdd(0, pkt[:20])) != 0 || !bytes.Equal(pkt[20:], inner) {
			t.Errorf("out, %s: outer packet\n%x\nwant (but for TTL, TOS, ID)\n%x", c.name, pkt, want)
		}
	}

	// One octet over the tunnel MTU: a Packet Too Big from home.address
	// with MTU 1480 (RFC 4213 §3.2, RFC 4443 §3.2) back to the source.
	big := ip6udp(homeHost, upInet, 9, make([]byte, u.MTU+1-48))
	buf := append(make([]byte, tunnel.Headroom), big...)
	pkt, v := tun.Output(buf, tunnel.Headroom)
	if v.Action != tunnel.ActionReply || v.Reason != tunnel.ReasonTooBig {
		t.Fatalf("%d-octet packet: %v/%v, want a Packet Too Big", len(big), v.Action, v.Reason)
	}
	src, _ := netip.AddrFromSlice(pkt[8:24])
	dst, _ := netip.AddrFromSlice(pkt[24:40])
	got := struct {
		Src, Dst  netip.Addr
		Type, MTU uint32
	}{src, dst, uint32(pkt[40]), binary.BigEndian.Uint32(pkt[44:])}
	want := struct {
		Src, Dst  netip.Addr
		Type, MTU uint32
	}{upHA, homeHost, 2, 1480}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("Packet Too Big (-want +got):\n%s", diff)
	}
}

func TestUplinkKeys(t *testing.T) {
	inside := testUplink()
	inside.LocalIPv6 = netip.MustParseAddr("2001:db8:1000:ff::2")
	for _, c := range []struct {
		name string
		u    *conf.Uplink
		want []netip.Prefix
	}{
		{"local_ipv6 outside", testUplink(), []netip.Prefix{upRouted, netip.MustParsePrefix("2001:db8:ff::2/128")}},
		{"local_ipv6 inside", inside, []netip.Prefix{upRouted}},
	} {
		if diff := cmp.Diff(c.want, uplinkKeys(c.u), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
	if ep := uplinkEndpoint(testUplink()); ep.PathMTU != 1500 || ep.Kind != tunnel.Kind6in4 {
		t.Errorf("endpoint %+v: want 6in4 with path MTU 1500 (1480 + 20)", ep)
	}
	changed := testUplink()
	changed.MTU = 1400
	for _, c := range []struct {
		a, b *conf.Uplink
		want bool
	}{{nil, nil, false}, {testUplink(), nil, true}, {nil, testUplink(), true}, {testUplink(), testUplink(), false}, {testUplink(), changed, true}} {
		if got := uplinkChanged(c.a, c.b); got != c.want {
			t.Errorf("uplinkChanged(%v, %v) = %v", c.a, c.b, got)
		}
	}
}

// upLab is the uplink's network:
//
//	hh hh0 ── hl0  r  ru0 ── iu0  isp  ib0 ── bi0  broker  bn0 ── in0  inet
//	 (SLAAC)  ::1     203.0.113.2  .1  198.51.100.1  .2    ffff::1    ffff::2
//	                  mip6up0 (had)    MTU 1400 ───────    brk0 (forwarder)
//
// had runs in r with an [uplink] and no mobile node; the broker's end of
// the 6in4 tunnel is a tunnel.Forwarder in its namespace (the kernel has
// no sit). The IPv4 link isp–broker has an MTU of 1400, so had's full-size
// 6in4 packets meet a Fragmentation Needed on the way.
type upLab struct {
	t                       *testing.T
	hh, r, isp, broker, web *netlab.NS
	dir                     string
	d                       *Daemon
	extra                   string // appended to had.toml
	cancel                  context.CancelFunc
	done                    chan error
}

func newUpLab(t *testing.T) *upLab {
	netlab.SkipUnlessRoot(t)
	l := &upLab{t: t, dir: t.TempDir()}
	nl, err := netlab.New(t)
	must(t, err)
	for _, p := range []struct {
		ns   **netlab.NS
		name string
	}{{&l.hh, "hh"}, {&l.r, "r"}, {&l.isp, "isp"}, {&l.broker, "broker"}, {&l.web, "inet"}} {
		*p.ns, err = nl.NS(p.name)
		must(t, err)
		must(t, (*p.ns).DisableDAD())
	}
	must(t, nl.Link(l.r, "hl0", l.hh, "hh0"))
	must(t, nl.Link(l.r, "ru0", l.isp, "iu0"))
	must(t, nl.Link(l.isp, "ib0", l.broker, "bi0"))
	must(t, nl.Link(l.broker, "bn0", l.web, "in0"))
	for _, a := range []struct {
		ns           *netlab.NS
		ifname, cidr string
	}{
		{l.r, "hl0", "2001:db8:1000:1::1/64"}, {l.r, "ru0", "203.0.113.2/24"},
		{l.isp, "iu0", "203.0.113.1/24"}, {l.isp, "ib0", "198.51.100.1/24"},
		{l.broker, "bi0", "198.51.100.2/24"}, {l.broker, "bn0", "2001:db8:ffff::1/64"},
		{l.web, "in0", "2001:db8:ffff::2/64"},
	} {
		must(t, a.ns.Addr(a.ifname, a.cidr))
	}
	_, err = l.isp.IP("link", "set", "ib0", "mtu", "1400")
	must(t, err)
	_, err = l.broker.IP("link", "set", "bi0", "mtu", "1400")
	must(t, err)
	must(t, l.isp.Forwarding(false, true))
	must(t, l.broker.Forwarding(true, false))
	must(t, l.r.Route("0.0.0.0/0", "via", "203.0.113.1"))
	must(t, l.broker.Route("203.0.113.0/24", "via", "198.51.100.1"))
	must(t, l.web.Route("default", "via", "2001:db8:ffff::1"))
	l.startBroker()
	return l
}

// startBroker runs the broker's end of the tunnel: a home-agent-role
// tunnel (keyed on the inner destination out, the inner source in) whose
// table routes the routed prefix and the router's tunnel address to the
// router's IPv4 address.
func (l *upLab) startBroker() {
	t := l.t
	table := tunnel.NewTable(0)
	ep := tunnel.Endpoint{Kind: tunnel.Kind6in4, Local: upRemote4, Remote: upLocal4, PathMTU: 1400}
	must(t, table.Set(upRouted, ep))
	must(t, table.Set(netip.PrefixFrom(upLocal6, 128), ep))
	tun, err := tunnel.New(tunnel.Config{Role: tunnel.RoleHomeAgent, ErrorSource: upRemote6}, table)
	must(t, err)
	var fwd *tunnel.Forwarder
	must(t, l.broker.Do(func() (err error) {
		fwd, err = tunnel.NewForwarder(tun, tunnel.ForwarderConfig{Name: "brk0", MTU: 1380, IPv4: true, Queues: 1,
			OnError: func(err error) { t.Errorf("broker forwarder: %v", err) }})
		return err
	}))
	t.Cleanup(func() { fwd.Close() })
	_, err = l.broker.IP("-6", "addr", "add", upRemote6.String(), "peer", upLocal6.String(), "dev", "brk0")
	must(t, err)
	must(t, l.broker.Route(upRouted.String(), "dev", "brk0"))
}

func (l *upLab) config() string {
	return fmt.Sprintf(`
state_file = %q
[home]
interface = "hl0"
prefix = "2001:db8:1000:1::/64"
address = "2001:db8:1000:1::1"
[router_advertisements]
max_interval = "1s"
[uplink]
type = "6in4"
local_ipv4 = "203.0.113.2"
remote_ipv4 = "198.51.100.2"
local_ipv6 = "2001:db8:ff::2"
remote_ipv6 = "2001:db8:ff::1"
routed_prefix = "2001:db8:1000::/48"
[control]
socket = %q
%s`, filepath.Join(l.dir, "had.state"), filepath.Join(l.dir, "had.sock"), l.extra)
}

func (l *upLab) start() {
	t := l.t
	p := filepath.Join(l.dir, "had.toml")
	must(t, os.WriteFile(p, []byte(l.config()), 0o600))
	cfg, err := conf.LoadHA(p)
	must(t, err)
	if len(cfg.MobileNodes) != 0 {
		t.Fatal("the uplink lab runs had with no mobile node")
	}
	log := zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
	must(t, l.r.Do(func() (err error) {
		l.d, err = New(cfg, Options{Log: log})
		return err
	}))
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan error, 1)
	go func() { l.done <- l.d.Run(ctx, nil) }()
	t.Cleanup(l.stop)
}

func (l *upLab) stop() {
	if l.cancel == nil {
		return
	}
	l.cancel()
	l.cancel = nil
	select {
	case err := <-l.done:
		must(l.t, err)
	case <-time.After(10 * time.Second):
		l.t.Fatal("had did not stop")
	}
}

func (l *upLab) counters() tunnel.Snapshot { return l.d.up.tun.Counters.Snapshot() }

// eventually polls cond every 20 ms until it holds or timeout passes.
func eventually(timeout time.Duration, cond func() bool) bool {
	for end := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

// slaac waits for the home host to configure an address in the home
// prefix from had's Router Advertisements, and a default route through
// had's link-local address.
func (l *upLab) slaac() netip.Addr {
	t := l.t
	var addr netip.Addr
	ok := eventually(8*time.Second, func() bool {
		out, err := l.hh.IP("-6", "-o", "addr", "show", "dev", "hh0", "scope", "global")
		if err != nil {
			return false
		}
		for _, f := range strings.Fields(out) {
			if p, err := netip.ParsePrefix(f); err == nil && upHome.Contains(p.Addr()) {
				addr = p.Addr()
			}
		}
		rt, err := l.hh.IP("-6", "route", "show", "default")
		return addr.IsValid() && err == nil && strings.Contains(rt, "via fe80:")
	})
	if !ok {
		out, _ := l.hh.IP("-6", "addr")
		rt, _ := l.hh.IP("-6", "route")
		t.Fatalf("the home host did not autoconfigure from had's RAs:\n%s\n%s", out, rt)
	}
	return addr
}

// send41 sends inner as 6in4 from inside ns, to the router's IPv4
// address, with the IPv4 source the kernel picks there.
func send41(ns *netlab.NS, inner []byte) error {
	var c net.PacketConn
	if err := ns.Do(func() (err error) {
		c, err = net.ListenPacket("ip4:41", "0.0.0.0")
		return err
	}); err != nil {
		return err
	}
	defer c.Close()
	_, err := c.WriteTo(inner, &net.IPAddr{IP: upLocal4.AsSlice()})
	return err
}

// TestUplink is the home router of issue 8 item 4: had with a 6in4
// [uplink] and no mobile node. A host on the home link autoconfigures
// from had's RAs and reaches the internet only through the uplink (ping,
// TCP); oversized packets get Packet Too Big, from the kernel for the tun
// device's MTU and from the tunnel for a smaller IPv4 path; spoofed 6in4
// is dropped and counted; shutdown and -cleanup leave nothing behind.
func TestUplink(t *testing.T) {
	l := newUpLab(t)

	// Before had runs, the internet is unreachable from the router.
	if err := l.r.Ping(upInet, 300*time.Millisecond); err == nil {
		t.Fatal("the router reaches the internet without its uplink")
	}

	// A default route of someone else's is not replaced: New fails and
	// leaves nothing behind.
	_, err := l.r.IP("-6", "route", "add", "default", "via", "fe80::99", "dev", "hl0", "metric", "1024")
	must(t, err)
	p := filepath.Join(l.dir, "had.toml")
	must(t, os.WriteFile(p, []byte(l.config()), 0o600))
	cfg, err := conf.LoadHA(p)
	must(t, err)
	err = l.r.Do(func() error {
		d, err := New(cfg, Options{})
		if err == nil {
			d.closeAll()
		}
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "default IPv6 route") {
		t.Errorf("New with a default route already there: %v", err)
	}
	if out, err := l.r.IP("link", "show", "mip6up0"); err == nil {
		t.Errorf("mip6up0 left after a failed New: %s", out)
	}
	_, err = l.r.IP("-6", "route", "del", "default", "via", "fe80::99", "dev", "hl0")
	must(t, err)

	l.start()

	// What had installed.
	link, err := l.r.IP("-o", "link", "show", "mip6up0")
	must(t, err)
	if !strings.Contains(link, "mtu 1480") {
		t.Errorf("uplink device: %s; want mtu 1480", link)
	}
	def, err := l.r.IP("-6", "route", "show", "default")
	must(t, err)
	if !strings.Contains(def, "via 2001:db8:ff::1 dev mip6up0 proto 109") {
		t.Errorf("default route %q, want via 2001:db8:ff::1 dev mip6up0 proto 109", def)
	}
	un, err := l.r.IP("-6", "route", "show", "type", "unreachable")
	must(t, err)
	if !strings.Contains(un, "2001:db8:1000::/48") || !strings.Contains(un, "proto 109") {
		t.Errorf("unreachable routes %q, want 2001:db8:1000::/48 proto 109", un)
	}

	hostAddr := l.slaac()
	t.Logf("home host autoconfigured %s", hostAddr)

	// The router itself (from local_ipv6) and the home host reach the
	// internet host.
	c0 := l.counters()
	must(t, l.r.Ping(upInet, 3*time.Second))
	must(t, l.hh.Ping(upInet, 3*time.Second))
	c1 := l.counters()
	if c1.Get(tunnel.Out, tunnel.ReasonOK).Packets < c0.Get(tunnel.Out, tunnel.ReasonOK).Packets+2 ||
		c1.Get(tunnel.In, tunnel.ReasonOK).Packets < c0.Get(tunnel.In, tunnel.ReasonOK).Packets+2 {
		t.Errorf("uplink counters did not move with the pings: out/ok %d -> %d, in/ok %d -> %d",
			c0.Get(tunnel.Out, tunnel.ReasonOK).Packets, c1.Get(tunnel.Out, tunnel.ReasonOK).Packets,
			c0.Get(tunnel.In, tunnel.ReasonOK).Packets, c1.Get(tunnel.In, tunnel.ReasonOK).Packets)
	}

	t.Run("PacketTooBig", func(t *testing.T) { l.packetTooBig(t, hostAddr) })
	t.Run("TCP", func(t *testing.T) { l.tcp(t) })
	t.Run("Spoofed", func(t *testing.T) { l.spoofed(t, hostAddr) })

	// The control socket shows the uplink, the metrics count it.
	body, err := control.NewClient(filepath.Join(l.dir, "had.sock")).Get(context.Background(), "/v1/status")
	must(t, err)
	var st Status
	must(t, json.Unmarshal(body, &st))
	if st.Uplink == nil || st.Uplink.Interface != "mip6up0" || st.Uplink.Tunnel.Get(tunnel.Out, tunnel.ReasonOK).Packets == 0 {
		t.Errorf("status uplink: %+v", st.Uplink)
	}
	metrics, err := control.NewClient(filepath.Join(l.dir, "had.sock")).Get(context.Background(), "/v1/metrics")
	must(t, err)
	if !bytes.Contains(metrics, []byte(`mip6_uplink_packets_total{direction="in",reason="ok"}`)) {
		t.Errorf("metrics lack the uplink's counters:\n%s", metrics)
	}

	for d := range tunnel.NumDirections {
		for r := range tunnel.NumReasons {
			if c := l.counters().Get(d, r); c.Packets != 0 {
				t.Logf("uplink %v/%v: %d packets", d, r, c.Packets)
			}
		}
	}

	// SIGTERM: the device, the default route and the unreachable route go.
	l.stop()
	if out, err := l.r.IP("link", "show", "mip6up0"); err == nil {
		t.Errorf("mip6up0 left after shutdown: %s", out)
	}
	if out, err := l.r.IP("-6", "route", "show", "proto", "109"); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("routes left after shutdown: %q %v", out, err)
	}

	// -cleanup removes what a killed had leaves: the unreachable route.
	_, err = l.r.IP("-6", "route", "add", "unreachable", "2001:db8:1000::/48", "proto", "109")
	must(t, err)
	var out bytes.Buffer
	must(t, l.r.Do(func() error { return Cleanup("", &out) }))
	if !strings.Contains(out.String(), "removed the uplink's unreachable route 2001:db8:1000::/48") {
		t.Errorf("cleanup said %q", out.String())
	}
	if rt, err := l.r.IP("-6", "route", "show", "proto", "109"); err != nil || strings.TrimSpace(rt) != "" {
		t.Errorf("routes left after cleanup: %q %v", rt, err)
	}
}

// packetTooBig sends UDP from the home host to the internet: 1500 octets
// (more than the tun device's 1480: the kernel's Packet Too Big), then
// 1480 (fits the tunnel, but the 1500-octet 6in4 packet meets the
// 1400-octet IPv4 link: Fragmentation Needed, which the uplink relays as
// a Packet Too Big with MTU 1380 from home.address).
func (l *upLab) packetTooBig(t *testing.T, hostAddr netip.Addr) {
	var ic *icmp.PacketConn
	var uc *net.UDPConn
	must(t, l.hh.Do(func() (err error) {
		if ic, err = icmp.ListenPacket("ip6:ipv6-icmp", "::"); err != nil {
			return err
		}
		uc, err = net.DialUDP("udp6", &net.UDPAddr{IP: hostAddr.AsSlice()}, &net.UDPAddr{IP: upInet.AsSlice(), Port: 9})
		return err
	}))
	defer ic.Close()
	defer uc.Close()

	type ptb struct {
		From netip.Addr
		MTU  int
	}
	// wait sends size-octet packets until a Packet Too Big arrives.
	wait := func(size int) (ptb, bool) {
		buf := make([]byte, 1500)
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
			uc.Write(make([]byte, size-48))
			ic.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			for {
				n, from, err := ic.ReadFrom(buf)
				if err != nil {
					break
				}
				m, err := icmp.ParseMessage(58, buf[:n])
				if err != nil {
					continue
				}
				if p, ok := m.Body.(*icmp.PacketTooBig); ok {
					a, _ := netip.AddrFromSlice(from.(*net.IPAddr).IP)
					return ptb{a, p.MTU}, true
				}
			}
		}
		return ptb{}, false
	}
	c0 := l.counters()
	got, ok := wait(1500)
	if !ok {
		t.Fatal("no Packet Too Big for a 1500-octet packet")
	}
	if want := (ptb{upHA, 1480}); got != want {
		t.Errorf("1500 octets: Packet Too Big %+v, want %+v (the kernel, for mip6up0's MTU)", got, want)
	}
	got, ok = wait(1480)
	if !ok {
		t.Fatal("no Packet Too Big for a 1480-octet packet over the 1400-octet IPv4 path")
	}
	if want := (ptb{upHA, 1380}); got != want {
		t.Errorf("1480 octets: Packet Too Big %+v, want %+v (relayed by the uplink tunnel)", got, want)
	}
	c1 := l.counters()
	if c1.PathMTULowered <= c0.PathMTULowered || c1.PTBSent.Packets <= c0.PTBSent.Packets {
		t.Errorf("uplink counters: path MTU lowered %d -> %d, PTB sent %d -> %d", c0.PathMTULowered, c1.PathMTULowered,
			c0.PTBSent.Packets, c1.PTBSent.Packets)
	}
	if b := l.d.up.table.Lookup(hostAddr); b == nil || b.PathMTU() != 1400 {
		t.Errorf("uplink path MTU not lowered to 1400: %v", b)
	}
}

// tcp echoes 256 KiB through a TCP connection from the home host to the
// internet host, across the uplink both ways.
func (l *upLab) tcp(t *testing.T) {
	var ln net.Listener
	must(t, l.web.Do(func() (err error) {
		ln, err = net.Listen("tcp6", netip.AddrPortFrom(upInet, 5001).String())
		return err
	}))
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	var c net.Conn
	must(t, l.hh.Do(func() (err error) {
		c, err = net.DialTimeout("tcp6", netip.AddrPortFrom(upInet, 5001).String(), 5*time.Second)
		return err
	}))
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	data := make([]byte, 256<<10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	c0 := l.counters()
	errc := make(chan error, 1)
	go func() { _, err := c.Write(data); errc <- err }()
	back := make([]byte, len(data))
	if _, err := io.ReadFull(c, back); err != nil {
		t.Fatalf("echo: %v", err)
	}
	must(t, <-errc)
	if !bytes.Equal(back, data) {
		t.Fatal("echo differs")
	}
	c1 := l.counters()
	if out := c1.Get(tunnel.Out, tunnel.ReasonOK).Bytes - c0.Get(tunnel.Out, tunnel.ReasonOK).Bytes; out < uint64(len(data)) {
		t.Errorf("uplink encapsulated %d octets for a %d-octet transfer", out, len(data))
	}
	if in := c1.Get(tunnel.In, tunnel.ReasonOK).Bytes - c0.Get(tunnel.In, tunnel.ReasonOK).Bytes; in < uint64(len(data)) {
		t.Errorf("uplink decapsulated %d octets for a %d-octet transfer", in, len(data))
	}
}

// spoofed sends 6in4 packets to the router by hand: from the ISP's router
// (not the broker) and from the broker for an address outside the routed
// prefix, which are dropped and counted; and a genuine one from the
// broker, which the home host receives (so that the drops mean something).
func (l *upLab) spoofed(t *testing.T, hostAddr netip.Addr) {
	var rc *net.UDPConn
	must(t, l.hh.Do(func() (err error) {
		rc, err = net.ListenUDP("udp6", &net.UDPAddr{IP: hostAddr.AsSlice(), Port: 7777})
		return err
	}))
	defer rc.Close()
	c0 := l.counters()
	must(t, send41(l.isp, ip6udp(upInet, hostAddr, 7777, []byte("spoofed outer source"))))
	must(t, send41(l.broker, ip6udp(upInet, upOutside, 7777, []byte("outside the routed prefix"))))
	must(t, send41(l.broker, ip6udp(netip.MustParseAddr("fe80::1"), hostAddr, 7777, []byte("link-local inner source"))))
	must(t, send41(l.broker, ip6udp(upInet, hostAddr, 7777, []byte("genuine"))))
	rc.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 100)
	n, err := rc.Read(buf)
	if err != nil {
		t.Fatalf("the genuine 6in4 packet did not arrive: %v", err)
	}
	if string(buf[:n]) != "genuine" {
		t.Errorf("the home host received %q", buf[:n])
	}
	c1 := l.counters()
	for _, r := range []tunnel.Reason{tunnel.ReasonOuterSrc, tunnel.ReasonNoBinding, tunnel.ReasonInnerSrc} {
		if d := c1.Get(tunnel.In, r).Packets - c0.Get(tunnel.In, r).Packets; d != 1 {
			t.Errorf("in/%v counted %d, want 1", r, d)
		}
	}
	rc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := rc.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the home host received %q (%v) after the genuine packet", buf[:n], err)
	}
}

// TestUplinkWithDSMIP runs the uplink next to Dual-Stack MIPv6 on the same
// IPv4 address ([ipv4] address = uplink.local_ipv4, the usual home router
// with one public IPv4 address). Both forwarders then have a protocol-41
// raw socket and both see every 6in4 packet: each drops the other's. The
// uplink must still work; what the home agent's tunnel drops of the
// uplink's traffic is logged (in/no_binding on the home agent's tunnel:
// inner sources on the internet are nobody's home address).
func TestUplinkWithDSMIP(t *testing.T) {
	l := newUpLab(t)
	l.extra = "[ipv4]\naddress = \"203.0.113.2\"\n"
	l.start()
	l.slaac()
	ha0, up0 := l.d.tun.Counters.Snapshot(), l.counters()
	must(t, l.hh.Ping(upInet, 3*time.Second))
	l.tcp(t)
	ha1, up1 := l.d.tun.Counters.Snapshot(), l.counters()
	in := up1.Get(tunnel.In, tunnel.ReasonOK).Packets - up0.Get(tunnel.In, tunnel.ReasonOK).Packets
	cross := ha1.Get(tunnel.In, tunnel.ReasonNoBinding).Packets - ha0.Get(tunnel.In, tunnel.ReasonNoBinding).Packets
	t.Logf("uplink in/ok %d packets; the home agent's tunnel dropped %d of them as in/no_binding", in, cross)
	for r := range tunnel.NumReasons {
		if d := ha1.Get(tunnel.In, r).Packets - ha0.Get(tunnel.In, r).Packets; d != 0 {
			t.Logf("home agent tunnel in/%v: %d", r, d)
		}
		if d := up1.Get(tunnel.In, r).Packets - up0.Get(tunnel.In, r).Packets; d != 0 {
			t.Logf("uplink tunnel in/%v: %d", r, d)
		}
	}
	t.Logf("forwarder stats: home agent %+v\nuplink %+v", l.d.fwd.Stats(), l.d.up.fwd.Stats())
	if in == 0 {
		t.Error("nothing came in through the uplink")
	}
}
