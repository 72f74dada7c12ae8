//go:build linux

package cnd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/correspondent"
	"github.com/gomip6/gomip6/internal/control"
	"github.com/gomip6/gomip6/internal/daemon"
	"github.com/gomip6/gomip6/internal/loopcall"
	"github.com/gomip6/gomip6/internal/netif"
	"github.com/gomip6/gomip6/internal/rawsock"
	"github.com/gomip6/gomip6/internal/rodata"
	"github.com/gomip6/gomip6/mip6"
)

// Implementation constants.
const (
	// DefaultTunName is the tun device of the outbound and inbound data
	// path.
	DefaultTunName = "mip6cn0"
	// RouteProtocol marks the routes cnd installs (rtm_protocol): `ip -6
	// route show table 110 proto 110`. had uses 109.
	RouteProtocol = 110
	// RouteTable holds the /128 routes of the bound home addresses.
	RouteTable = 110
	// RulePriority is the priority of the rule that consults RouteTable,
	// before the main table (32766).
	RulePriority = 1100
	// RouteMark is the fwmark of cnd's signalling socket: its packets
	// skip RouteTable (§6.1: Mobility Header messages bypass the binding
	// cache).
	RouteMark = 0x6d697036 // "mip6"
	// NFTable is the nftables table (family inet) of the drop rules.
	NFTable = "gomip6_cnd"
	// TunMTU leaves room for the 24-octet type 2 routing header in a
	// 1500-octet link: the kernel's path MTU logic then sizes local
	// packets for the bigger packet we send.
	TunMTU = 1500 - mip6.RoutingHeader2Len
	// TunTxQueueLen is the tun device's transmit queue: packets local
	// applications sent to bound home addresses waiting for the reader.
	TunTxQueueLen = 8192
	// rxQueue bounds the signalling waiting for the loop.
	rxQueue = 512
	// bufSize holds any packet the links carry, with headroom.
	bufSize = 65536 + 64
	// headroom is where the tun reader puts a packet, leaving room in
	// front for the routing header.
	headroom = 32
)

// Options are the knobs of a Daemon that are not in cnd.toml.
type Options struct {
	// Log receives the logs; nil means none.
	Log *zap.Logger
	// TunName is the tun device's name; "" means DefaultTunName.
	TunName string
	// Addresses are this node's addresses, to which mobile nodes send
	// signalling and data. Empty: every global address of the host at
	// start (cnd.toml has no key for them yet).
	Addresses []netip.Addr
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// NoFirewall skips the nftables rules (see the package
	// documentation): the kernel then answers every Mobility Header and
	// Home Address option with a Parameter Problem.
	NoFirewall bool
	// Correspondent are the core's options.
	Correspondent correspondent.Options
}

// Daemon is a running correspondent node.
type Daemon struct {
	cfg   *conf.CN
	o     Options
	log   *zap.Logger
	now   func() time.Time
	addrs []netip.Addr

	cn    *correspondent.Correspondent
	table correspondent.Table

	nl      *netlink.Handle
	netns   *os.File // the network namespace everything lives in
	tun     *rodata.Tun
	tunW    *rodata.TunWriter // readLoop's batch of inbound packets
	tunName string
	tunLink int
	rule    *netlink.Rule
	nft     bool

	rx   *rawsock.Listener
	tx   *rodata.Sender // data path (tunLoop's alone)
	sigx int            // marked raw socket for signalling
	icmp *net.IPConn    // Packet Too Big messages about our routed packets
	// ctl serves the control API (and control.metrics_listen).
	ctl *control.Endpoint

	rxq     chan rxPacket
	free    chan []byte
	reqs    chan loopcall.Call
	closing chan struct{}
	wg      sync.WaitGroup

	// Owned by the loop.
	out   []byte
	usage map[netip.Addr]uint64 // packet count at the last registration

	c counters
}

type rxPacket struct {
	buf []byte
	n   int
	// be, when valid, is a data packet with a Home Address option and no
	// binding, waiting for its Binding Error (buf is nil): only its
	// addresses and length matter.
	be correspondent.Packet
}

// counters are atomic: the loop and the data path write, the metrics
// handler reads.
type counters struct {
	rxPackets, rxQueueFull, rxErrors, malformed atomic.Uint64
	rxDrops                                     atomic.Uint64 // the packet socket's queue overflowed
	mhReceived                                  [256]atomic.Uint64
	sent                                        [256]atomic.Uint64
	sendErrors                                  atomic.Uint64
	byStatus                                    [256]atomic.Uint64
	byDrop                                      [32]atomic.Uint64
	created, refreshed, moved, deleted, expired atomic.Uint64
	brrSent, routeErrors                        atomic.Uint64
	// Data path.
	outPackets, outNoBinding, outErrors, outSendErrors atomic.Uint64
	inPackets, inNoBinding, inErrors, inRH2            atomic.Uint64
	ptbTranslated                                      atomic.Uint64
}

// New opens everything a correspondent needs in the calling thread's
// network namespace: the tun device, the routing rule, the nftables
// table, the sockets and the control socket. On error everything opened
// so far is closed again.
func New(cfg *conf.CN, o Options) (d *Daemon, err error) {
	if cfg == nil {
		return nil, errors.New("cnd: nil configuration")
	}
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
		cfg: cfg, o: o, log: o.Log, now: o.Now, sigx: -1,
		rxq:     make(chan rxPacket, rxQueue),
		free:    make(chan []byte, rxQueue+16),
		reqs:    make(chan loopcall.Call),
		closing: make(chan struct{}),
		usage:   make(map[netip.Addr]uint64),
	}
	defer func() {
		if err != nil {
			d.closeAll()
			d = nil
		}
	}()
	for range cap(d.free) {
		d.free <- make([]byte, 4096)
	}
	if d.netns, err = netif.CurrentNetns(); err != nil {
		return d, fmt.Errorf("network namespace: %w", err)
	}
	if d.nl, err = netlink.NewHandle(); err != nil {
		return d, fmt.Errorf("netlink: %w", err)
	}
	if d.cn, err = correspondent.New(cfg, o.Correspondent); err != nil {
		return d, err
	}

	d.addrs = o.Addresses
	if len(d.addrs) == 0 {
		if d.addrs, err = d.globalAddresses(); err != nil {
			return d, err
		}
		if len(d.addrs) == 0 {
			return d, errors.New("no global IPv6 address on this host to serve mobile nodes on")
		}
		d.log.Info("no addresses configured: serving the host's global IPv6 addresses as of now (restart to pick up new ones)",
			zap.Stringers("addresses", d.addrs))
	}

	// Data path: the tun device, its routing table and the rule.
	if err := d.openTun(); err != nil {
		return d, err
	}
	d.rule = netlink.NewRule()
	d.rule.Family = unix.AF_INET6
	d.rule.Table = RouteTable
	d.rule.Priority = RulePriority
	d.rule.Mark = RouteMark
	mask := uint32(0xffffffff)
	d.rule.Mask = &mask
	d.rule.Invert = true
	if err := d.nl.RuleAdd(d.rule); err != nil && !errors.Is(err, unix.EEXIST) {
		d.rule = nil
		return d, fmt.Errorf("ip -6 rule not fwmark %#x lookup %d: %w", RouteMark, RouteTable, err)
	}
	if !o.NoFirewall {
		if err := d.addFirewall(); err != nil {
			d.log.Warn("nftables rules not installed: the kernel will answer Mobility Headers and Home Address options with ICMPv6 Parameter Problems",
				zap.Error(err))
		} else {
			d.nft = true
		}
	}

	// Signalling and inbound data.
	filter, err := rawsock.Assemble(rawsock.MIPv6Filter(rawsock.LinkIP, d.addrs...))
	if err != nil {
		return d, err
	}
	if d.rx, err = rawsock.Listen(&net.Interface{Index: 0, Name: "any"}, rawsock.Config{Filter: filter, ReadBuffer: 4 << 20}); err != nil {
		return d, err
	}
	if d.tx, err = rodata.NewSender(); err != nil {
		return d, err
	}
	if d.sigx, err = markedSocket(); err != nil {
		return d, err
	}
	if d.icmp, err = rodata.ListenPacketTooBig(); err != nil {
		return d, err
	}

	// Control.
	if d.ctl, err = control.Open(cfg.Control.Socket, cfg.Control.MetricsListen, d.handler()); err != nil {
		return d, err
	}
	return d, nil
}

// globalAddresses lists the host's global unicast IPv6 addresses, not
// tentative and not on our own tun device.
func (d *Daemon) globalAddresses() ([]netip.Addr, error) {
	as, err := d.nl.AddrList(nil, netlink.FAMILY_V6)
	if err != nil {
		return nil, fmt.Errorf("listing addresses: %w", err)
	}
	var out []netip.Addr
	for _, a := range as {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || a.Scope != unix.RT_SCOPE_UNIVERSE || a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0 {
			continue
		}
		ip = ip.Unmap()
		if !ip.Is6() || !ip.IsGlobalUnicast() || ip.Is4In6() || (d.tunLink != 0 && a.LinkIndex == d.tunLink) {
			continue
		}
		out = append(out, ip)
	}
	return out, nil
}

// Addresses returns the addresses served.
func (d *Daemon) Addresses() []netip.Addr { return d.addrs }

// TunName returns the tun device's name.
func (d *Daemon) TunName() string { return d.tunName }

// Run serves until ctx is done, then removes everything New installed
// and returns. It is called once.
func (d *Daemon) Run(ctx context.Context, reload <-chan *conf.CN) error {
	d.wg.Add(3)
	go d.readLoop()
	go d.tunLoop()
	go d.ptbLoop()
	d.ctl.Serve(func(what string, err error) { d.log.Error(what, zap.Error(err)) })
	d.log.Info("correspondent node running", zap.Stringers("addresses", d.addrs), zap.String("tun", d.tunName),
		zap.Bool("route_optimization", d.cfg.RouteOptimization))
	d.loop(ctx, reload)
	d.log.Info("correspondent node stopping", zap.Int("bindings", d.cn.Cache().Len()))
	close(d.closing)
	d.closeAll()
	d.wg.Wait()
	return nil
}

// loop owns the Correspondent: every binding change happens here.
func (d *Daemon) loop(ctx context.Context, reload <-chan *conf.CN) {
	expiry := time.NewTimer(time.Hour)
	defer expiry.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		// One timer for the next expiry or Binding Refresh Request,
		// whichever comes first; the tick does the rest.
		wait := time.Hour
		now := d.now()
		if next, ok := d.cn.NextExpiry(); ok {
			wait = min(wait, max(next.Sub(now), 0))
		}
		if next, ok := d.cn.NextRefresh(); ok {
			wait = min(wait, max(next.Sub(now), 0))
		}
		expiry.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case p := <-d.rxq:
			if p.buf == nil {
				d.bindingError(p.be)
				continue
			}
			d.handleMH(p.buf[:p.n])
			d.free <- p.buf
		case <-expiry.C:
			d.expire()
			d.refresh()
		case <-tick.C:
			d.expire()
			d.refresh()
			if _, drops, err := d.rx.Stats(); err == nil {
				d.c.rxDrops.Add(uint64(drops))
			}
		case cfg := <-reload:
			d.reload(cfg)
		case r := <-d.reqs:
			r.Run()
		}
	}
}

// do runs fn on the loop; false when the daemon is stopping.
func (d *Daemon) do(ctx context.Context, fn func()) bool {
	return loopcall.Do(ctx, d.reqs, d.closing, fn)
}

// readLoop reads the packet socket: Mobility Headers go to the loop;
// data packets with a Home Address option are handled here, on the fast
// path, when a binding covers them, and go to the loop for a Binding
// Error when none does.
func (d *Daemon) readLoop() {
	defer d.wg.Done()
	ms := make([]rawsock.Message, rawsock.MaxBatch)
	for i := range ms {
		ms[i].Buf = make([]byte, bufSize)
	}
	for {
		// One recvmmsg, then one tun write for the batch's data
		// packets (GRO coalescing a TCP flow's segments).
		if err := d.tunW.Flush(); err != nil {
			d.c.inErrors.Add(1)
		}
		n, err := d.rx.ReadBatch(ms)
		if err != nil {
			d.c.rxErrors.Add(1)
			if netif.ReadStop(err, d.closing) {
				return
			}
			continue
		}
		for i := range ms[:n] {
			m := &ms[i]
			d.c.rxPackets.Add(1)
			if m.Truncated {
				d.c.malformed.Add(1)
				continue
			}
			d.classifyTo(m.Buf[:m.N], d.tunW)
		}
	}
}

// classifyTo takes a packet received at the start of its buffer,
// pkt[:cap(pkt)]. A data packet for the local sockets is queued on w
// (readLoop's d.tunW: the buffer must stay untouched until w.Flush), or
// written at once (copied) when w is nil. It allocates nothing.
func (d *Daemon) classifyTo(pkt []byte, w *rodata.TunWriter) {
	l, err := mip6.WalkIPv6(pkt)
	if err != nil {
		d.c.malformed.Add(1)
		return
	}
	switch {
	case l.Proto == mip6.ProtoMobility:
		d.queue(pkt[:l.End])
	case l.RH2 != 0:
		// A type 2 routing header to us: we are not a mobile node.
		d.c.inRH2.Add(1)
	case l.HAO != 0:
		r := d.table.Lookup(l.HomeAddress)
		if r == nil || r.CareOf != l.Src {
			d.c.inNoBinding.Add(1)
			select {
			case d.rxq <- rxPacket{be: correspondent.Packet{Src: l.Src, Dst: l.Dst, HomeAddress: l.HomeAddress, Len: l.End}}:
			default:
				d.c.rxQueueFull.Add(1)
			}
			return
		}
		out, err := correspondent.RestoreHomeAddress(pkt, &l)
		if err != nil {
			d.c.inErrors.Add(1)
			return
		}
		// The restored packet starts 24 octets in (at least: the
		// Destination Options header is 24 octets or more), where the
		// tun writer wants it.
		if w == nil {
			if d.tun.WritePacket(out) != nil {
				d.c.inErrors.Add(1)
				return
			}
		} else if !w.Add(pkt[:cap(pkt)], out) {
			d.c.inErrors.Add(1)
			return
		}
		r.Packets.Add(1)
		d.c.inPackets.Add(1)
	}
}

// queue hands a Mobility Header packet to the loop without blocking: a
// full queue drops.
func (d *Daemon) queue(pkt []byte) {
	var b []byte
	select {
	case b = <-d.free:
	default:
		d.c.rxQueueFull.Add(1)
		return
	}
	if len(pkt) > len(b) {
		d.c.malformed.Add(1) // no Mobility Header packet is that long
		d.free <- b
		return
	}
	n := copy(b, pkt)
	select {
	case d.rxq <- rxPacket{buf: b, n: n}:
	default:
		d.free <- b
		d.c.rxQueueFull.Add(1)
	}
}

// tunLoop is the outbound data path (§9.3.2): packets local sockets sent
// to a bound home address leave for its care-of address with a type 2
// routing header. The tun device gives batches (a TCP flow's
// super-packets split, and whatever else is queued), and each batch
// leaves in one sendmmsg.
func (d *Daemon) tunLoop() {
	defer d.wg.Done()
	bufs, sizes := rodata.NewReadBufs(headroom, TunMTU)
	var backoff netif.Backoff
	for {
		n, err := d.tun.Read(bufs, sizes, headroom)
		if err != nil {
			// A malformed super-packet, refused whole, or an error that
			// persists: waited out, not spun on.
			if backoff.Stop(err, d.closing) {
				return
			}
			d.c.outErrors.Add(1)
			continue
		}
		backoff.Reset()
		for i := range n {
			d.outbound(d.tx, bufs[i], sizes[i])
		}
		d.flushOut()
	}
}

// flushOut sends the batch outbound queued. outPackets counted every
// packet queued; the ones the kernel refused (EMSGSIZE: larger than the
// device toward the care-of address, TunMTU assumes 1500; see the package
// documentation) move to outSendErrors.
func (d *Daemon) flushOut() {
	_, failed, _ := d.tx.Flush()
	if failed > 0 {
		d.c.outPackets.Add(^uint64(failed - 1)) // minus failed
		d.c.outSendErrors.Add(uint64(failed))
	}
}

// outbound queues one packet the tun device gave, buf[headroom:
// headroom+n], for the care-of address of its destination's binding, on
// tx (the outbound loop's d.tx): it must stay untouched until tx is
// flushed. It allocates nothing.
func (d *Daemon) outbound(tx *rodata.Sender, buf []byte, n int) {
	h := mip6.IPv6Header(buf[headroom : headroom+n])
	if !h.IsValid() || h.Version() != 6 {
		return // IPv4, or not a packet
	}
	r := d.table.Lookup(h.Dst())
	if r == nil {
		// The binding went away between the route and us.
		d.c.outNoBinding.Add(1)
		return
	}
	out, err := correspondent.InsertRoutingHeader2(buf, headroom, n, r.CareOf)
	if err != nil {
		d.c.outErrors.Add(1)
		return
	}
	// The first hop is the care-of address, the IPv6 destination.
	tx.Add(out, r.CareOf, 0)
	r.Packets.Add(1)
	d.c.outPackets.Add(1)
}

// ptbLoop translates Packet Too Big messages that routers on the way to
// a care-of address send about our type 2 routed packets into the ones
// the local sockets need (correspondent.AppendHomePacketTooBig), and
// injects them through the tun device.
func (d *Daemon) ptbLoop() {
	defer d.wg.Done()
	var out []byte
	rodata.ReadPacketTooBig(d.icmp, d.closing, func(icmp []byte, from netip.Addr) {
		pkt, hoa, coa, err := correspondent.AppendHomePacketTooBig(out[:0], icmp, from)
		if err != nil {
			return
		}
		out = pkt
		if r := d.table.Lookup(hoa); r == nil || r.CareOf != coa {
			return // not about a binding of ours (or a forgery)
		}
		if err := d.tun.WritePacket(pkt); err != nil {
			d.c.inErrors.Add(1)
			return
		}
		d.c.ptbTranslated.Add(1)
		d.log.Debug("packet too big translated", daemon.HoA(hoa), daemon.CoA(coa),
			zap.Uint32("mtu", uint32(pkt[44])<<24|uint32(pkt[45])<<16|uint32(pkt[46])<<8|uint32(pkt[47])))
	})
}

// handleMH processes one Mobility Header packet on the loop.
func (d *Daemon) handleMH(pkt []byte) {
	l, err := mip6.WalkIPv6(pkt)
	if err != nil || l.Proto != mip6.ProtoMobility || l.End-l.Offset < 6 {
		d.c.malformed.Add(1)
		return
	}
	d.c.mhReceived[pkt[l.Offset+2]].Add(1)
	now := d.now()
	p := correspondent.Packet{Src: l.Src, Dst: l.Dst, HomeAddress: l.HomeAddress, RoutingHeader: l.RH2 != 0,
		Len: l.End, MH: pkt[l.Offset:l.End]}
	res := d.cn.HandleMH(d.out[:0], p, now)
	if res.Out != nil {
		d.out = res.Out[:0]
	}
	d.apply(res, p)
}

// bindingError answers a data packet with a Home Address option and no
// binding (§9.3.1).
func (d *Daemon) bindingError(p correspondent.Packet) {
	now := d.now()
	if d.cn.CheckHomeAddress(p.HomeAddress, p.Src, now) {
		return // bound meanwhile
	}
	res := d.cn.BindingError(d.out[:0], mip6.BEUnknownHomeAddress, p, now)
	if res.Out != nil {
		d.out = res.Out[:0]
	}
	d.apply(res, p)
}

// apply acts on a Result: routes and data path for the cache change, the
// answer, logs and counters.
func (d *Daemon) apply(res correspondent.Result, p correspondent.Packet) {
	if res.Verdict == correspondent.Drop {
		d.c.byDrop[res.Drop%32].Add(1)
		d.log.Debug("mobility header dropped", zap.Stringer("type", res.Type), zap.Stringer("reason", res.Drop),
			zap.Stringer("src", p.Src), zap.Error(res.Err))
		return
	}
	if res.Sent == mip6.MHBindingAck || res.Verdict == correspondent.Silent {
		d.c.byStatus[res.Status].Add(1)
	}
	e := res.Binding
	switch res.Change {
	case correspondent.Created:
		d.c.created.Add(1)
		d.bind(e)
		d.log.Info("binding created", zap.String("event", "binding_created"), daemon.HoA(e.HomeAddress), daemon.CoA(e.CareOf),
			daemon.CN(p.Dst), daemon.Seq(e.Sequence), daemon.Lifetime(e.Lifetime))
	case correspondent.Refreshed:
		d.c.refreshed.Add(1)
		d.bind(e)
		d.log.Debug("binding refreshed", zap.String("event", "binding_refreshed"), daemon.HoA(e.HomeAddress), daemon.CoA(e.CareOf),
			daemon.CN(p.Dst), daemon.Seq(e.Sequence), daemon.Lifetime(e.Lifetime))
	case correspondent.Moved:
		d.c.moved.Add(1)
		d.bind(e)
		d.log.Info("binding moved", zap.String("event", "binding_moved"), daemon.HoA(e.HomeAddress), daemon.CoA(e.CareOf),
			zap.Stringer("previous_coa", res.Previous.CareOf), daemon.CN(p.Dst), daemon.Seq(e.Sequence), daemon.Lifetime(e.Lifetime))
	case correspondent.Deleted:
		d.c.deleted.Add(1)
		d.unbind(e)
		d.log.Info("binding deleted", zap.String("event", "binding_deleted"), daemon.HoA(e.HomeAddress), daemon.CoA(e.CareOf),
			daemon.CN(p.Dst), daemon.Seq(e.Sequence))
	}
	if res.Verdict != correspondent.Reply {
		return
	}
	if err := d.sendSignal(res.Out); err != nil {
		d.c.sendErrors.Add(1)
		d.log.Warn("sending", zap.Stringer("type", res.Sent), zap.Stringer("dst", res.Dst), zap.Error(err))
		return
	}
	d.c.sent[res.Sent].Add(1)
	switch res.Sent {
	case mip6.MHBindingAck:
		d.log.Info("binding acknowledgement sent", zap.String("event", "ba_sent"), daemon.HoA(res.HomeAddress),
			daemon.CoA(res.Dst), daemon.Status(res.Status))
	case mip6.MHBindingError:
		d.log.Debug("binding error sent", zap.String("event", "be_sent"), daemon.HoA(res.HomeAddress),
			daemon.CoA(res.Dst), daemon.Status(res.BEStatus))
	default:
		d.log.Debug("return routability answered", zap.Stringer("type", res.Sent), zap.Stringer("dst", res.Dst))
	}
}

// bind installs (or re-points) a binding in the data path: the Table
// first, so the route never leads to a packet without a binding.
func (d *Daemon) bind(e binding.Entry) {
	d.table.Set(e.HomeAddress, e.CareOf)
	if r := d.table.Lookup(e.HomeAddress); r != nil {
		d.usage[e.HomeAddress] = r.Packets.Load()
	}
	if err := d.route(e.HomeAddress, true); err != nil {
		d.log.Error("route", zap.Error(err), daemon.HoA(e.HomeAddress))
	}
}

// unbind withdraws a binding: the route first, then the Table.
func (d *Daemon) unbind(e binding.Entry) {
	if err := d.route(e.HomeAddress, false); err != nil {
		d.log.Warn("route", zap.Error(err), daemon.HoA(e.HomeAddress))
	}
	d.table.Delete(e.HomeAddress)
	delete(d.usage, e.HomeAddress)
}

// expire withdraws the bindings whose lifetime ran out.
func (d *Daemon) expire() {
	for _, e := range d.cn.Tick(d.now()) {
		d.c.expired.Add(1)
		d.unbind(e)
		d.log.Info("binding expired", zap.String("event", "binding_expired"), daemon.HoA(e.HomeAddress), daemon.CoA(e.CareOf))
	}
}

// refresh sends a Binding Refresh Request for each binding about to
// expire that carried packets since it was last registered (§9.5.5).
func (d *Daemon) refresh() {
	for _, e := range d.cn.RefreshDue(d.now()) {
		r := d.table.Lookup(e.HomeAddress)
		if r == nil || r.Packets.Load() == d.usage[e.HomeAddress] {
			continue // not in active use: let it lapse
		}
		pkt, err := d.cn.AppendBRR(d.out[:0], e.HomeAddress)
		if err != nil {
			continue
		}
		d.out = pkt[:0]
		if err := d.sendSignal(pkt); err != nil {
			d.c.sendErrors.Add(1)
			continue
		}
		d.c.brrSent.Add(1)
		d.log.Debug("binding refresh request sent", zap.String("event", "brr_sent"), daemon.HoA(e.HomeAddress), daemon.CoA(e.CareOf))
	}
}

// reload applies a new configuration (SIGHUP). The control socket needs a
// restart; a configuration that changes it is refused whole.
func (d *Daemon) reload(cfg *conf.CN) {
	if cfg.Control != d.cfg.Control {
		d.log.Error("reload refused: [control] needs a restart; keeping the old configuration")
		return
	}
	for _, e := range d.cn.Reload(cfg, d.now()) {
		d.unbind(e)
		d.log.Info("binding dropped by reload", zap.String("event", "binding_deleted"), daemon.HoA(e.HomeAddress), daemon.CoA(e.CareOf))
	}
	d.cfg = cfg
	d.log.Info("configuration reloaded", zap.Bool("route_optimization", cfg.RouteOptimization),
		zap.Duration("max_binding_lifetime", cfg.MaxBindingLifetime.Std()))
}

// closeAll releases everything New opened: the rule and the firewall
// first (local traffic to home addresses goes the normal way again), the
// tun device (its routes go with it), the sockets, the control socket.
func (d *Daemon) closeAll() {
	var errs []error
	if d.rule != nil && d.nl != nil {
		if err := d.nl.RuleDel(d.rule); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("removing the rule: %w", err))
		}
	}
	if d.nl != nil {
		errs = append(errs, flushRoutes(d.nl))
	}
	if d.nft {
		errs = append(errs, netif.InNetns(d.netns, delFirewall))
	}
	if d.tun != nil {
		errs = append(errs, d.tun.Close())
		if d.tunLink != 0 && d.nl != nil {
			if l, err := d.nl.LinkByIndex(d.tunLink); err == nil && l.Attrs().Name == d.tunName {
				errs = append(errs, d.nl.LinkDel(l))
			}
		}
	}
	if d.rx != nil {
		errs = append(errs, d.rx.Close())
	}
	if d.tx != nil {
		errs = append(errs, d.tx.Close())
	}
	if d.icmp != nil {
		errs = append(errs, d.icmp.Close())
	}
	if d.sigx >= 0 {
		errs = append(errs, unix.Close(d.sigx))
		d.sigx = -1
	}
	if d.ctl != nil {
		errs = append(errs, d.ctl.Close())
	}
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
