//go:build linux

package ebpf

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/internal/netif"
	"github.com/gomip6/gomip6/internal/netlab"
	"github.com/gomip6/gomip6/tunnel"
)

// The lab: a line mobile node — home agent — correspondent, as in
// tunnel's lab tests, with forwarders whose ForwarderConfig.EBPF starts
// an Accelerator.
//
//	mn  m0 ──── h0  ha  h1 ──── c0  cn
//	2001:db8:1::2  ::1   2001:db8:2::1  ::2
//	192.0.2.2   192.0.2.1
//
// m0 also has 2001:db8:1::3 and 192.0.2.3, the spoofed outer sources.
type lab struct {
	mn, ha, cn   *netlab.NS
	haT, mnT     *tunnel.Tunnel
	haF, mnF     *tunnel.Forwarder
	haA, mnA     *Accelerator
	haTab, mnTab *tunnel.Table
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newLab(t *testing.T, kind tunnel.Kind) *lab {
	netlab.SkipUnlessRoot(t)
	l := &lab{}
	nl, err := netlab.New(t)
	must(t, err)
	l.mn, err = nl.NS("mn")
	must(t, err)
	l.ha, err = nl.NS("ha")
	must(t, err)
	l.cn, err = nl.NS("cn")
	must(t, err)
	must(t, nl.Link(l.mn, "m0", l.ha, "h0"))
	must(t, nl.Link(l.ha, "h1", l.cn, "c0"))
	for _, a := range []struct {
		ns     *netlab.NS
		ifname string
		cidr   string
	}{
		{l.mn, "m0", "2001:db8:1::2/64"}, {l.mn, "m0", "192.0.2.2/24"},
		{l.mn, "m0", "2001:db8:1::3/64"}, {l.mn, "m0", "192.0.2.3/24"},
		{l.ha, "h0", "2001:db8:1::1/64"}, {l.ha, "h0", "192.0.2.1/24"},
		{l.ha, "h1", "2001:db8:2::1/64"},
		{l.cn, "c0", "2001:db8:2::2/64"},
	} {
		must(t, a.ns.Addr(a.ifname, a.cidr))
	}
	must(t, l.ha.Forwarding(true, true))
	must(t, l.cn.Route("default", "via", "2001:db8:2::1"))

	haEP := tunnel.Endpoint{Kind: kind, Local: ha6, Remote: mn6}
	if kind != tunnel.KindIPv6 {
		haEP.Local, haEP.Remote = ha4, mn4
	}
	if kind == tunnel.KindUDP4 {
		haEP.LocalPort, haEP.RemotePort = tunnel.UDPPortDSMIP, tunnel.UDPPortDSMIP
	}
	mnEP := haEP
	mnEP.Local, mnEP.Remote = haEP.Remote, haEP.Local
	l.haTab, l.mnTab = tunnel.NewTable(1), tunnel.NewTable(1)
	must(t, l.haTab.Set(netip.PrefixFrom(hoa, 128), haEP))
	must(t, l.mnTab.Set(netip.PrefixFrom(hoa, 128), mnEP))
	haCfg := tunnel.Config{Role: tunnel.RoleHomeAgent, ErrorSource: netip.MustParseAddr("2001:db8:2::1")}
	mnCfg := tunnel.Config{Role: tunnel.RoleMobileNode, ErrorSource: hoa}
	l.haT, err = tunnel.New(haCfg, l.haTab)
	must(t, err)
	l.mnT, err = tunnel.New(mnCfg, l.mnTab)
	must(t, err)
	// The tun MTU is the tunnel MTU of the kind under test (the default
	// would be IPv6's with IPv6 enabled).
	fc := tunnel.ForwarderConfig{Name: "gmtun0", IPv6: true, IPv4: true, UDP: true, Queues: 1, MTU: tunnel.DefaultPathMTU - kind.Overhead(),
		OnError: func(err error) { t.Errorf("forwarder: %v", err) }}
	hfc, mfc := fc, fc
	hfc.EBPF = Start(Config{Tunnel: haCfg, Interfaces: []string{"h0"}}, func(a *Accelerator) error { l.haA = a; return nil })
	mfc.EBPF = Start(Config{Tunnel: mnCfg, Interfaces: []string{"m0"}}, func(a *Accelerator) error { l.mnA = a; return nil })
	must(t, l.ha.Do(func() (err error) { l.haF, err = tunnel.NewForwarder(l.haT, hfc); return err }))
	t.Cleanup(func() { l.haF.Close() })
	must(t, l.mn.Do(func() (err error) { l.mnF, err = tunnel.NewForwarder(l.mnT, mfc); return err }))
	t.Cleanup(func() { l.mnF.Close() })
	for _, f := range []*tunnel.Forwarder{l.haF, l.mnF} {
		if e := f.Stats().KernelPathError; e != "" {
			t.Fatalf("kernel path: %s", e)
		}
	}
	// The plain routes into the tun devices, as the daemons add them:
	// the fallback under the accelerated ones.
	must(t, l.mn.Addr("gmtun0", "2001:db8:3::100/128"))
	must(t, l.mn.Route("2001:db8:2::/64", "dev", "gmtun0", "src", hoa.String()))
	must(t, l.ha.Route("2001:db8:3::100/128", "dev", "gmtun0"))
	// A mobile node's accelerated routes are its own to add (a home
	// agent's come with the bindings), once the source hint is an
	// address of ours.
	must(t, l.mnA.Route(netip.MustParsePrefix("2001:db8:2::/64"), hoa, tunnel.DefaultPathMTU-kind.Overhead()))
	return l
}

// TestAcceleratorLab passes traffic both ways through the kernel path for
// IPv6 in IPv6 and 6in4 (the userspace forwarder carrying next to
// nothing), checks the spoofing drops, and that closing the forwarders
// leaves no route, program, map or attachment behind.
func TestAcceleratorLab(t *testing.T) {
	netlab.SkipUnlessRoot(t)
	for _, kind := range []tunnel.Kind{tunnel.KindIPv6, tunnel.Kind6in4} {
		t.Run(kind.String(), func(t *testing.T) {
			l := newLab(t, kind)
			must(t, l.cn.Ping(hoa, 5*time.Second))
			must(t, l.mn.Ping(cn, 5*time.Second))
			l.testTCP(t)
			l.testMTU(t, kind)
			l.testOuterHeader(t, kind)
			for name, a := range map[string]*Accelerator{"ha": l.haA, "mn": l.mnA} {
				c, err := a.Counters()
				must(t, err)
				// Both ends encapsulated and decapsulated: the data one
				// way, the ACKs the other (GSO packets count once).
				if c.ByReason[tunnel.Out][tunnel.ReasonOK] < 100 || c.ByReason[tunnel.In][tunnel.ReasonOK] < 100 {
					t.Errorf("%s: kernel path counters %+v", name, c)
				}
			}
			// The userspace path saw at most the first packets before
			// the routes were in place: none here, they were.
			for name, tn := range map[string]*tunnel.Tunnel{"ha": l.haT, "mn": l.mnT} {
				s := tn.Counters.Snapshot()
				if n := s.Get(tunnel.Out, tunnel.ReasonOK).Packets + s.Get(tunnel.In, tunnel.ReasonOK).Packets; n > 10 {
					t.Errorf("%s: %d packets through the userspace forwarder", name, n)
				}
			}
			l.testSpoof(t, kind)
			l.testClose(t)
		})
	}
}

// TestAcceleratorFallback: with the kernel path on, a binding it does not
// handle (IPv6 in UDP) still works through the forwarder: the mobile
// node's accelerated route hands its packets back (no binding in the map:
// BPF_OK, on to the tun device), the home agent has no accelerated route
// for it, and the ingress programs leave its packets alone.
func TestAcceleratorFallback(t *testing.T) {
	netlab.SkipUnlessRoot(t)
	l := newLab(t, tunnel.KindUDP4)
	must(t, l.cn.Ping(hoa, 5*time.Second))
	must(t, l.mn.Ping(cn, 5*time.Second))
	l.testTCP(t)
	mn, err := l.mnA.Counters()
	must(t, err)
	ha, err := l.haA.Counters()
	must(t, err)
	if mn.Passed[tunnel.Out] < 100 || mn.ByReason[tunnel.Out][tunnel.ReasonOK] != 0 || ha.ByReason[tunnel.In][tunnel.ReasonOK] != 0 {
		t.Errorf("kernel path counters: mobile node %+v, home agent %+v", mn, ha)
	}
	for name, tn := range map[string]*tunnel.Tunnel{"ha": l.haT, "mn": l.mnT} {
		s := tn.Counters.Snapshot()
		if s.Get(tunnel.Out, tunnel.ReasonOK).Packets < 100 || s.Get(tunnel.In, tunnel.ReasonOK).Packets < 100 {
			t.Errorf("%s: forwarder counters out %v in %v", name, s.Get(tunnel.Out, tunnel.ReasonOK), s.Get(tunnel.In, tunnel.ReasonOK))
		}
	}
}

// testTCP echoes 8 MiB from the correspondent off the home address.
func (l *lab) testTCP(t *testing.T) {
	const size = 8 << 20
	var ln net.Listener
	must(t, l.mn.Do(func() (err error) {
		ln, err = net.Listen("tcp6", netip.AddrPortFrom(hoa, 5001).String())
		return err
	}))
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	var c net.Conn
	must(t, l.cn.Do(func() (err error) {
		c, err = net.DialTimeout("tcp6", netip.AddrPortFrom(hoa, 5001).String(), 5*time.Second)
		return err
	}))
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	data := make([]byte, size)
	rand.Read(data)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		errc <- err
	}()
	got := make([]byte, size)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("echo: %v", err)
	}
	must(t, <-errc)
	if !bytes.Equal(got, data) {
		t.Fatal("echo: data differ")
	}
}

// testSpoof sends tunnel packets from the mobile node's namespace with a
// spoofed outer source (dropped by the home agent's program), a spoofed
// inner source (left to the forwarder, which drops it) and a link-local
// inner source (dropped by the program), and checks each counter.
func (l *lab) testSpoof(t *testing.T, kind tunnel.Kind) {
	network, good, bad, dst := "ip6:41", mn6, bad6, ha6
	if kind == tunnel.Kind6in4 {
		network, good, bad, dst = "ip4:41", mn4, bad4, ha4
	}
	send := func(src, innerSrc netip.Addr) {
		t.Helper()
		must(t, l.mn.Do(func() error {
			c, err := net.ListenPacket(network, src.String())
			if err != nil {
				return err
			}
			defer c.Close()
			in := pkt{innerSrc: innerSrc, innerDst: cn}.inner()
			_, err = c.WriteTo(in, &net.IPAddr{IP: dst.AsSlice()})
			return err
		}))
	}
	before, err := l.haA.Counters()
	must(t, err)
	userBefore := l.haT.Counters.Snapshot().Get(tunnel.In, tunnel.ReasonNoBinding).Packets
	send(bad, hoa)
	send(good, other)
	send(good, netip.MustParseAddr("fe80::1"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		after, err := l.haA.Counters()
		must(t, err)
		d := counterDiff(before, after)
		user := l.haT.Counters.Snapshot().Get(tunnel.In, tunnel.ReasonNoBinding).Packets - userBefore
		if d["in_outer_src"] == 1 && d["in_inner_src"] == 1 && d["in_passed"] == 1 && user == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("spoofed packets: kernel path counters %v, forwarder no_binding %d", d, user)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testClose closes both forwarders and checks that nothing of the
// accelerators is left: routes, programs, maps, tcx attachments.
func (l *lab) testClose(t *testing.T) {
	var ids []ebpf.ProgramID
	var maps []ebpf.MapID
	for _, a := range []*Accelerator{l.haA, l.mnA} {
		for _, p := range []*ebpf.Program{a.encap, a.decap} {
			info, err := p.Info()
			must(t, err)
			id, _ := info.ID()
			ids = append(ids, id)
		}
		for _, m := range []*ebpf.Map{a.table, a.counters} {
			info, err := m.Info()
			must(t, err)
			id, _ := info.ID()
			maps = append(maps, id)
		}
	}
	for _, ns := range []*netlab.NS{l.ha, l.mn} {
		out, err := ns.IP("-6", "route", "show", "proto", "0xb6")
		must(t, err)
		if strings.TrimSpace(out) == "" {
			t.Errorf("%s: no accelerated route before Close", ns.Short())
		}
	}
	must(t, l.haF.Close())
	must(t, l.mnF.Close())
	for _, ns := range []*netlab.NS{l.ha, l.mn} {
		out, err := ns.IP("-6", "route", "show", "proto", "0xb6")
		must(t, err)
		if strings.TrimSpace(out) != "" {
			t.Errorf("%s: routes left: %s", ns.Short(), out)
		}
	}
	for _, x := range []struct {
		ns     *netlab.NS
		ifname string
	}{{l.ha, "h0"}, {l.mn, "m0"}} {
		must(t, x.ns.Do(func() error {
			ifi, err := net.InterfaceByName(x.ifname)
			if err != nil {
				return err
			}
			r, err := link.QueryPrograms(link.QueryOptions{Target: ifi.Index, Attach: ebpf.AttachTCXIngress})
			if err != nil {
				return err
			}
			if len(r.Programs) != 0 {
				t.Errorf("%s: tcx programs left: %v", x.ifname, r.Programs)
			}
			return nil
		}))
	}
	// Programs and maps are freed once the last reference goes, after
	// an RCU grace period.
	deadline := time.Now().Add(5 * time.Second)
	gone := func(what string, open func() (io.Closer, error)) {
		for {
			c, err := open()
			if errors.Is(err, os.ErrNotExist) {
				return
			}
			if err == nil {
				c.Close()
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still there: %v", what, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, id := range ids {
		gone(fmt.Sprintf("program %d", id), func() (io.Closer, error) { return ebpf.NewProgramFromID(id) })
	}
	for _, id := range maps {
		gone(fmt.Sprintf("map %d", id), func() (io.Closer, error) { return ebpf.NewMapFromID(id) })
	}
}

// TestCleanup: routes a process left behind (it did not Close) are found
// by their protocol and device and removed, in every table; another
// Accelerator's routes, into another device of the same namespace, stay.
func TestCleanup(t *testing.T) {
	ns := dummyNS(t, "gmdummy", "gmdummy2")
	var ha, mn *Accelerator
	must(t, ns.Do(func() (err error) {
		if ha, err = New(Config{Tunnel: tunnel.Config{Role: tunnel.RoleHomeAgent}, Device: "gmdummy"}); err != nil {
			return err
		}
		mn, err = New(Config{Tunnel: tunnel.Config{Role: tunnel.RoleMobileNode}, Device: "gmdummy2"})
		return err
	}))
	defer ha.Close()
	defer mn.Close()
	must(t, ha.Update(bindingOf(t, netip.PrefixFrom(hoa, 128), tunnel.Endpoint{Kind: tunnel.KindIPv6, Local: ha6, Remote: mn6})))
	must(t, mn.AddRoute(RouteSpec{Dst: netip.MustParsePrefix("::/0"), Metric: 1, Table: 100}))
	must(t, mn.AddRoute(RouteSpec{Dst: netip.MustParsePrefix("2001:db8:3::/64")}))
	routes := func() string {
		t.Helper()
		out, err := ns.IP("-6", "route", "show", "table", "all", "proto", "0xb6")
		must(t, err)
		return squeeze(out)
	}
	out := routes()
	for _, want := range []string{"2001:db8:3::100 encap bpf", "dev gmdummy ", "default encap bpf", "dev gmdummy2 table 100", "metric 1 ", "2001:db8:3::/64 encap bpf"} {
		if !strings.Contains(out, want) {
			t.Fatalf("no %q in routes:\n%s", want, out)
		}
	}
	var n int
	must(t, ns.Do(func() (err error) { n, err = Cleanup("gmdummy", "gmnosuchdev"); return err }))
	out = routes()
	if n != 1 || strings.Contains(out, "dev gmdummy ") || strings.Count(out, "dev gmdummy2") != 2 {
		t.Errorf("Cleanup(gmdummy) removed %d, left:\n%s", n, out)
	}
	must(t, ns.Do(func() (err error) { n, err = Cleanup("gmdummy2"); return err }))
	if out := routes(); n != 2 || strings.TrimSpace(out) != "" {
		t.Errorf("Cleanup(gmdummy2) removed %d, left:\n%s", n, out)
	}
	must(t, ha.Close()) // its route is gone already: not an error
	must(t, mn.Close())
}

// squeeze returns ip's output with each line's fields one space apart
// (ip pads some) and without the trailing newline.
func squeeze(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

// dummyNS returns a namespace with veth devices devs (up, peers down) to
// hang routes on.
func dummyNS(t *testing.T, devs ...string) *netlab.NS {
	netlab.SkipUnlessRoot(t)
	nl, err := netlab.New(t)
	must(t, err)
	ns, err := nl.NS("x")
	must(t, err)
	for i, d := range devs {
		_, err = ns.IP("link", "add", d, "type", "veth", "peer", "name", fmt.Sprintf("gmpeer%d", i))
		must(t, err)
		_, err = ns.IP("link", "set", d, "up")
		must(t, err)
	}
	return ns
}

// TestRouteSpec: AddRoute puts the route in the table and at the metric
// asked for, replacing a plain route with the same key in place (as a
// mobile node's plan has it), and DeleteRoute removes its own route but
// not a plain one that replaced it under the same key.
func TestRouteSpec(t *testing.T) {
	ns := dummyNS(t, "gmdummy")
	var a *Accelerator
	must(t, ns.Do(func() (err error) {
		a, err = New(Config{Tunnel: tunnel.Config{Role: tunnel.RoleMobileNode}, Device: "gmdummy"})
		return err
	}))
	defer a.Close()
	_, err := ns.IP("-6", "addr", "add", hoa.String()+"/128", "dev", "gmdummy", "nodad")
	must(t, err)
	show := func() string {
		t.Helper()
		out, err := ns.IP("-6", "route", "show", "table", "100")
		must(t, err)
		return squeeze(out)
	}
	_, err = ns.IP("-6", "route", "add", "default", "dev", "gmdummy", "metric", "1", "table", "100", "proto", "109")
	must(t, err)
	def := RouteSpec{Dst: netip.MustParsePrefix("::/0"), Src: hoa, Metric: 1, Table: 100}
	must(t, a.AddRoute(def))
	// One route: the plain one was replaced, not joined.
	if out := show(); strings.Count(out, "\n") != 0 || !strings.Contains(out, "default encap bpf") || !strings.Contains(out, "proto 182 src "+hoa.String()+" metric 1 ") {
		t.Fatalf("after AddRoute: %q", out)
	}
	// Added with no MTU, the route follows the binding's tunnel MTU as
	// the path MTU to the home agent changes.
	for _, pmtu := range []int{1300, 1400} {
		must(t, a.Update(bindingOf(t, netip.PrefixFrom(hoa, 128), tunnel.Endpoint{Kind: tunnel.KindIPv6, Local: mn6, Remote: ha6, PathMTU: pmtu})))
		if out, want := show(), fmt.Sprintf("mtu lock %d", pmtu-tunnel.KindIPv6.Overhead()); !strings.Contains(out, want) || strings.Count(out, "\n") != 0 {
			t.Fatalf("path MTU %d: %q, want %q", pmtu, out, want)
		}
	}
	// A second key (another metric) is a second route.
	must(t, a.AddRoute(RouteSpec{Dst: def.Dst, Metric: 5, Table: 100}))
	if out := show(); strings.Count(out, "encap bpf") != 2 {
		t.Fatalf("two metrics: %q", out)
	}
	must(t, a.DeleteRoute(RouteSpec{Dst: def.Dst, Metric: 5, Table: 100}))
	// The caller takes the key back with a plain route: DeleteRoute and
	// Close leave it.
	_, err = ns.IP("-6", "route", "replace", "default", "dev", "gmdummy", "metric", "1", "table", "100", "proto", "109")
	must(t, err)
	must(t, a.DeleteRoute(def))
	must(t, a.AddRoute(RouteSpec{Dst: netip.MustParsePrefix("2001:db8:5::/64"), Metric: 1, Table: 100}))
	_, err = ns.IP("-6", "route", "replace", "2001:db8:5::/64", "dev", "gmdummy", "metric", "1", "table", "100", "proto", "109")
	must(t, err)
	must(t, a.Close())
	if out := show(); strings.Contains(out, "encap") || strings.Count(out, "proto 109") != 2 {
		t.Errorf("after DeleteRoute and Close: %q", out)
	}
}

// testMTU: a correspondent's packet of exactly the tunnel MTU reaches
// the home address through the accelerated route; one octet more gets a
// Packet Too Big from the home agent's kernel with the tunnel MTU (RFC
// 2473 §7.1: the tunnel is a link of that MTU), so the route's MTU and
// the encapsulation headroom are not counted twice.
func (l *lab) testMTU(t *testing.T, kind tunnel.Kind) {
	mtu := tunnel.DefaultPathMTU - kind.Overhead()
	var rc, uc net.PacketConn
	var ic *icmp.PacketConn
	must(t, l.mn.Do(func() (err error) {
		rc, err = net.ListenPacket("udp6", netip.AddrPortFrom(hoa, 9).String())
		return err
	}))
	defer rc.Close()
	must(t, l.cn.Do(func() (err error) {
		if ic, err = icmp.ListenPacket("ip6:ipv6-icmp", cn.String()); err != nil {
			return err
		}
		uc, err = net.ListenPacket("udp6", netip.AddrPortFrom(cn, 0).String())
		return err
	}))
	defer ic.Close()
	defer uc.Close()
	to := &net.UDPAddr{IP: hoa.AsSlice(), Port: 9}
	_, err := uc.WriteTo(make([]byte, mtu-48), to) // IPv6 and UDP headers: 48
	must(t, err)
	buf := make([]byte, 2000)
	rc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := rc.ReadFrom(buf); err != nil || n != mtu-48 {
		t.Fatalf("packet of the tunnel MTU: %d octets, %v", n, err)
	}
	_, err = uc.WriteTo(make([]byte, mtu-47), to)
	must(t, err)
	waitPTB(t, ic, mtu)

	// A binding whose path MTU went down: the forwarder's follower
	// updates the route (Table.Changes), and the kernel's Packet Too Big
	// says the new tunnel MTU.
	const pmtu = 1400
	e, _ := l.haA.binding(netip.PrefixFrom(hoa, 128))
	e.PathMTU = pmtu
	must(t, l.haTab.Set(netip.PrefixFrom(hoa, 128), e))
	lowered := pmtu - kind.Overhead()
	waitRouteMTU(t, l.ha, lowered)
	_, err = uc.WriteTo(make([]byte, lowered-47), to)
	must(t, err)
	waitPTB(t, ic, lowered)

	// The path MTU lowered as a Packet Too Big lowers it (no Set):
	// Table.LowerPathMTU signals Changes too, and the route follows.
	const ptbMTU = 1350
	if !l.haTab.LowerPathMTU(l.haTab.Lookup(hoa), ptbMTU) {
		t.Fatal("LowerPathMTU did not lower")
	}
	waitRouteMTU(t, l.ha, ptbMTU-kind.Overhead())
}

// waitRouteMTU waits for the accelerated route to have tunnel MTU mtu.
func waitRouteMTU(t *testing.T, ns *netlab.NS, mtu int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := ns.IP("-6", "route", "show", "proto", "0xb6")
		must(t, err)
		if strings.Contains(out, fmt.Sprintf("mtu lock %d", mtu)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("route not updated to MTU %d: %s", mtu, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitPTB(t *testing.T, ic *icmp.PacketConn, want int) {
	t.Helper()
	buf := make([]byte, 2000)
	ic.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, _, err := ic.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no Packet Too Big: %v", err)
		}
		m, err := icmp.ParseMessage(58, buf[:n])
		if err != nil || m.Type != ipv6.ICMPTypePacketTooBig {
			continue
		}
		if got := m.Body.(*icmp.PacketTooBig).MTU; got != want {
			t.Errorf("Packet Too Big with MTU %d, want %d", got, want)
		}
		return
	}
}

// testOuterHeader sends a UDP packet with traffic class 0xb9 (DSCP 46,
// ECT(1)) from the home address, captures its tunnel packet on the home
// agent's interface (ETH_P_ALL taps see it before the decapsulation
// program) and compares the outer header with the one Tunnel.Encap
// writes for the same inner packet: the kernel path and the userspace
// path must put the same header on the wire, but for the IPv4
// identification (Tunnel.Encap counts; the program writes 0 with DF set,
// RFC 6864 §4.1) and hence the checksum, which must still be valid.
func (l *lab) testOuterHeader(t *testing.T, kind tunnel.Kind) {
	var fd int
	must(t, l.ha.Do(func() error {
		ifi, err := net.InterfaceByName("h0")
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM, int(netif.Htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: netif.Htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	}))
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	must(t, unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv))

	var c net.PacketConn
	must(t, l.mn.Do(func() (err error) {
		c, err = net.ListenPacket("udp6", netip.AddrPortFrom(hoa, 0).String())
		return err
	}))
	defer c.Close()
	must(t, ipv6.NewPacketConn(c).SetTrafficClass(0xb9))
	const port = 7777
	hdr := ip6HdrLen
	if kind == tunnel.Kind6in4 {
		hdr = ip4HdrLen
	}
	buf := make([]byte, 2048)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		_, err := c.WriteTo([]byte("outer header"), &net.UDPAddr{IP: cn.AsSlice(), Port: port})
		must(t, err)
		for {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				break // timed out: send again
			}
			p := buf[:n]
			proto := p[6]
			if kind == tunnel.Kind6in4 {
				proto = p[9]
			}
			if n < hdr+48 || proto != 41 || p[hdr+6] != 17 || binary.BigEndian.Uint16(p[hdr+42:]) != port {
				continue
			}
			l.checkOuter(t, kind, p, hdr)
			return
		}
	}
	t.Fatal("no tunnel packet captured")
}

func (l *lab) checkOuter(t *testing.T, kind tunnel.Kind, p []byte, hdr int) {
	t.Helper()
	inner := p[hdr:]
	if tc := inner[0]<<4 | inner[1]>>4; tc != 0xb9 {
		t.Fatalf("inner traffic class %#x, want 0xb9", tc)
	}
	// The userspace path's encapsulation of the same inner packet.
	tn, err := tunnel.New(tunnel.Config{Role: tunnel.RoleMobileNode}, l.mnTab)
	must(t, err)
	ubuf := make([]byte, tunnel.Headroom+len(inner))
	copy(ubuf[tunnel.Headroom:], inner)
	want, v := tn.Encap(ubuf, tunnel.Headroom, l.mnTab.Lookup(hoa))
	if v.Action != tunnel.ActionSend {
		t.Fatalf("Tunnel.Encap: %v", v)
	}
	got := p
	if kind == tunnel.Kind6in4 {
		if sum := ipv4Checksum(got[:hdr]); sum != 0 {
			t.Errorf("outer IPv4 checksum does not verify: %#x", sum)
		}
		if id := binary.BigEndian.Uint16(got[4:]); id != 0 {
			t.Errorf("identification %d, want 0", id)
		}
		// Compare without identification and checksum.
		got = append([]byte(nil), got...)
		want = append([]byte(nil), want...)
		for _, i := range []int{4, 5, 10, 11} {
			got[i], want[i] = 0, 0
		}
	}
	if d := cmp.Diff(want[:hdr], got[:hdr]); d != "" {
		t.Errorf("outer header, kernel path (+) vs Tunnel.Encap (-):\n%s", d)
	}
}

// ipv4Checksum is RFC 1071's sum over h: 0 for a header whose checksum
// field is right.
func ipv4Checksum(h []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		s += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
