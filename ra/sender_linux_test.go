package ra

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomip6/gomip6/internal/netif"

	"github.com/gomip6/gomip6/internal/netlab"
	"github.com/gomip6/gomip6/mip6"
)

// waitFor polls cond every 50 ms until it holds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last state:\n%s", what, timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSenderLab runs the Sender on a router namespace of a home link
// shared, through a bridge, with a host doing SLAAC and a second home
// agent advertised by radvd:
//   - the host forms an address from the home prefix and a default route
//     via our router (RFC 4862, RFC 4861 §6.3.4);
//   - the Home Agents List learns radvd's home agent from its RAs, which
//     lack the Home Agent Information option (RFC 6275 §10.5.1, §7.4), and
//     drops it when radvd stops (its final RA, lifetime 0);
//   - rdisc6's Router Solicitation is answered at once, although the next
//     unsolicited RA is 16 s away (RFC 4861 §6.2.6);
//   - Close sends the final RA and the host drops the default route
//     (RFC 4861 §6.2.5).
func TestSenderLab(t *testing.T) {
	netlab.SkipUnlessRoot(t)
	lab, err := netlab.New(t)
	if err != nil {
		t.Fatal(err)
	}
	ns := map[string]*netlab.NS{}
	for _, name := range []string{"sw", "rtr", "host", "ha2"} {
		n, err := lab.NS(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.DisableDAD(); err != nil {
			t.Fatal(err)
		}
		ns[name] = n
	}
	sw, rtr, host, ha2 := ns["sw"], ns["rtr"], ns["host"], ns["ha2"]
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// The home link: a bridge without multicast snooping, so ff02::2
	// reaches the router whether or not anyone queries MLD.
	_, err = sw.IP("link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
	must(err)
	_, err = sw.IP("link", "set", "br0", "up")
	must(err)
	for i, n := range []*netlab.NS{rtr, host, ha2} {
		port := fmt.Sprintf("p%d", i)
		must(lab.Link(n, "eth0", sw, port))
		_, err = sw.IP("link", "set", port, "master", "br0")
		must(err)
	}
	must(rtr.Addr("eth0", "2001:db8:100::1/64"))
	must(rtr.Forwarding(true, false))
	must(ha2.Addr("eth0", "2001:db8:100::2/64"))
	must(ha2.Forwarding(true, false))
	must(host.Sysctl("net.ipv6.conf.eth0.accept_ra", "2"))
	must(host.Sysctl("net.ipv6.conf.eth0.autoconf", "1"))

	// The other home agent: radvd with the H flag and an R-bit prefix,
	// no Home Agent Information option.
	radvd, err := ha2.StartRadvd("eth0", netlab.RA{Extra: `AdvHomeAgentFlag on;
	prefix 2001:db8:100::2/64 { AdvOnLink on; AdvAutonomous on; AdvRouterAddr on; };`})
	must(err)

	// Slow unsolicited RAs (after the initial burst at 0, 16 s, 32 s) so
	// that a quick answer can only be the answer to a solicitation.
	c := mustConf(t, "")
	c.Home.Interface = "eth0"
	c.RouterAdvertisements.MinInterval = 30e9
	c.RouterAdvertisements.MaxInterval = 60e9
	c.RouterAdvertisements.MinDelayBetweenRAs = 50e6
	c.RouterAdvertisements.RouterLifetime = 180e9
	c.RouterAdvertisements.HALifetime = 180e9
	halist := NewHAList(c.Home.Prefix, nil)
	var (
		mu   sync.Mutex
		errs []error
	)
	var s *Sender
	var rtrLL netip.Addr
	must(rtr.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		rtrLL = netif.LinkLocal(ifi)
		s, err = Listen("eth0", SenderConfig{
			Params: ParamsFromConfig(c, ifi.HardwareAddr),
			Timing: TimingFromConfig(c),
			HAList: halist,
			OnError: func(err error) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			},
		})
		return err
	}))
	t.Cleanup(func() { s.Close() })
	if !rtrLL.IsValid() {
		t.Fatal("router has no link-local address")
	}
	t.Logf("router %v", rtrLL)

	// SLAAC from the home prefix and the default route via our router.
	waitFor(t, "host SLAAC address and default route", 10*time.Second, func() (bool, string) {
		addrs, _ := host.IP("-6", "addr", "show", "dev", "eth0", "scope", "global")
		routes, _ := host.IP("-6", "route", "show", "default")
		mu.Lock()
		dbg := fmt.Sprintf("%+v %v\n", s.Stats(), errs)
		mu.Unlock()
		return strings.Contains(addrs, "inet6 2001:db8:100:") && strings.Contains(addrs, "/64") &&
			strings.Contains(routes, "via "+rtrLL.String()), dbg + addrs + routes
	})

	// radvd's home agent in our list, from its RAs.
	var ha2LL netip.Addr
	waitFor(t, "radvd's home agent in the Home Agents List", 10*time.Second, func() (bool, string) {
		list := halist.List(time.Now())
		for _, h := range list {
			if len(h.Addresses) == 1 && h.Addresses[0] == netip.MustParseAddr("2001:db8:100::2") &&
				h.Preference == 0 && h.Lifetime == 9*time.Second { // radvd's default Router Lifetime, 3 × 3 s
				ha2LL = h.LinkLocal
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", list)
	})
	rep := halist.DHAADReply(&mip6.HomeAgentDiscoveryRequest{Identifier: 1}, time.Now())
	if len(rep.HomeAgents) != 2 {
		t.Errorf("DHAAD reply %v, want our address and radvd's", rep.HomeAgents)
	}

	// A reload: the new preference is in our own entry at once.
	p := ParamsFromConfig(c, nil)
	p.HAPreference = 7
	must(s.SetParams(p))
	if own := halist.List(time.Now())[0]; own.LinkLocal != rtrLL || own.Preference != 7 {
		t.Errorf("own entry after SetParams: %+v", own)
	}

	// A solicitation, unicast to our router so that only it answers.
	before := s.Stats()
	start := time.Now()
	out, err := host.Run("rdisc6", "-1", "-n", "-r", "1", "-w", "3000", rtrLL.String(), "eth0")
	if err != nil {
		t.Fatalf("rdisc6: %v\n%s", err, out)
	}
	took := time.Since(start)
	// rdisc6 can print the RA and exit before the sender goroutine, back
	// from sendmsg, counts it: wait a little for the counter.
	after := s.Stats()
	for deadline := time.Now().Add(time.Second); after.RAsSent <= before.RAsSent && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		after = s.Stats()
	}
	t.Logf("rdisc6 answered in %v:\n%s", took, out)
	if after.RSReceived <= before.RSReceived || after.RAsSent <= before.RAsSent {
		t.Errorf("stats before %+v after %+v: the RS was not answered by an RA", before, after)
	}
	if took > 2*time.Second {
		t.Errorf("answer took %v", took)
	}
	// rdisc6 shows the H flag (RFC 6275 §7.1) and the R-bit prefix with
	// our whole address (§7.2).
	for _, want := range []string{"from " + rtrLL.String(), "Mobile home agent         :          Yes",
		"Prefix                   : 2001:db8:100::1/64", "Router lifetime           :          180 "} {
		if !strings.Contains(out, want) {
			t.Errorf("rdisc6 output lacks %q", want)
		}
	}

	// radvd stops: its final RA (Router Lifetime 0, no HA option) takes its
	// entry out at once, long before the 9 s lifetime.
	must(radvd.Stop())
	waitFor(t, "radvd's home agent gone", 3*time.Second, func() (bool, string) {
		for _, h := range halist.List(time.Now()) {
			if h.LinkLocal == ha2LL {
				return false, fmt.Sprintf("%+v", h)
			}
		}
		return true, ""
	})

	// Our final RA: the host drops the default route via us.
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	waitFor(t, "default route via the router gone", 3*time.Second, func() (bool, string) {
		routes, _ := host.IP("-6", "route", "show", "default")
		return !strings.Contains(routes, rtrLL.String()), routes
	})
	mu.Lock()
	defer mu.Unlock()
	for _, err := range errs {
		t.Errorf("sender error: %v", err)
	}
}

// TestSenderPassive: with Passive the sender advertises nothing, answers
// no solicitation, but learns the other home agents from their RAs (here
// radvd's) and keeps its own entry for DHAAD.
func TestSenderPassive(t *testing.T) {
	netlab.SkipUnlessRoot(t)
	lab, err := netlab.New(t)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	rtr, err := lab.NS("rtr")
	must(err)
	ha2, err := lab.NS("ha2")
	must(err)
	must(rtr.DisableDAD())
	must(ha2.DisableDAD())
	must(lab.Link(rtr, "eth0", ha2, "eth0"))
	must(rtr.Addr("eth0", "2001:db8:100::1/64"))
	must(rtr.Forwarding(true, false))
	must(ha2.Addr("eth0", "2001:db8:100::2/64"))
	must(ha2.Forwarding(true, false))
	radvd, err := ha2.StartRadvd("eth0", netlab.RA{Extra: `AdvHomeAgentFlag on;
	prefix 2001:db8:100::2/64 { AdvOnLink on; AdvAutonomous on; AdvRouterAddr on; };`})
	must(err)

	c := mustConf(t, "")
	c.Home.Interface = "eth0"
	halist := NewHAList(c.Home.Prefix, nil)
	var s *Sender
	must(rtr.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		s, err = Listen("eth0", SenderConfig{Params: ParamsFromConfig(c, ifi.HardwareAddr), Timing: TimingFromConfig(c),
			HAList: halist, Passive: true})
		return err
	}))
	t.Cleanup(func() { s.Close() })
	waitFor(t, "radvd's home agent in the list", 10*time.Second, func() (bool, string) {
		rep := halist.DHAADReply(&mip6.HomeAgentDiscoveryRequest{}, time.Now())
		return len(rep.HomeAgents) == 2, fmt.Sprintf("%v", rep.HomeAgents)
	})
	// A solicitation from the link (radvd's host): nothing from us. (radvd
	// answers it itself; our counters say whether we did.)
	if out, err := ha2.Run("rdisc6", "-1", "-n", "-r", "1", "-w", "1000", "eth0"); err == nil && strings.Contains(out, "2001:db8:100::1/64") {
		t.Errorf("passive sender answered a solicitation:\n%s", out)
	}
	must(s.Close())
	// Stop radvd ourselves and wait for it (and its privilege-separation
	// child) before the lab closes the namespace.
	must(radvd.Stop())
	if st := s.Stats(); st.RAsSent != 0 || st.RAsReceived == 0 {
		t.Errorf("stats %+v: want no RA sent, radvd's received", st)
	}
}
