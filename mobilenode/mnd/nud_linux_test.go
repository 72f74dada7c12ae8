package mnd

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gomip6/gomip6/internal/netlab"
)

// TestRootRouterUnreachable: link A's router is an untuned one (radvd's
// defaults: no Advertisement Interval option, 1800 s of Router Lifetime,
// an unsolicited RA every 200-600 s) and dies without taking the link
// down. Neighbor unreachability detection, started by the daemon when the
// tunnel goes silent, finds it in seconds and the node fails over to link
// B; when the router comes back, only the daemon's continued Router
// Solicitations (the kernel's are off here, and the router sends no
// unsolicited RA) bring the node back to the preferred link A.
func TestRootRouterUnreachable(t *testing.T) {
	l := newRootLab(t)
	// SIGKILL: no final RA withdrawing the router.
	must(t, l.radvdA.Cmd.Process.Kill())
	_ = l.radvdA.Wait()
	var err error
	// UnicastOnly: no unsolicited RAs at all (radvd.conf(5)), only the
	// answers to solicitations. With radvd's defaults the next
	// unsolicited RA would be minutes away anyway, but the initial ones
	// (RFC 4861 §6.2.4, 16 s apart), and radvd's retries of the ones the
	// dead link refused (sendmsg ENOBUFS), come at odd times. With the
	// daemon's retransmissions taken out this test fails (checked).
	l.radvdA, err = l.rt.StartRadvd("ra", netlab.RA{Prefixes: []string{"2001:db8:a::/64"}, RadvdDefaults: true,
		RouterLifetime: 1800 * time.Second, Extra: "UnicastOnly on;"})
	must(t, err)
	l.link("home0", false)
	// The kernel's own solicitations off: they go on or stop depending
	// on whether its first RA came before or after its first
	// solicitation (Linux sets IF_RA_RCVD only for an RA after one), so
	// they would bring the node back by luck in some runs. What is under
	// test is the daemon's.
	must(t, l.mn.Sysctl("net.ipv6.conf.a0.router_solicitations", "0"))
	d, stop := l.start()
	defer stop()
	l.waitFor("registration on link A", 20*time.Second, registeredIn(d, labPfxA))

	// Traffic from the home address, so that a dead path shows.
	var tx net.PacketConn
	must(t, l.mn.Do(func() (err error) {
		tx, err = net.ListenPacket("udp6", netip.AddrPortFrom(labHoA, 0).String())
		return err
	}))
	defer tx.Close()
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for n := 0; n < 10000; n++ { // bounded: 200 s at most
			select {
			case <-quit:
				return
			case <-tk.C:
				_, _ = tx.WriteTo([]byte("x"), &net.UDPAddr{IP: labCN.AsSlice(), Port: 9})
			}
		}
	}()
	time.Sleep(500 * time.Millisecond)

	// The router dies on link A: everything in and out of its interface
	// dropped, the link itself stays up on both sides.
	dead := func(on bool) {
		if on {
			_, err := l.rt.Run("nft", "add table netdev mndnudtest; "+
				"add chain netdev mndnudtest in { type filter hook ingress device ra priority 0; policy drop; }; "+
				"add chain netdev mndnudtest out { type filter hook egress device ra priority 0; policy drop; }")
			must(t, err)
			return
		}
		_, err := l.rt.Run("nft", "delete table netdev mndnudtest")
		must(t, err)
	}
	dead(true)
	start := time.Now()
	took := l.waitFor("fail-over to link B", 30*time.Second, registeredIn(d, labPfxB))
	t.Logf("router on link A died: registered through link B %v later", took)
	if c := d.Counters(); c.RoutersUnreachable == 0 {
		t.Errorf("RoutersUnreachable = 0 after the fail-over")
	}
	for _, ev := range []string{`"event":"router_probe"`, `"event":"router_unreachable"`} {
		if !strings.Contains(l.logs.String(), ev) {
			t.Errorf("no %s in the log", ev)
		}
	}

	// The router comes back, silent: only a solicitation brings the node
	// back.
	time.Sleep(max(10*time.Second-time.Since(start), 0))
	dead(false)
	took = l.waitFor("back on link A", 30*time.Second, registeredIn(d, labPfxA))
	t.Logf("router on link A back: registered through it again %v later", took)
}
