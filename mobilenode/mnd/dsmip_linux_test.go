package mnd

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/homeagent/had"
	"github.com/gomip6/gomip6/internal/control"
	"github.com/gomip6/gomip6/internal/netlab"
	"github.com/gomip6/gomip6/internal/pcapfile"
	"github.com/gomip6/gomip6/internal/rawsock"
)

// The Dual-Stack MIPv6 lab (issue 8): the real had, the daemon under
// test, an IPv6 foreign link and an IPv4-only link behind an nftables
// masquerade NAT.
//
//	cn c0 ─── hc ha h0 ─────── home link 2001:db8:100::/64 ─── home0 mn
//	2001:db8:2::2   ::1  ::1 (had: RAs, [ipv4] 192.0.2.1)
//	             ha hr ─── rh rt ra ─── link A 2001:db8:a::/64 ─── a0 mn
//	        2001:db8:3::1   ::2
//	             ha hn ─── nh nat nb ── link B 198.51.100.0/24 ─── b0 mn
//	        192.0.2.1   192.0.2.254  .1 (masquerade)           .2
//
// Link B has no IPv6 router: there the daemon's care-of address is
// 198.51.100.2, its Binding Update goes in UDP to 192.0.2.1:4191 through
// the NAT, and the tunnel is IPv6 in UDP.
var (
	dsHA4    = netip.MustParseAddr("192.0.2.1")
	dsCoA4   = netip.MustParseAddr("198.51.100.2")
	dsNATOut = netip.MustParseAddr("192.0.2.254")
)

// dsmipNAT is the NAT: masquerade with random ports, so that a rebinding
// (its conntrack table flushed) shows the home agent a new port.
const dsmipNAT = `table ip dsmiplab {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "nh" masquerade random
	}
}
`

type dsLabRoot struct {
	*rootLab
	nat    *netlab.NS
	dir    string
	had    *had.Daemon
	cancel context.CancelFunc
	done   chan error
}

func newDSMIPLab(t *testing.T) *dsLabRoot { return newDSMIPLabWith(t, "") }

// newDSMIPLabWith builds the lab with haIPv4 added to had.toml's [ipv4].
func newDSMIPLabWith(t *testing.T, haIPv4 string) *dsLabRoot {
	return newDSMIPLabKeepalive(t, haIPv4, "2s")
}

// newDSMIPLabKeepalive builds the lab with had's NAT keepalive interval
// keepalive.
func newDSMIPLabKeepalive(t *testing.T, haIPv4, keepalive string) *dsLabRoot {
	netlab.SkipUnlessRoot(t)
	l := &dsLabRoot{rootLab: &rootLab{t: t, logs: &syncBuffer{}}, dir: t.TempDir()}
	var err error
	l.nl, err = netlab.New(t)
	must(t, err)
	for _, p := range []struct {
		ns   **netlab.NS
		name string
	}{{&l.mn, "mn"}, {&l.ha, "ha"}, {&l.rt, "rt"}, {&l.cn, "cn"}, {&l.nat, "nat"}} {
		*p.ns, err = l.nl.NS(p.name)
		must(t, err)
	}
	for _, ns := range []*netlab.NS{l.ha, l.rt, l.cn, l.nat} {
		must(t, ns.DisableDAD())
	}
	must(t, l.nl.Link(l.cn, "c0", l.ha, "hc"))
	must(t, l.nl.Link(l.ha, "h0", l.mn, "home0"))
	must(t, l.nl.Link(l.ha, "hr", l.rt, "rh"))
	must(t, l.nl.Link(l.rt, "ra", l.mn, "a0"))
	must(t, l.nl.Link(l.ha, "hn", l.nat, "nh"))
	must(t, l.nl.Link(l.nat, "nb", l.mn, "b0"))
	for _, a := range []struct {
		ns        *netlab.NS
		ifn, cidr string
	}{
		{l.cn, "c0", "2001:db8:2::2/64"}, {l.ha, "hc", "2001:db8:2::1/64"},
		{l.cn, "c0", "203.0.113.2/25"}, {l.ha, "hc", "203.0.113.1/25"},
		{l.ha, "h0", "2001:db8:100::1/64"},
		{l.ha, "hr", "2001:db8:3::1/64"}, {l.rt, "rh", "2001:db8:3::2/64"},
		{l.rt, "ra", "2001:db8:a::1/64"},
		{l.ha, "hn", "192.0.2.1/24"}, {l.nat, "nh", "192.0.2.254/24"},
		{l.nat, "nb", "198.51.100.1/24"}, {l.mn, "b0", "198.51.100.2/24"},
	} {
		must(t, a.ns.Addr(a.ifn, a.cidr))
	}
	must(t, l.cn.Route("default", "via", "2001:db8:2::1"))
	must(t, l.cn.Route("default", "via", "203.0.113.1"))
	must(t, l.ha.Route("2001:db8:a::/64", "via", "2001:db8:3::2"))
	must(t, l.rt.Route("default", "via", "2001:db8:3::1"))
	must(t, l.ha.Forwarding(true, false))
	must(t, l.rt.Forwarding(true, false))
	must(t, l.nat.Forwarding(false, true))
	rules := filepath.Join(l.dir, "nat.nft")
	must(t, os.WriteFile(rules, []byte(dsmipNAT), 0o600))
	_, err = l.nat.Run("nft", "-f", rules)
	must(t, err)
	ra := netlab.RA{MinInterval: 300 * time.Millisecond, MaxInterval: time.Second, RouterLifetime: 9 * time.Second, Prefixes: []string{"2001:db8:a::/64"}}
	_, err = l.rt.StartRadvd("ra", ra)
	must(t, err)
	l.startHAD("nat_keepalive = " + strconv.Quote(keepalive) + "\n" + haIPv4)
	l.sock = filepath.Join(l.dir, "mnd.sock")
	return l
}

// startHAD runs the real home agent daemon in ha, in-process, with its
// own Router Advertisements on the home link; ipv4Extra goes into
// [ipv4] (newDSMIPLab: a 2 s NAT keepalive, so that a NAT rebinding
// heals within seconds even without the mobile node's liveness check).
func (l *dsLabRoot) startHAD(ipv4Extra string) {
	t := l.t
	cfg, err := conf.ParseHA([]byte(fmt.Sprintf(`
state_file = %q
[home]
interface = "h0"
prefix = "2001:db8:100::/64"
address = "2001:db8:100::1"
max_lifetime = "10m"
[router_advertisements]
enabled = true
min_interval = "300ms"
max_interval = "1s"
[ipv4]
address = "192.0.2.1"
%s
[[mobile_node]]
id = "laptop@home.example"
home_address = "2001:db8:100::10"
spi = 1000
key = %q
[control]
socket = %q
`, filepath.Join(l.dir, "had.state"), ipv4Extra, base64.StdEncoding.EncodeToString(labKey), filepath.Join(l.dir, "had.sock"))))
	must(t, err)
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	must(t, l.ha.Do(func() (err error) {
		l.had, err = had.New(cfg, had.Options{Log: log, SkipDAD: true})
		return err
	}))
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan error, 1)
	go func() { l.done <- l.had.Run(ctx, nil) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-l.done:
			if err != nil {
				t.Errorf("had: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("had did not stop")
		}
	})
}

func (l *dsLabRoot) mnConf() *conf.MN { return l.mnConfIfs(`"home0", "a0", "b0"`) }

func (l *dsLabRoot) mnConfIfs(ifs string) *conf.MN { return l.mnConfExtra(ifs, "") }

func (l *dsLabRoot) mnConfExtra(ifs, extra string) *conf.MN {
	return l.mnConfHA(`home_agent = "2001:db8:100::1"`, ifs, extra)
}

func (l *dsLabRoot) mnConfHA(ha, ifs, extra string) *conf.MN {
	c, err := conf.ParseMN([]byte(fmt.Sprintf(`
id = "laptop@home.example"
home_address = "2001:db8:100::10"
home_prefix = "2001:db8:100::/64"
%s
home_agent_ipv4 = "192.0.2.1"
spi = 1000
key = %q
interfaces = [%s]
lifetime = "60s"
%s
[control]
socket = %q
`, ha, base64.StdEncoding.EncodeToString(labKey), ifs, extra, l.sock)))
	must(l.t, err)
	return c
}

// haBinding returns the care-of address and encapsulation of had's binding
// for the home address, from its control socket.
func (l *dsLabRoot) haBinding() (coa, encap string, ok bool) {
	body, err := control.NewClient(filepath.Join(l.dir, "had.sock")).Get(context.Background(), "/v1/status")
	if err != nil {
		return "", "", false
	}
	var st struct {
		Bindings []struct {
			HomeAddress   string `json:"home_address"`
			CareOfAddress string `json:"care_of_address"`
			CareOfPort    uint16 `json:"care_of_port"`
			Encapsulation string `json:"encapsulation"`
		} `json:"bindings"`
	}
	if json.Unmarshal(body, &st) != nil {
		return "", "", false
	}
	for _, b := range st.Bindings {
		if b.HomeAddress == labHoA.String() {
			if b.CareOfPort != 0 {
				return b.CareOfAddress + ":" + fmt.Sprint(b.CareOfPort), b.Encapsulation, true
			}
			return b.CareOfAddress, b.Encapsulation, true
		}
	}
	return "", "", false
}

// linkB brings link B up as a DHCP client would: link up, then the IPv4
// default route (an administrative down flushed it; the address stays).
func (l *dsLabRoot) linkB() {
	l.link("b0", true)
	_, err := l.mn.IP("-4", "route", "replace", "default", "via", "198.51.100.1", "dev", "b0")
	must(l.t, err)
}

func onIPv4(d *Daemon) func() bool {
	return func() bool {
		s := d.Status()
		return s.Registered && s.CareOfAddress == dsCoA4
	}
}

// TestRootDSMIP: a tour home -> IPv6 link A -> NATed IPv4 link B -> NAT
// rebinding -> A -> B -> home -> B under a live TCP connection from the
// home address, with the correspondent pinging the home address at every
// stop, against the real had (homeagent/had, in-process).
func TestRootDSMIP(t *testing.T) {
	l := newDSMIPLab(t)
	l.link("a0", false)
	l.link("b0", false)
	d, stop := l.startConf(l.mnConf())
	l.waitFor("at home", 10*time.Second, func() bool { s := d.Status(); return s.AtHome && s.State == "at-home" })
	must(t, l.cn.Ping(labHoA, 5*time.Second))
	echo := l.tcpEcho()
	echo("at home")

	toA := func(from string) {
		t.Helper()
		l.link(from, false)
		start := time.Now()
		l.link("a0", true)
		l.waitFor("registration on link A", 15*time.Second, registeredIn(d, labPfxA))
		t.Logf("%s -> A: registered after %v", from, time.Since(start))
		if s := d.Status(); s.Encapsulation != "ipv6" || s.NAT {
			t.Errorf("on A: status %+v", s)
		}
		must(t, l.cn.Ping(labHoA, 5*time.Second))
		echo("on link A from " + from)
	}
	toB := func(from string) {
		t.Helper()
		l.link(from, false)
		start := time.Now()
		l.linkB()
		l.waitFor("registration on the NATed IPv4 link B", 15*time.Second, onIPv4(d))
		t.Logf("%s -> B: registered after %v", from, time.Since(start))
		s := d.Status()
		if s.Encapsulation != "udp4" || !s.NAT || s.NATKeepaliveS != 2 || s.Interface != "b0" {
			t.Errorf("on B: status %+v", s)
		}
		l.waitFor("had's binding through the NAT", 5*time.Second, func() bool {
			coa, encap, ok := l.haBinding()
			return ok && encap == "udp4" && strings.HasPrefix(coa, dsNATOut.String()+":")
		})
		coa, encap, _ := l.haBinding()
		t.Logf("had: care-of %s, %s", coa, encap)
		routes, err := l.mn.IP("-4", "route", "show", "proto", fmt.Sprint(RouteProtocol))
		must(t, err)
		if !strings.Contains(routes, "192.0.2.1 via 198.51.100.1 dev b0") {
			t.Errorf("IPv4 route to the home agent: %q", routes)
		}
		routes6, err := l.mn.IP("-6", "route", "show", "default")
		must(t, err)
		if !strings.Contains(routes6, "dev mip0") || strings.Contains(routes6, "dev b0") || strings.Contains(routes6, "dev a0") {
			t.Errorf("IPv6 defaults on B: %q", routes6)
		}
		must(t, l.cn.Ping(labHoA, 5*time.Second))
		echo("on link B from " + from)
	}

	toA("home0")
	// The move into the NATed network under a flow of datagrams from
	// the correspondent to the home address (issue 8: at most 1 s from
	// link-up to the first packet delivered).
	flow := l.udpFlow()
	time.Sleep(200 * time.Millisecond)
	toB("a0")
	time.Sleep(200 * time.Millisecond)
	gap, lost, got := flow()
	t.Logf("flow during A -> B: %d datagrams received, %d lost, longest gap %v", got, lost, gap)
	if got == 0 || gap > 5*time.Second {
		t.Errorf("flow A -> B: longest gap %v, %d received", gap, got)
	}

	// A NAT rebinding: the NAT forgets its mappings; the tunnel's next
	// packets get a new public port, and the next keepalive (2 s) moves
	// had's binding to it.
	before, _, _ := l.haBinding()
	must(t, l.nat.Do(func() error { return netlink.ConntrackTableFlush(netlink.ConntrackTable) }))
	start := time.Now()
	l.waitFor("had following the NAT rebinding", 10*time.Second, func() bool {
		coa, _, ok := l.haBinding()
		return ok && coa != before
	})
	must(t, l.cn.Ping(labHoA, 5*time.Second))
	after, _, _ := l.haBinding()
	t.Logf("NAT rebinding: had moved from %s to %s after %v", before, after, time.Since(start))
	echo("after the NAT rebinding")

	toA("b0")
	toB("a0")

	flow = l.udpFlow()
	time.Sleep(200 * time.Millisecond)
	l.link("b0", false)
	start = time.Now()
	l.link("home0", true)
	l.waitFor("return home", 15*time.Second, func() bool { s := d.Status(); return s.AtHome && s.State == "at-home" })
	t.Logf("B -> home: de-registered after %v", time.Since(start))
	time.Sleep(200 * time.Millisecond)
	gap, lost, got = flow()
	t.Logf("flow during B -> home: %d datagrams received, %d lost, longest gap %v", got, lost, gap)
	if got == 0 || gap > 5*time.Second {
		t.Errorf("flow B -> home: longest gap %v, %d received", gap, got)
	}
	if s := d.Status(); s.Encapsulation != "ipv6" || s.NAT {
		t.Errorf("at home: status %+v", s)
	}
	l.waitFor("had's binding gone", 5*time.Second, func() bool { _, _, ok := l.haBinding(); return !ok })
	must(t, l.cn.Ping(labHoA, 5*time.Second))
	echo("home again")

	// Straight from home into the NATed network, and the shutdown there.
	toB("home0")
	stop()
	l.checkClean()
	if out, err := l.mn.IP("-4", "route", "show", "table", "all", "proto", fmt.Sprint(RouteProtocol)); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("IPv4 routes left: %q %v", out, err)
	}
	l.checkQuiet(d)
}

// TestRootDSMIPNATRebinding: with the default 110 s NAT keepalive, a NAT
// that loses its mapping mid-flow costs about DefaultLiveness, not a
// keepalive interval: the mobile node's TCP segments leave through a new
// mapping that had drops, nothing comes back, and the liveness check's
// refresh Binding Update moves had's binding to the new mapping.
func TestRootDSMIPNATRebinding(t *testing.T) {
	l := newDSMIPLabKeepalive(t, "", "110s")
	l.link("a0", false)
	l.link("home0", false)
	l.linkB()
	d, _ := l.startConf(l.mnConf())
	l.waitFor("registration on the NATed IPv4 link B", 15*time.Second, onIPv4(d))
	if s := d.Status(); !s.NAT || s.NATKeepaliveS != 110 {
		t.Fatalf("status %+v, want a NAT with the 110 s keepalive", s)
	}
	echo := l.tcpEcho()
	echo("before the NAT rebinding")
	before, _, _ := l.haBinding()
	must(t, l.nat.Do(func() error { return netlink.ConntrackTableFlush(netlink.ConntrackTable) }))
	start := time.Now()
	// had's binding is watched from the side while the segment goes out
	// through a new mapping; its echo comes back only once had follows.
	moved := make(chan time.Duration, 1)
	go func() {
		for time.Since(start) < 20*time.Second {
			if coa, _, ok := l.haBinding(); ok && coa != before {
				moved <- time.Since(start)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		close(moved)
	}()
	echo("across the NAT rebinding")
	took, ok := <-moved
	if !ok {
		t.Fatal("had's binding never followed the NAT rebinding")
	}
	after, _, _ := l.haBinding()
	t.Logf("NAT rebinding: had moved from %s to %s after %v", before, after, took)
	// The window, a poll period, the first TCP retransmissions and the
	// Binding Update round trip; a keepalive would take 110 s.
	if limit := DefaultLiveness + 3*time.Second; took > limit {
		t.Errorf("recovery took %v, want at most %v", took, limit)
	}
	t.Logf("TCP echo back %v after the flush", time.Since(start))
	if !strings.Contains(l.logs.String(), `"event":"liveness_refresh"`) || !strings.Contains(l.logs.String(), `"nat":true`) {
		t.Error("no liveness_refresh with nat true logged")
	}
	l.checkQuiet(d)
}

// TestRootDSMIPShutdownOnIPv4: started on the NATed IPv4 link, the daemon
// registers there, and a shutdown de-registers through the NAT (the
// Binding Acknowledgement comes back through the forwarder's socket) and
// removes everything, the IPv4 route too.
func TestRootDSMIPShutdownOnIPv4(t *testing.T) {
	l := newDSMIPLab(t)
	l.link("a0", false)
	l.link("home0", false)
	l.linkB()
	pcap := l.capture4191("nb")
	d, stop := l.startConf(l.mnConf())
	l.waitFor("registration on the NATed IPv4 link B", 15*time.Second, onIPv4(d))
	must(t, l.cn.Ping(labHoA, 5*time.Second))
	must(t, l.mn.Ping(labCN, 5*time.Second))
	l.checkWire(pcap())

	// The visited network's default route changes its next hop (DHCP
	// renewal, `ip route replace`): the route to the home agent follows.
	must(t, l.nat.Addr("nb", "198.51.100.254/24"))
	_, err := l.mn.IP("-4", "route", "replace", "default", "via", "198.51.100.254", "dev", "b0")
	must(t, err)
	l.waitFor("the route to the home agent via the new gateway", 5*time.Second, func() bool {
		out, err := l.mn.IP("-4", "route", "show", "proto", fmt.Sprint(RouteProtocol))
		return err == nil && strings.Contains(out, "192.0.2.1 via 198.51.100.254 dev b0")
	})
	must(t, l.cn.Ping(labHoA, 5*time.Second))
	stop()
	if _, _, ok := l.haBinding(); ok {
		t.Error("had still holds a binding after the shutdown")
	}
	if !strings.Contains(l.logs.String(), `"event":"deregistered"`) {
		t.Errorf("no acknowledged de-registration:\n%s", l.logs.tail(20))
	}
	l.checkClean()
	if out, err := l.mn.IP("-4", "route", "show", "table", "all", "proto", fmt.Sprint(RouteProtocol)); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("IPv4 routes left: %q %v", out, err)
	}
	l.checkQuiet(d)
}

// checkQuiet asserts that the daemon had no route or send error and
// logged no error.
func (l *dsLabRoot) checkQuiet(d *Daemon) {
	t := l.t
	t.Helper()
	if c := d.Counters(); c.RouteErrors != 0 || c.SendErrors != 0 {
		t.Errorf("counters %+v", c)
	}
	for _, line := range strings.Split(l.logs.String(), "\n") {
		if strings.Contains(line, `"level":"error"`) {
			t.Errorf("error logged: %s", line)
		}
	}
}

// TestRootDSMIPPreference: with the IPv4-only link first in mnd.toml and
// both links up, the IPv6 link wins (chooseCareOf); when it goes down the
// node fails over to the IPv4 link, and back when it returns.
func TestRootDSMIPPreference(t *testing.T) {
	l := newDSMIPLab(t)
	l.link("home0", false)
	l.linkB()
	d, stop := l.startConf(l.mnConfIfs(`"home0", "b0", "a0"`))
	// B's IPv4 address may come first (it is there at start, A's needs
	// a Router Advertisement); then A's IPv6 one wins.
	l.waitFor("registration on link A", 15*time.Second, registeredIn(d, labPfxA))
	moves := d.Counters().Moves
	// Stays there: link B's IPv4 address is no reason to move.
	time.Sleep(500 * time.Millisecond)
	if s := d.Status(); !labPfxA.Contains(s.CareOfAddress) || d.Counters().Moves != moves {
		t.Fatalf("after 0.5 s: status %+v, counters %+v", s, d.Counters())
	}
	echo := l.tcpEcho()
	echo("on A")
	l.link("a0", false)
	l.waitFor("fail-over to the IPv4 link", 10*time.Second, onIPv4(d))
	must(t, l.cn.Ping(labHoA, 5*time.Second))
	echo("failed over to B")
	l.link("a0", true)
	l.waitFor("back on link A", 15*time.Second, registeredIn(d, labPfxA))
	must(t, l.cn.Ping(labHoA, 5*time.Second))
	echo("back on A")
	stop()
	l.checkClean()
	l.checkQuiet(d)
}

// capture4191 records the UDP port 4191 packets on the NAT's inside
// interface ifname (both ways) and returns a function that stops and
// writes them to a pcap file (LINKTYPE_IPV4), returning its path.
func (l *dsLabRoot) capture4191(ifname string) func() string {
	t := l.t
	var ln *rawsock.Listener
	must(t, l.nat.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		prog, err := rawsock.Assemble(rawsock.IPv4UDPPortFilter(rawsock.LinkIP, 4191))
		if err != nil {
			return err
		}
		ln, err = rawsock.Listen(ifi, rawsock.Config{Filter: prog, Protocol: unix.ETH_P_IP, IncludeOutgoing: true})
		return err
	}))
	type pkt struct {
		at   time.Time
		data []byte
	}
	ch := make(chan []pkt, 1)
	go func() {
		var got []pkt
		buf := make([]byte, 65536)
		for {
			n, _, err := ln.Read(buf)
			if err != nil {
				ch <- got
				return
			}
			got = append(got, pkt{time.Now(), append([]byte(nil), buf[:n]...)})
		}
	}()
	var once sync.Once
	var path string
	return func() string {
		once.Do(func() {
			ln.Close()
			got := <-ch
			path = filepath.Join(l.dir, "dsmip.pcap")
			f, err := os.Create(path)
			must(t, err)
			defer f.Close()
			w, err := pcapfile.NewWriter(f, 228) // LINKTYPE_IPV4
			must(t, err)
			for _, p := range got {
				must(t, w.WritePacket(p.at, p.data))
			}
		})
		return path
	}
}

// checkWire decodes the capture with tshark, independently of our
// encoders, and checks the first Binding Update and Binding
// Acknowledgement of RFC 5555 §4.2 as they cross the NAT's inside link:
// IPv6 in UDP from the care-of address port 4191 to the home agent's IPv4
// address port 4191, inner packet from the home address to the home
// agent with the IPv4 Care-of Address option (§3.1.2) and no Home
// Address option; the answer back through the mapping, with a NAT
// Detection option (§3.2.2) giving the 2 s refresh time of had.toml.
func (l *dsLabRoot) checkWire(path string) {
	t := l.t
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Log("no tshark: wire check skipped")
		return
	}
	out, err := exec.Command("tshark", "-r", path, "-d", "udp.port==4191,ipv6", "-T", "fields", "-E", "separator=|",
		"-e", "ip.src", "-e", "ip.dst", "-e", "udp.srcport", "-e", "udp.dstport", "-e", "ipv6.src", "-e", "ipv6.dst",
		"-e", "ipv6.nxt", "-e", "mip6.mhtype", "-e", "mip6.ipv4coa.addr", "-e", "mip6.natd.refresh_t", "-e", "mip6.natd.f_flag",
		"-Y", "mipv6").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	var bu, ba string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) < 11 {
			continue
		}
		switch {
		case f[7] == "5" && bu == "":
			bu = line
		case f[7] == "6" && ba == "":
			ba = line
		}
	}
	t.Logf("tshark: BU %s; BA %s", bu, ba)
	wantBU := fmt.Sprintf("%s|%s|4191|4191|%s|%s|135|5|%s||", dsCoA4, dsHA4, labHoA, labHA, dsCoA4)
	if bu != wantBU {
		t.Errorf("Binding Update on the wire:\n got %s\nwant %s\nall:\n%s", bu, wantBU, out)
	}
	wantBA := fmt.Sprintf("%s|%s|4191|4191|%s|%s|135|6||2|0", dsHA4, dsCoA4, labHA, labHoA)
	if ba != wantBA {
		t.Errorf("Binding Acknowledgement on the wire:\n got %s\nwant %s\nall:\n%s", ba, wantBA, out)
	}
}

// TestRootDSMIPIPv4HomeAddress: with ipv4_home_address the node gets an
// IPv4 home address from had's pool on the NATed IPv4 link, the
// correspondent reaches it over IPv4 and the node's own IPv4 traffic goes
// home through mip0 with it as source; on the IPv6 link it is withdrawn
// (IPv6 in IPv6 cannot carry it), and back on the IPv4 link it returns.
func TestRootDSMIPIPv4HomeAddress(t *testing.T) {
	pool := netip.MustParsePrefix("203.0.113.144/28")
	cn4 := netip.MustParseAddr("203.0.113.2")
	l := newDSMIPLabWith(t, fmt.Sprintf("home_pool = %q", pool))
	l.link("a0", false)
	l.link("home0", false)
	l.linkB()
	d, stop := l.startConf(l.mnConfExtra(`"home0", "a0", "b0"`, `ipv4_home_address = "0.0.0.0"`))
	l.waitFor("an IPv4 home address", 15*time.Second, func() bool { s := d.Status(); return s.Registered && s.IPv4HomeAddress.IsValid() })
	hoa4 := d.Status().IPv4HomeAddress
	if !pool.Contains(hoa4) {
		t.Fatalf("IPv4 home address %v outside had's pool %v", hoa4, pool)
	}
	t.Logf("IPv4 home address %v", hoa4)
	check := func(where string) {
		t.Helper()
		out, err := l.mn.IP("-4", "route", "get", cn4.String())
		must(t, err)
		if !strings.Contains(out, "dev mip0") || !strings.Contains(out, "src "+hoa4.String()) {
			t.Errorf("%s: IPv4 route to the correspondent: %q", where, out)
		}
		if out, err := l.mn.IP("-4", "route", "get", dsHA4.String()); err != nil || !strings.Contains(out, "dev b0") {
			t.Errorf("%s: IPv4 route to the home agent: %q %v", where, out, err)
		}
		must(t, l.cn.Ping(hoa4, 5*time.Second))
		must(t, l.mn.Ping(cn4, 5*time.Second))
	}
	check("on B")

	l.link("b0", false)
	l.link("a0", true)
	l.waitFor("registration on A, IPv4 home address withdrawn", 15*time.Second, func() bool {
		s := d.Status()
		return registeredIn(d, labPfxA)() && !s.IPv4HomeAddress.IsValid()
	})
	if out, _ := l.mn.IP("-4", "addr", "show", "dev", "mip0"); strings.Contains(out, hoa4.String()) {
		t.Errorf("IPv4 home address still on mip0 on the IPv6 link:\n%s", out)
	}
	if out, _ := l.mn.IP("-4", "route", "show", "dev", "mip0"); strings.TrimSpace(out) != "" {
		t.Errorf("IPv4 routes into mip0 on the IPv6 link:\n%s", out)
	}
	must(t, l.cn.Ping(labHoA, 5*time.Second))

	l.link("a0", false)
	l.linkB()
	l.waitFor("the IPv4 home address back on B", 15*time.Second, func() bool {
		s := d.Status()
		return s.Registered && s.CareOfAddress == dsCoA4 && s.IPv4HomeAddress == hoa4
	})
	check("back on B")
	stop()
	l.checkClean()
	if out, err := l.mn.IP("-4", "route", "show", "table", "all", "proto", fmt.Sprint(RouteProtocol)); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("IPv4 routes left: %q %v", out, err)
	}
	l.checkQuiet(d)
}

// TestRootDSMIPCleanup: -cleanup also removes the IPv4 route to the home
// agent that a crashed run on an IPv4 link left.
func TestRootDSMIPCleanup(t *testing.T) {
	l := newRootLab(t)
	must(t, l.mn.Addr("b0", "198.51.100.2/24"))
	_, err := l.mn.IP("-4", "route", "add", "192.0.2.1/32", "via", "198.51.100.1", "dev", "b0", "metric", "1", "proto", fmt.Sprint(RouteProtocol))
	must(t, err)
	_, err = l.mn.IP("-4", "route", "add", "203.0.113.0/24", "via", "198.51.100.1", "dev", "b0")
	must(t, err)
	var out strings.Builder
	must(t, l.mn.Do(func() error { return Cleanup(l.mnConf(), &out) }))
	t.Log(out.String())
	routes, err := l.mn.IP("-4", "route", "show", "table", "all")
	must(t, err)
	if strings.Contains(routes, "192.0.2.1") || !strings.Contains(routes, "203.0.113.0/24") {
		t.Errorf("after cleanup (ours gone, the others kept):\n%s", routes)
	}
}

// TestRootDSMIPNoNAT: link B routed without a NAT. The home agent sees
// the care-of address itself, its Binding Acknowledgement carries no NAT
// Detection option, and the tunnel is IPv6 in IPv4 (protocol 41, status
// "ipv4"); moves to the IPv6 link and back switch the tunnel kind under a
// live TCP connection.
func TestRootDSMIPNoNAT(t *testing.T) {
	l := newDSMIPLab(t)
	_, err := l.nat.Run("nft", "delete", "table", "ip", "dsmiplab")
	must(t, err)
	must(t, l.ha.Route("198.51.100.0/24", "via", "192.0.2.254"))
	l.link("a0", false)
	l.link("home0", false)
	l.linkB()
	d, stop := l.startConf(l.mnConf())
	onB := func(what string) {
		t.Helper()
		l.waitFor(what, 15*time.Second, onIPv4(d))
		if s := d.Status(); s.Encapsulation != "ipv4" || s.NAT || s.NATKeepaliveS != 0 {
			t.Errorf("%s: status %+v", what, s)
		}
		l.waitFor("had's 6in4 binding", 5*time.Second, func() bool {
			coa, encap, ok := l.haBinding()
			return ok && encap == "ipv4" && coa == dsCoA4.String()
		})
		must(t, l.cn.Ping(labHoA, 5*time.Second))
	}
	onB("registration on link B without a NAT")
	echo := l.tcpEcho()
	echo("on B, 6in4")

	l.link("b0", false)
	l.link("a0", true)
	l.waitFor("registration on link A", 15*time.Second, registeredIn(d, labPfxA))
	must(t, l.cn.Ping(labHoA, 5*time.Second))
	echo("on A")

	l.link("a0", false)
	l.linkB()
	onB("back on link B")
	echo("back on B, 6in4")
	stop()
	l.checkClean()
	l.checkQuiet(d)
}

// TestRootDSMIPDiscovery: without home_agent, an IPv4-only link cannot
// find the home agent (DHAAD is IPv6, RFC 6275 §11.4.1): the node says
// so and waits; once an IPv6 link has found it, the IPv4 link works.
func TestRootDSMIPDiscovery(t *testing.T) {
	l := newDSMIPLab(t)
	l.link("a0", false)
	l.link("home0", false)
	l.linkB()
	d, stop := l.startConf(l.mnConfHA("", `"home0", "a0", "b0"`, ""))
	l.waitFor("the warning about DHAAD over IPv4", 5*time.Second, func() bool {
		return strings.Contains(l.logs.String(), "an IPv4 care-of address needs a known home agent")
	})
	if s := d.Status(); s.Registered || s.CareOfAddress.IsValid() {
		t.Errorf("registered without a home agent: %+v", s)
	}
	l.link("a0", true)
	l.waitFor("registration on A with the discovered home agent", 15*time.Second, registeredIn(d, labPfxA))
	l.link("a0", false)
	l.waitFor("registration on B", 15*time.Second, onIPv4(d))
	must(t, l.cn.Ping(labHoA, 5*time.Second))
	stop()
	l.checkClean()
}

// TestRootDSMIPFlaps: fifty flaps of the IPv4 link (each followed by its
// default route, as a DHCP client does) leave no goroutine or descriptor
// behind, and the node ends registered there (flap damping holds a link
// down only while another one is usable).
func TestRootDSMIPFlaps(t *testing.T) {
	l := newDSMIPLab(t)
	l.link("a0", false)
	l.link("home0", false)
	l.linkB()
	d, stop := l.startConf(l.mnConf())
	l.waitFor("registration on B", 15*time.Second, onIPv4(d))
	g0, f0 := runtime.NumGoroutine(), countFDs(t)
	for range 50 {
		l.link("b0", false)
		l.linkB()
	}
	took := l.waitFor("registration after the flaps", 15*time.Second, func() bool {
		return onIPv4(d)() && d.Status().State == "registered"
	})
	t.Logf("registered %v after the last flap; counters %+v", took, d.Counters())
	must(t, l.cn.Ping(labHoA, 5*time.Second))
	l.waitFor("goroutines and descriptors back", 5*time.Second, func() bool {
		return runtime.NumGoroutine() <= g0 && countFDs(t) <= f0
	})
	stop()
	l.checkClean()
	l.checkQuiet(d)
}

// TestRootDSMIPLinkDownRoutes: Linux drops the IPv4 routes of an
// interface taken down without telling netlink listeners; brought up
// again without its default route (no DHCP answer yet), the IPv4 link is
// no care-of address, and it becomes one when the route returns.
func TestRootDSMIPLinkDownRoutes(t *testing.T) {
	l := newDSMIPLab(t)
	l.link("a0", false)
	l.link("home0", false)
	l.linkB()
	d, stop := l.startConf(l.mnConf())
	l.waitFor("registration on B", 15*time.Second, onIPv4(d))
	l.link("b0", false)
	l.link("b0", true)
	time.Sleep(time.Second)
	if s, c := d.Status(), d.Counters(); s.CareOfAddress.IsValid() || c.SendErrors != 0 {
		t.Errorf("b0 up without a default route: status %+v, %d send errors", s, c.SendErrors)
	}
	l.linkB()
	l.waitFor("registration on B once the route is back", 15*time.Second, onIPv4(d))
	must(t, l.cn.Ping(labHoA, 5*time.Second))
	stop()
	l.checkClean()
	l.checkQuiet(d)
}
