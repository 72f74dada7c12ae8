package mobilenode

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/mip6"
)

// This file is the mobile node's side of route optimization (RFC 6275
// §5.2, §11.6, §11.7.2, §11.7.3, §11.8): return routability with each
// correspondent, the Binding Update that registers the care-of address
// there, its acknowledgement, and the fall-back to the home tunnel when a
// correspondent does not answer or refuses, or when the direct path
// brings nothing back (the liveness check, ROConfig.DirectTraffic). Like
// Registration it does no I/O and reads no clock.

// ROState is the state of route optimization with one correspondent.
//
//	          Away (registered home binding)
//	Idle ───────────────────────────────▶ Testing ──HoT+CoT──▶ Updating ──BA 0──▶ Bound
//	 ▲                                      │  ▲                  │                 │
//	 │                                      │  └──136/137/138─────┘                 │ refresh, BRR, move
//	 │                                      ▼                                       ▼
//	 └──────── RetryAt ◀──────────────── Backoff ◀── timeout, BE, ≥128, ICMP, silence ── Testing, Bound …
//
// Deregistering is the exchange that deletes the binding (return home,
// shutdown, a correspondent taken out of the policy).
type ROState uint8

// Route optimization states.
const (
	// ROIdle: nothing in flight. The correspondent may still hold a
	// binding (ROEntry.Expires) for a care-of address we left.
	ROIdle ROState = iota
	// ROTesting: a Home Test Init or Care-of Test Init (or both) waits
	// for its answer (§11.6.1).
	ROTesting
	// ROUpdating: the Binding Update waits for its acknowledgement
	// (§11.7.2; we always set the A flag).
	ROUpdating
	// ROBound: the correspondent holds a binding for the current care-of
	// address; packets to it leave directly (§11.3.1).
	ROBound
	// ROBackoff: the last attempt failed; the home tunnel carries the
	// traffic until ROEntry.RetryAt.
	ROBackoff
	// RODeregistering: a Binding Update with lifetime 0 (or the Home Test
	// Init it needs first) is in flight.
	RODeregistering
)

var roStateNames = [...]string{"idle", "testing", "updating", "bound", "backoff", "deregistering"}

// String names the state.
func (s ROState) String() string {
	if int(s) < len(roStateNames) {
		return roStateNames[s]
	}
	return "ro-state(" + strconv.Itoa(int(s)) + ")"
}

// ROEventKind says what an ROEvent reports.
type ROEventKind uint8

// Route optimization events.
const (
	// RODirect: the correspondent acknowledged a binding for
	// ROEvent.CareOf (ROEvent.Lifetime): send to it directly with the
	// Home Address option and accept its type 2 routed packets.
	RODirect ROEventKind = iota + 1
	// ROTunnel: stop sending directly; the home tunnel carries the
	// traffic again (ROEvent.Reason says why).
	ROTunnel
	// ROTestsDone: both keygen tokens are in (return routability
	// succeeded); the Binding Update goes out.
	ROTestsDone
	// ROFailed: an attempt failed (ROEvent.Reason, Status, BEStatus);
	// retried at ROEntry.RetryAt.
	ROFailed
	// RODeregistered: the correspondent deleted the binding, or the
	// de-registration was given up.
	RODeregistered
	// RODirectSilent: the direct-path liveness check gave up on the
	// correspondent (packets went out directly, nothing came back for
	// ROEvent.Lifetime, the window); an ROTunnel and an ROFailed
	// follow.
	RODirectSilent
)

var roEventNames = [...]string{"", "ro-direct", "ro-tunnel", "ro-tests-done", "ro-failed", "ro-deregistered", "ro-direct-silent"}

// String names the kind.
func (k ROEventKind) String() string {
	if int(k) < len(roEventNames) {
		return roEventNames[k]
	}
	return "ro-event(" + strconv.Itoa(int(k)) + ")"
}

// ROEvent is something the daemon acts on or logs.
type ROEvent struct {
	Kind          ROEventKind
	Correspondent netip.Addr
	CareOf        netip.Addr
	Lifetime      time.Duration
	Status        mip6.Status
	BEStatus      mip6.BEStatus
	Reason        string
}

// ROPacket is a Mobility Header to send for route optimization. MH is
// whole (authenticated, checksummed); wrap it in IPv6 from Src to Dst,
// with a Home Address option holding HomeAddress when that is valid (the
// Binding Update from a care-of address, §11.7.2).
//
// ViaTunnel marks the Home Test Init away from home: it must leave
// through the reverse tunnel to the home agent (§5.2.3), which is what
// proves to the correspondent that we receive at the home address. Every
// other packet away from home leaves directly from the care-of address.
type ROPacket struct {
	Type          mip6.MHType
	MH            []byte
	Src, Dst      netip.Addr
	HomeAddress   netip.Addr
	ViaTunnel     bool
	Correspondent netip.Addr
	Sequence      uint16
	Retransmit    int
}

// ROOutput is what the daemon does after an RouteOptimizer call: send
// Send in order, report Events, and call Timer at NextTimer.
type ROOutput struct {
	Send   []ROPacket
	Events []ROEvent
}

func (o *ROOutput) add(b ROOutput) {
	o.Send = append(o.Send, b.Send...)
	o.Events = append(o.Events, b.Events...)
}

// ROEntry is the Binding Update List entry (§11.1) of one correspondent,
// as status reports show it.
type ROEntry struct {
	Correspondent netip.Addr
	State         ROState
	// CareOf is the care-of address being tested or registered;
	// BoundCareOf the one the correspondent acknowledged, valid until
	// Expires (zero: none known).
	CareOf, BoundCareOf netip.Addr
	Sequence            uint16
	Lifetime            time.Duration
	Expires             time.Time
	RefreshAt           time.Time
	// Direct reports that packets to the correspondent leave directly.
	Direct bool
	// RetryAt is when a failed correspondent is tried again; Failures
	// counts the failures in a row, Reason the last one.
	RetryAt  time.Time
	Failures int
	Reason   string
}

// Route optimization timing. RFC 6275 leaves these to the implementation
// except where noted.
const (
	// ROTokenReuse is how long after it arrived a keygen token is used
	// for a new Binding Update: MAX_TOKEN_LIFETIME (§5.2.7: the
	// correspondent accepts the nonce at least that long after handing
	// it out) less a margin for the Binding Update's trip.
	ROTokenReuse = mip6.MaxTokenLifetime - 10*time.Second
	// RORetryMin and RORetryMax bound the back-off after a failed
	// attempt: it starts at MAX_BINDACK_TIMEOUT and doubles per failure
	// in a row. A correspondent that shows it does not implement route
	// optimization (Binding Error status 2, a Parameter Problem about the
	// Home Address option, before it ever accepted a Binding Update of
	// ours) is left alone for RORetryMax at once.
	RORetryMin = mip6.MaxBindackTimeout
	RORetryMax = 30 * time.Minute
	// ROLiveness is the default window of the direct-path liveness
	// check (ROConfig.DirectTraffic): a few round trips and a TCP
	// retransmission, as for the home tunnel's check in mnd.
	// ROLivenessMax bounds the window as it doubles while a flow that
	// only sends keeps tripping the check.
	ROLiveness    = 3 * time.Second
	ROLivenessMax = 2 * time.Minute
	// roMaxResyncs bounds the immediate resends after 135 or 136-138 in
	// one exchange (MAX_UPDATE_RATE, §11.8, is 3 a second).
	roMaxResyncs = 3
)

// ROConfig configures a RouteOptimizer.
type ROConfig struct {
	HomeAddress netip.Addr
	// Lifetime is the binding lifetime asked of correspondents; 0 or
	// anything above MAX_RR_BINDING_LIFETIME (§5.2.7: the most a binding
	// authorized by return routability may last) means that maximum.
	Lifetime time.Duration
	// Rand draws cookies and the first sequence numbers; nil means
	// crypto/rand.
	Rand io.Reader
	// DirectTraffic, when set, turns the direct-path liveness check on:
	// it returns how many data packets have gone to cn directly (with
	// the Home Address option) and come from cn directly (with a type 2
	// routing header) since the daemon started, counters the data path
	// keeps anyway. Timer polls it every Liveness/6 while cn is direct.
	// It must not call back into the RouteOptimizer.
	DirectTraffic func(cn netip.Addr) (out, in uint64)
	// Liveness is the check's window; 0 means ROLiveness.
	Liveness time.Duration
}

// roPeer is one correspondent.
type roPeer struct {
	e ROEntry

	homeCookie, careofCookie binding.Cookie
	homeToken, careofToken   binding.KeygenToken
	homeIndex, careofIndex   uint16
	homeAt, careofAt         time.Time // when the token arrived; zero: none
	careofFor                netip.Addr

	// Retransmission (§11.8): zero when nothing is in flight.
	hotiRetx, cotiRetx, buRetx       time.Time
	hotiBackoff, cotiBackoff, buBack time.Duration
	hotiN, cotiN, buN                int

	kbm      binding.Kbm
	buCoA    netip.Addr
	buLT     time.Duration
	buSentAt time.Time
	resyncs  int
	retry    time.Duration
	hard     bool // the correspondent does not do route optimization
	removing bool // delete the peer once deregistered
	// accepted: the correspondent accepted a Binding Update of ours in
	// this run, so it does route optimization (ParameterProblem).
	accepted bool

	// lv is the direct-path liveness check, lvNext its next poll; mhIn
	// counts the Mobility Headers the correspondent sent us directly (to
	// the care-of address), which prove the path as data packets do.
	lv     Liveness
	lvNext time.Time
	mhIn   uint64
}

// The direct-path liveness check (Liveness, one per correspondent): RFC
// 6275 has the mobile node notice a correspondent that lost its binding
// only through a Binding Error (§9.3.1, §11.3.6) or an ICMP error
// (§11.3.5), both of which a firewall, or a crashed correspondent
// daemon's leftover filter, can swallow: the binding then looks good
// until it expires (up to MAX_RR_BINDING_LIFETIME, 420 s) while
// everything sent directly is lost. The check treats a direct path that
// carries packets out and nothing back for its window as lost, falls
// back to the home tunnel and widens the window (to ROLivenessMax) until
// something comes back directly, so that a flow that only sends (which
// no path answers) costs a fall-back ever more rarely.

// RouteOptimizer runs route optimization with every correspondent the
// policy names. The daemon tells it where the node is (Away with a
// registered care-of address, Suspend while moving, Home), feeds it
// Mobility Headers from correspondents, Parameter Problems and timer
// ticks, and sends what it returns. It owns no goroutine and is not safe
// for concurrent use.
//
// Trigger (RFC 6275 §11.7.2 leaves it to the mobile node): the daemon
// Adds the correspondents it wants to optimize; RouteOptimizer starts
// return routability with them as soon as the home binding is
// acknowledged, and re-runs it on every move (§11.7.2: the binding at
// the correspondent must follow the care-of address).
type RouteOptimizer struct {
	cfg   ROConfig
	peers []*roPeer
	coa   netip.Addr // the registered care-of address, when away
	away  bool
	home  bool
	// homeExpires is when the home registration ends (zero: unknown).
	homeExpires time.Time
}

// NewRouteOptimizer returns a RouteOptimizer with no correspondents, not
// yet away.
func NewRouteOptimizer(cfg ROConfig) (*RouteOptimizer, error) {
	if !cfg.HomeAddress.Is6() || cfg.HomeAddress.Is4In6() {
		return nil, fmt.Errorf("mobilenode: route optimization needs an IPv6 home address")
	}
	if cfg.Lifetime <= 0 || cfg.Lifetime > mip6.MaxRRBindingLifetime {
		cfg.Lifetime = mip6.MaxRRBindingLifetime
	}
	cfg.Lifetime -= cfg.Lifetime % mip6.LifetimeUnit
	cfg.Lifetime = max(cfg.Lifetime, mip6.LifetimeUnit)
	if cfg.Liveness <= 0 {
		cfg.Liveness = ROLiveness
	}
	return &RouteOptimizer{cfg: cfg}, nil
}

func (o *RouteOptimizer) peer(cn netip.Addr) *roPeer {
	for _, p := range o.peers {
		if p.e.Correspondent == cn {
			return p
		}
	}
	return nil
}

// Correspondents returns the correspondents added, in order.
func (o *RouteOptimizer) Correspondents() []netip.Addr {
	out := make([]netip.Addr, 0, len(o.peers))
	for _, p := range o.peers {
		out = append(out, p.e.Correspondent)
	}
	return out
}

// Entries returns a copy of every correspondent's entry, in the order they
// were added.
func (o *RouteOptimizer) Entries() []ROEntry {
	out := make([]ROEntry, 0, len(o.peers))
	for _, p := range o.peers {
		out = append(out, p.e)
	}
	return out
}

// Entry returns the entry of cn.
func (o *RouteOptimizer) Entry(cn netip.Addr) (ROEntry, bool) {
	if p := o.peer(cn); p != nil {
		return p.e, true
	}
	return ROEntry{}, false
}

// Add starts route optimization with cn: at once when away from home with
// a registered care-of address, else at the next Away. Adding a
// correspondent twice changes nothing.
func (o *RouteOptimizer) Add(cn netip.Addr, now time.Time) (ROOutput, error) {
	if !cn.Is6() || cn.Is4In6() || !cn.IsGlobalUnicast() || cn == o.cfg.HomeAddress {
		return ROOutput{}, fmt.Errorf("mobilenode: %v cannot be a correspondent (§9.5.1: unicast routable, not our home address)", cn)
	}
	if p := o.peer(cn); p != nil {
		p.removing = false
		return ROOutput{}, nil
	}
	p := &roPeer{e: ROEntry{Correspondent: cn}, retry: RORetryMin}
	var b [2]byte
	if err := readRand(o.cfg.Rand, b[:]); err != nil {
		return ROOutput{}, err
	}
	p.e.Sequence = uint16(b[0])<<8 | uint16(b[1])
	o.peers = append(o.peers, p)
	var out ROOutput
	if o.away {
		o.start(&out, p, now)
	}
	return out, nil
}

// Remove stops route optimization with cn: a binding it may hold is
// deleted (§11.7.2: a Binding Update with lifetime 0, when a home keygen
// token is still fresh enough; otherwise the binding is left to expire,
// at most MAX_RR_BINDING_LIFETIME later) and the traffic goes back to the
// tunnel.
func (o *RouteOptimizer) Remove(cn netip.Addr, now time.Time) ROOutput {
	var out ROOutput
	p := o.peer(cn)
	if p == nil {
		return out
	}
	o.direct(&out, p, false, "removed from the policy")
	p.removing = true
	if !o.deregister(&out, p, now, false) {
		o.drop(p)
	}
	return out
}

func (o *RouteOptimizer) drop(p *roPeer) {
	o.peers = slices.DeleteFunc(o.peers, func(q *roPeer) bool { return q == p })
}

// Away reports that the home agent acknowledged coa (§11.7.3), in a
// binding that lasts until homeExpires (zero: not known): return
// routability starts with every correspondent whose binding is not for
// coa already, those in back-off excepted unless coa is new to them
// (re-run on every move, §11.7.2). A de-registration still in flight
// (Tunnelled) gives way: the new Binding Update, with a higher sequence
// number, replaces whatever the correspondent holds. A refresh of the
// home binding for the same care-of address only moves homeExpires,
// unless a correspondent's binding ends after the new homeExpires: it is
// refreshed at once, with a lifetime within homeExpires.
//
// No Binding Update to a correspondent asks for a lifetime beyond
// homeExpires (§11.7.2: a correspondent binding must not outlive the home
// registration, whose tunnel carries the Home Test of its refresh and the
// traffic when it ends).
func (o *RouteOptimizer) Away(coa netip.Addr, homeExpires, now time.Time) ROOutput {
	var out ROOutput
	moved := o.coa != coa || !o.away
	o.coa, o.away, o.home, o.homeExpires = coa, true, false, homeExpires
	for _, p := range o.peers {
		if p.removing {
			continue
		}
		switch {
		case p.e.State == ROBackoff && (p.hard || !moved) && now.Before(p.e.RetryAt):
			continue
		case (p.e.State == ROTesting || p.e.State == ROUpdating) && p.e.CareOf == coa:
			continue
		case p.e.State == ROBound && p.e.BoundCareOf == coa &&
			(homeExpires.IsZero() || !p.e.Expires.After(homeExpires)):
			continue
		}
		// A binding for coa that would outlive a home binding now
		// shortened (the home or care-of address's valid lifetime
		// ran short, Registration.SetHomeAddressValidUntil) is
		// refreshed now within it (§11.7.2).
		o.start(&out, p, now)
	}
	return out
}

// Suspend reports that the registered care-of address is no longer usable
// (a move, whose new address the home agent has not acknowledged yet, or
// lost connectivity): exchanges in flight stop and nothing is sent
// directly until the next Away. What the correspondents hold is
// remembered.
func (o *RouteOptimizer) Suspend(reason string) ROOutput {
	var out ROOutput
	o.away, o.coa = false, netip.Addr{}
	for _, p := range o.peers {
		o.direct(&out, p, false, reason)
		if p.e.State == ROTesting || p.e.State == ROUpdating || p.e.State == ROBound {
			p.stopExchange()
			p.e.State = ROIdle
		}
	}
	return out
}

// Tunnelled reports that the home agent acknowledged a care-of address
// that route optimization cannot use: an IPv4 one (RFC 5555 carries IPv6
// only inside the home agent's tunnel; it defines no route optimization).
// As with Suspend nothing is sent directly; and every correspondent that
// may still hold a binding for an earlier care-of address gets a
// de-registration through the home tunnel: a Binding Update from the
// home address with lifetime 0, which the correspondent takes as one
// (§9.5.1: the source address is the care-of address, here the home
// address), authorized by a home keygen token alone (§5.2.5), fetched
// first through the tunnel when the last is too old. Otherwise the
// correspondent goes on sending to the old care-of address, where nobody
// listens any more, until the binding expires.
func (o *RouteOptimizer) Tunnelled(reason string, now time.Time) ROOutput {
	out := o.Suspend(reason)
	for _, p := range o.peers {
		// One in flight goes on with its own retransmissions: the
		// registrations that follow (refreshes, NAT keepalive ones)
		// do not restart it.
		if p.e.State != RODeregistering {
			o.deregister(&out, p, now, true)
		}
	}
	return out
}

// Home reports that the node is on its home link (§11.5.5): every
// correspondent that may hold a binding gets a de-registration, a Binding
// Update with lifetime 0 from the home address, authorized by a home
// keygen token alone (§5.2.5); one is fetched with a Home Test Init sent
// directly from the home address when the last is too old.
func (o *RouteOptimizer) Home(now time.Time) ROOutput {
	var out ROOutput
	o.away, o.coa, o.home = false, netip.Addr{}, true
	for _, p := range slices.Clone(o.peers) {
		o.direct(&out, p, false, "returned home")
		if !o.deregister(&out, p, now, true) {
			p.stopExchange()
			p.e.State = ROIdle
			if p.removing {
				o.drop(p)
			}
		}
	}
	return out
}

// Shutdown deletes what it can before the daemon exits: a
// de-registration to every correspondent that may hold a binding and
// whose home keygen token is still fresh (there is no time left for a
// new test); the others' bindings expire by themselves. Nothing is
// retransmitted after it.
func (o *RouteOptimizer) Shutdown(now time.Time) ROOutput {
	var out ROOutput
	for _, p := range o.peers {
		o.direct(&out, p, false, "shutting down")
		o.deregister(&out, p, now, false)
		p.stopExchange()
		p.e.State = ROIdle
	}
	o.away, o.coa = false, netip.Addr{}
	return out
}

// deregister starts the deletion of p's binding, if the correspondent may
// hold one, and reports whether something went out. With test false it
// only uses a fresh home keygen token.
func (o *RouteOptimizer) deregister(out *ROOutput, p *roPeer, now time.Time, test bool) bool {
	mayHold := p.e.Expires.After(now) || p.e.State == ROUpdating || (p.e.State == RODeregistering && !p.removing)
	if !mayHold {
		return false
	}
	p.stopExchange()
	p.resyncs, p.hotiN, p.buN = 0, 0, 0
	p.hotiBackoff, p.buBack = mip6.InitialBindackTimeout, mip6.InitialBindackTimeout
	p.e.State = RODeregistering
	if p.homeFresh(now) {
		o.sendBU(out, p, now, true)
		return true
	}
	if !test {
		p.e.State = ROIdle
		return false
	}
	o.sendHoTI(out, p, now)
	return true
}

// ParameterProblem reports an ICMPv6 Parameter Problem, code 2, pointing
// at the Home Address option of a packet we sent to cn: the
// correspondent's node does not process the option (§11.3.5, §9.3.1: a
// node without Mobile IPv6, or a correspondent daemon that stopped). The
// traffic goes back to the tunnel at once.
//
// §11.3.5 expects every correspondent that takes part in return
// routability to process the option, so the error means no usable route
// optimization there: right for one that never accepted a Binding Update
// of ours, which is left alone for RORetryMax. One that accepted one in this
// run has shown that it does route optimization; its Parameter Problem
// means that its daemon stopped (an upgrade, a restart), so it gets the
// ordinary back-off (RORetryMin, doubling) and route optimization comes
// back soon after the daemon does. It is unauthenticated, so an on-path
// forger can do this too; all it gains is the tunnel (§15.4 accepts that
// for Binding Errors).
func (o *RouteOptimizer) ParameterProblem(cn netip.Addr, now time.Time) ROOutput {
	var out ROOutput
	p := o.peer(cn)
	if p == nil || (!p.e.Direct && p.e.State != ROUpdating) {
		return out
	}
	o.fail(&out, p, now, true, !p.accepted, ROEvent{Reason: "parameter problem about the home address option"})
	return out
}

// NextTimer returns when Timer has work next.
func (o *RouteOptimizer) NextTimer() (time.Time, bool) {
	var t time.Time
	earliest := func(u time.Time) {
		if !u.IsZero() && (t.IsZero() || u.Before(t)) {
			t = u
		}
	}
	for _, p := range o.peers {
		earliest(p.hotiRetx)
		earliest(p.cotiRetx)
		earliest(p.buRetx)
		earliest(p.e.Expires)
		if p.lv.Active() {
			earliest(p.lvNext)
		}
		switch p.e.State {
		case ROBound:
			earliest(p.e.RefreshAt)
		case ROBackoff:
			if o.away {
				earliest(p.e.RetryAt)
			}
		}
	}
	return t, !t.IsZero()
}

// Timer does what is due at now: retransmissions (§11.8: the timeout
// doubles from INITIAL_BINDACK_TIMEOUT; the exchange is given up once it
// would exceed MAX_BINDACK_TIMEOUT), refreshes, expiries and retries.
func (o *RouteOptimizer) Timer(now time.Time) ROOutput {
	var out ROOutput
	for _, p := range slices.Clone(o.peers) {
		e := &p.e
		if !e.Expires.IsZero() && !e.Expires.After(now) {
			e.Expires, e.BoundCareOf, e.Lifetime, e.RefreshAt = time.Time{}, netip.Addr{}, 0, time.Time{}
			o.direct(&out, p, false, "binding expired at the correspondent")
			if e.State == ROBound {
				if e.Failures == 0 {
					o.start(&out, p, now)
					continue
				}
				// Kept direct after a failed refresh: now the
				// back-off applies.
				e.State = ROBackoff
			}
		}
		if due(p.hotiRetx, now) {
			if !p.backoff(&p.hotiBackoff) {
				o.fail(&out, p, now, false, false, ROEvent{Reason: "no Home Test"})
				continue
			}
			p.hotiN++
			o.sendHoTI(&out, p, now)
		}
		if due(p.cotiRetx, now) {
			if !p.backoff(&p.cotiBackoff) {
				o.fail(&out, p, now, false, false, ROEvent{Reason: "no Care-of Test"})
				continue
			}
			p.cotiN++
			o.sendCoTI(&out, p, now)
		}
		if due(p.buRetx, now) {
			if !p.backoff(&p.buBack) {
				o.fail(&out, p, now, false, false, ROEvent{Reason: "no Binding Acknowledgement"})
				continue
			}
			p.buN++
			o.sendBU(&out, p, now, e.State == RODeregistering)
			continue
		}
		if p.lv.Active() && due(p.lvNext, now) && o.liveLost(p, now) {
			win := p.lv.Widen()
			out.Events = append(out.Events, ROEvent{Kind: RODirectSilent, Correspondent: e.Correspondent,
				CareOf: e.BoundCareOf, Lifetime: win, Reason: roSilentReason})
			// lost: the correspondent may have lost the binding
			// and its nonces (a crash); test again on the
			// ordinary back-off.
			o.fail(&out, p, now, true, false, ROEvent{Reason: roSilentReason})
			continue
		}
		switch {
		case e.State == ROBound && due(e.RefreshAt, now):
			o.start(&out, p, now)
		case e.State == ROBackoff && o.away && due(e.RetryAt, now):
			o.start(&out, p, now)
		}
	}
	return out
}

func due(t, now time.Time) bool { return !t.IsZero() && !t.After(now) }

const roSilentReason = "direct path brings nothing back"

// liveStart starts the direct-path liveness check of p, now direct.
func (o *RouteOptimizer) liveStart(p *roPeer, now time.Time) {
	if o.cfg.DirectTraffic == nil {
		return
	}
	out, in := o.cfg.DirectTraffic(p.e.Correspondent)
	p.lv.Window, p.lv.Max = o.cfg.Liveness, max(ROLivenessMax, o.cfg.Liveness)
	p.lv.Start(now, out, in+p.mhIn)
	p.lvNext = now.Add(o.livePoll())
}

// livePoll is how often the liveness check polls: a sixth of the window,
// so that it trips between 5/6 and 7/6 of the window after the path
// went silent (a map look-up and two atomic loads per correspondent in
// the daemon).
func (o *RouteOptimizer) livePoll() time.Duration { return o.cfg.Liveness / 6 }

// liveLost polls p's direct traffic counters (and the Mobility Headers
// that came directly) and reports whether the direct path is lost:
// something went out a window ago or more, and nothing has come back
// since (Liveness.Poll).
func (o *RouteOptimizer) liveLost(p *roPeer, now time.Time) bool {
	p.lvNext = now.Add(o.livePoll())
	out, in := o.cfg.DirectTraffic(p.e.Correspondent)
	return p.lv.Poll(now, out, in+p.mhIn)
}

// backoff doubles a retransmission timeout and reports whether it is
// still within MAX_BINDACK_TIMEOUT (§11.8).
func (p *roPeer) backoff(d *time.Duration) bool {
	*d *= 2
	return *d <= mip6.MaxBindackTimeout
}

func (p *roPeer) stopExchange() {
	p.hotiRetx, p.cotiRetx, p.buRetx = time.Time{}, time.Time{}, time.Time{}
}

func (p *roPeer) homeFresh(now time.Time) bool {
	return !p.homeAt.IsZero() && now.Sub(p.homeAt) < ROTokenReuse
}

func (p *roPeer) careofFresh(coa netip.Addr, now time.Time) bool {
	return !p.careofAt.IsZero() && p.careofFor == coa && now.Sub(p.careofAt) < ROTokenReuse
}

// start begins an exchange for the current care-of address: the tests
// whose tokens are missing or too old (§11.7.2 lets a fresh token be
// used again, which after a move leaves only the care-of test), then the
// Binding Update.
func (o *RouteOptimizer) start(out *ROOutput, p *roPeer, now time.Time) {
	if !o.away || !o.coa.IsValid() {
		return
	}
	p.stopExchange()
	p.resyncs = 0
	p.e.CareOf = o.coa
	if p.e.BoundCareOf != o.coa {
		o.direct(out, p, false, "care-of address changed")
	}
	p.e.State = ROTesting
	p.hotiN, p.cotiN, p.buN = 0, 0, 0
	if !p.homeFresh(now) {
		p.homeAt = time.Time{}
		p.hotiBackoff = mip6.InitialBindackTimeout
		o.sendHoTI(out, p, now)
	}
	if !p.careofFresh(o.coa, now) {
		p.careofAt = time.Time{}
		p.cotiBackoff = mip6.InitialBindackTimeout
		o.newCookie(&p.careofCookie)
		o.sendCoTI(out, p, now)
	}
	o.testsDone(out, p, now)
}

func (o *RouteOptimizer) newCookie(c *binding.Cookie) {
	if n, err := binding.NewCookie(o.cfg.Rand); err == nil {
		*c = n
		return
	}
	// The random source failed: a cookie the correspondent echoes is
	// still unique enough to match, and it guards only against off-path
	// forgery; keep the old one changed rather than send none.
	c[0]++
}

// testsDone sends the Binding Update once both tokens are in.
func (o *RouteOptimizer) testsDone(out *ROOutput, p *roPeer, now time.Time) {
	if p.e.State == RODeregistering {
		if !p.homeAt.IsZero() && p.hotiRetx.IsZero() && p.buRetx.IsZero() {
			o.sendBU(out, p, now, true)
		}
		return
	}
	if p.e.State != ROTesting || p.homeAt.IsZero() || p.careofAt.IsZero() || !p.hotiRetx.IsZero() || !p.cotiRetx.IsZero() {
		return
	}
	out.Events = append(out.Events, ROEvent{Kind: ROTestsDone, Correspondent: p.e.Correspondent, CareOf: p.e.CareOf})
	p.buBack = mip6.InitialBindackTimeout
	p.e.State = ROUpdating
	o.sendBU(out, p, now, false)
}

// sendHoTI sends the Home Test Init (§6.1.3, §11.6.1): from the home
// address to the correspondent, through the tunnel when away.
func (o *RouteOptimizer) sendHoTI(out *ROOutput, p *roPeer, now time.Time) {
	if p.hotiBackoff == 0 {
		p.hotiBackoff = mip6.InitialBindackTimeout
	}
	if p.hotiRetx.IsZero() && p.hotiN == 0 {
		o.newCookie(&p.homeCookie)
	}
	p.hotiRetx = now.Add(p.hotiBackoff)
	cn, hoa := p.e.Correspondent, o.cfg.HomeAddress
	mh, err := mip6.AppendMessage(nil, &mip6.HomeTestInit{Cookie: p.homeCookie})
	if err != nil {
		return
	}
	mip6.SetMHChecksum(mh, hoa, cn)
	out.Send = append(out.Send, ROPacket{Type: mip6.MHHomeTestInit, MH: mh, Src: hoa, Dst: cn,
		ViaTunnel: !o.home, Correspondent: cn, Retransmit: p.hotiN})
}

// sendCoTI sends the Care-of Test Init (§6.1.4, §11.6.1): from the
// care-of address, directly, without a Home Address option.
func (o *RouteOptimizer) sendCoTI(out *ROOutput, p *roPeer, now time.Time) {
	if p.cotiBackoff == 0 {
		p.cotiBackoff = mip6.InitialBindackTimeout
	}
	p.cotiRetx = now.Add(p.cotiBackoff)
	cn, coa := p.e.Correspondent, p.e.CareOf
	mh, err := mip6.AppendMessage(nil, &mip6.CareofTestInit{Cookie: p.careofCookie})
	if err != nil {
		return
	}
	mip6.SetMHChecksum(mh, coa, cn)
	out.Send = append(out.Send, ROPacket{Type: mip6.MHCareofTestInit, MH: mh, Src: coa, Dst: cn,
		Correspondent: cn, Retransmit: p.cotiN})
}

// sendBU sends the Binding Update to the correspondent (§6.1.7, §11.7.2):
// A flag set, a new sequence number, the Nonce Indices option, and the
// Binding Authorization Data option last, whose authenticator (§5.2.6)
// Kbm from the keygen tokens computes; the checksum comes last, with the
// home address as pseudo-header source (§6.1.1). From the care-of address
// with a Home Address option, or from the home address at home.
func (o *RouteOptimizer) sendBU(out *ROOutput, p *roPeer, now time.Time, dereg bool) {
	hoa, cn := o.cfg.HomeAddress, p.e.Correspondent
	coa, lt := p.e.CareOf, o.lifetime(now)
	if dereg {
		lt = 0
		if o.home || !o.away || !coa.IsValid() {
			coa = hoa
		}
		p.kbm = binding.KbmFromHomeToken(p.homeToken)
	} else {
		p.kbm = binding.KbmFromTokens(p.homeToken, p.careofToken)
	}
	if p.buBack == 0 {
		p.buBack = mip6.InitialBindackTimeout
	}
	p.e.Sequence++
	p.buCoA, p.buLT, p.buSentAt = coa, lt, now
	p.buRetx = now.Add(p.buBack)
	bu := &mip6.BindingUpdate{Sequence: p.e.Sequence, Flags: mip6.BUFlagA, Lifetime: lt, Options: []mip6.MobilityOption{
		&mip6.NonceIndices{HomeNonceIndex: p.homeIndex, CareofNonceIndex: p.careofIndex},
		&mip6.BindingAuthorizationData{},
	}}
	mh, err := mip6.AppendMessage(nil, bu)
	if err != nil {
		return
	}
	off, _, err := mip6.AuthenticatorOffset(mh, mip6.OptBindingAuthData)
	if err == nil {
		err = binding.SetBindingAuthenticator(p.kbm, binding.AuthCareofAddress(hoa, coa, lt), cn, mh, off)
	}
	if err != nil {
		return
	}
	mip6.SetMHChecksum(mh, hoa, cn)
	// Away with no usable care-of address (Tunnelled), the
	// de-registration from the home address goes through the home
	// tunnel, as the Home Test Init does.
	pkt := ROPacket{Type: mip6.MHBindingUpdate, MH: mh, Src: coa, Dst: cn, Correspondent: cn,
		Sequence: p.e.Sequence, Retransmit: p.buN, ViaTunnel: coa == hoa && !o.home}
	if coa != hoa {
		pkt.HomeAddress = hoa
	}
	out.Send = append(out.Send, pkt)
}

// lifetime is the lifetime to ask of a correspondent at now: the
// configured one (at most MAX_RR_BINDING_LIFETIME), no longer than what is
// left of the home registration (§11.7.2), in whole 4 s units and at
// least one.
func (o *RouteOptimizer) lifetime(now time.Time) time.Duration {
	lt := o.cfg.Lifetime
	if !o.homeExpires.IsZero() {
		lt = min(lt, o.homeExpires.Sub(now))
	}
	lt -= lt % mip6.LifetimeUnit
	return max(lt, mip6.LifetimeUnit)
}

// direct switches the direct path of p, reporting a change.
func (o *RouteOptimizer) direct(out *ROOutput, p *roPeer, on bool, reason string) {
	if p.e.Direct == on {
		return
	}
	p.e.Direct = on
	p.lv.Stop()
	ev := ROEvent{Kind: ROTunnel, Correspondent: p.e.Correspondent, CareOf: p.e.BoundCareOf, Reason: reason}
	if on {
		ev = ROEvent{Kind: RODirect, Correspondent: p.e.Correspondent, CareOf: p.e.BoundCareOf, Lifetime: p.e.Lifetime}
	}
	out.Events = append(out.Events, ev)
}

// fail gives the exchange up: back to the tunnel when lost (the
// correspondent showed it holds no usable binding) or when the binding is
// for another care-of address, then back-off. hard failures (the
// correspondent does not do route optimization) wait RORetryMax.
func (o *RouteOptimizer) fail(out *ROOutput, p *roPeer, now time.Time, lost, hard bool, ev ROEvent) {
	e := &p.e
	p.stopExchange()
	if e.State == RODeregistering {
		e.State = ROIdle
		e.Expires, e.BoundCareOf, e.Lifetime, e.RefreshAt = time.Time{}, netip.Addr{}, 0, time.Time{}
		out.Events = append(out.Events, ROEvent{Kind: RODeregistered, Correspondent: e.Correspondent, Reason: ev.Reason})
		if p.removing {
			o.drop(p)
		}
		return
	}
	if lost {
		e.Expires, e.BoundCareOf, e.Lifetime, e.RefreshAt = time.Time{}, netip.Addr{}, 0, time.Time{}
		// The tokens may be what the correspondent lost (a restart):
		// test again next time.
		p.homeAt, p.careofAt = time.Time{}, time.Time{}
	}
	if lost || e.BoundCareOf != o.coa || !e.Expires.After(now) {
		o.direct(out, p, false, ev.Reason)
	}
	e.Failures++
	e.Reason = ev.Reason
	if hard {
		p.hard, p.retry = true, RORetryMax
	}
	e.State = ROBackoff
	e.RetryAt = now.Add(p.retry)
	p.retry = min(2*p.retry, RORetryMax)
	ev.Kind, ev.Correspondent, ev.CareOf = ROFailed, e.Correspondent, e.CareOf
	out.Events = append(out.Events, ev)
	if e.Direct {
		// Still direct on a binding that has not expired (a refresh
		// failed): keep it, and come back before it runs out.
		e.State = ROBound
		e.RefreshAt = time.Time{}
		if e.RetryAt.Before(e.Expires) {
			e.RefreshAt = e.RetryAt
		}
	}
}

// HandleMH processes a Mobility Header from a correspondent: Home Test,
// Care-of Test, Binding Acknowledgement, Binding Refresh Request or
// Binding Error. The error says why it was ignored; an ignored message
// changes nothing.
func (o *RouteOptimizer) HandleMH(pk Packet, now time.Time) (ROOutput, error) {
	// One the correspondent sent to the care-of address (type 2 routed
	// or not) and that we accept shows that the direct path works, for
	// the liveness check. Counted before it is handled, so that the
	// check a Binding Acknowledgement starts includes it; taken back if
	// it is ignored (a forgery must not keep a dead path up). Home Tests
	// and whatever else comes through the tunnel prove nothing about it.
	p := o.peer(pk.Src)
	direct := p != nil && o.coa.IsValid() && pk.Dst == o.coa
	if direct {
		p.mhIn++
	}
	out, err := o.handleMH(p, pk, now)
	if err != nil && direct {
		p.mhIn--
	}
	return out, err
}

// handleMH is HandleMH for p, the correspondent pk comes from (nil: none
// of ours).
func (o *RouteOptimizer) handleMH(p *roPeer, pk Packet, now time.Time) (ROOutput, error) {
	var out ROOutput
	if len(pk.MH) < 6 {
		return out, ErrMalformed
	}
	if p == nil {
		return out, fmt.Errorf("%w: from %v, not a correspondent of ours", ErrUnexpected, pk.Src)
	}
	// §6.1.1: the pseudo-header destination is the final one, the home
	// address of a type 2 routing header when there is one.
	dst := pk.Dst
	if pk.RoutingHome.IsValid() {
		dst = pk.RoutingHome
	}
	if !mip6.VerifyMHChecksum(pk.MH, pk.Src, dst) {
		return out, ErrChecksum
	}
	msg, err := mip6.ParseMessage(pk.MH)
	if err != nil {
		return out, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	hoa := o.cfg.HomeAddress
	switch m := msg.(type) {
	case *mip6.HomeTest:
		// §11.6.2: from the correspondent to the home address, the
		// cookie of the Home Test Init in flight.
		if dst != hoa || p.hotiRetx.IsZero() || m.Cookie != p.homeCookie {
			return out, fmt.Errorf("%w: Home Test matches no Home Test Init", ErrUnexpected)
		}
		p.hotiRetx, p.homeAt = time.Time{}, now
		p.homeToken, p.homeIndex = m.KeygenToken, m.NonceIndex
		o.testsDone(&out, p, now)
	case *mip6.CareofTest:
		if p.cotiRetx.IsZero() || dst != p.e.CareOf || m.Cookie != p.careofCookie {
			return out, fmt.Errorf("%w: Care-of Test matches no Care-of Test Init", ErrUnexpected)
		}
		p.cotiRetx, p.careofAt, p.careofFor = time.Time{}, now, p.e.CareOf
		p.careofToken, p.careofIndex = m.KeygenToken, m.NonceIndex
		o.testsDone(&out, p, now)
	case *mip6.BindingAck:
		return o.handleBA(p, pk, m, now)
	case *mip6.BindingRefreshRequest:
		// §11.7.4: a refresh; unauthenticated, so only when nothing is
		// in flight and a binding is in use.
		if p.e.State != ROBound || !o.away {
			return out, fmt.Errorf("%w: Binding Refresh Request in state %v", ErrUnexpected, p.e.State)
		}
		o.start(&out, p, now)
	case *mip6.BindingError:
		return o.handleBE(p, m, now)
	default:
		return out, fmt.Errorf("%w: %v from a correspondent", ErrUnexpected, msg.MHType())
	}
	return out, nil
}

// handleBA applies a Binding Acknowledgement from a correspondent
// (§11.7.3). Accepted (and 135) acknowledgements carry a Binding
// Authorization Data option computed with our Kbm (§9.5.4), which must
// verify; 136-138 come before the correspondent could authenticate
// anything and carry none, and only make us test again.
func (o *RouteOptimizer) handleBA(p *roPeer, pk Packet, m *mip6.BindingAck, now time.Time) (ROOutput, error) {
	var out ROOutput
	e := &p.e
	if p.buRetx.IsZero() || (e.State != ROUpdating && e.State != RODeregistering) {
		return out, fmt.Errorf("%w: Binding Acknowledgement in state %v", ErrUnexpected, e.State)
	}
	if m.Status != mip6.StatusSequenceOutOfWindow && m.Sequence != e.Sequence {
		return out, fmt.Errorf("%w: Binding Acknowledgement for sequence %d, sent %d", ErrUnexpected, m.Sequence, e.Sequence)
	}
	switch m.Status {
	case mip6.StatusExpiredHomeNonceIndex, mip6.StatusExpiredCareofNonceIndex, mip6.StatusExpiredNonces:
		if p.resyncs >= roMaxResyncs {
			o.fail(&out, p, now, false, false, ROEvent{Reason: "nonce indices refused again", Status: m.Status})
			return out, nil
		}
		p.resyncs++
		p.buRetx = time.Time{}
		dereg := e.State == RODeregistering
		if m.Status != mip6.StatusExpiredCareofNonceIndex {
			p.homeAt = time.Time{}
			p.hotiBackoff, p.hotiN = mip6.InitialBindackTimeout, 0
			o.sendHoTI(&out, p, now)
		}
		if m.Status != mip6.StatusExpiredHomeNonceIndex && !dereg {
			p.careofAt = time.Time{}
			p.cotiBackoff, p.cotiN = mip6.InitialBindackTimeout, 0
			o.newCookie(&p.careofCookie)
			o.sendCoTI(&out, p, now)
		}
		if !dereg {
			e.State = ROTesting
		}
		o.testsDone(&out, p, now)
		return out, nil
	}
	// From here on the acknowledgement must be ours.
	dst := pk.Dst
	if pk.RoutingHome.IsValid() {
		dst = pk.RoutingHome
	}
	if dst != o.cfg.HomeAddress || !o.verifyBA(p, pk.MH) {
		return out, fmt.Errorf("%w: Binding Acknowledgement not authorized by our Kbm", ErrUnexpected)
	}
	switch {
	case m.Status == mip6.StatusSequenceOutOfWindow:
		if p.resyncs >= roMaxResyncs {
			o.fail(&out, p, now, false, false, ROEvent{Reason: "sequence number refused again", Status: m.Status})
			return out, nil
		}
		p.resyncs++
		e.Sequence = m.Sequence
		o.sendBU(&out, p, now, e.State == RODeregistering)
	case m.Status.Accepted() && e.State == RODeregistering:
		p.stopExchange()
		e.State = ROIdle
		e.Expires, e.BoundCareOf, e.Lifetime, e.RefreshAt = time.Time{}, netip.Addr{}, 0, time.Time{}
		out.Events = append(out.Events, ROEvent{Kind: RODeregistered, Correspondent: e.Correspondent})
		if p.removing {
			o.drop(p)
		}
	case m.Status.Accepted():
		p.stopExchange()
		// §11.7.3: the lifetime counts from when the Binding Update
		// was sent, and the smaller of what we asked and what was
		// granted holds.
		lt := min(m.Lifetime, p.buLT)
		if lt <= 0 {
			o.fail(&out, p, now, true, false, ROEvent{Reason: "binding granted with lifetime 0", Status: m.Status})
			return out, nil
		}
		e.State, e.BoundCareOf, e.Lifetime = ROBound, p.buCoA, lt
		e.Expires = p.buSentAt.Add(lt)
		e.RefreshAt = p.buSentAt.Add(RefreshInterval(lt, 0))
		e.Failures, e.Reason, e.RetryAt = 0, "", time.Time{}
		p.retry, p.hard, p.accepted = RORetryMin, false, true
		// A refresh keeps the direct path; a new care-of address
		// (re)starts it.
		if e.Direct && e.BoundCareOf != o.coa {
			o.direct(&out, p, false, "care-of address changed")
		}
		o.direct(&out, p, o.away && e.BoundCareOf == o.coa, "")
		if e.Direct && !p.lv.Active() {
			o.liveStart(p, now)
		}
	default:
		o.fail(&out, p, now, true, false, ROEvent{Reason: "Binding Update refused", Status: m.Status})
	}
	return out, nil
}

// verifyBA checks the Binding Authorization Data option of a Binding
// Acknowledgement (§6.2.7, §9.5.4): the last option, 12 octets, the
// authenticator over (care-of address registered, correspondent, MH)
// with the Kbm of our Binding Update.
func (o *RouteOptimizer) verifyBA(p *roPeer, mh []byte) bool {
	h := mh[:(int(mh[1])+1)*8]
	off, n, err := mip6.AuthenticatorOffset(h, mip6.OptBindingAuthData)
	if err != nil || n != mip6.AuthenticatorLen {
		return false
	}
	coa := binding.AuthCareofAddress(o.cfg.HomeAddress, p.buCoA, p.buLT)
	return binding.VerifyBindingAuthenticator(p.kbm, coa, p.e.Correspondent, h, off)
}

// handleBE applies a Binding Error from a correspondent (§11.3.6). Status
// 1 (it got our Home Address option and has no binding: it restarted, or
// the binding expired there) sends the traffic back to the tunnel and
// registers again; twice in a row it backs off. Status 2 (it does not
// know a Mobility Header type we sent: no route optimization there) backs
// off for RORetryMax.
func (o *RouteOptimizer) handleBE(p *roPeer, m *mip6.BindingError, now time.Time) (ROOutput, error) {
	var out ROOutput
	switch m.Status {
	case mip6.BEUnknownHomeAddress:
		if m.HomeAddress != o.cfg.HomeAddress {
			return out, fmt.Errorf("%w: Binding Error for %v", ErrUnexpected, m.HomeAddress)
		}
		if !p.e.Direct && p.e.State != ROUpdating {
			return out, fmt.Errorf("%w: Binding Error status 1 in state %v", ErrUnexpected, p.e.State)
		}
		again := p.e.Failures > 0 && p.e.Reason == beReason
		o.fail(&out, p, now, true, false, ROEvent{Reason: beReason, BEStatus: m.Status})
		if !again {
			// First time: the correspondent lost its state;
			// register again at once rather than after the back-off.
			o.start(&out, p, now)
		}
	case mip6.BEUnknownMHType:
		o.fail(&out, p, now, true, true, ROEvent{Reason: "correspondent does not know the Mobility Header", BEStatus: m.Status})
	default:
		return out, fmt.Errorf("%w: Binding Error status %d", ErrUnexpected, m.Status)
	}
	return out, nil
}

const beReason = "correspondent has no binding for us"

// readRand fills b (at most a cookie's 8 octets) from r, or from
// crypto/rand when r is nil.
func readRand(r io.Reader, b []byte) error {
	c, err := binding.NewCookie(r)
	if err != nil {
		return err
	}
	copy(b, c[:])
	return nil
}
