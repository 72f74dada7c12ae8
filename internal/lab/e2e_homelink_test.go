package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gomip6/gomip6/internal/netlab"
)

// neighMAC returns the link-layer address of ns's neighbour entry for a
// on ifname, "" when there is none (or it has no address: INCOMPLETE,
// FAILED), and the entry's line.
func neighMAC(t *testing.T, ns *netlab.NS, ifname string, a netip.Addr) (string, string) {
	t.Helper()
	mac, line, err := ns.NeighMAC(ifname, a)
	if err != nil {
		t.Fatal(err)
	}
	return mac, line
}

// waitNeighMAC waits until ns's neighbour entry for a carries mac, and
// returns how long that took.
func waitNeighMAC(ctx context.Context, t *testing.T, ns *netlab.NS, ifname string, a netip.Addr, mac net.HardwareAddr, timeout time.Duration) (time.Duration, error) {
	t.Helper()
	t0 := time.Now()
	var line string
	for time.Since(t0) < timeout && ctx.Err() == nil {
		var got string
		got, line = neighMAC(t, ns, ifname, a)
		if got == mac.String() {
			return time.Since(t0), nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(t0), fmt.Errorf("%s's neighbour entry for %v is %q after %v, want lladdr %v", ns.Short(), a, line, timeout, mac)
}

// hasEvent reports whether the daemon logged event name since t0.
func hasEvent(d *Daemon, name string, t0 time.Time) bool {
	for _, e := range d.Events() {
		if e.Name == name && !e.Time.Before(t0) {
			return true
		}
	}
	return false
}

// TestE2EHomeLinkMACChange: the home router's interface gets a new MAC
// address while the mobile node is away. had must follow it (RTM_NEWLINK):
// gratuitous NAs with Override for the proxied home address (RFC 4861
// §7.2.6, RFC 6275 §10.4.1) repoint the home host's existing neighbour
// entry at the new address without a flush, well inside the time its
// own Neighbor Unreachability Detection would take (REACHABLE, then
// DELAY 5 s, then probes: several seconds), and RAs carry it in their
// Source Link-layer Address option. Then the home interface goes down
// and up: had goes on proxying, advertising and receiving signalling on
// it (a de-registration at home and a new registration from A).
//
// The lab's bridges have fixed addresses (topology.go); before had
// followed a change, a bridge that took a roaming port's address broke
// the home host's traffic to the away mobile node (the old KNOWN ISSUE
// of TestTour).
func TestE2EHomeLinkMACChange(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	r := e2eLab(ctx, t, Options{NoCND: true})
	hoa := r.Params.HomeAddress
	moveAndRegister(ctx, t, r, SiteA)
	if err := r.Topo.HomeHost.Ping(hoa, 3*time.Second); err != nil {
		t.Fatalf("before the change: %v", err)
	}
	oldMAC := BridgeMAC(1)
	if got, line := neighMAC(t, r.Topo.HomeHost, "eth0", hoa); got != oldMAC.String() {
		t.Fatalf("before the change homehost's entry for %v is %q, want lladdr %v (the home agent's)", hoa, line, oldMAC)
	}

	// The MAC change. Nothing is flushed and nothing sent to the home
	// address until the entry has the new address: only an unsolicited
	// NA can have put it there.
	newMAC := BridgeMAC(0x99)
	t0 := time.Now()
	if _, err := r.Topo.Home.IP("link", "set", "dev", BridgeIface, "address", newMAC.String()); err != nil {
		t.Fatal(err)
	}
	took, err := waitNeighMAC(ctx, t, r.Topo.HomeHost, "eth0", hoa, newMAC, 2*time.Second)
	if err != nil {
		t.Fatalf("after the home router's MAC became %v: %v", newMAC, err)
	}
	t.Logf("homehost's entry for the home address followed the new MAC after %v", took.Round(time.Millisecond))
	if !hasEvent(r.HA, "home_mac_changed", t0.Add(-time.Second)) {
		t.Error("had logged no home_mac_changed event")
	}
	// The router's own entry: from the RAs' Source Link-layer Address
	// option (RFC 4861 §6.3.4), the unsolicited one at once or the next
	// scheduled one (at most 1 s in the lab).
	out, err := r.Topo.HomeHost.IP("-6", "route", "show", "default")
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(out); len(f) > 2 && f[1] == "via" {
		router := netip.MustParseAddr(f[2])
		if _, err := waitNeighMAC(ctx, t, r.Topo.HomeHost, "eth0", router, newMAC, 3*time.Second); err != nil {
			t.Errorf("the router's entry: %v", err)
		}
	} else {
		t.Errorf("homehost has no default route via had: %q", out)
	}
	if err := r.Topo.HomeHost.Ping(hoa, 3*time.Second); err != nil {
		t.Errorf("after the MAC change: %v", err)
	}

	// Down and up. An administrative down removes the bridge's IPv6
	// addresses; the operator's network configuration puts home.address
	// back (had does not own it), the kernel the link-local one.
	t0 = time.Now()
	if _, err := r.Topo.Home.IP("link", "set", "dev", BridgeIface, "down"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if _, err := r.Topo.Home.IP("link", "set", "dev", BridgeIface, "up"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Topo.Home.IP("-6", "addr", "replace", HAAddr.String()+"/64", "dev", BridgeIface); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !hasEvent(r.HA, "home_link_announced", t0) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !hasEvent(r.HA, "home_link_down", t0) || !hasEvent(r.HA, "home_link_up", t0) || !hasEvent(r.HA, "home_link_announced", t0) {
		t.Errorf("had's home link events since the down: %+v", eventNames(r.HA, t0))
	}
	// Proxying resumed: a fresh resolution of the home address is
	// answered by had.
	if _, err := r.Topo.HomeHost.IP("-6", "neigh", "flush", "dev", "eth0"); err != nil {
		t.Fatal(err)
	}
	if err := r.Topo.HomeHost.Ping(hoa, 5*time.Second); err != nil {
		neigh, _ := r.Topo.HomeHost.IP("-6", "neigh", "show", "dev", "eth0")
		t.Fatalf("after the home link's down and up: %v; homehost's neighbours:\n%s", err, neigh)
	}
	if got, line := neighMAC(t, r.Topo.HomeHost, "eth0", hoa); got != newMAC.String() {
		t.Errorf("after down/up homehost's entry for %v is %q, want lladdr %v", hoa, line, newMAC)
	}
	// RAs resumed.
	before := metrics(ctx, t, r.HA).Sum("mip6_ra_sent_total")
	time.Sleep(2500 * time.Millisecond)
	if after := metrics(ctx, t, r.HA).Sum("mip6_ra_sent_total"); after <= before {
		t.Errorf("no RA sent in 2.5 s after the home link came back (%v -> %v)", before, after)
	}
	// Signalling on the home link (the de-registration at home comes
	// through the packet socket on it) and a new registration from A,
	// whose proxy NAs carry the new MAC.
	moveAndRegister(ctx, t, r, SiteHome)
	moveAndRegister(ctx, t, r, SiteA)
	if err := r.Topo.HomeHost.Ping(hoa, 5*time.Second); err != nil {
		t.Errorf("away again after the down/up: %v", err)
	}
	if got, line := neighMAC(t, r.Topo.HomeHost, "eth0", hoa); got != newMAC.String() {
		t.Errorf("away again homehost's entry for %v is %q, want lladdr %v", hoa, line, newMAC)
	}
}

// eventNames lists the names of d's events since t0, for messages.
func eventNames(d *Daemon, t0 time.Time) []string {
	var s []string
	for _, e := range d.Events() {
		if !e.Time.Before(t0) {
			s = append(s, e.Name)
		}
	}
	return s
}
