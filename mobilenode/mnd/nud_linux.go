package mnd

import (
	"net/netip"
	"slices"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/internal/daemon"
)

// Neighbor Unreachability Detection of the default routers (RFC 4861 §7.3,
// RFC 6275 §11.5.1) and the Router Solicitation schedule.
//
// The kernel runs NUD on every neighbour it sends to, the routers of the
// access links included; the daemon listens to its neighbour events and a
// router's entry going FAILED drops that router from the movement
// detection at once (mobilenode.Movement.RouterUnreachable): the link
// fails over to another access interface, or reports lost connectivity
// and solicits until a router answers. Without it, a router that dies
// while the link stays up, on a link whose RAs carry no Advertisement
// Interval option (radvd's defaults, 1800 s of Router Lifetime), would
// hold the node on a dead path for half an hour: the liveness check's
// refreshes would go on failing through it.
//
// The kernel's NUD is lazy: an entry stays REACHABLE for up to 1.5 ×
// base_reachable_time (45 s) after the last confirmation, and tunnelled
// packets confirm nothing (no TCP of the kernel's own sees their
// answers), then waits DELAY_FIRST_PROBE_TIME (5 s) before it probes. So
// the daemon gives it the upper-layer hint RFC 4861 §7.3.1 allows: when
// its own traffic through a router goes unanswered — a Binding Update
// retransmitted, the tunnel's liveness check firing — it sets the
// router's entry to PROBE (RTM_NEWNEIGH with NUD_PROBE, as `ip neigh
// change ... nud probe`): the kernel sends its unicast Neighbor
// Solicitations at once, and a dead router is FAILED after
// MAX_UNICAST_SOLICIT × RETRANS_TIMER (3 s), a live one is REACHABLE
// again after one round trip, with nothing changed.
//
// Router Solicitations follow mobilenode.Movement's schedule (solicit.go
// there): one at link-up, then RFC 4861's retransmissions and RFC 7559's
// back-off until a router advertises, and again at once when a link
// loses its last router. The kernel's own solicitations may or may not
// be on (router_solicitations): the daemon does not rely on them.

// nudProbeEvery bounds the probes of one interface's routers: a kernel
// probe cycle takes MAX_UNICAST_SOLICIT × RETRANS_TIMER (3 s); one asked
// again meanwhile would only restart it.
const nudProbeEvery = 3 * time.Second

// nudState is the loop's NUD state.
type nudState struct {
	ch  chan netlink.NeighUpdate
	sub chan netlink.NeighUpdate // the subscription's channel, drained at teardown
	// probed is when each interface's routers were last set to PROBE.
	probed map[string]time.Time
	errcb  func(error)
}

// nudRcvBuf is the neighbour subscription's receive buffer: neighbour
// events come in bursts (a link's entries flushed at once, a busy LAN),
// and a buffer overrun ends a vishvananda/netlink subscription.
const nudRcvBuf = 1 << 20

// nudStart subscribes to the kernel's neighbour events.
func (r *engine) nudStart(errcb func(error)) error {
	r.nud.probed = map[string]time.Time{}
	r.nud.errcb = errcb
	return r.nudSubscribe()
}

func (r *engine) nudSubscribe() error {
	ch := make(chan netlink.NeighUpdate, 256)
	opts := netlink.NeighSubscribeOptions{ErrorCallback: r.nud.errcb, ReceiveBufferSize: nudRcvBuf}
	if err := netlink.NeighSubscribeWithOptions(ch, r.done, opts); err != nil {
		return err
	}
	r.nud.ch, r.nud.sub = ch, ch
	return nil
}

// nudTeardown drains the subscription until it closes (r.done is closed).
func (r *engine) nudTeardown() {
	if r.nud.sub != nil {
		go func(ch chan netlink.NeighUpdate) {
			for range ch {
			}
		}(r.nud.sub)
		r.nud.sub = nil
	}
}

// onNeigh handles a neighbour event: a default router of an access
// interface whose entry went FAILED is unreachable.
func (r *engine) onNeigh(u netlink.NeighUpdate, ok bool) {
	if !ok {
		// The subscription ends on any receive error (an overrun
		// included): subscribe again, it holds no state. Events lost
		// meanwhile are a FAILED router noticed at its next probe.
		r.nud.ch, r.nud.sub = nil, nil
		r.d.count(func(c *Counters) { c.NeighResubscribes++ })
		if err := r.nudSubscribe(); err != nil {
			r.log.Error("neighbour events: subscribing again failed; default router reachability is not watched", zap.Error(err))
			return
		}
		r.log.Warn("neighbour event subscription ended; subscribed again")
		return
	}
	if u.Type != unix.RTM_NEWNEIGH || u.State != unix.NUD_FAILED || u.Family != unix.AF_INET6 {
		return
	}
	name, known := r.ifByIndex[u.LinkIndex]
	if !known || !slices.Contains(r.cfg.Interfaces, name) {
		return
	}
	a, valid := netip.AddrFromSlice(u.IP)
	if !valid {
		return
	}
	a = a.Unmap()
	if !slices.Contains(r.mov.Routers(name), a) {
		return
	}
	r.d.count(func(c *Counters) { c.RoutersUnreachable++ })
	r.log.Warn("default router unreachable (neighbor unreachability detection)", zap.String("event", "router_unreachable"),
		daemon.Iface(name), zap.Stringer("router", a))
	if r.routers[name] == a {
		delete(r.routers, name)
	}
	r.moves(r.mov.RouterUnreachable(name, a, time.Now()))
	r.solicitDue(time.Now())
}

// probeRouters asks the kernel to confirm the reachability of iface's
// default routers now (why: for the log), at most every nudProbeEvery.
// Only entries the kernel holds as valid are touched: one INCOMPLETE or
// FAILED is being resolved or already reported.
func (r *engine) probeRouters(iface, why string) {
	idx, ok := r.ifIndex[iface]
	if !ok || !r.linkUp[iface] {
		return
	}
	now := time.Now()
	if at, ok := r.nud.probed[iface]; ok && now.Sub(at) < nudProbeEvery {
		return
	}
	routers := r.mov.Routers(iface)
	if len(routers) == 0 {
		return
	}
	ns, err := r.h.NeighList(idx, netlink.FAMILY_V6)
	if err != nil {
		r.log.Debug("neighbour table", daemon.Iface(iface), zap.Error(err))
		return
	}
	r.nud.probed[iface] = now
	for _, n := range ns {
		a, ok := netip.AddrFromSlice(n.IP)
		if !ok || !slices.Contains(routers, a.Unmap()) || len(n.HardwareAddr) == 0 ||
			n.State&(unix.NUD_REACHABLE|unix.NUD_STALE|unix.NUD_DELAY) == 0 {
			continue
		}
		// The router flag goes along: a request without NTF_ROUTER
		// clears it (RFC 4861 §7.2.5's IsRouter is the kernel's, not
		// ours to change).
		p := netlink.Neigh{LinkIndex: idx, Family: netlink.FAMILY_V6, IP: n.IP, HardwareAddr: n.HardwareAddr,
			State: unix.NUD_PROBE, Flags: n.Flags & netlink.NTF_ROUTER}
		if err := r.h.NeighSet(&p); err != nil {
			r.log.Debug("router probe not started", daemon.Iface(iface), zap.Stringer("router", a), zap.Error(err))
			continue
		}
		r.log.Info("probing the default router", zap.String("event", "router_probe"), daemon.Iface(iface),
			zap.Stringer("router", a.Unmap()), zap.String("reason", why))
	}
}

// solicitDue sends the Router Solicitations the movement detection has due.
func (r *engine) solicitDue(now time.Time) {
	for _, name := range r.mov.Solicitations(now) {
		r.rsPending[name] = true
		r.solicit(name)
	}
}
