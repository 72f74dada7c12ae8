package mnd

import (
	"encoding/base64"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/homeagent"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/mobilenode"
	"github.com/gomip6/gomip6/tunnel"
)

var (
	tHA4     = netip.MustParseAddr("192.0.2.1")
	tCoA4    = netip.MustParseAddr("198.51.100.7")
	tCoA4b   = netip.MustParseAddr("198.51.100.8")
	tGW4     = netip.MustParseAddr("198.51.100.1")
	tNATPub  = netip.MustParseAddr("203.0.113.200")
	tHomePfx = netip.MustParsePrefix("2001:db8:100::/64")
)

func moved(iface string, coa netip.Addr) mobilenode.MoveEvent {
	return mobilenode.MoveEvent{Kind: mobilenode.MovedTo, Interface: iface, CareOf: coa}
}

var lost = mobilenode.MoveEvent{Kind: mobilenode.LostConnectivity}

// TestChooseCareOf: home first, then IPv6 on any interface, then IPv4 in
// preference order, held-down interfaces last.
func TestChooseCareOf(t *testing.T) {
	withV4 := &ipv4Link{addrs: []netip.Addr{tCoA4}, defaults: []v4Default{{gw: tGW4}}}
	twoV4 := &ipv4Link{addrs: []netip.Addr{tCoA4, tCoA4b}, defaults: []v4Default{{gw: tGW4}}}
	devRoute := &ipv4Link{addrs: []netip.Addr{tCoA4b}, defaults: []v4Default{{}}}
	noRoute := &ipv4Link{addrs: []netip.Addr{tCoA4}}
	linkLocal := &ipv4Link{addrs: []netip.Addr{netip.MustParseAddr("169.254.3.4")}, defaults: []v4Default{{}}}
	all := func(string) bool { return true }
	none := func(string) bool { return false }
	only := func(n string) func(string) bool { return func(x string) bool { return x == n } }
	tests := []struct {
		name string
		in   chooseInput
		want mobilenode.MoveEvent
	}{
		{"home wins over IPv4 on a preferred link",
			chooseInput{IPv6: mobilenode.MoveEvent{Kind: mobilenode.ReturnedHome, Interface: "b0"}, IPv4: map[string]*ipv4Link{"a0": withV4}},
			mobilenode.MoveEvent{Kind: mobilenode.ReturnedHome, Interface: "b0"}},
		{"IPv6 on the less preferred link wins over IPv4",
			chooseInput{IPv6: moved("b0", tCoA2), IPv4: map[string]*ipv4Link{"a0": withV4}},
			moved("b0", tCoA2)},
		{"IPv6 and IPv4 on the same link: IPv6",
			chooseInput{IPv6: moved("a0", tCoA1), IPv4: map[string]*ipv4Link{"a0": withV4}},
			moved("a0", tCoA1)},
		{"no IPv6: the first IPv4 link",
			chooseInput{IPv6: lost, IPv4: map[string]*ipv4Link{"a0": withV4, "b0": devRoute}},
			moved("a0", tCoA4)},
		{"IPv6 decision never made yet: IPv4",
			chooseInput{IPv4: map[string]*ipv4Link{"b0": withV4}},
			moved("b0", tCoA4)},
		{"IPv4 without a default route is not a way out",
			chooseInput{IPv6: lost, IPv4: map[string]*ipv4Link{"a0": noRoute, "b0": devRoute}},
			moved("b0", tCoA4b)},
		{"link-local IPv4 only",
			chooseInput{IPv6: lost, IPv4: map[string]*ipv4Link{"a0": linkLocal}},
			lost},
		{"down link skipped",
			chooseInput{IPv6: lost, IPv4: map[string]*ipv4Link{"a0": withV4, "b0": devRoute}, Up: only("b0")},
			moved("b0", tCoA4b)},
		{"held-down link skipped while another qualifies",
			chooseInput{IPv6: lost, IPv4: map[string]*ipv4Link{"a0": withV4, "b0": devRoute}, Held: only("a0")},
			moved("b0", tCoA4b)},
		{"held-down link used when it is the only one",
			chooseInput{IPv6: lost, IPv4: map[string]*ipv4Link{"a0": withV4}, Held: only("a0")},
			moved("a0", tCoA4)},
		{"the current address is kept over the first one",
			chooseInput{IPv6: lost, IPv4: map[string]*ipv4Link{"a0": twoV4}, Current: moved("a0", tCoA4b)},
			moved("a0", tCoA4b)},
		{"the current address of another link does not count",
			chooseInput{IPv6: lost, IPv4: map[string]*ipv4Link{"a0": twoV4}, Current: moved("b0", tCoA4b)},
			moved("a0", tCoA4)},
		{"nothing", chooseInput{IPv6: lost}, lost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Interfaces = []string{"a0", "b0"}
			if in.Up == nil {
				in.Up = all
			}
			if in.Held == nil {
				in.Held = none
			}
			got := chooseCareOf(in)
			if d := cmp.Diff(tt.want, got, addrCmp...); d != "" {
				t.Error(d)
			}
		})
	}
}

// TestIPv4LinkRoutes: default route events as netlink reports them (a
// replace is an RTM_NEWROUTE of the same metric with another gateway, not
// a removal and an addition), and the gateway in use is the lowest
// metric's.
func TestIPv4LinkRoutes(t *testing.T) {
	gw2 := netip.MustParseAddr("198.51.100.254")
	var l ipv4Link
	steps := []struct {
		r       v4Default
		add     bool
		changed bool
		gw      netip.Addr
		n       int
	}{
		{v4Default{tGW4, 100}, true, true, tGW4, 1},
		{v4Default{tGW4, 100}, true, false, tGW4, 1},
		{v4Default{gw2, 100}, true, true, gw2, 1}, // ip route replace
		{v4Default{gw2, 50}, true, true, gw2, 2},
		{v4Default{tGW4, 20}, true, true, tGW4, 3},
		{v4Default{tGW4, 100}, false, false, tGW4, 3}, // not that gateway any more
		{v4Default{tGW4, 20}, false, true, gw2, 2},
		{v4Default{gw2, 50}, false, true, gw2, 1},
		{v4Default{gw2, 100}, false, true, netip.Addr{}, 0},
	}
	for i, s := range steps {
		if got := l.routeEvent(s.r, s.add); got != s.changed {
			t.Errorf("step %d: changed %v, want %v", i, got, s.changed)
		}
		if g := l.gateway(); g != s.gw || len(l.defaults) != s.n {
			t.Errorf("step %d: gateway %v with %d routes, want %v with %d", i, g, len(l.defaults), s.gw, s.n)
		}
	}
	l.addrs = []netip.Addr{tCoA4}
	if _, ok := l.careOf(netip.Addr{}); ok {
		t.Error("care-of address without a default route")
	}
}

func away4() Plan {
	return PlanAway(Away{Tunnel: "mip0", Iface: "b0", Router: tGW4, CareOf: tCoA4, HomeAddress: tHoA,
		HomeAgent: tHA, HomePrefix: tHomePfx, HomeAgentIPv4: tHA4})
}

// TestPlanAway4: on an IPv4 care-of address, the IPv6 routes into mip0
// are those of an IPv6 foreign link (same keys), there is an IPv4 host
// route to the home agent's IPv4 address through the IPv4 gateway, and no
// IPv6 route or rule through the physical link.
func TestPlanAway4(t *testing.T) {
	want := Plan{Routes: []Route{
		{Table: 254, Dst: netip.MustParsePrefix("192.0.2.1/32"), Metric: 1, Dev: "b0", Gateway: tGW4},
		{Table: 254, Dst: tAny, Metric: 1, Dev: "mip0", Src: tHoA},
		{Table: 254, Dst: tHomePfx, Metric: 1, Dev: "mip0", Src: tHoA},
	}}
	if d := cmp.Diff(want, away4(), addrCmp...); d != "" {
		t.Error(d)
	}
	// A device route (no gateway: point-to-point link) and no
	// home_agent_ipv4 (not reachable here, but harmless).
	p := PlanAway(Away{Tunnel: "mip0", Iface: "ppp0", CareOf: tCoA4, HomeAddress: tHoA, HomeAgentIPv4: tHA4})
	if len(p.Routes) != 2 || p.Routes[0].Gateway.IsValid() || p.Routes[0].String() != "192.0.2.1/32 dev ppp0 metric 1" {
		t.Errorf("device route plan %v", p.Routes)
	}
}

// TestPlanAway4HomeAddress: with an IPv4 home address the two halves of
// the IPv4 space go into mip0 with it as source, more specific than any
// default of the visited network and less than the host route to the
// home agent; moving to an IPv6 care-of address deletes them.
func TestPlanAway4HomeAddress(t *testing.T) {
	hoa4 := netip.MustParseAddr("203.0.113.145")
	p := PlanAway(Away{Tunnel: "mip0", Iface: "b0", Router: tGW4, CareOf: tCoA4, HomeAddress: tHoA, HomeAgentIPv4: tHA4, HomeAddressIPv4: hoa4})
	want := []Route{
		{Table: 254, Dst: netip.MustParsePrefix("192.0.2.1/32"), Metric: 1, Dev: "b0", Gateway: tGW4},
		{Table: 254, Dst: tAny, Metric: 1, Dev: "mip0", Src: tHoA},
		{Table: 254, Dst: netip.MustParsePrefix("0.0.0.0/1"), Metric: 1, Dev: "mip0", Src: hoa4},
		{Table: 254, Dst: netip.MustParsePrefix("128.0.0.0/1"), Metric: 1, Dev: "mip0", Src: hoa4},
	}
	if d := cmp.Diff(want, p.Routes, addrCmp...); d != "" {
		t.Error(d)
	}
	// Never on an IPv6 care-of address: IPv6 in IPv6 does not carry IPv4.
	v6 := PlanAway(Away{Tunnel: "mip0", Iface: "a0", Router: tRouter, CareOf: tCoA1, HomeAddress: tHoA, HomeAgent: tHA, HomeAddressIPv4: hoa4})
	for _, r := range v6.Routes {
		if r.Dst.Addr().Is4() {
			t.Errorf("IPv4 route on an IPv6 care-of address: %v", r)
		}
	}
	c := Diff(p, v6, nil)
	var deleted []string
	for _, r := range c.Delete {
		deleted = append(deleted, r.Dst.String())
	}
	if d := cmp.Diff([]string{"192.0.2.1/32", "0.0.0.0/1", "128.0.0.0/1"}, deleted); d != "" {
		t.Errorf("IPv4 -> IPv6 deletes: %s", d)
	}
}

// TestDiffIPv4Moves: moves between an IPv6 foreign link, an IPv4 one and
// home never delete the mip0 default (the same key throughout) and delete
// what the previous link needed.
func TestDiffIPv4Moves(t *testing.T) {
	v6 := PlanAway(Away{Tunnel: "mip0", Iface: "a0", Router: tRouter, CareOf: tCoA1, HomeAddress: tHoA, HomeAgent: tHA, HomePrefix: tHomePfx})
	v4 := away4()
	home := PlanHome("home0", tRouter, tHoA)
	ha4 := v4.Routes[0]
	tests := []struct {
		name     string
		old, new Plan
		want     Change
	}{
		{"IPv6 to IPv4", v6, v4,
			Change{Replace: []Route{ha4}, DeleteRules: v6.Rules, Delete: v6.Routes[:2]}},
		{"IPv4 to IPv6", v4, v6,
			Change{Replace: v6.Routes[:2], AddRules: v6.Rules, Delete: []Route{ha4}}},
		{"IPv4 to home", v4, home,
			Change{Replace: home.Routes, Delete: []Route{ha4, v4.Routes[2]}}},
		{"home to IPv4", home, v4,
			Change{Replace: v4.Routes}},
		{"IPv4 gateway change", v4, PlanAway(Away{Tunnel: "mip0", Iface: "b0", Router: netip.MustParseAddr("198.51.100.254"),
			CareOf: tCoA4, HomeAddress: tHoA, HomeAgent: tHA, HomePrefix: tHomePfx, HomeAgentIPv4: tHA4}),
			Change{Replace: []Route{{Table: 254, Dst: ha4.Dst, Metric: 1, Dev: "b0", Gateway: netip.MustParseAddr("198.51.100.254")}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Diff(tt.old, tt.new, nil)
			if d := cmp.Diff(tt.want, got, addrCmp...); d != "" {
				t.Error(d)
			}
			for _, r := range got.Delete {
				if r.Key() == (RouteKey{254, tAny, 1}) {
					t.Errorf("deletes the default route %v", r)
				}
			}
		})
	}
}

func TestIPv4Endpoint(t *testing.T) {
	got := ipv4Endpoint(tCoA4, tHA4, true)
	want := tunnel.Endpoint{Kind: tunnel.KindUDP4, Local: tCoA4, Remote: tHA4, LocalPort: 4191, RemotePort: 4191}
	if d := cmp.Diff(want, got, addrCmp...); d != "" {
		t.Error(d)
	}
	got = ipv4Endpoint(tCoA4, tHA4, false)
	want = tunnel.Endpoint{Kind: tunnel.Kind6in4, Local: tCoA4, Remote: tHA4}
	if d := cmp.Diff(want, got, addrCmp...); d != "" {
		t.Error(d)
	}
	for _, ep := range []tunnel.Endpoint{ipv4Endpoint(tCoA4, tHA4, true), ipv4Endpoint(tCoA4, tHA4, false)} {
		if err := ep.Validate(); err != nil {
			t.Errorf("%+v: %v", ep, err)
		}
	}
}

func TestReloadableIPv4(t *testing.T) {
	base := func() *conf.MN {
		return &conf.MN{ID: "a@b", HomeAddress: tHoA, HomeAgent: tHA, Interfaces: []string{"a0"}, TunnelInterface: "mip0"}
	}
	for key, mutate := range map[string]func(*conf.MN){
		"home_agent_ipv4":   func(c *conf.MN) { c.HomeAgentIPv4 = tHA4 },
		"force_udp":         func(c *conf.MN) { c.ForceUDP = true },
		"ipv4_home_address": func(c *conf.MN) { c.IPv4HomeAddress = netip.IPv4Unspecified() },
		// Not IPv4, but set up with the forwarder all the same.
		"tunnel.kernel_path": func(c *conf.MN) { c.Tunnel.KernelPath = true },
	} {
		c := base()
		mutate(c)
		if err := reloadable(base(), c); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: %v", key, err)
		}
	}
}

func TestStatusJSONIPv4(t *testing.T) {
	s := Status{Role: "mn", CareOfAddress: tCoA4, Encapsulation: "udp4", NAT: true, NATKeepaliveS: 110}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"care_of_address": "198.51.100.7", "encapsulation": "udp4", "nat": true, "nat_keepalive_s": 110.0} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
}

// dsLab is a mobile node registration and a home agent core talking
// through a NAT in memory, in virtual time, the way the daemon drives the
// registration: one timer armed for Registration.NextTimer.
type dsLab struct {
	t   *testing.T
	ha  *homeagent.HomeAgent
	reg *mobilenode.Registration
	// pub and port are the NAT's public address and port for our
	// care-of address and port 4191 (no NAT: the care-of address, 4191).
	pub  netip.Addr
	port uint16
	bus  []time.Time
}

func newDSLab(t *testing.T, natKA string) *dsLab {
	key := base64.StdEncoding.EncodeToString([]byte("laptop-secret-key-0123456789abcd"))
	ka := ""
	if natKA != "" {
		ka = "nat_keepalive = \"" + natKA + "\"\n"
	}
	hc, err := conf.ParseHA([]byte(`
[home]
interface = "h0"
prefix = "2001:db8:100::/64"
address = "2001:db8:100::1"
max_lifetime = "10m"
[[mobile_node]]
id = "laptop@home.example"
home_address = "2001:db8:100::10"
spi = 1000
key = "` + key + `"
[ipv4]
address = "192.0.2.1"
` + ka))
	if err != nil {
		t.Fatal(err)
	}
	mc, err := conf.ParseMN([]byte(`
id = "laptop@home.example"
home_address = "2001:db8:100::10"
home_prefix = "2001:db8:100::/64"
home_agent = "2001:db8:100::1"
home_agent_ipv4 = "192.0.2.1"
spi = 1000
key = "` + key + `"
interfaces = ["b0"]
lifetime = "10m"
`))
	if err != nil {
		t.Fatal(err)
	}
	ha, err := homeagent.New(hc, homeagent.Options{SkipDAD: true})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := mobilenode.ConfigFromMN(mc)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := mobilenode.NewRegistration(rc)
	if err != nil {
		t.Fatal(err)
	}
	return &dsLab{t: t, ha: ha, reg: reg, pub: tNATPub, port: 40001}
}

// output plays what the daemon does with an Output: a Binding Update goes
// through the NAT (as sendBU4 builds it) to the home agent core, whose
// answer comes back through the parser the forwarder's Signal feeds.
func (l *dsLab) output(o mobilenode.Output) []mobilenode.Event {
	t := l.t
	evs := o.Events
	if o.Send == nil {
		return evs
	}
	l.bus = append(l.bus, time.Now())
	p := o.Send
	if !p.Outer.IsValid() || p.Outer != netip.AddrPortFrom(tHA4, 4191) || p.OuterSrc != tCoA4 || p.HomeAddress.IsValid() {
		t.Fatalf("BU over IPv4: outer %v from %v, home address option %v", p.Outer, p.OuterSrc, p.HomeAddress)
	}
	pkt := buildBU(p)
	lay, err := mip6.WalkIPv6(pkt)
	if err != nil || lay.HAO != 0 || lay.Src != tHoA || lay.Dst != tHA {
		t.Fatalf("inner BU %+v %v", lay, err)
	}
	res := l.ha.ProcessBU(nil, homeagent.Packet{Src: lay.Src, Dst: lay.Dst, MH: pkt[lay.Offset:lay.End],
		Outer: netip.AddrPortFrom(l.pub, l.port), OuterDst: tHA4}, time.Now())
	if res.Verdict != homeagent.Reply {
		t.Fatalf("home agent: %+v", res)
	}
	if res.Outer != netip.AddrPortFrom(l.pub, l.port) {
		t.Fatalf("BA goes to %v, not back through the mapping %v:%d", res.Outer, l.pub, l.port)
	}
	ba := append(mip6.AppendIPv6Header(nil, uint16(len(res.BA)), mip6.ProtoMobility, 64, tHA, res.BADst), res.BA...)
	mp, ok := parseMH(ba)
	if !ok {
		t.Fatal("BA not parsed")
	}
	out, err := l.reg.HandleMH(mp, time.Now())
	if err != nil {
		t.Fatalf("BA: %v", err)
	}
	return append(evs, l.output(out)...)
}

// run drives the registration's timer for d of virtual time.
func (l *dsLab) run(d time.Duration) {
	end := time.Now().Add(d)
	for {
		at, ok := l.reg.NextTimer()
		if !ok || at.After(end) {
			time.Sleep(time.Until(end))
			return
		}
		time.Sleep(time.Until(at))
		l.output(l.reg.Timer(time.Now()))
	}
}

// TestNATKeepaliveSchedule: behind a NAT, the Binding Updates that keep
// the mapping alive (RFC 5555 §4.3) go out every refresh time of the home
// agent's NAT Detection option (NATKATIMEOUT, 110 s, by default; here
// also a configured 20 s), long before the 10-minute lifetime needs a
// refresh; after a NAT rebinding the next one moves the home agent's
// tunnel to the new mapping. Virtual time (testing/synctest), with the
// timer armed as the daemon arms it.
func TestNATKeepaliveSchedule(t *testing.T) {
	for _, tt := range []struct {
		conf string
		ka   time.Duration
	}{{"", 110 * time.Second}, {"20s", 20 * time.Second}} {
		t.Run("nat_keepalive="+tt.ka.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newDSLab(t, tt.conf)
				start := time.Now()
				evs := l.output(l.reg.Moved(tCoA4, start))
				if len(evs) != 1 || evs[0].Kind != mobilenode.EventRegistered || !evs[0].UDP || !evs[0].NAT || evs[0].Keepalive != tt.ka {
					t.Fatalf("registration events %+v", evs)
				}
				if ep := registeredEndpointFor(evs[0]); ep.Kind != tunnel.KindUDP4 {
					t.Fatalf("tunnel %+v", ep)
				}
				l.run(5*tt.ka + tt.ka/2)
				if len(l.bus) != 6 {
					t.Fatalf("%d Binding Updates in %v, want 6 (one per %v)", len(l.bus), 5*tt.ka+tt.ka/2, tt.ka)
				}
				for i := 1; i < len(l.bus); i++ {
					if gap := l.bus[i].Sub(l.bus[i-1]); gap != tt.ka {
						t.Errorf("keepalive %d after %v, want %v", i, gap, tt.ka)
					}
				}
				// NAT rebinding: the mapping is flushed and the next
				// packet out gets a new port.
				l.port = 40002
				l.run(tt.ka)
				e, ok := l.ha.Cache().Lookup(tHoA)
				if !ok {
					t.Fatal("no binding at the home agent")
				}
				if ep := l.ha.Endpoint(e); ep.Kind != tunnel.KindUDP4 || ep.Remote != tNATPub || ep.RemotePort != 40002 {
					t.Errorf("home agent tunnel after the rebinding: %+v", ep)
				}
				if s := l.reg.State(); s != mobilenode.Registered {
					t.Errorf("state %v", s)
				}
			})
		})
	}
}

// TestNoKeepaliveWithoutNAT: over IPv4 without a NAT the tunnel is 6in4
// and the refreshes follow the lifetime alone.
func TestNoKeepaliveWithoutNAT(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newDSLab(t, "")
		// No NAT: the home agent sees the care-of address itself.
		l.pub, l.port = tCoA4, 4191
		evs := l.output(l.reg.Moved(tCoA4, time.Now()))
		if len(evs) != 1 || evs[0].UDP || evs[0].NAT || evs[0].Keepalive != 0 {
			t.Fatalf("events %+v", evs)
		}
		if ep := registeredEndpointFor(evs[0]); ep.Kind != tunnel.Kind6in4 || ep.Local != tCoA4 || ep.Remote != tHA4 {
			t.Errorf("tunnel %+v", ep)
		}
		l.run(5 * time.Minute)
		if len(l.bus) != 1 {
			t.Errorf("%d Binding Updates in 5 minutes of a 10-minute binding", len(l.bus))
		}
	})
}

// registeredEndpointFor is the endpoint the daemon installs for e.
func registeredEndpointFor(e mobilenode.Event) tunnel.Endpoint {
	return ipv4Endpoint(e.CareOf, tHA4, e.UDP)
}
