package mobilenode

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/mip6"
)

// State is the state of a home registration.
type State uint8

// States; see the diagram on Registration.
const (
	// Unregistered: away from home with no care-of address to register
	// (the start, and after connectivity is lost). A binding the home
	// agent may still hold is remembered in the BULEntry.
	Unregistered State = iota
	// AtHome: on the home link, no binding wanted (§11.5.5).
	AtHome
	// Registering: a Binding Update for a new care-of address is in
	// flight.
	Registering
	// Registered: the home agent acknowledged the current care-of
	// address; a refresh is scheduled.
	Registered
	// Refreshing: a Binding Update renewing the current binding is in
	// flight (§11.7.1).
	Refreshing
	// Deregistering: a Binding Update with lifetime 0 is in flight
	// (§11.5.5, or shutdown).
	Deregistering
	// Failed: the home agent refused the registration for a reason
	// retrying cannot fix (see Event.Kind); the next care-of address
	// change or return home starts over.
	Failed
	// AddressInvalid: the home address, or the care-of address, has
	// less than one Lifetime unit (4 s) of valid lifetime left (see
	// SetHomeAddressValidUntil): no Binding Update can ask for a
	// lifetime within it, and one with lifetime 0 would delete the
	// binding (§6.1.7) rather than register. Nothing is sent until a
	// bound moves later or the node moves (Moved) or returns home.
	AddressInvalid
)

var stateNames = [...]string{"unregistered", "at-home", "registering", "registered", "refreshing", "deregistering", "failed", "address-invalid"}

// String names the state.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// inFlight reports whether a Binding Update waits for its acknowledgement.
func (s State) inFlight() bool { return s == Registering || s == Refreshing || s == Deregistering }

// EventKind says what an Event reports.
type EventKind uint8

// Event kinds.
const (
	// EventRegistered: the home agent accepted the care-of address
	// (Event.CareOf) for Event.Lifetime. Status 1 (accepted, prefix
	// discovery necessary, §11.7.3) comes as Event.Status.
	EventRegistered EventKind = iota + 1
	// EventDeregistered: the home agent deleted the binding (accepted
	// lifetime 0, or 133 to it: it had none, §10.3.2), or it expired
	// while we waited.
	EventDeregistered
	// EventSequenceResync: status 135; the next Binding Update uses the
	// home agent's last accepted sequence number plus one (§11.7.3).
	EventSequenceResync
	// EventClockResync: status 145; Binding Updates from now on carry
	// timestamps corrected by Event.Offset, the home agent's clock minus
	// ours (RFC 4285 §6).
	EventClockResync
	// EventDADFailed: status 134, the home address is in use on the home
	// link (§11.7.3). Gave up.
	EventDADFailed
	// EventAuthFailed: status 144 (identifier mismatch) or 146
	// (authentication failed): the security association of mnd.toml and
	// had.toml disagree (RFC 4285 §5). Gave up.
	EventAuthFailed
	// EventGaveUp: any other rejection (129, 131, 132, 133, 139, ...):
	// the configuration is wrong for this home agent. Gave up.
	EventGaveUp
	// EventRejectedRetrying: a rejection worth retrying on the back-off
	// schedule (128 unspecified, 130 insufficient resources).
	EventRejectedRetrying
	// EventExpired: the binding's lifetime ran out before a refresh was
	// acknowledged; registering again.
	EventExpired
	// EventHALostBinding: the home agent showed it holds no binding for
	// us (Binding Error status 1 while we believed one existed, §11.3.6):
	// it restarted or lost state. Registering again, as a first
	// registration.
	EventHALostBinding
	// EventRefreshRequested: a Binding Refresh Request from the home
	// agent (§11.7.4); refreshing now.
	EventRefreshRequested
	// EventBindingError: a Binding Error status 2 (the home agent does
	// not know the MH Type we sent, §11.3.6). Unauthenticated, so only
	// reported: a real home agent without Mobile IPv6 shows itself by
	// never acknowledging.
	EventBindingError
	// EventParameterProblem: an ICMPv6 Parameter Problem about our Home
	// Address option. Reported, never fatal (see ParameterProblem).
	EventParameterProblem
	// EventHomeAddressInvalid: the home address's valid lifetime (the
	// home prefix's, from the home agent's Mobile Prefix Advertisement,
	// §11.4.3) has less than one Lifetime unit left, so no Binding
	// Update may go out for it (§11.7.1); state AddressInvalid until
	// SetHomeAddressValidUntil moves the bound later. Event.CareOf is
	// the care-of address that was to be registered.
	EventHomeAddressInvalid
	// EventCareOfInvalid: the same for the care-of address (the valid
	// lifetime of the prefix it was formed from); state AddressInvalid
	// until SetCareOfValidUntil moves the bound later or the node moves.
	EventCareOfInvalid
)

var eventNames = [...]string{"", "registered", "deregistered", "sequence-resync", "clock-resync", "dad-failed",
	"auth-failed", "gave-up", "rejected-retrying", "expired", "ha-lost-binding", "refresh-requested",
	"binding-error", "parameter-problem", "home-address-invalid", "care-of-invalid"}

// String names the kind.
func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "event(" + strconv.Itoa(int(k)) + ")"
}

// Event is something the daemon logs or acts on.
type Event struct {
	Kind EventKind
	// Status is the Binding Acknowledgement status behind the event,
	// BEStatus the Binding Error's.
	Status   mip6.Status
	BEStatus mip6.BEStatus
	// CareOf and Lifetime describe the binding for EventRegistered.
	CareOf   netip.Addr
	Lifetime time.Duration
	// Offset is the clock correction of EventClockResync.
	Offset time.Duration
	// For EventRegistered with an IPv4 care-of address (RFC 5555): UDP
	// says the tunnel must be IPv6 in UDP to the home agent's IPv4
	// address port 4191 (the BA carried a NAT Detection option: a NAT,
	// or the F flag), else IPv6 in IPv4 (protocol 41); NAT that a NAT
	// was seen, and Keepalive the interval of the NAT keepalives, which
	// the registration's own refreshes provide (see Registration).
	UDP, NAT  bool
	Keepalive time.Duration
	// IPv4Ack reports an IPv4 Address Acknowledgement with
	// IPv4AckStatus; IPv4HomeAddress is the IPv4 home address granted.
	IPv4Ack         bool
	IPv4AckStatus   mip6.IPv4AckStatus
	IPv4HomeAddress netip.Addr
}

// BUPacket is a Binding Update to send: MH is the whole Mobility Header,
// authenticated and checksummed; wrap it in IPv6 from Src to Dst with a
// Home Address destination option carrying HomeAddress when it is valid
// (away from home; at home Src is the home address and there is none,
// §11.5.5).
//
// From an IPv4 care-of address (RFC 5555 §4.2) Outer is valid: Src is
// the home address, there is no Home Address option, and the IPv6 packet
// goes in UDP from OuterSrc (the IPv4 care-of address) to Outer, the
// home agent's IPv4 address and port 4191. Send it from port 4191 too,
// through the tunnel's own socket (tunnel.Forwarder.SendUDP4): the NAT
// mapping the home agent learns from it is then the one the tunnel's
// packets use.
type BUPacket struct {
	MH               []byte
	Src, Dst         netip.Addr
	HomeAddress      netip.Addr
	Sequence         uint16
	Lifetime         time.Duration
	RetransmitNumber int
	Outer            netip.AddrPort
	OuterSrc         netip.Addr
}

// Output is what the caller does after giving the Registration an event:
// send Send when not nil, (re)arm its one timer for Timer (zero: no timer)
// and call Registration.Timer then, and report Events.
type Output struct {
	Send   *BUPacket
	Timer  time.Time
	Events []Event
}

// Packet is a received Mobility Header with the addresses around it.
type Packet struct {
	// Src and Dst are the IPv6 source and destination as received.
	Src, Dst netip.Addr
	// RoutingHome is the home address of a type 2 routing header whose
	// Segments Left was 1 when it arrived (zero Addr: none); it is the
	// checksum pseudo-header's destination (RFC 6275 §6.1.1).
	RoutingHome netip.Addr
	MH          []byte
}

// Config is what a Registration needs; ConfigFromMN fills it from
// mnd.toml.
type Config struct {
	ID          string
	HomeAddress netip.Addr
	HomeAgent   netip.Addr
	SA          SA
	// Lifetime is the lifetime asked for (§11.7.1), within what is left
	// of the addresses' valid lifetimes (SetHomeAddressValidUntil); the
	// home agent may grant less, and we believe the smaller of the two.
	Lifetime time.Duration
	// LinkLocal sets the L flag.
	LinkLocal bool
	// InitialSequence is the first Binding Update's sequence number; the
	// daemon draws it at random, so a restart rarely collides with the
	// home agent's window (and 135 resynchronises when it does).
	InitialSequence uint16
	// MaxResyncs bounds the immediate resends after 135 or 145 in one
	// exchange, so that a confused home agent cannot make us loop at
	// wire speed (§11.8 MAX_UPDATE_RATE is 3 per second). 0 means 3.
	MaxResyncs int
	// MobilePrefixes make the node a mobile router registering these
	// mobile network prefixes (NEMO explicit mode, RFC 3963 §6.1.1).
	MobilePrefixes []netip.Prefix
	// HomeAgentIPv4 is the home agent's IPv4 address (home_agent_ipv4),
	// where Binding Updates from an IPv4 care-of address go (RFC 5555
	// §4.2). Without it an IPv4 care-of address cannot be used.
	HomeAgentIPv4 netip.Addr
	// ForceUDP sets the F flag (RFC 5555 §3.1.3) on Binding Updates
	// from an IPv4 care-of address.
	ForceUDP bool
	// IPv4HomeAddress asks for an IPv4 home address (RFC 5555 §3.1.1):
	// a specific one, or 0.0.0.0 for any; the zero Addr asks for none.
	// Once one is granted the node asks for that one.
	IPv4HomeAddress netip.Addr
}

// ConfigFromMN builds a Config from a validated mnd.toml. The home agent
// must be known (configured, or found by DHAAD and set by the caller).
func ConfigFromMN(c *conf.MN) (Config, error) {
	alg, err := binding.ParseAlgorithm(c.Algorithm)
	if err != nil {
		return Config{}, fmt.Errorf("mobilenode: %w", err)
	}
	return Config{
		ID:              c.ID,
		HomeAddress:     c.HomeAddress,
		HomeAgent:       c.HomeAgent,
		SA:              SA{SPI: c.SPI, Key: c.Key, Algorithm: alg},
		Lifetime:        time.Duration(c.Lifetime),
		HomeAgentIPv4:   c.HomeAgentIPv4,
		ForceUDP:        c.ForceUDP,
		IPv4HomeAddress: c.IPv4HomeAddress,
	}, nil
}

// Registration is the home registration of one home address with one
// home agent (RFC 6275 §11.7.1–§11.7.4, §11.8, §11.5.5), with RFC 4285
// authentication and replay protection. It is pure: every method takes
// the current time and returns an Output; it never reads a clock. One
// goroutine owns it.
//
// The state machine (X / BU: on event X a Binding Update goes out; every
// BU in flight is retransmitted on the back-off schedule of §11.8, with a
// new sequence number and timestamp each time):
//
//	                 Moved(coa) / BU
//	Unregistered ──────────────────────► Registering ◄─┐ 135, 145: resync,
//	   ▲   ▲                               │  ▲  ▲ └───┘ BU at once (bounded)
//	   │   │ LostConnectivity              │  │  │
//	   │   └── (from any away state)       │  │  │ Moved(coa') / BU,
//	   │                      BA accepted  │  │  │ binding expired / BU,
//	   │                                   ▼  │  │ BE 1: HA lost state / BU
//	   │                                Registered ◄──┐
//	   │               refresh timer / BU,  │         │ BA accepted
//	   │               BRR / BU             ▼         │
//	   │                                Refreshing ───┘ (binding expired:
//	   │                                                 on to Registering)
//	   │ BA accepted, 133 (after Deregister: lifetime 0 from the care-of address)
//	Deregistering ◄── ReturnedHome / BU (the HA may hold a binding) ── any state
//	   │ BA accepted, 133, binding expired (after ReturnedHome)
//	   ▼
//	AtHome ◄── ReturnedHome (no binding) ── any state
//
//	Registering, Refreshing ── 134, 144, 146, 129, 131-133, 139-143, ... ──► Failed
//	Failed ── Moved(coa) / BU ──► Registering
//	Registering, Refreshing ── a BU due, an address valid < 4 s ──► AddressInvalid
//	AddressInvalid ── bound moved later, Moved(coa) / BU ──► Registering
//
// Lifetimes (§11.7.1): every Binding Update asks for Config.Lifetime, but
// no more than what is left, when it is sent, of the valid lifetime of the
// home address (SetHomeAddressValidUntil) and of the care-of address
// (SetCareOfValidUntil), rounded down to whole 4 s units. The binding the
// home agent grants therefore never outlives either address, and the
// refresh, scheduled inside the lifetime granted, comes before either
// runs out and asks again with the bounds as they are then. A bound moved
// earlier than a binding in place (or one in flight asks for) sends a
// Binding Update with the shorter lifetime at once.
//
// Timeouts (§11.8): the first BU of an exchange waits
// InitialBindackTimeoutFirstReg (1.5 s) when the home agent holds no
// binding for us (it runs DAD for the home address first, §10.3.1),
// otherwise INITIAL_BINDACK_TIMEOUT (1 s); each retransmission doubles the
// wait up to MAX_BINDACK_TIMEOUT (32 s) and then keeps retrying every 32 s
// for as long as the care-of address stands: giving up would leave the
// node unreachable with nothing left to try.
//
// What counts as an acknowledgement (RFC 4285 §5.1, §6; RFC 6275 §11.7.3):
// from the home agent's address, a valid checksum, authenticated by the
// MN-HA option under our SPI over the care-of and home address of the BU
// in flight, the BU's sequence number echoed (except 135, which carries
// the home agent's) and the BU's timestamp echoed (except 145, which
// carries the home agent's clock). Anything else changes nothing.
type Registration struct {
	cfg Config
	e   BULEntry
	// clockOffset corrects our timestamps after a 145 (RFC 4285 §6).
	clockOffset time.Duration
	// lastTS keeps our timestamps strictly increasing even when the
	// caller's clock stalls or steps back: the home agent refuses a
	// timestamp not later than the last one it accepted.
	lastTS binding.Timestamp
	// resyncs counts immediate resends in the current exchange.
	resyncs int
	// sentAny: a BU went out since New, so e.Sequence is ours.
	sentAny bool
	// deregTo is the state a de-registration ends in.
	deregTo State
	// retransmits counts retransmissions in the current exchange.
	retransmits int
	// unknown: nothing has told us yet whether the home agent holds a
	// binding (a restarted mnd cannot know what the one before it
	// registered), so a return home de-registers to be sure.
	unknown bool
	// want is the lifetime the exchange in flight asks for before the
	// address bounds (Config.Lifetime, or 0 to de-register).
	want time.Duration
	// hoaUntil is when the home address's valid lifetime ends, coaUntil
	// the care-of address coaAddr's (zero: never, or not known); invalid
	// is the event that put the registration in state AddressInvalid.
	hoaUntil, coaUntil time.Time
	coaAddr            netip.Addr
	invalid            EventKind
}

// NewRegistration returns a Registration in state Unregistered.
func NewRegistration(cfg Config) (*Registration, error) {
	if !cfg.HomeAddress.Is6() || !cfg.HomeAgent.Is6() {
		return nil, fmt.Errorf("mobilenode: home address and home agent must be IPv6 addresses")
	}
	if cfg.SA.Algorithm.Size() == 0 || len(cfg.SA.Key) == 0 {
		return nil, fmt.Errorf("mobilenode: MN-HA security association needs a key and a known algorithm")
	}
	if cfg.Lifetime < mip6.LifetimeUnit {
		return nil, fmt.Errorf("mobilenode: lifetime %v below the %v unit", cfg.Lifetime, mip6.LifetimeUnit)
	}
	if cfg.MaxResyncs <= 0 {
		cfg.MaxResyncs = 3
	}
	if a := cfg.HomeAgentIPv4; a.IsValid() && (!a.Is4() || a.IsUnspecified() || a.IsMulticast()) {
		return nil, fmt.Errorf("mobilenode: home agent IPv4 address %v is not a unicast IPv4 address", a)
	}
	if a := cfg.IPv4HomeAddress; a.IsValid() && !a.Is4() {
		return nil, fmt.Errorf("mobilenode: IPv4 home address %v is not an IPv4 address", a)
	}
	r := &Registration{cfg: cfg, unknown: true}
	r.e = BULEntry{Peer: cfg.HomeAgent, HomeAddress: cfg.HomeAddress, Home: true, Sequence: cfg.InitialSequence - 1}
	return r, nil
}

// State returns the current state.
func (r *Registration) State() State { return r.e.State }

// Entry returns a copy of the Binding Update List entry.
func (r *Registration) Entry() BULEntry { return r.e }

// NextTimer returns when Timer has work next, if ever.
func (r *Registration) NextTimer() (time.Time, bool) {
	var t time.Time
	earliest := func(u time.Time) {
		if !u.IsZero() && (t.IsZero() || u.Before(t)) {
			t = u
		}
	}
	switch r.e.State {
	case Registering, Refreshing, Deregistering:
		earliest(r.e.Retransmit)
		earliest(r.e.Expires)
	case Registered:
		earliest(r.e.RefreshAt)
		earliest(r.e.Expires)
	case AddressInvalid:
		earliest(r.e.Expires)
	}
	return t, !t.IsZero()
}

// output finishes an Output with the timer.
func (r *Registration) output(o Output) Output {
	o.Timer, _ = r.NextTimer()
	return o
}

// Moved reports that the best care-of address is now coa (the Movement
// decision "moved to care-of address X"). A new address starts a
// registration; the address already registered or being registered
// changes nothing. An invalid coa is LostConnectivity, and so is an IPv4
// one without Config.HomeAgentIPv4 (RFC 5555 needs the home agent's IPv4
// address to register it).
func (r *Registration) Moved(coa netip.Addr, now time.Time) Output {
	if coa.Is4In6() {
		coa = coa.Unmap()
	}
	if !coa.IsValid() || (coa.Is4() && !r.cfg.HomeAgentIPv4.IsValid()) {
		return r.LostConnectivity(now)
	}
	if coa == r.cfg.HomeAddress {
		return r.ReturnedHome(now)
	}
	switch r.e.State {
	case Registering, Refreshing, Registered:
		if r.e.CareOf == coa {
			return r.output(Output{})
		}
	}
	return r.output(r.start(Registering, coa, r.cfg.Lifetime, now))
}

// ReturnedHome reports that the node is on its home link (§11.5.5): if the
// home agent may hold a binding (one acknowledged and not expired, a
// registration in flight that may have created one, or, right after
// start, one a previous run left) a de-registration goes out from the
// home address; otherwise the node is simply at home.
func (r *Registration) ReturnedHome(now time.Time) Output {
	if r.e.State == AtHome || (r.e.State == Deregistering && r.deregTo == AtHome) {
		return r.output(Output{})
	}
	if r.e.HasBinding(now) || r.e.State.inFlight() || r.unknown {
		r.deregTo = AtHome
		return r.output(r.start(Deregistering, r.cfg.HomeAddress, 0, now))
	}
	r.stop(AtHome)
	return r.output(Output{})
}

// Deregister deletes the binding from where the node is, for a clean
// shutdown away from home: a Binding Update with lifetime 0 from the
// current care-of address (§6.1.7). At home it is ReturnedHome. With no
// binding it does nothing.
func (r *Registration) Deregister(now time.Time) Output {
	coa := r.e.CareOf
	if r.e.State == AtHome || r.e.State == Unregistered || !coa.IsValid() || coa == r.cfg.HomeAddress {
		if r.e.State == AtHome || coa == r.cfg.HomeAddress {
			return r.ReturnedHome(now)
		}
		return r.output(Output{})
	}
	if !r.e.HasBinding(now) && !r.e.State.inFlight() {
		return r.output(Output{})
	}
	r.deregTo = Unregistered
	return r.output(r.start(Deregistering, coa, 0, now))
}

// LostConnectivity reports that no care-of address is usable: nothing can
// be sent, so retransmissions stop. What the home agent holds is
// remembered, so the next Moved picks the right timeout.
func (r *Registration) LostConnectivity(now time.Time) Output {
	if r.e.State != AtHome {
		r.stop(Unregistered)
	}
	return r.output(Output{})
}

// ParameterProblem reports an ICMPv6 Parameter Problem (code 2,
// unrecognised option) pointing at the Home Address option of a packet we
// sent to the home agent. With gomip6 it is expected: the home agent's
// own kernel knows no Mobile IPv6 and answers the option with this error,
// while had has already taken the packet off the wire with AF_PACKET.
// Otherwise it is forged (it is unauthenticated) or from a misconfigured
// node on the path. RFC 6275 §11.3.5 asks a mobile node to stop using the
// option only towards correspondents. Taking it as fatal would cut the
// node off for nothing, so it is only reported.
func (r *Registration) ParameterProblem(now time.Time) Output {
	_ = now
	return r.output(Output{Events: []Event{{Kind: EventParameterProblem}}})
}

// Timer runs what is due at now: a retransmission, a refresh, an expiry.
func (r *Registration) Timer(now time.Time) Output {
	var o Output
	e := &r.e
	if !e.Expires.IsZero() && !e.Expires.After(now) {
		// The binding is gone at the home agent (§11.7.1).
		e.Expires, e.BoundCareOf, e.Lifetime, e.RefreshAt = time.Time{}, netip.Addr{}, 0, time.Time{}
		switch e.State {
		case Registered:
			o.Events = append(o.Events, Event{Kind: EventExpired})
			return r.output(r.merge(o, r.start(Registering, e.CareOf, r.cfg.Lifetime, now)))
		case Refreshing:
			// Keep the retransmission schedule running.
			o.Events = append(o.Events, Event{Kind: EventExpired})
			e.State = Registering
		case Registering, AddressInvalid:
			// The old care-of address's binding ran out while the
			// new one was being registered, or while no Binding
			// Update could go out for it (the operator wants to
			// know the binding is gone either way).
			o.Events = append(o.Events, Event{Kind: EventExpired})
		case Deregistering:
			// Nothing left to delete.
			r.stop(r.deregTo)
			o.Events = append(o.Events, Event{Kind: EventDeregistered})
			return r.output(o)
		}
	}
	switch {
	case e.State.inFlight() && !e.Retransmit.IsZero() && !e.Retransmit.After(now):
		e.Backoff = min(2*e.Backoff, mip6.MaxBindackTimeout)
		r.retransmits++
		o = r.transmit(o, e.State, now)
	case e.State == Registered && !e.RefreshAt.IsZero() && !e.RefreshAt.After(now):
		o = r.merge(o, r.start(Refreshing, e.CareOf, r.cfg.Lifetime, now))
	}
	return r.output(o)
}

// HandleMH processes a Mobility Header received at now: a Binding
// Acknowledgement, a Binding Refresh Request or a Binding Error from the
// home agent. The error says why a message was ignored (for debug logs);
// an ignored message changes nothing.
func (r *Registration) HandleMH(p Packet, now time.Time) (Output, error) {
	if len(p.MH) < 3 {
		return r.output(Output{}), ErrMalformed
	}
	if p.Src != r.cfg.HomeAgent {
		return r.output(Output{}), fmt.Errorf("%w: from %v, not the home agent", ErrUnexpected, p.Src)
	}
	if mip6.MHType(p.MH[2]) == mip6.MHBindingAck {
		return r.handleBA(p, now)
	}
	src, dst := mip6.MHChecksumAddrs(p.Src, p.Dst, netip.Addr{}, p.RoutingHome)
	if !mip6.VerifyMHChecksum(p.MH, src, dst) {
		return r.output(Output{}), ErrChecksum
	}
	msg, err := mip6.ParseMessage(p.MH)
	if err != nil {
		return r.output(Output{}), fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	switch m := msg.(type) {
	case *mip6.BindingRefreshRequest:
		// §11.7.4: answer with a Binding Update. Unauthenticated, but
		// all it can make us do is one refresh, and only when no BU is
		// already in flight.
		if r.e.State != Registered {
			return r.output(Output{}), fmt.Errorf("%w: Binding Refresh Request in state %v", ErrUnexpected, r.e.State)
		}
		o := r.start(Refreshing, r.e.CareOf, r.cfg.Lifetime, now)
		o.Events = append(o.Events, Event{Kind: EventRefreshRequested})
		return r.output(o), nil
	case *mip6.BindingError:
		return r.handleBE(m, now)
	}
	return r.output(Output{}), fmt.Errorf("%w: %v from the home agent", ErrUnexpected, msg.MHType())
}

// handleBE applies a Binding Error from the home agent (§11.3.6).
func (r *Registration) handleBE(m *mip6.BindingError, now time.Time) (Output, error) {
	switch m.Status {
	case mip6.BEUnknownHomeAddress:
		if m.HomeAddress != r.cfg.HomeAddress {
			return r.output(Output{}), fmt.Errorf("%w: Binding Error for %v", ErrUnexpected, m.HomeAddress)
		}
		// The home agent got a packet with our Home Address option
		// and has no binding: it restarted or lost its state. Only
		// worth acting on while we believe in a binding; with a BU
		// in flight the registration is already under way.
		if r.e.State != Registered {
			return r.output(Output{}), fmt.Errorf("%w: Binding Error status 1 in state %v", ErrUnexpected, r.e.State)
		}
		r.e.Expires, r.e.BoundCareOf, r.e.Lifetime, r.e.RefreshAt = time.Time{}, netip.Addr{}, 0, time.Time{}
		o := r.start(Registering, r.e.CareOf, r.cfg.Lifetime, now)
		o.Events = append(o.Events, Event{Kind: EventHALostBinding, BEStatus: m.Status})
		return r.output(o), nil
	default:
		return r.output(Output{Events: []Event{{Kind: EventBindingError, BEStatus: m.Status}}}), nil
	}
}

// handleBA applies a Binding Acknowledgement (§11.7.3).
func (r *Registration) handleBA(p Packet, now time.Time) (Output, error) {
	e := &r.e
	if !e.State.inFlight() {
		return r.output(Output{}), fmt.Errorf("%w: Binding Acknowledgement in state %v", ErrUnexpected, e.State)
	}
	info, err := VerifyBindingAck(p.MH, p.Src, r.cfg.HomeAddress, e.CareOf, r.cfg.SA)
	if err != nil {
		return r.output(Output{}), err
	}
	// 135 carries the home agent's sequence number, not ours; 145 the
	// home agent's clock, not our timestamp. Every BA must echo at
	// least one of the two, so an old authenticated BA replayed later
	// matches nothing in flight.
	if info.Status != mip6.StatusSequenceOutOfWindow && info.Sequence != e.Sequence {
		return r.output(Output{}), fmt.Errorf("%w: sequence %d, in flight %d", ErrUnexpected, info.Sequence, e.Sequence)
	}
	if info.Status != mip6.StatusMesgIDRequired && (!info.HasTimestamp || info.Timestamp != e.Timestamp) {
		return r.output(Output{}), fmt.Errorf("%w: timestamp not echoed", ErrUnexpected)
	}
	var o Output
	if info.Status.Accepted() || info.Status == mip6.StatusNotHomeAgentForThisMN {
		// Now we know what the home agent holds.
		r.unknown = false
	}
	switch s := info.Status; {
	case s.Accepted() && e.State == Deregistering:
		r.stop(r.deregTo)
		e.Expires, e.BoundCareOf, e.Lifetime, e.RefreshAt = time.Time{}, netip.Addr{}, 0, time.Time{}
		o.Events = append(o.Events, Event{Kind: EventDeregistered, Status: s})
	case s.Accepted():
		granted := min(info.Lifetime, e.LifetimeSent)
		if granted <= 0 {
			// A registration granted nothing is no binding;
			// keep retransmitting.
			return r.output(Output{}), fmt.Errorf("%w: registration accepted with lifetime 0", ErrUnexpected)
		}
		e.BoundCareOf, e.Lifetime = e.CareOf, granted
		e.Expires = e.SentAt.Add(granted)
		e.RefreshAt = e.SentAt.Add(RefreshInterval(granted, info.Refresh))
		ev := Event{Kind: EventRegistered, Status: s, CareOf: e.CareOf, Lifetime: granted}
		e.UDP, e.Keepalive = false, 0
		if e.CareOf.Is4() && info.UDP {
			// RFC 5555 §4.1: tunnel in UDP, and keep the NAT's
			// mapping alive. The keepalive is our refresh: a
			// Binding Update through the same mapping, which the
			// Binding Acknowledgement confirms end to end, so a
			// mapping the NAT lost meanwhile is noticed and
			// re-learnt by the home agent (a NAT rebinding).
			e.UDP, e.Keepalive = true, info.Keepalive
			if ka := info.Keepalive; ka > 0 && e.SentAt.Add(ka).Before(e.RefreshAt) {
				e.RefreshAt = e.SentAt.Add(ka)
			}
			ev.UDP, ev.NAT, ev.Keepalive = true, !info.ForceUDP || info.Keepalive > 0, info.Keepalive
		}
		if info.HasIPv4Ack {
			ev.IPv4Ack, ev.IPv4AckStatus, ev.IPv4HomeAddress = true, info.IPv4AckStatus, info.IPv4HomeAddress
			e.IPv4HomeAddress = info.IPv4HomeAddress
		}
		r.stop(Registered)
		o.Events = append(o.Events, ev)
	case s == mip6.StatusSequenceOutOfWindow:
		e.Sequence = info.Sequence // the next BU sends one more
		o.Events = append(o.Events, Event{Kind: EventSequenceResync, Status: s})
		o = r.resend(o, now)
	case s == mip6.StatusMesgIDRequired:
		if !info.HasTimestamp {
			return r.output(Output{}), fmt.Errorf("%w: 145 without the home agent's time", ErrMalformed)
		}
		r.clockOffset = info.Timestamp.Time().Sub(now)
		// The floor of strictly increasing timestamps goes too: when
		// our clock was ahead, keeping it would repeat the too-late
		// timestamps the home agent just refused.
		r.sentAny = false
		o.Events = append(o.Events, Event{Kind: EventClockResync, Status: s, Offset: r.clockOffset})
		o = r.resend(o, now)
	case s == mip6.StatusNotHomeAgentForThisMN && e.State == Deregistering:
		// §10.3.2: 133 to a de-registration means no binding: done.
		r.stop(r.deregTo)
		e.Expires, e.BoundCareOf, e.Lifetime, e.RefreshAt = time.Time{}, netip.Addr{}, 0, time.Time{}
		o.Events = append(o.Events, Event{Kind: EventDeregistered, Status: s})
	case s == mip6.StatusUnspecified || s == mip6.StatusInsufficientResources:
		// Possibly transient: the retransmission timer stays armed.
		o.Events = append(o.Events, Event{Kind: EventRejectedRetrying, Status: s})
	default:
		kind := EventGaveUp
		switch s {
		case mip6.StatusDADFailed:
			kind = EventDADFailed
		case mip6.StatusIDMismatch, mip6.StatusAuthFailed:
			kind = EventAuthFailed
		}
		if e.State == Deregistering {
			// The binding, if any, stays until it expires.
			r.stop(r.deregTo)
		} else {
			r.stop(Failed)
		}
		o.Events = append(o.Events, Event{Kind: kind, Status: s})
	}
	return r.output(o), nil
}

// resend sends the next BU of the exchange at once after a resync, up to
// MaxResyncs times; beyond that the retransmission timer does it.
func (r *Registration) resend(o Output, now time.Time) Output {
	if r.resyncs >= r.cfg.MaxResyncs {
		return o
	}
	r.resyncs++
	return r.transmit(o, r.e.State, now)
}

// merge appends b's events to a and takes b's BU.
func (r *Registration) merge(a, b Output) Output {
	a.Events = append(a.Events, b.Events...)
	if b.Send != nil {
		a.Send = b.Send
	}
	return a
}

// stop ends the exchange in state s.
func (r *Registration) stop(s State) {
	r.e.State, r.e.Retransmit, r.e.Backoff = s, time.Time{}, 0
}

// start begins an exchange: state s, a first BU for coa with lifetime lt.
func (r *Registration) start(s State, coa netip.Addr, lt time.Duration, now time.Time) Output {
	e := &r.e
	// §11.8: InitialBindackTimeoutFirstReg when the home agent has no
	// binding for us (it runs DAD before answering, §10.3.1),
	// INITIAL_BINDACK_TIMEOUT otherwise.
	e.Backoff = mip6.InitialBindackTimeout
	if !e.HasBinding(now) {
		e.Backoff = mip6.DefaultInitialBindackTimeoutFirstReg
	}
	prev := e.State
	e.State, e.CareOf, r.want = s, coa, lt
	r.resyncs, r.retransmits = 0, 0
	return r.transmit(Output{}, prev, now)
}

// transmit sends the next Binding Update of the exchange in flight (the
// registration was in state prev before it), asking for the exchange's
// lifetime within the address bounds at now (lifetimeAt). When an address
// has less than one unit of valid lifetime left nothing is sent: §11.7.1
// allows no lifetime above it, and a lifetime of 0 would be a
// de-registration (§6.1.7), not a registration. The exchange stops in
// state AddressInvalid, reported once per cause.
func (r *Registration) transmit(o Output, prev State, now time.Time) Output {
	lt, bad := r.lifetimeAt(r.want, r.e.CareOf, now)
	if bad != 0 {
		repeated := prev == AddressInvalid && r.invalid == bad
		r.stop(AddressInvalid)
		r.invalid = bad
		if !repeated {
			o.Events = append(o.Events, Event{Kind: bad, CareOf: r.e.CareOf})
		}
		return o
	}
	r.e.LifetimeSent = lt
	o.Send = r.send(now)
	return o
}

// lifetimeAt returns the lifetime a Binding Update for coa sent at now
// asks for: want, no more than what is left of the home address's and of
// coa's valid lifetime (§11.7.1, "no greater than the remaining valid
// lifetime of the home address and the care-of address"), rounded down
// to whole units when a bound applies, so that the wire value (whole 4 s
// units) never exceeds it. When an address has less than one unit left,
// bad names it (EventHomeAddressInvalid first) and the lifetime is 0. A
// de-registration (want 0) is never bounded.
func (r *Registration) lifetimeAt(want time.Duration, coa netip.Addr, now time.Time) (lt time.Duration, bad EventKind) {
	if want <= 0 {
		return 0, 0
	}
	lt = want
	short := func(until time.Time) bool {
		if until.IsZero() {
			return false
		}
		left := until.Sub(now)
		if left < mip6.LifetimeUnit {
			return true
		}
		lt = min(lt, left.Truncate(mip6.LifetimeUnit))
		return false
	}
	if short(r.hoaUntil) {
		return 0, EventHomeAddressInvalid
	}
	if coa == r.coaAddr && short(r.coaUntil) {
		return 0, EventCareOfInvalid
	}
	return lt, 0
}

// SetHomeAddressValidUntil bounds the lifetime of every Binding Update
// from now on by the home address's valid lifetime, which ends at t (zero:
// never); the daemon takes it from the home prefix's valid lifetime in
// the home agent's Mobile Prefix Advertisements (§11.4.3). §11.7.1: the
// lifetime asked for "MUST be no greater than the remaining valid lifetime
// of the home address". An unchanged t changes nothing. Otherwise, at now:
//
//   - Registered, with a binding that outlives t: a refresh with the
//     shorter lifetime goes out at once;
//   - a registration in flight asking for more than t allows: the next
//     Binding Update of the exchange goes out at once;
//   - AddressInvalid: registering starts again, if the bounds now allow
//     it;
//   - with less than one unit left, a Binding Update due is not sent and
//     EventHomeAddressInvalid is reported (see AddressInvalid).
//
// The binding a home agent holds is not deleted when the home address
// becomes invalid: it was granted within the old bound, so it ends with
// the address or before.
func (r *Registration) SetHomeAddressValidUntil(t, now time.Time) Output {
	if t.Equal(r.hoaUntil) {
		return r.output(Output{})
	}
	r.hoaUntil = t
	return r.output(r.rebound(now))
}

// HomeAddressValidUntil returns the bound SetHomeAddressValidUntil set
// (zero: none).
func (r *Registration) HomeAddressValidUntil() time.Time { return r.hoaUntil }

// SetCareOfValidUntil bounds the lifetime of the Binding Updates that
// register care-of address coa by its valid lifetime, which ends at t
// (zero: never), as SetHomeAddressValidUntil does for the home address
// (§11.7.1: "and the care-of address"); EventCareOfInvalid reports less
// than one unit left. One care-of address is bounded at a time: set it
// before Moved(coa), and again whenever its prefix's lifetime changes.
// A bound for an address other than the one being registered only takes
// effect when the node moves to it.
func (r *Registration) SetCareOfValidUntil(coa netip.Addr, t, now time.Time) Output {
	if coa.Is4In6() {
		coa = coa.Unmap()
	}
	if coa == r.coaAddr && t.Equal(r.coaUntil) {
		return r.output(Output{})
	}
	r.coaAddr, r.coaUntil = coa, t
	if coa != r.e.CareOf {
		return r.output(Output{})
	}
	return r.output(r.rebound(now))
}

// rebound applies changed address bounds at now (see
// SetHomeAddressValidUntil).
func (r *Registration) rebound(now time.Time) Output {
	e := &r.e
	switch e.State {
	case AddressInvalid:
		if e.CareOf.IsValid() && e.CareOf != r.cfg.HomeAddress {
			return r.start(Registering, e.CareOf, r.cfg.Lifetime, now)
		}
	case Registered:
		if r.outlives(e.Expires) {
			return r.start(Refreshing, e.CareOf, r.cfg.Lifetime, now)
		}
	case Registering, Refreshing:
		if r.outlives(e.SentAt.Add(e.LifetimeSent)) {
			return r.transmit(Output{}, e.State, now)
		}
	}
	return Output{}
}

// outlives reports whether a binding for the care-of address being
// registered that ends at end would outlive the home address or the
// care-of address.
func (r *Registration) outlives(end time.Time) bool {
	after := func(until time.Time) bool { return !until.IsZero() && end.After(until) }
	return after(r.hoaUntil) || (r.e.CareOf == r.coaAddr && after(r.coaUntil))
}

// send builds the next BU of the exchange in flight and arms the
// retransmission timer. §11.8: every retransmission carries a new sequence
// number; a new timestamp too, since the home agent refuses one it has
// seen (RFC 4285 §6).
func (r *Registration) send(now time.Time) *BUPacket {
	e := &r.e
	e.Sequence++
	ts := binding.TimestampFromTime(now.Add(r.clockOffset))
	if r.sentAny && !ts.After(r.lastTS) {
		ts = r.lastTS + 1
	}
	r.lastTS, r.sentAny = ts, true
	e.Timestamp, e.SentAt = ts, now
	e.Retransmit = now.Add(e.Backoff)
	p := BUParams{ID: r.cfg.ID, SA: r.cfg.SA, HomeAddress: r.cfg.HomeAddress, CareOf: e.CareOf,
		HomeAgent: r.cfg.HomeAgent, Sequence: e.Sequence, Lifetime: e.LifetimeSent,
		LinkLocal: r.cfg.LinkLocal, Timestamp: ts, MobilePrefixes: r.cfg.MobilePrefixes,
		ForceUDP: r.cfg.ForceUDP, IPv4HomeAddress: r.cfg.IPv4HomeAddress}
	if e.IPv4HomeAddress.IsValid() {
		// Keep the address granted (RFC 5555 §3.1.1: the node names
		// the IPv4 home address it has).
		p.IPv4HomeAddress = e.IPv4HomeAddress
	}
	mh, err := AppendBindingUpdate(nil, &p)
	if err != nil {
		// NewRegistration checked everything AppendBindingUpdate
		// needs but the NAI's length (over 254 octets) and an IPv4
		// care-of address; send nothing, the timer retries, and the
		// daemon's -check refuses such an identifier first.
		return nil
	}
	pkt := &BUPacket{MH: mh, Src: e.CareOf, Dst: r.cfg.HomeAgent, Sequence: e.Sequence,
		Lifetime: p.Lifetime, RetransmitNumber: r.retransmits}
	switch {
	case e.CareOf.Is4():
		// RFC 5555 §4.2: IPv4 Care-of Address option, inner packet
		// from the home address, no Home Address option, in UDP to
		// the home agent's IPv4 address.
		pkt.Src, pkt.OuterSrc = r.cfg.HomeAddress, e.CareOf
		pkt.Outer = netip.AddrPortFrom(r.cfg.HomeAgentIPv4, mip6.UDPPortDSMIP)
	case e.CareOf != r.cfg.HomeAddress:
		pkt.HomeAddress = r.cfg.HomeAddress
	}
	return pkt
}

// RefreshInterval returns how long after sending a Binding Update the
// mobile node refreshes a binding granted for lifetime: the home agent's
// Binding Refresh Advice (§6.2.4) when it gave one shorter than the
// lifetime, and never later than the lifetime less a margin for a lost
// refresh and its retransmissions: an eighth of the lifetime, at least 3 s
// (INITIAL_BINDACK_TIMEOUT plus its first doubling), at most half the
// lifetime.
func RefreshInterval(lifetime, advice time.Duration) time.Duration {
	margin := min(max(lifetime/8, 3*time.Second), lifetime/2)
	r := lifetime - margin
	if advice > 0 && advice < r {
		r = advice
	}
	return r
}
