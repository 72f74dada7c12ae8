//go:build linux

package had

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/homeagent"
	"github.com/gomip6/gomip6/internal/control"
	"github.com/gomip6/gomip6/internal/daemon"
	"github.com/gomip6/gomip6/internal/loopcall"
	"github.com/gomip6/gomip6/internal/ndproxy"
	"github.com/gomip6/gomip6/internal/netif"
	"github.com/gomip6/gomip6/internal/rawsock"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/ra"
	"github.com/gomip6/gomip6/tunnel"
)

// Implementation constants (the protocol's are in mip6/const.go).
const (
	// DefaultTunName is the tun device of the home agent's tunnels.
	DefaultTunName = "mip6ha0"
	// RouteProtocol marks the routes had installs (rtm_protocol), so that
	// `ip -6 route show proto 109` lists them and -cleanup finds them.
	// Unassigned in iproute2's rt_protos.
	RouteProtocol = 109
	// rxQueue bounds the received signalling waiting for the loop: a flood
	// beyond it is dropped (counted) instead of queued without end.
	rxQueue = 512
	// maxDAD bounds the DAD runs in flight; a Binding Update that would
	// start one more is dropped (the mobile node retransmits).
	maxDAD = 1024
	// saveInterval is how often a changed binding cache is written to the
	// state file (and at shutdown): a crash loses at most this much, and
	// the mobile nodes' next refresh repairs it.
	saveInterval = 5 * time.Second
	// rxBufSize holds any Binding Update (mip6.MaxMHLen) behind its IPv6
	// header and extension headers.
	rxBufSize = 4096
	// mpaPerTick paces unsolicited Mobile Prefix Advertisements
	// (retransmissions included): at most this many a second.
	mpaPerTick = 1000
)

// Options are the knobs of a Daemon that are not in had.toml.
type Options struct {
	// Log receives the daemon's logs; nil means none.
	Log *zap.Logger
	// TunName is the tun device's name; "" means DefaultTunName.
	TunName string
	// SkipDAD accepts new bindings without Duplicate Address Detection
	// (see homeagent.Options.SkipDAD).
	SkipDAD bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Daemon is a running home agent.
type Daemon struct {
	cfg  *conf.HA
	log  *zap.Logger
	now  func() time.Time
	home *net.Interface

	// params is the RA content of cfg (the Mobile Prefix Advertisements
	// reuse it), rebuilt on reload.
	params ra.Params

	ha      *homeagent.HomeAgent
	table   *tunnel.Table
	tun     *tunnel.Tunnel
	fwd     *tunnel.Forwarder
	tunLink int
	nl      *netlink.Handle
	// netns is New's network namespace, where the nftables table is
	// removed and the link watch resubscribes whichever thread does it.
	netns *os.File
	// fw says the nftables table that keeps the kernel's Parameter
	// Problems in (firewall_linux.go) is installed.
	fw bool
	// up is the 6in4 uplink of [uplink] (uplink_linux.go), nil without.
	up *uplink

	rx     *rawsock.Listener
	tx     *rawsock.Sender
	proxy  *ndproxy.Listener
	ras    *ra.Sender
	halist *ra.HAList
	dhaad  *dhaad
	// ctl serves the control API (and control.metrics_listen).
	ctl *control.Endpoint
	// lw follows the home interface's MAC address, link state and
	// link-local address (link_linux.go).
	lw *linkWatch

	rxq     chan rxPacket
	sigq    chan sigPacket // DSMIPv6 signalling off the forwarder (dsmip.go)
	free    chan []byte
	dadDone chan dadResult
	reqs    chan loopcall.Call
	closing chan struct{}
	wg      sync.WaitGroup

	// Owned by the loop.
	dadRuns   int
	dirty     bool
	buf       []byte // BA being built
	pkt       []byte // packet being sent
	lastAging time.Time
	// mpa schedules the unsolicited Mobile Prefix Advertisements
	// (mpasched.go), sent by housekeeping; mpaDue is its scratch.
	mpa    *mpaSchedule
	mpaDue []mpaDue
	// ds is the DSMIPv6 state of bindings registered over IPv4, by home
	// address; poolOnLink says the IPv4 home pool is on the home link
	// (proxy ARP). See dsmip.go.
	ds         map[netip.Addr]dsState
	poolOnLink bool

	c counters
}

type rxPacket struct {
	buf     []byte // from free, returned after processing
	n       int
	ifindex int
}

type dadResult struct {
	hoa netip.Addr
	ok  bool
	err error
}

// counters are the daemon's own statistics (the tunnel, proxy and RA sender
// keep theirs). Atomic: the loop writes, the metrics handler reads.
type counters struct {
	rxPackets, rxQueueFull, rxErrors      atomic.Uint64
	notBU, malformed                      atomic.Uint64
	baSent, baSendErrors, brrSent, beSent atomic.Uint64
	mpaSent                               atomic.Uint64
	mpaSolicited, mpaUnsolicited          atomic.Uint64
	mpaRetransmitted                      atomic.Uint64
	mpaAcked, mpaUnanswered, mpaRestarted atomic.Uint64
	dadStarted, dadDuplicate, dadBusy     atomic.Uint64
	routeErrors, stateSaves, stateErrors  atomic.Uint64
	byStatus                              [256]atomic.Uint64
	byDrop                                [32]atomic.Uint64
	created, refreshed, moved, deleted    atomic.Uint64
	expired                               atomic.Uint64
	sigUDP, sig6in4, sigQueueFull         atomic.Uint64
}

// New opens everything a home agent needs in the calling thread's network
// namespace: the tun device and its forwarder, the signalling sockets, the
// proxy on the home link, the router advertisements, the control socket,
// the 6in4 uplink of [uplink] (uplink_linux.go); enables IPv6 forwarding; and restores the bindings of the state file. On
// error everything opened so far is closed again.
func New(cfg *conf.HA, o Options) (d *Daemon, err error) {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TunName == "" {
		o.TunName = DefaultTunName
	}
	d = &Daemon{
		cfg: cfg, log: o.Log, now: o.Now,
		rxq:     make(chan rxPacket, rxQueue),
		sigq:    make(chan sigPacket, sigQueue),
		ds:      make(map[netip.Addr]dsState),
		free:    make(chan []byte, rxQueue+64),
		dadDone: make(chan dadResult, maxDAD),
		reqs:    make(chan loopcall.Call),
		closing: make(chan struct{}),
		mpa: newMPASchedule(cfg.Home.MobilePrefixMinInterval.Std(), cfg.Home.MobilePrefixMaxInterval.Std(),
			cfg.RouterAdvertisements.PrefixPreferredLifetime.Std(), rand.Int64N),
	}
	defer func() {
		if err != nil {
			d.closeAll()
			d = nil
		}
	}()
	for range cap(d.free) {
		d.free <- make([]byte, rxBufSize)
	}
	if d.home, err = net.InterfaceByName(cfg.Home.Interface); err != nil {
		var nerr *net.OpError
		if errors.As(err, &nerr) {
			err = nerr.Err
		}
		return d, fmt.Errorf("home.interface %q: %w", cfg.Home.Interface, err)
	}
	if d.nl, err = netlink.NewHandle(); err != nil {
		return d, fmt.Errorf("netlink: %w", err)
	}
	if d.netns, err = netif.CurrentNetns(); err != nil {
		return d, fmt.Errorf("network namespace: %w", err)
	}
	if err := enableForwarding(d.log); err != nil {
		return d, err
	}

	// The data plane first, so that restored bindings forward at once.
	d.table = tunnel.NewTable(len(cfg.MobileNodes))
	tc := tunnel.Config{Role: tunnel.RoleHomeAgent, ErrorSource: cfg.Home.Address}
	if d.tun, err = tunnel.New(tc, d.table); err != nil {
		return d, err
	}
	v4 := cfg.IPv4 != nil
	fc := tunnel.ForwarderConfig{
		Name: o.TunName, IPv6: true, IPv4: v4, UDP: v4,
		// Interfaces that do GRO (physical NICs by default) merge
		// tunnelled TCP into super-packets the raw sockets cannot pass
		// on: large packets come from packet sockets instead
		// (tunnel.ForwarderConfig.PacketReceive).
		PacketReceive: true,
		OnError:       func(err error) { d.log.Error("tunnel forwarder stopped", zap.Error(err)) },
	}
	if v4 {
		// Binding Updates over IPv4 arrive on the forwarder's sockets
		// (RFC 5555 §4): handed to the loop, see dsmip.go.
		fc.SignalAddrs, fc.Signal = []netip.Addr{cfg.Home.Address}, d.onSignal
	}
	d.useKernelPath(&fc, tc) // [tunnel] kernel_path, kernelpath_linux.go
	if d.fwd, err = tunnel.NewForwarder(d.tun, fc); err != nil {
		return d, fmt.Errorf("tunnel: %w", err)
	}
	l, err := d.nl.LinkByName(d.fwd.Name())
	if err != nil {
		return d, fmt.Errorf("tunnel device: %w", err)
	}
	d.tunLink = l.Attrs().Index
	if cfg.Uplink != nil {
		if err := d.openUplink(); err != nil {
			return d, err
		}
	}

	if d.ha, err = homeagent.New(cfg, homeagent.Options{Table: d.table, SkipDAD: o.SkipDAD}); err != nil {
		return d, err
	}
	if err := d.openDSMIP(); err != nil {
		return d, fmt.Errorf("ipv4: %w", err)
	}
	if err := d.restore(); err != nil {
		return d, err
	}

	// Signalling.
	// Mobility Headers, and packets with a Home Address option (Mobile
	// Prefix Solicitations, §11.4.2), to this home agent.
	filter, err := rawsock.Assemble(rawsock.MIPv6Filter(rawsock.LinkIP, cfg.Home.Address))
	if err != nil {
		return d, err
	}
	// Every interface: Binding Updates come from wherever the mobile
	// nodes are (the uplink), and from the home link for a
	// de-registration at home (§11.5.4).
	if d.rx, err = rawsock.Listen(&net.Interface{Index: 0, Name: "any"}, rawsock.Config{Filter: filter, ReadBuffer: 1 << 20}); err != nil {
		return d, err
	}
	if d.tx, err = rawsock.NewSender(""); err != nil {
		return d, err
	}
	d.addFirewall()

	// Interception on the home link.
	if d.proxy, err = ndproxy.Listen(cfg.Home.Interface, ndproxy.Config{
		// The link's RetransTimer when we advertise one (RFC 4861 §6.3.2
		// ties DAD's wait to it); zero keeps RFC 4861's 1 s.
		RetransTimer: cfg.RouterAdvertisements.RetransTimer.Std(),
		OnError: func(err error) {
			d.log.Warn("proxy neighbor discovery", zap.Error(err), daemon.Iface(cfg.Home.Interface))
		},
	}); err != nil {
		return d, err
	}
	var addrs []netip.Addr
	d.ha.Cache().Range(func(e binding.Entry) bool {
		addrs = append(addrs, e.HomeAddress)
		return true
	})
	if len(addrs) > 0 {
		// Restored bindings: answer at once, announce paced (one
		// gratuitous NA each for a large cache at start-up would flood
		// the home link; the neighbours' caches most likely point at
		// this router already).
		if err := d.proxy.AddQuiet(addrs...); err != nil {
			d.log.Warn("restoring proxy entries", zap.Error(err))
		}
	}

	// Router advertisements, or with them off (radvd advertises), a
	// passive listener that still learns the other home agents from the
	// link's RAs and keeps our own entry for DHAAD (§10.5.1).
	d.halist = ra.NewHAList(cfg.Home.Prefix, nil)
	d.params = ra.ParamsFromConfig(cfg, d.home.HardwareAddr)
	if d.ras, err = ra.Listen(cfg.Home.Interface, ra.SenderConfig{
		Params:  d.params,
		Timing:  ra.TimingFromConfig(cfg),
		HAList:  d.halist,
		Passive: !cfg.RouterAdvertisements.Enabled,
		OnError: func(err error) {
			d.log.Warn("router advertisements", zap.Error(err), daemon.Iface(cfg.Home.Interface))
		},
	}); err != nil {
		return d, err
	}
	if err := d.openDHAAD(); err != nil {
		return d, err
	}
	if err := d.openLinkWatch(); err != nil {
		return d, err
	}

	// Control.
	if d.ctl, err = control.Open(cfg.Control.Socket, cfg.Control.MetricsListen, d.handler()); err != nil {
		return d, err
	}
	return d, nil
}

// enableForwarding turns on IPv6 forwarding: a home agent is the home
// link's router, and the tunnel's inner packets are forwarded by the
// kernel between the home link, the uplink and the tun device.
func enableForwarding(log *zap.Logger) error {
	const p = "/proc/sys/net/ipv6/conf/all/forwarding"
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("ipv6 forwarding: %w", err)
	}
	if len(b) > 0 && b[0] == '1' {
		return nil
	}
	if err := os.WriteFile(p, []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enabling ipv6 forwarding: %w", err)
	}
	log.Info("enabled IPv6 forwarding (net.ipv6.conf.all.forwarding=1)")
	return nil
}

// restore adopts the state file's bindings.
func (d *Daemon) restore() error {
	if d.cfg.StateFile == "" {
		return nil
	}
	c, err := binding.LoadStateFile(d.cfg.StateFile, d.now())
	if errors.Is(err, binding.ErrCorruptState) {
		d.log.Error("state file corrupt: starting with no bindings", zap.String("file", d.cfg.StateFile), zap.Error(err))
		return nil
	}
	if err != nil {
		return fmt.Errorf("state_file: %w", err)
	}
	dropped := d.ha.Restore(c, d.now())
	for _, e := range dropped {
		d.log.Info("binding not restored", daemon.HoA(e.HomeAddress), daemon.CoA(e.CareOf))
	}
	var errs []error
	d.ha.Cache().Range(func(e binding.Entry) bool {
		errs = append(errs, d.addRoutes(e))
		d.syncDSMIP(e.HomeAddress, e.CareOf.Is4(), false)
		if e.CareOf.Is6() {
			d.mpa.add(e.HomeAddress, d.now())
		}
		d.log.Info("binding restored", zap.String("event", "binding_restored"), daemon.HoA(e.HomeAddress), daemon.CoA(e.CareOf),
			zap.Time("expires", e.Expires))
		return true
	})
	return errors.Join(errs...)
}

// Run serves until ctx is done, then shuts down: the state is saved, the
// routes, proxy entries and tun device removed, the home link told that
// this router leaves (a final RA). Run returns after that; it is called
// once.
func (d *Daemon) Run(ctx context.Context, reload <-chan *conf.HA) error {
	d.wg.Add(2)
	go d.readLoop()
	go d.dhaadLoop()
	d.ctl.Serve(func(what string, err error) { d.log.Error(what, zap.Error(err)) })
	d.log.Info("home agent running", daemon.HA(d.cfg.Home.Address), daemon.Iface(d.cfg.Home.Interface),
		zap.String("prefix", d.cfg.Home.Prefix.String()), zap.Int("bindings", d.ha.Cache().Len()),
		zap.String("tun", d.fwd.Name()))
	d.loop(ctx, reload)
	d.log.Info("home agent stopping")
	close(d.closing)
	d.save()
	d.closeAll()
	d.wg.Wait()
	return nil
}

// readLoop reads signalling from the packet socket and queues it for the
// loop. It never blocks on the loop: a full queue drops (counted).
func (d *Daemon) readLoop() {
	defer d.wg.Done()
	ms := make([]rawsock.Message, 16)
	for i := range ms {
		ms[i].Buf = make([]byte, rxBufSize)
	}
	for {
		n, err := d.rx.ReadBatch(ms)
		if err != nil {
			d.c.rxErrors.Add(1)
			if netif.ReadStop(err, d.closing) {
				return
			}
			continue
		}
		for _, m := range ms[:n] {
			d.c.rxPackets.Add(1)
			if m.Truncated {
				d.c.malformed.Add(1)
				continue
			}
			var b []byte
			select {
			case b = <-d.free:
			default:
				d.c.rxQueueFull.Add(1)
				continue
			}
			copy(b, m.Buf[:m.N])
			select {
			case d.rxq <- rxPacket{buf: b, n: m.N, ifindex: m.Ifindex}:
			default:
				d.free <- b
				d.c.rxQueueFull.Add(1)
			}
		}
	}
}

// loop is the owner goroutine: every change to the binding cache, the
// kernel routes and the proxy set happens here.
func (d *Daemon) loop(ctx context.Context, reload <-chan *conf.HA) {
	expiry := time.NewTimer(time.Hour)
	defer expiry.Stop()
	save := time.NewTicker(saveInterval)
	defer save.Stop()
	housekeeping := time.NewTicker(time.Second)
	defer housekeeping.Stop()
	for {
		d.armExpiry(expiry)
		select {
		case <-ctx.Done():
			return
		case p := <-d.rxq:
			d.handlePacket(p.buf[:p.n])
			d.free <- p.buf
		case s := <-d.sigq:
			d.handleSignal(s)
		case r := <-d.dadDone:
			d.dadRuns--
			d.completeDAD(r)
		case <-expiry.C:
			d.refreshRequests(d.now())
			d.expire()
		case <-housekeeping.C:
			d.housekeeping()
		case <-save.C:
			if d.dirty {
				d.save()
			}
		case cfg := <-reload:
			d.reload(cfg)
		case r := <-d.reqs:
			r.Run()
		case u, ok := <-d.lw.linkCh:
			if !ok {
				d.resubscribe()
				continue
			}
			d.onLink(u)
		case u, ok := <-d.lw.addrCh:
			if !ok {
				d.resubscribe()
				continue
			}
			d.onAddr(u)
		}
	}
}

// armExpiry sets the timer for the next binding expiry or refresh
// request, whichever comes first.
func (d *Daemon) armExpiry(t *time.Timer) {
	wait := time.Hour
	now := d.now()
	if next, ok := d.ha.NextExpiry(); ok {
		wait = min(wait, max(next.Sub(now), 0))
	}
	if next, ok := d.ha.NextRefresh(); ok {
		wait = min(wait, max(next.Sub(now), 0))
	}
	t.Reset(wait)
}

// do runs fn on the loop and waits for it; false when the daemon is
// stopping.
func (d *Daemon) do(ctx context.Context, fn func()) bool {
	return loopcall.Do(ctx, d.reqs, d.closing, fn)
}

// handlePacket processes one received packet: a Mobility Header to this
// home agent.
func (d *Daemon) handlePacket(pkt []byte) {
	l, err := mip6.WalkIPv6(pkt)
	if err != nil {
		d.c.malformed.Add(1)
		return
	}
	if l.Proto != mip6.ProtoMobility {
		if l.HAO != 0 {
			d.handleHAO(pkt, l)
		}
		return
	}
	if l.End-l.Offset < 6 {
		d.c.malformed.Add(1)
		return
	}
	mh := pkt[l.Offset:l.End]
	switch t := mip6.MHType(mh[2]); t {
	case mip6.MHBindingUpdate:
	case mip6.MHHomeTestInit, mip6.MHCareofTestInit, mip6.MHHomeTest, mip6.MHCareofTest, mip6.MHBindingAck, mip6.MHBindingRefreshRequest, mip6.MHBindingError:
		// Known messages that are not a home agent's business (return
		// routability goes to correspondents): ignored (§9.2).
		d.c.notBU.Add(1)
		return
	default:
		// An unknown MH type: Binding Error status 2 (§9.2), to the
		// source (the home address if there was a Home Address option:
		// §9.3.3 sends it to the Source Address, which the option
		// swapped in, with the home address in the message).
		d.c.notBU.Add(1)
		d.sendBindingError(l, mip6.BEUnknownMHType)
		return
	}
	now := d.now()
	res := d.ha.ProcessBU(d.buf[:0], homeagent.Packet{Src: l.Src, Dst: l.Dst, HomeAddress: l.HomeAddress, MH: mh}, now)
	d.buf = res.BA[:0]
	d.apply(res, now)
}

// apply acts on a homeagent.Result: kernel routes and proxy entries for
// the cache change, the BA, DAD, logs and counters.
func (d *Daemon) apply(res homeagent.Result, now time.Time) {
	switch res.Verdict {
	case homeagent.Drop:
		d.c.byDrop[res.Drop%32].Add(1)
		// Forged floods end here: no log fields built unless debug is on.
		if ce := d.log.Check(zap.DebugLevel, "binding update dropped"); ce != nil {
			ce.Write(zap.Stringer("reason", res.Drop), zap.Error(res.Err))
		}
		return
	case homeagent.DADPending:
		return
	case homeagent.NeedsDAD:
		d.startDAD(res.HomeAddress, res.LinkLocal)
		return
	}
	d.c.byStatus[res.Status].Add(1)
	e := res.Binding
	switch res.Change {
	case homeagent.Created:
		d.c.created.Add(1)
		d.dirty = true
		if err := d.addRoutes(e); err != nil {
			d.log.Error("route", zap.Error(err), daemon.HoA(e.HomeAddress))
		}
		addrs := []netip.Addr{e.HomeAddress}
		if res.LinkLocal.IsValid() {
			addrs = append(addrs, res.LinkLocal)
		}
		if err := d.proxy.Add(addrs...); err != nil {
			d.log.Warn("proxy", zap.Error(err), daemon.HoA(e.HomeAddress))
		}
		d.log.Info("binding created", zap.String("event", "binding_created"), daemon.HoA(e.HomeAddress), daemon.CoA(careOf(e)),
			daemon.Seq(e.Sequence), daemon.Lifetime(e.Lifetime))
	case homeagent.Refreshed:
		d.c.refreshed.Add(1)
		d.dirty = true
		d.log.Debug("binding refreshed", zap.String("event", "binding_refreshed"), daemon.HoA(e.HomeAddress), daemon.CoA(careOf(e)),
			daemon.Seq(e.Sequence), daemon.Lifetime(e.Lifetime))
	case homeagent.Moved:
		d.c.moved.Add(1)
		d.dirty = true
		if err := d.updatePrefixRoutes(res.Previous, e); err != nil {
			d.log.Error("route", zap.Error(err), daemon.HoA(e.HomeAddress))
		}
		d.log.Info("binding moved", zap.String("event", "binding_moved"), daemon.HoA(e.HomeAddress), daemon.CoA(careOf(e)),
			zap.Stringer("previous_coa", careOf(res.Previous)), daemon.Seq(e.Sequence), daemon.Lifetime(e.Lifetime))
	case homeagent.Deleted:
		d.c.deleted.Add(1)
		d.dirty = true
		// Withdraw before the BA (§10.3.2): a node back home must get its
		// BA on the home link, not through the tunnel.
		d.withdraw(e, res.LinkLocal)
		d.log.Info("binding deleted", zap.String("event", "binding_deleted"), daemon.HoA(e.HomeAddress), daemon.CoA(e.CareOf),
			daemon.Seq(e.Sequence))
	}
	if res.Change == homeagent.Created || res.Change == homeagent.Refreshed || res.Change == homeagent.Moved {
		d.syncDSMIP(e.HomeAddress, e.CareOf.Is4(), res.NAT)
		d.scheduleMPA(e, res.Change, now)
	}
	if res.Verdict == homeagent.Reply {
		d.sendBA(res)
	}
}

// sendBA sends a Binding Acknowledgement: from this home agent's address to
// the care-of address with a type 2 routing header for the home address
// (§6.1.8), or straight to the home address when the two are equal (a
// node at home).
func (d *Daemon) sendBA(res homeagent.Result) {
	var rh2 netip.Addr
	if res.HomeAddress.IsValid() && res.HomeAddress != res.BADst {
		rh2 = res.HomeAddress
	}
	var sent bool
	if res.Outer.IsValid() {
		// Over IPv4 (RFC 5555 §4): back the way the Binding Update
		// came, through the NAT mapping it opened if any.
		sent = d.send4(res.BA, res.BADst, outerEndpoint(res.OuterSrc, res.Outer), "binding acknowledgement")
	} else {
		sent = d.send(res.BA, res.BADst, rh2, "binding acknowledgement")
	}
	if !sent {
		d.c.baSendErrors.Add(1)
		return
	}
	d.c.baSent.Add(1)
	// Refreshes are the steady state: their BAs are logged at debug level,
	// like the refresh itself.
	level := zap.InfoLevel
	if res.Change == homeagent.Refreshed {
		level = zap.DebugLevel
	}
	if ce := d.log.Check(level, "binding acknowledgement sent"); ce != nil {
		var coa fmt.Stringer = res.BADst
		if res.Outer.IsValid() {
			coa = res.Outer // over IPv4: where it went, a NAT's mapping maybe
		}
		fields := []zap.Field{zap.String("event", "ba_sent"), daemon.HoA(res.HomeAddress), daemon.CoA(coa), daemon.Status(res.Status)}
		if res.Status.Accepted() && res.Change != homeagent.Deleted {
			fields = append(fields, daemon.Seq(res.Binding.Sequence), daemon.Lifetime(res.Binding.Lifetime))
		}
		ce.Write(fields...)
	}
}

// startDAD runs DAD for a new home address (and its link-local address
// with the L flag) on the home link, §10.3.1.
func (d *Daemon) startDAD(hoa, ll netip.Addr) {
	if d.dadRuns >= maxDAD {
		d.c.dadBusy.Add(1)
		return
	}
	d.dadRuns++
	d.c.dadStarted.Add(1)
	chs := []<-chan ndproxy.DADResult{d.proxy.StartDAD(hoa)}
	if ll.IsValid() {
		chs = append(chs, d.proxy.StartDAD(ll))
	}
	d.log.Debug("duplicate address detection", daemon.HoA(hoa))
	go func() {
		r := dadResult{hoa: hoa, ok: true}
		for _, ch := range chs {
			x := <-ch
			if x.Err != nil {
				r.err = x.Err
				r.ok = false
			} else if x.Duplicate {
				r.ok = false
			}
		}
		d.dadDone <- r // buffered for maxDAD: never blocks
	}()
}

func (d *Daemon) completeDAD(r dadResult) {
	if r.err != nil {
		// The probe could not be sent: the outcome is unknown. Refusing
		// (134) would be wrong and accepting unsafe; drop, the mobile
		// node retransmits and DAD runs again.
		d.log.Warn("duplicate address detection failed", zap.Error(r.err), daemon.HoA(r.hoa))
		return
	}
	if !r.ok {
		d.c.dadDuplicate.Add(1)
		d.log.Warn("home address in use on the home link", daemon.HoA(r.hoa))
	}
	now := d.now()
	res := d.ha.CompleteDAD(d.buf[:0], r.hoa, r.ok, now)
	d.buf = res.BA[:0]
	d.apply(res, now)
}

// expire withdraws the bindings whose lifetime ran out.
func (d *Daemon) expire() {
	for _, e := range d.ha.Tick(d.now()) {
		d.c.expired.Add(1)
		d.dirty = true
		d.withdraw(e, linkLocalOf(e))
		d.log.Info("binding expired", zap.String("event", "binding_expired"), daemon.HoA(e.HomeAddress), daemon.CoA(e.CareOf))
	}
}

// withdraw stops intercepting for a binding: proxy entries, then routes.
func (d *Daemon) withdraw(e binding.Entry, ll netip.Addr) {
	addrs := []netip.Addr{e.HomeAddress}
	if ll.IsValid() {
		addrs = append(addrs, ll)
	}
	d.proxy.Remove(addrs...)
	d.mpa.remove(e.HomeAddress)
	d.dropDSMIP(e.HomeAddress)
	if err := d.delRoutes(e); err != nil {
		d.log.Warn("route", zap.Error(err), daemon.HoA(e.HomeAddress))
	}
}

// linkLocalOf is the link-local address a binding with the L flag defends
// (§10.3.1): fe80::/64 with the home address's interface identifier.
func linkLocalOf(e binding.Entry) netip.Addr {
	if e.Flags&mip6.BUFlagL == 0 {
		return netip.Addr{}
	}
	return ndproxy.LinkLocal(e.HomeAddress)
}

// save writes the binding cache to the state file.
func (d *Daemon) save() {
	if d.cfg.StateFile == "" || d.ha == nil {
		return
	}
	if err := binding.SaveStateFile(d.ha.Cache(), d.cfg.StateFile); err != nil {
		d.c.stateErrors.Add(1)
		d.log.Error("saving state", zap.Error(err), zap.String("file", d.cfg.StateFile))
		return
	}
	d.c.stateSaves.Add(1)
	d.dirty = false
}

// reload applies a new configuration (SIGHUP). What can change without a
// restart: the mobile nodes and their keys, lifetimes, rate limits, the
// router advertisement content. The home link, the addresses, the control
// socket and the tun device need a restart; a new configuration that
// changes them is refused whole (the old one stays).
func (d *Daemon) reload(cfg *conf.HA) {
	if uplinkChanged(cfg.Uplink, d.cfg.Uplink) {
		d.log.Error("reload refused: [uplink] needs a restart; keeping the old configuration")
		return
	}
	if cfg.Home.Interface != d.cfg.Home.Interface || cfg.Home.Address != d.cfg.Home.Address ||
		cfg.Home.Prefix != d.cfg.Home.Prefix || cfg.Control != d.cfg.Control ||
		!sameIPv4(cfg.IPv4, d.cfg.IPv4) || cfg.StateFile != d.cfg.StateFile ||
		cfg.RouterAdvertisements.Enabled != d.cfg.RouterAdvertisements.Enabled {
		d.log.Error("reload refused: home.interface, home.address, home.prefix, state_file, [control], [ipv4] and router_advertisements.enabled need a restart; keeping the old configuration")
		return
	}
	dropped, err := d.ha.Reload(cfg, d.now())
	if err != nil {
		d.log.Error("reload refused; keeping the old configuration", zap.Error(err))
		return
	}
	for _, e := range dropped {
		d.withdraw(e, linkLocalOf(e))
		d.dirty = true
		d.log.Info("binding dropped by reload", zap.String("event", "binding_deleted"), daemon.HoA(e.HomeAddress), daemon.CoA(e.CareOf))
	}
	params := ra.ParamsFromConfig(cfg, d.home.HardwareAddr)
	d.cfg = cfg
	prefixChanged := !reflect.DeepEqual(d.params.MobilePrefixAdvertisement(0), params.MobilePrefixAdvertisement(0))
	d.setParams(params)
	d.mpa.setIntervals(cfg.Home.MobilePrefixMinInterval.Std(), cfg.Home.MobilePrefixMaxInterval.Std(), params.PreferredLifetime)
	if prefixChanged {
		// The home prefix's information changed (its lifetimes): tell
		// every mobile node away from home with an unsolicited Mobile
		// Prefix Advertisement, retransmitted until it answers (RFC
		// 6275 §10.6.2). Sent by housekeeping, paced: a large cache
		// must not burst.
		d.mpa.changedAll(d.now())
	}
	d.log.Info("configuration reloaded", zap.Int("mobile_nodes", len(cfg.MobileNodes)), zap.Int("dropped", len(dropped)))
}

// closeAll releases everything New opened, in the order that loses the
// least: stop answering for the home addresses first (the neighbours fall
// back to the mobile nodes' own answers, or to nothing), then the tunnel
// (its routes go with the device), the sockets, the RA sender (its final
// RA tells hosts this router leaves), the control socket.
func (d *Daemon) closeAll() {
	var errs []error
	d.closeLinkWatch()
	if d.proxy != nil {
		errs = append(errs, d.proxy.Close())
	}
	// Proxy ARP entries for IPv4 home addresses live on the home link,
	// not in the tun device: they do not go with it.
	errs = append(errs, d.closeDSMIP())
	if d.fwd != nil {
		errs = append(errs, d.fwd.Close())
	}
	errs = append(errs, d.closeUplink())
	if d.rx != nil {
		errs = append(errs, d.rx.Close())
	}
	if d.tx != nil {
		errs = append(errs, d.tx.Close())
	}
	if d.ras != nil {
		errs = append(errs, d.ras.Close())
	}
	if d.dhaad != nil {
		errs = append(errs, d.dhaad.c.Close())
	}
	if d.ctl != nil {
		errs = append(errs, d.ctl.Close())
	}
	errs = append(errs, d.delFirewall())
	if d.nl != nil {
		d.nl.Close()
	}
	if d.netns != nil {
		d.netns.Close()
	}
	if err := errors.Join(errs...); err != nil {
		d.log.Warn("shutdown", zap.Error(err))
	}
}
