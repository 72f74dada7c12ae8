package ndproxy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomip6/gomip6/internal/ratelimit"
)

// Defaults of RFC 4861 §10 and RFC 4862 §5.1.
const (
	// DefaultRetransTimer is RETRANS_TIMER: how long DAD waits after its
	// last probe, and the spacing of repeated unsolicited NAs.
	DefaultRetransTimer = time.Second
	// DefaultDADTransmits is DupAddrDetectTransmits (RFC 4862 §5.1).
	DefaultDADTransmits = 1
	// MaxNeighborAdvertisement is MAX_NEIGHBOR_ADVERTISEMENT, the most
	// unsolicited NAs sent for one address (RFC 4861 §7.2.6), which RFC
	// 6275 §10.4.1 allows the home agent for reliability.
	MaxNeighborAdvertisement = 3
)

// Defaults of the answer limits and of AddQuiet's pace (Config). A host
// resolves an address with one NS and retransmits every RetransTimer (1 s)
// at most MAX_MULTICAST_SOLICIT (3) times, then probes reachability now
// and then (RFC 4861 §7.3): ten answers a second per target, bursts of
// twenty, serves dozens of hosts talking to one mobile node at once. A
// thousand a second for the whole link is about 1 Mbit/s of NAs. A hundred
// announcements a second restore 10^4 bindings in under two minutes at a
// rate no link notices.
const (
	DefaultAnswerRate     = 10
	DefaultAnswerBurst    = 20
	DefaultMaxAnswerRate  = 1000
	DefaultMaxAnswerBurst = 1000
	DefaultAnnounceRate   = 100
)

// Config parameterises a Proxy.
type Config struct {
	// MAC is the home agent's link-layer address on the home link: the
	// Target Link-layer Address of every NA (RFC 6275 §10.4.1), so that
	// the link sends the home addresses' traffic to the home agent.
	// Listen fills it from the interface when nil. SetLinkLayer changes
	// it while the proxy runs.
	MAC net.HardwareAddr
	// Source is the IPv6 source of the NAs: an address of the home agent
	// on that interface (RFC 4861 §7.2.2). Listen fills in the
	// interface's link-local address when it is zero. SetSource changes
	// it while the proxy runs.
	Source netip.Addr
	// RetransTimer is RetransTimer (RFC 4861 §6.3.2); zero means
	// DefaultRetransTimer.
	RetransTimer time.Duration
	// DADTransmits is DupAddrDetectTransmits; zero means
	// DefaultDADTransmits.
	DADTransmits int
	// Advertisements is how many gratuitous NAs Add sends for each
	// address, RetransTimer apart; zero means MaxNeighborAdvertisement,
	// negative none.
	Advertisements int
	// AnswerRate and AnswerBurst bound the NAs sent in answer to NSs for
	// one target address: AnswerRate a second, bursts of AnswerBurst.
	// MaxAnswerRate and MaxAnswerBurst bound them for all targets
	// together. Answering is cheap (RFC 4861 §7.2.4), but without a bound
	// a flood of NSs for proxied addresses, from any node on the link or
	// forged, would have the home agent flood the link in turn. Zero means
	// the defaults (DefaultAnswerRate, ...); negative, no limit.
	AnswerRate, AnswerBurst       int
	MaxAnswerRate, MaxAnswerBurst int
	// AnnounceRate is how many gratuitous NAs a second AddQuiet's
	// addresses are announced at, one each; zero means
	// DefaultAnnounceRate, negative that AddQuiet announces nothing.
	AnnounceRate int
	// OnError, when not nil, receives errors that do not stop the proxy
	// (a failed send). It runs on the proxy's goroutines and must not
	// block.
	OnError func(error)
}

func (c *Config) defaults() error {
	if c.RetransTimer == 0 {
		c.RetransTimer = DefaultRetransTimer
	}
	if c.DADTransmits == 0 {
		c.DADTransmits = DefaultDADTransmits
	}
	if c.Advertisements == 0 {
		c.Advertisements = MaxNeighborAdvertisement
	}
	for _, d := range []struct {
		v   *int
		def int
	}{
		{&c.AnswerRate, DefaultAnswerRate}, {&c.AnswerBurst, DefaultAnswerBurst},
		{&c.MaxAnswerRate, DefaultMaxAnswerRate}, {&c.MaxAnswerBurst, DefaultMaxAnswerBurst},
		{&c.AnnounceRate, DefaultAnnounceRate},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	switch {
	case c.RetransTimer < 0 || c.DADTransmits < 0:
		return errors.New("ndproxy: negative RetransTimer or DADTransmits")
	}
	if err := checkMAC(c.MAC); err != nil {
		return err
	}
	if err := checkSource(c.Source); err != nil {
		return err
	}
	c.Source = c.Source.WithZone("")
	return nil
}

// checkMAC accepts a link-layer address that fits a Target Link-layer
// Address option (RFC 4861 §4.6.1: at most 255 octets of option, 2 of
// them type and length).
func checkMAC(mac net.HardwareAddr) error {
	if len(mac) == 0 || len(mac) > 253 {
		return fmt.Errorf("ndproxy: link-layer address of %d octets", len(mac))
	}
	return nil
}

// checkSource accepts a unicast IPv6 source for the NAs (RFC 4861
// §7.2.2: an address of the interface).
func checkSource(a netip.Addr) error {
	if !a.Is6() || a.IsUnspecified() || a.IsMulticast() {
		return fmt.Errorf("ndproxy: source %v is not a unicast IPv6 address", a)
	}
	return nil
}

// ident is what the proxy's NAs say about the home agent: its link-layer
// address on the home link (the Target Link-layer Address) and the IPv6
// source. Replaced whole (SetLinkLayer, SetSource) and read through an
// atomic pointer, so that the receive path follows a change without a
// lock.
type ident struct {
	mac net.HardwareAddr
	src netip.Addr
}

// link sends an IPv6 packet to a link-layer destination. *packet.Conn in
// proxy_linux.go; a recorder in the tests.
type link interface {
	send(pkt []byte, dst net.HardwareAddr) error
}

// DADResult is the outcome of Duplicate Address Detection for Addr.
type DADResult struct {
	Addr netip.Addr
	// Duplicate is true when another node on the link answered for the
	// address with an NA or probed for it with its own DAD NS (RFC 4862
	// §5.4.3, §5.4.4): the registration must be refused with status 134
	// (RFC 6275 §10.3.1).
	Duplicate bool
	// Err is set when a probe could not be sent; Duplicate is then
	// meaningless and the outcome unknown.
	Err error
}

// dadState is one DAD in progress.
type dadState struct {
	left    int // probes still to send
	timer   *time.Timer
	waiters []chan DADResult
}

// shards is the number of pieces of the proxied address set. A change
// copies one shard, so its cost is 1/shards of the set.
const shards = 256

type addrSet = map[netip.Addr]struct{}

// Stats are a Proxy's counters, for metrics.
type Stats struct {
	// Proxied is the number of addresses answered for.
	Proxied int
	// SolicitedNAs counts NAs sent in answer to an NS.
	SolicitedNAs uint64
	// UnsolicitedNAs counts gratuitous NAs sent.
	UnsolicitedNAs uint64
	// DADProbes counts DAD NSs sent.
	DADProbes uint64
	// Invalid counts received packets that failed RFC 4861 §7.1
	// validation, silently discarded. A bad checksum is counted only on
	// packets about an address the proxy answers for or probes: the
	// others are not summed at all.
	Invalid uint64
	// RateLimited counts NSs for proxied addresses left unanswered
	// because of Config's answer limits.
	RateLimited uint64
	// PendingAnnouncements is the number of AddQuiet's addresses not
	// announced yet.
	PendingAnnouncements int
}

// Proxy answers Neighbor Solicitations on one home link for a set of
// addresses and runs DAD for candidates (RFC 6275 §10.4.1, §10.3.1).
//
// Add, AddQuiet, Remove and StartDAD are meant for the owner goroutine
// (the binding cache's); they may be called concurrently with packet
// reception, which reads the address set through atomic snapshots and
// takes no lock. Reception allocates nothing per packet, and the answers
// to NSs are rate-limited per target and overall (Config.AnswerRate).
type Proxy struct {
	cfg  Config
	link link
	// id is Config.MAC and Config.Source as they are now.
	id atomic.Pointer[ident]

	mu      sync.Mutex // serialises writers of set and dad
	set     [shards]atomic.Pointer[addrSet]
	count   atomic.Int64
	dad     atomic.Pointer[map[netip.Addr]*dadState] // copy on write, under mu
	closed  bool
	timers  map[*time.Timer]struct{} // advertisement timers, stopped by stop
	sentSol atomic.Uint64
	sentGra atomic.Uint64
	sentDAD atomic.Uint64
	invalid atomic.Uint64
	limited atomic.Uint64

	// The answer path: the limits and the buffer the NA is built in,
	// under ansMu, so that it does not allocate.
	ansMu     sync.Mutex
	perTarget ratelimit.Table
	allAns    ratelimit.Bucket
	ansBuf    []byte

	// AddQuiet's announcements, paced; under mu.
	pending   [][16]byte
	paceTimer *time.Timer
}

func newProxy(cfg Config, l link) (*Proxy, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	p := &Proxy{cfg: cfg, link: l, timers: map[*time.Timer]struct{}{},
		perTarget: ratelimit.NewTable(cfg.AnswerRate, cfg.AnswerBurst, 1024),
		allAns:    ratelimit.NewBucket(cfg.MaxAnswerRate, cfg.MaxAnswerBurst),
		ansBuf:    make([]byte, 0, naLen(len(cfg.MAC))),
	}
	p.id.Store(&ident{mac: append(net.HardwareAddr(nil), cfg.MAC...), src: cfg.Source})
	for i := range p.set {
		p.set[i].Store(&addrSet{})
	}
	p.dad.Store(&map[netip.Addr]*dadState{})
	return p, nil
}

func shardOf(a netip.Addr) int {
	s := a.As16()
	// Home addresses of one prefix differ in their interface identifiers;
	// the last octets spread them.
	return int(s[15]^s[14]^s[13]) % shards
}

func checkUnicast(a netip.Addr) error {
	if !a.Is6() || a.Is4In6() || a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() {
		return fmt.Errorf("ndproxy: %v is not a unicast IPv6 address", a)
	}
	return nil
}

// Proxied reports whether a is answered for. It takes no lock.
func (p *Proxy) Proxied(a netip.Addr) bool {
	a = a.WithZone("")
	_, ok := (*p.set[shardOf(a)].Load())[a]
	return ok
}

// Stats returns the counters.
func (p *Proxy) Stats() Stats {
	return Stats{
		Proxied:        int(p.count.Load()),
		SolicitedNAs:   p.sentSol.Load(),
		UnsolicitedNAs: p.sentGra.Load(),
		DADProbes:      p.sentDAD.Load(),
		Invalid:        p.invalid.Load(),
		RateLimited:    p.limited.Load(),
		PendingAnnouncements: func() int {
			p.mu.Lock()
			defer p.mu.Unlock()
			return len(p.pending)
		}(),
	}
}

// update copies the shards touched by addrs once, applies f to each
// address in its copy and publishes the copies. It returns the addresses
// f changed.
func (p *Proxy) update(addrs []netip.Addr, f func(m addrSet, a netip.Addr) bool) []netip.Addr {
	touched := map[int]addrSet{}
	var changed []netip.Addr
	for _, a := range addrs {
		i := shardOf(a)
		m, ok := touched[i]
		if !ok {
			old := *p.set[i].Load()
			m = make(addrSet, len(old)+1)
			for k := range old {
				m[k] = struct{}{}
			}
			touched[i] = m
		}
		if f(m, a) {
			changed = append(changed, a)
		}
	}
	for i, m := range touched {
		p.set[i].Store(&m)
	}
	return changed
}

// Add starts answering NSs for addrs (a home address, and its link-local
// counterpart when the BU had the L flag, RFC 6275 §10.4.1) and multicasts
// Config.Advertisements gratuitous NAs for each newly added one (RFC 6275
// §10.4.1 "gratuitous" Neighbor Advertisement, repeated per RFC 4861
// §7.2.6), so that nodes that cached the mobile node's own link-layer
// address repoint it to the home agent. An address already proxied is
// left alone (a binding refresh sends nothing). The first NA goes out
// before Add returns; the repeats follow from a timer.
func (p *Proxy) Add(addrs ...netip.Addr) error {
	added, err := p.install(addrs, false)
	if err != nil {
		return err
	}
	if p.cfg.Advertisements > 0 && len(added) > 0 {
		p.advertise(added, p.cfg.Advertisements)
	}
	return nil
}

// AddQuiet starts answering NSs for addrs at once, as Add does, but sends
// no gratuitous NA when it returns: it is for restoring many bindings
// after a restart, where Add's NAs (three per address, RFC 4861 §7.2.6)
// for 10^6 bindings would flood the link. The newly added addresses are
// queued instead and announced once each, Config.AnnounceRate a second,
// in the background (none with a negative AnnounceRate); an address
// removed before its turn is skipped. Neighbours that still cache the
// home agent's link-layer address for them need nothing, and the others
// find it with an NS, which is answered from the start.
func (p *Proxy) AddQuiet(addrs ...netip.Addr) error {
	_, err := p.install(addrs, p.cfg.AnnounceRate > 0)
	return err
}

// install adds addrs to the set and returns the ones that were not there;
// with queue, it queues them for the paced announcements.
func (p *Proxy) install(addrs []netip.Addr, queue bool) ([]netip.Addr, error) {
	for _, a := range addrs {
		if err := checkUnicast(a); err != nil {
			return nil, err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, net.ErrClosed
	}
	added := p.update(addrs, func(m addrSet, a netip.Addr) bool {
		a = a.WithZone("")
		if _, ok := m[a]; ok {
			return false
		}
		m[a] = struct{}{}
		return true
	})
	p.count.Add(int64(len(added)))
	if queue && len(added) > 0 {
		for _, a := range added {
			p.pending = append(p.pending, a.As16())
		}
		if p.paceTimer == nil {
			p.paceTimer = time.AfterFunc(0, p.pace)
		}
	}
	return added, nil
}

// paceTick is the period of the paced announcements: short enough to
// spread them evenly, long enough not to wake up for every NA at high
// rates.
const paceTick = 10 * time.Millisecond

// pace sends the announcements due in one tick: AnnounceRate × tick (at
// least one, and then the tick is 1 s / AnnounceRate), and re-arms.
func (p *Proxy) pace() {
	tick, k := paceTick, p.cfg.AnnounceRate*int(paceTick)/int(time.Second)
	if k < 1 {
		tick, k = time.Second/time.Duration(p.cfg.AnnounceRate), 1
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	var due [8][16]byte // k is small; larger batches go in several rounds
	batch := due[:0]
	// Skipping removed addresses is bounded too, so that a tick never
	// scans the whole queue under the lock.
	for scanned := 0; len(p.pending) > 0 && len(batch) < min(k, len(due)) && scanned < 64; scanned++ {
		a := p.pending[0]
		p.pending = p.pending[1:]
		if p.Proxied(netip.AddrFrom16(a)) {
			batch = append(batch, a)
		}
	}
	if len(p.pending) == 0 {
		p.pending = nil // let the backing array go
	}
	p.mu.Unlock()
	for _, a := range batch {
		// The same NA as Add's (RFC 6275 §10.4.1).
		na := &NeighborAdvertisement{Override: true, Target: netip.AddrFrom16(a), TargetLinkLayer: p.id.Load().mac}
		if p.send(allNodes, na) {
			p.sentGra.Add(1)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
	case len(p.pending) == 0:
		p.paceTimer = nil
	case k > len(due):
		p.paceTimer = time.AfterFunc(tick*time.Duration(len(due))/time.Duration(k), p.pace)
	default:
		p.paceTimer = time.AfterFunc(tick, p.pace)
	}
}

// advertise sends one gratuitous NA for every address of addrs that is
// still proxied and schedules the next round while rounds are left.
func (p *Proxy) advertise(addrs []netip.Addr, rounds int) {
	for _, a := range addrs {
		if !p.Proxied(a) {
			continue // removed meanwhile: stop speaking for it
		}
		// RFC 6275 §10.4.1: to all-nodes, R clear (the home agent speaks
		// for a host), S clear (nobody asked), O set so that existing
		// cache entries are replaced; TLLA the home agent's address.
		na := &NeighborAdvertisement{Override: true, Target: a, TargetLinkLayer: p.id.Load().mac}
		if p.send(allNodes, na) {
			p.sentGra.Add(1)
		}
	}
	if rounds <= 1 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(p.cfg.RetransTimer, func() {
		p.mu.Lock()
		delete(p.timers, t)
		p.mu.Unlock()
		p.advertise(addrs, rounds-1)
	})
	p.timers[t] = struct{}{}
}

// Remove stops answering for addrs (de-registration, expiry). It sends
// nothing: RFC 6275 §11.5.5 has the mobile node, back home, multicast its
// own NA with its link-layer address; a home agent that advertised here
// would race it.
func (p *Proxy) Remove(addrs ...netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	removed := p.update(addrs, func(m addrSet, a netip.Addr) bool {
		a = a.WithZone("")
		if _, ok := m[a]; !ok {
			return false
		}
		delete(m, a)
		return true
	})
	p.count.Add(-int64(len(removed)))
}

// LinkLayer returns the link-layer address the NAs carry now.
func (p *Proxy) LinkLayer() net.HardwareAddr {
	return append(net.HardwareAddr(nil), p.id.Load().mac...)
}

// SetLinkLayer makes mac the Target Link-layer Address of the NAs from
// now on: the home link interface's address changed (an operator, or a
// bridge that took a new port's address). It reports whether mac differs
// from the address in use. It sends nothing: Announce tells the link.
// Safe to call while packets are answered, which see the old or the new
// address, never a mix.
func (p *Proxy) SetLinkLayer(mac net.HardwareAddr) (bool, error) {
	if err := checkMAC(mac); err != nil {
		return false, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.id.Load()
	if string(old.mac) == string(mac) {
		return false, nil
	}
	p.id.Store(&ident{mac: append(net.HardwareAddr(nil), mac...), src: old.src})
	return true, nil
}

// SetSource makes src the IPv6 source of the NAs from now on: the home
// link interface's link-local address changed (RFC 4861 §7.2.2 wants an
// address of the interface). It reports whether src differs from the
// source in use.
func (p *Proxy) SetSource(src netip.Addr) (bool, error) {
	if err := checkSource(src); err != nil {
		return false, err
	}
	src = src.WithZone("")
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.id.Load()
	if old.src == src {
		return false, nil
	}
	p.id.Store(&ident{mac: old.mac, src: src})
	return true, nil
}

// Announce multicasts gratuitous NAs with the Override flag for every
// proxied address, with the link-layer address in use now (RFC 6275
// §10.4.1, repeated per RFC 4861 §7.2.6, which foresees exactly this: a
// node whose link-layer address changed informs its neighbours at once
// instead of waiting for their Neighbor Unreachability Detection). For
// after SetLinkLayer, and after the home link came back up. A set of up
// to Config.AnnounceRate addresses gets Config.Advertisements NAs each,
// as Add sends (none with negative Advertisements); a larger one is
// queued for AddQuiet's paced announcements (one NA each, AnnounceRate a
// second), so that 10^5 bindings do not burst onto the link. With a
// negative AnnounceRate there is no pace, and every set is sent as a
// small one. It returns the number of addresses announced or queued.
func (p *Proxy) Announce() int {
	var all []netip.Addr
	for i := range p.set {
		for a := range *p.set[i].Load() {
			all = append(all, a)
		}
	}
	if len(all) == 0 {
		return 0
	}
	if len(all) <= p.cfg.AnnounceRate || p.cfg.AnnounceRate <= 0 {
		if p.cfg.Advertisements > 0 {
			p.advertise(all, p.cfg.Advertisements)
		}
		return len(all)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0
	}
	for _, a := range all {
		p.pending = append(p.pending, a.As16())
	}
	if p.paceTimer == nil {
		p.paceTimer = time.AfterFunc(0, p.pace)
	}
	return len(all)
}

var allNodes = netip.MustParseAddr("ff02::1")

// StartDAD runs Duplicate Address Detection for a on the home link (RFC
// 4862 §5.4, required of the home agent before it accepts a home
// registration by RFC 6275 §10.3.1): it sends Config.DADTransmits NSs from
// the unspecified address to a's solicited-node group, RetransTimer apart,
// and reports a duplicate if an NA for a or another node's DAD NS for a
// arrives before RetransTimer has passed after the last one. It returns at
// once; the result arrives on the channel (buffered, exactly one value),
// so the owner goroutine never blocks. A second StartDAD for an address
// under test joins the running one. For an address already proxied the
// answer is "not duplicate" at once: the home agent defends it already.
func (p *Proxy) StartDAD(a netip.Addr) <-chan DADResult {
	c := make(chan DADResult, 1)
	if err := checkUnicast(a); err != nil {
		c <- DADResult{Addr: a, Err: err}
		return c
	}
	a = a.WithZone("")
	if p.Proxied(a) {
		c <- DADResult{Addr: a}
		return c
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c <- DADResult{Addr: a, Err: net.ErrClosed}
		return c
	}
	old := *p.dad.Load()
	if st, ok := old[a]; ok {
		st.waiters = append(st.waiters, c)
		return c
	}
	st := &dadState{left: p.cfg.DADTransmits, waiters: []chan DADResult{c}}
	m := make(map[netip.Addr]*dadState, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[a] = st
	p.dad.Store(&m)
	p.probeLocked(a, st)
	return c
}

// probeLocked sends the next DAD NS for a, or finishes with "not
// duplicate" when none is left, and arms the timer. p.mu is held.
func (p *Proxy) probeLocked(a netip.Addr, st *dadState) {
	if st.left == 0 {
		p.finishLocked(a, DADResult{Addr: a})
		return
	}
	st.left--
	// RFC 4862 §5.4.2: from ::, to the solicited-node group, no SLLA
	// (RFC 4861 §7.1.1 forbids it with an unspecified source).
	ns := &NeighborSolicitation{Target: a}
	pkt, err := AppendPacket(nil, netip.IPv6Unspecified(), SolicitedNodeMulticast(a), ns)
	if err == nil {
		err = p.link.send(pkt, MulticastMAC(SolicitedNodeMulticast(a)))
	}
	if err != nil {
		p.finishLocked(a, DADResult{Addr: a, Err: fmt.Errorf("ndproxy: DAD probe for %v: %w", a, err)})
		return
	}
	p.sentDAD.Add(1)
	st.timer = time.AfterFunc(p.cfg.RetransTimer, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if cur, ok := (*p.dad.Load())[a]; ok && cur == st {
			p.probeLocked(a, st)
		}
	})
}

// finishLocked ends the DAD for a, if one runs, with r. p.mu is held.
func (p *Proxy) finishLocked(a netip.Addr, r DADResult) {
	old := *p.dad.Load()
	st, ok := old[a]
	if !ok {
		return
	}
	m := make(map[netip.Addr]*dadState, len(old))
	for k, v := range old {
		if k != a {
			m[k] = v
		}
	}
	p.dad.Store(&m)
	if st.timer != nil {
		st.timer.Stop()
	}
	for _, c := range st.waiters {
		c <- r
	}
}

// stop ends every DAD with net.ErrClosed and stops the timers; Add and
// StartDAD fail afterwards.
func (p *Proxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for a := range *p.dad.Load() {
		p.finishLocked(a, DADResult{Addr: a, Err: net.ErrClosed})
	}
	for t := range p.timers {
		t.Stop()
	}
	clear(p.timers)
	if p.paceTimer != nil {
		p.paceTimer.Stop()
		p.paceTimer = nil
	}
	p.pending = nil
}

func (p *Proxy) report(err error) {
	if err != nil && p.cfg.OnError != nil {
		p.cfg.OnError(err)
	}
}

// send builds and sends an NA from Config.Source to dst; a multicast dst
// gets its mapped MAC. It reports whether the NA left.
func (p *Proxy) send(dst netip.Addr, na *NeighborAdvertisement) bool {
	return p.sendTo(dst, MulticastMAC(dst), na)
}

func (p *Proxy) sendTo(dst netip.Addr, mac net.HardwareAddr, na *NeighborAdvertisement) bool {
	pkt, err := AppendPacket(make([]byte, 0, 128), p.id.Load().src, dst, na)
	if err == nil {
		err = p.link.send(pkt, mac)
	}
	if err != nil {
		p.report(fmt.Errorf("ndproxy: NA for %v to %v: %w", na.Target, dst, err))
		return false
	}
	return true
}

// handle processes one received packet, starting at its IPv6 header;
// srcMAC is the frame's link-layer source. Invalid packets are counted and
// dropped silently (RFC 4861 §7.1). It does not allocate (parseView,
// answer): it runs for every NS and NA of the link.
func (p *Proxy) handle(pkt []byte, srcMAC net.HardwareAddr) {
	v, ok := parseView(pkt)
	if !ok {
		p.invalid.Add(1)
		return
	}
	// Only packets about a target of ours go on, and only those pay for
	// the checksum.
	relevant := p.dadRunning(v.target) || (v.typ == ICMPNeighborSolicitation && p.Proxied(v.target))
	if !relevant {
		return
	}
	if !v.checksumValid() {
		p.invalid.Add(1)
		return
	}
	switch v.typ {
	case ICMPNeighborSolicitation:
		if v.src.IsUnspecified() && p.dadRunning(v.target) {
			// RFC 4862 §5.4.3: another node's DAD probe for the same
			// tentative address: both must give it up. Our own probes
			// never come back (the socket does not see outgoing
			// packets).
			p.dadDuplicate(v.target)
			return
		}
		if !p.Proxied(v.target) {
			return
		}
		p.answer(&v, srcMAC)
	case ICMPNeighborAdvertisement:
		// RFC 4862 §5.4.4: any valid NA for a tentative address means
		// it is in use.
		if p.dadRunning(v.target) {
			p.dadDuplicate(v.target)
		}
	}
}

// answer sends the NA for an NS whose target is proxied (RFC 4861 §7.2.4
// with RFC 6275 §10.4.1), within the answer limits.
func (p *Proxy) answer(ns *ndView, srcMAC net.HardwareAddr) {
	// R clear: the home agent answers for a mobile node, which is a host
	// (a NEMO mobile router's home address is answered the same way: the
	// R flag is about the target, and the home link must not start using
	// the home address as a router). O set: the home agent takes over an
	// address whose owner is away, so the answer must replace a cache
	// entry that still holds the mobile node's own link-layer address.
	flags := byte(flagOverride)
	dst := allNodes
	id := p.id.Load()
	var mac []byte
	if ns.src.IsUnspecified() {
		// A DAD probe from another node for an address we defend:
		// §7.2.4 sends the answer to all-nodes, S clear. The prober sees
		// a duplicate (RFC 4862 §5.4.4).
		mac = allNodesMAC[:]
	} else {
		flags |= flagSolicited
		dst = ns.src
		// Unicast to the soliciter, at the link-layer address of its
		// SLLA (which a multicast NS carries, §7.2.2), else the frame's
		// source (a unicast NUD probe may omit the option). Sending on
		// the packet socket with the link-layer destination given needs
		// no neighbour entry in our own kernel, which never learnt the
		// soliciter from an NS that was not for one of its own
		// addresses.
		mac = ns.lla
		if len(mac) != len(id.mac) {
			mac = srcMAC
		}
		if len(mac) == 0 {
			return
		}
	}
	p.ansMu.Lock()
	defer p.ansMu.Unlock()
	now := time.Now()
	// Per target first, so that one flooded target does not use up the
	// budget of the others.
	if !p.perTarget.AllowAddr(ns.target, now) || !p.allAns.Allow(now) {
		p.limited.Add(1)
		return
	}
	p.ansBuf = appendNA(p.ansBuf[:0], id.src, dst, ns.target, flags, id.mac)
	if err := p.link.send(p.ansBuf, mac); err != nil {
		p.report(fmt.Errorf("ndproxy: NA for %v to %v: %w", ns.target, dst, err))
		return
	}
	p.sentSol.Add(1)
}

// dadRunning reports, without a lock, whether DAD runs for a.
func (p *Proxy) dadRunning(a netip.Addr) bool {
	_, ok := (*p.dad.Load())[a]
	return ok
}

func (p *Proxy) dadDuplicate(a netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishLocked(a, DADResult{Addr: a, Duplicate: true})
}

// allNodesMAC is MulticastMAC(allNodes), 33:33:00:00:00:01 (RFC 2464 §7).
var allNodesMAC = [6]byte{0x33, 0x33, 0, 0, 0, 1}

// LinkLocal returns the link-local address with the interface identifier
// of the home address hoa, fe80::/64 plus its last 64 bits: the address
// RFC 6275 §10.4.1 has the home agent defend as well when a BU has the L
// flag (§6.1.7). The owner passes it to StartDAD and Add along with hoa.
func LinkLocal(hoa netip.Addr) netip.Addr {
	s := hoa.As16()
	ll := [16]byte{0xfe, 0x80}
	copy(ll[8:], s[8:])
	return netip.AddrFrom16(ll)
}
