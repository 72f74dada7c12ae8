package mnd

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/internal/control"
	"github.com/gomip6/gomip6/internal/daemon"
	"github.com/gomip6/gomip6/internal/rawsock"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/mobilenode"
	"github.com/gomip6/gomip6/tunnel"
	"github.com/gomip6/gomip6/tunnel/ebpf"
)

// Options are the knobs of a Daemon that are not in mnd.toml.
type Options struct {
	// Logger receives the daemon's logs; nil logs nothing. The package
	// never creates a global logger.
	Logger *zap.Logger
	// DeregisterTimeout bounds how long a shutdown away from home waits
	// for the Binding Acknowledgement of its de-registration; 0 means
	// DefaultDeregisterTimeout.
	DeregisterTimeout time.Duration
	// Movement overrides the movement detection tuning (flap damping,
	// router loss); its Interfaces, HomePrefix and HomeAddress are
	// always taken from the configuration.
	Movement mobilenode.MovementConfig
	// Liveness is how long data may go out through the home tunnel
	// with nothing coming back before a refresh Binding Update repairs
	// the path (liveness.go); 0 means DefaultLiveness.
	Liveness time.Duration
}

// DefaultDeregisterTimeout covers INITIAL_BINDACK_TIMEOUT (1 s, RFC 6275
// §13) and one retransmission: a shutdown must not hang on a home agent
// that is gone.
const DefaultDeregisterTimeout = 3 * time.Second

// Daemon is one mobile node daemon. Build it with New, run it with Run.
type Daemon struct {
	opts Options
	log  *zap.Logger

	// nsfd is the network namespace New was called in; Run's event loop
	// runs on a thread switched into it, so that everything the daemon
	// creates later (netlink sockets, AF_PACKET listeners for interfaces
	// that appear, /proc/sys/net writes) is in the same namespace.
	nsfd int

	reloadCh chan reloadReq
	running  chan struct{} // closed when Run's loop is up
	started  atomic.Bool

	mu       sync.Mutex
	cfg      *conf.MN
	status   Status
	counters Counters
	tun      *tunnel.Tunnel
	accel    *ebpf.Accelerator // the engine's, for KernelPathStats
	// ro are the route optimization counters (ro_linux.go), written
	// by the data path without the lock.
	ro roCounters
}

type reloadReq struct {
	cfg *conf.MN
	err chan error
}

// New checks cfg and prepares a daemon for it, touching nothing in the
// kernel: Run creates the tunnel device, sockets and routes. New must be
// called from the network namespace the daemon is to work in (a test
// calls it inside netlab.NS.Do); Run may then be called, once, from any
// goroutine. New holds a descriptor of the namespace until Run returns.
func New(cfg *conf.MN, opts Options) (*Daemon, error) {
	if _, err := mobilenode.ConfigFromMN(withHA(cfg, placeholderHA(cfg))); err != nil {
		return nil, fmt.Errorf("mnd: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.DeregisterTimeout == 0 {
		opts.DeregisterTimeout = DefaultDeregisterTimeout
	}
	fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("mnd: network namespace: %w", err)
	}
	d := &Daemon{
		opts:     opts,
		log:      opts.Logger,
		nsfd:     fd,
		cfg:      cfg,
		reloadCh: make(chan reloadReq),
		running:  make(chan struct{}),
	}
	d.status = d.baseStatus(cfg)
	return d, nil
}

func (d *Daemon) baseStatus(cfg *conf.MN) Status {
	return Status{
		Role:          "mn",
		HomeAddress:   cfg.HomeAddress,
		HomeAgent:     cfg.HomeAgent,
		Encapsulation: encapsulation(tunnel.KindIPv6),
		State:         mobilenode.Unregistered.String(),
		Bindings:      []BindingStatus{},
	}
}

// Status returns the current status. Safe for concurrent use.
func (d *Daemon) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.status
	s.Bindings = slices.Clone(s.Bindings)
	return s
}

// Counters returns the event counters. Safe for concurrent use.
func (d *Daemon) Counters() Counters {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.counters
	d.ro.fill(&c)
	return c
}

// Reload applies a new, validated configuration (SIGHUP). The security
// association (spi, key, algorithm) and the lifetime take effect at once:
// the registration starts over with them, re-registering the current
// care-of address. Changing the node's identity or topology (id,
// home_address, home_prefix, home_agent, interfaces, tunnel_interface,
// control.socket) needs a restart: Reload refuses it and keeps the old
// configuration. Safe for concurrent use; before Run it only replaces
// the configuration.
func (d *Daemon) Reload(cfg *conf.MN) error {
	d.mu.Lock()
	old := d.cfg
	d.mu.Unlock()
	if err := reloadable(old, cfg); err != nil {
		return err
	}
	if _, err := mobilenode.ConfigFromMN(withHA(cfg, placeholderHA(cfg))); err != nil {
		return fmt.Errorf("mnd: %w", err)
	}
	select {
	case <-d.running:
	default:
		d.mu.Lock()
		d.cfg = cfg
		d.mu.Unlock()
		return nil
	}
	req := reloadReq{cfg: cfg, err: make(chan error, 1)}
	select {
	case d.reloadCh <- req:
		return <-req.err
	case <-time.After(5 * time.Second):
		return errors.New("mnd: reload: the daemon is not answering")
	}
}

// Run runs the daemon until ctx is done, then shuts down cleanly: it
// de-registers (away from home), removes the routes, rules and addresses it
// installed and the tunnel device, and returns nil. An error means the
// daemon could not start (or could not switch namespaces); what it had
// installed is removed then too.
func (d *Daemon) Run(ctx context.Context) error {
	if !d.started.CompareAndSwap(false, true) {
		return errors.New("mnd: Run called twice")
	}
	// The loop's goroutine owns a thread inside the daemon's namespace
	// for its whole life.
	runtime.LockOSThread()
	cur, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("mnd: network namespace: %w", err)
	}
	defer unix.Close(cur)
	defer unix.Close(d.nsfd)
	switched := false
	if !sameFile(cur, d.nsfd) {
		if err := unix.Setns(d.nsfd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			return fmt.Errorf("mnd: entering the network namespace: %w", err)
		}
		switched = true
	}
	defer func() {
		if switched {
			if err := unix.Setns(cur, unix.CLONE_NEWNET); err != nil {
				// Leave the thread locked: the runtime destroys it
				// when this goroutine ends, instead of reusing a
				// thread in the wrong namespace.
				return
			}
		}
		runtime.UnlockOSThread()
	}()

	d.mu.Lock()
	cfg := d.cfg
	d.mu.Unlock()
	r, err := newRuntime(d, cfg)
	if err != nil {
		return err
	}
	return r.run(ctx)
}

func sameFile(a, b int) bool {
	var sa, sb unix.Stat_t
	if unix.Fstat(a, &sa) != nil || unix.Fstat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// mhMsg is a received Mobility Header.
type mhMsg struct {
	iface string
	pkt   mobilenode.Packet
}

// raMsg is a received, validated Router Advertisement.
type raMsg struct {
	ifindex int
	src     netip.Addr
	ra      *mip6.RouterAdvertisement
}

// runtime is what Run owns: everything here belongs to the loop goroutine.
type engine struct {
	d *Daemon
	// fileCfg is the configuration as loaded; cfg the one in effect, the
	// same with the discovered home agent filled in (DHAAD).
	fileCfg *conf.MN
	cfg     *conf.MN
	log     *zap.Logger

	h      *netlink.Handle
	table  *tunnel.Table
	tun    *tunnel.Tunnel
	fwd    *tunnel.Forwarder
	accel  *ebpf.Accelerator // [tunnel] kernel_path (kernelpath_linux.go); nil when off or not running
	sender *rawsock.Sender
	icmp   *icmpConn
	// ctl serves the control API (and control.metrics_listen).
	ctl *control.Endpoint

	reg *mobilenode.Registration
	mov *mobilenode.Movement

	done      chan struct{}
	wg        sync.WaitGroup
	linkCh    chan netlink.LinkUpdate
	addrCh    chan netlink.AddrUpdate
	linkSub   chan netlink.LinkUpdate // the subscriptions' channels, drained at teardown
	addrSub   chan netlink.AddrUpdate
	mhCh      chan mhMsg
	raCh      chan raMsg
	ppCh      chan []byte
	dhaadCh   chan dhaadReply
	errCh     chan error
	listeners map[string]*rawsock.Listener

	// Interfaces by index and name, with their state.
	ifByIndex map[int]string
	ifIndex   map[string]int
	linkUp    map[string]bool
	// relink are the interfaces that went down since the last plan was
	// applied: their routes are replaced whatever the plan says.
	relink    map[string]bool
	rsPending map[string]bool
	routers   map[string]netip.Addr   // last default router seen per interface
	raSeen    map[string][]netip.Addr // routers heard since the link came up
	// sysctls are the original values of the sysctls changed
	// (sysctl_linux.go), also in the journal file sysctlJournal
	// (sysctlLoaded: read at the first change).
	sysctls       []sysctlSave
	sysctlJournal string
	sysctlLoaded  bool

	// Installed state.
	plan       Plan
	dhaad      dhaadState
	hoaOnTun   bool
	hoaOnIface string // the access interface we added the home address to
	tunIndex   int
	cur        mobilenode.MoveEvent
	atHome     bool
	stopping   bool

	// ds is the Dual-Stack MIPv6 state (dsmip_linux.go).
	ds dsmipState
	// live is the tunnel liveness check (liveness_linux.go).
	live liveWatch
	// ro is the route optimization state (ro_linux.go).
	ro roState
	// dna is the Detecting Network Attachment state (dna_linux.go).
	dna dnaState
	// nud is the default routers' reachability (nud_linux.go).
	nud nudState
	// addrLft are the access interfaces' address lifetimes (lifetime.go).
	addrLft addrLifetimes
	// has is the DHAAD home agent list (hafallback.go), mps the mobile
	// prefix discovery (mps.go, mps_linux.go).
	has haCandidates
	mps mpsLoop
}

func newRuntime(d *Daemon, cfg *conf.MN) (r *engine, err error) {
	r = &engine{
		d:         d,
		fileCfg:   cfg,
		cfg:       cfg,
		log:       d.log,
		done:      make(chan struct{}),
		linkCh:    make(chan netlink.LinkUpdate, 64),
		addrCh:    make(chan netlink.AddrUpdate, 64),
		mhCh:      make(chan mhMsg, 64),
		raCh:      make(chan raMsg, 64),
		ppCh:      make(chan []byte, 16),
		dhaadCh:   make(chan dhaadReply, 4),
		errCh:     make(chan error, 4),
		listeners: map[string]*rawsock.Listener{},
		ifByIndex: map[int]string{},
		ifIndex:   map[string]int{},
		linkUp:    map[string]bool{},
		relink:    map[string]bool{},
		rsPending: map[string]bool{},
		routers:   map[string]netip.Addr{},
		raSeen:    map[string][]netip.Addr{},
		addrLft:   addrLifetimes{},
	}
	defer func() {
		if err != nil {
			r.teardown()
		}
	}()
	if cfg.HomeAgent.IsValid() {
		if err := r.newCores(cfg); err != nil {
			return nil, err
		}
	}
	mc := d.opts.Movement
	mc.Interfaces, mc.HomePrefix, mc.HomeAddress = cfg.Interfaces, cfg.HomePrefix, cfg.HomeAddress
	if r.mov, err = mobilenode.NewMovement(mc); err != nil {
		return nil, fmt.Errorf("mnd: %w", err)
	}
	if r.h, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
		return nil, fmt.Errorf("mnd: netlink: %w", err)
	}
	// A tunnel device left by a crashed run would make the tun creation
	// fail; it is ours by name (mnd.toml tunnel_interface).
	if l, err := r.h.LinkByName(cfg.TunnelInterface); err == nil {
		r.log.Warn("removing a leftover tunnel device", daemon.Iface(cfg.TunnelInterface))
		_ = r.h.LinkDel(l)
	}
	r.table = tunnel.NewTable(1)
	if r.tun, err = tunnel.New(tunnel.Config{Role: tunnel.RoleMobileNode, ErrorSource: cfg.HomeAddress}, r.table); err != nil {
		return nil, fmt.Errorf("mnd: %w", err)
	}
	d.mu.Lock()
	d.tun = r.tun
	d.mu.Unlock()
	r.dsmipInit(cfg)
	r.dnaInit()
	fc := r.forwarderConfig(cfg)
	r.useKernelPath(&fc, cfg)
	r.fwd, err = tunnel.NewForwarder(r.tun, fc)
	if err != nil {
		return nil, fmt.Errorf("mnd: tunnel device %s: %w", cfg.TunnelInterface, err)
	}
	r.kernelPathStarted()
	if l, err := r.h.LinkByName(cfg.TunnelInterface); err == nil {
		r.tunIndex = l.Attrs().Index
	}
	// The tun device needs no IPv6 link-local address or DAD of its own.
	r.setSysctl(cfg.TunnelInterface, "addr_gen_mode", "1")
	if r.sender, err = rawsock.NewSender(""); err != nil {
		return nil, fmt.Errorf("mnd: %w", err)
	}
	if r.icmp, err = listenICMP(); err != nil {
		return nil, fmt.Errorf("mnd: %w", err)
	}
	if r.ctl, err = control.Open(cfg.Control.Socket, cfg.Control.MetricsListen, d.handler()); err != nil {
		return nil, fmt.Errorf("mnd: %w", err)
	}
	r.ctl.Serve(nil)
	errcb := func(err error) {
		select {
		case r.errCh <- err:
		default:
		}
	}
	if err := netlink.LinkSubscribeWithOptions(r.linkCh, r.done, netlink.LinkSubscribeOptions{ListExisting: true, ErrorCallback: errcb}); err != nil {
		return nil, fmt.Errorf("mnd: link events: %w", err)
	}
	r.linkSub = r.linkCh
	if err := netlink.AddrSubscribeWithOptions(r.addrCh, r.done, netlink.AddrSubscribeOptions{ListExisting: true, ErrorCallback: errcb}); err != nil {
		return nil, fmt.Errorf("mnd: address events: %w", err)
	}
	r.addrSub = r.addrCh
	if err := r.nudStart(errcb); err != nil {
		return nil, fmt.Errorf("mnd: neighbour events: %w", err)
	}
	if err := r.dsmipStart(); err != nil {
		return nil, fmt.Errorf("mnd: route events: %w", err)
	}
	if err := r.roInit(cfg); err != nil {
		return nil, fmt.Errorf("mnd: route optimization: %w", err)
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.icmp.readLoop(r.done, r.raCh, r.ppCh, r.dhaadCh, r.d.counterInvalidRA)
	}()
	return r, nil
}

// newCores builds a fresh Registration for cfg.
func (r *engine) newCores(cfg *conf.MN) error {
	rc, err := mobilenode.ConfigFromMN(cfg)
	if err != nil {
		return fmt.Errorf("mnd: %w", err)
	}
	var b [2]byte
	if _, err := rand.Read(b[:]); err == nil {
		rc.InitialSequence = uint16(b[0])<<8 | uint16(b[1])
	}
	reg, err := mobilenode.NewRegistration(rc)
	if err != nil {
		return fmt.Errorf("mnd: %w", err)
	}
	r.reg = reg
	return nil
}

func (d *Daemon) counterInvalidRA() {
	d.mu.Lock()
	d.counters.RAInvalid++
	d.mu.Unlock()
}

func (d *Daemon) count(f func(c *Counters)) {
	d.mu.Lock()
	f(&d.counters)
	d.mu.Unlock()
}

// run is the event loop.
func (r *engine) run(ctx context.Context) error {
	close(r.d.running)
	ha := zap.String(daemon.KeyHA, "to be discovered (DHAAD)")
	if r.cfg.HomeAgent.IsValid() {
		ha = daemon.HA(r.cfg.HomeAgent)
	}
	r.log.Info("mnd started", daemon.HoA(r.cfg.HomeAddress), ha,
		zap.Strings("interfaces", r.cfg.Interfaces), daemon.Iface(r.cfg.TunnelInterface))
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		// The IPv4 home address follows the state the last event left
		// (dsmip_linux.go), before the snapshot shows it.
		if r.ds.enabled {
			r.syncIPv4Home()
		}
		r.publish()
		r.arm(timer)
		select {
		case <-ctx.Done():
			r.shutdown()
			return nil
		case u, ok := <-r.linkCh:
			if !ok {
				r.linkCh = nil
				r.log.Error("link event subscription ended")
				continue
			}
			r.onLink(u)
		case u, ok := <-r.addrCh:
			if !ok {
				r.addrCh = nil
				r.log.Error("address event subscription ended")
				continue
			}
			r.onAddr(u)
		case u, ok := <-r.ds.routeCh:
			r.onRoute4(u, ok)
		case u, ok := <-r.nud.ch:
			r.onNeigh(u, ok)
		case m := <-r.raCh:
			r.onRA(m)
		case m := <-r.dna.naCh:
			r.onNA(m)
		case m := <-r.mhCh:
			r.onMH(m)
		case cn := <-r.ro.learnCh:
			r.roLearn(cn)
		case m := <-r.mps.ch:
			r.onMPA(m)
		case q := <-r.ppCh:
			r.onParamProblem(q)
		case m := <-r.dhaadCh:
			r.onDHAADReply(m)
		case err := <-r.errCh:
			r.log.Warn("netlink", zap.Error(err))
		case <-timer.C:
			now := time.Now()
			r.moves(r.mov.Timer(now))
			r.solicitDue(now)
			if r.reg != nil {
				r.output(r.reg.Timer(now))
			}
			r.dhaadTimer(now)
			r.mpsTimer(now)
			r.roTimer(now)
			r.livenessTimer(now)
		case req := <-r.d.reloadCh:
			req.err <- r.reload(req.cfg)
		}
	}
}

// arm sets timer to the earliest deadline of the two cores.
func (r *engine) arm(t *time.Timer) {
	next := time.Now().Add(time.Hour)
	if r.reg != nil {
		if at, ok := r.reg.NextTimer(); ok && at.Before(next) {
			next = at
		}
	}
	if at := r.dhaad.next; !at.IsZero() && at.Before(next) {
		next = at
	}
	if at, ok := r.mov.NextTimer(); ok && at.Before(next) {
		next = at
	}
	if at, ok := r.roNext(); ok && at.Before(next) {
		next = at
	}
	if at, ok := r.mpsNext(); ok && at.Before(next) {
		next = at
	}
	if at, ok := r.livenessNext(); ok && at.Before(next) {
		next = at
	}
	t.Reset(max(time.Until(next), 0))
}

// publish copies the state into the status snapshot.
func (r *engine) publish() {
	now := time.Now()
	var e mobilenode.BULEntry
	if r.reg != nil {
		e = r.reg.Entry()
	}
	st := r.d.baseStatus(r.cfg)
	st.AtHome = r.atHome
	st.Interface = r.cur.Interface
	st.State = e.State.String()
	if r.reg == nil {
		st.State = "discovering-home-agent"
		if r.atHome {
			st.State = mobilenode.AtHome.String()
		}
	}
	if !r.atHome {
		st.CareOfAddress = r.cur.CareOf
		st.Registered = (e.State == mobilenode.Registered || e.State == mobilenode.Refreshing) &&
			e.HasBinding(now) && e.BoundCareOf == r.cur.CareOf
	}
	if e.Peer.IsValid() && (e.SentAt != time.Time{}) {
		st.Bindings = append(st.Bindings, bindingStatus(e, now))
	}
	r.dsmipStatus(&st)
	r.roStatus(&st, now)
	r.haStatus(&st, now)
	r.d.mu.Lock()
	r.d.status = st
	r.d.cfg = r.fileCfg
	r.d.mu.Unlock()
}

func (r *engine) reload(cfg *conf.MN) error {
	if err := reloadable(r.fileCfg, cfg); err != nil {
		return err
	}
	sa := r.cfg.SPI != cfg.SPI || string(r.cfg.Key) != string(cfg.Key) || r.cfg.Algorithm != cfg.Algorithm || r.cfg.Lifetime != cfg.Lifetime
	r.fileCfg = cfg
	r.cfg = withHA(cfg, r.cfg.HomeAgent)
	r.roReload(r.cfg)
	if !sa || r.reg == nil {
		r.log.Info("configuration reloaded")
		return nil
	}
	if err := r.newCores(r.cfg); err != nil {
		return err
	}
	r.log.Info("configuration reloaded: new security association or lifetime, registering again")
	now := time.Now()
	switch {
	case r.atHome:
		r.output(r.reg.ReturnedHome(now))
	case r.cur.Kind == mobilenode.MovedTo:
		// The new core starts unbounded: the addresses' lifetimes
		// first (lifetime_linux.go).
		r.boundMoves(nil)
		r.output(r.reg.Moved(r.cur.CareOf, now))
	}
	return nil
}

// onLink handles a link event of any interface.
func (r *engine) onLink(u netlink.LinkUpdate) {
	a := u.Link.Attrs()
	if u.Header.Type == unix.RTM_DELLINK {
		delete(r.ifByIndex, a.Index)
		if r.ifIndex[a.Name] == a.Index {
			delete(r.ifIndex, a.Name)
		}
		if r.linkUp[a.Name] {
			r.linkDown(a.Name)
		}
		if l := r.listeners[a.Name]; l != nil {
			l.Close()
			delete(r.listeners, a.Name)
		}
		r.dnaClose(a.Name)
		return
	}
	r.ifByIndex[a.Index] = a.Name
	r.ifIndex[a.Name] = a.Index
	if !slices.Contains(r.cfg.Interfaces, a.Name) {
		return
	}
	if _, seen := r.linkUp[a.Name]; !seen {
		r.linkUp[a.Name] = false
		r.prepareIface(a.Name)
	}
	if r.listeners[a.Name] == nil {
		r.listen(a.Name, a.Index)
	}
	r.dnaListen(a.Name, a.Index)
	// Up means operationally up (RFC 2863 operstate, which Linux sets
	// through linkwatch, up to a second after the carrier): that is when
	// IPv6 address configuration starts on the link, so nothing can be
	// sent before anyway.
	up := a.RawFlags&unix.IFF_UP != 0 && a.RawFlags&unix.IFF_LOWER_UP != 0 &&
		(a.OperState == netlink.OperUp || a.OperState == netlink.OperUnknown)
	// Every event updates the carrier down count; one that finds the
	// link up as before after the count moved was a flap the events
	// did not show (carrier.go): it is handled as the down and the up
	// it was, so that DNA and a Router Solicitation look again.
	flapped := r.carrierFlapped(a.Name, a.Index)
	if up == r.linkUp[a.Name] {
		if !up || !flapped {
			return
		}
		r.d.count(func(c *Counters) { c.CarrierFlaps++ })
		r.log.Info("carrier lost and back between link events", zap.String("event", "link_flap"), daemon.Iface(a.Name))
		r.linkDown(a.Name)
	}
	if !up {
		r.linkDown(a.Name)
		return
	}
	r.linkUp[a.Name] = true
	r.d.count(func(c *Counters) { c.LinkEvents++ })
	r.log.Info("link up", zap.String("event", "link"), daemon.Iface(a.Name), zap.Bool("up", true))
	now := time.Now()
	r.moves(r.mov.LinkUp(a.Name, now))
	// RFC 6059: probe the routers of the links we know at once; an
	// answer identifies the link before any RA.
	r.dnaProbe(a.Name)
	// RFC 4861 §6.3.7: solicit at once rather than wait for the next
	// unsolicited RA, and again on Movement's schedule until a router
	// advertises (nud_linux.go). Without a link-local address yet the
	// kernel cannot send it; the address event retries.
	r.solicitDue(now)
}

func (r *engine) linkDown(name string) {
	r.linkUp[name] = false
	delete(r.rsPending, name)
	delete(r.raSeen, name)
	r.d.count(func(c *Counters) { c.LinkEvents++ })
	r.log.Info("link down", zap.String("event", "link"), daemon.Iface(name), zap.Bool("up", false))
	// An interface taken down administratively loses its routes in the
	// kernel, one that only lost its carrier keeps them: we cannot tell
	// which, so the next plan replaces our routes through it even when
	// they are the same (the link comes back on the same network), and
	// still deletes the ones it no longer has (a route through the
	// previous network's router must not outlive the move: it would
	// send the de-registration to a router that is gone).
	r.relink[name] = true
	r.moves(r.mov.LinkDown(name, time.Now()))
}

// prepareIface sets the access interface up for fast care-of address
// formation: optimistic DAD (RFC 4429) so the SLAAC address is usable the
// moment the kernel forms it, and preferred as a source while optimistic.
// Written through /proc/sys/net of the daemon's namespace (the loop's
// thread is in it); the old values are restored at shutdown, or by
// -cleanup after a crash (sysctl.go).
func (r *engine) prepareIface(name string) {
	r.setSysctl(name, "optimistic_dad", "1")
	r.setSysctl(name, "use_optimistic", "1")
	for _, k := range []string{"accept_ra", "autoconf"} {
		if v, err := readSysctl(name, k); err == nil && v == "0" {
			r.log.Warn("care-of addresses need "+k+" on the access interface; it is 0", daemon.Iface(name))
		}
	}
}

// listen opens the AF_PACKET listener of an access interface: the kernel
// (no CONFIG_IPV6_MIP6) drops Binding Acknowledgements with a type 2
// routing header, and Mobility Headers at all, before any socket sees them.
func (r *engine) listen(name string, index int) {
	// Any destination: the care-of address changes with every move, and
	// an AF_PACKET socket that is not promiscuous only sees frames for
	// this host anyway.
	prog, err := rawsock.Assemble(rawsock.IPv6Filter(rawsock.IPv6Spec{Link: rawsock.LinkIP, Match: rawsock.MatchAll, AnyDestination: true}))
	if err != nil {
		r.log.Error("filter", zap.Error(err))
		return
	}
	l, err := rawsock.Listen(&net.Interface{Index: index, Name: name}, rawsock.Config{Filter: prog})
	if err != nil {
		r.log.Error("listening for mobility headers", daemon.Iface(name), zap.Error(err))
		return
	}
	r.listeners[name] = l
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		readMH(l, name, r.done, r.mhCh)
	}()
}

func (r *engine) onAddr(u netlink.AddrUpdate) {
	if r.onAddr4(u) {
		return
	}
	name, ok := r.ifByIndex[u.LinkIndex]
	if !ok || !slices.Contains(r.cfg.Interfaces, name) {
		return
	}
	a, ok := netip.AddrFromSlice(u.LinkAddress.IP)
	if !ok || !a.Unmap().Is6() {
		return
	}
	a = a.Unmap()
	if a.IsLinkLocalUnicast() {
		r.log.Debug("link-local address", daemon.Iface(name), zap.Stringer("addr", a), zap.Bool("new", u.NewAddr), zap.Int("flags", u.Flags), zap.Bool("rs_pending", r.rsPending[name]))
		if u.NewAddr && r.rsPending[name] && u.Flags&unix.IFA_F_DADFAILED == 0 {
			r.solicit(name)
		}
		r.dnaLinkLocal(name, a, u.NewAddr, u.Flags)
		return
	}
	if !a.IsGlobalUnicast() || a == r.cfg.HomeAddress {
		return
	}
	now := time.Now()
	r.addrLft.note(a, u.ValidLft, u.NewAddr && u.Flags&unix.IFA_F_DADFAILED == 0, now)
	usable := u.NewAddr && u.Flags&unix.IFA_F_DADFAILED == 0 &&
		(u.Flags&unix.IFA_F_TENTATIVE == 0 || u.Flags&unix.IFA_F_OPTIMISTIC != 0)
	switch {
	case usable:
		r.moves(r.mov.AddressAdded(name, a, now))
	case !u.NewAddr || u.Flags&unix.IFA_F_DADFAILED != 0:
		r.moves(r.mov.AddressRemoved(name, a, now))
	}
}

func (r *engine) solicit(name string) {
	idx, ok := r.ifIndex[name]
	if !ok {
		return
	}
	if err := r.icmp.sendRS(idx); err != nil {
		r.log.Debug("router solicitation not sent yet", daemon.Iface(name), zap.Error(err))
		return
	}
	delete(r.rsPending, name)
	r.log.Debug("router solicitation sent", daemon.Iface(name))
}

func (r *engine) onRA(m raMsg) {
	name, ok := r.ifByIndex[m.ifindex]
	if !ok || !slices.Contains(r.cfg.Interfaces, name) {
		return
	}
	r.d.count(func(c *Counters) { c.RAReceived++ })
	if m.ra.RouterLifetime > 0 {
		r.routers[name] = m.src
	} else if r.routers[name] == m.src {
		delete(r.routers, name)
	}
	home := false
	for _, o := range m.ra.Options {
		if pi, ok := o.(*mip6.PrefixInformation); ok && pi.Prefix.Masked() == r.cfg.HomePrefix.Masked() {
			home = true
		}
	}
	// The first RA from a router since the link came up is news (the
	// lab's timeline wants it); the periodic ones after it are debug.
	level := zap.DebugLevel
	if !slices.Contains(r.raSeen[name], m.src) {
		r.raSeen[name] = append(r.raSeen[name], m.src)
		level = zap.InfoLevel
	}
	if ce := r.log.Check(level, "router advertisement"); ce != nil {
		ce.Write(zap.String("event", "ra"), daemon.Iface(name), zap.Stringer("router", m.src),
			zap.Duration("router_lifetime", m.ra.RouterLifetime), zap.Bool("home_prefix", home))
	}
	r.moves(r.mov.RouterAdvertisement(name, m.src, m.ra, time.Now()))
}

func (r *engine) onMH(m mhMsg) {
	if len(m.pkt.MH) < 3 {
		return
	}
	typ := mip6.MHType(m.pkt.MH[2])
	if r.roMH(m) {
		return
	}
	if r.reg == nil {
		return
	}
	out, err := r.reg.HandleMH(m.pkt, time.Now())
	if err != nil {
		r.d.count(func(c *Counters) { c.MHIgnored++ })
		r.log.Debug("mobility header ignored", daemon.Iface(m.iface), zap.Stringer("type", typ), zap.Stringer("from", m.pkt.Src), zap.Error(err))
		return
	}
	r.d.count(func(c *Counters) { c.BAReceived++ })
	if typ == mip6.MHBindingAck {
		st := mip6.Status(0)
		for _, e := range out.Events {
			st = e.Status
		}
		r.log.Info("binding acknowledgement received", zap.String("event", "ba_received"), daemon.Iface(m.iface),
			daemon.HA(m.pkt.Src), daemon.HoA(r.cfg.HomeAddress), daemon.Status(st), zap.Stringer("state", r.reg.State()))
	} else {
		r.log.Info("mobility message received", zap.String("event", "mh_received"), zap.Stringer("type", typ), daemon.HA(m.pkt.Src))
	}
	r.output(out)
}

// onParamProblem handles an ICMPv6 Parameter Problem (q from its type
// octet): about our Home Address option in a packet to the home agent, it
// is reported to the registration, which logs it and carries on (see
// mobilenode.Registration.ParameterProblem).
func (r *engine) onParamProblem(q []byte) {
	if len(q) < 8+40 || q[1] != 2 {
		return
	}
	ptr := int(uint32(q[4])<<24 | uint32(q[5])<<16 | uint32(q[6])<<8 | uint32(q[7]))
	lay, err := mip6.WalkIPv6(q[8:])
	if err == nil && lay.HAO != 0 && ptr == lay.HAO-2 && r.roParamProblem(lay.Dst) {
		return
	}
	if err != nil || lay.HAO == 0 || ptr != lay.HAO-2 || lay.Dst != r.cfg.HomeAgent || r.reg == nil {
		return
	}
	r.d.count(func(c *Counters) { c.ParamProblems++ })
	r.output(r.reg.ParameterProblem(time.Now()))
}

// moves acts on movement decisions.
func (r *engine) moves(evs []mobilenode.MoveEvent) {
	evs = r.boundMoves(r.dsmipMoves(evs))
	for _, ev := range evs {
		if r.stopping {
			r.cur = ev
			continue
		}
		now := time.Now()
		switch ev.Kind {
		case mobilenode.MovedTo:
			r.d.count(func(c *Counters) { c.Moves++ })
			r.log.Info("moved", zap.String("event", "moved"), daemon.Iface(ev.Interface), daemon.CoA(ev.CareOf),
				daemon.HoA(r.cfg.HomeAddress), zap.String("reason", ev.Reason))
			r.cur = ev
			r.roSuspend("moved")
			r.goAway(ev)
			if r.reg == nil {
				r.startDHAAD(now)
				continue
			}
			r.output(r.reg.Moved(ev.CareOf, now))
		case mobilenode.ReturnedHome:
			r.d.count(func(c *Counters) { c.ReturnedHome++ })
			r.log.Info("returned home", zap.String("event", "returned_home"), daemon.Iface(ev.Interface),
				daemon.HoA(r.cfg.HomeAddress), zap.String("reason", ev.Reason))
			r.cur = ev
			r.goHome(ev.Interface)
			r.roSuspend("returned home")
			r.dhaad = dhaadState{}
			if r.reg == nil {
				// No home agent known, so none holds a binding.
				r.homeDone()
				continue
			}
			r.output(r.reg.ReturnedHome(now))
			if r.reg.State() == mobilenode.AtHome {
				r.homeDone()
			}
		case mobilenode.LostConnectivity:
			r.d.count(func(c *Counters) { c.LostConnection++ })
			r.log.Warn("lost connectivity", zap.String("event", "lost_connectivity"), zap.String("reason", ev.Reason))
			r.cur = ev
			r.dhaad = dhaadState{}
			r.roSuspend("lost connectivity")
			if r.reg != nil {
				r.output(r.reg.LostConnectivity(now))
			}
		}
	}
}

// goAway installs the away routing for ev before its Binding Update goes
// out: the home address on mip0 first (a preferred source must be a local
// address), then the routes (each replaced in place), then the home
// address leaves the home interface if it was there.
func (r *engine) goAway(ev mobilenode.MoveEvent) {
	if !r.hoaOnTun {
		if err := r.addrAdd(r.cfg.TunnelInterface, netip.PrefixFrom(r.cfg.HomeAddress, 128)); err != nil {
			r.routeErr("adding the home address to the tunnel device", err)
		} else {
			r.hoaOnTun = true
		}
	}
	r.apply(r.awayPlan(ev))
	if r.hoaOnIface != "" {
		if err := r.addrDel(r.hoaOnIface, netip.PrefixFrom(r.cfg.HomeAddress, r.cfg.HomePrefix.Bits())); err != nil {
			r.routeErr("removing the home address from the home interface", err)
		}
		r.hoaOnIface = ""
	}
	r.atHome = false
}

// goHome prepares the home link (RFC 6275 §11.5.5) before the
// de-registration goes out: the home address becomes an ordinary address
// of the home interface (without DAD: the home agent defends it until the
// de-registration, and we must answer its Neighbor Solicitations once it
// stops), and the default route with the home address as source replaces
// the mip0 one in place. Outbound packets go directly from now on instead
// of through a tunnel whose care-of address is gone; inbound ones follow as
// soon as the home agent deletes the binding.
func (r *engine) goHome(iface string) {
	r.atHome = true
	// Added every time: an interface taken down administratively loses
	// its addresses.
	if err := r.addrAdd(iface, netip.PrefixFrom(r.cfg.HomeAddress, r.cfg.HomePrefix.Bits())); err != nil && !errors.Is(err, unix.EEXIST) {
		r.routeErr("adding the home address to the home interface", err)
	} else {
		r.hoaOnIface = iface
	}
	r.apply(PlanHome(iface, r.routers[iface], r.cfg.HomeAddress))
}

// homeDone finishes the return home once the home agent has let the
// binding go: the Neighbor Advertisement for the home address (§11.5.5:
// neighbours, the home agent first, must update the link-layer address
// they hold for it), then the tunnel binding and the home address on mip0
// go.
func (r *engine) homeDone() {
	if idx, ok := r.ifIndex[r.hoaOnIface]; ok {
		if err := r.icmp.sendNA(idx, r.cfg.HomeAddress, r.hwaddr(r.hoaOnIface)); err != nil {
			r.log.Warn("neighbor advertisement for the home address", daemon.Iface(r.hoaOnIface), zap.Error(err))
		}
	}
	r.table.Delete(netip.PrefixFrom(r.cfg.HomeAddress, 128))
	if r.hoaOnTun {
		if err := r.addrDel(r.cfg.TunnelInterface, netip.PrefixFrom(r.cfg.HomeAddress, 128)); err != nil {
			r.routeErr("removing the home address from the tunnel device", err)
		}
		r.hoaOnTun = false
	}
	r.log.Info("at home: home address on the home link, tunnel down", daemon.Iface(r.hoaOnIface), daemon.HoA(r.cfg.HomeAddress))
	r.roHome()
}

func (r *engine) hwaddr(name string) net.HardwareAddr {
	l, err := r.h.LinkByName(name)
	if err != nil {
		return nil
	}
	return l.Attrs().HardwareAddr
}

// output acts on what the registration returned.
func (r *engine) output(o mobilenode.Output) {
	if r.haSilentFallback(o) {
		return
	}
	if o.Send != nil {
		r.sendBU(o.Send)
	}
	for _, e := range o.Events {
		r.event(e)
	}
}

func (r *engine) event(e mobilenode.Event) {
	switch e.Kind {
	case mobilenode.EventRegistered:
		r.d.count(func(c *Counters) { c.Registrations++ })
		// The tunnel follows the acknowledged care-of address (RFC 6275
		// §11.7.3: the binding exists once acknowledged). One atomic
		// store: packets in flight leave through the old or the new
		// endpoint.
		ep := r.registeredEndpoint(e)
		if err := r.table.Set(netip.PrefixFrom(r.cfg.HomeAddress, 128), ep); err != nil {
			r.routeErr("tunnel binding", err)
		}
		r.kernelPathBinding()
		r.log.Info("registered", zap.String("event", "registered"), daemon.HoA(r.cfg.HomeAddress), daemon.CoA(e.CareOf),
			daemon.HA(r.cfg.HomeAgent), daemon.Lifetime(e.Lifetime), daemon.Status(e.Status))
		r.roAway(e.CareOf)
	case mobilenode.EventDeregistered:
		r.log.Info("deregistered", zap.String("event", "deregistered"), daemon.HoA(r.cfg.HomeAddress), daemon.HA(r.cfg.HomeAgent))
		if r.atHome && !r.stopping {
			r.homeDone()
		}
	case mobilenode.EventHomeAddressInvalid, mobilenode.EventCareOfInvalid:
		r.addressInvalid(e)
	case mobilenode.EventParameterProblem:
		r.log.Info("parameter problem about our home address option (expected from a home agent whose kernel lacks Mobile IPv6; not fatal)",
			zap.String("event", "parameter_problem"), daemon.HA(r.cfg.HomeAgent))
	case mobilenode.EventDADFailed, mobilenode.EventAuthFailed, mobilenode.EventGaveUp:
		r.log.Error("home agent refused the registration", zap.String("event", "registration_failed"),
			zap.Stringer("kind", e.Kind), daemon.Status(e.Status), daemon.HoA(r.cfg.HomeAddress), daemon.HA(r.cfg.HomeAgent))
	case mobilenode.EventBindingError:
		r.log.Warn("binding error", zap.String("event", "binding_error"), daemon.Status(e.BEStatus))
	default:
		r.log.Info(e.Kind.String(), zap.String("event", e.Kind.String()), daemon.Status(e.Status),
			daemon.HoA(r.cfg.HomeAddress), daemon.HA(r.cfg.HomeAgent))
	}
	// After the logs, which name the home agent that answered: the
	// fallback may replace it (hafallback.go).
	switch e.Kind {
	case mobilenode.EventRegistered:
		r.has.registered()
		r.mpsRegistered(e, time.Now())
	case mobilenode.EventGaveUp, mobilenode.EventRejectedRetrying:
		r.haRefused(e.Status)
	}
}

// sendBU wraps a Binding Update in IPv6 (with the Home Address option away
// from home, RFC 6275 §11.7.1) and sends it header-included: the kernel
// has no Mobile IPv6 and would refuse to build the option itself.
func (r *engine) sendBU(p *mobilenode.BUPacket) {
	if p.Outer.IsValid() {
		r.sendBU4(p)
		return
	}
	pkt := buildBU(p)
	err := r.sender.Send(pkt, 0)
	if err != nil {
		r.d.count(func(c *Counters) { c.SendErrors++ })
		r.log.Warn("binding update not sent", daemon.CoA(p.Src), daemon.HA(p.Dst), daemon.Seq(p.Sequence), zap.Error(err))
		return
	}
	r.d.count(func(c *Counters) { c.BUSent++ })
	if p.RetransmitNumber > 0 && !r.atHome && r.cur.CareOf.Is6() {
		// No acknowledgement through the current router: let NUD
		// check it now rather than in up to 50 s (nud_linux.go).
		r.probeRouters(r.cur.Interface, "binding update retransmitted")
	}
	r.log.Info("binding update sent", zap.String("event", "bu_sent"), daemon.HoA(r.cfg.HomeAddress), daemon.CoA(p.Src),
		daemon.HA(p.Dst), daemon.Seq(p.Sequence), daemon.Lifetime(p.Lifetime), zap.Int("retransmission", p.RetransmitNumber))
}

// shutdown de-registers when away (bounded by DeregisterTimeout) and
// removes everything.
func (r *engine) shutdown() {
	r.log.Info("shutting down", zap.String("event", "shutdown"))
	r.roShutdown()
	now := time.Now()
	if r.reg == nil {
		r.stopping = true
		r.teardown()
		r.publish()
		return
	}
	if !r.atHome {
		r.output(r.reg.Deregister(now))
	}
	deadline := time.NewTimer(r.d.opts.DeregisterTimeout)
	defer deadline.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
wait:
	for r.reg.State() == mobilenode.Deregistering {
		if at, ok := r.reg.NextTimer(); ok {
			timer.Reset(max(time.Until(at), 0))
		}
		select {
		case m := <-r.mhCh:
			r.onMH(m)
		case <-timer.C:
			r.output(r.reg.Timer(time.Now()))
		case <-deadline.C:
			r.log.Warn("no acknowledgement of the de-registration; the home agent's binding will expire", daemon.HA(r.cfg.HomeAgent))
			break wait
		}
	}
	r.stopping = true
	r.teardown()
	r.publish()
	r.log.Info("stopped: routes, rules, addresses and the tunnel device removed")
}

// teardown removes everything the runtime installed, in an order that
// never routes a home-address packet anywhere odd: tunnel binding, then
// rules and routes (the mip0 default last), then addresses, then the
// device; then the sockets and goroutines.
func (r *engine) teardown() {
	r.stopping = true
	if r.table != nil {
		r.table.Delete(netip.PrefixFrom(r.cfg.HomeAddress, 128))
	}
	if r.h != nil {
		r.apply(Plan{})
		if r.hoaOnTun {
			_ = r.addrDel(r.cfg.TunnelInterface, netip.PrefixFrom(r.cfg.HomeAddress, 128))
			r.hoaOnTun = false
		}
		if r.hoaOnIface != "" {
			_ = r.addrDel(r.hoaOnIface, netip.PrefixFrom(r.cfg.HomeAddress, r.cfg.HomePrefix.Bits()))
			r.hoaOnIface = ""
		}
	}
	if r.fwd != nil {
		if err := r.fwd.Close(); err != nil {
			r.log.Warn("closing the tunnel device", zap.Error(err))
		}
		r.fwd = nil
		r.kernelPathClosed()
	}
	r.restoreSysctls()
	select {
	case <-r.done:
	default:
		close(r.done)
	}
	for n, l := range r.listeners {
		l.Close()
		delete(r.listeners, n)
	}
	if r.icmp != nil {
		r.icmp.Close()
	}
	if r.ctl != nil {
		r.ctl.Close()
	}
	if r.sender != nil {
		r.sender.Close()
	}
	// The netlink subscription goroutines block on their channels; drain
	// them until they close.
	if r.linkSub != nil {
		go func(ch chan netlink.LinkUpdate) {
			for range ch {
			}
		}(r.linkSub)
		r.linkSub = nil
	}
	if r.addrSub != nil {
		go func(ch chan netlink.AddrUpdate) {
			for range ch {
			}
		}(r.addrSub)
		r.addrSub = nil
	}
	r.nudTeardown()
	r.dsmipTeardown()
	r.roTeardown()
	r.dnaTeardown()
	r.mpsTeardown()
	r.wg.Wait()
	if r.h != nil {
		r.h.Close()
		r.h = nil
	}
}

func (r *engine) routeErr(what string, err error) {
	r.d.count(func(c *Counters) { c.RouteErrors++ })
	r.log.Error(what, zap.Error(err))
}

// zapPlan logs a plan.
func zapPlan(p Plan) zap.Field {
	s := make([]string, 0, len(p.Routes)+len(p.Rules))
	for _, r := range p.Routes {
		s = append(s, r.String())
	}
	for _, r := range p.Rules {
		s = append(s, r.String())
	}
	return zap.Strings("routes", s)
}
