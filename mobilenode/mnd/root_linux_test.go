package mnd

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomip6/gomip6/ra"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/homeagent"
	"github.com/gomip6/gomip6/internal/control"
	"github.com/gomip6/gomip6/internal/netlab"
	"github.com/gomip6/gomip6/internal/rawsock"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/tunnel"
)

// The lab network:
//
//	cn c0 ─── hc ha h0 ─────── home link 2001:db8:100::/64 ─── home0 mn
//	2001:db8:2::2   ::1  ::1 (radvd, H flag)
//	             ha hr ─── rh rt ra ─── link A 2001:db8:a::/64 ─── a0 mn
//	        2001:db8:3::1   ::2  rb ─── link B 2001:db8:b::/64 ─── b0 mn
//
// ha runs an in-process home agent (the homeagent core, AF_PACKET
// listeners, a header-included sender and a tunnel.Forwarder); rt is a plain
// router with radvd on both foreign links; mn runs the daemon under test.
var (
	labHA   = netip.MustParseAddr("2001:db8:100::1")
	labHoA  = netip.MustParseAddr("2001:db8:100::10")
	labCN   = netip.MustParseAddr("2001:db8:2::2")
	labPfxA = netip.MustParsePrefix("2001:db8:a::/64")
	labPfxB = netip.MustParsePrefix("2001:db8:b::/64")
	labKey  = []byte("laptop-secret-key-0123456789abcd")
)

type rootLab struct {
	t              *testing.T
	nl             *netlab.Lab
	mn, ha, rt, cn *netlab.NS
	hagent         *testHA
	// radvdA is the router's radvd on link A.
	radvdA *netlab.Proc
	sock   string
	logs   *syncBuffer
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newRootLab(t *testing.T) *rootLab {
	netlab.SkipUnlessRoot(t)
	l := &rootLab{t: t, logs: &syncBuffer{}}
	var err error
	l.nl, err = netlab.New(t)
	must(t, err)
	for _, p := range []struct {
		ns   **netlab.NS
		name string
	}{{&l.mn, "mn"}, {&l.ha, "ha"}, {&l.rt, "rt"}, {&l.cn, "cn"}} {
		*p.ns, err = l.nl.NS(p.name)
		must(t, err)
	}
	for _, ns := range []*netlab.NS{l.ha, l.rt, l.cn} {
		must(t, ns.DisableDAD())
	}
	must(t, l.nl.Link(l.cn, "c0", l.ha, "hc"))
	must(t, l.nl.Link(l.ha, "h0", l.mn, "home0"))
	must(t, l.nl.Link(l.ha, "hr", l.rt, "rh"))
	must(t, l.nl.Link(l.rt, "ra", l.mn, "a0"))
	must(t, l.nl.Link(l.rt, "rb", l.mn, "b0"))
	for _, a := range []struct {
		ns        *netlab.NS
		ifn, cidr string
	}{
		{l.cn, "c0", "2001:db8:2::2/64"}, {l.ha, "hc", "2001:db8:2::1/64"},
		{l.ha, "h0", "2001:db8:100::1/64"},
		{l.ha, "hr", "2001:db8:3::1/64"}, {l.rt, "rh", "2001:db8:3::2/64"},
		{l.rt, "ra", "2001:db8:a::1/64"}, {l.rt, "rb", "2001:db8:b::1/64"},
	} {
		must(t, a.ns.Addr(a.ifn, a.cidr))
	}
	must(t, l.cn.Route("default", "via", "2001:db8:2::1"))
	must(t, l.ha.Route("2001:db8:a::/64", "via", "2001:db8:3::2"))
	must(t, l.ha.Route("2001:db8:b::/64", "via", "2001:db8:3::2"))
	must(t, l.rt.Route("default", "via", "2001:db8:3::1"))
	must(t, l.ha.Forwarding(true, false))
	must(t, l.rt.Forwarding(true, false))
	fast := netlab.RA{MinInterval: 300 * time.Millisecond, MaxInterval: time.Second, RouterLifetime: 9 * time.Second}
	ra := fast
	ra.Prefixes = []string{"2001:db8:a::/64"}
	l.radvdA, err = l.rt.StartRadvd("ra", ra)
	must(t, err)
	ra.Prefixes = []string{"2001:db8:b::/64"}
	_, err = l.rt.StartRadvd("rb", ra)
	must(t, err)
	ra.Prefixes = []string{"2001:db8:100::/64"}
	ra.Extra = "AdvHomeAgentFlag on;"
	_, err = l.ha.StartRadvd("h0", ra)
	must(t, err)
	l.hagent = startTestHA(t, l.ha)
	l.sock = filepath.Join(t.TempDir(), "mnd.sock")
	return l
}

func (l *rootLab) mnConf() *conf.MN {
	c := l.mnConfLifetime("60s")
	return c
}

func (l *rootLab) mnConfLifetime(lifetime string) *conf.MN {
	return l.mnConfHA(lifetime, `home_agent = "2001:db8:100::1"`)
}

func (l *rootLab) mnConfHA(lifetime, ha string) *conf.MN {
	c, err := conf.ParseMN([]byte(fmt.Sprintf(`
id = "laptop@home.example"
home_address = "2001:db8:100::10"
home_prefix = "2001:db8:100::/64"
%s
spi = 1000
key = %q
interfaces = ["home0", "a0", "b0"]
lifetime = %q
[control]
socket = %q
[log]
level = "debug"
`, ha, base64.StdEncoding.EncodeToString(labKey), lifetime, l.sock)))
	must(l.t, err)
	return c
}

// start runs a daemon in mn; the returned function stops it and waits.
func (l *rootLab) start() (*Daemon, func()) { return l.startConf(l.mnConf()) }

func (l *rootLab) startConf(cfg *conf.MN) (*Daemon, func()) {
	t := l.t
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	log := zap.New(zapcore.NewCore(enc, zapcore.AddSync(l.logs), zap.DebugLevel))
	var d *Daemon
	must(t, l.mn.Do(func() (err error) {
		d, err = New(cfg, Options{Logger: log})
		return err
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return d, stop
}

// waitFor polls cond every 20 ms until it holds or timeout passes.
func (l *rootLab) waitFor(what string, timeout time.Duration, cond func() bool) time.Duration {
	l.t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			l.t.Fatalf("timed out after %v waiting for %s\nlogs:\n%s", timeout, what, l.logs.tail(60))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

func (l *rootLab) link(ifname string, up bool) {
	state := "down"
	if up {
		state = "up"
	}
	_, err := l.mn.IP("link", "set", "dev", ifname, state)
	must(l.t, err)
}

func registeredIn(d *Daemon, p netip.Prefix) func() bool {
	return func() bool {
		s := d.Status()
		return s.Registered && p.Contains(s.CareOfAddress)
	}
}

// TestRootMobileNode: registration from foreign link A, a correspondent
// reaching the home address through the tunnel, a move to link B, the
// return home with de-registration, and a clean shutdown.
func TestRootMobileNode(t *testing.T) {
	l := newRootLab(t)
	l.link("home0", false)
	l.link("b0", false)
	d, stop := l.start()

	took := l.waitFor("registration on link A", 20*time.Second, registeredIn(d, labPfxA))
	t.Logf("registered from link A %v after start", took)
	if b, ok := l.hagent.binding(); !ok || !labPfxA.Contains(b) {
		t.Fatalf("home agent binding %v %v", b, ok)
	}
	must(t, l.cn.Ping(labHoA, 5*time.Second))
	must(t, l.mn.Ping(labCN, 5*time.Second))
	l.checkStatusSocket(false)
	echo := l.tcpEcho()
	echo("on link A")

	// Move to link B: A goes down, B comes up, under a flow of datagrams
	// from the correspondent to the home address.
	flow := l.udpFlow()
	time.Sleep(200 * time.Millisecond) // some flow before the move
	l.link("a0", false)
	start := time.Now()
	l.link("b0", true)
	l.waitFor("registration on link B", 20*time.Second, registeredIn(d, labPfxB))
	time.Sleep(200 * time.Millisecond) // some flow after it
	gap, lost, got := flow()
	t.Logf("flow during A->B: %d datagrams received, %d lost, longest gap %v", got, lost, gap)
	if got == 0 || gap > 5*time.Second {
		t.Errorf("flow: longest gap %v, %d received", gap, got)
	}
	t.Logf("handover A->B: link command to registered %v; link-up event to registered %v", time.Since(start), l.logs.between("b0"))
	if b, ok := l.hagent.binding(); !ok || !labPfxB.Contains(b) {
		t.Fatalf("home agent binding after the move %v %v", b, ok)
	}
	must(t, l.cn.Ping(labHoA, 5*time.Second))
	echo("on link B")

	// Home again.
	l.link("b0", false)
	start = time.Now()
	l.link("home0", true)
	l.waitFor("return home", 20*time.Second, func() bool {
		s := d.Status()
		return s.AtHome && s.State == "at-home"
	})
	t.Logf("return home: link-up to de-registered %v", time.Since(start))
	if b, ok := l.hagent.binding(); ok {
		t.Fatalf("home agent still holds a binding to %v", b)
	}
	must(t, l.cn.Ping(labHoA, 5*time.Second))
	out, _ := l.mn.IP("-6", "addr", "show", "dev", "mip0")
	if strings.Contains(out, labHoA.String()) {
		t.Errorf("home address still on mip0 at home:\n%s", out)
	}
	l.checkStatusSocket(true)
	echo("at home")

	stop()
	l.checkClean()
	for _, ev := range []string{`"event":"link"`, `"event":"bu_sent"`, `"event":"ba_received"`, `"event":"moved"`, `"event":"returned_home"`, `"event":"ra"`} {
		if !strings.Contains(l.logs.String(), ev) {
			t.Errorf("no %s in the log", ev)
		}
	}
}

// TestRootShutdownAway: a reload with a new lifetime re-registers, one
// that changes the home address is refused, and cancelling the context
// away from home de-registers and removes everything.
func TestRootShutdownAway(t *testing.T) {
	l := newRootLab(t)
	l.link("home0", false)
	l.link("b0", false)
	d, stop := l.start()
	l.waitFor("registration on link A", 20*time.Second, registeredIn(d, labPfxA))

	c := l.mnConf()
	c.Lifetime = conf.Duration(120 * time.Second)
	must(t, d.Reload(c))
	l.waitFor("re-registration with the new lifetime", 10*time.Second, func() bool {
		s := d.Status()
		return s.Registered && len(s.Bindings) == 1 && s.Bindings[0].LifetimeS == 120
	})
	c = l.mnConf()
	c.HomeAddress = netip.MustParseAddr("2001:db8:100::11")
	if err := d.Reload(c); err == nil || !strings.Contains(err.Error(), "home_address") {
		t.Errorf("reload changing the home address: %v", err)
	}
	if s := d.Status(); s.HomeAddress != labHoA || !s.Registered {
		t.Errorf("after a refused reload: %+v", s)
	}

	stop()
	if b, ok := l.hagent.binding(); ok {
		t.Errorf("home agent still holds a binding to %v after shutdown", b)
	}
	l.checkClean()
}

// TestRootDHAAD: without home_agent the node discovers the home agent
// (RFC 6275 §11.4.1) and registers with it.
func TestRootDHAAD(t *testing.T) {
	l := newRootLab(t)
	l.link("home0", false)
	l.link("b0", false)
	d, stop := l.startConf(l.mnConfHA("60s", ""))
	took := l.waitFor("registration with a discovered home agent", 20*time.Second, registeredIn(d, labPfxA))
	t.Logf("registered %v after start, %d DHAAD request(s)", took, l.hagent.dhaadReqs.Load())
	if s := d.Status(); s.HomeAgent != labHA || l.hagent.dhaadReqs.Load() == 0 {
		t.Errorf("status %+v, requests %d", s, l.hagent.dhaadReqs.Load())
	}
	must(t, l.cn.Ping(labHoA, 5*time.Second))
	if !strings.Contains(l.logs.String(), `"event":"dhaad_reply"`) {
		t.Error("no dhaad_reply event")
	}
	stop()
	if b, ok := l.hagent.binding(); ok {
		t.Errorf("binding to %v left after shutdown", b)
	}
	l.checkClean()
}

// TestRootRefresh: with an 8 s lifetime the binding is refreshed before
// it expires, and stays registered throughout.
func TestRootRefresh(t *testing.T) {
	l := newRootLab(t)
	l.link("home0", false)
	l.link("b0", false)
	d, _ := l.startConf(l.mnConfLifetime("8s"))
	l.waitFor("registration on link A", 20*time.Second, registeredIn(d, labPfxA))
	start := time.Now()
	for d.Counters().Registrations < 3 {
		if !d.Status().Registered {
			t.Fatalf("not registered %v after the first registration: %+v\n%s", time.Since(start), d.Status(), l.logs.tail(20))
		}
		if time.Since(start) > 15*time.Second {
			t.Fatalf("no refresh: %+v", d.Counters())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("two refreshes in %v", time.Since(start))
	must(t, l.cn.Ping(labHoA, 5*time.Second))
}

// TestRootFlaps: a hundred link flaps leave no goroutine or descriptor
// behind, and the node ends registered.
func TestRootFlaps(t *testing.T) {
	l := newRootLab(t)
	l.link("home0", false)
	l.link("b0", false)
	d, _ := l.start()
	l.waitFor("registration on link A", 20*time.Second, registeredIn(d, labPfxA))
	g0, f0 := runtime.NumGoroutine(), countFDs(t)
	for range 100 {
		l.link("a0", false)
		l.link("a0", true)
	}
	took := l.waitFor("registration after the flaps", 30*time.Second, func() bool {
		return registeredIn(d, labPfxA)() && d.Status().State == "registered"
	})
	t.Logf("registered %v after the last flap; counters %+v", took, d.Counters())
	must(t, l.cn.Ping(labHoA, 5*time.Second))
	// Goroutines of the ip commands and pings may still be finishing.
	l.waitFor("goroutines and descriptors back", 5*time.Second, func() bool {
		return runtime.NumGoroutine() <= g0 && countFDs(t) <= f0
	})
}

func countFDs(t *testing.T) int {
	es, err := os.ReadDir("/proc/self/fd")
	must(t, err)
	return len(es)
}

// TestRootCleanup: -cleanup removes the leftovers of a crashed run.
func TestRootCleanup(t *testing.T) {
	l := newRootLab(t)
	for _, args := range [][]string{
		{"tuntap", "add", "dev", "mip0", "mode", "tun"},
		{"-6", "rule", "add", "from", "2001:db8:a::5", "lookup", fmt.Sprint(DefaultTable), "pref", "1000", "protocol", fmt.Sprint(RouteProtocol)},
		{"-6", "route", "add", "2001:db8:100::1/128", "dev", "a0", "metric", "1", "proto", fmt.Sprint(RouteProtocol)},
		{"-6", "route", "add", "default", "dev", "a0", "metric", "1", "table", fmt.Sprint(DefaultTable), "proto", fmt.Sprint(RouteProtocol)},
		{"-6", "addr", "add", "2001:db8:100::10/64", "dev", "home0", "nodad"},
	} {
		_, err := l.mn.IP(args...)
		must(t, err)
	}
	var out bytes.Buffer
	must(t, l.mn.Do(func() error { return Cleanup(l.mnConf(), &out) }))
	t.Log(out.String())
	l.checkClean()
	out.Reset()
	must(t, l.mn.Do(func() error { return Cleanup(l.mnConf(), &out) }))
	if !strings.Contains(out.String(), "nothing to clean up") {
		t.Errorf("second cleanup: %q", out.String())
	}
}

// udpFlow sends a datagram every 5 ms from the correspondent to the home
// address, where the mobile node receives them. The returned function
// stops the flow and reports the longest gap between two datagrams
// received, how many were lost and how many arrived.
func (l *rootLab) udpFlow() func() (time.Duration, int, int) {
	t := l.t
	var rx, tx net.PacketConn
	must(t, l.mn.Do(func() (err error) {
		rx, err = net.ListenPacket("udp6", netip.AddrPortFrom(labHoA, 9000).String())
		return err
	}))
	must(t, l.cn.Do(func() (err error) {
		tx, err = net.ListenPacket("udp6", netip.AddrPortFrom(labCN, 0).String())
		return err
	}))
	stop := make(chan struct{})
	sent := make(chan int, 1)
	go func() {
		n := 0
		tk := time.NewTicker(5 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				sent <- n
				return
			case <-tk.C:
				n++
				_, _ = tx.WriteTo([]byte("x"), &net.UDPAddr{IP: labHoA.AsSlice(), Port: 9000})
			}
		}
	}()
	type result struct {
		gap time.Duration
		got int
	}
	res := make(chan result, 1)
	go func() {
		var r result
		var last time.Time
		buf := make([]byte, 16)
		for {
			rx.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, _, err := rx.ReadFrom(buf); err != nil {
				res <- r
				return
			}
			now := time.Now()
			if !last.IsZero() && now.Sub(last) > r.gap {
				r.gap = now.Sub(last)
			}
			last = now
			r.got++
		}
	}()
	return func() (time.Duration, int, int) {
		close(stop)
		n := <-sent
		time.Sleep(100 * time.Millisecond) // the last datagrams in flight
		rx.Close()
		tx.Close()
		r := <-res
		return r.gap, n - r.got, r.got
	}
}

// tcpEcho opens a TCP connection from the mobile node (the kernel picks
// the home address as source) to an echo server on the correspondent and
// returns a function that checks one round trip on it: the same
// connection must survive every move.
func (l *rootLab) tcpEcho() func(where string) {
	t := l.t
	var ln net.Listener
	must(t, l.cn.Do(func() (err error) {
		ln, err = net.Listen("tcp6", netip.AddrPortFrom(labCN, 7).String())
		return err
	}))
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	var c net.Conn
	must(t, l.mn.Do(func() (err error) {
		c, err = net.DialTimeout("tcp6", netip.AddrPortFrom(labCN, 7).String(), 5*time.Second)
		return err
	}))
	t.Cleanup(func() { c.Close() })
	if src := c.LocalAddr().(*net.TCPAddr).IP; !src.Equal(labHoA.AsSlice()) {
		t.Errorf("TCP from %v, want the home address", src)
	}
	return func(where string) {
		t.Helper()
		msg := []byte("hello " + where)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("TCP %s: %v", where, err)
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(c, buf); err != nil || !bytes.Equal(buf, msg) {
			t.Fatalf("TCP %s: %q %v", where, buf, err)
		}
	}
}

// checkClean asserts nothing of the daemon is left in mn.
func (l *rootLab) checkClean() {
	t := l.t
	t.Helper()
	if out, err := l.mn.IP("link", "show", "mip0"); err == nil {
		t.Errorf("mip0 still there:\n%s", out)
	}
	rules, err := l.mn.IP("-6", "rule", "show")
	must(t, err)
	if strings.Contains(rules, "lookup 27958") || strings.Contains(rules, "2001:db8:a:") || strings.Contains(rules, "2001:db8:b:") {
		t.Errorf("rule left:\n%s", rules)
	}
	routes, err := l.mn.IP("-6", "route", "show", "table", "all", "proto", fmt.Sprint(RouteProtocol))
	must(t, err)
	if strings.TrimSpace(routes) != "" {
		t.Errorf("routes left:\n%s", routes)
	}
	addrs, err := l.mn.IP("-6", "addr", "show")
	must(t, err)
	if strings.Contains(addrs, labHoA.String()) {
		t.Errorf("home address left:\n%s", addrs)
	}
}

// checkStatusSocket reads /v1/status and /v1/metrics over the control
// socket.
func (l *rootLab) checkStatusSocket(atHome bool) {
	t := l.t
	t.Helper()
	fi, err := os.Stat(l.sock)
	must(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v", fi.Mode().Perm())
	}
	c := control.NewClient(l.sock)
	body, err := c.Get(context.Background(), "/v1/status")
	must(t, err)
	var st map[string]any
	must(t, json.Unmarshal(body, &st))
	for _, k := range []string{"role", "home_address", "care_of_address", "at_home", "home_agent", "registered", "encapsulation", "bindings"} {
		if _, ok := st[k]; !ok {
			t.Errorf("status lacks %q: %s", k, body)
		}
	}
	if st["role"] != "mn" || st["at_home"] != atHome || st["home_address"] != labHoA.String() || st["encapsulation"] != "ipv6" {
		t.Errorf("status %s", body)
	}
	m, err := c.Get(context.Background(), "/v1/metrics")
	must(t, err)
	if !strings.Contains(string(m), "mip6_mn_binding_updates_sent_total") || !strings.Contains(string(m), "mip6_tunnel_packets_total") {
		t.Errorf("metrics:\n%s", m)
	}
}

// testHA is a home agent in-process: the homeagent core fed by AF_PACKET
// listeners on every interface of the ha namespace, Binding
// Acknowledgements sent header-included, and a tunnel.Forwarder whose
// bindings the core maintains.
type testHA struct {
	dhaadReqs atomic.Int32
	t         *testing.T
	ns        *netlab.NS
	mu        sync.Mutex
	coa       netip.Addr
	has       bool
	// lose makes the home agent forget its bindings, as a had restarted
	// without its state would (liveness_linux_test.go).
	lose func()
}

func startTestHA(t *testing.T, ns *netlab.NS) *testHA {
	cfg, err := conf.ParseHA([]byte(fmt.Sprintf(`
[home]
interface = "h0"
prefix = "2001:db8:100::/64"
address = "2001:db8:100::1"
max_lifetime = "10m"

[[mobile_node]]
id = "laptop@home.example"
home_address = "2001:db8:100::10"
spi = 1000
key = %q
`, base64.StdEncoding.EncodeToString(labKey))))
	must(t, err)
	tab := tunnel.NewTable(1)
	core, err := homeagent.New(cfg, homeagent.Options{Table: tab, SkipDAD: true})
	must(t, err)
	var coreMu sync.Mutex
	tn, err := tunnel.New(tunnel.Config{Role: tunnel.RoleHomeAgent, ErrorSource: labHA}, tab)
	must(t, err)
	h := &testHA{t: t, ns: ns}
	h.lose = func() {
		fresh, err := homeagent.New(cfg, homeagent.Options{Table: tab, SkipDAD: true})
		must(t, err)
		coreMu.Lock()
		core = fresh
		coreMu.Unlock()
		tab.Delete(netip.PrefixFrom(labHoA, 128))
		_, _ = ns.IP("-6", "route", "del", labHoA.String()+"/128", "dev", "hatun")
		h.set(netip.Addr{}, false)
	}
	var fwd *tunnel.Forwarder
	var sender *rawsock.Sender
	var ls []*rawsock.Listener
	must(t, ns.Do(func() (err error) {
		if fwd, err = tunnel.NewForwarder(tn, tunnel.ForwarderConfig{Name: "hatun", IPv6: true, Queues: 1}); err != nil {
			return err
		}
		if sender, err = rawsock.NewSender(""); err != nil {
			return err
		}
		prog, err := rawsock.Assemble(rawsock.MobilityFilter(rawsock.LinkIP, labHA))
		if err != nil {
			return err
		}
		for _, name := range []string{"h0", "hr"} {
			ifi, err := net.InterfaceByName(name)
			if err != nil {
				return err
			}
			l, err := rawsock.Listen(ifi, rawsock.Config{Filter: prog})
			if err != nil {
				return err
			}
			ls = append(ls, l)
		}
		return nil
	}))
	// DHAAD (RFC 6275 §10.5): the home agent listens on the home
	// subnet's Home-Agents anycast address and answers with its own.
	var ic *icmp.PacketConn
	anycast := ra.HomeAgentsAnycast(netip.MustParsePrefix("2001:db8:100::/64"))
	must(t, ns.Addr("h0", anycast.String()+"/64"))
	must(t, ns.Do(func() (err error) {
		ic, err = icmp.ListenPacket("ip6:ipv6-icmp", "::")
		return err
	}))
	h.dhaadReqs.Store(0)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := ic.ReadFrom(buf)
			if err != nil {
				return
			}
			m, err := mip6.ParseICMP(buf[:n])
			req, ok := m.(*mip6.HomeAgentDiscoveryRequest)
			if err != nil || !ok {
				continue
			}
			h.dhaadReqs.Add(1)
			rep, err := mip6.MarshalICMP(&mip6.HomeAgentDiscoveryReply{Identifier: req.Identifier, HomeAgents: []netip.Addr{labHA}})
			if err != nil {
				t.Errorf("DHAAD reply: %v", err)
				return
			}
			// From the home agent's own address, not the anycast one
			// (§10.5).
			if _, err := ic.IPv6PacketConn().WriteTo(rep, &ipv6.ControlMessage{Src: labHA.AsSlice()}, from); err != nil {
				t.Logf("DHAAD reply: %v", err)
			}
		}
	}()
	type rx struct{ pkt []byte }
	ch := make(chan rx, 16)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 2048)
			for {
				n, _, err := l.Read(buf)
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if err != nil {
					continue
				}
				select {
				case ch <- rx{append([]byte(nil), buf[:n]...)}:
				case <-stop:
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			var m rx
			select {
			case <-stop:
				return
			case m = <-ch:
			}
			lay, err := mip6.WalkIPv6(m.pkt)
			if err != nil || lay.Proto != mip6.ProtoMobility {
				continue
			}
			p := homeagent.Packet{Src: lay.Src, Dst: lay.Dst, HomeAddress: lay.HomeAddress, MH: m.pkt[lay.Offset:lay.End]}
			coreMu.Lock()
			res := core.ProcessBU(nil, p, time.Now())
			coreMu.Unlock()
			switch res.Change {
			case homeagent.Created, homeagent.Moved:
				_, err := ns.IP("-6", "route", "replace", labHoA.String()+"/128", "dev", "hatun")
				if err != nil {
					t.Errorf("ha route: %v", err)
				}
				h.set(res.Binding.CareOf, true)
			case homeagent.Refreshed:
			case homeagent.Deleted:
				_, _ = ns.IP("-6", "route", "del", labHoA.String()+"/128", "dev", "hatun")
				_, _ = ns.IP("-6", "neigh", "flush", "dev", "h0")
				h.set(netip.Addr{}, false)
			}
			if res.Verdict != homeagent.Reply {
				continue
			}
			next := uint8(mip6.ProtoMobility)
			plen := len(res.BA)
			rh2 := res.BADst != res.HomeAddress
			if rh2 {
				next = mip6.ProtoRouting
				plen += 24
			}
			pkt := mip6.AppendIPv6Header(nil, uint16(plen), next, 64, labHA, res.BADst)
			if rh2 {
				pkt = mip6.AppendRoutingHeader2(pkt, mip6.ProtoMobility, res.HomeAddress)
			}
			pkt = append(pkt, res.BA...)
			if err := sender.Send(pkt, 0); err != nil {
				t.Logf("ha: sending BA: %v", err)
			}
		}
	}()
	t.Cleanup(func() {
		ic.Close()
		for _, l := range ls {
			l.Close()
		}
		close(stop)
		wg.Wait()
		sender.Close()
		fwd.Close()
	})
	return h
}

func (h *testHA) set(coa netip.Addr, ok bool) {
	h.mu.Lock()
	h.coa, h.has = coa, ok
	h.mu.Unlock()
}

func (h *testHA) binding() (netip.Addr, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.coa, h.has
}

// syncBuffer collects the daemon's log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) tail(n int) string {
	lines := strings.Split(s.String(), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// between returns the time from the last "link up" event of iface to the
// "registered" event after it, from the JSON log.
func (s *syncBuffer) between(iface string) time.Duration {
	var up, reg float64
	for _, line := range strings.Split(s.String(), "\n") {
		var e struct {
			TS    float64 `json:"ts"`
			Event string  `json:"event"`
			Iface string  `json:"iface"`
			Up    bool    `json:"up"`
		}
		if json.Unmarshal([]byte(line), &e) != nil {
			continue
		}
		switch {
		case e.Event == "link" && e.Iface == iface && e.Up:
			up, reg = e.TS, 0
		case e.Event == "registered" && up != 0 && reg == 0:
			reg = e.TS
		}
	}
	if up == 0 || reg == 0 {
		return -1
	}
	return time.Duration((reg - up) * float64(time.Second))
}
