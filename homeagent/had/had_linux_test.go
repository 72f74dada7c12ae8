package had

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
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

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/internal/control"
	"github.com/gomip6/gomip6/internal/netlab"
	"github.com/gomip6/gomip6/internal/rawsock"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/mobilenode"
	"github.com/gomip6/gomip6/tunnel"
)

// The lab:
//
//	homehost hh0 ─── hl0  home  hu0 ─── m0  mn
//	2001:db8:100::50   ::1   2001:db8:a::1   2001:db8:a::99 (care-of)
//	                         hc0 ─── c0  cn 2001:db8:200::2
//
// The home link is 2001:db8:100::/64 with had on hl0; the mobile node sits
// on foreign link 2001:db8:a::/64 with its home address 2001:db8:100::10
// on a tun device of its own forwarder (what mnd does), registered by the
// mobilenode core through real sockets.
var (
	tHA       = netip.MustParseAddr("2001:db8:100::1")
	tHoA      = netip.MustParseAddr("2001:db8:100::10")
	tOtherHoA = netip.MustParseAddr("2001:db8:100::30")
	tHomeHost = netip.MustParseAddr("2001:db8:100::50")
	tCoA      = netip.MustParseAddr("2001:db8:a::99")
	tCN       = netip.MustParseAddr("2001:db8:200::2")
)

// netInterfaceAny binds a packet socket to every interface.
var netInterfaceAny = net.Interface{Index: 0, Name: "any"}

type lab struct {
	t                 *testing.T
	nl                *netlab.Lab
	home, mn, hh, cn  *netlab.NS
	dir, cfgPath, key string
	d                 *Daemon
	cancel            context.CancelFunc
	done              chan error
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newLab(t *testing.T) *lab {
	netlab.SkipUnlessRoot(t)
	l := &lab{t: t, dir: t.TempDir()}
	var err error
	l.nl, err = netlab.New(t)
	must(t, err)
	for _, p := range []struct {
		ns   **netlab.NS
		name string
	}{{&l.home, "home"}, {&l.mn, "mn"}, {&l.hh, "hh"}, {&l.cn, "cn"}} {
		*p.ns, err = l.nl.NS(p.name)
		must(t, err)
		must(t, (*p.ns).DisableDAD())
	}
	must(t, l.nl.Link(l.home, "hl0", l.hh, "hh0"))
	must(t, l.nl.Link(l.home, "hu0", l.mn, "m0"))
	must(t, l.nl.Link(l.home, "hc0", l.cn, "c0"))
	must(t, l.home.Addr("hl0", "2001:db8:100::1/64"))
	must(t, l.home.Addr("hu0", "2001:db8:a::1/64"))
	must(t, l.home.Addr("hc0", "2001:db8:200::1/64"))
	must(t, l.hh.Addr("hh0", "2001:db8:100::50/64"))
	must(t, l.hh.Route("default", "via", "2001:db8:100::1"))
	must(t, l.mn.Addr("m0", "2001:db8:a::99/64"))
	must(t, l.mn.Route("default", "via", "2001:db8:a::1"))
	must(t, l.cn.Addr("c0", "2001:db8:200::2/64"))
	must(t, l.cn.Route("default", "via", "2001:db8:200::1"))

	k := make([]byte, 32)
	rand.Read(k)
	l.key = base64.StdEncoding.EncodeToString(k)
	l.cfgPath = filepath.Join(l.dir, "had.toml")
	l.writeConfig("")
	return l
}

func (l *lab) writeConfig(extra string) {
	cfg := fmt.Sprintf(`
state_file = %q
[home]
interface = "hl0"
prefix = "2001:db8:100::/64"
address = "2001:db8:100::1"
max_lifetime = "60s"
[router_advertisements]
enabled = true
min_interval = "500ms"
max_interval = "1s"
[[mobile_node]]
id = "laptop@home.example"
home_address = "2001:db8:100::10"
spi = 1000
key = %q
[[mobile_node]]
id = "other@home.example"
home_address = "2001:db8:100::30"
spi = 1001
key = %q
[control]
socket = %q
metrics_listen = "[::1]:9641"
%s`, filepath.Join(l.dir, "had.state"), l.key, l.key, filepath.Join(l.dir, "had.sock"), extra)
	must(l.t, os.WriteFile(l.cfgPath, []byte(cfg), 0o600))
}

// start runs had in the home namespace, in-process.
func (l *lab) start() { l.startReloadable() }

// startReloadable is start that also returns the configuration had
// started with and the channel that reloads it.
func (l *lab) startReloadable() (*conf.HA, chan<- *conf.HA) {
	t := l.t
	cfg, err := conf.LoadHA(l.cfgPath)
	must(t, err)
	log := zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
	must(t, l.home.Do(func() (err error) {
		l.d, err = New(cfg, Options{Log: log})
		return err
	}))
	reload := make(chan *conf.HA)
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan error, 1)
	go func() { l.done <- l.d.Run(ctx, reload) }()
	t.Cleanup(l.stop)
	return cfg, reload
}

// stop shuts had down (idempotent).
func (l *lab) stop() {
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

func (l *lab) status() Status {
	l.t.Helper()
	body, err := control.NewClient(filepath.Join(l.dir, "had.sock")).Get(context.Background(), "/v1/status")
	must(l.t, err)
	var st Status
	must(l.t, json.Unmarshal(body, &st))
	return st
}

// testMN is a mobile node: the mobilenode core behind real sockets, and a
// tunnel forwarder holding the home address.
type testMN struct {
	t   *testing.T
	reg *mobilenode.Registration
	tx  *rawsock.Sender
	rx  *rawsock.Listener
	coa netip.Addr
	fwd *tunnel.Forwarder
	// sent are the Binding Update packets sent, for replays.
	sent [][]byte
	// wait bounds an exchange.
	wait time.Duration
}

func (l *lab) newMN(keyB64 string, hoa netip.Addr, id string, spi uint32) *testMN {
	return l.newMNLifetime(keyB64, hoa, id, spi, 60*time.Second)
}

func (l *lab) newMNLifetime(keyB64 string, hoa netip.Addr, id string, spi uint32, lifetime time.Duration) *testMN {
	t := l.t
	key, err := base64.StdEncoding.DecodeString(keyB64)
	must(t, err)
	reg, err := mobilenode.NewRegistration(mobilenode.Config{
		ID: id, HomeAddress: hoa, HomeAgent: tHA, Lifetime: lifetime,
		SA: mobilenode.SA{SPI: spi, Key: key, Algorithm: binding.HMACSHA1_96}, InitialSequence: 100,
	})
	must(t, err)
	m := &testMN{t: t, reg: reg, coa: tCoA, wait: 8 * time.Second}
	filter, err := rawsock.Assemble(rawsock.RoutingHeader2Filter(rawsock.LinkIP, tCoA))
	must(t, err)
	must(t, l.mn.Do(func() (err error) {
		if m.tx, err = rawsock.NewSender(""); err != nil {
			return err
		}
		m.rx, err = rawsock.Listen(&netInterfaceAny, rawsock.Config{Filter: filter})
		return err
	}))
	t.Cleanup(func() { m.tx.Close(); m.rx.Close() })
	return m
}

// exchange sends the core's BUs and feeds it the answers until it leaves
// the Registering/Refreshing/Deregistering states or the deadline passes.
func (m *testMN) exchange(out mobilenode.Output, want mobilenode.State) error {
	deadline := time.Now().Add(m.wait)
	buf := make([]byte, 4096)
	for time.Now().Before(deadline) {
		if out.Send != nil {
			p := out.Send
			pkt, _ := mip6.AppendMobilityPacket(nil, p.Src, p.Dst, p.HomeAddress, netip.Addr{}, 64, p.MH)
			if err := m.tx.Send(pkt, 0); err != nil {
				return err
			}
			m.sent = append(m.sent, pkt)
		}
		if m.reg.State() == want {
			return nil
		}
		wake := deadline
		if !out.Timer.IsZero() && out.Timer.Before(wake) {
			wake = out.Timer
		}
		m.rx.SetReadDeadline(wake)
		n, _, err := m.rx.Read(buf)
		now := time.Now()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			out = m.reg.Timer(now)
			continue
		}
		if err != nil {
			return err
		}
		lay, err := mip6.WalkIPv6(buf[:n])
		if err != nil || lay.Proto != mip6.ProtoMobility {
			continue
		}
		var rh netip.Addr
		if lay.RH2SegmentsLeft == 1 {
			rh = lay.RH2Address
		}
		out, err = m.reg.HandleMH(mobilenode.Packet{Src: lay.Src, Dst: lay.Dst, RoutingHome: rh, MH: buf[lay.Offset:lay.End]}, now)
		if err != nil {
			m.t.Logf("mobile node ignored a message: %v", err)
		}
	}
	return fmt.Errorf("state %v, want %v", m.reg.State(), want)
}

// listenCoA opens a packet socket in the mobile node's namespace for
// the signalling and ICMPv6 to the care-of address; closed with the test.
func (l *lab) listenCoA() *rawsock.Listener {
	filter, err := rawsock.Assemble(rawsock.MIPv6Filter(rawsock.LinkIP, tCoA))
	must(l.t, err)
	var rx *rawsock.Listener
	must(l.t, l.mn.Do(func() (err error) {
		rx, err = rawsock.Listen(&netInterfaceAny, rawsock.Config{Filter: filter})
		return err
	}))
	l.t.Cleanup(func() { rx.Close() })
	return rx
}

// sendMPS sends a Mobile Prefix Solicitation (RFC 6275 §6.7) from the
// care-of address with a Home Address option for hoa, as a mobile node
// away from home does (§11.4.2).
func (m *testMN) sendMPS(hoa netip.Addr, id uint16) {
	body, err := mip6.AppendICMP(nil, &mip6.MobilePrefixSolicitation{Identifier: id})
	must(m.t, err)
	mip6.SetICMPChecksum(body, hoa, tHA)
	pkt := mip6.AppendIPv6Header(nil, uint16(24+len(body)), mip6.ProtoDestOpts, 64, m.coa, tHA)
	pkt = mip6.AppendHomeAddressDestOpts(pkt, mip6.ProtoICMPv6, hoa)
	must(m.t, m.tx.Send(append(pkt, body...), 0))
}

// dataPlane gives the mobile node its home address on a tunnel forwarder
// toward the home agent, with the routes mnd would install: the home
// agent's address through the foreign link, everything else from the home
// address into the tunnel.
func (l *lab) dataPlane(m *testMN) {
	t := l.t
	tab := tunnel.NewTable(1)
	must(t, tab.Set(netip.PrefixFrom(tHoA, 128), tunnel.Endpoint{Kind: tunnel.KindIPv6, Local: tCoA, Remote: tHA}))
	tn, err := tunnel.New(tunnel.Config{Role: tunnel.RoleMobileNode, ErrorSource: tHoA}, tab)
	must(t, err)
	must(t, l.mn.Do(func() (err error) {
		m.fwd, err = tunnel.NewForwarder(tn, tunnel.ForwarderConfig{Name: "mntun0", IPv6: true, Queues: 1})
		return err
	}))
	t.Cleanup(func() { m.fwd.Close() })
	must(t, l.mn.Addr("mntun0", tHoA.String()+"/128"))
	must(t, l.mn.Route("2001:db8:100::1/128", "via", "2001:db8:a::1", "dev", "m0"))
	must(t, l.mn.Route("2001:db8:100::/64", "dev", "mntun0", "src", tHoA.String()))
	must(t, l.mn.Route("2001:db8:200::/64", "dev", "mntun0", "src", tHoA.String()))
}

// tcpEcho opens a TCP listener on the home address in the mobile node's
// namespace, connects from the correspondent and checks that 256 KiB come
// back intact through the tunnel both ways.
func (l *lab) tcpEcho() {
	t := l.t
	var ln net.Listener
	must(t, l.mn.Do(func() (err error) {
		ln, err = net.Listen("tcp", "["+tHoA.String()+"]:7777")
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
	must(t, l.cn.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", "["+tHoA.String()+"]:7777", 5*time.Second)
		return err
	}))
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	msg := make([]byte, 256<<10)
	rand.Read(msg)
	go c.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("TCP echo through the tunnel: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("TCP echo through the tunnel: data differs")
	}
}

// run keeps the mobile node's registration going (refreshes, answers) for
// d.
func (m *testMN) run(d time.Duration) {
	end := time.Now().Add(d)
	out := m.reg.Timer(time.Now())
	buf := make([]byte, 4096)
	for time.Now().Before(end) {
		if out.Send != nil {
			p := out.Send
			pkt, _ := mip6.AppendMobilityPacket(nil, p.Src, p.Dst, p.HomeAddress, netip.Addr{}, 64, p.MH)
			must(m.t, m.tx.Send(pkt, 0))
		}
		wake := end
		if !out.Timer.IsZero() && out.Timer.Before(wake) {
			wake = out.Timer
		}
		m.rx.SetReadDeadline(wake)
		n, _, err := m.rx.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			out = m.reg.Timer(time.Now())
			continue
		}
		must(m.t, err)
		lay, err := mip6.WalkIPv6(buf[:n])
		if err != nil || lay.Proto != mip6.ProtoMobility {
			out = mobilenode.Output{Timer: out.Timer}
			continue
		}
		var rh netip.Addr
		if lay.RH2SegmentsLeft == 1 {
			rh = lay.RH2Address
		}
		out, _ = m.reg.HandleMH(mobilenode.Packet{Src: lay.Src, Dst: lay.Dst, RoutingHome: rh, MH: buf[lay.Offset:lay.End]}, time.Now())
	}
}

func (l *lab) routes() string {
	out, err := l.home.IP("-6", "route", "show", "proto", "109")
	must(l.t, err)
	return out
}

// TestRegistration: a mobile node registers through real sockets; the
// home link and a correspondent reach its home address through the tunnel;
// it refreshes; it de-registers and everything is withdrawn.
func TestRegistration(t *testing.T) {
	l := newLab(t)
	l.start()
	m := l.newMN(l.key, tHoA, "laptop@home.example", 1000)
	l.dataPlane(m)

	must(t, m.exchange(m.reg.Moved(tCoA, time.Now()), mobilenode.Registered))
	st := l.status()
	if len(st.Bindings) != 1 || st.Bindings[0].HomeAddress != tHoA.String() || st.Bindings[0].CareOfAddress != tCoA.String() ||
		st.Bindings[0].Encapsulation != "ipv6" || st.Bindings[0].LifetimeRemainingS < 50 {
		t.Fatalf("status %+v", st)
	}
	if r := l.routes(); !strings.Contains(r, "2001:db8:100::10 dev mip6ha0") {
		t.Errorf("routes: %q", r)
	}
	// Proxy ND draws the home link's traffic; the tunnel carries it.
	must(t, l.hh.Ping(tHoA, 5*time.Second))
	must(t, l.cn.Ping(tHoA, 5*time.Second))
	must(t, l.mn.Ping(tHomeHost, 5*time.Second))
	must(t, l.mn.Ping(tCN, 5*time.Second))
	l.tcpEcho()
	s := l.d.tun.Counters.Snapshot()
	if s.Get(tunnel.Out, tunnel.ReasonOK).Packets == 0 || s.Get(tunnel.In, tunnel.ReasonOK).Packets == 0 {
		t.Errorf("tunnel counters: %+v", s)
	}
	// Metrics on the socket and on the TCP listener (inside the namespace).
	body, err := control.NewClient(filepath.Join(l.dir, "had.sock")).Get(context.Background(), "/v1/metrics")
	must(t, err)
	for _, want := range []string{"mip6_ha_bindings 1\n", `mip6_ha_binding_updates_total{status="accepted"} 1`, `mip6_tunnel_packets_total{direction="out",reason="ok"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	must(t, l.home.Do(func() error {
		// Dialled here, on the namespace's thread (an http.Client would
		// dial from another goroutine, in another namespace).
		c, err := net.DialTimeout("tcp", "[::1]:9641", 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET /metrics HTTP/1.0\r\n\r\n"); err != nil {
			return err
		}
		b, err := io.ReadAll(c)
		if err == nil && !strings.Contains(string(b), "mip6_ha_bindings 1\n") {
			err = fmt.Errorf("TCP metrics: %s", b)
		}
		return err
	}))

	// De-registration from the care-of address.
	must(t, m.exchange(m.reg.Deregister(time.Now()), mobilenode.Unregistered))
	if st := l.status(); len(st.Bindings) != 0 || st.Counters["bindings_deleted"] != 1 {
		t.Fatalf("after de-registration: %+v", st)
	}
	if r := l.routes(); r != "" {
		t.Errorf("routes left: %q", r)
	}
	if l.d.proxy.Proxied(tHoA) {
		t.Error("still proxying the home address")
	}
}

// TestHostile: Binding Updates with a wrong key, for another node's home
// address, and replayed ones create no binding, no route, no proxy entry.
func TestHostile(t *testing.T) {
	l := newLab(t)
	l.start()
	wrong := make([]byte, 32)
	rand.Read(wrong)
	bad := l.newMN(base64.StdEncoding.EncodeToString(wrong), tHoA, "laptop@home.example", 1000)
	bad.wait = 3 * time.Second
	if err := bad.exchange(bad.reg.Moved(tCoA, time.Now()), mobilenode.Registered); err == nil {
		t.Fatal("registered with a wrong key")
	}
	// The right key, but the other node's home address.
	bad.wait = 3 * time.Second
	thief := l.newMN(l.key, tOtherHoA, "laptop@home.example", 1000)
	thief.wait = 3 * time.Second
	if err := thief.exchange(thief.reg.Moved(tCoA, time.Now()), mobilenode.Registered); err == nil {
		t.Fatal("registered another node's home address")
	}
	st := l.status()
	if len(st.Bindings) != 0 || l.routes() != "" || l.d.proxy.Stats().Proxied != 0 {
		t.Fatalf("hostile BUs left state: %+v, routes %q", st, l.routes())
	}
	if st.Counters["ba_sent"] == 0 {
		t.Error("no 146/133 answers at all (they should be authenticated answers to a known SPI)")
	}

	// Replays: the genuine node registers and de-registers; its captured
	// registration BUs sent again must not bring the binding back.
	m := l.newMN(l.key, tHoA, "laptop@home.example", 1000)
	must(t, m.exchange(m.reg.Moved(tCoA, time.Now()), mobilenode.Registered))
	must(t, m.exchange(m.reg.Deregister(time.Now()), mobilenode.Unregistered))
	for _, pkt := range m.sent {
		must(t, m.tx.Send(pkt, 0))
	}

	// A flood of Binding Updates from forged sources in many /64s with
	// unknown SPIs: nothing answered, nothing created, and the genuine
	// node still registers at once afterwards.
	flood := l.newMN(l.key, tHoA, "laptop@home.example", 4242)
	out := flood.reg.Moved(tCoA, time.Now())
	const floodN = 20000
	var pkt []byte
	for i := range floodN {
		src := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xf0, byte(i >> 8), byte(i), 0, 15: 1})
		pkt, _ = mip6.AppendMobilityPacket(pkt[:0], src, tHA, tHoA, netip.Addr{}, 64, out.Send.MH)
		if err := flood.tx.Send(pkt, 0); err != nil {
			t.Fatalf("flood packet %d: %v", i, err)
		}
	}
	start := time.Now()
	must(t, m.exchange(m.reg.Moved(tCoA, time.Now()), mobilenode.Registered))
	t.Logf("registered %v after a flood of %d forged BUs", time.Since(start), floodN)
	st = l.status()
	if len(st.Bindings) != 1 {
		t.Fatalf("bindings after replays and flood: %+v", st.Bindings)
	}
	if st.Bindings[0].Sequence == 100 {
		t.Error("a replayed BU was accepted")
	}
	dropped := st.Counters["bu_dropped_"+"unknown-spi"] + st.Counters["bu_dropped_"+"rate-limited"] + st.Counters["rx_queue_full"]
	t.Logf("counters: %v", st.Counters)
	if dropped == 0 {
		t.Error("the flood was not counted")
	}
}

// TestRefreshExpiry: a binding the mobile node refreshes stays; once it
// stops refreshing, the binding expires and its route and proxy entry go
// with it.
func TestRefreshExpiry(t *testing.T) {
	l := newLab(t)
	l.start()
	m := l.newMNLifetime(l.key, tHoA, "laptop@home.example", 1000, 4*time.Second)
	must(t, m.exchange(m.reg.Moved(tCoA, time.Now()), mobilenode.Registered))
	if len(l.status().Bindings) != 1 {
		t.Fatal("not registered")
	}
	// Two lifetimes of 4 s, refreshed (the BA's refresh advice is 3 s).
	m.run(8 * time.Second)
	st := l.status()
	if len(st.Bindings) != 1 || st.Counters["bindings_refreshed"] < 2 || st.Counters["bindings_expired"] != 0 {
		t.Fatalf("refreshes: bindings %+v counters %v", st.Bindings, st.Counters)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(l.status().Bindings) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("binding did not expire")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := l.routes(); r != "" || l.d.proxy.Proxied(tHoA) {
		t.Errorf("expired binding left routes %q or proxy entry", r)
	}
	if c := l.status().Counters; c["bindings_expired"] != 1 || c["brr_sent"] == 0 {
		t.Errorf("expiry or the refresh request before it not counted: %v", c)
	}
}

// TestReload: a configuration without the node drops its binding; a bad
// configuration change is refused whole.
func TestReload(t *testing.T) {
	l := newLab(t)
	cfg, reload := l.startReloadable()
	m := l.newMN(l.key, tHoA, "laptop@home.example", 1000)
	must(t, m.exchange(m.reg.Moved(tCoA, time.Now()), mobilenode.Registered))

	moved := *cfg
	moved.Home.Interface = "hu0"
	reload <- &moved
	if len(l.status().Bindings) != 1 {
		t.Fatal("a refused reload dropped the binding")
	}
	without := *cfg
	without.MobileNodes = cfg.MobileNodes[1:]
	reload <- &without
	if st := l.status(); len(st.Bindings) != 0 || l.routes() != "" || l.d.proxy.Proxied(tHoA) {
		t.Fatalf("binding of a removed node kept: %+v", st.Bindings)
	}
}

// TestRestart: a restarted had forwards for the bindings of its state file
// without the mobile node registering again; a stopped had leaves no
// device or route behind.
func TestRestart(t *testing.T) {
	l := newLab(t)
	l.start()
	m := l.newMN(l.key, tHoA, "laptop@home.example", 1000)
	l.dataPlane(m)
	must(t, m.exchange(m.reg.Moved(tCoA, time.Now()), mobilenode.Registered))
	must(t, l.cn.Ping(tHoA, 5*time.Second))
	l.stop()
	if r := l.routes(); r != "" {
		t.Errorf("routes left after shutdown: %q", r)
	}
	if _, err := l.home.IP("link", "show", DefaultTunName); err == nil {
		t.Error("tun device left after shutdown")
	}
	l.start()
	if st := l.status(); len(st.Bindings) != 1 || st.Bindings[0].CareOfAddress != tCoA.String() {
		t.Fatalf("after restart: %+v", st)
	}
	must(t, l.cn.Ping(tHoA, 5*time.Second))
	must(t, l.hh.Ping(tHoA, 5*time.Second))
	l.stop()

	// -cleanup after a run: nothing is left, and it says so.
	var out bytes.Buffer
	must(t, l.home.Do(func() error { return Cleanup("", &out) }))
	if !strings.Contains(out.String(), "nothing to clean up") {
		t.Errorf("cleanup said %q", out.String())
	}
}

// TestMobileRouter: a mobile router registers its mobile network prefix
// (NEMO, RFC 3963); had routes the prefix into its tunnel, and a host of
// the mobile network reaches the correspondent and back.
func TestMobileRouter(t *testing.T) {
	l := newLab(t)
	b, err := os.ReadFile(l.cfgPath)
	must(t, err)
	cfg := strings.Replace(string(b), "spi = 1000\n", "spi = 1000\nmobile_prefixes = [\"2001:db8:1000::/48\"]\n", 1)
	must(t, os.WriteFile(l.cfgPath, []byte(cfg), 0o600))
	l.start()

	pfx := netip.MustParsePrefix("2001:db8:1000::/48")
	host := netip.MustParseAddr("2001:db8:1000::1")
	m := l.newMN(l.key, tHoA, "laptop@home.example", 1000)
	key, err := base64.StdEncoding.DecodeString(l.key)
	must(t, err)
	cfgMN := mobilenode.Config{ID: "laptop@home.example", HomeAddress: tHoA, HomeAgent: tHA, Lifetime: 60 * time.Second,
		SA: mobilenode.SA{SPI: 1000, Key: key, Algorithm: binding.HMACSHA1_96}, InitialSequence: 7, MobilePrefixes: []netip.Prefix{pfx}}
	m.reg, err = mobilenode.NewRegistration(cfgMN)
	must(t, err)
	l.dataPlane(m)
	must(t, m.fwd.Tunnel().Table().Set(pfx, tunnel.Endpoint{Kind: tunnel.KindIPv6, Local: tCoA, Remote: tHA}))
	must(t, l.mn.Addr("mntun0", host.String()+"/128"))

	must(t, m.exchange(m.reg.Moved(tCoA, time.Now()), mobilenode.Registered))
	if r := l.routes(); !strings.Contains(r, "2001:db8:1000::/48 dev mip6ha0") {
		t.Fatalf("no route for the mobile network prefix: %q", r)
	}
	st := l.status()
	if len(st.Bindings) != 1 || len(st.Bindings[0].MobilePrefixes) != 1 || !strings.Contains(st.Bindings[0].Flags, "R") {
		t.Fatalf("status %+v", st.Bindings)
	}
	must(t, l.cn.Ping(host, 5*time.Second))
	must(t, m.exchange(m.reg.Deregister(time.Now()), mobilenode.Unregistered))
	if r := l.routes(); r != "" {
		t.Errorf("routes left: %q", r)
	}
}

// TestDHAAD: a mobile node away from home asks the home prefix's
// Home-Agents anycast address for its home agents (RFC 6275 §10.5) and
// gets this home agent's address.
func TestDHAAD(t *testing.T) {
	l := newLab(t)
	l.start()
	anycast := netip.MustParseAddr("2001:db8:100::fdff:ffff:ffff:fffe")
	req, err := mip6.AppendICMP(nil, &mip6.HomeAgentDiscoveryRequest{Identifier: 4711})
	must(t, err)
	var c *net.IPConn
	must(t, l.mn.Do(func() (err error) {
		c, err = net.ListenIP("ip6:ipv6-icmp", &net.IPAddr{IP: tCoA.AsSlice()})
		return err
	}))
	defer c.Close()
	b := make([]byte, 1500)
	for try := 0; ; try++ {
		if try == 5 {
			t.Fatal("no DHAAD reply")
		}
		// The kernel computes the ICMPv6 checksum of a raw ICMPv6 socket.
		if _, err := c.WriteToIP(req, &net.IPAddr{IP: anycast.AsSlice()}); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, from, err := c.ReadFromIP(b)
		if err != nil {
			continue
		}
		m, err := mip6.ParseICMP(b[:n])
		rep, ok := m.(*mip6.HomeAgentDiscoveryReply)
		if err != nil || !ok || rep.Identifier != 4711 {
			continue
		}
		if got, _ := netip.AddrFromSlice(from.IP); got != tHA {
			t.Errorf("reply from %v, want the home agent's own address %v", got, tHA)
		}
		if len(rep.HomeAgents) != 1 || rep.HomeAgents[0] != tHA {
			t.Errorf("reply lists %v", rep.HomeAgents)
		}
		return
	}
}

// TestMobilePrefix: a registered mobile node's Mobile Prefix Solicitation
// (with its Home Address option, from its care-of address) is answered
// with a Mobile Prefix Advertisement for the home prefix through a type 2
// routing header; the same solicitation for a home address without a
// binding draws a Binding Error status 1 instead.
func TestMobilePrefix(t *testing.T) {
	l := newLab(t)
	l.start()
	m := l.newMN(l.key, tHoA, "laptop@home.example", 1000)
	rx := l.listenCoA()
	mps := func(hoa netip.Addr) { m.sendMPS(hoa, 99) }
	// wait returns the first packet matching f within 3 s.
	wait := func(what string, f func(b []byte, l mip6.PacketLayout) bool) {
		buf := make([]byte, 2048)
		rx.SetReadDeadline(time.Now().Add(3 * time.Second))
		for {
			n, _, err := rx.Read(buf)
			if err != nil {
				t.Fatalf("no %s: %v", what, err)
			}
			lay, err := mip6.WalkIPv6(buf[:n])
			if err == nil && f(buf[:n], lay) {
				return
			}
		}
	}

	// Without a binding: Binding Error 1.
	mps(tHoA)
	wait("binding error", func(b []byte, lay mip6.PacketLayout) bool {
		if lay.Proto != mip6.ProtoMobility {
			return false
		}
		msg, err := mip6.ParseMessage(b[lay.Offset:lay.End])
		be, ok := msg.(*mip6.BindingError)
		return err == nil && ok && be.Status == mip6.BEUnknownHomeAddress && be.HomeAddress == tHoA
	})

	must(t, m.exchange(m.reg.Moved(tCoA, time.Now()), mobilenode.Registered))
	mps(tHoA)
	wait("mobile prefix advertisement", func(b []byte, lay mip6.PacketLayout) bool {
		if lay.Proto != mip6.ProtoICMPv6 || lay.RH2Address != tHoA || b[lay.Offset] != mip6.ICMPMobilePrefixAdvert {
			return false
		}
		if !mip6.VerifyICMPChecksum(b[lay.Offset:lay.End], lay.PseudoSrc, lay.PseudoDst) {
			t.Error("MPA checksum does not verify")
		}
		msg, err := mip6.ParseICMP(b[lay.Offset:lay.End])
		mpa, ok := msg.(*mip6.MobilePrefixAdvertisement)
		if err != nil || !ok || mpa.Identifier != 99 {
			t.Fatalf("MPA %+v, %v", msg, err)
		}
		t.Logf("MPA: %+v", mpa)
		return true
	})
}

// TestNoParameterProblem: the kernel, without Mobile IPv6, would answer
// each Binding Update with an ICMPv6 Parameter Problem (and so every
// forged one of a flood towards its forged source); had's nftables table
// keeps them in while had runs, and goes with had.
func TestNoParameterProblem(t *testing.T) {
	l := newLab(t)
	l.start()
	if out, err := l.home.Run("nft", "list", "table", "inet", NFTable); err != nil {
		t.Fatalf("table %s not installed: %v %s", NFTable, err, out)
	}
	var c *net.IPConn
	must(t, l.mn.Do(func() (err error) {
		c, err = net.ListenIP("ip6:ipv6-icmp", &net.IPAddr{IP: tCoA.AsSlice()})
		return err
	}))
	defer c.Close()
	m := l.newMN(l.key, tHoA, "laptop@home.example", 1000)
	must(t, m.exchange(m.reg.Moved(tCoA, time.Now()), mobilenode.Registered))
	// A few more: forged ones (a wrong key) draw no error either.
	wrong := l.newMN(base64.StdEncoding.EncodeToString(make([]byte, 32)), tHoA, "laptop@home.example", 1000)
	wrong.wait = 500 * time.Millisecond
	_ = wrong.exchange(wrong.reg.Moved(tCoA, time.Now()), mobilenode.Registered)
	b := make([]byte, 1500)
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	for {
		n, from, err := c.ReadFromIP(b)
		if err != nil {
			break
		}
		if n > 0 && b[0] == 4 { // RFC 4443 §3.4
			t.Fatalf("Parameter Problem code %d from %v", b[1], from.IP)
		}
	}
	l.stop()
	if out, err := l.home.Run("nft", "list", "table", "inet", NFTable); err == nil {
		t.Fatalf("table %s left after shutdown:\n%s", NFTable, out)
	}
}
