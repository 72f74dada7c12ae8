package netlab

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRadvdConfig(t *testing.T) {
	got, err := radvdConfig("g6t-r0", RA{Prefixes: []string{"2001:db8:a::/64", "2001:db8:b::/64"}, RouterLifetime: 30 * time.Second, Extra: "AdvHomeAgentFlag off;"})
	if err != nil {
		t.Fatal(err)
	}
	want := `interface g6t-r0 {
	AdvSendAdvert on;
	MinRtrAdvInterval 1;
	MaxRtrAdvInterval 3;
	AdvIntervalOpt on;
	MinDelayBetweenRAs 1;
	AdvDefaultLifetime 30;
	prefix 2001:db8:a::/64 {
		AdvOnLink on;
		AdvAutonomous on;
	};
	prefix 2001:db8:b::/64 {
		AdvOnLink on;
		AdvAutonomous on;
	};
	AdvHomeAgentFlag off;
};
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("radvdConfig (-want +got):\n%s", diff)
	}
	// RFC 4861 intervals (≥ 4 s) need no Advertisement Interval option.
	got, err = radvdConfig("eth0", RA{MinInterval: 5 * time.Second, MaxInterval: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "MinRtrAdvInterval 5;") || !strings.Contains(got, "MaxRtrAdvInterval 10;") || strings.Contains(got, "AdvIntervalOpt") {
		t.Errorf("radvdConfig with slow intervals:\n%s", got)
	}
	for _, tc := range []struct {
		ifname string
		ra     RA
	}{
		{"bad name", RA{}},
		{"eth0", RA{Prefixes: []string{"192.0.2.0/24"}}},
		{"eth0", RA{Prefixes: []string{"2001:db8::1/64"}}}, // host bits set
		{"eth0", RA{Prefixes: []string{"2001:db8::/64; };"}}},
		{"eth0", RA{MinInterval: 5 * time.Second, MaxInterval: 4 * time.Second}},
	} {
		if _, err := radvdConfig(tc.ifname, tc.ra); err == nil {
			t.Errorf("radvdConfig(%q, %+v): no error", tc.ifname, tc.ra)
		}
	}
}

func TestRadvd(t *testing.T) {
	SkipUnlessRoot(t)
	l, err := New(t)
	if err != nil {
		t.Fatal(err)
	}
	r, err := l.NS("rtr")
	if err != nil {
		t.Fatal(err)
	}
	h, err := l.NS("host")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*NS{r, h} {
		if err := n.DisableDAD(); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Link(r, "g6t-r", h, "g6t-h"); err != nil {
		t.Fatal(err)
	}
	if err := r.Forwarding(true, false); err != nil {
		t.Fatal(err)
	}
	p, err := r.StartRadvd("g6t-r", RA{Prefixes: []string{"2001:db8:a::/64"}})
	if err != nil {
		t.Fatal(err)
	}
	// The host, not forwarding, configures an address from the prefix
	// (SLAAC) and a default route through the router's link-local
	// address.
	var addrs, routes string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		addrs, _ = h.IP("-6", "addr", "show", "dev", "g6t-h", "scope", "global")
		routes, _ = h.IP("-6", "route", "show", "default")
		if strings.Contains(addrs, "2001:db8:a:") && strings.Contains(routes, "via fe80::") {
			break
		}
	}
	if !strings.Contains(addrs, "2001:db8:a:") || !strings.Contains(addrs, "dynamic") {
		t.Errorf("no SLAAC address on the host:\n%s\nradvd log:\n%s", addrs, tail(p.Log, 2048))
	}
	if !strings.Contains(routes, "via fe80::") || !strings.Contains(routes, "proto ra") {
		t.Errorf("no default route from the RA:\n%s", routes)
	}
	if p.Exited() {
		t.Errorf("radvd exited: %v\n%s", p.Wait(), tail(p.Log, 2048))
	}
	if err := p.Stop(); err != nil {
		t.Errorf("radvd Stop: %v", err)
	}
}

func TestMasquerade(t *testing.T) {
	SkipUnlessRoot(t)
	l, err := New(t)
	if err != nil {
		t.Fatal(err)
	}
	var inner, nat, outer *NS
	for _, x := range []struct {
		p    **NS
		name string
	}{{&inner, "in"}, {&nat, "nat"}, {&outer, "out"}} {
		if *x.p, err = l.NS(x.name); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(l.Link(inner, "g6t-i", nat, "g6t-n0"))
	must(l.Link(nat, "g6t-n1", outer, "g6t-o"))
	must(inner.Addr("g6t-i", "192.0.2.2/24"))
	must(nat.Addr("g6t-n0", "192.0.2.1/24"))
	must(nat.Addr("g6t-n1", "203.0.113.1/24"))
	must(outer.Addr("g6t-o", "203.0.113.2/24"))
	must(inner.Route("default", "via", "192.0.2.1"))
	must(nat.Forwarding(false, true))
	// outer has no route back to 192.0.2.0/24: only NAT makes replies
	// possible.
	dst := netip.MustParseAddr("203.0.113.2")
	if err := inner.Ping(dst, 300*time.Millisecond); err == nil {
		t.Fatal("ping through the router before NAT: got a reply")
	}
	must(nat.Masquerade("g6t-n1"))
	if err := inner.Ping(dst, 5*time.Second); err != nil {
		t.Fatalf("ping through NAT: %v", err)
	}
	// And outer sees the router's address as the source.
	var srv, cli *net.UDPConn
	must(outer.Do(func() (err error) {
		srv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP("203.0.113.2")})
		return err
	}))
	defer srv.Close()
	must(inner.Do(func() (err error) {
		cli, err = net.DialUDP("udp4", nil, srv.LocalAddr().(*net.UDPAddr))
		return err
	}))
	defer cli.Close()
	if _, err := cli.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, from, err := srv.ReadFromUDP(make([]byte, 8))
	if err != nil {
		t.Fatal(err)
	}
	if !from.IP.Equal(net.ParseIP("203.0.113.1")) {
		t.Errorf("outer saw source %v, want the NAT's 203.0.113.1", from.IP)
	}
}
