//go:build linux

// Command benchfwd runs one tunnel.Forwarder with a single static binding,
// for scripts/bench-tunnel.sh. It is not a daemon: it runs in the network
// namespace it is started in until SIGINT or SIGTERM, then prints the
// tunnel and I/O counters as JSON on standard output and exits.
//
//	benchfwd -role ha -kind ipv6 -hoa 2001:db8:3::100 \
//	    -local 2001:db8:1::1 -remote 2001:db8:1::2 -name gmtun0
//
// Once the tun device is up it prints "ready <name>" on standard output,
// so a script can wait for it before adding routes.
//
// With -ebpf (IPv6 in IPv6 and 6in4) the forwarder starts tunnel/ebpf's
// kernel path (ForwarderConfig.EBPF): the home agent's accelerated route
// comes with the binding, a mobile node's is -ebpf-route; the counters
// then include the kernel path's (Stats.Kernel, and EBPF by reason).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/vishvananda/netlink"

	"github.com/gomip6/gomip6/tunnel"
	"github.com/gomip6/gomip6/tunnel/ebpf"
)

func main() {
	var (
		role    = flag.String("role", "ha", "ha or mn")
		kind    = flag.String("kind", "ipv6", "ipv6, 6in4 or udp4")
		hoa     = flag.String("hoa", "", "home address (the binding's key)")
		local   = flag.String("local", "", "our tunnel end point")
		remote  = flag.String("remote", "", "the far tunnel end point")
		lport   = flag.Uint("lport", 4191, "udp4: our port")
		rport   = flag.Uint("rport", 4191, "udp4: the far port")
		name    = flag.String("name", "gmtun0", "tun device name")
		queues  = flag.Int("queues", 1, "tun queues")
		mtu     = flag.Int("mtu", 0, "tun MTU (0: 1500 minus the overhead)")
		pathMTU = flag.Int("pmtu", 0, "binding path MTU (0: 1500)")
		batch   = flag.Int("batch", 0, "batch size (0: default)")
		hdrIncl = flag.Bool("hdrincl", false, "ipv6, 6in4: write the outer header ourselves (IP_HDRINCL)")
		errSrc  = flag.String("error-source", "", "source of ICMPv6 errors (empty: none sent)")
		pktRX   = flag.Bool("packetrx", false, "ipv6, 6in4: receive large packets on packet sockets (ForwarderConfig.PacketReceive)")
		pktTX   = flag.Bool("packettx", false, "ipv6, 6in4: send on a packet socket (ForwarderConfig.PacketSend)")
		bpfIf   = flag.String("ebpf", "", "ipv6, 6in4: accelerate with tunnel/ebpf, decapsulating on this interface (\"auto\": the one -remote is reached through)")
		bpfRt   = flag.String("ebpf-route", "", "with -ebpf on a mobile node (ignored on a home agent): the prefix routed through the accelerated tunnel (source -hoa)")
	)
	flag.Parse()
	if err := run(*role, *kind, *hoa, *local, *remote, uint16(*lport), uint16(*rport), *name, *queues, *mtu, *pathMTU, *batch, *hdrIncl, *pktRX, *pktTX, *errSrc, *bpfIf, *bpfRt); err != nil {
		fmt.Fprintln(os.Stderr, "benchfwd:", err)
		os.Exit(1)
	}
}

func run(role, kind, hoa, local, remote string, lport, rport uint16, name string, queues, mtu, pmtu, batch int, hdrIncl, pktRX, pktTX bool, errSrc, bpfIf, bpfRt string) error {
	cfg := tunnel.Config{}
	switch role {
	case "ha":
		cfg.Role = tunnel.RoleHomeAgent
	case "mn":
		cfg.Role = tunnel.RoleMobileNode
	default:
		return fmt.Errorf("role %q", role)
	}
	if errSrc != "" {
		a, err := netip.ParseAddr(errSrc)
		if err != nil {
			return err
		}
		cfg.ErrorSource = a
	}
	ep := tunnel.Endpoint{PathMTU: pmtu}
	fc := tunnel.ForwarderConfig{Name: name, Queues: queues, MTU: mtu, BatchSize: batch, HeaderIncluded: hdrIncl, PacketReceive: pktRX, PacketSend: pktTX}
	switch kind {
	case "ipv6":
		ep.Kind, fc.IPv6 = tunnel.KindIPv6, true
	case "6in4":
		ep.Kind, fc.IPv4 = tunnel.Kind6in4, true
	case "udp4":
		ep.Kind, fc.UDP, fc.UDPPort = tunnel.KindUDP4, true, lport
		ep.LocalPort, ep.RemotePort = lport, rport
	default:
		return fmt.Errorf("kind %q", kind)
	}
	var err error
	if ep.Local, err = netip.ParseAddr(local); err != nil {
		return err
	}
	if ep.Remote, err = netip.ParseAddr(remote); err != nil {
		return err
	}
	h, err := netip.ParseAddr(hoa)
	if err != nil {
		return err
	}
	table := tunnel.NewTable(1)
	if err := table.Set(netip.PrefixFrom(h, 128), ep); err != nil {
		return err
	}
	t, err := tunnel.New(cfg, table)
	if err != nil {
		return err
	}
	errs := make(chan error, 1)
	fc.OnError = func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	var acc *ebpf.Accelerator
	if bpfIf != "" {
		if bpfIf == "auto" {
			// The interface the far end point is reached through.
			rs, err := netlink.RouteGet(ep.Remote.Unmap().AsSlice())
			if err != nil || len(rs) == 0 {
				return fmt.Errorf("-ebpf auto: no route to %v: %v", ep.Remote, err)
			}
			l, err := netlink.LinkByIndex(rs[0].LinkIndex)
			if err != nil {
				return err
			}
			bpfIf = l.Attrs().Name
		}
		fc.EBPF = ebpf.Start(ebpf.Config{Tunnel: cfg, Interfaces: []string{bpfIf}}, func(a *ebpf.Accelerator) error {
			acc = a
			if bpfRt == "" || cfg.Role != tunnel.RoleMobileNode {
				return nil
			}
			dst, err := netip.ParsePrefix(bpfRt)
			if err != nil {
				return err
			}
			return a.Route(dst, h, tunnel.DefaultPathMTU-ep.Kind.Overhead())
		})
	}
	f, err := tunnel.NewForwarder(t, fc)
	if err != nil {
		return err
	}
	if st := f.Stats(); st.KernelPathError != "" {
		f.Close()
		return fmt.Errorf("-ebpf: %s", st.KernelPathError)
	}
	fmt.Printf("ready %s\n", f.Name())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	var runErr error
	select {
	case <-sig:
	case runErr = <-errs:
	}
	// The kernel path's counters go with it on Close: read them first.
	var bpfCtr *ebpf.Counters
	kernel := f.Stats().Kernel
	if acc != nil {
		if c, err := acc.Counters(); err == nil {
			bpfCtr = &c
		}
	}
	closeErr := f.Close()
	out := struct {
		Stats    tunnel.Stats
		Counters map[string]uint64
		EBPF     *ebpf.Counters `json:",omitempty"`
	}{Stats: f.Stats(), Counters: map[string]uint64{}, EBPF: bpfCtr}
	out.Stats.Kernel = kernel
	s := t.Counters.Snapshot()
	for d := tunnel.Direction(0); d < tunnel.NumDirections; d++ {
		for r := tunnel.Reason(0); r < tunnel.NumReasons; r++ {
			if c := s.Get(d, r); c.Packets > 0 {
				out.Counters[d.String()+"_"+r.String()] = c.Packets
			}
		}
	}
	out.Counters["ptb_sent"] = s.PTBSent.Packets
	enc := json.NewEncoder(os.Stdout)
	enc.Encode(out)
	if runErr != nil {
		return runErr
	}
	return closeErr
}
