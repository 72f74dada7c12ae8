package lab

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gomip6/gomip6/internal/netlab"
)

// TestTopologyPlumbing builds the lab network without any gomip6 daemon and
// checks what the daemons rely on: routing through inet, radvd on link A,
// NAT44 on link B, and the mobile node's interface roaming between the
// routers' bridges.
func TestTopologyPlumbing(t *testing.T) {
	netlab.SkipUnlessRoot(t)
	l, err := netlab.New(t)
	if err != nil {
		t.Fatal(err)
	}
	topo, err := Build(l)
	if err != nil {
		t.Fatal(err)
	}

	// inet routes between the routers and the correspondent, both
	// families.
	for _, tc := range []struct {
		from *netlab.NS
		dst  string
	}{
		{topo.CN, HAAddr.String()},
		{topo.Home, CNAddr.String()},
		{topo.CN, "2001:db8:a::1"},
		{topo.FA, HAAddr.String()},
		{topo.CN, HAIPv4.String()},
		{topo.FB, HAIPv4.String()},
		{topo.Home, NATB.String()},
	} {
		if err := tc.from.Ping(netip.MustParseAddr(tc.dst), 5*time.Second); err != nil {
			t.Errorf("%s -> %s: %v", tc.from.Short(), tc.dst, err)
		}
	}

	// The mobile node starts on the home bridge: its peer is a port of
	// br0 in the home namespace, and it has carrier.
	if got := topo.At(); got != SiteHome {
		t.Fatalf("At() = %s, want home", got)
	}
	assertPort(t, topo.Home)
	waitCarrier(t, topo.MN, true)

	// Move to A: carrier is lost as the peer leaves, comes back once it is
	// enslaved in fa, and radvd gives the mobile node a SLAAC address
	// (RFC 4862) in 2001:db8:a::/64 and a default route.
	watch := startLinkWatch(t, topo.MN)
	if err := topo.Move(SiteA); err != nil {
		t.Fatal(err)
	}
	assertPort(t, topo.FA)
	waitCarrier(t, topo.MN, true)
	if out := watch.stop(); !strings.Contains(out, "NO-CARRIER") || !strings.Contains(out, "LOWER_UP") {
		t.Errorf("the mobile node did not see carrier down then up; ip monitor link printed:\n%s", out)
	}
	if out, err := topo.Home.IP("link", "show", "dev", mnPort); err == nil {
		t.Errorf("%s still in the home namespace:\n%s", mnPort, out)
	}
	coa := waitSLAAC(t, topo.MN, PrefixA, 10*time.Second)
	if err := topo.MN.Ping(CNAddr, 5*time.Second); err != nil {
		t.Errorf("mn at A (%s) -> cn: %v", coa, err)
	}

	// Move to B: no IPv6 there, an IPv4 address from the lab, and NAT44
	// lets the mobile node reach the home agent's IPv4 address.
	if err := topo.Move(SiteB); err != nil {
		t.Fatal(err)
	}
	assertPort(t, topo.FB)
	waitCarrier(t, topo.MN, true)
	if err := topo.MN.Ping(HAIPv4, 5*time.Second); err != nil {
		t.Errorf("mn at B -> %s through the NAT: %v", HAIPv4, err)
	}
	// The NAT rewrote the source: the home router sees the NAT's public
	// address, not 192.0.2.10.
	if src := udpSource(t, topo.MN, topo.Home, HAIPv4); src != NATB {
		t.Errorf("a datagram from the mobile node on B reached home from %s, want the NAT's %s", src, NATB)
	}
	if out, _ := topo.FB.IP("-6", "addr", "show", "dev", BridgeIface); strings.Contains(out, "inet6") {
		t.Errorf("link B has IPv6 on its bridge:\n%s", out)
	}

	// Back home: B's IPv4 address goes with the link.
	if err := topo.Move(SiteHome); err != nil {
		t.Fatal(err)
	}
	assertPort(t, topo.Home)
	waitCarrier(t, topo.MN, true)
	if out, _ := topo.MN.IP("-4", "addr", "show", "dev", MNIface); strings.Contains(out, MNIPv4B.String()) {
		t.Errorf("the mobile node kept link B's address at home:\n%s", out)
	}
	if err := topo.Move(SiteHome); err == nil {
		t.Error("Move to the current site: no error")
	}
}

// assertPort checks that the mobile node's peer is a port of n's bridge.
func assertPort(t *testing.T, n *netlab.NS) {
	t.Helper()
	out, err := n.IP("-d", "link", "show", "dev", mnPort)
	if err != nil || !strings.Contains(out, "master "+BridgeIface) {
		t.Errorf("%s in %s: %v\n%s", mnPort, n.Short(), err, out)
	}
}

// waitCarrier waits until the mobile node's eth0 has (or has not) carrier.
func waitCarrier(t *testing.T, n *netlab.NS, up bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := n.Run("cat", "/sys/class/net/"+MNIface+"/carrier")
		if err == nil && (strings.TrimSpace(out) == "1") == up {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("carrier of %s in %s: %q, %v; want up=%v", MNIface, n.Short(), out, err, up)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSLAAC waits for a global address in p on the mobile node's eth0.
func waitSLAAC(t *testing.T, n *netlab.NS, p netip.Prefix, timeout time.Duration) netip.Addr {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, _ := n.IP("-6", "-o", "addr", "show", "dev", MNIface, "scope", "global", "-tentative")
		for _, f := range strings.Fields(out) {
			if pf, err := netip.ParsePrefix(f); err == nil && p.Contains(pf.Addr()) {
				return pf.Addr()
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SLAAC address in %s on %s after %v:\n%s", p, MNIface, timeout, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// linkWatch records "ip monitor link" in a namespace.
type linkWatch struct {
	p *netlab.Proc
}

func startLinkWatch(t *testing.T, n *netlab.NS) *linkWatch {
	t.Helper()
	p, err := n.Start("ip", "monitor", "link")
	if err != nil {
		t.Fatal(err)
	}
	// Let it subscribe before anything happens.
	time.Sleep(200 * time.Millisecond)
	return &linkWatch{p: p}
}

func (w *linkWatch) stop() string {
	time.Sleep(100 * time.Millisecond)
	w.p.Stop()
	out, _ := w.p.Output()
	return out
}

// udpSource sends a datagram from one namespace to dst:4500 in another and
// returns the source address it arrives with.
func udpSource(t *testing.T, from, to *netlab.NS, dst netip.Addr) netip.Addr {
	t.Helper()
	var srv, cli *net.UDPConn
	if err := to.Do(func() (err error) {
		srv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: dst.AsSlice(), Port: 4500})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := from.Do(func() (err error) {
		cli, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: dst.AsSlice(), Port: 4500})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	buf := make([]byte, 64)
	for range 3 {
		srv.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := cli.Write([]byte("gomip6 lab")); err != nil {
			t.Fatal(err)
		}
		_, addr, err := srv.ReadFromUDPAddrPort(buf)
		if err == nil {
			return addr.Addr().Unmap()
		}
	}
	t.Fatal("no datagram arrived")
	return netip.Addr{}
}
