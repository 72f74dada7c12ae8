package mnd

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/homeagent"
	"github.com/gomip6/gomip6/internal/control"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/mobilenode"
	"github.com/gomip6/gomip6/tunnel"
)

var (
	tHA     = netip.MustParseAddr("2001:db8:100::1")
	tHoA    = netip.MustParseAddr("2001:db8:100::10")
	tCoA1   = netip.MustParseAddr("2001:db8:a::5")
	tCoA2   = netip.MustParseAddr("2001:db8:b::7")
	tRouter = netip.MustParseAddr("fe80::1")
	tRtrB   = netip.MustParseAddr("fe80::2")
	tAny    = netip.MustParsePrefix("::/0")
)

func awayA() Plan {
	return PlanAway(Away{Tunnel: "mip0", Iface: "a0", Router: tRouter, CareOf: tCoA1, HomeAddress: tHoA, HomeAgent: tHA})
}

func awayB() Plan {
	return PlanAway(Away{Tunnel: "mip0", Iface: "b0", Router: tRtrB, CareOf: tCoA2, HomeAddress: tHoA, HomeAgent: tHA})
}

func TestPlanAway(t *testing.T) {
	want := Plan{
		Routes: []Route{
			{Table: 254, Dst: netip.MustParsePrefix("2001:db8:100::1/128"), Metric: 1, Dev: "a0", Gateway: tRouter},
			{Table: 0x6d36, Dst: tAny, Metric: 1, Dev: "a0", Gateway: tRouter},
			{Table: 254, Dst: tAny, Metric: 1, Dev: "mip0", Src: tHoA},
		},
		Rules: []Rule{{Src: netip.MustParsePrefix("2001:db8:a::5/128"), Table: 0x6d36, Priority: 1000}},
	}
	if d := cmp.Diff(want, awayA(), addrCmp...); d != "" {
		t.Error(d)
	}
	// The RA-learned default has metric 1024 (Linux's IP6_RT_PRIO_USER);
	// ours must win against it.
	if RouteMetric >= 1024 {
		t.Error("route metric does not beat the kernel's RA default")
	}
}

func TestPlanHome(t *testing.T) {
	got := PlanHome("home0", tRouter, tHoA)
	want := Plan{Routes: []Route{{Table: 254, Dst: tAny, Metric: 1, Dev: "home0", Gateway: tRouter, Src: tHoA}}}
	if d := cmp.Diff(want, got, addrCmp...); d != "" {
		t.Error(d)
	}
	if p := PlanHome("home0", netip.Addr{}, tHoA); len(p.Routes)+len(p.Rules) != 0 {
		t.Errorf("no router, plan %v", p)
	}
	// The home default must replace the mip0 default in place: same key.
	if got.Routes[0].Key() != awayA().Routes[2].Key() {
		t.Error("home default and mip0 default have different keys: coming home would leave a gap")
	}
}

var addrCmp = []cmp.Option{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

func TestDiff(t *testing.T) {
	a, b, home := awayA(), awayB(), PlanHome("home0", tRouter, tHoA)
	tests := []struct {
		name     string
		old, new Plan
		want     Change
	}{
		{"start away", Plan{}, a, Change{Replace: a.Routes, AddRules: a.Rules}},
		{"no change", a, a, Change{}},
		{
			// The mip0 default is the same and stays untouched; the
			// two routes through the access link are replaced in
			// place, the new rule comes before the old one goes.
			"move A to B", a, b,
			Change{Replace: b.Routes[:2], AddRules: b.Rules, DeleteRules: a.Rules},
		},
		{
			"return home", b, home,
			Change{Replace: home.Routes, DeleteRules: b.Rules, Delete: b.Routes[:2]},
		},
		{"leave home", home, a, Change{Replace: a.Routes, AddRules: a.Rules}},
		{"shutdown away", a, Plan{}, Change{DeleteRules: a.Rules, Delete: a.Routes}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Diff(tt.old, tt.new, nil)
			if d := cmp.Diff(tt.want, got, addrCmp...); d != "" {
				t.Error(d)
			}
			if got.Empty() != (tt.name == "no change") {
				t.Errorf("Empty %v", got.Empty())
			}
			// Whatever the change, no route of the new plan is ever
			// deleted (it would leave a gap).
			for _, r := range got.Delete {
				for _, n := range tt.new.Routes {
					if r.Key() == n.Key() {
						t.Errorf("deletes %v which the new plan has", r)
					}
				}
			}
		})
	}
}

// TestBuildBU checks the octets of the Binding Update packet against RFC
// 8200 §3 and RFC 6275 §6.3 (Home Address option at 8n+6 after a PadN).
func TestBuildBU(t *testing.T) {
	mh := make([]byte, 16)
	mh[0], mh[1], mh[2] = 59, 1, 5
	pkt := buildBU(&mobilenode.BUPacket{MH: mh, Src: tCoA1, Dst: tHA, HomeAddress: tHoA})
	if len(pkt) != 40+24+16 {
		t.Fatalf("length %d", len(pkt))
	}
	if pkt[0]>>4 != 6 || binary.BigEndian.Uint16(pkt[4:]) != 24+16 || pkt[6] != 60 || pkt[7] != 64 {
		t.Errorf("IPv6 header %x", pkt[:8])
	}
	if !bytes.Equal(pkt[8:24], tCoA1.AsSlice()) || !bytes.Equal(pkt[24:40], tHA.AsSlice()) {
		t.Error("addresses")
	}
	wantOpts := append([]byte{135, 2, 1, 2, 0, 0, 201, 16}, tHoA.AsSlice()...)
	if !bytes.Equal(pkt[40:64], wantOpts) {
		t.Errorf("destination options\n got %x\nwant %x", pkt[40:64], wantOpts)
	}
	if !bytes.Equal(pkt[64:], mh) {
		t.Error("mobility header changed")
	}

	// At home (§11.5.5): no Home Address option, the Mobility Header
	// right after the IPv6 header.
	pkt = buildBU(&mobilenode.BUPacket{MH: mh, Src: tHoA, Dst: tHA})
	if len(pkt) != 56 || pkt[6] != 135 || binary.BigEndian.Uint16(pkt[4:]) != 16 || !bytes.Equal(pkt[40:], mh) {
		t.Errorf("at home %x", pkt)
	}
}

// TestRegistrationThroughPackets runs a registration through the packet
// code of this package in memory: the core's BU wrapped by buildBU is
// parsed as a home agent parses it and accepted by the homeagent core,
// and the BA, wrapped with a type 2 routing header, comes back through
// parseMH and is accepted by the core.
func TestRegistrationThroughPackets(t *testing.T) {
	key := "bGFwdG9wLXNlY3JldC1rZXktMDEyMzQ1Njc4OWFiY2Q="
	ha, err := conf.ParseHA([]byte(`
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
`))
	if err != nil {
		t.Fatal(err)
	}
	mn, err := conf.ParseMN([]byte(`
id = "laptop@home.example"
home_address = "2001:db8:100::10"
home_prefix = "2001:db8:100::/64"
home_agent = "2001:db8:100::1"
spi = 1000
key = "` + key + `"
interfaces = ["a0"]
`))
	if err != nil {
		t.Fatal(err)
	}
	h, err := homeagent.New(ha, homeagent.Options{SkipDAD: true})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := mobilenode.ConfigFromMN(mn)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := mobilenode.NewRegistration(rc)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 17, 12, 0, 0, 0, time.UTC)
	out := reg.Moved(tCoA1, now)
	if out.Send == nil {
		t.Fatal("no BU")
	}
	pkt := buildBU(out.Send)
	lay, err := mip6.WalkIPv6(pkt)
	if err != nil || lay.HomeAddress != tHoA || lay.Proto != mip6.ProtoMobility {
		t.Fatalf("walk %+v %v", lay, err)
	}
	res := h.ProcessBU(nil, homeagent.Packet{Src: lay.Src, Dst: lay.Dst, HomeAddress: lay.HomeAddress, MH: pkt[lay.Offset:lay.End]}, now)
	if res.Verdict != homeagent.Reply || res.Status != 0 || res.Change != homeagent.Created {
		t.Fatalf("home agent: %+v", res)
	}
	ba := mip6.AppendIPv6Header(nil, uint16(24+len(res.BA)), mip6.ProtoRouting, 64, tHA, res.BADst)
	ba = mip6.AppendRoutingHeader2(ba, mip6.ProtoMobility, res.HomeAddress)
	ba = append(ba, res.BA...)
	p, ok := parseMH(ba)
	if !ok || p.Src != tHA || p.Dst != tCoA1 || p.RoutingHome != tHoA {
		t.Fatalf("parseMH %+v %v", p, ok)
	}
	out, err = reg.HandleMH(p, now.Add(10*time.Millisecond))
	if err != nil || reg.State() != mobilenode.Registered {
		t.Fatalf("BA not accepted: %v, state %v", err, reg.State())
	}
	if len(out.Events) == 0 || out.Events[0].Kind != mobilenode.EventRegistered || out.Events[0].CareOf != tCoA1 {
		t.Errorf("events %+v", out.Events)
	}
}

func TestParseMH(t *testing.T) {
	mh := []byte{59, 0, 6, 0, 0, 0, 0, 0}
	bare := append(mip6.AppendIPv6Header(nil, 8, mip6.ProtoMobility, 64, tHA, tHoA), mh...)
	p, ok := parseMH(bare)
	if !ok || p.Src != tHA || p.Dst != tHoA || p.RoutingHome.IsValid() || !bytes.Equal(p.MH, mh) {
		t.Errorf("bare: %+v %v", p, ok)
	}
	p.MH[0] = 0 // a copy, not the capture buffer
	if bare[40] != 59 {
		t.Error("parseMH aliases the packet")
	}
	udp := append(mip6.AppendIPv6Header(nil, 8, mip6.ProtoUDP, 64, tHA, tHoA), mh...)
	for name, b := range map[string][]byte{"udp": udp, "short": bare[:30], "empty": nil, "truncated": bare[:44]} {
		if _, ok := parseMH(b); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestReloadable(t *testing.T) {
	base := func() *conf.MN {
		return &conf.MN{ID: "a@b", HomeAddress: tHoA, HomeAgent: tHA, Interfaces: []string{"a0"}, TunnelInterface: "mip0", SPI: 1000, Lifetime: conf.Duration(time.Minute)}
	}
	c := base()
	c.SPI, c.Key, c.Lifetime = 2000, []byte("other"), conf.Duration(2*time.Minute)
	if err := reloadable(base(), c); err != nil {
		t.Errorf("security association change refused: %v", err)
	}
	c = base()
	c.HomeAddress, c.Interfaces = tCoA1, []string{"b0"}
	err := reloadable(base(), c)
	if err == nil || !strings.Contains(err.Error(), "home_address") || !strings.Contains(err.Error(), "interfaces") {
		t.Errorf("topology change: %v", err)
	}
}

func TestStatusJSON(t *testing.T) {
	s := Status{Role: "mn", HomeAddress: tHoA, HomeAgent: tHA, Encapsulation: encapsulation(tunnel.KindIPv6), Bindings: []BindingStatus{}}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"role": "mn", "home_address": "2001:db8:100::10", "care_of_address": "", "at_home": false,
		"home_agent": "2001:db8:100::1", "registered": false, "encapsulation": "ipv6", "bindings": []any{}, "state": "", "nat": false}
	if d := cmp.Diff(want, m); d != "" {
		t.Error(d)
	}
	for k, want := range map[tunnel.Kind]string{tunnel.Kind6in4: "ipv4", tunnel.KindUDP4: "udp4"} {
		if got := encapsulation(k); got != want {
			t.Errorf("%v: %q", k, got)
		}
	}
}

func TestMetrics(t *testing.T) {
	var tn tunnel.Snapshot
	tn.ByReason[tunnel.Out][tunnel.ReasonOK] = tunnel.Count{Packets: 3, Bytes: 300}
	var b bytes.Buffer
	if err := writeMetrics(&b, Status{Registered: true}, Counters{BUSent: 2}, &tn, &control.KernelPath{Up: true, Encapsulated: 7}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"mip6_mn_registered 1\n",
		"mip6_mn_binding_updates_sent_total 2\n",
		`mip6_tunnel_packets_total{direction="out",reason="ok"} 3` + "\n",
		`mip6_tunnel_bytes_total{direction="out",reason="ok"} 300` + "\n",
		"mip6_tunnel_kernel_path_up 1\n",
		`mip6_tunnel_kernel_packets_total{outcome="encapsulated"} 7` + "\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("lacks %q:\n%s", want, b.String())
		}
	}
}

// TestPlanAwayHomePrefix: away from home, the home prefix goes into the
// tunnel too (the home link's on-link route learned at home would send
// those packets out of the foreign link), and the home agent's host route
// still wins inside it; coming home deletes it.
func TestPlanAwayHomePrefix(t *testing.T) {
	hp := netip.MustParsePrefix("2001:db8:100::/64")
	p := PlanAway(Away{Tunnel: "mip0", Iface: "a0", Router: tRouter, CareOf: tCoA1, HomeAddress: tHoA, HomeAgent: tHA, HomePrefix: hp})
	want := Route{Table: 254, Dst: hp, Metric: 1, Dev: "mip0", Src: tHoA}
	found := false
	for _, r := range p.Routes {
		found = found || r == want
	}
	if !found {
		t.Fatalf("no home prefix route in %v", p.Routes)
	}
	if p.Routes[0].Dst != netip.PrefixFrom(tHA, 128) {
		t.Errorf("first route %v, want the home agent's host route", p.Routes[0])
	}
	c := Diff(p, PlanHome("a0", tRouter, tHoA), nil)
	deleted := false
	for _, r := range c.Delete {
		deleted = deleted || r == want
	}
	if !deleted {
		t.Errorf("coming home keeps the home prefix in the tunnel: %+v", c)
	}
}

// TestDiffStale: after the access interface went down, the same plan is
// replaced route by route (an administrative down deleted them in the
// kernel), and coming home through it still deletes the away routes,
// among them the host route to the home agent via the old router.
func TestDiffStale(t *testing.T) {
	a := awayA()
	if c := Diff(a, a, nil); !c.Empty() {
		t.Fatalf("same plan, nothing stale: %+v", c)
	}
	c := Diff(a, a, map[string]bool{"a0": true})
	var replaced []string
	for _, r := range c.Replace {
		replaced = append(replaced, r.String())
	}
	if len(c.Replace) != 2 || c.Replace[0].Dev != "a0" || c.Replace[1].Dev != "a0" || len(c.Delete) != 0 {
		t.Errorf("stale a0: replace %v, delete %v; want the two a0 routes again", replaced, c.Delete)
	}
	home := Diff(a, PlanHome("a0", tRtrB, tHoA), map[string]bool{"a0": true})
	found := false
	for _, r := range home.Delete {
		found = found || r.Dst == netip.PrefixFrom(tHA, 128)
	}
	if !found {
		t.Errorf("coming home through a stale interface keeps the old route to the home agent: %+v", home)
	}
}
