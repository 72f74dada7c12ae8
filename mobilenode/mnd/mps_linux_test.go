package mnd

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/net/bpf"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/homeagent"
	"github.com/gomip6/gomip6/homeagent/had"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/mobilenode"
)

// TestMPAFilter runs the advertisement filter in the x/net/bpf VM (without
// the packet type check, which the VM cannot load) over scapy's
// advertisement and near misses.
func TestMPAFilter(t *testing.T) {
	vm, err := bpf.NewVM(mpaFilter(false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bpf.Assemble(mpaFilter(true)); err != nil {
		t.Fatalf("the kernel's version: %v", err)
	}
	good := unhex(t, scapyMPA)
	for _, tc := range []struct {
		name string
		mod  func(b []byte) []byte
		keep bool
	}{
		{"advertisement", func(b []byte) []byte { return b }, true},
		{"solicitation", func([]byte) []byte { return unhex(t, scapyMPS) }, false},
		{"segments left 0", func(b []byte) []byte { b[43] = 0; return b }, false},
		{"routing type 0", func(b []byte) []byte { b[42] = 0; return b }, false},
		{"header length 4", func(b []byte) []byte { b[41] = 4; return b }, false},
		{"mobility header after it", func(b []byte) []byte { b[40] = 135; return b }, false},
		{"no routing header", func(b []byte) []byte { b[6] = 58; return b }, false},
		{"ICMPv6 echo request", func(b []byte) []byte { b[64] = 128; return b }, false},
		{"IPv4", func(b []byte) []byte { b[0] = 0x45; return b }, false},
		{"short", func(b []byte) []byte { return b[:60] }, false},
	} {
		b := tc.mod(append([]byte(nil), good...))
		n, err := vm.Run(b)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if keep := n > 0; keep != tc.keep || (keep && n < len(b)) {
			t.Errorf("%s: kept %d of %d octets, want kept=%v whole", tc.name, n, len(b), tc.keep)
		}
	}
}

// TestRootHAFallback: the DHAAD reply lists a home agent that does not
// exist first and the lab's home agent second (RFC 6275 §11.4.1). The
// node registers with the first, hears nothing for haSilentTries Binding
// Updates (10.5 s), moves on to the second and registers there; the
// status shows the list and the home agent in use.
func TestRootHAFallback(t *testing.T) {
	l := newRootLab(t)
	dead := netip.MustParseAddr("2001:db8:100::99")
	other := netip.MustParseAddr("2001:db8:100::2")
	// The lab home agent's own DHAAD replies (from its address) are
	// dropped on their way out; ours, from another address of the
	// home link, carry the list.
	rules := filepath.Join(t.TempDir(), "drop145.nft")
	must(t, os.WriteFile(rules, []byte(fmt.Sprintf(`table ip6 dhaadtest {
	chain out {
		type filter hook output priority 0;
		ip6 saddr %s icmpv6 type 145 drop
	}
}
`, labHA)), 0o600))
	_, err := l.ha.Run("nft", "-f", rules)
	must(t, err)
	must(t, l.ha.Addr("h0", other.String()+"/64"))
	var ic *icmp.PacketConn
	must(t, l.ha.Do(func() (err error) {
		ic, err = icmp.ListenPacket("ip6:ipv6-icmp", "::")
		return err
	}))
	t.Cleanup(func() { ic.Close() })
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
			rep, _ := mip6.MarshalICMP(&mip6.HomeAgentDiscoveryReply{Identifier: req.Identifier, HomeAgents: []netip.Addr{dead, labHA}})
			_, _ = ic.IPv6PacketConn().WriteTo(rep, &ipv6.ControlMessage{Src: other.AsSlice()}, from)
		}
	}()
	l.link("home0", false)
	l.link("b0", false)
	d, stop := l.startConf(l.mnConfHA("60s", ""))
	l.waitFor("a registration attempt with the dead home agent", 10*time.Second, func() bool {
		return d.Status().HomeAgent == dead
	})
	took := l.waitFor("registration with the second home agent", 30*time.Second, registeredIn(d, labPfxA))
	t.Logf("registered with the second home agent %v after the first was chosen", took)
	if took < 10*time.Second {
		t.Errorf("fell back after %v, before the 10.5 s of the first registration's back-off", took)
	}
	s := d.Status()
	if s.HomeAgent != labHA || !slices.Equal(s.HomeAgents, []netip.Addr{dead, labHA}) {
		t.Errorf("status: home agent %v, list %v", s.HomeAgent, s.HomeAgents)
	}
	if !strings.Contains(l.logs.String(), `"event":"ha_fallback"`) {
		t.Error("no ha_fallback event")
	}
	if c := d.Counters(); c.HAFallbacks != 1 {
		t.Errorf("%d fallbacks, want 1", c.HAFallbacks)
	}
	must(t, l.cn.Ping(labHoA, 5*time.Second))
	stop()
	l.checkClean()
}

// TestRootMobilePrefix: against the real had, the node registered on a
// foreign link solicits the home prefix's lifetimes (its first
// registration of the run), had answers with a Mobile Prefix
// Advertisement through a type 2 routing header, and the status shows
// them; a reload of had with other lifetimes makes it send an
// unsolicited advertisement, which the node answers with a solicitation
// (§11.4.3) and so learns the new lifetimes.
func TestRootMobilePrefix(t *testing.T) {
	l := newDSMIPLab(t)
	// Replace the lab's had with one that takes reloads and advertises
	// short prefix lifetimes.
	l.cancel()
	must(t, <-l.done)
	l.done <- nil // for the lab's cleanup
	haCfg := func(valid, preferred string) *conf.HA {
		cfg, err := conf.ParseHA([]byte(fmt.Sprintf(`
state_file = %q
[home]
interface = "h0"
prefix = "2001:db8:100::/64"
address = "2001:db8:100::1"
max_lifetime = "10m"
[router_advertisements]
enabled = true
max_interval = "1s"
prefix_valid_lifetime = %q
prefix_preferred_lifetime = %q
[[mobile_node]]
id = "laptop@home.example"
home_address = "2001:db8:100::10"
spi = 1000
key = %q
`, filepath.Join(l.dir, "had2.state"), valid, preferred, base64.StdEncoding.EncodeToString(labKey))))
		must(t, err)
		return cfg
	}
	var h *had.Daemon
	must(t, l.ha.Do(func() (err error) {
		h, err = had.New(haCfg("50s", "30s"), had.Options{Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), SkipDAD: true})
		return err
	}))
	ctx, cancel := context.WithCancel(context.Background())
	reload := make(chan *conf.HA, 1)
	hadDone := make(chan error, 1)
	go func() { hadDone <- h.Run(ctx, reload) }()
	t.Cleanup(func() {
		cancel()
		if err := <-hadDone; err != nil {
			t.Errorf("had: %v", err)
		}
	})

	l.link("home0", false)
	l.link("b0", false)
	d, stop := l.startConf(l.mnConfIfs(`"home0", "a0"`))
	l.waitFor("registration on A", 15*time.Second, registeredIn(d, labPfxA))
	prefixWith := func(valid float64) func() bool {
		return func() bool {
			hp := d.Status().HomePrefix
			return hp != nil && hp.Advertised && hp.ValidRemainingS > valid-10 && hp.ValidRemainingS <= valid
		}
	}
	took := l.waitFor("the home prefix's lifetimes from had", 10*time.Second, prefixWith(50))
	t.Logf("home prefix known %v after registering: %+v", took, *d.Status().HomePrefix)
	if hp := d.Status().HomePrefix; hp.Prefix != netip.MustParsePrefix("2001:db8:100::/64") || hp.PreferredRemainingS > 30 || hp.PreferredRemainingS < 20 || len(hp.OtherPrefixes) != 0 || hp.HomeAddressInvalid {
		t.Errorf("home prefix %+v", *hp)
	}
	// had grants no more than the home address's valid lifetime
	// either (§10.3.1).
	homeLifetime := func(max float64) func() bool {
		return func() bool {
			st := d.Status()
			return st.Registered && len(st.Bindings) > 0 && st.Bindings[0].Home && st.Bindings[0].LifetimeS <= max
		}
	}
	if !homeLifetime(50)() {
		t.Errorf("binding %+v outlives the home prefix", d.Status().Bindings)
	}

	// had shortens the home prefix's valid lifetime to 20 s: the
	// binding, granted for 48 s, would outlive the home address, and
	// is refreshed at once within it (§11.7.1, lifetime.go).
	reload <- haCfg("20s", "10s")
	took = l.waitFor("the shorter lifetimes after had's reload", 15*time.Second, prefixWith(20))
	t.Logf("shorter lifetimes %v after the reload", took)
	took = l.waitFor("the binding within the shorter valid lifetime", 5*time.Second, homeLifetime(20))
	t.Logf("binding shortened %v after: %+v", took, d.Status().Bindings[0])
	asked := false
	for _, line := range strings.Split(l.logs.String(), "\n") {
		var ev struct {
			Event    string  `json:"event"`
			Lifetime float64 `json:"lifetime"` // seconds
		}
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Event == "bu_sent" && ev.Lifetime > 0 && ev.Lifetime <= 20 {
			asked = true
		}
	}
	if !asked {
		t.Error("no Binding Update asked for 20 s or less")
	}
	logs := l.logs.String()
	for _, ev := range []string{`"event":"mps_sent"`, `"event":"mpa_received"`} {
		if !strings.Contains(logs, ev) {
			t.Errorf("no %s in the logs", ev)
		}
	}

	reload <- haCfg("300s", "200s")
	took = l.waitFor("the new lifetimes after had's reload", 15*time.Second, prefixWith(300))
	t.Logf("new lifetimes %v after the reload", took)
	if !strings.Contains(l.logs.String(), `"event":"mpa_unsolicited"`) {
		t.Error("no mpa_unsolicited event")
	}
	if !d.Status().Registered {
		t.Error("not registered any more")
	}
	// One exchange after the registration, one after each unsolicited
	// advertisement.
	if c := d.Counters(); c.MPSSent < 3 || c.MPAAccepted != 3 {
		t.Errorf("solicitations %d, advertisements accepted %d; want 3 (or more under load) and 3", c.MPSSent, c.MPAAccepted)
	}
	stop()
	l.checkClean()
}

// TestHARefusedFallback drives the engine's fallback on refusals without
// sockets: a home agent core that knows our identifier and key but
// another home address refuses with 133 (not home agent for this mobile
// node, RFC 6275 §10.3.1), the engine moves to the next home agent of the
// list; when that one refuses too the list is used up, the home agent
// dropped, and (in a second round in a row) the next discovery delayed.
func TestHARefusedFallback(t *testing.T) {
	mn, err := conf.ParseMN([]byte(fmt.Sprintf(`
id = "mn@example"
home_address = "2001:db8:100::10"
home_prefix = "2001:db8:100::/64"
spi = 1000
key = %q
interfaces = ["a0"]
lifetime = "60s"
`, base64.StdEncoding.EncodeToString(testKey))))
	must(t, err)
	core := testHACore(t, "2001:db8:100::11", testKey)
	coa := netip.MustParseAddr("2001:db8:a::10")
	// refuse has the current registration send its BU to the core and
	// hands the engine the events of the answer.
	refuse := func(r *engine) {
		t.Helper()
		o := r.reg.Moved(coa, time.Now())
		res := core.ProcessBU(nil, homeagent.Packet{Src: o.Send.Src, Dst: o.Send.Dst, HomeAddress: o.Send.HomeAddress, MH: o.Send.MH}, time.Now())
		// The core answers as 2001:db8:100::1 whoever was asked.
		out, err := r.reg.HandleMH(mobilenode.Packet{Src: r.cfg.HomeAgent, Dst: coa, RoutingHome: labHoA, MH: res.BA}, time.Now())
		if err != nil || len(out.Events) != 1 || out.Events[0].Status != mip6.StatusNotHomeAgentForThisMN {
			t.Fatalf("answer: %+v, %v", out, err)
		}
		for _, e := range out.Events {
			r.event(e)
		}
	}
	r := &engine{d: &Daemon{}, fileCfg: mn, cfg: mn, log: zap.NewNop()}
	r.has.set([]netip.Addr{ha1, ha2})
	r.useHomeAgent(ha1, netip.Addr{})
	if r.cfg.HomeAgent != ha1 || r.reg == nil {
		t.Fatalf("home agent %v", r.cfg.HomeAgent)
	}
	refuse(r)
	if r.cfg.HomeAgent != ha2 || r.reg == nil || r.reg.State() != mobilenode.Unregistered {
		t.Fatalf("after the first refusal: home agent %v", r.cfg.HomeAgent)
	}
	// The second refusal ends the list while the node is away (a
	// care-of address), in the second failed round in a row.
	r.has.rounds = 1
	r.cur = mobilenode.MoveEvent{Kind: mobilenode.MovedTo, CareOf: coa}
	before := time.Now()
	refuse(r)
	if r.reg != nil || r.cfg.HomeAgent.IsValid() || len(r.has.list) != 0 {
		t.Fatalf("after the list: home agent %v, list %v", r.cfg.HomeAgent, r.has.list)
	}
	if !r.dhaad.delayed || r.dhaad.id != 0 || r.dhaad.next.Sub(before) < 3*time.Second || r.dhaad.next.Sub(before) > 4*time.Second {
		t.Errorf("discovery %+v, want delayed by 3 s", r.dhaad)
	}
	// A configured home agent is never replaced.
	cfgHA := *mn
	cfgHA.HomeAgent = labHA
	r = &engine{d: &Daemon{}, fileCfg: &cfgHA, cfg: &cfgHA, log: zap.NewNop()}
	must(t, r.newCores(r.cfg))
	refuse(r)
	if r.cfg.HomeAgent != labHA || r.reg == nil || r.reg.State() != mobilenode.Failed {
		t.Errorf("configured home agent: %v, state %v", r.cfg.HomeAgent, r.reg.State())
	}
}
