//go:build linux

package mnd

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/tunnel"
	tebpf "github.com/gomip6/gomip6/tunnel/ebpf"
)

// TestRootKernelPath: mnd with [tunnel] kernel_path registered from link
// A carries traffic both ways between the correspondent and the home
// address in the kernel (the BPF counters count it, the userspace
// forwarder next to nothing), keeps it going over a move to link B (the
// home agent, whose userspace tunnel checks the outer source, accepts
// the packets only from the new care-of address), comes home with no
// accelerated route left, and shuts down leaving no proto 0xb6 route and
// no tcx program.
func TestRootKernelPath(t *testing.T) {
	l := newRootLab(t)
	cfg := l.mnConf()
	cfg.Tunnel.KernelPath = true
	d, stop := l.startKernelPath(cfg)
	// The plan's tunnel routes are the accelerated ones, at the plan's
	// metric, with the home address as source.
	routes, err := l.mn.IP("-6", "route", "show", "table", "all", "proto", fmt.Sprint(tebpf.RouteProtocol))
	must(t, err)
	for _, want := range []string{"default encap bpf", "2001:db8:100::/64 encap bpf"} {
		if !strings.Contains(squeezeSpaces(routes), want) {
			t.Errorf("no %q in the accelerated routes:\n%s", want, routes)
		}
	}
	if n := strings.Count(routes, "dev mip0"); n != 2 || strings.Count(routes, "src "+labHoA.String()+" metric 1 ") != 2 {
		t.Errorf("accelerated routes:\n%s", routes)
	}

	userspace := func() uint64 {
		s := d.tun.Counters.Snapshot()
		return s.Get(tunnel.Out, tunnel.ReasonOK).Packets + s.Get(tunnel.In, tunnel.ReasonOK).Packets
	}
	us0 := userspace()
	k0, _ := d.KernelPathStats()
	must(t, l.cn.Ping(labHoA, 5*time.Second))
	must(t, l.mn.Ping(labCN, 5*time.Second))
	echo := l.tcpEcho()
	for i := range 20 {
		echo(fmt.Sprintf("on link A %d", i))
	}
	l.bulk(1 << 20)
	k1, _ := d.KernelPathStats()
	t.Logf("link A: kernel %+v, userspace %d packets", k1, userspace()-us0)
	if k1.Encapsulated-k0.Encapsulated < 20 || k1.Decapsulated-k0.Decapsulated < 20 || k1.Dropped != k0.Dropped {
		t.Errorf("kernel path on link A: before %+v, after %+v", k0, k1)
	}
	if n := userspace() - us0; n > 5 {
		t.Errorf("%d packets through the userspace forwarder on link A", n)
	}

	// Move to link B under a flow from the correspondent.
	flow := l.udpFlow()
	time.Sleep(200 * time.Millisecond)
	l.link("a0", false)
	l.link("b0", true)
	l.waitFor("registration on link B", 20*time.Second, registeredIn(d, labPfxB))
	time.Sleep(200 * time.Millisecond)
	gap, lost, got := flow()
	t.Logf("flow during A->B: %d datagrams received, %d lost, longest gap %v", got, lost, gap)
	if got == 0 || gap > 5*time.Second {
		t.Errorf("flow: longest gap %v, %d received", gap, got)
	}
	us1 := userspace()
	must(t, l.cn.Ping(labHoA, 5*time.Second))
	for i := range 20 {
		echo(fmt.Sprintf("on link B %d", i))
	}
	l.bulk(1 << 20)
	k2, _ := d.KernelPathStats()
	t.Logf("link B: kernel %+v, userspace %d packets", k2, userspace()-us1)
	if k2.Encapsulated-k1.Encapsulated < 20 || k2.Decapsulated-k1.Decapsulated < 20 {
		t.Errorf("kernel path on link B: before %+v, after %+v", k1, k2)
	}
	if n := userspace() - us1; n > 5 {
		t.Errorf("%d packets through the userspace forwarder on link B", n)
	}

	// Home: the tunnel default is replaced in place by the home link's,
	// the home prefix route into mip0 goes; no accelerated route stays.
	l.link("b0", false)
	l.link("home0", true)
	l.waitFor("return home", 20*time.Second, func() bool {
		s := d.Status()
		return s.AtHome && s.State == "at-home"
	})
	must(t, l.cn.Ping(labHoA, 5*time.Second))
	echo("at home")
	if out := l.kernelRoutes(); out != "" {
		t.Errorf("accelerated routes at home:\n%s", out)
	}
	main, err := l.mn.IP("-6", "route", "show", "default")
	must(t, err)
	if !strings.Contains(main, "dev home0") || strings.Contains(main, "mip0") {
		t.Errorf("default route at home:\n%s", main)
	}

	stop()
	l.checkClean()
	if out := l.kernelRoutes(); out != "" {
		t.Errorf("accelerated routes after shutdown:\n%s", out)
	}
	if _, ok := d.KernelPathStats(); ok {
		t.Error("kernel path still running after shutdown")
	}
	must(t, l.mn.Do(func() error {
		for _, ifn := range cfg.Interfaces {
			ifi, err := net.InterfaceByName(ifn)
			if err != nil {
				return err
			}
			r, err := link.QueryPrograms(link.QueryOptions{Target: ifi.Index, Attach: ebpf.AttachTCXIngress})
			if err != nil {
				return err
			}
			if len(r.Programs) != 0 {
				t.Errorf("%s: tcx programs left: %v", ifn, r.Programs)
			}
		}
		return nil
	}))
}

// startKernelPath starts the daemon with cfg on link A (home0 and b0
// down) and waits for its registration there.
//
// The lab's home agent is a userspace one, which reads the tunnel packets
// off a raw socket. A veth passes a locally sent TCP segment on with its
// checksum still to be done (CHECKSUM_PARTIAL, NETIF_F_HW_CSUM), and so
// does the router, so the home agent would see the inner TCP checksum
// unfinished (tcpdump there: "cksum incorrect"; the connection never
// opens); a physical NIC, or the software fallback before one that cannot
// offload it, finishes it before the wire. Without tx checksum offload on
// the access links the veths behave so.
func (l *rootLab) startKernelPath(cfg *conf.MN) (*Daemon, func()) {
	for _, ifn := range []string{"a0", "b0"} {
		_, err := l.mn.Run("ethtool", "-K", ifn, "tx", "off")
		must(l.t, err)
	}
	l.link("home0", false)
	l.link("b0", false)
	d, stop := l.startConf(cfg)
	l.waitFor("registration on link A", 20*time.Second, registeredIn(d, labPfxA))
	if _, ok := d.KernelPathStats(); !ok {
		// A kernel without tcx (6.6) or BPF: tunnel/ebpf's tests skip
		// there too. Any other reason is a failure.
		logs := l.logs.String()
		if strings.Contains(logs, "running without it") && (strings.Contains(logs, "not supported") || strings.Contains(logs, "operation not permitted")) {
			l.t.Skipf("no kernel path here:\n%s", l.logs.tail(10))
		}
		l.t.Fatalf("kernel path not running:\n%s", l.logs.tail(30))
	}
	return d, stop
}

// kernelRoutes returns the accelerated routes in mn, "" for none.
func (l *rootLab) kernelRoutes() string {
	out, err := l.mn.IP("-6", "route", "show", "table", "all", "proto", fmt.Sprint(tebpf.RouteProtocol))
	must(l.t, err)
	return strings.TrimSpace(out)
}

// bulk sends n octets over TCP from the correspondent to the home address
// and back, through the tunnel both ways (GSO packets in the kernel path).
func (l *rootLab) bulk(n int) {
	t := l.t
	t.Helper()
	var ln net.Listener
	must(t, l.mn.Do(func() (err error) {
		ln, err = net.Listen("tcp6", netip.AddrPortFrom(labHoA, 0).String())
		return err
	}))
	defer ln.Close()
	errc := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, 64<<10)
		for {
			k, err := c.Read(buf)
			if k > 0 {
				if _, werr := c.Write(buf[:k]); werr != nil {
					errc <- werr
					return
				}
			}
			if err != nil {
				errc <- nil
				return
			}
		}
	}()
	var c net.Conn
	must(t, l.cn.Do(func() (err error) {
		c, err = net.DialTimeout("tcp6", ln.Addr().String(), 5*time.Second)
		return err
	}))
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		got := 0
		for got < n {
			k, err := c.Read(buf)
			got += k
			if err != nil {
				done <- fmt.Errorf("after %d octets back: %w", got, err)
				return
			}
		}
		done <- nil
	}()
	data := make([]byte, n)
	if _, err := c.Write(data); err != nil {
		t.Fatalf("bulk: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("bulk: %v", err)
	}
	c.(*net.TCPConn).CloseWrite()
	if err := <-errc; err != nil {
		t.Fatalf("bulk echo: %v", err)
	}
}

// squeezeSpaces returns s with runs of spaces as one (ip pads some
// fields).
func squeezeSpaces(s string) string {
	lines := strings.Split(s, "\n")
	for i, ln := range lines {
		lines[i] = strings.Join(strings.Fields(ln), " ")
	}
	return strings.Join(lines, "\n")
}

// TestRootKernelPathDSMIP: with an IPv4 care-of address (RFC 5555) the
// kernel path takes 6in4 (no NAT) like IPv6 in IPv6, and leaves IPv6 in
// UDP (behind the NAT) to the userspace forwarder: its route program
// passes the packets on to mip0. Moves between the kinds keep a TCP
// connection, and nothing of the kernel path is left at the end.
func TestRootKernelPathDSMIP(t *testing.T) {
	for _, nat := range []bool{true, false} {
		t.Run(map[bool]string{true: "udp4", false: "6in4"}[nat], func(t *testing.T) {
			l := newDSMIPLab(t)
			if !nat {
				_, err := l.nat.Run("nft", "delete", "table", "ip", "dsmiplab")
				must(t, err)
				must(t, l.ha.Route("198.51.100.0/24", "via", "192.0.2.254"))
			}
			cfg := l.mnConf()
			cfg.Tunnel.KernelPath = true
			d, stop := l.startKernelPath(cfg)
			echo := l.tcpEcho()
			step := func(where string, kernel bool) {
				t.Helper()
				k0, ok := d.KernelPathStats()
				if !ok {
					t.Fatalf("%s: kernel path not running", where)
				}
				us := d.tun.Counters.Snapshot().Get(tunnel.Out, tunnel.ReasonOK).Packets
				must(t, l.cn.Ping(labHoA, 5*time.Second))
				for i := range 10 {
					echo(fmt.Sprintf("%s %d", where, i))
				}
				k1, _ := d.KernelPathStats()
				us = d.tun.Counters.Snapshot().Get(tunnel.Out, tunnel.ReasonOK).Packets - us
				t.Logf("%s: kernel %+v -> %+v, userspace out %d", where, k0, k1, us)
				enc, dec, passed := k1.Encapsulated-k0.Encapsulated, k1.Decapsulated-k0.Decapsulated, k1.Passed-k0.Passed
				if kernel && (enc < 10 || dec < 10 || us > 2) || !kernel && (enc != 0 || dec != 0 || passed < 10 || us < 10) {
					t.Errorf("%s: encapsulated %d, decapsulated %d, passed %d by the kernel; %d out by the forwarder", where, enc, dec, passed, us)
				}
			}
			step("on A", true)
			l.link("a0", false)
			l.linkB()
			l.waitFor("registration on IPv4 link B", 15*time.Second, onIPv4(d))
			if want := map[bool]string{true: "udp4", false: "ipv4"}[nat]; d.Status().Encapsulation != want {
				t.Fatalf("on B: encapsulation %q, want %q", d.Status().Encapsulation, want)
			}
			step("on B", !nat)
			l.link("b0", false)
			l.link("a0", true)
			l.waitFor("registration on link A again", 15*time.Second, registeredIn(d, labPfxA))
			step("on A again", true)
			stop()
			l.checkClean()
			if out := l.kernelRoutes(); out != "" {
				t.Errorf("accelerated routes after shutdown:\n%s", out)
			}
		})
	}
}
