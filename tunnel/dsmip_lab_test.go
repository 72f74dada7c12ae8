//go:build linux

package tunnel_test

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/homeagent"
	"github.com/gomip6/gomip6/internal/netlab"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/mobilenode"
	"github.com/gomip6/gomip6/tunnel"
)

// The Dual-Stack MIPv6 lab: a mobile node on an IPv4-only network behind
// an nftables masquerade NAT, its home agent on the NAT's outside, a
// correspondent behind the home agent.
//
//	mn  m0 ──── n0  nat  n1 ──── h0  ha  h1 ──── c0  cn
//	10.0.0.2     10.0.0.1  192.0.2.254  192.0.2.1  2001:db8:2::1  ::2
//	                                               203.0.113.1    .2
//
// The mobile node asks for an IPv4 home address (RFC 5555 §3.1.1) and
// gets 198.51.100.1 from the home agent's pool; the correspondent reaches
// it over IPv4 through the same UDP tunnel.
//
// Both ends run the real protocol cores (homeagent, mobilenode) over
// Forwarders, with the signalling of RFC 5555 §4 through the forwarders'
// sockets: the Binding Update through the NAT in UDP from port 4191, the
// home agent's NAT detection, the Binding Acknowledgement back through the
// mapping, then data through the UDP tunnel; and a NAT rebinding.
var (
	dsHoA   = netip.MustParseAddr("2001:db8:100::10")
	dsHA6   = netip.MustParseAddr("2001:db8:100::1")
	dsHA4   = netip.MustParseAddr("192.0.2.1")
	dsNAT   = netip.MustParseAddr("192.0.2.254")
	dsMN4   = netip.MustParseAddr("10.0.0.2")
	dsCN    = netip.MustParseAddr("2001:db8:2::2")
	dsCN4   = netip.MustParseAddr("203.0.113.2")
	dsHoA4  = netip.MustParseAddr("198.51.100.1")
	dsKey   = []byte("laptop-secret-key-0123456789abcd")
	dsNAI   = "laptop@home.example"
	dsSPI   = uint32(1000)
	dsMnEP  = tunnel.Endpoint{Kind: tunnel.KindUDP4, Local: dsMN4, Remote: dsHA4, LocalPort: 4191, RemotePort: 4191}
	dsWait  = 3 * time.Second
	dsNATv4 = `table ip dsmiplab {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "n1" masquerade random
	}
}
`
)

type sig struct {
	pkt   []byte
	outer tunnel.Outer
}

func chanSignal() (func([]byte, tunnel.Outer), chan sig) {
	ch := make(chan sig, 16)
	return func(p []byte, o tunnel.Outer) {
		select {
		case ch <- sig{p, o}:
		default:
		}
	}, ch
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// mhOf returns the Mobility Header of an IPv6 packet and its addresses.
func mhOf(t *testing.T, pkt []byte) (src, dst netip.Addr, mh []byte) {
	t.Helper()
	l, err := mip6.WalkIPv6(pkt)
	if err != nil || l.Proto != mip6.ProtoMobility {
		t.Fatalf("not a Mobility Header packet: %v", err)
	}
	return l.Src, l.Dst, pkt[l.Offset:l.End]
}

func TestDSMIPNATLab(t *testing.T) {
	netlab.SkipUnlessRoot(t)
	nl, err := netlab.New(t)
	check(t, err)
	mn, err := nl.NS("mn")
	check(t, err)
	nat, err := nl.NS("nat")
	check(t, err)
	ha, err := nl.NS("ha")
	check(t, err)
	cn, err := nl.NS("cn")
	check(t, err)
	check(t, nl.Link(mn, "m0", nat, "n0"))
	check(t, nl.Link(nat, "n1", ha, "h0"))
	check(t, nl.Link(ha, "h1", cn, "c0"))
	for _, a := range []struct {
		ns     *netlab.NS
		ifname string
		cidr   string
	}{
		{mn, "m0", "10.0.0.2/24"}, {nat, "n0", "10.0.0.1/24"}, {nat, "n1", "192.0.2.254/24"},
		{ha, "h0", "192.0.2.1/24"}, {ha, "h1", "2001:db8:2::1/64"}, {cn, "c0", "2001:db8:2::2/64"},
		{ha, "h1", "203.0.113.1/24"}, {cn, "c0", "203.0.113.2/24"},
	} {
		check(t, a.ns.Addr(a.ifname, a.cidr))
	}
	check(t, mn.Route("0.0.0.0/0", "via", "10.0.0.1"))
	check(t, nat.Forwarding(false, true))
	check(t, ha.Forwarding(true, true))
	check(t, cn.Route("default", "via", "2001:db8:2::1"))
	check(t, cn.Route("0.0.0.0/0", "via", "203.0.113.1"))
	if _, err := nat.Run("sh", "-c", "printf '"+dsNATv4+"' | nft -f -"); err != nil {
		t.Fatalf("nft: %v", err)
	}

	// The home agent: the protocol core over a forwarder that hands it
	// the signalling arriving on its UDP socket.
	haCfg, err := conf.ParseHA(fmt.Appendf(nil, `
[home]
interface = "h1"
prefix = "2001:db8:100::/64"
address = "2001:db8:100::1"
[router_advertisements]
enabled = false
[[mobile_node]]
id = %q
home_address = "2001:db8:100::10"
spi = %d
key = %q
[ipv4]
address = "192.0.2.1"
home_pool = "198.51.100.0/28"
nat_keepalive = "20s"
`, dsNAI, dsSPI, base64.StdEncoding.EncodeToString(dsKey)))
	check(t, err)
	haTab := tunnel.NewTable(1)
	core, err := homeagent.New(haCfg, homeagent.Options{Table: haTab, SkipDAD: true})
	check(t, err)
	haT, err := tunnel.New(tunnel.Config{Role: tunnel.RoleHomeAgent}, haTab)
	check(t, err)
	haSig, haCh := chanSignal()
	var haF *tunnel.Forwarder
	check(t, ha.Do(func() (err error) {
		haF, err = tunnel.NewForwarder(haT, tunnel.ForwarderConfig{Name: "gmha0", IPv4: true, UDP: true, Queues: 1,
			SignalAddrs: []netip.Addr{dsHA6}, Signal: haSig, OnError: func(err error) { t.Errorf("ha forwarder: %v", err) }})
		return err
	}))
	t.Cleanup(func() { check(t, haF.Close()) })
	check(t, ha.Route("2001:db8:100::10/128", "dev", "gmha0"))
	check(t, ha.Route("198.51.100.1/32", "dev", "gmha0"))

	// The mobile node: the registration over a forwarder.
	mnTab := tunnel.NewTable(1)
	mnT, err := tunnel.New(tunnel.Config{Role: tunnel.RoleMobileNode}, mnTab)
	check(t, err)
	mnSig, mnCh := chanSignal()
	var mnF *tunnel.Forwarder
	check(t, mn.Do(func() (err error) {
		mnF, err = tunnel.NewForwarder(mnT, tunnel.ForwarderConfig{Name: "gmmn0", IPv4: true, UDP: true, Queues: 1,
			SignalAddrs: []netip.Addr{dsHoA}, Signal: mnSig, OnError: func(err error) { t.Errorf("mn forwarder: %v", err) }})
		return err
	}))
	t.Cleanup(func() { check(t, mnF.Close()) })
	check(t, mn.Addr("gmmn0", "2001:db8:100::10/128"))
	check(t, mn.Route("2001:db8:2::/64", "dev", "gmmn0", "src", dsHoA.String()))
	reg, err := mobilenode.NewRegistration(mobilenode.Config{ID: dsNAI, HomeAddress: dsHoA, HomeAgent: dsHA6,
		HomeAgentIPv4: dsHA4, Lifetime: 300 * time.Second, IPv4HomeAddress: netip.IPv4Unspecified(),
		SA: mobilenode.SA{SPI: dsSPI, Key: dsKey, Algorithm: 1}})
	check(t, err)

	// One clock for both cores, which the test moves on to the
	// keepalive time (the home agent checks the timestamps, RFC 4285 §6).
	now := time.Now()

	// haServe answers one signalling packet the way had would.
	haServe := func() homeagent.Result {
		t.Helper()
		var s sig
		select {
		case s = <-haCh:
		case <-time.After(dsWait):
			t.Fatal("home agent: no Binding Update signalled")
		}
		src, dst, mh := mhOf(t, s.pkt)
		r := core.ProcessBU(nil, homeagent.Packet{Src: src, Dst: dst, MH: mh,
			Outer: netip.AddrPortFrom(s.outer.Src, s.outer.SrcPort), OuterDst: s.outer.Dst}, now)
		if r.Verdict != homeagent.Reply || !r.Outer.IsValid() {
			t.Fatalf("home agent: verdict %v drop %v status %v outer %v", r.Verdict, r.Drop, r.Status, r.Outer)
		}
		pkt, _ := mip6.AppendMobilityPacket(nil, dsHA6, r.BADst, netip.Addr{}, netip.Addr{}, 64, r.BA)
		ep := tunnel.Endpoint{Kind: tunnel.KindUDP4, Local: r.OuterSrc, Remote: r.Outer.Addr(), LocalPort: 4191, RemotePort: r.Outer.Port()}
		check(t, haF.SendUDP4(ep, pkt))
		return r
	}
	// mnExchange sends a Binding Update and feeds the answer back.
	mnExchange := func(o mobilenode.Output) (mobilenode.Output, homeagent.Result) {
		t.Helper()
		if o.Send == nil || !o.Send.Outer.IsValid() {
			t.Fatalf("no Binding Update over IPv4: %+v", o.Send)
		}
		pkt, _ := mip6.AppendMobilityPacket(nil, o.Send.Src, o.Send.Dst, o.Send.HomeAddress, netip.Addr{}, 64, o.Send.MH)
		ep := dsMnEP
		ep.Local = o.Send.OuterSrc
		ep.Remote = o.Send.Outer.Addr()
		check(t, mnF.SendUDP4(ep, pkt))
		res := haServe()
		var s sig
		select {
		case s = <-mnCh:
		case <-time.After(dsWait):
			t.Fatal("mobile node: no Binding Acknowledgement through the NAT")
		}
		src, dst, mh := mhOf(t, s.pkt)
		out, err := reg.HandleMH(mobilenode.Packet{Src: src, Dst: dst, MH: mh}, now)
		check(t, err)
		return out, res
	}

	// Register through the NAT.
	out, res := mnExchange(reg.Moved(dsMN4, now))
	if len(out.Events) != 1 || out.Events[0].Kind != mobilenode.EventRegistered || !out.Events[0].UDP || !out.Events[0].NAT ||
		out.Events[0].Keepalive != 20*time.Second || out.Events[0].IPv4HomeAddress != dsHoA4 {
		t.Fatalf("mobile node events %+v", out.Events)
	}
	if !res.NAT || res.Outer.Addr() != dsNAT || res.Binding.CareOf != dsNAT || res.Binding.CareOfPort != res.Outer.Port() {
		t.Fatalf("home agent: NAT %v outer %v binding %+v", res.NAT, res.Outer, res.Binding)
	}
	check(t, mnTab.Set(netip.PrefixFrom(dsHoA, 128), dsMnEP))
	// What mnd does with the IPv4 home address: on the tun device,
	// bound to the home agent, the IPv4 correspondents routed in.
	check(t, mnTab.SetIPv4(dsHoA4, dsMnEP))
	check(t, mn.Addr("gmmn0", "198.51.100.1/32"))
	check(t, mn.Route("203.0.113.0/24", "dev", "gmmn0", "src", dsHoA4.String()))
	if b := haTab.Lookup(dsHoA4); b == nil || b.Endpoint().RemotePort != res.Outer.Port() {
		t.Fatalf("home agent: IPv4 home address not in the UDP tunnel: %+v", b)
	}

	// Data both ways through the UDP tunnel and the NAT, IPv6 and IPv4.
	pingAll := func() {
		t.Helper()
		check(t, cn.Ping(dsHoA, 5*time.Second))
		check(t, mn.Ping(dsCN, 5*time.Second))
		check(t, cn.Ping(dsHoA4, 5*time.Second))
		check(t, mn.Ping(dsCN4, 5*time.Second))
	}
	pingAll()

	// A NAT rebinding: the NAT forgets its mappings; the next
	// refresh (the NAT keepalive) comes from a new public port; the
	// home agent moves the binding and the tunnel follows.
	oldPort := res.Outer.Port()
	if err := nat.Do(func() error { return netlink.ConntrackTableFlush(netlink.ConntrackTable) }); err != nil {
		t.Skipf("cannot flush the NAT's conntrack table: %v", err)
	}
	var newPort uint16
	for range 5 {
		// masquerade random: a port other than the last, almost
		// always; try a few times to be sure.
		now = reg.Entry().RefreshAt
		out, res = mnExchange(reg.Timer(now))
		if res.Outer.Port() != oldPort {
			newPort = res.Outer.Port()
			break
		}
		check(t, nat.Do(func() error { return netlink.ConntrackTableFlush(netlink.ConntrackTable) }))
	}
	if newPort == 0 {
		t.Fatalf("the NAT kept port %d", oldPort)
	}
	if res.Change != homeagent.Moved || res.Status != mip6.StatusAccepted {
		t.Fatalf("rebinding: change %v status %v", res.Change, res.Status)
	}
	for _, a := range []netip.Addr{dsHoA, dsHoA4} {
		if b := haTab.Lookup(a); b == nil || b.Endpoint().RemotePort != newPort {
			t.Fatalf("tunnel of %v did not follow the new port %d: %+v", a, newPort, b)
		}
	}
	pingAll()
	if st := haF.Stats(); st.Signalled < 2 || st.SignalSent < 2 {
		t.Errorf("home agent forwarder stats %+v", st)
	}
}
