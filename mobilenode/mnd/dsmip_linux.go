package mnd

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/internal/daemon"
	"github.com/gomip6/gomip6/mobilenode"
	"github.com/gomip6/gomip6/tunnel"
)

// Dual-Stack Mobile IPv6 (RFC 5555) in the daemon, enabled by
// home_agent_ipv4 in mnd.toml.
//
// IPv4 care-of addresses. The loop also follows the IPv4 addresses and
// the IPv4 default routes (main table) of the access interfaces, from
// netlink, and after every event combines them with the IPv6 movement
// decision (chooseCareOf: home, then IPv6, then IPv4 by interface
// preference). An interface with an IPv4 address and an IPv4 default
// route, up and not held down by flap damping, gives an IPv4 care-of
// address; it is handed to the registration like an IPv6 one.
//
// Signalling. The registration core builds the Binding Update for an IPv4
// care-of address (IPv4 Care-of Address option, no Home Address option,
// inner source the home address, §4.2); it goes in UDP from port 4191 to
// home_agent_ipv4 port 4191 through the tunnel forwarder's own UDP socket
// (tunnel.Forwarder.SendUDP4), so that a NAT maps it exactly as it maps the
// tunnel's packets. The home agent answers the same way; the forwarder
// takes Mobility Headers to the home address off its UDP and protocol-41
// sockets (ForwarderConfig.Signal) and hands them to the loop through the
// same bounded channel as the AF_PACKET listeners, never blocking.
//
// Tunnel. When the Binding Acknowledgement accepts the IPv4 care-of
// address, the tunnel binding becomes IPv6 in UDP (tunnel.KindUDP4,
// CoA:4191 -> HA4:4191) if it carried a NAT Detection option (a NAT, or
// force_udp), else IPv6 in IPv4 (tunnel.Kind6in4) (§4.1). A move between
// IPv6, 6in4 and UDP replaces the one tunnel.Table entry of the home
// address atomically; the home address stays on mip0 throughout.
//
// NAT keepalives (§4.3, NATKATIMEOUT 110 s unless the home agent's NAT
// Detection option gives another refresh time): the registration core
// schedules its refresh no later than one keepalive interval after the
// last Binding Update, and only while the home agent saw a NAT (its option
// says all ones otherwise). A Binding Update through the mapping keeps
// it, and its acknowledgement proves it end to end; after a NAT rebinding
// (a flushed mapping) the next one creates a new mapping, which the home
// agent follows, so the daemon needs nothing more: it arms the core's
// timer like any other.
//
// Routes. PlanAway for an IPv4 care-of address: the IPv6 default and the
// home prefix into mip0 as on an IPv6 foreign link, and an IPv4 host route
// to home_agent_ipv4 via the IPv4 default route's next hop. The
// forwarder's sockets send with the care-of address as source
// (IP_PKTINFO), so its packets leave from it.
//
// IPv4 home address (§3.1.1), only when ipv4_home_address is in mnd.toml:
// a laptop user who did not ask for it keeps the visited network's IPv4
// as it is. Granted, and while the care-of address is IPv4 and the tunnel
// IPv6 in UDP (the only kind that carries IPv4 packets, tunnel.Table
// SetIPv4), it is a /32 on mip0, bound in the tunnel table, and the source
// of 0.0.0.0/1 and 128.0.0.0/1 into mip0: the host's IPv4 traffic goes
// home. On an IPv6 care-of address or at home it is withdrawn (the
// tunnel cannot carry IPv4 there) and the host's IPv4 is the visited
// network's again.
//
// Limits: home agent discovery (DHAAD) needs IPv6, so with home_agent
// omitted an IPv4 care-of address is used only once a home agent was
// found over IPv6.

// dsmipState is the daemon's Dual-Stack MIPv6 state; everything here
// belongs to the loop goroutine.
type dsmipState struct {
	enabled bool
	// routeCh carries IPv4 route events; nil when disabled, so its case
	// in the loop never fires. routeSub is the subscription's channel,
	// drained at teardown.
	routeCh  chan netlink.RouteUpdate
	routeSub chan netlink.RouteUpdate
	// v4 is the IPv4 side of every interface, by index: route events may
	// come before the interface's link event names it.
	v4 map[int]*ipv4Link
	// up is each access interface's link state at the last evaluation:
	// a change makes its IPv4 default routes be listed again (resync4).
	up map[string]bool
	// reason is the cause of the next re-evaluation, for the log.
	reason string
	// The binding registered over IPv4: its tunnel kind, whether the home
	// agent saw a NAT and the keepalive interval it gave.
	kind      tunnel.Kind
	nat       bool
	keepalive time.Duration
	// hoa4 is the IPv4 home address the home agent granted (RFC 5555
	// §3.1.1; zero: none, or refused), hoa4On the one installed on mip0,
	// in the tunnel table and in the routes (see syncIPv4Home).
	hoa4   netip.Addr
	hoa4On netip.Addr
	// warnedDHAAD: the "IPv4 needs a known home agent" warning was given.
	warnedDHAAD bool
}

// dsmipInit sets up the state for cfg before the forwarder exists.
func (r *engine) dsmipInit(cfg *conf.MN) {
	r.ds = dsmipState{enabled: cfg.HomeAgentIPv4.IsValid(), v4: map[int]*ipv4Link{}, up: map[string]bool{}}
	if r.ds.enabled {
		r.ds.routeCh = make(chan netlink.RouteUpdate, 64)
	}
}

// forwarderConfig is the tunnel forwarder's configuration: IPv6 in IPv6
// always; with home_agent_ipv4 also 6in4 and UDP port 4191, and the
// Mobility Headers to the home address taken off those sockets.
func (r *engine) forwarderConfig(cfg *conf.MN) tunnel.ForwarderConfig {
	fc := tunnel.ForwarderConfig{
		Name:   cfg.TunnelInterface,
		IPv6:   true,
		Queues: 1,
		// See had: GRO on the access interface.
		PacketReceive: true,
		OnError:       func(err error) { r.log.Error("tunnel forwarder stopped", zap.Error(err)) },
	}
	if r.ds.enabled {
		fc.IPv4, fc.UDP = true, true
		fc.SignalAddrs = []netip.Addr{cfg.HomeAddress}
		fc.Signal = r.onSignal
	}
	return fc
}

// onSignal is the forwarder's Signal hook, called from a socket reader:
// a non-blocking hand-off to the loop. A full queue drops the message;
// the home agent's answer to a retransmission comes later.
func (r *engine) onSignal(pkt []byte, o tunnel.Outer) {
	p, ok := parseMH(pkt)
	if !ok {
		r.d.count(func(c *Counters) { c.MHIgnored++ })
		return
	}
	select {
	case r.mhCh <- mhMsg{iface: encapsulation(o.Kind), pkt: p}:
	default:
		r.d.count(func(c *Counters) { c.MHIgnored++ })
	}
}

// dsmipStart subscribes to route events (IPv4 default routes), listing
// the existing ones.
func (r *engine) dsmipStart() error {
	if !r.ds.enabled {
		return nil
	}
	errcb := func(err error) {
		select {
		case r.errCh <- err:
		default:
		}
	}
	if err := netlink.RouteSubscribeWithOptions(r.ds.routeCh, r.done, netlink.RouteSubscribeOptions{ListExisting: true, ErrorCallback: errcb}); err != nil {
		return err
	}
	r.ds.routeSub = r.ds.routeCh
	return nil
}

// dsmipTeardown drains the route subscription until it closes.
func (r *engine) dsmipTeardown() {
	// The routes went with the plan, the address goes with the device.
	r.ds.hoa4On = netip.Addr{}
	if r.ds.routeSub != nil {
		go func(ch chan netlink.RouteUpdate) {
			for range ch {
			}
		}(r.ds.routeSub)
		r.ds.routeSub = nil
	}
}

// link4 returns the IPv4 state of interface index idx, created.
func (r *engine) link4(idx int) *ipv4Link {
	l := r.ds.v4[idx]
	if l == nil {
		l = &ipv4Link{}
		r.ds.v4[idx] = l
	}
	return l
}

// onAddr4 handles an IPv4 address event and reports whether u was one.
func (r *engine) onAddr4(u netlink.AddrUpdate) bool {
	// An AF_INET address comes as its 4 octets (IFA_ADDRESS as is).
	if len(u.LinkAddress.IP) != net.IPv4len {
		return false
	}
	if !r.ds.enabled {
		return true
	}
	a, _ := netip.AddrFromSlice(u.LinkAddress.IP)
	l := r.link4(u.LinkIndex)
	i := -1
	for j, x := range l.addrs {
		if x == a {
			i = j
		}
	}
	switch {
	case u.NewAddr && i < 0:
		l.addrs = append(l.addrs, a)
	case !u.NewAddr && i >= 0:
		l.addrs = append(l.addrs[:i], l.addrs[i+1:]...)
	default:
		return true
	}
	name := r.ifByIndex[u.LinkIndex]
	r.log.Debug("IPv4 address", daemon.Iface(name), zap.Stringer("addr", a), zap.Bool("new", u.NewAddr))
	r.reevaluate("IPv4 address " + a.String() + " on " + name)
	return true
}

// onRoute4 handles a route event: IPv4 default routes of the main table
// are recorded per interface; a change of the next hop of the interface
// in use re-applies the routes.
func (r *engine) onRoute4(u netlink.RouteUpdate, ok bool) {
	if !ok {
		r.ds.routeCh = nil
		r.log.Error("route event subscription ended")
		return
	}
	if u.Family != netlink.FAMILY_V4 || (u.Table != 0 && u.Table != mainTable) || u.Protocol == RouteProtocol {
		return
	}
	if !isDefault4(u.Dst) {
		return
	}
	if u.LinkIndex == 0 {
		return // multipath: not a way out of one interface
	}
	var gw netip.Addr
	if g, ok := netip.AddrFromSlice(u.Gw); ok {
		gw = g.Unmap()
	}
	if !r.link4(u.LinkIndex).routeEvent(v4Default{gw: gw, metric: u.Priority}, u.Type == unix.RTM_NEWROUTE) {
		return
	}
	name := r.ifByIndex[u.LinkIndex]
	r.log.Debug("IPv4 default route", daemon.Iface(name), zap.Stringer("gateway", gw), zap.Bool("new", u.Type == unix.RTM_NEWROUTE))
	r.reevaluate("IPv4 default route on " + name)
	if !r.stopping && !r.atHome && r.cur.Kind == mobilenode.MovedTo && r.cur.CareOf.Is4() && r.cur.Interface == name {
		// Same care-of address, maybe another next hop.
		r.apply(r.awayPlan(r.cur))
	}
}

// resync4 lists the IPv4 default routes of interface name again. Linux
// removes the IPv4 routes of an interface taken down without a netlink
// notification (only IPv6 ones are announced), so after a link change the
// routes the events told us about may be gone; a carrier loss keeps them
// and a carrier return announces nothing either.
func (r *engine) resync4(name string) {
	idx, ok := r.ifIndex[name]
	if !ok || r.h == nil {
		return
	}
	routes, err := r.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{LinkIndex: idx, Table: mainTable},
		netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
	if err != nil {
		r.log.Warn("listing IPv4 routes", daemon.Iface(name), zap.Error(err))
		return
	}
	l := r.link4(idx)
	l.defaults = l.defaults[:0]
	for _, rt := range routes {
		if rt.Protocol == RouteProtocol || !isDefault4(rt.Dst) {
			continue
		}
		var gw netip.Addr
		if g, ok := netip.AddrFromSlice(rt.Gw); ok {
			gw = g.Unmap()
		}
		l.routeEvent(v4Default{gw: gw, metric: rt.Priority}, true)
	}
}

// isDefault4 reports whether dst, a route's destination as netlink gives
// it, is the IPv4 default (nil or 0.0.0.0/0).
func isDefault4(dst *net.IPNet) bool {
	if dst == nil {
		return true
	}
	ones, _ := dst.Mask.Size()
	return ones == 0
}

// reevaluate runs the movement decision again after an IPv4 event.
func (r *engine) reevaluate(reason string) {
	r.ds.reason = reason
	r.moves(nil)
}

// dsmipMoves turns the IPv6 movement events into the decision the daemon
// acts on (chooseCareOf); without home_agent_ipv4 they pass unchanged.
func (r *engine) dsmipMoves(evs []mobilenode.MoveEvent) []mobilenode.MoveEvent {
	if !r.ds.enabled {
		return evs
	}
	reason := r.ds.reason
	r.ds.reason = ""
	if len(evs) > 0 {
		reason = evs[len(evs)-1].Reason
	}
	for _, n := range r.cfg.Interfaces {
		if up := r.linkUp[n]; up != r.ds.up[n] {
			r.ds.up[n] = up
			r.resync4(n)
		}
	}
	now := time.Now()
	in := chooseInput{
		Interfaces: r.cfg.Interfaces,
		IPv6:       r.mov.Current(),
		IPv4:       make(map[string]*ipv4Link, len(r.cfg.Interfaces)),
		Up:         func(n string) bool { return r.linkUp[n] },
		Held:       func(n string) bool { return r.mov.HeldDown(n, now) },
		Current:    r.cur,
	}
	for _, n := range r.cfg.Interfaces {
		if idx, ok := r.ifIndex[n]; ok {
			in.IPv4[n] = r.ds.v4[idx]
		}
	}
	next := chooseCareOf(in)
	if next.Kind == mobilenode.MovedTo && next.CareOf.Is4() && r.reg == nil {
		// DHAAD runs over IPv6 only (RFC 6275 §11.4.1).
		if !r.ds.warnedDHAAD {
			r.ds.warnedDHAAD = true
			r.log.Warn("an IPv4 care-of address needs a known home agent (home_agent in mnd.toml, or one discovered over IPv6 first)",
				daemon.Iface(next.Interface), daemon.CoA(next.CareOf))
		}
		next = mobilenode.MoveEvent{Kind: mobilenode.LostConnectivity}
	}
	if sameDecision(next, r.cur) || (next.Kind == mobilenode.LostConnectivity && r.cur.Kind == 0) {
		return nil
	}
	next.Reason = reason
	return []mobilenode.MoveEvent{next}
}

// awayPlan is the routing plan for a move to ev.
func (r *engine) awayPlan(ev mobilenode.MoveEvent) Plan {
	router := r.routers[ev.Interface]
	if ev.CareOf.Is4() {
		router = r.ds.v4[r.ifIndex[ev.Interface]].gateway()
	}
	a := Away{
		Tunnel:        r.cfg.TunnelInterface,
		Iface:         ev.Interface,
		Router:        router,
		CareOf:        ev.CareOf,
		HomeAddress:   r.cfg.HomeAddress,
		HomeAgent:     r.cfg.HomeAgent,
		HomePrefix:    r.cfg.HomePrefix,
		HomeAgentIPv4: r.cfg.HomeAgentIPv4,
	}
	if ev.CareOf.Is4() {
		a.HomeAddressIPv4 = r.ds.hoa4On
	}
	return PlanAway(a)
}

// wantIPv4Home reports whether the IPv4 home address should be in use:
// asked for, granted, and carried (an IPv4 care-of address registered
// with IPv6 in UDP).
func (r *engine) wantIPv4Home() bool {
	return r.cfg.IPv4HomeAddress.IsValid() && r.ds.hoa4.Is4() && !r.atHome && !r.stopping &&
		r.cur.Kind == mobilenode.MovedTo && r.cur.CareOf.Is4() && r.ds.kind == tunnel.KindUDP4
}

// syncIPv4Home installs or withdraws the IPv4 home address to match
// wantIPv4Home, after the loop handled an event: installing, the address
// goes on mip0 first (a preferred source must be local), then into the
// tunnel table, then the routes; withdrawing, in the reverse order.
func (r *engine) syncIPv4Home() {
	if r.h == nil {
		return // torn down
	}
	want := r.wantIPv4Home()
	if r.ds.hoa4On.IsValid() && (!want || r.ds.hoa4On != r.ds.hoa4) {
		a := r.ds.hoa4On
		r.ds.hoa4On = netip.Addr{}
		if !r.atHome && r.cur.Kind == mobilenode.MovedTo {
			r.apply(r.awayPlan(r.cur))
		}
		if r.table != nil {
			r.table.DeleteIPv4(a)
		}
		if err := r.addrDel(r.cfg.TunnelInterface, netip.PrefixFrom(a, 32)); err != nil && !r.stopping {
			r.routeErr("removing the IPv4 home address from the tunnel device", err)
		}
		r.log.Info("IPv4 home address withdrawn", zap.Stringer("ipv4_home_address", a))
	}
	if !want || r.ds.hoa4On.IsValid() {
		return
	}
	a := r.ds.hoa4
	if err := r.addrAdd(r.cfg.TunnelInterface, netip.PrefixFrom(a, 32)); err != nil && !errors.Is(err, unix.EEXIST) {
		r.routeErr("adding the IPv4 home address to the tunnel device", err)
		return
	}
	if err := r.table.SetIPv4(a, ipv4Endpoint(r.cur.CareOf, r.cfg.HomeAgentIPv4, true)); err != nil {
		r.routeErr("IPv4 home address tunnel binding", err)
		return
	}
	r.ds.hoa4On = a
	r.apply(r.awayPlan(r.cur))
	r.log.Info("IPv4 home address in use: the host's IPv4 traffic goes home", zap.Stringer("ipv4_home_address", a), daemon.CoA(r.cur.CareOf))
}

// sendBU4 sends a Binding Update from an IPv4 care-of address (RFC 5555
// §4.2): the IPv6 packet (from the home address, no Home Address option)
// in UDP from port 4191 to the home agent's IPv4 address, through the
// forwarder's socket.
func (r *engine) sendBU4(p *mobilenode.BUPacket) {
	ep := tunnel.Endpoint{Kind: tunnel.KindUDP4, Local: p.OuterSrc, Remote: p.Outer.Addr(),
		LocalPort: tunnel.UDPPortDSMIP, RemotePort: p.Outer.Port()}
	var err error
	if r.fwd == nil {
		err = tunnel.ErrClosed
	} else {
		err = r.fwd.SendUDP4(ep, buildBU(p))
	}
	if err != nil {
		r.d.count(func(c *Counters) { c.SendErrors++ })
		r.log.Warn("binding update not sent", daemon.CoA(p.OuterSrc), daemon.HA(p.Outer.Addr()), daemon.Seq(p.Sequence), zap.Error(err))
		return
	}
	r.d.count(func(c *Counters) { c.BUSent++ })
	r.log.Info("binding update sent", zap.String("event", "bu_sent"), daemon.HoA(r.cfg.HomeAddress), daemon.CoA(p.OuterSrc),
		daemon.HA(p.Dst), zap.Stringer("ha_ipv4", p.Outer), daemon.Seq(p.Sequence), daemon.Lifetime(p.Lifetime),
		zap.Int("retransmission", p.RetransmitNumber))
}

// registeredEndpoint returns the tunnel endpoint of the binding e
// (EventRegistered) and records how it is carried.
func (r *engine) registeredEndpoint(e mobilenode.Event) tunnel.Endpoint {
	if !e.CareOf.Is4() {
		r.ds.kind, r.ds.nat, r.ds.keepalive = tunnel.KindIPv6, false, 0
		return tunnel.Endpoint{Kind: tunnel.KindIPv6, Local: e.CareOf, Remote: r.cfg.HomeAgent}
	}
	ep := ipv4Endpoint(e.CareOf, r.cfg.HomeAgentIPv4, e.UDP)
	if r.ds.kind != ep.Kind || r.ds.nat != e.NAT || r.ds.keepalive != e.Keepalive {
		r.log.Info("tunnel over IPv4", zap.String("encapsulation", encapsulation(ep.Kind)), zap.Bool("nat", e.NAT),
			zap.Duration("keepalive", e.Keepalive), daemon.CoA(e.CareOf), daemon.HA(r.cfg.HomeAgentIPv4))
	}
	r.ds.kind, r.ds.nat, r.ds.keepalive = ep.Kind, e.NAT, e.Keepalive
	if e.IPv4Ack && e.IPv4HomeAddress != r.ds.hoa4 {
		r.ds.hoa4 = e.IPv4HomeAddress
		r.log.Info("IPv4 home address acknowledgement", zap.Stringer("ipv4_home_address", e.IPv4HomeAddress),
			zap.Uint8("ipv4_status", uint8(e.IPv4AckStatus)))
	}
	if r.ds.hoa4On.IsValid() && r.ds.hoa4On == r.ds.hoa4 && ep.Kind == tunnel.KindUDP4 {
		// The IPv4 home address follows the new endpoint, atomically.
		if err := r.table.SetIPv4(r.ds.hoa4On, ep); err != nil {
			r.routeErr("IPv4 home address tunnel binding", err)
		}
	}
	return ep
}

// dsmipStatus runs from publish, after every event of the loop (the loop
// has brought the IPv4 home address in line just before, syncIPv4Home),
// and fills the status's IPv4 fields: on an IPv4 care-of address
// the encapsulation is the registered binding's ("udp4" until the first
// acknowledgement: the Binding Update itself goes in UDP), and nat says
// whether the home agent saw a NAT.
func (r *engine) dsmipStatus(st *Status) {
	if !r.ds.enabled {
		return
	}
	st.IPv4HomeAddress = r.ds.hoa4On
	if r.atHome || !r.cur.CareOf.Is4() {
		return
	}
	st.Encapsulation = encapsulation(tunnel.KindUDP4)
	if st.Registered {
		st.Encapsulation = encapsulation(r.ds.kind)
		st.NAT = r.ds.nat
		st.NATKeepaliveS = r.ds.keepalive.Seconds()
	}
}
