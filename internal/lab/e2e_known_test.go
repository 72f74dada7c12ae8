package lab

import (
	"context"
	"os"
	"testing"
	"time"
)

// Known daemon bugs, each reproduced by a test that fails today. They are
// skipped so that CI stays green; GOMIP6_KNOWN=1 runs them (root, like the
// rest of the end-to-end tier).

func skipKnown(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("GOMIP6_KNOWN") == "" {
		t.Skip("KNOWN: " + why + " (GOMIP6_KNOWN=1 runs it)")
	}
}

// TestKnownHomeLinkMACChange: had reads the home interface's MAC address
// once, at start (homeagent/had/had.go passes d.home.HardwareAddr to
// ra.ParamsFromConfig, and ndproxy's Config.MAC is filled from the
// interface at New), and keeps advertising it in its Router
// Advertisements (Source Link-Layer Address option) and in the proxy
// Neighbor Advertisements for away mobile nodes (Target Link-Layer Address
// option, RFC 6275 §10.4.1) after the interface's address changed. A Linux
// bridge without an explicit address changes its MAC whenever the port
// with the lowest MAC leaves (a laptop's port roaming away, as in the lab
// before its bridges got fixed addresses); an operator may also change it.
// The home link's hosts then send the mobile node's traffic to a MAC
// nobody has: the home-link host's ping to the home address while away got
// no answer (the old KNOWN ISSUE of TestTour). Expected: had follows
// RTM_NEWLINK address changes of the home interface (new RAs and proxy NAs
// with the new address, gratuitous NAs with Override, RFC 4861 §7.2.6).
func TestKnownHomeLinkMACChange(t *testing.T) {
	skipKnown(t, "had keeps advertising the home interface's MAC address of its start after the address changes")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	r := e2eLab(ctx, t, Options{NoCND: true})
	moveAndRegister(ctx, t, r, SiteA)
	if err := r.Topo.HomeHost.Ping(r.Params.HomeAddress, 3*time.Second); err != nil {
		t.Fatalf("before the change: %v", err)
	}
	newMAC := BridgeMAC(0x99).String()
	if _, err := r.Topo.Home.IP("link", "set", "dev", BridgeIface, "address", newMAC); err != nil {
		t.Fatal(err)
	}
	// Let had's RAs (every 50 ms to 1 s) and a fresh resolution tell
	// homehost the new address.
	time.Sleep(2 * time.Second)
	if _, err := r.Topo.HomeHost.IP("-6", "neigh", "flush", "dev", "eth0"); err != nil {
		t.Fatal(err)
	}
	err := r.Topo.HomeHost.Ping(r.Params.HomeAddress, 3*time.Second)
	neigh, _ := r.Topo.HomeHost.IP("-6", "neigh", "show", "dev", "eth0")
	if err != nil {
		t.Errorf("after the home router's MAC became %s: %v; homehost's neighbours:\n%s", newMAC, err, neigh)
	}
}
