package mnd

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/internal/control"
	"github.com/gomip6/gomip6/internal/netif"
	"github.com/gomip6/gomip6/internal/rawsock"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/ra"
	"github.com/gomip6/gomip6/tunnel"
)

// apply moves the kernel from the installed plan to p in the gap-free
// order of Diff.
func (r *engine) apply(p Plan) {
	c := Diff(r.plan, p, r.relink)
	clear(r.relink)
	var pending map[RouteKey]bool
	for _, rt := range c.Replace {
		err := r.replaceRoute(rt) // kernelpath_linux.go
		switch {
		case err == nil:
		case errors.Is(err, unix.ENETUNREACH):
			// The gateway is not on-link (any more): the link went
			// down, or lost its address, between the event this plan
			// answers and now (a flap). Not an error of ours: the
			// route stays out of the installed plan, so the apply that
			// follows the link's return installs it.
			if pending == nil {
				pending = make(map[RouteKey]bool)
			}
			pending[rt.Key()] = true
			r.log.Info("route not installed: its link went away meanwhile", zap.Stringer("route", rt), zap.Error(err))
		default:
			r.routeErr("route "+rt.String(), err)
		}
	}
	if pending != nil {
		kept := make([]Route, 0, len(p.Routes))
		for _, rt := range p.Routes {
			if !pending[rt.Key()] {
				kept = append(kept, rt)
			}
		}
		p.Routes = kept
	}
	for _, ru := range c.AddRules {
		if err := r.h.RuleAdd(nlRule(ru)); err != nil && !errors.Is(err, unix.EEXIST) {
			r.routeErr("rule "+ru.String(), err)
		}
	}
	for _, ru := range c.DeleteRules {
		if err := r.h.RuleDel(nlRule(ru)); err != nil && !gone(err) {
			r.routeErr("deleting rule "+ru.String(), err)
		}
	}
	for _, rt := range c.Delete {
		if err := r.deleteRoute(rt); err != nil {
			r.routeErr("deleting route "+rt.String(), err)
		}
	}
	r.plan = p
	if !c.Empty() {
		r.log.Debug("routes changed", zapPlan(p))
	}
}

// gone reports an error that means "already not there".
func gone(err error) bool {
	return errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENODEV)
}

func (r *engine) nlRoute(rt Route) (*netlink.Route, error) {
	l, err := r.h.LinkByName(rt.Dev)
	if err != nil {
		return nil, err
	}
	family := netlink.FAMILY_V6
	if rt.Dst.Addr().Is4() {
		// The IPv4 host route to the home agent (RFC 5555).
		family = netlink.FAMILY_V4
	}
	nr := &netlink.Route{
		Family:    family,
		LinkIndex: l.Attrs().Index,
		Dst:       prefixNet(rt.Dst),
		Priority:  rt.Metric,
		Table:     rt.Table,
		Protocol:  RouteProtocol,
	}
	if rt.Gateway.IsValid() {
		nr.Gw = rt.Gateway.AsSlice()
	}
	if rt.Src.IsValid() {
		nr.Src = rt.Src.AsSlice()
	}
	return nr, nil
}

func nlRule(ru Rule) *netlink.Rule {
	nr := netlink.NewRule()
	nr.Family = netlink.FAMILY_V6
	nr.Src = prefixNet(ru.Src)
	nr.Table = ru.Table
	nr.Priority = ru.Priority
	nr.Protocol = RouteProtocol
	return nr
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// addrAdd adds a to dev without DAD: the home address is ours by
// configuration, and on the home link the home agent defended it for us
// until now (RFC 6275 §10.4.1).
func (r *engine) addrAdd(dev string, a netip.Prefix) error {
	l, err := r.h.LinkByName(dev)
	if err != nil {
		return err
	}
	return r.h.AddrAdd(l, &netlink.Addr{IPNet: prefixNet(a), Flags: unix.IFA_F_NODAD})
}

func (r *engine) addrDel(dev string, a netip.Prefix) error {
	l, err := r.h.LinkByName(dev)
	if err != nil {
		if gone(err) || strings.Contains(err.Error(), "not found") {
			return nil
		}
		return err
	}
	if err := r.h.AddrDel(l, &netlink.Addr{IPNet: prefixNet(a)}); err != nil && !gone(err) {
		return err
	}
	return nil
}

// writeSysctlPath writes a sysctl. /proc/sys/net belongs to the network
// namespace of the thread that opens it, which for the daemon is its own.
func writeSysctlPath(path, value string) error {
	return os.WriteFile(path, []byte(value+"\n"), 0o644)
}

func readSysctl(iface, key string) (string, error) { return readSysctlPath(sysctlPath(iface, key)) }

// icmpConn is the raw ICMPv6 socket of the daemon: Router Advertisements
// and Parameter Problems in, Router Solicitations and the home address's
// Neighbor Advertisement out.
type icmpConn struct {
	c *icmp.PacketConn
	p *ipv6.PacketConn
}

func listenICMP() (*icmpConn, error) {
	c, err := icmp.ListenPacket("ip6:ipv6-icmp", "::")
	if err != nil {
		return nil, err
	}
	p := c.IPv6PacketConn()
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterAdvertisement)
	f.Accept(ipv6.ICMPTypeParameterProblem)
	f.Accept(ipv6.ICMPType(mip6.ICMPHomeAgentDiscoveryReply))
	err = errors.Join(
		p.SetICMPFilter(&f),
		p.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true),
		// RFC 4861 §4.1, §4.4: Router Solicitations and Neighbor
		// Advertisements go with hop limit 255, so receivers know they
		// were not forwarded.
		p.SetMulticastHopLimit(255),
		p.SetHopLimit(255),
	)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &icmpConn{c: c, p: p}, nil
}

func (c *icmpConn) Close() error { return c.c.Close() }

// readLoop reads until the socket is closed: validated RAs go to raCh,
// Parameter Problems (copied, from their type octet) to ppCh.
func (c *icmpConn) readLoop(done <-chan struct{}, raCh chan<- raMsg, ppCh chan<- []byte, dhaadCh chan<- dhaadReply, invalid func()) {
	buf := make([]byte, 65536)
	for {
		n, cm, from, err := c.p.ReadFrom(buf)
		if err != nil {
			if netif.ReadStop(err, done) {
				return
			}
			continue
		}
		if n < 1 || cm == nil {
			continue
		}
		ia, ok := from.(*net.IPAddr)
		if !ok {
			continue
		}
		src, _ := netip.AddrFromSlice(ia.IP)
		dst, _ := netip.AddrFromSlice(cm.Dst)
		switch buf[0] {
		case byte(ipv6.ICMPTypeRouterAdvertisement):
			adv, err := ra.ValidateRA(buf[:n], src.Unmap(), dst.Unmap(), cm.HopLimit)
			if err != nil {
				invalid()
				continue
			}
			select {
			case raCh <- raMsg{ifindex: cm.IfIndex, src: src.Unmap(), ra: adv}:
			case <-done:
				return
			}
		case mip6.ICMPHomeAgentDiscoveryReply:
			m, err := mip6.ParseICMP(buf[:n])
			rep, ok := m.(*mip6.HomeAgentDiscoveryReply)
			if err != nil || !ok {
				continue
			}
			select {
			case dhaadCh <- dhaadReply{src: src.Unmap(), reply: rep}:
			case <-done:
				return
			}
		case byte(ipv6.ICMPTypeParameterProblem):
			select {
			case ppCh <- slices.Clone(buf[:n]):
			case <-done:
				return
			}
		}
	}
}

var (
	allRouters = netip.MustParseAddr("ff02::2")
	allNodes   = netip.MustParseAddr("ff02::1")
)

// sendRS sends a Router Solicitation (RFC 4861 §4.1) on ifindex. Without
// a Source Link-layer Address option: the router then multicasts its
// answer, or resolves us, either of which works for an optimistic address
// (RFC 4429 §3.2 forbids the option from an optimistic source).
func (c *icmpConn) sendRS(ifindex int) error {
	msg := []byte{byte(ipv6.ICMPTypeRouterSolicitation), 0, 0, 0, 0, 0, 0, 0}
	_, err := c.p.WriteTo(msg, &ipv6.ControlMessage{IfIndex: ifindex, HopLimit: 255},
		&net.IPAddr{IP: allRouters.AsSlice()})
	return err
}

// sendNA sends the unsolicited Neighbor Advertisement for the home address
// of RFC 6275 §11.5.5 (RFC 4861 §7.2.6): to all nodes, Override set,
// Solicited and Router clear, with our link-layer address, so that the home
// agent and every neighbour drop the home agent's link-layer address they
// learned while it defended the home address for us.
func (c *icmpConn) sendNA(ifindex int, hoa netip.Addr, hw net.HardwareAddr) error {
	msg := make([]byte, 24, 32)
	msg[0] = byte(ipv6.ICMPTypeNeighborAdvertisement)
	msg[4] = 0x20 // O flag
	t := hoa.As16()
	copy(msg[8:], t[:])
	if len(hw) == 6 {
		msg = append(msg, 2, 1) // Target Link-layer Address, 8 octets
		msg = append(msg, hw...)
	}
	_, err := c.p.WriteTo(msg, &ipv6.ControlMessage{IfIndex: ifindex, HopLimit: 255, Src: hoa.AsSlice()},
		&net.IPAddr{IP: allNodes.AsSlice()})
	return err
}

// readMH reads Mobility Headers from l until it is closed and hands them
// to ch.
func readMH(l *rawsock.Listener, name string, done <-chan struct{}, ch chan<- mhMsg) {
	ms := make([]rawsock.Message, 8)
	for i := range ms {
		ms[i].Buf = make([]byte, 2048)
	}
	for {
		n, err := l.ReadBatch(ms)
		if err != nil {
			if netif.ReadStop(err, done) {
				return
			}
			continue
		}
		for _, m := range ms[:n] {
			p, ok := parseMH(m.Buf[:m.N])
			if !ok || m.Truncated {
				continue
			}
			select {
			case ch <- mhMsg{iface: name, pkt: p}:
			case <-done:
				return
			}
		}
	}
}

// handler serves the control API.
func (d *Daemon) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) {
		control.WriteJSON(w, http.StatusOK, d.Status())
	})
	mux.HandleFunc("GET /v1/metrics", func(w http.ResponseWriter, _ *http.Request) {
		d.mu.Lock()
		tn := d.tun
		d.mu.Unlock()
		var snap *tunnel.Snapshot
		if tn != nil {
			s := tn.Counters.Snapshot()
			snap = &s
		}
		w.Header().Set("Content-Type", control.MetricsContentType)
		_ = writeMetrics(w, d.Status(), d.Counters(), snap, d.kernelPathMetrics())
	})
	return mux
}

// Cleanup removes what a crashed mnd run with cfg left behind (-cleanup),
// by name and by mark, and says what it did on w: the tunnel device (with
// the home address and routes on it), every route and rule marked with
// RouteProtocol (the IPv6 or IPv4 route to the home agent, the care-of
// table's default,
// the default routes with the home address as source, the care-of rule),
// the care-of table's rules, the home address on the access
// interfaces, and the sysctls it changed on them, from the journal next
// to the control socket (sysctl.go). It works in the calling thread's
// network namespace.
func Cleanup(cfg *conf.MN, w io.Writer) error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("mnd: netlink: %w", err)
	}
	defer h.Close()
	var errs []error
	n := 0
	if l, err := h.LinkByName(cfg.TunnelInterface); err == nil {
		if err := h.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", cfg.TunnelInterface, err))
		} else {
			fmt.Fprintf(w, "mnd: removed tunnel device %s\n", cfg.TunnelInterface)
			n++
		}
	}
	rules, err := h.RuleList(netlink.FAMILY_V6)
	if err != nil {
		errs = append(errs, err)
	}
	for _, ru := range rules {
		if ru.Protocol != RouteProtocol && ru.Table != DefaultTable {
			continue
		}
		if err := h.RuleDel(&ru); err != nil && !gone(err) {
			errs = append(errs, fmt.Errorf("removing rule to table %d: %w", ru.Table, err))
			continue
		}
		fmt.Fprintf(w, "mnd: removed rule from %v lookup %d\n", ru.Src, ru.Table)
		n++
	}
	routes, err := h.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{Protocol: RouteProtocol},
		netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		errs = append(errs, err)
	}
	// The IPv4 host route to the home agent (RFC 5555), same mark.
	routes4, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: RouteProtocol},
		netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		errs = append(errs, err)
	}
	routes = append(routes, routes4...)
	for _, rt := range routes {
		if err := h.RouteDel(&rt); err != nil && !gone(err) {
			errs = append(errs, fmt.Errorf("removing route %v: %w", rt.Dst, err))
			continue
		}
		fmt.Fprintf(w, "mnd: removed route %v table %d\n", rt.Dst, rt.Table)
		n++
	}
	// Route optimization's table (ro_linux.go); its absence is no error.
	if netif.DeleteNFTable("ip6", RONFTable) == nil {
		fmt.Fprintf(w, "mnd: removed the nftables table ip6 %s\n", RONFTable)
		n++
	}
	// The sysctls the crashed run changed on the access interfaces
	// (sysctl.go).
	restored, err := cleanupSysctls(cfg, w)
	n += restored
	if err != nil {
		errs = append(errs, err)
	}
	for _, name := range cfg.Interfaces {
		l, err := h.LinkByName(name)
		if err != nil {
			continue
		}
		addrs, _ := h.AddrList(l, netlink.FAMILY_V6)
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == cfg.HomeAddress {
				if err := h.AddrDel(l, &a); err != nil && !gone(err) {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(w, "mnd: removed home address %s from %s\n", cfg.HomeAddress, name)
				n++
			}
		}
	}
	if n == 0 && len(errs) == 0 {
		fmt.Fprintln(w, "mnd: nothing to clean up")
	}
	if len(errs) > 0 {
		return fmt.Errorf("mnd: cleanup: %w", errors.Join(errs...))
	}
	return nil
}
