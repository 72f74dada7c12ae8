package mnd

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/internal/daemon"
	"github.com/gomip6/gomip6/internal/netif"
	"github.com/gomip6/gomip6/internal/rawsock"
	"github.com/gomip6/gomip6/internal/rodata"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/mobilenode"
	"github.com/gomip6/gomip6/tunnel"
)

// This file is route optimization in the daemon (RFC 6275 §11.3.1-§11.3.3,
// §11.6, §11.7.2): the wiring of mobilenode.RouteOptimizer and its data
// path. See the package documentation for the choices.

// Route optimization constants.
const (
	// ROTunName is the tun device that carries the packets to
	// correspondents with a binding: one /128 route per correspondent
	// (main table, metric RouteMetric, proto RouteProtocol) points into
	// it while the binding is usable.
	ROTunName = "mip6ro0"
	// ROTunMTU leaves room for the 24-octet Destination Options header
	// with the Home Address option on a 1500-octet link.
	ROTunMTU = 1500 - mip6.HomeAddressDestOptsLen
	// ROTunTxQueueLen is the tun device's transmit queue: what local
	// sockets send to correspondents waiting for the reader. The
	// default 500 overflows under a TCP burst, which the sender takes
	// for loss.
	ROTunTxQueueLen = 8192
	// roHeadroom is where the tun reader puts a packet: room for the
	// Home Address option in front, and for the tunnel's outer header
	// when the packet has to go back through the home tunnel.
	roHeadroom = tunnel.Headroom
	// RONFTable is the nftables table (family ip6) that drops, at the
	// input hook (after the packet taps, even on a bridge), what carries a type 2 routing header with Segments
	// Left 1: the packet sockets have copied it already, and the kernel,
	// without Mobile IPv6, would answer each with a Parameter Problem
	// to the correspondent (or home agent) that sent it.
	RONFTable = "gomip6_mnd"
	// ROMaxLearned bounds the correspondents learned from traffic: each
	// costs a return routability run, and the sources that reach the
	// home address are the whole internet's.
	ROMaxLearned = 64
)

// Learning correspondents from traffic. Variables, so that tests can
// make them fast.
var (
	// roSampleEvery: one packet in this many that the home tunnel
	// delivers is looked at (a classic BPF filter draws the random
	// number), so learning costs the tunnel's fast path almost nothing.
	roSampleEvery uint32 = 64
	// roIdleTimeout: a learned correspondent with no packet sampled and
	// none on its direct path for this long is removed (its binding
	// deleted); roIdleCheck is how often that is looked at.
	roIdleTimeout = 5 * time.Minute
	roIdleCheck   = time.Minute
)

// roCounters are the route optimization counters: the data path
// goroutines write them, the metrics handler reads them.
type roCounters struct {
	rrSent, rrOK, rrFailed, buSent, mhReceived atomic.Uint64
	direct, fallbacks, silent                  atomic.Uint64
	packetsOut, packetsIn, viaTunnel           atomic.Uint64
	rh2Dropped, outErrors, inErrors            atomic.Uint64
	packetTooBig                               atomic.Uint64
}

// fill copies the counters into c.
func (rc *roCounters) fill(c *Counters) {
	c.RRSent = rc.rrSent.Load()
	c.RROK = rc.rrOK.Load()
	c.RRFailed = rc.rrFailed.Load()
	c.ROBUSent = rc.buSent.Load()
	c.ROMHReceived = rc.mhReceived.Load()
	c.RODirect = rc.direct.Load()
	c.ROFallbacks = rc.fallbacks.Load()
	c.RODirectSilent = rc.silent.Load()
	c.ROPacketsOut = rc.packetsOut.Load()
	c.ROPacketsIn = rc.packetsIn.Load()
	c.ROViaTunnel = rc.viaTunnel.Load()
	c.RORH2Dropped = rc.rh2Dropped.Load()
	c.ROErrors = rc.outErrors.Load() + rc.inErrors.Load()
	c.ROPacketTooBig = rc.packetTooBig.Load()
}

// roLink is how packets leave directly from the care-of address: to the
// access interface's router, whatever the kernel's routes say (the main
// table's default goes into the home tunnel).
type roLink struct {
	coa    netip.Addr
	router netip.Addr
	zone   uint32
}

// roState is the engine's route optimization state. opt is nil when the
// configuration allows route optimization with no correspondent.
type roState struct {
	opt *mobilenode.RouteOptimizer
	tun *rodata.Tun
	// tx sends the outbound data path's batches (roTunLoop's alone).
	tx *rodata.Sender
	// mhL catches the Mobility Headers that come through the home
	// tunnel (Home Test, Binding Refresh Request): the tunnel device
	// hands them to a kernel that would drop them.
	mhL *rawsock.Listener
	// rh2L catches the packets routed to the care-of address with a
	// type 2 routing header; rh2Key says for which interface and
	// address it was opened.
	rh2L   *rawsock.Listener
	rh2Key roLink
	rh2Ifc string
	// ptb reads the Packet Too Big messages routers send about our
	// direct packets (path MTU discovery across the Home Address
	// option).
	ptb *net.IPConn
	// direct maps correspondents to their direct path (the care-of
	// address their binding names, and a packet count), for the data
	// path goroutines; link is how to reach them. Both are replaced
	// whole (copy on write) by the loop.
	direct atomic.Pointer[map[netip.Addr]*roDirect]
	link   atomic.Pointer[roLink]
	routes map[netip.Addr]bool
	nft    bool
	// Correspondents learned from traffic (roLearnLoop): learnL
	// samples the packets the tunnel delivers, learnCh hands their
	// sources to the loop, learned is when each was last seen (sampled,
	// or its direct path counted packets: usage), checked every
	// ROIdleCheck; the idle ones are removed.
	learnL *rawsock.Listener
	// learnK samples on every interface the tunnelled packets the
	// kernel path decapsulates ([tunnel] kernel_path): they never
	// enter the tunnel device, where learnL looks.
	learnK    *rawsock.Listener
	learnCh   chan netip.Addr
	learned   map[netip.Addr]roUsage
	nextCheck time.Time
}

// roDirect is one correspondent's direct path: the care-of address its
// binding names, and the data packets sent to it directly (out) and
// received from it with a type 2 routing header (in), which the data
// path goroutines count and the loop polls on its timer (usage, and the
// optimizer's direct-path liveness check).
type roDirect struct {
	coa     netip.Addr
	out, in atomic.Uint64
}

// packets is how many data packets the direct path carried.
func (d *roDirect) packets() uint64 { return d.out.Load() + d.in.Load() }

// roTraffic is the optimizer's ROConfig.DirectTraffic: cn's direct path
// counters, zero when it has none. The loop calls it (through the
// optimizer's Timer); it only loads atomics.
func (r *engine) roTraffic(cn netip.Addr) (out, in uint64) {
	if dp := (*r.ro.direct.Load())[cn]; dp != nil {
		return dp.out.Load(), dp.in.Load()
	}
	return 0, 0
}

// roUsage is what the idle check knows of a learned correspondent.
type roUsage struct {
	seen    time.Time
	packets uint64
}

// roEnabled reports whether cfg may use route optimization with anyone.
func roEnabled(cfg *conf.MN) bool {
	if cfg.RouteOptimization || len(cfg.RouteOptimizationAllow) > 0 {
		return true
	}
	for _, c := range cfg.Correspondents {
		if c.RouteOptimization {
			return true
		}
	}
	return false
}

// roLearning reports whether cfg may allow route optimization with
// correspondents it does not name: the global switch, or an allowing
// rule for a prefix shorter than /128. Then the daemon learns
// correspondents from the traffic the tunnel delivers.
func roLearning(cfg *conf.MN) bool {
	if cfg.RouteOptimization {
		return true
	}
	for _, c := range cfg.Correspondents {
		if c.RouteOptimization && c.Prefix.IsValid() && c.Prefix.Bits() < 128 {
			return true
		}
	}
	for _, p := range cfg.RouteOptimizationAllow {
		if p.Bits() < 128 {
			return true
		}
	}
	return false
}

// roCorrespondents lists the correspondents route optimization starts
// with: every address the configuration names ([[correspondent]] address,
// a /128 in route_optimization_allow) for which RouteOptimizationFor
// says yes. Prefixes and the global switch name no address: the
// correspondents they allow are learned from traffic (roLearning,
// roStartLearning; see the package documentation).
func roCorrespondents(cfg *conf.MN) []netip.Addr {
	var out []netip.Addr
	add := func(a netip.Addr) {
		if a.IsValid() && !slices.Contains(out, a) && cfg.RouteOptimizationFor(a) {
			out = append(out, a)
		}
	}
	for _, c := range cfg.Correspondents {
		if c.Address.IsValid() {
			add(c.Address)
		} else if c.Prefix.Bits() == 128 {
			add(c.Prefix.Addr())
		}
	}
	for _, p := range cfg.RouteOptimizationAllow {
		if p.Bits() == 128 {
			add(p.Addr())
		}
	}
	return out
}

// roInit sets route optimization up when the configuration allows it:
// the optimizer, the tun device and its reader, the listener on the
// tunnel device.
func (r *engine) roInit(cfg *conf.MN) error {
	r.ro.routes = map[netip.Addr]bool{}
	if !roEnabled(cfg) {
		return nil
	}
	opt, err := mobilenode.NewRouteOptimizer(mobilenode.ROConfig{HomeAddress: cfg.HomeAddress, DirectTraffic: r.roTraffic})
	if err != nil {
		return err
	}
	if l, err := r.h.LinkByName(ROTunName); err == nil {
		r.log.Warn("removing a leftover route optimization device", daemon.Iface(ROTunName))
		_ = r.h.LinkDel(l)
	}
	t, err := rodata.OpenTun(r.h, ROTunName, ROTunMTU, ROTunTxQueueLen)
	if err != nil {
		return err
	}
	r.ro.opt, r.ro.tun = opt, t
	if r.ro.tx, err = rodata.NewSender(); err != nil {
		return err
	}
	empty := map[netip.Addr]*roDirect{}
	r.ro.direct.Store(&empty)
	prog, err := rawsock.Assemble(rawsock.MobilityFilter(rawsock.LinkIP, cfg.HomeAddress))
	if err != nil {
		return err
	}
	if r.ro.mhL, err = rawsock.Listen(&net.Interface{Index: r.tunIndex, Name: cfg.TunnelInterface}, rawsock.Config{Filter: prog}); err != nil {
		return err
	}
	if r.ro.ptb, err = rodata.ListenPacketTooBig(); err != nil {
		return err
	}
	r.wg.Add(3)
	go func() {
		defer r.wg.Done()
		readMH(r.ro.mhL, cfg.TunnelInterface, r.done, r.mhCh)
	}()
	go func() {
		defer r.wg.Done()
		r.roPTBLoop(r.ro.ptb, t)
	}()
	go func() {
		defer r.wg.Done()
		r.roTunLoop(t, r.ro.tx)
	}()
	now := time.Now()
	for _, cn := range roCorrespondents(cfg) {
		o, err := opt.Add(cn, now)
		if err != nil {
			r.log.Warn("route optimization: correspondent left out", daemon.CN(cn), zap.Error(err))
			continue
		}
		r.roOutput(o)
	}
	r.ro.learned = map[netip.Addr]roUsage{}
	if roLearning(cfg) {
		if err := r.roStartLearning(cfg); err != nil {
			return err
		}
	}
	if err := roFirewall(true); err != nil {
		r.log.Warn("nftables rule not installed: the kernel will answer type 2 routed packets with Parameter Problems", zap.Error(err))
	} else {
		r.ro.nft = true
	}
	r.log.Info("route optimization enabled", zap.Stringers("correspondents", opt.Correspondents()), daemon.Iface(t.Name))
	return nil
}

// roFirewall installs (add) or removes RONFTable. It runs nft, which
// inherits the network namespace of the calling thread: the loop's.
func roFirewall(add bool) error {
	if !add {
		return netif.DeleteNFTable("ip6", RONFTable)
	}
	return netif.AddNFTable("ip6", RONFTable, fmt.Sprintf(`table ip6 %s {
	chain input {
		type filter hook input priority -300; policy accept;
		rt type 2 rt seg-left 1 drop
	}
}
`, RONFTable))
}

// roReload applies a new policy: correspondents no longer allowed are
// removed (de-registered), new ones added.
func (r *engine) roReload(cfg *conf.MN) {
	if r.ro.opt == nil {
		if roEnabled(cfg) {
			r.log.Warn("route optimization needs a restart to be turned on")
		}
		return
	}
	now := time.Now()
	want := roCorrespondents(cfg)
	for _, cn := range r.ro.opt.Correspondents() {
		_, learned := r.ro.learned[cn]
		keep := learned && roLearning(cfg) && cfg.RouteOptimizationFor(cn)
		for _, w := range want {
			keep = keep || w == cn
		}
		if !keep {
			delete(r.ro.learned, cn)
			r.roOutput(r.ro.opt.Remove(cn, now))
		}
	}
	for _, cn := range want {
		o, err := r.ro.opt.Add(cn, now)
		if err == nil {
			r.roOutput(o)
		}
	}
}

// roAway: the home agent acknowledged coa; return routability starts (or
// re-runs after a move) with every correspondent.
func (r *engine) roAway(coa netip.Addr) {
	if r.ro.opt == nil || r.stopping {
		return
	}
	if !coa.Is6() {
		// An IPv4 care-of address (RFC 5555): no route optimization,
		// and the correspondents' bindings for the previous care-of
		// address are deleted through the tunnel that now works.
		r.ro.link.Store(nil)
		r.roOutput(r.ro.opt.Tunnelled("IPv4 care-of address", time.Now()))
		return
	}
	iface := r.cur.Interface
	link := roLink{coa: coa, router: r.routers[iface], zone: uint32(r.ifIndex[iface])}
	if !link.router.IsValid() {
		r.log.Warn("route optimization: no router known on the access interface", daemon.Iface(iface))
		return
	}
	r.ro.link.Store(&link)
	r.roListenRH2(iface, link)
	var until time.Time
	if r.reg != nil {
		until = r.reg.Entry().Expires
	}
	r.roOutput(r.ro.opt.Away(coa, until, time.Now()))
}

// roSuspend: the care-of address is no longer registered (a move in
// progress, lost connectivity): everything goes through the tunnel.
func (r *engine) roSuspend(reason string) {
	if r.ro.opt == nil {
		return
	}
	r.ro.link.Store(nil)
	r.roOutput(r.ro.opt.Suspend(reason))
}

// roHome: back on the home link and the home agent has let the binding
// go (so that packets to the home address reach the home link, the
// correspondent's acknowledgement among them): de-register with every
// correspondent.
func (r *engine) roHome() {
	if r.ro.opt == nil {
		return
	}
	r.ro.link.Store(nil)
	r.roOutput(r.ro.opt.Home(time.Now()))
}

// roShutdown sends the de-registrations it can (mobilenode.RouteOptimizer
// .Shutdown) and withdraws every route into the tun device.
func (r *engine) roShutdown() {
	if r.ro.opt == nil {
		return
	}
	r.roOutput(r.ro.opt.Shutdown(time.Now()))
	r.ro.link.Store(nil)
}

// roTeardown closes the listeners and the tun device (its routes go with
// it).
func (r *engine) roTeardown() {
	if r.ro.mhL != nil {
		r.ro.mhL.Close()
		r.ro.mhL = nil
	}
	if r.ro.rh2L != nil {
		r.ro.rh2L.Close()
		r.ro.rh2L = nil
	}
	if r.ro.ptb != nil {
		r.ro.ptb.Close()
		r.ro.ptb = nil
	}
	for _, l := range []**rawsock.Listener{&r.ro.learnL, &r.ro.learnK} {
		if *l != nil {
			(*l).Close()
			*l = nil
		}
	}
	if r.ro.nft {
		if err := roFirewall(false); err != nil {
			r.log.Warn("removing the nftables table", zap.String("table", RONFTable), zap.Error(err))
		}
		r.ro.nft = false
	}
	if r.ro.tun != nil {
		r.ro.tun.Close()
		r.ro.tun = nil
	}
	if r.ro.tx != nil {
		r.ro.tx.Close()
		r.ro.tx = nil
	}
}

// roNext is the optimizer's next timer.
func (r *engine) roNext() (time.Time, bool) {
	if r.ro.opt == nil {
		return time.Time{}, false
	}
	at, ok := r.ro.opt.NextTimer()
	if len(r.ro.learned) > 0 && (!ok || r.ro.nextCheck.Before(at)) {
		at, ok = r.ro.nextCheck, true
	}
	return at, ok
}

// roTimer runs the optimizer's timers.
func (r *engine) roTimer(now time.Time) {
	if r.ro.opt == nil {
		return
	}
	if at, ok := r.ro.opt.NextTimer(); ok && !at.After(now) {
		r.roOutput(r.ro.opt.Timer(now))
	}
	if len(r.ro.learned) > 0 && !now.Before(r.ro.nextCheck) {
		r.roIdle(now)
	}
}

// roMH hands a Mobility Header from a correspondent (anything not from
// the home agent) to the optimizer and reports whether it took it.
func (r *engine) roMH(m mhMsg) bool {
	if r.ro.opt == nil || m.pkt.Src == r.cfg.HomeAgent {
		return false
	}
	if _, ok := r.ro.opt.Entry(m.pkt.Src); !ok {
		return false
	}
	d := &r.d.ro
	d.mhReceived.Add(1)
	out, err := r.ro.opt.HandleMH(m.pkt, time.Now())
	if err != nil {
		r.d.count(func(c *Counters) { c.MHIgnored++ })
		r.log.Debug("route optimization: mobility header ignored", daemon.Iface(m.iface), daemon.CN(m.pkt.Src),
			zap.Stringer("type", mip6.MHType(m.pkt.MH[2])), zap.Error(err))
		return true
	}
	r.roOutput(out)
	return true
}

// roParamProblem: a Parameter Problem about the Home Address option of a
// packet to dst. True when dst is a correspondent of ours.
func (r *engine) roParamProblem(dst netip.Addr) bool {
	if r.ro.opt == nil {
		return false
	}
	if _, ok := r.ro.opt.Entry(dst); !ok {
		return false
	}
	r.roOutput(r.ro.opt.ParameterProblem(dst, time.Now()))
	return true
}

// roStatus adds the correspondents' Binding Update List entries to st.
func (r *engine) roStatus(st *Status, now time.Time) {
	if r.ro.opt == nil {
		return
	}
	for _, e := range r.ro.opt.Entries() {
		b := BindingStatus{
			Peer: e.Correspondent, Correspondent: e.Correspondent, HomeAddress: r.cfg.HomeAddress,
			CareOfAddress: e.BoundCareOf, State: e.State.String(), Sequence: e.Sequence,
			Direct: e.Direct, Failures: e.Failures, Reason: e.Reason,
		}
		if e.Expires.After(now) {
			b.LifetimeS = e.Lifetime.Seconds()
			b.LifetimeRemainingS = e.Expires.Sub(now).Truncate(time.Second).Seconds()
		}
		if e.State == mobilenode.ROBackoff && e.RetryAt.After(now) {
			b.RetryInS = e.RetryAt.Sub(now).Truncate(time.Second).Seconds()
		}
		st.Bindings = append(st.Bindings, b)
	}
}

// roOutput sends what the optimizer asked for and acts on its events.
func (r *engine) roOutput(o mobilenode.ROOutput) {
	for i := range o.Send {
		r.roSend(&o.Send[i])
	}
	c := &r.d.ro
	for _, e := range o.Events {
		switch e.Kind {
		case mobilenode.RODirect:
			c.direct.Add(1)
			r.roRoute(e.Correspondent, e.CareOf, true)
			r.log.Info("route optimization: direct", zap.String("event", "ro_direct"), daemon.CN(e.Correspondent),
				daemon.HoA(r.cfg.HomeAddress), daemon.CoA(e.CareOf), daemon.Lifetime(e.Lifetime))
		case mobilenode.ROTunnel:
			c.fallbacks.Add(1)
			r.roRoute(e.Correspondent, netip.Addr{}, false)
			r.log.Info("route optimization: back to the tunnel", zap.String("event", "ro_tunnel"), daemon.CN(e.Correspondent),
				daemon.HoA(r.cfg.HomeAddress), zap.String("reason", e.Reason))
		case mobilenode.ROTestsDone:
			c.rrOK.Add(1)
			r.log.Debug("return routability done", daemon.CN(e.Correspondent), daemon.CoA(e.CareOf))
		case mobilenode.ROFailed:
			c.rrFailed.Add(1)
			fields := []zap.Field{zap.String("event", "ro_failed"), daemon.CN(e.Correspondent), daemon.CoA(e.CareOf), zap.String("reason", e.Reason)}
			if e.Status != 0 {
				fields = append(fields, daemon.Status(e.Status))
			}
			if e.BEStatus != 0 {
				fields = append(fields, zap.Stringer("be_status", e.BEStatus))
			}
			r.log.Warn("route optimization failed; the tunnel carries the traffic", fields...)
		case mobilenode.RODirectSilent:
			c.silent.Add(1)
			r.log.Warn("route optimization: direct path brings nothing back; back to the tunnel", zap.String("event", "ro_direct_silent"),
				daemon.CN(e.Correspondent), daemon.HoA(r.cfg.HomeAddress), daemon.CoA(e.CareOf), zap.Duration("window", e.Lifetime))
		case mobilenode.RODeregistered:
			r.log.Info("route optimization: binding deleted", zap.String("event", "ro_deregistered"), daemon.CN(e.Correspondent),
				zap.String("reason", e.Reason))
		}
	}
}

// roRoute points the /128 of cn into the tun device (on) or removes it,
// after (on) or before (off) the data path's map changes, so the reader
// never gets a packet it has no binding for when it could be avoided.
func (r *engine) roRoute(cn, coa netip.Addr, on bool) {
	old := *r.ro.direct.Load()
	m := make(map[netip.Addr]*roDirect, len(old)+1)
	for k, v := range old {
		if k != cn {
			m[k] = v
		}
	}
	nr := &netlink.Route{
		Family:    netlink.FAMILY_V6,
		LinkIndex: r.ro.tun.Index,
		Dst:       prefixNet(netip.PrefixFrom(cn, 128)),
		Src:       r.cfg.HomeAddress.AsSlice(),
		Priority:  RouteMetric,
		Protocol:  RouteProtocol,
		Table:     mainTable,
	}
	if on {
		nd := &roDirect{coa: coa}
		if od := old[cn]; od != nil {
			nd.out.Store(od.out.Load())
			nd.in.Store(od.in.Load())
		}
		m[cn] = nd
		r.ro.direct.Store(&m)
		if err := r.h.RouteReplace(nr); err != nil {
			r.routeErr("route optimization route "+cn.String(), err)
			return
		}
		r.ro.routes[cn] = true
		return
	}
	if r.ro.routes[cn] {
		if err := r.h.RouteDel(nr); err != nil && !gone(err) {
			r.routeErr("deleting route optimization route "+cn.String(), err)
		}
		delete(r.ro.routes, cn)
	}
	// The direct path's counters go with it, and the next one counts
	// from zero: roIdle, comparing a learned correspondent's packets
	// with the count it last saw, would take that change for traffic
	// (after every handover, which sends every correspondent back to
	// the tunnel, an idle one would look in use again). Settle its usage
	// now instead: packets since the last check are use, and the next
	// direct path's count starts from zero.
	if od := old[cn]; od != nil {
		if u, ok := r.ro.learned[cn]; ok {
			if od.packets() != u.packets {
				u.seen = time.Now()
			}
			u.packets = 0
			r.ro.learned[cn] = u
		}
	}
	r.ro.direct.Store(&m)
}

// roSend sends one optimizer packet: the Home Test Init through the home
// tunnel (built by the tunnel core, sent to the home agent), the others
// directly from the care-of address to the access router, or, at home,
// through the kernel's routes.
func (r *engine) roSend(p *mobilenode.ROPacket) {
	c := &r.d.ro
	b := make([]byte, roHeadroom, roHeadroom+2*mip6.IPv6HeaderLen+mip6.HomeAddressDestOptsLen+len(p.MH))
	b, _ = mip6.AppendMobilityPacket(b, p.Src, p.Dst, p.HomeAddress, netip.Addr{}, rawsock.DefaultHopLimit, p.MH)
	pkt := b[roHeadroom:]
	var err error
	link := r.ro.link.Load()
	switch {
	case p.ViaTunnel && r.roSendIPv4(pkt, &err):
		// Through the tunnel over IPv4 (RFC 5555): the forwarder's
		// sockets carry it.
	case p.ViaTunnel:
		outer, v := r.tun.Output(b, roHeadroom)
		if v.Action != tunnel.ActionSend {
			err = errors.New("home tunnel refused it: " + v.Reason.String())
			break
		}
		err = r.sender.Send(outer, 0)
	case link != nil && p.Src == link.coa:
		err = r.sender.SendTo(pkt, link.router, link.zone)
	default:
		err = r.sender.Send(pkt, 0)
	}
	if err != nil {
		r.d.count(func(c *Counters) { c.SendErrors++ })
		r.log.Warn("route optimization: not sent", zap.Stringer("type", p.Type), daemon.CN(p.Dst), zap.Error(err))
		return
	}
	switch p.Type {
	case mip6.MHHomeTestInit, mip6.MHCareofTestInit:
		c.rrSent.Add(1)
	case mip6.MHBindingUpdate:
		c.buSent.Add(1)
	}
	r.log.Debug("route optimization: sent", zap.Stringer("type", p.Type), daemon.CN(p.Dst),
		zap.Stringer("src", p.Src), zap.Bool("tunnel", p.ViaTunnel), daemon.Seq(p.Sequence), zap.Int("retransmission", p.Retransmit))
}

// roSendIPv4 sends pkt, from the home address, through the home tunnel
// when it runs over IPv4 (IPv6 in UDP or in IPv4 from an IPv4 care-of
// address: the tunnel core builds an IPv4 outer header that the IPv6
// sender cannot send), setting *err, and reports whether it did.
func (r *engine) roSendIPv4(pkt []byte, err *error) bool {
	b := r.table.Lookup(r.cfg.HomeAddress)
	if b == nil || r.fwd == nil {
		return false
	}
	switch b.Kind() {
	case tunnel.KindUDP4:
		*err = r.fwd.SendUDP4(b.Endpoint(), pkt)
	case tunnel.Kind6in4:
		*err = r.fwd.Send6in4(b.Endpoint(), pkt)
	default:
		return false
	}
	return true
}

// roListenRH2 opens the packet socket that catches what correspondents
// route to the care-of address with a type 2 routing header, on the
// access interface of the care-of address, replacing the previous one.
func (r *engine) roListenRH2(iface string, link roLink) {
	if r.ro.rh2L != nil && r.ro.rh2Ifc == iface && r.ro.rh2Key.coa == link.coa {
		return
	}
	if r.ro.rh2L != nil {
		r.ro.rh2L.Close()
		r.ro.rh2L = nil
	}
	prog, err := rawsock.Assemble(rawsock.RoutingHeader2Filter(rawsock.LinkIP, link.coa))
	if err != nil {
		r.log.Error("route optimization filter", zap.Error(err))
		return
	}
	l, err := rawsock.Listen(&net.Interface{Index: int(link.zone), Name: iface}, rawsock.Config{Filter: prog, ReadBuffer: 4 << 20})
	if err != nil {
		r.log.Error("route optimization: listening for type 2 routed packets", daemon.Iface(iface), zap.Error(err))
		return
	}
	r.ro.rh2L, r.ro.rh2Ifc, r.ro.rh2Key = l, iface, link
	tun := r.ro.tun
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.roRH2Loop(l, tun)
	}()
}

// roRH2Loop is the inbound data path (§11.3.3): a packet to the care-of
// address whose type 2 routing header names our home address becomes a
// packet to the home address, written into the tun device for the
// kernel to deliver. Any other address in the header: dropped and
// counted. Mobility Headers are not ours: the access interface's own
// listener hands them to the loop.
func (r *engine) roRH2Loop(l *rawsock.Listener, tun *rodata.Tun) {
	c := &r.d.ro
	hoa := r.cfg.HomeAddress
	// One recvmmsg for up to MaxBatch packets, one tun write (its GRO
	// coalescing a TCP flow's segments) for what they give. Each packet
	// is received at the start of its buffer: the restored packet
	// starts 24 octets in, rodata.WriteOffset, where the tun writer
	// wants it.
	ms := make([]rawsock.Message, rawsock.MaxBatch)
	for i := range ms {
		ms[i].Buf = make([]byte, 65536)
	}
	w := rodata.NewTunWriter(tun)
	for {
		n, err := l.ReadBatch(ms)
		if err != nil {
			if netif.ReadStop(err, r.done) {
				return
			}
			continue
		}
		direct := *r.ro.direct.Load()
		for i := range ms[:n] {
			m := &ms[i]
			if m.Truncated {
				c.inErrors.Add(1)
				continue
			}
			pkt := m.Buf[:m.N]
			lay, err := mip6.WalkIPv6(pkt)
			if err != nil || lay.Proto == mip6.ProtoMobility {
				continue
			}
			out, err := rodata.RestoreRoutingHeader2(pkt, &lay, hoa)
			switch {
			case errors.Is(err, rodata.ErrNotOurHome):
				c.rh2Dropped.Add(1)
				continue
			case err != nil:
				c.inErrors.Add(1)
				continue
			}
			if !w.Add(m.Buf, out) {
				c.inErrors.Add(1)
				continue
			}
			if dp := direct[lay.Src]; dp != nil {
				dp.in.Add(1)
			}
		}
		k := w.Len()
		if err := w.Flush(); err != nil {
			// tun.Device.Write writes what it can and joins the
			// errors: the count is an upper bound.
			c.inErrors.Add(1)
		}
		c.packetsIn.Add(uint64(k))
	}
}

// roTunLoop is the outbound data path (§11.3.1): what local sockets send
// from the home address to a correspondent with a binding leaves from the
// care-of address with the Home Address option, straight to the access
// router. A packet that finds no binding (it was withdrawn after the
// kernel routed the packet) goes through the home tunnel as it would
// have without route optimization. The tun device gives batches (a TCP
// flow's super-packets split, and whatever else is queued), and each
// batch leaves in one sendmmsg.
func (r *engine) roTunLoop(tun *rodata.Tun, tx *rodata.Sender) {
	c := &r.d.ro
	hoa := r.cfg.HomeAddress
	bufs, sizes := rodata.NewReadBufs(roHeadroom, ROTunMTU)
	var backoff netif.Backoff
	for {
		n, err := tun.Read(bufs, sizes, roHeadroom)
		if err != nil {
			// A malformed super-packet, refused whole, or an error that
			// persists: waited out, not spun on.
			if backoff.Stop(err, r.done) {
				return
			}
			c.outErrors.Add(1)
			continue
		}
		backoff.Reset()
		direct := *r.ro.direct.Load()
		link := r.ro.link.Load()
		for i := range n {
			r.roOutbound(bufs[i], sizes[i], hoa, direct, link, tx)
		}
		sent, failed, _ := tx.Flush()
		// Failures: EMSGSIZE among others, a packet larger than the
		// access link (ROTunMTU assumes 1500 octets).
		c.packetsOut.Add(uint64(sent))
		c.outErrors.Add(uint64(failed))
	}
}

// roOutbound queues one packet the tun device gave, buf[roHeadroom:
// roHeadroom+n], from our home address hoa, on tx (or sends it through
// the home tunnel). It allocates nothing.
func (r *engine) roOutbound(buf []byte, n int, hoa netip.Addr, direct map[netip.Addr]*roDirect, link *roLink, tx *rodata.Sender) {
	c := &r.d.ro
	h := mip6.IPv6Header(buf[roHeadroom : roHeadroom+n])
	if !h.IsValid() || h.Version() != 6 || h.Src() != hoa {
		c.outErrors.Add(1)
		return
	}
	dp := direct[h.Dst()]
	if dp == nil || link == nil || link.coa != dp.coa {
		outer, v := r.tun.Output(buf[:roHeadroom+n], roHeadroom)
		if v.Action != tunnel.ActionSend || r.sender.Send(outer, 0) != nil {
			c.outErrors.Add(1)
			return
		}
		c.viaTunnel.Add(1)
		return
	}
	out, err := rodata.InsertHomeAddress(buf, roHeadroom, n, dp.coa)
	if err != nil {
		c.outErrors.Add(1)
		return
	}
	tx.Add(out, link.router, link.zone)
	dp.out.Add(1)
}

// roPTBLoop carries path MTU discovery across the Home Address option
// (RFC 8201 with RFC 6275 §11.3.1): a Packet Too Big that a router on the
// way to a correspondent sends to the care-of address about one of our
// direct packets is turned into the one the local socket needs
// (rodata.AppendHomeAddressPacketTooBig: to the home address, about the
// packet it sent, 24 octets smaller) and written into the tun device.
// Only about a correspondent that is direct from the current care-of
// address: anything else is not ours to translate (or forged).
func (r *engine) roPTBLoop(c *net.IPConn, tun *rodata.Tun) {
	hoa := r.cfg.HomeAddress
	var out []byte
	rodata.ReadPacketTooBig(c, r.done, func(icmp []byte, from netip.Addr) {
		pkt, h, coa, cn, err := rodata.AppendHomeAddressPacketTooBig(out[:0], icmp, from)
		if err != nil {
			return
		}
		out = pkt
		link := r.ro.link.Load()
		if dp := (*r.ro.direct.Load())[cn]; h != hoa || link == nil || link.coa != coa || dp == nil || dp.coa != coa {
			return
		}
		if err := tun.WritePacket(pkt); err != nil {
			r.d.ro.inErrors.Add(1)
			return
		}
		r.d.ro.packetTooBig.Add(1)
	})
}

// roStartLearning opens the sampling listener on the tunnel device: one
// in roSampleEvery of the IPv6 packets the forwarder delivers to this
// host (packet type host: the kernel's own packets into the tunnel are
// "outgoing"), 40 octets of each, for its source address.
//
// With the kernel path ([tunnel] kernel_path) a second one: the kernel
// decapsulates on the access interfaces, so the tunnel device only sees
// what the programs leave to the forwarder. A packet socket of every
// protocol (ETH_P_ALL) sees a frame before tcx ingress does (one bound to
// a protocol is served after it, the outer header gone): it samples the
// home agent's IPv6-in-IPv6 packets on every interface (roLearnLoop
// checks the outer source), 80 octets, the inner source at 48. 6in4 is
// left out: route optimization needs an IPv6 care-of address.
func (r *engine) roStartLearning(cfg *conf.MN) error {
	r.ro.learnCh = make(chan netip.Addr, 64)
	var err error
	r.ro.learnL, err = r.roSampler(&net.Interface{Index: r.tunIndex, Name: cfg.TunnelInterface}, rawsock.Config{},
		roSampler(0, 0, mip6.IPv6HeaderLen), netip.Addr{})
	if err != nil || r.accel == nil {
		return err
	}
	r.ro.learnK, err = r.roSampler(&net.Interface{Index: 0, Name: "any"}, rawsock.Config{Protocol: unix.ETH_P_ALL},
		roSampler(6, mip6.ProtoIPv6, 2*mip6.IPv6HeaderLen), r.cfg.HomeAgent)
	return err
}

// roSampler opens a sampling listener on ifi with filter prog and runs
// its roLearnLoop (ha as there).
func (r *engine) roSampler(ifi *net.Interface, c rawsock.Config, prog []bpf.Instruction, ha netip.Addr) (*rawsock.Listener, error) {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, err
	}
	c.Filter = raw
	l, err := rawsock.Listen(ifi, c)
	if err != nil {
		return nil, err
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		roLearnLoop(l, r.done, r.ro.learnCh, ha)
	}()
	return l, nil
}

// roSampler is a sampling filter (SOCK_DGRAM: offsets from the IPv6
// header): IPv6 packets to this host, one in roSampleEvery, snap octets
// of each. With nhOff nonzero, only those whose octet at nhOff is nh and
// that carry another IPv6 header right after the first (IPv6 in IPv6).
func roSampler(nhOff, nh uint32, snap uint32) []bpf.Instruction {
	var inner []bpf.Instruction
	if nhOff != 0 {
		inner = []bpf.Instruction{
			bpf.LoadAbsolute{Off: nhOff, Size: 1},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: nh, SkipTrue: 6},
			bpf.LoadAbsolute{Off: mip6.IPv6HeaderLen, Size: 1},
			bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 6, SkipTrue: 3},
		}
	}
	n := uint8(len(inner))
	prog := []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.PACKET_HOST, SkipTrue: 6 + n},
		bpf.LoadAbsolute{Off: 0, Size: 1},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 6, SkipTrue: 3 + n},
	}
	prog = append(prog, inner...)
	return append(prog,
		bpf.LoadExtension{Num: bpf.ExtRand},
		bpf.ALUOpConstant{Op: bpf.ALUOpMod, Val: max(roSampleEvery, 1)},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipTrue: 1},
		bpf.RetConstant{Val: 0},
		bpf.RetConstant{Val: snap},
	)
}

// roLearnLoop hands the source of every sampled packet to the loop,
// dropping when the loop is busy (another sample will come). With ha
// valid the samples are IPv6 in IPv6 and count only from ha: the inner
// packet's source is handed on.
func roLearnLoop(l *rawsock.Listener, done <-chan struct{}, ch chan<- netip.Addr, ha netip.Addr) {
	ms := make([]rawsock.Message, 8)
	for i := range ms {
		ms[i].Buf = make([]byte, 2*mip6.IPv6HeaderLen)
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
			b := m.Buf[:m.N]
			if ha.IsValid() {
				if len(b) < 2*mip6.IPv6HeaderLen || mip6.IPv6Header(b).Src() != ha {
					continue
				}
				b = b[mip6.IPv6HeaderLen:]
			}
			if len(b) < mip6.IPv6HeaderLen {
				continue
			}
			select {
			case ch <- mip6.IPv6Header(b).Src():
			default:
			}
		}
	}
}

// roLearn takes a source the tunnel delivered a packet from: a
// correspondent the policy allows and that is not known yet starts route
// optimization (up to ROMaxLearned of them); a known learned one is marked
// in use.
func (r *engine) roLearn(cn netip.Addr) {
	if r.ro.opt == nil || r.stopping {
		return
	}
	now := time.Now()
	if u, ok := r.ro.learned[cn]; ok {
		u.seen = now
		r.ro.learned[cn] = u
		return
	}
	if _, ok := r.ro.opt.Entry(cn); ok {
		return // configured
	}
	if !cn.Is6() || cn.Is4In6() || !cn.IsGlobalUnicast() || cn == r.cfg.HomeAgent || cn == r.cfg.HomeAddress ||
		!r.cfg.RouteOptimizationFor(cn) || len(r.ro.learned) >= ROMaxLearned {
		return
	}
	o, err := r.ro.opt.Add(cn, now)
	if err != nil {
		return
	}
	if len(r.ro.learned) == 0 {
		r.ro.nextCheck = now.Add(roIdleCheck)
	}
	r.ro.learned[cn] = roUsage{seen: now}
	r.log.Info("route optimization: correspondent learned from traffic", zap.String("event", "ro_learned"), daemon.CN(cn))
	r.roOutput(o)
}

// roIdle removes the learned correspondents that carried no packet for
// roIdleTimeout (§11.7.2: bindings are for correspondents in use): their
// bindings are deleted where a fresh home keygen token allows, and left
// to expire otherwise.
func (r *engine) roIdle(now time.Time) {
	direct := *r.ro.direct.Load()
	for cn, u := range r.ro.learned {
		if dp := direct[cn]; dp != nil {
			if p := dp.packets(); p != u.packets {
				u.seen, u.packets = now, p
				r.ro.learned[cn] = u
			}
		}
		if now.Sub(u.seen) < roIdleTimeout {
			continue
		}
		delete(r.ro.learned, cn)
		r.log.Info("route optimization: learned correspondent idle, removed", zap.String("event", "ro_idle"), daemon.CN(cn))
		r.roOutput(r.ro.opt.Remove(cn, now))
	}
	r.ro.nextCheck = now.Add(roIdleCheck)
}
