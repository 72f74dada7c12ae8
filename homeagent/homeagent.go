package homeagent

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/internal/ratelimit"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/tunnel"
)

// Packet is a received Mobility Header message with the addresses the
// caller found around it.
type Packet struct {
	// Src and Dst are the IPv6 Source and Destination Address fields as
	// received: Src the care-of address (before the Home Address option
	// swap of RFC 6275 §9.3.1), Dst this home agent's address.
	Src, Dst netip.Addr
	// HomeAddress is the address of the Home Address destination option,
	// or the zero Addr when there was none (a mobile node on its home
	// link de-registering from its home address, RFC 6275 §11.5.4).
	HomeAddress netip.Addr
	// MH is the Mobility Header, from its Payload Proto octet.
	MH []byte
	// Outer is where a Binding Update that came over IPv4 (Dual-Stack
	// MIPv6, RFC 5555 §4) came from, as the home agent saw it: the outer
	// IPv4 source address and, for one in UDP (port 4191), the UDP source
	// port, a NAT's public mapping when there is a NAT on the path. Port
	// 0 means IPv6 in IPv4 (protocol 41). The zero AddrPort means the
	// Binding Update came over IPv6, as in RFC 6275. With Outer set, Src
	// and Dst are the inner IPv6 packet's: the home address and this home
	// agent's IPv6 address, and the care-of address is the IPv4 Care-of
	// Address option's (RFC 5555 §3.1.2).
	Outer netip.AddrPort
	// OuterDst is the outer IPv4 destination: the home agent's IPv4
	// address the Binding Update arrived on (conf [ipv4] address), or the
	// zero Addr when the caller does not know it (then not checked).
	OuterDst netip.Addr
}

// Verdict says what the caller does with a Result.
type Verdict uint8

// Verdicts.
const (
	// Drop: send nothing, no state changed (Result.Drop says why).
	Drop Verdict = iota
	// Reply: send Result.BA to Result.BADst with a type 2 routing header
	// carrying Result.HomeAddress (none when the two are equal).
	Reply
	// Silent: the Binding Update was accepted but its A flag was clear,
	// so RFC 6275 §10.3.1 asks for no acknowledgement.
	Silent
	// NeedsDAD: a new binding waits for Duplicate Address Detection of
	// Result.HomeAddress (and Result.LinkLocal when valid); run it, then
	// call CompleteDAD. No binding exists yet.
	NeedsDAD
	// DADPending: DAD for this home address is already running; the
	// Binding Update replaced the one waiting for it. Nothing to do.
	DADPending
)

// String names the verdict.
func (v Verdict) String() string {
	switch v {
	case Drop:
		return "drop"
	case Reply:
		return "reply"
	case Silent:
		return "silent"
	case NeedsDAD:
		return "needs-dad"
	case DADPending:
		return "dad-pending"
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// DropReason says why a message was dropped without a reply.
type DropReason uint8

// Reasons for a silent drop.
const (
	NotDropped DropReason = iota
	// DropRateLimited: the source's token bucket was empty.
	DropRateLimited
	// DropChecksum: the Mobility Header checksum failed (RFC 6275 §9.2).
	DropChecksum
	// DropMalformed: the Mobility Header did not parse (RFC 6275 §9.2);
	// Result.Err holds the parser's error, an *mip6.MHHeaderError when
	// the caller should answer with an ICMPv6 Parameter Problem.
	DropMalformed
	// DropNotBU: a message other than a Binding Update; not this
	// function's business.
	DropNotBU
	// DropBadCareOf: the care-of address cannot be routed to (RFC 6275
	// §9.5.1 asks for a unicast routable address).
	DropBadCareOf
	// DropNoAuth: no MN-HA Mobility Message Authentication option (RFC
	// 4285 §5): there is no security association to answer under, and
	// an unauthenticated answer would be discarded by the mobile node.
	DropNoAuth
	// DropUnknownSPI: the option's SPI names no security association.
	DropUnknownSPI
	// DropNotHomeRegistration: the H flag is clear and there is no home
	// registration to change: a correspondent registration without the
	// return routability options, which RFC 6275 §9.5.1 discards.
	DropNotHomeRegistration
	// DropNotPending: CompleteDAD for an address with no DAD waiting.
	DropNotPending
	// DropInternal: the Binding Acknowledgement could not be built
	// (Result.Err says why). With a configuration conf accepted, it does
	// not happen.
	DropInternal
	// DropReplyLimited: the answer would have been one of those sent
	// before the Binding Update proved to come from its node (144, 145,
	// 146), and the home agent's overall budget for them
	// (Options.ReplyRate) is spent. The per-source rate limit bounds
	// one /64; this bounds a flood spread over many. Counted in
	// Stats.RepliesLimited.
	DropReplyLimited
	// DropIPv4Disabled: a Binding Update that came over IPv4 to a home
	// agent with no [ipv4] section, or to another IPv4 address than its
	// ipv4.address (RFC 5555 is optional: without it there is no IPv4
	// tunnel end to offer).
	DropIPv4Disabled
)

var dropNames = [...]string{"not-dropped", "rate-limited", "checksum", "malformed", "not-binding-update",
	"bad-care-of-address", "no-authentication", "unknown-spi", "not-home-registration", "not-pending", "internal",
	"reply-limited", "ipv4-disabled"}

// String names the reason.
func (r DropReason) String() string {
	if int(r) < len(dropNames) {
		return dropNames[r]
	}
	return fmt.Sprintf("drop(%d)", uint8(r))
}

// Change is what happened to the binding cache (binding.Change).
type Change = binding.Change

// Changes, as binding defines them.
const (
	NoChange  = binding.NoChange
	Created   = binding.Created
	Refreshed = binding.Refreshed
	Moved     = binding.Moved
	Deleted   = binding.Deleted
)

// Result is the outcome of a Binding Update.
type Result struct {
	Verdict Verdict
	Drop    DropReason
	// Err is the parse error behind DropMalformed, the build error
	// behind DropInternal, or the data plane's refusal behind a status
	// 128 from install (the table would not take the binding).
	Err error
	// Status is the status of the Binding Acknowledgement, when one is
	// sent or would be (Silent).
	Status mip6.Status
	// BA is the whole Binding Acknowledgement Mobility Header, with its
	// MN-HA authenticator and checksum computed (pseudo-header: the
	// received Dst as source, HomeAddress as destination, which is what
	// RFC 6275 §6.1.1 takes with a type 2 routing header). It is
	// appended to the buffer passed to ProcessBU.
	BA []byte
	// BADst is the IPv6 destination of the BA: the care-of address; for
	// a Binding Update that came over IPv4 (Outer valid), the home
	// address, which RFC 5555 §4 puts in the destination of the inner
	// IPv6 packet (there is no IPv6 care-of address to route a type 2
	// routing header through), so BADst equals HomeAddress and no
	// routing header goes in.
	BADst netip.Addr
	// Outer, when valid, says the BA goes back over IPv4 the way the
	// Binding Update came (RFC 5555 §4): the inner IPv6 packet
	// encapsulated from OuterSrc to Outer's address, in UDP from port
	// 4191 to Outer's port, or, with port 0, as IPv6 in IPv4 (protocol
	// 41). It is the outer source the Binding Update arrived from, also
	// when the registration moves the binding elsewhere or refuses it:
	// the answer goes where the question came from (a NAT's mapping only
	// lets that through).
	Outer    netip.AddrPort
	OuterSrc netip.Addr
	// NAT reports that the IPv4 Care-of Address option differed from the
	// outer source address: a NAT is on the path (RFC 5555 §4.1), and the
	// accepted binding tunnels in UDP. UDP reports a binding that tunnels
	// in UDP (a NAT, the F flag, or an IPv4 home address, which the data
	// plane carries in UDP only); the BA then carries the NAT Detection
	// option (§3.2.2).
	NAT, UDP bool
	// IPv4HomeAddress is the IPv4 home address granted to the node
	// (RFC 5555 §3.1.1, §3.2.1), valid when the Binding Update asked for
	// one and got it (IPv4AckStatus 0); IPv4Ack reports whether the BA
	// carries an IPv4 Address Acknowledgement, with IPv4AckStatus.
	IPv4HomeAddress netip.Addr
	IPv4Ack         bool
	IPv4AckStatus   mip6.IPv4AckStatus
	// HomeAddress is the mobile node's home address.
	HomeAddress netip.Addr
	// LinkLocal is the link-local address with the home address's
	// interface identifier, when the L flag asks the home agent to
	// defend it too (RFC 6275 §10.3.1); the zero Addr otherwise.
	LinkLocal netip.Addr
	// Change says how the cache changed; Binding is the binding after
	// the change (for Deleted: the binding removed) and Previous the one
	// before a refresh or move.
	Change   Change
	Binding  binding.Entry
	Previous binding.Entry
}

// Options are the knobs of a HomeAgent that are not in had.toml.
type Options struct {
	// Table, when not nil, is the data plane's binding table: the home
	// agent installs and removes each binding's home address (and mobile
	// network prefixes) there as the cache changes.
	Table *tunnel.Table
	// SkipDAD accepts new bindings at once instead of returning
	// NeedsDAD. For tests and benchmarks, or a link where addresses are
	// assigned only by this home agent.
	SkipDAD bool
	// ReplaySkew is the "close enough" of RFC 4285 §5.1; 0 means
	// binding.DefaultReplaySkew.
	ReplaySkew time.Duration
	// RateBuckets is the size of the rate limiter's table; 0 means 65536.
	RateBuckets int
	// CacheHint sizes the binding cache; 0 sizes it for the configured
	// mobile nodes.
	CacheHint int
	// DADTimeout is how long a NeedsDAD waits for CompleteDAD before a
	// new Binding Update for the address starts DAD again; 0 means
	// DefaultDADTimeout.
	DADTimeout time.Duration
	// ReplyRate and ReplyBurst bound, over all sources together, the
	// Binding Acknowledgements sent before a Binding Update is known to
	// come from its node: 146 (authenticator wrong), and 144 and 145,
	// which a replayed captured Binding Update draws however often it
	// is replayed. 0 means DefaultReplyRate / DefaultReplyBurst; a
	// negative rate disables the bound. Over it: DropReplyLimited.
	ReplyRate, ReplyBurst int
	// BindingErrorRate and BindingErrorBurst bound the Binding Errors
	// that BindingError builds (RFC 6275 §9.3.3); 0 means
	// DefaultBindingErrorRate / DefaultBindingErrorBurst, negative
	// disables the bound.
	BindingErrorRate, BindingErrorBurst int
}

// Defaults of the overall reply budgets. 100 unauthenticated answers a
// second is far more than the configured nodes need (a node whose clock
// or key is wrong gets one answer per Binding Update it retransmits, with
// the exponential back-off of RFC 6275 §11.8), and at about 80 octets each
// a few tens of kbit/s at most. The Binding Error bucket is the tunnel's
// ICMPv6 error default (RFC 4443 §2.4(f)).
const (
	DefaultReplyRate         = 100
	DefaultReplyBurst        = 200
	DefaultBindingErrorRate  = 100
	DefaultBindingErrorBurst = 10
)

// Stats counts what the home agent refused to send.
type Stats struct {
	// RepliesLimited counts DropReplyLimited.
	RepliesLimited uint64
	// BindingErrorsLimited counts Binding Errors BindingError refused
	// with ErrRateLimited.
	BindingErrorsLimited uint64
}

// DefaultDADTimeout comfortably covers RFC 4862's DAD with the defaults
// of RFC 4861 §10: one Neighbor Solicitation and RetransTimer, 1 s.
const DefaultDADTimeout = 5 * time.Second

// node is one configured mobile node and its security association.
type node struct {
	id       []byte
	hoa      netip.Addr
	spi      uint32
	key      []byte
	alg      binding.Algorithm
	prefixes []netip.Prefix
	replay   binding.ReplayGuard
	// v4fixed is the node's configured IPv4 home address (RFC 5555
	// §3.1.1), v4hoa the one it holds now (fixed or from the pool;
	// invalid: none).
	v4fixed, v4hoa netip.Addr
	// Binding Refresh Request scheduling (RefreshDue): when the
	// binding of this node is due one, Unix ns, and its position in
	// HomeAgent.refreshQ (-1: not queued: no binding, or asked).
	refreshAt int64
	qpos      int32
}

// HomeAgent is the Binding Update processing of a home agent (RFC 6275
// §10.3, RFC 4285, RFC 3963): it owns the binding cache and turns each
// received Binding Update into a Result. It does no I/O and reads no
// clock. It is owned by one goroutine, like its Cache.
type HomeAgent struct {
	prefix      netip.Prefix
	addr        netip.Addr
	maxLifetime time.Duration
	hoaLifetime time.Duration // 0: unbounded
	nodes       []node
	bySPI       map[uint32]uint32
	byHoA       map[[16]byte]uint32 // pointer-free: nothing for the GC to scan
	cache       *binding.Cache
	table       *tunnel.Table
	limiter     ratelimit.Table // per source, RFC 6275 §15.4
	skipDAD     bool
	dadTimeout  time.Duration
	pending     map[netip.Addr]*pending
	opts0       Options
	rate        conf.RateLimit
	replies     ratelimit.Bucket // 144-146, all sources together
	beLimit     ratelimit.Bucket // Binding Errors
	stats       Stats
	refreshQ    []uint32 // min-heap of node indexes on refreshAt
	due         []binding.Entry

	// Dual-Stack MIPv6 (RFC 5555), from [ipv4]: the home agent's IPv4
	// address (invalid: IPv4 Binding Updates are dropped), the IPv4 home
	// address pool, the NAT keepalive refresh time, and which node holds
	// each IPv4 home address assigned from the pool.
	addr4  netip.Addr
	pool4  netip.Prefix
	natKA  time.Duration
	v4used map[netip.Addr]uint32 // pool addresses assigned
	v4conf map[netip.Addr]uint32 // configured ipv4_home_address values

	// Scratch for building Binding Acknowledgements without allocating.
	ba      mip6.BindingAck
	opts    [6]mip6.MobilityOption
	natOpt  mip6.NATDetection
	ackOpt  mip6.IPv4AddressAck
	bra     mip6.BindingRefreshAdvice
	mnid    mip6.MNIdentifier
	rp      mip6.ReplayProtection
	auth    mip6.Authentication
	zeros   [32]byte
	expired []binding.Entry
}

// pending is a Binding Update accepted but for its DAD.
type pending struct {
	n       uint32
	bu      buInfo
	dst     netip.Addr
	started time.Time
}

// New builds a HomeAgent from a validated had.toml.
func New(cfg *conf.HA, o Options) (*HomeAgent, error) {
	if cfg == nil {
		return nil, errors.New("homeagent: nil configuration")
	}
	h := &HomeAgent{
		prefix:      cfg.Home.Prefix.Masked(),
		addr:        cfg.Home.Address,
		maxLifetime: cfg.Home.MaxLifetime.Std(),
		bySPI:       make(map[uint32]uint32, len(cfg.MobileNodes)),
		byHoA:       make(map[[16]byte]uint32, len(cfg.MobileNodes)),
		table:       o.Table,
		limiter:     ratelimit.NewTable(cfg.RateLimit.Rate, cfg.RateLimit.Burst, o.RateBuckets),
		skipDAD:     o.SkipDAD,
		dadTimeout:  o.DADTimeout,
		pending:     make(map[netip.Addr]*pending),
		opts0:       o,
		rate:        cfg.RateLimit,
		replies:     ratelimit.NewBucketOr(o.ReplyRate, o.ReplyBurst, DefaultReplyRate, DefaultReplyBurst),
		beLimit:     ratelimit.NewBucketOr(o.BindingErrorRate, o.BindingErrorBurst, DefaultBindingErrorRate, DefaultBindingErrorBurst),
	}
	if h.dadTimeout <= 0 {
		h.dadTimeout = DefaultDADTimeout
	}
	if v4 := cfg.IPv4; v4 != nil {
		if !v4.Address.Is4() {
			return nil, fmt.Errorf("homeagent: ipv4.address %v is not an IPv4 address", v4.Address)
		}
		h.addr4, h.pool4, h.natKA = v4.Address, v4.HomePool.Masked(), v4.NATKeepalive.Std()
		if h.natKA <= 0 {
			h.natKA = conf.DefaultNATKeepalive
		}
		h.natKA -= h.natKA % time.Second
		h.v4used = make(map[netip.Addr]uint32)
		h.v4conf = make(map[netip.Addr]uint32)
	}
	if !h.prefix.IsValid() || !h.addr.IsValid() {
		return nil, errors.New("homeagent: home.prefix and home.address are required")
	}
	// The tunnels start at home.address: refuse one the data plane
	// would refuse for every binding (conf checks most of this; an
	// IPv4-compatible address slips through it).
	if err := (tunnel.Endpoint{Kind: tunnel.KindIPv6, Local: h.addr, Remote: h.addr}).Validate(); err != nil {
		return nil, fmt.Errorf("homeagent: home.address %v cannot be a tunnel end: %w", h.addr, err)
	}
	if h.maxLifetime <= 0 || h.maxLifetime > mip6.MaxLifetime {
		h.maxLifetime = min(max(h.maxLifetime, mip6.LifetimeUnit), mip6.MaxLifetime)
	}
	// RFC 6275 §10.3.1: the lifetime granted must not exceed the
	// remaining lifetime of the home address. The home agent's own
	// advertisements give every home address the prefix's valid
	// lifetime, refreshed with each RA, so that is the bound; the
	// all-ones value means infinity (RFC 4861 §4.6.2).
	if ra := cfg.RouterAdvertisements; ra.Enabled && ra.PrefixValidLifetime.Std() != 0xffffffff*time.Second {
		h.hoaLifetime = ra.PrefixValidLifetime.Std()
	}
	for i, mn := range cfg.MobileNodes {
		alg, err := algorithm(mn.Algorithm)
		if err != nil {
			return nil, fmt.Errorf("homeagent: mobile_node[%d]: %w", i, err)
		}
		if _, dup := h.bySPI[mn.SPI]; dup {
			return nil, fmt.Errorf("homeagent: mobile_node[%d]: SPI %d used twice", i, mn.SPI)
		}
		if _, dup := h.byHoA[mn.HomeAddress.As16()]; dup {
			return nil, fmt.Errorf("homeagent: mobile_node[%d]: home address %v used twice", i, mn.HomeAddress)
		}
		if len(mn.Key) == 0 || mn.ID == "" || !mn.HomeAddress.Is6() {
			return nil, fmt.Errorf("homeagent: mobile_node[%d]: id, home_address and key are required", i)
		}
		h.nodes = append(h.nodes, node{
			id: []byte(mn.ID), hoa: mn.HomeAddress, spi: mn.SPI, key: mn.Key, alg: alg,
			prefixes: mn.MobilePrefixes, replay: binding.ReplayGuard{Skew: o.ReplaySkew}, qpos: -1,
			v4fixed: mn.IPv4HomeAddress,
		})
		h.bySPI[mn.SPI] = uint32(i)
		if mn.IPv4HomeAddress.IsValid() && h.v4conf != nil {
			h.v4conf[mn.IPv4HomeAddress] = uint32(i)
		}
		h.byHoA[mn.HomeAddress.As16()] = uint32(i)
	}
	hint := o.CacheHint
	if hint == 0 {
		hint = len(cfg.MobileNodes)
	}
	h.cache = binding.NewCache(hint)
	// One refresh slot per node, allocated now: the schedule never
	// grows (and never copies itself) while bindings come and go.
	h.refreshQ = make([]uint32, 0, len(h.nodes))
	return h, nil
}

// Stats returns the counters.
func (h *HomeAgent) Stats() Stats { return h.stats }

// algorithm maps the configuration's algorithm name (conf.Algorithms, the
// same names binding uses) to binding's; empty is the RFC 4285 default.
func algorithm(s string) (binding.Algorithm, error) {
	if s == "" {
		return binding.HMACSHA1_96, nil
	}
	return binding.ParseAlgorithm(s)
}

// Cache returns the binding cache, for status reports and persistence
// (binding.SaveStateFile). The caller must not change it.
func (h *HomeAgent) Cache() *binding.Cache { return h.cache }

// buInfo is what ProcessBU extracts from a Binding Update.
type buInfo struct {
	seq      uint16
	flags    mip6.BUFlags
	lifetime time.Duration
	hoa, coa netip.Addr
	ts       uint64
	hasTS    bool
	mnid     *mip6.MNIdentifier
	prefixes []netip.Prefix
	// Dual-Stack MIPv6 (RFC 5555): outer is Packet.Outer (valid: the
	// Binding Update came over IPv4, coa is the IPv4 Care-of Address
	// option's address); nat and udp are the NAT detection's verdict
	// (§4.1); v4req the IPv4 Home Address option, if any (hasV4req), and
	// ack the IPv4 Address Acknowledgement to answer it with (hasAck).
	outer       netip.AddrPort
	nat, udp    bool
	v4req       mip6.IPv4HomeAddress
	hasV4req    bool
	ack         mip6.IPv4AddressAck
	hasAck      bool
	v4granted   netip.Addr
	sawV4CoA    bool
	v4CoAOption netip.Addr
}

// v4 reports whether the Binding Update came over IPv4.
func (in *buInfo) v4() bool { return in.outer.IsValid() }

// careOf is the binding's care-of address and UDP port: for a Binding
// Update over IPv4 the outer source as seen, which is the NAT's public
// address behind a NAT (RFC 5555 §4.1: the home agent tunnels to what it
// sees), with the port when the binding tunnels in UDP; otherwise the
// IPv6 care-of address.
func (in *buInfo) careOf() (netip.Addr, uint16) {
	if !in.v4() {
		return in.coa, 0
	}
	if !in.udp {
		return in.outer.Addr(), 0
	}
	port := in.outer.Port()
	if port == 0 {
		// An F flag on a Binding Update that came as IPv6 in IPv4:
		// no port was seen, so the node's own, the DSMIPv6 port.
		port = mip6.UDPPortDSMIP
	}
	return in.outer.Addr(), port
}

// ProcessBU processes a received Binding Update at now, following RFC
// 6275 §9.5.1 and §10.3.1-10.3.2 with the MN-HA authentication of RFC
// 4285, and appends the Binding Acknowledgement to send, if any, to buf.
//
// The checks, in order, and what fails them:
//
//  1. Rate limit per source (ratelimit.Table), before anything costs CPU:
//     silent drop. It comes before the MAC check because a limit after
//     it would only meter traffic that already authenticated, doing
//     nothing against a forged flood; and an unauthenticated sender must
//     not be able to make the home agent send unbounded replies.
//  2. Checksum and parsing (§9.2): silent drop.
//  3. Care-of address unicast routable (§9.5.1, see routable): silent
//     drop.
//  4. An MN-HA Authentication option whose SPI names a security
//     association (RFC 4285 §5.1): silent drop otherwise, since no key
//     exists to authenticate a reply with.
//  5. Its authenticator: BA 146 (MIPV6-AUTH-FAIL), authenticated.
//     This, 144 and 145 are answers to a message not yet known to come
//     from its node (145 answers replays of a captured one): they are
//     sent within an overall budget (Options.ReplyRate), over which
//     they become DropReplyLimited.
//  6. The MN Identifier option names the association's node (RFC 4283,
//     RFC 4285 §5): BA 144 (MIPV6-ID-MISMATCH).
//  7. The Replay Protection timestamp (RFC 4285 §6): present, within
//     the skew of now, later than the node's last: BA 145
//     (MIPV6-MESG-ID-REQD) carrying the home agent's time.
//  8. H flag (§9.5.1): clear with a home registration for the address:
//     BA 139; clear without: silent drop.
//  9. Home address on the home prefix (§10.3.1): BA 132; owned by this
//     node: BA 133.
//  10. Sequence number greater than the binding's (§9.5.1): BA 135
//     carrying the binding's sequence number.
//  11. De-registration (lifetime 0 or care-of = home address, §10.3.2):
//     BA 133 without a binding, else delete.
//  12. A care-of address that would loop the tunnel (see loops): BA 128.
//  13. R flag (RFC 3963 §6.1): BA 140, 141, 142.
//  14. A binding the data plane table would refuse: BA 128.
//  15. A new binding waits for DAD (§10.3.1): NeedsDAD.
//
// Only an accepted Binding Update changes state: the cache entry and the
// node's replay window (a Binding Update waiting for DAD already moves
// the window, so that it cannot be replayed meanwhile). Everything
// rejected or dropped leaves both as they were.
func (h *HomeAgent) ProcessBU(buf []byte, p Packet, now time.Time) Result {
	// Over IPv4 the inner source is the home address, which anyone can
	// write: the bucket goes by the outer source address.
	rateKey := p.Src
	if p.Outer.IsValid() {
		rateKey = p.Outer.Addr().Unmap()
	}
	if !h.limiter.AllowSource(rateKey, now) {
		return Result{Drop: DropRateLimited}
	}
	hoa := p.HomeAddress
	if !hoa.IsValid() {
		hoa = p.Src
	}
	if !mip6.VerifyMHChecksum(p.MH, hoa, p.Dst) {
		return Result{Drop: DropChecksum}
	}
	msg, err := mip6.ParseMessage(p.MH)
	if err != nil {
		return Result{Drop: DropMalformed, Err: err}
	}
	bu, ok := msg.(*mip6.BindingUpdate)
	if !ok {
		return Result{Drop: DropNotBU}
	}
	in := buInfo{seq: bu.Sequence, flags: bu.Flags, lifetime: bu.Lifetime, hoa: hoa, coa: p.Src, outer: p.Outer}
	var auth *mip6.Authentication
	sawAuth := false
	for _, o := range bu.Options {
		switch o := o.(type) {
		case *mip6.AlternateCareofAddress:
			// §6.2.5, §9.5.1: the option, when present, is the
			// care-of address (covered by the authenticator).
			in.coa = o.Address
		case *mip6.MNIdentifier:
			if in.mnid == nil {
				in.mnid = o
			}
		case *mip6.ReplayProtection:
			if !in.hasTS {
				in.ts, in.hasTS = o.Timestamp, true
			}
		case *mip6.MobileNetworkPrefix:
			in.prefixes = append(in.prefixes, o.Prefix)
		case *mip6.IPv4CareofAddress:
			if !in.sawV4CoA {
				in.v4CoAOption, in.sawV4CoA = o.Address, true
			}
		case *mip6.IPv4HomeAddress:
			if !in.hasV4req {
				in.v4req, in.hasV4req = *o, true
			}
		case *mip6.Authentication:
			// Only the first Authentication option is ours to check
			// (RFC 4285 §5: an MN-AAA option may follow it).
			if !sawAuth && o.Subtype == mip6.AuthSubtypeMNHA {
				auth = o
			}
			sawAuth = true
		}
	}
	if in.v4() {
		if d := h.checkIPv4(p, &in); d != NotDropped {
			return Result{Drop: d}
		}
	} else if in.sawV4CoA || !routable(in.coa) {
		// RFC 5555 §4: the IPv4 Care-of Address option comes over
		// IPv4, where its address can be compared with what the
		// packet came from; in a native IPv6 packet it names an
		// address nobody saw.
		return Result{Drop: DropBadCareOf}
	}
	if auth == nil {
		return Result{Drop: DropNoAuth}
	}
	ni, ok := h.bySPI[auth.SPI]
	if !ok {
		return Result{Drop: DropUnknownSPI}
	}
	n := &h.nodes[ni]
	// Until the authenticator verifies, a reply goes only to the packet's
	// own source: an Alternate Care-of Address in a forged BU must not
	// steer our BA at a victim (reflection, RFC 6275 §15.4 in spirit).
	res := h.reply(&in)
	if !in.v4() {
		res.BADst = p.Src
	}
	reject := func(s mip6.Status, seq uint16) Result {
		if preAuth(s) && !h.replies.Allow(now) {
			h.stats.RepliesLimited++
			return Result{Drop: DropReplyLimited}
		}
		res.Status = s
		ba, err := h.appendBA(buf, n, &in, p.Dst, s, seq, 0, in.ts)
		return withBA(res, ba, err)
	}
	// The parser checked that Header Len fits in p.MH; octets after it
	// are not part of the message (RFC 8200 §4.7) nor of the MAC.
	mh := p.MH[:(int(p.MH[1])+1)*8]
	off, size, err := mip6.AuthenticatorOffset(mh, mip6.OptAuthentication)
	if err != nil || size != n.alg.Size() || !binding.VerifyMNHAAuthenticator(n.alg, n.key, in.coa, hoa, mh, off) {
		return reject(mip6.StatusAuthFailed, in.seq)
	}
	res = h.reply(&in)
	if in.mnid == nil || in.mnid.Subtype != mip6.MNIDSubtypeNAI ||
		subtle.ConstantTimeCompare(in.mnid.Identifier, n.id) != 1 {
		return reject(mip6.StatusIDMismatch, in.seq)
	}
	if !in.hasTS || n.replay.Check(binding.Timestamp(in.ts), now) != nil {
		// RFC 4285 §6: answer with our own time, from which the node
		// can correct its clock.
		in.ts = uint64(binding.TimestampFromTime(now))
		return reject(mip6.StatusMesgIDRequired, in.seq)
	}
	cur, have := h.cache.Lookup(hoa)
	have = have && cur.Expires.After(now)
	if in.flags&mip6.BUFlagH == 0 {
		if have {
			return reject(mip6.StatusRegistrationTypeChangeDenied, in.seq)
		}
		return Result{Drop: DropNotHomeRegistration}
	}
	if !h.prefix.Contains(hoa) {
		return reject(mip6.StatusNotHomeSubnet, in.seq)
	}
	if hoa != n.hoa {
		return reject(mip6.StatusNotHomeAgentForThisMN, in.seq)
	}
	if have && mip6.SeqLessEq(in.seq, cur.Sequence) {
		// §9.5.1: the last accepted sequence number goes in the BA.
		return reject(mip6.StatusSequenceOutOfWindow, cur.Sequence)
	}
	if in.lifetime == 0 || in.coa == hoa {
		if !have {
			return reject(mip6.StatusNotHomeAgentForThisMN, in.seq)
		}
		return h.deregister(buf, n, &in, p.Dst, cur, now)
	}
	bcoa, _ := in.careOf()
	if h.loops(ni, bcoa) {
		return reject(mip6.StatusUnspecified, in.seq)
	}
	var prefixes []netip.Prefix
	if in.flags&mip6.BUFlagR != 0 {
		var s mip6.Status
		if prefixes, s = h.mobilePrefixes(n, in.prefixes); s != 0 {
			return reject(s, in.seq)
		}
	}
	in.prefixes = prefixes
	if err := h.checkInstall(h.endpoint(in.careOf()), prefixes); err != nil {
		// The data plane would refuse the binding (a mobile network
		// prefix in the configuration it cannot route): refuse it now,
		// before DAD moves the replay window.
		r := reject(mip6.StatusUnspecified, in.seq)
		if r.Err == nil {
			r.Err = err
		}
		return r
	}
	if in.flags&mip6.BUFlagL != 0 {
		res.LinkLocal = linkLocal(hoa)
	}
	if !have && !h.skipDAD {
		// §10.3.1: DAD for the home address before the first
		// binding. The timestamp is taken now, so a replay of this
		// Binding Update while DAD runs is refused.
		n.replay.Accept(binding.Timestamp(in.ts))
		if pd := h.pending[hoa]; pd != nil && now.Sub(pd.started) < h.dadTimeout {
			pd.bu, pd.dst = in, p.Dst
			res.Verdict = DADPending
			return res
		}
		// A DAD the caller never completed is started again rather
		// than blocking the home address for good.
		h.pending[hoa] = &pending{n: ni, bu: in, dst: p.Dst, started: now}
		res.Verdict = NeedsDAD
		return res
	}
	return h.accept(buf, ni, &in, p.Dst, cur, have, now, res)
}

// CompleteDAD finishes a binding that ProcessBU left waiting with
// NeedsDAD: ok reports whether DAD found the home address (and the
// link-local address, with L) free. It returns the BA to send, 0 with the
// binding created or 134 (RFC 6275 §10.3.1) with no state, or a Drop
// verdict when nothing was waiting for hoa.
func (h *HomeAgent) CompleteDAD(buf []byte, hoa netip.Addr, ok bool, now time.Time) Result {
	pd := h.pending[hoa]
	if pd == nil {
		return Result{Drop: DropNotPending}
	}
	delete(h.pending, hoa)
	n := &h.nodes[pd.n]
	in := pd.bu
	res := h.reply(&in)
	if in.flags&mip6.BUFlagL != 0 {
		res.LinkLocal = linkLocal(hoa)
	}
	if !ok {
		res.Status = mip6.StatusDADFailed
		ba, err := h.appendBA(buf, n, &in, pd.dst, mip6.StatusDADFailed, in.seq, 0, in.ts)
		return withBA(res, ba, err)
	}
	cur, have := h.cache.Lookup(hoa)
	have = have && cur.Expires.After(now)
	return h.accept(buf, pd.n, &in, pd.dst, cur, have, now, res)
}

// accept creates or updates the binding and builds the BA.
func (h *HomeAgent) accept(buf []byte, ni uint32, in *buInfo, dst netip.Addr, cur binding.Entry, have bool, now time.Time, res Result) Result {
	n := &h.nodes[ni]
	lt := h.grant(in.lifetime)
	coa, port := in.careOf()
	e := binding.Entry{
		HomeAddress:    in.hoa,
		CareOf:         coa,
		CareOfPort:     port,
		Sequence:       in.seq,
		Flags:          in.flags,
		Lifetime:       lt,
		Expires:        now.Add(lt),
		MobilePrefixes: in.prefixes,
		Timestamp:      binding.Timestamp(in.ts),
		Node:           ni,
	}
	// The data plane first: a binding it cannot take must not exist in
	// the cache either (the node would be told 0 and its traffic go
	// nowhere). An expired entry Tick has not collected yet counts as
	// installed: its prefixes must go from the table like those of a
	// live one.
	old, existed := h.cache.Lookup(in.hoa)
	if err := h.install(&e, &old, existed); err != nil {
		// Nothing changed: no cache entry, the replay window as it was
		// (a BU that waited for DAD moved it already, see ProcessBU).
		res.Status = mip6.StatusUnspecified
		res.Err = err
		ba, berr := h.appendBA(buf, n, in, dst, mip6.StatusUnspecified, in.seq, 0, in.ts)
		return withBA(res, ba, berr)
	}
	n.replay.Accept(binding.Timestamp(in.ts))
	h.cache.Set(e)
	h.schedule(ni, &e)
	if in.hasV4req {
		h.assignIPv4(ni, in)
	}
	h.syncIPv4(ni, &e, in)
	if in.hasAck {
		res.IPv4Ack, res.IPv4AckStatus, res.IPv4HomeAddress = true, in.ack.Status, in.v4granted
	}
	res.Binding = e
	switch {
	case !have:
		res.Change = Created
	case cur.CareOf == e.CareOf && cur.CareOfPort == e.CareOfPort:
		res.Change, res.Previous = Refreshed, cur
	default:
		res.Change, res.Previous = Moved, cur
	}
	res.Status = mip6.StatusAccepted
	if in.flags&mip6.BUFlagA == 0 {
		res.Verdict = Silent
		return res
	}
	ba, err := h.appendBA(buf, n, in, dst, mip6.StatusAccepted, in.seq, lt, in.ts)
	return withBA(res, ba, err)
}

// deregister deletes a binding (RFC 6275 §10.3.2).
func (h *HomeAgent) deregister(buf []byte, n *node, in *buInfo, dst netip.Addr, cur binding.Entry, now time.Time) Result {
	n.replay.Accept(binding.Timestamp(in.ts))
	h.cache.Delete(in.hoa)
	h.uninstall(&cur)
	h.unschedule(cur.Node)
	h.releaseIPv4(cur.Node)
	res := h.reply(in)
	res.Status, res.Change, res.Binding = mip6.StatusAccepted, Deleted, cur
	if in.flags&mip6.BUFlagA == 0 {
		res.Verdict = Silent
		return res
	}
	ba, err := h.appendBA(buf, n, in, dst, mip6.StatusAccepted, in.seq, 0, in.ts)
	return withBA(res, ba, err)
}

// grant caps a requested lifetime (RFC 6275 §10.3.1): by max_lifetime, by
// the home address's remaining lifetime, rounded down to whole 4-second
// units, and at least one unit (the request was not 0).
func (h *HomeAgent) grant(req time.Duration) time.Duration {
	lt := min(req, h.maxLifetime)
	if h.hoaLifetime > 0 {
		lt = min(lt, h.hoaLifetime)
	}
	lt -= lt % mip6.LifetimeUnit
	return max(lt, mip6.LifetimeUnit)
}

// mobilePrefixes applies RFC 3963 §6.1 to a BU with the R flag: the node
// must be allowed to act as a mobile router (it has prefixes in the
// configuration: else 140); in explicit mode every prefix it lists must be
// valid (141) and configured for it (142); in implicit mode (none listed)
// it gets the configured ones.
func (h *HomeAgent) mobilePrefixes(n *node, asked []netip.Prefix) ([]netip.Prefix, mip6.Status) {
	if len(n.prefixes) == 0 {
		return nil, mip6.StatusMobileRouterNotPermitted
	}
	if len(asked) == 0 {
		return n.prefixes, 0
	}
	for _, p := range asked {
		a := p.Addr()
		if !a.Is6() || a.Is4In6() || !a.IsGlobalUnicast() || p.Overlaps(h.prefix) {
			return nil, mip6.StatusInvalidPrefix
		}
	}
	for _, p := range asked {
		found := false
		for _, q := range n.prefixes {
			if p.Masked() == q.Masked() {
				found = true
				break
			}
		}
		if !found {
			return nil, mip6.StatusNotAuthorizedForPrefix
		}
	}
	return asked, 0
}

// endpoint is the tunnel of a binding to coa (and UDP port): IPv6 in
// IPv6 from home.address to an IPv6 care-of address; for an IPv4 one
// (RFC 5555 §4), IPv6 in UDP from ipv4.address port 4191 to the port the
// Binding Update came from when the binding tunnels in UDP (port not 0),
// else IPv6 in IPv4 (protocol 41).
func (h *HomeAgent) endpoint(coa netip.Addr, port uint16) tunnel.Endpoint {
	switch {
	case coa.Is4() && port != 0:
		return tunnel.Endpoint{Kind: tunnel.KindUDP4, Local: h.addr4, Remote: coa, LocalPort: mip6.UDPPortDSMIP, RemotePort: port}
	case coa.Is4():
		return tunnel.Endpoint{Kind: tunnel.Kind6in4, Local: h.addr4, Remote: coa}
	}
	return tunnel.Endpoint{Kind: tunnel.KindIPv6, Local: h.addr, Remote: coa}
}

// Endpoint returns the tunnel endpoint of binding e as the home agent
// installs it in the data plane table: its encapsulation (the SPEC's
// status "encapsulation" is its Kind: ip6ip6 for "ipv6", 6in4 for
// "ipv4", udp4), addresses and ports.
func (h *HomeAgent) Endpoint(e binding.Entry) tunnel.Endpoint {
	return h.endpoint(e.CareOf, e.CareOfPort)
}

// checkInstall reports whether the data plane table would refuse a
// binding with endpoint ep routing prefixes: the rules of
// tunnel.Table.Set, checked without changing anything.
func (h *HomeAgent) checkInstall(ep tunnel.Endpoint, prefixes []netip.Prefix) error {
	if h.table == nil {
		return nil
	}
	if err := ep.Validate(); err != nil {
		return err
	}
	for _, p := range prefixes {
		if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			return fmt.Errorf("homeagent: mobile network prefix %v: %w", p, tunnel.ErrNotIPv6)
		}
	}
	return nil
}

// install mirrors a binding into the data plane table, replacing old
// (when hadOld). If the table refuses any part of it, what was already
// set is put back as old had it and the error returned: the caller then
// refuses the binding, and the table routes what it routed before.
func (h *HomeAgent) install(e, old *binding.Entry, hadOld bool) error {
	if h.table == nil {
		return nil
	}
	ep := h.endpoint(e.CareOf, e.CareOfPort)
	hp := netip.PrefixFrom(e.HomeAddress, 128)
	err := h.table.Set(hp, ep)
	hoaSet := err == nil
	done := 0 // mobile network prefixes set
	if hoaSet {
		for _, p := range e.MobilePrefixes {
			if err = h.table.Set(p, ep); err != nil {
				break
			}
			done++
		}
	}
	if err != nil {
		h.rollback(e, old, hadOld, done, hoaSet)
		return fmt.Errorf("homeagent: data plane refused the binding of %v: %w", e.HomeAddress, err)
	}
	if hadOld {
		for _, p := range old.MobilePrefixes {
			if !containsPrefix(e.MobilePrefixes, p) {
				h.table.Delete(p)
			}
		}
	}
	return nil
}

// rollback undoes a failed install: the home address (if hoaSet) and
// the first done prefixes of e go back to old's
// tunnel, or away when old did not route them. It cannot fail: old's
// tunnel was accepted when old was installed.
func (h *HomeAgent) rollback(e, old *binding.Entry, hadOld bool, done int, hoaSet bool) {
	undo := func(p netip.Prefix, wasOld bool) {
		if wasOld {
			_ = h.table.Set(p, h.endpoint(old.CareOf, old.CareOfPort))
		} else {
			h.table.Delete(p)
		}
	}
	if hoaSet {
		undo(netip.PrefixFrom(e.HomeAddress, 128), hadOld)
	}
	for _, p := range e.MobilePrefixes[:done] {
		undo(p, hadOld && containsPrefix(old.MobilePrefixes, p))
	}
}

// uninstall withdraws a binding from the data plane table.
func (h *HomeAgent) uninstall(e *binding.Entry) {
	if h.table == nil {
		return
	}
	h.table.Delete(netip.PrefixFrom(e.HomeAddress, 128))
	for _, p := range e.MobilePrefixes {
		h.table.Delete(p)
	}
}

func containsPrefix(ps []netip.Prefix, p netip.Prefix) bool {
	for _, q := range ps {
		if q.Masked() == p.Masked() {
			return true
		}
	}
	return false
}

// Tick removes the bindings expired at now, withdraws them from the data
// plane table, and returns them for the caller to withdraw the rest
// (proxy Neighbor Discovery). The returned slice is reused by the next
// call. It costs nothing when nothing is due: see binding.Cache.Expire.
func (h *HomeAgent) Tick(now time.Time) []binding.Entry {
	h.expired = h.cache.Expire(now, h.expired[:0])
	for i := range h.expired {
		h.uninstall(&h.expired[i])
		h.unschedule(h.expired[i].Node)
		h.releaseIPv4(h.expired[i].Node)
	}
	return h.expired
}

// NextExpiry is when Tick next has work, for the caller's timer.
func (h *HomeAgent) NextExpiry() (time.Time, bool) { return h.cache.NextExpiry() }

// Restore adopts a cache loaded from the state file (binding.LoadStateFile)
// after a restart, replacing the current one. Each binding is checked
// against the configuration: one whose home address no configured node
// owns any more, that expired by now, whose care-of address is not one
// ProcessBU would accept (not routable, or a tunnel loop: see loops), or
// that the data plane table refuses, is dropped, withdrawn from the
// table, and returned. Mobile network prefixes the node is no longer
// configured for are dropped from its binding (RFC 3963 §6.1: the home
// agent authorizes each). Kept bindings are installed in the data plane
// table, and each node's replay window resumes from the last timestamp it
// had accepted, so messages captured before the restart stay refused. A
// node with a configured ipv4_home_address whose binding tunnels in UDP
// gets that address back in the table at once (RFC 5555 §3.1.1: it is the
// node's for good); an address from the pool, which the state file does
// not hold, comes back with the node's next Binding Update, which names it.
func (h *HomeAgent) Restore(c *binding.Cache, now time.Time) (dropped []binding.Entry) {
	return h.restore(c, now, nil)
}

// restore is Restore; keep, when not nil, also decides for each binding
// whether it stays (and whether its node was already sent a Binding
// Refresh Request for it) given the node index it maps to.
func (h *HomeAgent) restore(c *binding.Cache, now time.Time, keep func(e *binding.Entry, ni uint32) (ok, asked bool)) (dropped []binding.Entry) {
	fresh := binding.NewCache(c.Len())
	for _, ni := range h.refreshQ {
		h.nodes[ni].qpos = -1
	}
	h.refreshQ = h.refreshQ[:0]
	c.Range(func(e binding.Entry) bool {
		orig := e
		drop := func() bool {
			dropped = append(dropped, orig)
			h.uninstall(&orig)
			return true
		}
		ni, ok := h.byHoA[e.HomeAddress.As16()]
		if !ok || !e.Expires.After(now) || !h.careOfOK(e.CareOf) || h.loops(ni, e.CareOf) {
			return drop()
		}
		asked := false
		if keep != nil {
			if ok, asked = keep(&e, ni); !ok {
				return drop()
			}
		}
		var kept []netip.Prefix
		for _, p := range e.MobilePrefixes {
			if e.Flags&mip6.BUFlagR != 0 && containsPrefix(h.nodes[ni].prefixes, p) {
				kept = append(kept, p)
			} else if h.table != nil {
				h.table.Delete(p)
			}
		}
		e.MobilePrefixes = kept
		e.Node = ni
		if h.install(&e, nil, false) != nil {
			return drop()
		}
		fresh.Set(e)
		if keep == nil {
			h.restoreIPv4(ni, &e)
		}
		h.nodes[ni].replay.Accept(e.Timestamp)
		if asked {
			h.nodes[ni].refreshAt = refreshTime(&e)
		} else {
			h.schedule(ni, &e)
		}
		return true
	})
	h.cache = fresh
	return dropped
}

// Reload applies a new configuration (SIGHUP) and keeps the bindings
// that are still allowed, as Restore checks them; it returns those that
// are not, already withdrawn from the data plane table. A binding whose
// node's security association changed (SPI, key, algorithm, or
// identifier) is dropped too: it was authorised by a key the operator
// replaced, perhaps because it leaked. Nodes whose identifier, SPI, key
// and algorithm are unchanged keep their bindings and replay windows. The
// overall reply budgets and Stats carry over. On an error the home agent
// is unchanged.
func (h *HomeAgent) Reload(cfg *conf.HA, now time.Time) (dropped []binding.Entry, err error) {
	nh, err := New(cfg, h.opts0)
	if err != nil {
		return nil, err
	}
	for i := range nh.nodes {
		nn := &nh.nodes[i]
		oi, ok := h.bySPI[nn.spi]
		if !ok {
			continue
		}
		if on := &h.nodes[oi]; sameAssociation(on, nn) {
			skew := nn.replay.Skew
			nn.replay = on.replay
			nn.replay.Skew = skew
		}
	}
	// DADs in progress are forgotten: the mobile node retransmits.
	dropped = nh.restore(h.cache, now, func(e *binding.Entry, ni uint32) (bool, bool) {
		if int(e.Node) >= len(h.nodes) || h.nodes[e.Node].hoa != e.HomeAddress {
			return false, false // not a binding this home agent made
		}
		on := &h.nodes[e.Node]
		if !sameAssociation(on, &nh.nodes[ni]) {
			return false, false
		}
		return true, on.qpos < 0 && on.refreshAt != 0 && on.refreshAt == refreshTime(e)
	})
	// IPv4 home addresses (RFC 5555 §3.1.1) stay with the nodes whose
	// bindings stayed, when the new configuration still allows them.
	for i := range nh.nodes {
		nn := &nh.nodes[i]
		oi, ok := h.bySPI[nn.spi]
		if !ok {
			continue
		}
		a := h.nodes[oi].v4hoa
		if !a.IsValid() || !sameAssociation(&h.nodes[oi], nn) {
			continue
		}
		if e, ok := nh.cache.Lookup(nn.hoa); !ok || e.Node != uint32(i) {
			continue
		}
		if a == nn.v4fixed || (!nn.v4fixed.IsValid() && nh.poolUsable(a) && nh.v4owner(a) < 0) {
			nn.v4hoa = a
			if a != nn.v4fixed {
				nh.v4used[a] = uint32(i)
			}
		}
	}
	// The IPv4 home addresses that did not stay leave the data plane.
	if nh.table != nil {
		for i := range h.nodes {
			a := h.nodes[i].v4hoa
			if !a.IsValid() {
				continue
			}
			if ni, ok := nh.v4used[a]; ok && nh.nodes[ni].v4hoa == a {
				continue
			}
			if ni, ok := nh.v4conf[a]; ok && nh.nodes[ni].v4hoa == a {
				continue
			}
			nh.table.DeleteIPv4(a)
		}
	}
	nh.limiter = h.limiter
	if cfg.RateLimit != h.rate {
		nh.limiter = ratelimit.NewTable(cfg.RateLimit.Rate, cfg.RateLimit.Burst, h.opts0.RateBuckets)
	}
	nh.replies, nh.beLimit, nh.stats = h.replies, h.beLimit, h.stats
	*h = *nh
	return dropped, nil
}

// sameAssociation reports whether two configurations of a node share
// the security association that authorised its binding.
func sameAssociation(a, b *node) bool {
	return a.spi == b.spi && a.alg == b.alg && string(a.id) == string(b.id) &&
		subtle.ConstantTimeCompare(a.key, b.key) == 1
}

// routable reports whether a can be a care-of address: a unicast IPv6
// address reachable beyond one link, to which a binding can point (RFC
// 6275 §9.5.1 wants a "unicast routable address"). Refused:
//
//   - ::/96: the unspecified address (RFC 4291 §2.5.2: never a
//     destination), the loopback address (§2.5.3: never leaves the
//     node), and the deprecated IPv4-compatible addresses (§2.5.5.1);
//   - ::ffff:0:0/96, IPv4-mapped addresses (RFC 4291 §2.5.5.2): they
//     stand for IPv4 nodes in an IPv6 API and never appear in an IPv6
//     packet's address fields (RFC 6890 lists them as not forwardable);
//     an IPv4 care-of address has its own option (RFC 5555);
//   - multicast (RFC 4291 §2.7): one binding is one node;
//   - link-local unicast fe80::/10 (RFC 4291 §2.5.6): meaningless off
//     the link it was received on, and a zone means the same.
//
// IPv4 addresses are refused too: this code builds IPv6-in-IPv6 tunnels
// only. These are the same rules as the data plane's (tunnel.Endpoint).
func routable(a netip.Addr) bool {
	if !a.Is6() || a.Zone() != "" || a.Is4In6() || a.IsMulticast() || a.IsLinkLocalUnicast() {
		return false
	}
	b := a.As16()
	return [12]byte(b[:12]) != [12]byte{} // ::/96
}

// loops reports whether a binding of node ni to care-of address coa
// would route the tunnel into itself, or at another node. The checks
// run after authentication: it is the node itself (or its stolen key)
// asking, and the answer is 128 (reason unspecified) because RFC 6275
// has no code for it; the node learns its Binding Update was refused
// rather than retransmitting into silence. A care-of address is refused
// when it is
//
//   - inside the home prefix: packets to it are on the home link, where
//     the home agent intercepts for the home addresses it defends; a
//     node at home de-registers instead (§11.5.4, care-of = home
//     address, handled before this check);
//   - the home agent's own address: a tunnel to ourselves;
//   - inside one of the node's own mobile network prefixes: those are
//     routed into the same tunnel (RFC 3963 §6.1);
//   - another node's home address (on or off the home prefix): the
//     traffic of this node would be sent to that node.
//
// A care-of address in another node's mobile network prefix is allowed:
// that is nested mobility, a mobile node behind a mobile router (RFC
// 3963 §1, RFC 4888).
func (h *HomeAgent) loops(ni uint32, coa netip.Addr) bool {
	if h.prefix.Contains(coa) || coa == h.addr {
		return true
	}
	// RFC 5555: an IPv4 care-of address that is the home agent's own
	// IPv4 address, or one of the IPv4 home addresses it tunnels to
	// mobile nodes, would loop the same way.
	if coa.Is4() && (coa == h.addr4 || (h.pool4.IsValid() && h.pool4.Contains(coa))) {
		return true
	}
	for _, p := range h.nodes[ni].prefixes {
		if p.Contains(coa) {
			return true
		}
	}
	oi, ok := h.byHoA[coa.As16()]
	return ok && oi != ni
}

// preAuth reports whether status s is one of the answers given before
// the Binding Update is known to come from its node: a wrong
// authenticator, or a right one on a message that may be a replay.
func preAuth(s mip6.Status) bool {
	return s == mip6.StatusAuthFailed || s == mip6.StatusIDMismatch || s == mip6.StatusMesgIDRequired
}

// linkLocal returns fe80::/64 with the interface identifier of a.
func linkLocal(a netip.Addr) netip.Addr {
	b := a.As16()
	copy(b[:8], []byte{0xfe, 0x80, 0, 0, 0, 0, 0, 0})
	return netip.AddrFrom16(b)
}

// refreshAdvice is the Binding Refresh Advice interval for a granted
// lifetime (RFC 6275 §10.3.1 lets the home agent suggest refreshing
// sooner; §6.2.4 requires less than the lifetime): three quarters of it,
// in whole units, so a refresh arrives with a quarter of the lifetime to
// spare for a lost BU and its retransmission. 0 means no option.
func refreshAdvice(lt time.Duration) time.Duration {
	r := lt * 3 / 4
	r -= r % mip6.LifetimeUnit
	if r <= 0 || r >= lt {
		return 0
	}
	return r
}

// appendBA builds the authenticated, checksummed BA (RFC 6275 §6.1.8)
// with the MN Identifier, Replay Protection and MN-HA Authentication
// options of RFC 4285, and a Binding Refresh Advice when accepting a
// registration. The authenticator covers the same care-of and home
// addresses as the BU's (binding.SetMNHAAuthenticator).
func (h *HomeAgent) appendBA(buf []byte, n *node, in *buInfo, src netip.Addr, s mip6.Status, seq uint16, lt time.Duration, ts uint64) ([]byte, error) {
	opts := h.opts[:0]
	if s == mip6.StatusAccepted && lt > 0 {
		if r := refreshAdvice(lt); r > 0 {
			h.bra.RefreshInterval = r
			opts = append(opts, &h.bra)
		}
		if in.hasAck {
			// RFC 5555 §3.2.1: the answer to the IPv4 Home Address
			// option.
			h.ackOpt = in.ack
			opts = append(opts, &h.ackOpt)
		}
		if in.v4() && in.udp {
			// RFC 5555 §3.2.2: the node must tunnel in UDP (F: even
			// though no NAT was seen, because it asked or because it
			// has an IPv4 home address; or because it asked, with a
			// NAT), and refresh the NAT's mapping every Refresh time;
			// all ones means no keepalive is needed, which is the case
			// without a NAT.
			h.natOpt = mip6.NATDetection{ForceUDP: !in.nat || in.flags&mip6.BUFlagF != 0, RefreshTime: h.natKA}
			if !in.nat {
				h.natOpt.RefreshTime = 0xffffffff * time.Second
			}
			opts = append(opts, &h.natOpt)
		}
	}
	h.mnid = mip6.MNIdentifier{Subtype: mip6.MNIDSubtypeNAI, Identifier: n.id}
	h.rp.Timestamp = ts
	h.auth = mip6.Authentication{Subtype: mip6.AuthSubtypeMNHA, SPI: n.spi, Data: h.zeros[:n.alg.Size()]}
	opts = append(opts, &h.mnid, &h.rp, &h.auth)
	h.ba = mip6.BindingAck{Status: s, Sequence: seq, Lifetime: lt, Options: opts}
	if s == mip6.StatusAccepted && in.flags&mip6.BUFlagR != 0 {
		// RFC 3963 §4.2: R in the BA says the home agent supports
		// mobile routers.
		h.ba.Flags = mip6.BAFlagR
	}
	// K stays clear: this home agent keeps no IKE security association
	// that could follow the care-of address (RFC 6275 §10.3.1).
	start := len(buf)
	out, err := mip6.AppendMessage(buf, &h.ba)
	if err != nil {
		// Only a configuration the codec refuses (an identifier over
		// 254 octets) gets here.
		return buf, fmt.Errorf("homeagent: Binding Acknowledgement for %v: %w", in.hoa, err)
	}
	mh := out[start:]
	off, _, err := mip6.AuthenticatorOffset(mh, mip6.OptAuthentication)
	if err == nil {
		err = binding.SetMNHAAuthenticator(n.alg, n.key, in.coa, in.hoa, mh, off)
	}
	if err != nil {
		return buf, fmt.Errorf("homeagent: authenticating the Binding Acknowledgement for %v: %w", in.hoa, err)
	}
	mip6.SetMHChecksum(mh, src, in.hoa)
	return out, nil
}

// withBA puts the BA, or the error that prevented it, into res.
func withBA(res Result, ba []byte, err error) Result {
	if err != nil {
		res.Verdict, res.Drop, res.Err, res.BA = Drop, DropInternal, err, nil
		return res
	}
	res.BA = ba
	return res
}
