package had

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gomip6/gomip6/internal/netif"
	"github.com/gomip6/gomip6/mobilenode"
)

// hhNeighMAC returns the link-layer address of the home host's neighbour
// entry for a ("" without one) and the entry's line.
func (l *lab) hhNeighMAC(a netip.Addr) (string, string) {
	out, err := l.hh.IP("-6", "neigh", "show", a.String(), "dev", "hh0")
	must(l.t, err)
	line := strings.TrimSpace(out)
	f := strings.Fields(line)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "lladdr" {
			return f[i+1], line
		}
	}
	return "", line
}

// waitHHNeigh waits until the home host's entry for a carries mac.
func (l *lab) waitHHNeigh(a netip.Addr, mac net.HardwareAddr, timeout time.Duration) {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, line := l.hhNeighMAC(a)
		if got == mac.String() {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("home host's entry for %v is %q after %v, want lladdr %v", a, line, timeout, mac)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHomeLinkMACChange: hl0 gets a new MAC address while a mobile node
// is away. The home host's stale entries for the home address and for
// had's link-local address follow at once, from the gratuitous NAs with
// Override (RFC 4861 §7.2.6) and the unsolicited RA's Source Link-layer
// Address option (§6.3.4): a stale entry is not probed before it is used,
// so nothing else would change them. Then hl0 goes down and up: RAs, the
// proxy and the signalling socket still work.
func TestHomeLinkMACChange(t *testing.T) {
	l := newLab(t)
	l.start()
	m := l.newMN(l.key, tHoA, "laptop@home.example", 1000)
	l.dataPlane(m)
	must(t, m.exchange(m.reg.Moved(tCoA, time.Now()), mobilenode.Registered))

	var ll netip.Addr
	must(t, l.home.Do(func() error {
		ifi, err := net.InterfaceByName("hl0")
		if err == nil {
			ll = netif.LinkLocal(ifi)
		}
		return err
	}))
	// Entries for both that only an NA or RA can update: STALE with a
	// bogus address, and no traffic to either.
	bogus := "02:00:00:00:00:bb"
	for _, a := range []netip.Addr{tHoA, ll} {
		_, err := l.hh.IP("-6", "neigh", "replace", a.String(), "lladdr", bogus, "dev", "hh0", "nud", "stale")
		must(t, err)
	}
	newMAC := net.HardwareAddr{0x02, 0, 0x5e, 0, 0x53, 0x77}
	_, err := l.home.IP("link", "set", "dev", "hl0", "address", newMAC.String())
	must(t, err)
	l.waitHHNeigh(tHoA, newMAC, 2*time.Second)
	l.waitHHNeigh(ll, newMAC, 2*time.Second)
	var proxyMAC net.HardwareAddr
	var raMAC net.HardwareAddr
	l.d.do(t.Context(), func() { proxyMAC, raMAC = l.d.proxy.LinkLayer(), l.d.params.LinkLayer })
	if proxyMAC.String() != newMAC.String() || raMAC.String() != newMAC.String() {
		t.Errorf("proxy MAC %v, RA MAC %v; want %v", proxyMAC, raMAC, newMAC)
	}
	must(t, l.hh.Ping(tHoA, 5*time.Second))

	// Down and up; home.address goes with an administrative down and is
	// put back, as the operator's network configuration would.
	rasBefore := l.d.ras.Stats().RAsSent
	nasBefore := l.d.proxy.Stats().UnsolicitedNAs
	_, err = l.home.IP("link", "set", "dev", "hl0", "down")
	must(t, err)
	time.Sleep(300 * time.Millisecond)
	_, err = l.home.IP("link", "set", "dev", "hl0", "up")
	must(t, err)
	_, err = l.home.IP("-6", "addr", "replace", tHA.String()+"/64", "dev", "hl0")
	must(t, err)
	// The home host lost carrier with hl0 and flushed its entries: a
	// fresh resolution of the home address must be answered by the proxy,
	// whose packet socket the kernel re-attached on NETDEV_UP.
	_, err = l.hh.IP("-6", "neigh", "flush", "dev", "hh0")
	must(t, err)
	must(t, l.hh.Ping(tHoA, 5*time.Second))
	if got, line := l.hhNeighMAC(tHoA); got != newMAC.String() {
		t.Errorf("after down/up the home host's entry for %v is %q, want lladdr %v", tHoA, line, newMAC)
	}
	deadline := time.Now().Add(3 * time.Second)
	for l.d.ras.Stats().RAsSent <= rasBefore && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if l.d.ras.Stats().RAsSent <= rasBefore {
		t.Error("no RA sent after the home link came back")
	}
	// had announced the proxied home address when the link came back.
	l.waitNAs(nasBefore)

	// Carrier only: the home host's end goes down and up, hl0 loses its
	// carrier (IFF_RUNNING) and keeps its addresses. had announces again
	// when it is back. Down for over a second: the kernel's linkwatch
	// reports a non-urgent carrier change at most once a second, so a
	// shorter blip may reach had as its end state only (see
	// link_linux.go). And longer than the announcement above lasts (its
	// last NA 2 s after the first; NAs sent without carrier fail and are
	// not counted), so that the count taken before the carrier returns
	// grows only by the new announcement.
	for _, args := range [][]string{
		{"link", "set", "dev", "hh0", "down"}, {"link", "set", "dev", "hh0", "up"},
		{"-6", "addr", "replace", tHomeHost.String() + "/64", "dev", "hh0"},
		{"-6", "route", "replace", "default", "via", tHA.String()},
	} {
		_, err := l.hh.IP(args...)
		must(t, err)
		if args[len(args)-1] == "down" {
			time.Sleep(2500 * time.Millisecond)
			nasBefore = l.d.proxy.Stats().UnsolicitedNAs
		}
	}
	l.waitNAs(nasBefore)
	must(t, l.hh.Ping(tHoA, 5*time.Second))

	// Signalling still arrives: a refresh.
	must(t, m.exchange(m.reg.Moved(tCoA, time.Now()), mobilenode.Registered))
}

// waitNAs waits until the proxy sent more unsolicited NAs than before.
func (l *lab) waitNAs(before uint64) {
	l.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for l.d.proxy.Stats().UnsolicitedNAs <= before {
		if time.Now().After(deadline) {
			l.t.Fatalf("no gratuitous NA in 3 s after the home link came back (%d sent in all)", before)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
