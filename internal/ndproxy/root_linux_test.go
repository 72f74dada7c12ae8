package ndproxy

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gomip6/gomip6/internal/netif"

	"github.com/gomip6/gomip6/internal/netlab"
	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// TestRootProxy runs a Listener in a home agent namespace linked by a veth
// pair to a host namespace, and checks what the host's kernel makes of it.
func TestRootProxy(t *testing.T) {
	netlab.SkipUnlessRoot(t)
	lab, err := netlab.New(t)
	if err != nil {
		t.Fatal(err)
	}
	ha, err := lab.NS("ha")
	if err != nil {
		t.Fatal(err)
	}
	hst, err := lab.NS("host")
	if err != nil {
		t.Fatal(err)
	}
	if err := ha.DisableDAD(); err != nil {
		t.Fatal(err)
	}
	if err := lab.Link(ha, "eth0", hst, "eth0"); err != nil {
		t.Fatal(err)
	}
	if err := ha.Addr("eth0", "2001:db8:1::1/64"); err != nil {
		t.Fatal(err)
	}
	if err := hst.Addr("eth0", "2001:db8:1::2/64"); err != nil {
		t.Fatal(err)
	}
	if err := hst.WaitDAD(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	// The home agent's link-local address comes with the link.
	var l *Listener
	var mac net.HardwareAddr
	deadline := time.Now().Add(5 * time.Second)
	for l == nil {
		err := ha.Do(func() error {
			ifi, err := net.InterfaceByName("eth0")
			if err != nil {
				return err
			}
			mac = ifi.HardwareAddr
			if !netif.LinkLocal(ifi).IsValid() {
				return nil
			}
			l, err = Listen("eth0", Config{RetransTimer: 500 * time.Millisecond, OnError: func(err error) { t.Log(err) }})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if l == nil {
			if time.Now().After(deadline) {
				t.Fatal("no link-local address on the home agent")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	defer l.Close()

	hoa := netip.MustParseAddr("2001:db8:1::100")
	hoa2 := netip.MustParseAddr("2001:db8:1::101")
	dad := func(a netip.Addr) DADResult {
		t.Helper()
		select {
		case r := <-l.StartDAD(a):
			return r
		case <-time.After(5 * time.Second):
			t.Fatalf("no DAD result for %v", a)
			return DADResult{}
		}
	}
	neigh := func(a netip.Addr) string {
		t.Helper()
		out, err := hst.IP("-6", "neigh", "show", a.String(), "dev", "eth0")
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	waitNeigh := func(a netip.Addr, want string) string {
		t.Helper()
		var got string
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if got = neigh(a); strings.Contains(got, want) {
				break
			}
		}
		return got
	}

	t.Run("DAD duplicate", func(t *testing.T) {
		// The host owns the address (with its own DAD, finished first),
		// so it answers the home agent's probe with an NA.
		if err := hst.Addr("eth0", hoa.String()+"/64"); err != nil {
			t.Fatal(err)
		}
		if err := hst.WaitDAD(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		if r := dad(hoa); !r.Duplicate || r.Err != nil {
			t.Errorf("DAD for the host's own address: %+v, want duplicate", r)
		}
		if _, err := hst.IP("-6", "addr", "del", hoa.String()+"/64", "dev", "eth0"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("DAD unique", func(t *testing.T) {
		start := time.Now()
		if r := dad(hoa); r.Duplicate || r.Err != nil {
			t.Errorf("DAD for a free address: %+v", r)
		}
		if d := time.Since(start); d < 500*time.Millisecond {
			t.Errorf("DAD ended after %v, before RetransTimer", d)
		}
		if r := dad(hoa2); r.Duplicate || r.Err != nil {
			t.Errorf("DAD for a free address: %+v", r)
		}
	})
	t.Run("NS answered", func(t *testing.T) {
		if err := l.Add(hoa); err != nil {
			t.Fatal(err)
		}
		// The echo reaches the home agent, which does not forward it:
		// no reply, but the host has resolved the home address.
		if err := hst.Ping(hoa, time.Second); err == nil {
			t.Error("ping answered: something else owns the home address")
		}
		got := waitNeigh(hoa, "lladdr "+mac.String())
		if !strings.Contains(got, "lladdr "+mac.String()) {
			t.Errorf("host neighbour entry %q, want lladdr %s", got, mac)
		}
		if strings.Contains(got, "router") {
			t.Errorf("host neighbour entry %q has the router flag: R must be clear", got)
		}
		if s := l.Stats(); s.SolicitedNAs == 0 {
			t.Errorf("stats %+v: no solicited NA", s)
		}
	})
	t.Run("gratuitous NA repoints", func(t *testing.T) {
		old := "02:00:00:00:00:99"
		if _, err := hst.IP("-6", "neigh", "replace", hoa2.String(), "lladdr", old, "dev", "eth0", "nud", "stale"); err != nil {
			t.Fatal(err)
		}
		if got := neigh(hoa2); !strings.Contains(got, old) {
			t.Fatalf("neighbour entry %q not set up", got)
		}
		sol := l.Stats().SolicitedNAs
		if err := l.Add(hoa2); err != nil {
			t.Fatal(err)
		}
		got := waitNeigh(hoa2, "lladdr "+mac.String())
		if !strings.Contains(got, "lladdr "+mac.String()) {
			t.Errorf("host neighbour entry %q, want lladdr %s after the gratuitous NA", got, mac)
		}
		if s := l.Stats(); s.SolicitedNAs != sol || s.UnsolicitedNAs == 0 {
			t.Errorf("stats %+v: the update must come from the unsolicited NA", s)
		}
	})
	t.Run("withdrawn after Remove", func(t *testing.T) {
		l.Remove(hoa)
		if _, err := hst.IP("-6", "neigh", "flush", "dev", "eth0"); err != nil {
			t.Fatal(err)
		}
		sol := l.Stats().SolicitedNAs
		hst.Ping(hoa, 1500*time.Millisecond)
		if got := neigh(hoa); strings.Contains(got, mac.String()) {
			t.Errorf("host neighbour entry %q after Remove", got)
		}
		if s := l.Stats(); s.SolicitedNAs != sol {
			t.Errorf("stats %+v: answered after Remove", s)
		}
		// hoa2 is still answered.
		hst.Ping(hoa2, 500*time.Millisecond)
		if got := waitNeigh(hoa2, mac.String()); !strings.Contains(got, mac.String()) {
			t.Errorf("hoa2 no longer answered: %q", got)
		}
	})
	if err := l.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if r := <-l.StartDAD(hoa); r.Err == nil {
		t.Errorf("DAD after Close: %+v", r)
	}
}

// TestRootReceivePathAllocs: on a real socket, reading an NS and sending
// its answer allocate nothing (the recvfrom and sendto of
// proxy_linux.go), and the answers reach the host.
func TestRootReceivePathAllocs(t *testing.T) {
	netlab.SkipUnlessRoot(t)
	lab, err := netlab.New(t)
	if err != nil {
		t.Fatal(err)
	}
	ha, err := lab.NS("ha")
	if err != nil {
		t.Fatal(err)
	}
	hst, err := lab.NS("host")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*netlab.NS{ha, hst} {
		if err := n.DisableDAD(); err != nil {
			t.Fatal(err)
		}
	}
	if err := lab.Link(ha, "eth0", hst, "eth0"); err != nil {
		t.Fatal(err)
	}
	hoa := netip.MustParseAddr("2001:db8:1::100")
	src := netip.MustParseAddr("2001:db8:1::2")
	var l *Listener
	if err := ha.Do(func() error {
		var err error
		l, err = open("eth0", Config{Source: netip.MustParseAddr("fe80::1"), Advertisements: -1, AnswerRate: -1, MaxAnswerRate: -1})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Add(hoa); err != nil {
		t.Fatal(err)
	}
	const runs = 50
	var hmac net.HardwareAddr
	if err := hst.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		hmac = ifi.HardwareAddr
		c, err := packet.Listen(ifi, packet.Datagram, unix.ETH_P_IPV6, nil)
		if err != nil {
			return err
		}
		defer c.Close()
		ns, err := AppendPacket(nil, src, SolicitedNodeMulticast(hoa), &NeighborSolicitation{Target: hoa, SourceLinkLayer: ifi.HardwareAddr})
		if err != nil {
			return err
		}
		for range runs + 1 {
			if _, err := c.WriteTo(ns, &packet.Addr{HardwareAddr: MulticastMAC(SolicitedNodeMulticast(hoa))}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var got net.HardwareAddr
	if a := testing.AllocsPerRun(runs, func() {
		pkt, mac, err := l.readOne()
		if err != nil {
			t.Fatal(err)
		}
		got = mac
		l.handle(pkt, mac)
	}); a != 0 {
		t.Errorf("read and answer allocate %v times per NS", a)
	}
	if got.String() != hmac.String() {
		t.Errorf("link-layer source %v, want the host's %v", got, hmac)
	}
	if s := l.Stats(); s.SolicitedNAs != runs+1 || s.Invalid != 0 {
		t.Errorf("stats %+v, want %d answers", s, runs+1)
	}
}
