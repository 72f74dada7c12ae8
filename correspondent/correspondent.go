package correspondent

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/homeagent"
	"github.com/gomip6/gomip6/internal/ratelimit"
	"github.com/gomip6/gomip6/mip6"
)

// Packet is a received Mobility Header with the addresses found around it.
type Packet struct {
	// Src and Dst are the IPv6 Source and Destination Address fields as
	// received: Src is the care-of address of a packet with a Home
	// Address option (before the swap of §9.3.1), Dst one of this
	// node's addresses.
	Src, Dst netip.Addr
	// HomeAddress is the address of the Home Address destination
	// option, the zero Addr when there was none.
	HomeAddress netip.Addr
	// RoutingHeader reports a routing header in the packet. A
	// correspondent that is not itself a mobile node has no use for a
	// type 2 routing header (§6.4: it carries a mobile node's own home
	// address), and Mobility Header messages other than the Binding
	// Acknowledgement must not have one (§6.1): such a packet is dropped.
	RoutingHeader bool
	// Len is the length of the whole IPv6 packet as received, the
	// measure of §15.4's "no answer larger than the request". Zero means
	// the smallest packet that could have carried MH: 40 octets of IPv6
	// header, 24 of Destination Options with a Home Address option when
	// HomeAddress is valid, and MH.
	Len int
	// MH is the Mobility Header, from its Payload Proto octet.
	MH []byte
}

func (p *Packet) size() int {
	if p.Len > 0 {
		return p.Len
	}
	n := mip6.IPv6HeaderLen + len(p.MH)
	if p.HomeAddress.IsValid() {
		n += mip6.HomeAddressDestOptsLen
	}
	return n
}

// Verdict says what the caller does with a Result.
type Verdict uint8

// Verdicts.
const (
	// Drop: send nothing (Result.Drop says why); nothing changed.
	Drop Verdict = iota
	// Reply: send Result.Out, a whole IPv6 packet, to Result.Dst.
	Reply
	// Silent: a Binding Update was accepted and its A flag was clear,
	// so no acknowledgement is sent (§9.5.4); Result.Change says what
	// happened to the cache.
	Silent
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
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// DropReason says why a message got no answer.
type DropReason uint8

// Reasons for a silent drop.
const (
	// NotDropped: the message was not dropped.
	NotDropped DropReason = iota
	// DropRateLimited: the source's token bucket was empty (§15.4).
	DropRateLimited
	// DropChecksum: the Mobility Header checksum failed (§9.2).
	DropChecksum
	// DropMalformed: the Mobility Header did not parse (§9.2);
	// Result.Err holds the parser's error.
	DropMalformed
	// DropDisabled: route_optimization is off: return routability and
	// Binding Updates get no answer, mobile nodes keep their home
	// agents' tunnels.
	DropDisabled
	// DropNotForUs: a message a correspondent does not process (HoT,
	// CoT, BA, BE, BRR: answers a mobile node or a home agent receives),
	// or a HoTI or CoTI carrying a Home Address option (§9.4.1,
	// §9.4.2: silently ignored).
	DropNotForUs
	// DropRoutingHeader: the packet had a routing header (see
	// Packet.RoutingHeader).
	DropRoutingHeader
	// DropBadAddress: a home, care-of or source address that is not
	// unicast routable, or one of this node's own (§9.5.1).
	DropBadAddress
	// DropNoAuthorization: a Binding Update without a Nonce Indices
	// option or without a Binding Authorization Data option as its last
	// option (§9.5.1, §6.2.7): silently discarded.
	DropNoAuthorization
	// DropAuthFailed: the authenticator did not verify (§9.5.1): silently
	// discarded.
	DropAuthFailed
	// DropReplyLimited: an answer sent before authentication (HoT, CoT,
	// BA 131 and 136-138) over the overall budget (Options.ReplyRate).
	DropReplyLimited
	// DropAmplification: the answer would be larger than the packet
	// that provoked it (§15.4; see Options.StrictSize).
	DropAmplification
	// DropBindingErrorLimited: a Binding Error over its budget (§9.3.3,
	// Options.BindingErrorRate).
	DropBindingErrorLimited
	// DropInternal: the answer could not be built (Result.Err); or the
	// random source failed.
	DropInternal
)

var dropNames = [...]string{"not-dropped", "rate-limited", "checksum", "malformed", "disabled", "not-for-us",
	"routing-header", "bad-address", "no-authorization", "auth-failed", "reply-limited", "amplification",
	"binding-error-limited", "internal"}

// String names the reason.
func (r DropReason) String() string {
	if int(r) < len(dropNames) {
		return dropNames[r]
	}
	return fmt.Sprintf("drop(%d)", uint8(r))
}

// NumDropReasons bounds the DropReason values, for counter arrays.
const NumDropReasons = int(DropInternal) + 1

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

// Result is the outcome of one received Mobility Header.
type Result struct {
	Verdict Verdict
	Drop    DropReason
	Err     error
	// Type is the received message's MH Type (when it got that far).
	Type mip6.MHType
	// Sent is the MH Type of Out: HoT, CoT, BA or BE.
	Sent mip6.MHType
	// Out is the whole IPv6 packet to send, appended to the buffer given
	// to HandleMH; Dst is its IPv6 destination.
	Out []byte
	Dst netip.Addr
	// Status is the Binding Acknowledgement's status (Sent == BA, or
	// Silent); BEStatus the Binding Error's.
	Status   mip6.Status
	BEStatus mip6.BEStatus
	// HomeAddress and CareOf are the addresses a Binding Update was
	// about (after the Alternate Care-of Address option).
	HomeAddress, CareOf netip.Addr
	// Change says how the cache changed; Binding is the binding after
	// it (for Deleted: the one removed), Previous the one before a
	// refresh or move.
	Change   Change
	Binding  binding.Entry
	Previous binding.Entry
}

// Defaults of the Options.
const (
	// DefaultReplyRate and DefaultReplyBurst bound, over all sources,
	// the answers sent before a Binding Update is authenticated: HoT,
	// CoT, and BA 131 and 136-138. A mobile node sends one HoTI and one
	// CoTI per move and correspondent; a thousand a second serves many
	// nodes and caps a spoofed-source reflection at under a megabit.
	DefaultReplyRate  = 1000
	DefaultReplyBurst = 2000
	// DefaultBindingErrorRate and DefaultBindingErrorBurst bound Binding
	// Errors (§9.3.3: rate-limited as ICMPv6 errors, RFC 4443 §2.4(f)).
	DefaultBindingErrorRate  = 100
	DefaultBindingErrorBurst = 10
	// DefaultKeyRotation is how often a new node key Kcn is drawn
	// (§5.2.7 lets a correspondent regenerate it; each nonce keeps the key
	// it was generated under, so nothing outstanding breaks).
	DefaultKeyRotation = time.Hour
	// RefreshRequestFraction places a binding's Binding Refresh Request:
	// due when 1/RefreshRequestFraction of its lifetime is left (§9.5.5:
	// "about to expire").
	RefreshRequestFraction = 8
	// HopLimit of the packets built.
	HopLimit = 64
)

// Options are the knobs not in cnd.toml.
type Options struct {
	// Rand is the source of node keys and nonces; nil means crypto/rand.
	Rand io.Reader
	// RateBuckets sizes the per-source rate limiter; 0 means 65536.
	RateBuckets int
	// ReplyRate, ReplyBurst: see DefaultReplyRate. 0 takes the default,
	// a negative rate disables the bound.
	ReplyRate, ReplyBurst int
	// BindingErrorRate, BindingErrorBurst: see DefaultBindingErrorRate.
	BindingErrorRate, BindingErrorBurst int
	// KeyRotation: see DefaultKeyRotation; negative never rotates.
	KeyRotation time.Duration
	// StrictSize refuses a HoTI or CoTI whose packet is smaller than the
	// HoT or CoT it asks for. RFC 6275 makes the answer 8 octets longer
	// than the request (a 16-octet HoTI, §6.1.3, asks for a 24-octet
	// HoT, §6.1.5) and gives the mobile node no padding rule, so strict
	// mode answers only mobile nodes that pad their inits (a PadN option)
	// and refuses the rest, scapy's default 16-octet HoTI included. Off (the
	// default) the 8 octets are allowed for these two answers only, and
	// bounded by the per-source and overall budgets; every other answer
	// is never larger than its request.
	StrictSize bool
}

// Stats counts what the correspondent refused to send.
type Stats struct {
	RepliesLimited       uint64 // DropReplyLimited
	BindingErrorsLimited uint64 // DropBindingErrorLimited
	Amplification        uint64 // DropAmplification
	KeyRotations         uint64 // node keys drawn by Tick
}

// tomb remembers the last sequence number of a binding that is gone,
// until every nonce that could have authorised a Binding Update for it
// has expired: without it a replayed Binding Update, whose nonces are
// still valid, would recreate a deleted binding (§9.5.1 accepts any
// sequence number when there is no binding).
type tomb struct {
	seq   uint16
	until time.Time
}

// meta is what the correspondent keeps per binding beside the cache
// entry: the address the mobile node bound with (source of the Binding
// Refresh Request) and the refresh schedule.
type meta struct {
	cn        netip.Addr
	refreshAt time.Time
	asked     bool
	accepted  time.Time
}

// Correspondent is the correspondent node's Mobility Header processing.
// It does no I/O and reads no clock; one goroutine owns it.
type Correspondent struct {
	enabled     bool
	maxLifetime time.Duration
	strict      bool
	nonces      *binding.NonceTable
	cache       *binding.Cache
	meta        map[netip.Addr]*meta
	tombs       map[netip.Addr]tomb
	limiter     ratelimit.Table
	replies     ratelimit.Bucket
	beLimit     ratelimit.Bucket
	rate        conf.RateLimit
	opts        Options
	rotateEvery time.Duration
	rotatedAt   time.Time
	stats       Stats
	expired     []binding.Entry
	due         []binding.Entry
	nextRefresh time.Time // earliest refreshAt not asked yet; zero: none
	mh          []byte    // scratch for building Mobility Headers
}

// New builds a Correspondent from a validated cnd.toml.
func New(cfg *conf.CN, o Options) (*Correspondent, error) {
	if cfg == nil {
		return nil, errors.New("correspondent: nil configuration")
	}
	nt, err := binding.NewNonceTable(o.Rand)
	if err != nil {
		return nil, fmt.Errorf("correspondent: %w", err)
	}
	c := &Correspondent{
		nonces: nt,
		cache:  binding.NewCache(0),
		meta:   make(map[netip.Addr]*meta),
		tombs:  make(map[netip.Addr]tomb),
		opts:   o,
		strict: o.StrictSize,
	}
	c.apply(cfg)
	c.limiter = ratelimit.NewTable(cfg.RateLimit.Rate, cfg.RateLimit.Burst, o.RateBuckets)
	c.replies = ratelimit.NewBucketOr(o.ReplyRate, o.ReplyBurst, DefaultReplyRate, DefaultReplyBurst)
	c.beLimit = ratelimit.NewBucketOr(o.BindingErrorRate, o.BindingErrorBurst, DefaultBindingErrorRate, DefaultBindingErrorBurst)
	c.rotateEvery = o.KeyRotation
	if c.rotateEvery == 0 {
		c.rotateEvery = DefaultKeyRotation
	}
	return c, nil
}

func (c *Correspondent) apply(cfg *conf.CN) {
	c.enabled = cfg.RouteOptimization
	c.maxLifetime = cfg.MaxBindingLifetime.Std()
	if c.maxLifetime <= 0 || c.maxLifetime > mip6.MaxRRBindingLifetime {
		c.maxLifetime = mip6.MaxRRBindingLifetime
	}
	c.maxLifetime = max(c.maxLifetime-c.maxLifetime%mip6.LifetimeUnit, mip6.LifetimeUnit)
	c.rate = cfg.RateLimit
}

// Reload applies a new configuration (SIGHUP). Bindings stay, capped at the
// new maximum lifetime when it shrank; route_optimization turned off
// deletes them all, returned for the caller to withdraw. The node key,
// nonces and budgets carry over.
func (c *Correspondent) Reload(cfg *conf.CN, now time.Time) (dropped []binding.Entry) {
	if cfg == nil {
		return nil
	}
	if cfg.RateLimit != c.rate {
		c.limiter = ratelimit.NewTable(cfg.RateLimit.Rate, cfg.RateLimit.Burst, c.opts.RateBuckets)
	}
	c.apply(cfg)
	var all []binding.Entry
	c.cache.Range(func(e binding.Entry) bool {
		all = append(all, e)
		return true
	})
	for _, e := range all {
		if !c.enabled {
			c.remove(e.HomeAddress, now)
			dropped = append(dropped, e)
			continue
		}
		if m := c.meta[e.HomeAddress]; m != nil && e.Lifetime > c.maxLifetime {
			e.Lifetime = c.maxLifetime
			if exp := m.accepted.Add(e.Lifetime); exp.Before(e.Expires) {
				e.Expires = exp
			}
			c.cache.Set(e)
			c.schedule(m, &e)
		}
	}
	return dropped
}

// Stats returns the counters.
func (c *Correspondent) Stats() Stats { return c.stats }

// Cache returns the binding cache, for status reports. The caller must not
// change it.
func (c *Correspondent) Cache() *binding.Cache { return c.cache }

// Lookup returns the binding of a home address that has not expired by now.
func (c *Correspondent) Lookup(hoa netip.Addr, now time.Time) (binding.Entry, bool) {
	e, ok := c.cache.Lookup(hoa)
	if !ok || !e.Expires.After(now) {
		return binding.Entry{}, false
	}
	return e, true
}

// CheckHomeAddress is the test of §9.3.1 for a packet other than a Binding
// Update that carries a Home Address option: a binding for hoa must exist
// whose care-of address is the packet's source src. False means: drop the
// packet and answer with a Binding Error status 1 (BindingError).
func (c *Correspondent) CheckHomeAddress(hoa, src netip.Addr, now time.Time) bool {
	e, ok := c.Lookup(hoa, now)
	return ok && e.CareOf == src
}

// HandleMH processes one received Mobility Header at now (§9.2, §9.3.1,
// §9.4, §9.5) and appends the packet to send, if any, to buf.
//
// The checks, in order:
//
//  1. A routing header: drop (Packet.RoutingHeader).
//  2. Rate limit per source /64, before anything costs CPU: drop.
//  3. Checksum (§9.2, with the Home Address option's address as source,
//     §6.1.1): drop.
//  4. Parsing (§9.2): drop. An unknown MH Type parses and is answered by
//     Binding Error status 2 (§9.2).
//  5. A Home Address option on anything but a Binding Update needs a
//     binding with the packet's source as care-of address (§9.3.1), else
//     Binding Error status 1.
//  6. Per type: HoTI and CoTI (§9.4.1, §9.4.2), BU (see handleBU);
//     everything else is not a correspondent's to process: drop.
func (c *Correspondent) HandleMH(buf []byte, p Packet, now time.Time) Result {
	if p.RoutingHeader {
		return Result{Drop: DropRoutingHeader}
	}
	if !c.limiter.AllowSource(p.Src, now) {
		return Result{Drop: DropRateLimited}
	}
	pseudoSrc := p.Src
	if p.HomeAddress.IsValid() {
		pseudoSrc = p.HomeAddress
	}
	if len(p.MH) < 6 || !mip6.VerifyMHChecksum(p.MH, pseudoSrc, p.Dst) {
		return Result{Drop: DropChecksum}
	}
	msg, err := mip6.ParseMessage(p.MH)
	if err != nil {
		return Result{Drop: DropMalformed, Err: err, Type: mip6.MHType(p.MH[2])}
	}
	t := msg.MHType()
	if p.HomeAddress.IsValid() && t != mip6.MHBindingUpdate && !c.CheckHomeAddress(p.HomeAddress, p.Src, now) {
		r := c.BindingError(buf, mip6.BEUnknownHomeAddress, p, now)
		r.Type = t
		return r
	}
	var r Result
	switch m := msg.(type) {
	case *mip6.HomeTestInit:
		r = c.handleInit(buf, &p, m.Cookie, true, now)
	case *mip6.CareofTestInit:
		r = c.handleInit(buf, &p, m.Cookie, false, now)
	case *mip6.BindingUpdate:
		r = c.handleBU(buf, &p, m, now)
	case *mip6.RawMessage:
		r = c.BindingError(buf, mip6.BEUnknownMHType, p, now)
	default:
		r = Result{Drop: DropNotForUs}
	}
	r.Type = t
	return r
}

// handleInit answers a Home Test Init with a Home Test or a Care-of Test
// Init with a Care-of Test (§9.4.1-9.4.4): from the address the init was
// sent to, to its source, with the init's cookie, the current nonce's
// index and the keygen token for the source address. No state is kept
// (§5.2.8).
func (c *Correspondent) handleInit(buf []byte, p *Packet, cookie [mip6.CookieLen]byte, home bool, now time.Time) Result {
	if !c.enabled {
		return Result{Drop: DropDisabled}
	}
	if p.HomeAddress.IsValid() {
		// §9.4.1, §9.4.2: an init with a Home Address option is
		// silently ignored.
		return Result{Drop: DropNotForUs}
	}
	if !routable(p.Src) || !routable(p.Dst) || p.Src == p.Dst {
		return Result{Drop: DropBadAddress}
	}
	// The budget and the size rule first: a flood above the budget must
	// not pay for an HMAC and a marshalled reply each before it is
	// dropped. A HoT or CoT has a fixed size (testReplyLen).
	if c.strict && testReplyLen > p.size() {
		c.stats.Amplification++
		return Result{Drop: DropAmplification}
	}
	if !c.replies.Allow(now) {
		c.stats.RepliesLimited++
		return Result{Drop: DropReplyLimited}
	}
	ne, err := c.nonces.Current(now)
	if err != nil {
		return Result{Drop: DropInternal, Err: err}
	}
	var msg mip6.MobilityMessage
	if home {
		msg = &mip6.HomeTest{NonceIndex: ne.Index, Cookie: cookie, KeygenToken: ne.HomeKeygenToken(p.Src)}
	} else {
		msg = &mip6.CareofTest{NonceIndex: ne.Index, Cookie: cookie, KeygenToken: ne.CareofKeygenToken(p.Src)}
	}
	out, err := c.build(buf, msg, p.Dst, p.Src, netip.Addr{}, nil, binding.Kbm{}, netip.Addr{})
	if err != nil {
		return Result{Drop: DropInternal, Err: err}
	}
	res := Result{Verdict: Reply, Sent: msg.MHType(), Out: out, Dst: p.Src}
	return res
}

// testReplyLen is the size of a Home Test or Care-of Test packet: the IPv6
// header and a 24-octet Mobility Header (RFC 6275 §6.1.5, §6.1.6: header,
// nonce index, cookie, keygen token; no options).
const testReplyLen = mip6.IPv6HeaderLen + 24

// buInfo is what handleBU extracts from a Binding Update.
type buInfo struct {
	hoa, coa netip.Addr
	seq      uint16
	flags    mip6.BUFlags
	lifetime time.Duration
	dereg    bool
	kbm      binding.Kbm
	authCoA  netip.Addr
}

// handleBU processes a Binding Update (§9.5.1), in this order:
//
//  1. route_optimization off: drop.
//  2. Home address (Home Address option, else the source) and care-of
//     address (Alternate Care-of Address option, else the source)
//     unicast routable and not this node's address: drop.
//  3. H flag: BA 131, this node is no home agent (§9.5.1).
//  4. A Nonce Indices option and a Binding Authorization Data option
//     that is the last option (§6.2.7): drop otherwise.
//  5. Both nonce indices known and not expired (the care-of one is not
//     looked at for a de-registration, §5.2.5): BA 136, 137 or 138 even
//     without the A flag (§9.5.4), to the packet's source.
//  6. The authenticator (constant time): drop otherwise.
//  7. Sequence number greater than the binding's, or than the one
//     remembered for a deleted binding whose nonces may still be valid:
//     BA 135 with the last accepted number, even without the A flag.
//  8. De-registration (lifetime 0 or care-of = home address): delete.
//  9. Otherwise create, refresh or move, with the lifetime capped at
//     max_binding_lifetime (at most MAX_RR_BINDING_LIFETIME).
//
// Answers before step 6 go to the packet's own source within the overall
// reply budget; after it, to the authenticated care-of address, with a
// Binding Authorization Data option of their own (§9.5.4).
func (c *Correspondent) handleBU(buf []byte, p *Packet, bu *mip6.BindingUpdate, now time.Time) Result {
	if !c.enabled {
		return Result{Drop: DropDisabled}
	}
	in := buInfo{hoa: p.HomeAddress, coa: p.Src, seq: bu.Sequence, flags: bu.Flags, lifetime: bu.Lifetime}
	if !in.hoa.IsValid() {
		in.hoa = p.Src
	}
	var ni *mip6.NonceIndices
	var bad *mip6.BindingAuthorizationData
	for i, o := range bu.Options {
		switch o := o.(type) {
		case *mip6.AlternateCareofAddress:
			in.coa = o.Address
		case *mip6.NonceIndices:
			if ni == nil {
				ni = o
			}
		case *mip6.BindingAuthorizationData:
			if i == len(bu.Options)-1 {
				bad = o
			}
		}
	}
	if !routable(in.hoa) || !routable(in.coa) || !routable(p.Src) || !routable(p.Dst) ||
		in.hoa == p.Dst || in.coa == p.Dst {
		return Result{Drop: DropBadAddress}
	}
	res := Result{HomeAddress: in.hoa, CareOf: in.coa}
	// Before the authenticator verifies, answers go to the packet's own
	// source: an Alternate Care-of Address in a forged Binding Update
	// must not aim our answer at a victim.
	preAuth := func(s mip6.Status) Result {
		if !c.replies.Allow(now) {
			c.stats.RepliesLimited++
			return Result{Drop: DropReplyLimited}
		}
		return c.ba(buf, p, res, p.Src, in.hoa, s, in.seq, 0, nil)
	}
	if in.flags&mip6.BUFlagH != 0 {
		return preAuth(mip6.StatusHomeRegistrationNotSupported)
	}
	if ni == nil || bad == nil {
		return Result{Drop: DropNoAuthorization}
	}
	in.dereg = binding.IsDeregistration(in.hoa, in.coa, in.lifetime)
	kbm, st := c.nonces.BindingKey(in.hoa, in.coa, ni.HomeNonceIndex, ni.CareofNonceIndex, in.dereg, now)
	if st != mip6.StatusAccepted {
		return preAuth(st)
	}
	in.kbm = kbm
	in.authCoA = binding.AuthCareofAddress(in.hoa, in.coa, in.lifetime)
	// The parser checked that Header Len fits; octets after it are not
	// part of the message nor of the MAC.
	mh := p.MH[:(int(p.MH[1])+1)*8]
	off, n, err := mip6.AuthenticatorOffset(mh, mip6.OptBindingAuthData)
	if err != nil || n != mip6.AuthenticatorLen || !binding.VerifyBindingAuthenticator(kbm, in.authCoA, p.Dst, mh, off) {
		return Result{Drop: DropAuthFailed}
	}
	// Authenticated: answers go to the care-of address being
	// registered, with the home address in a type 2 routing header
	// (§9.5.4), or straight to the home address when they are equal.
	dst := in.coa
	cur, have := c.Lookup(in.hoa, now)
	last, haveLast := cur.Sequence, have
	if !have {
		if tb, ok := c.tombs[in.hoa]; ok && tb.until.After(now) {
			last, haveLast = tb.seq, true
		}
	}
	if haveLast && mip6.SeqLessEq(in.seq, last) {
		return c.ba(buf, p, res, dst, in.hoa, mip6.StatusSequenceOutOfWindow, last, 0, &in)
	}
	if in.dereg {
		if have {
			c.remove(in.hoa, now)
			res.Change, res.Binding = Deleted, cur
		}
		c.tombs[in.hoa] = tomb{seq: in.seq, until: now.Add(mip6.MaxNonceLifetime)}
		return c.ackOrSilent(buf, p, res, dst, &in, 0)
	}
	lt := min(in.lifetime, c.maxLifetime)
	lt -= lt % mip6.LifetimeUnit
	lt = max(lt, mip6.LifetimeUnit)
	e := binding.Entry{HomeAddress: in.hoa, CareOf: in.coa, Sequence: in.seq, Flags: in.flags, Lifetime: lt, Expires: now.Add(lt)}
	c.cache.Set(e)
	delete(c.tombs, in.hoa)
	m := c.meta[in.hoa]
	if m == nil {
		m = &meta{}
		c.meta[in.hoa] = m
	}
	m.cn, m.accepted = p.Dst, now
	c.schedule(m, &e)
	switch {
	case !have:
		res.Change = Created
	case cur.CareOf != e.CareOf:
		res.Change = Moved
	default:
		res.Change = Refreshed
	}
	res.Binding, res.Previous = e, cur
	return c.ackOrSilent(buf, p, res, dst, &in, lt)
}

// ackOrSilent answers an accepted Binding Update with a BA when its A flag
// asks for one (§9.5.4), else says Silent.
func (c *Correspondent) ackOrSilent(buf []byte, p *Packet, res Result, dst netip.Addr, in *buInfo, lt time.Duration) Result {
	if in.flags&mip6.BUFlagA == 0 {
		res.Verdict, res.Status = Silent, mip6.StatusAccepted
		return res
	}
	return c.ba(buf, p, res, dst, in.hoa, mip6.StatusAccepted, in.seq, lt, in)
}

// ba builds a Binding Acknowledgement from p.Dst to dst with a type 2
// routing header for hoa (none when dst is hoa), authenticated with in's
// Kbm when in is not nil (§9.5.4: a BA to a Binding Update that return
// routability authorized carries a Binding Authorization Data option).
func (c *Correspondent) ba(buf []byte, p *Packet, res Result, dst, hoa netip.Addr, s mip6.Status, seq uint16, lt time.Duration, in *buInfo) Result {
	m := &mip6.BindingAck{Status: s, Sequence: seq, Lifetime: lt}
	var kbm binding.Kbm
	var authCoA netip.Addr
	if in != nil {
		m.Options = []mip6.MobilityOption{&mip6.BindingAuthorizationData{}}
		kbm, authCoA = in.kbm, in.authCoA
	}
	var rh2 netip.Addr
	if dst != hoa {
		rh2 = hoa
	}
	out, err := c.build(buf, m, p.Dst, dst, rh2, m.Options, kbm, authCoA)
	if err != nil {
		return Result{Drop: DropInternal, Err: err}
	}
	if len(out)-len(buf) > p.size() {
		c.stats.Amplification++
		return Result{Drop: DropAmplification}
	}
	res.Verdict, res.Sent, res.Out, res.Dst, res.Status = Reply, mip6.MHBindingAck, out, dst, s
	return res
}

// build appends the whole packet: IPv6 header from src to dst, a type 2
// routing header for rh2 when valid, and msg, authenticated when opts
// holds a Binding Authorization Data option (with Kbm and authCoA) and
// checksummed last (§6.1.1: the pseudo-header's destination is the final
// one, rh2 when present).
func (c *Correspondent) build(buf []byte, msg mip6.MobilityMessage, src, dst, rh2 netip.Addr, opts []mip6.MobilityOption, kbm binding.Kbm, authCoA netip.Addr) ([]byte, error) {
	mh, err := mip6.AppendMessage(c.mh[:0], msg)
	if err != nil {
		return buf, fmt.Errorf("correspondent: building %v: %w", msg.MHType(), err)
	}
	c.mh = mh
	if len(opts) > 0 {
		off, _, err := mip6.AuthenticatorOffset(mh, mip6.OptBindingAuthData)
		if err == nil {
			err = binding.SetBindingAuthenticator(kbm, authCoA, src, mh, off)
		}
		if err != nil {
			return buf, fmt.Errorf("correspondent: authenticating %v: %w", msg.MHType(), err)
		}
	}
	final := dst
	if rh2.IsValid() {
		final = rh2
	}
	mip6.SetMHChecksum(mh, src, final)
	out, ok := mip6.AppendMobilityPacket(buf, src, dst, netip.Addr{}, rh2, HopLimit, mh)
	if !ok {
		return buf, errors.New("correspondent: packet too long")
	}
	return out, nil
}

// BindingError builds a Binding Error (§6.1.9, §9.3.3) about the packet p:
// to p's IPv6 source (never to its Home Address option's address, which
// nothing has verified: a forged option cannot aim it at a third party),
// from the address p was sent to, with p's home address (the unspecified
// address when it had none). It is sent within the Binding Error budget,
// only to a unicast source, and only when it is not larger than p.
// The caller uses it for data packets with a Home Address option and no
// binding (status 1, after CheckHomeAddress); HandleMH uses it for
// Mobility Headers.
func (c *Correspondent) BindingError(buf []byte, status mip6.BEStatus, p Packet, now time.Time) Result {
	if !routable(p.Src) || !p.Dst.Is6() || p.Dst.IsMulticast() {
		return Result{Drop: DropBadAddress}
	}
	out, err := homeagent.AppendBindingError(c.mh[:0], status, p.HomeAddress, p.Dst, p.Src)
	if err != nil {
		return Result{Drop: DropInternal, Err: err}
	}
	c.mh = out
	if mip6.IPv6HeaderLen+len(out) > p.size() {
		c.stats.Amplification++
		return Result{Drop: DropAmplification}
	}
	if !c.beLimit.Allow(now) {
		c.stats.BindingErrorsLimited++
		return Result{Drop: DropBindingErrorLimited}
	}
	pkt, _ := mip6.AppendMobilityPacket(buf, p.Dst, p.Src, netip.Addr{}, netip.Addr{}, HopLimit, out)
	return Result{Verdict: Reply, Sent: mip6.MHBindingError, Out: pkt, Dst: p.Src, BEStatus: status, HomeAddress: p.HomeAddress}
}

// remove deletes a binding and remembers its sequence number (see tomb).
func (c *Correspondent) remove(hoa netip.Addr, now time.Time) {
	if e, ok := c.cache.Delete(hoa); ok {
		c.tombs[hoa] = tomb{seq: e.Sequence, until: now.Add(mip6.MaxNonceLifetime)}
	}
	delete(c.meta, hoa)
}

func (c *Correspondent) schedule(m *meta, e *binding.Entry) {
	m.refreshAt = e.Expires.Add(-e.Lifetime / RefreshRequestFraction)
	m.asked = false
	if c.nextRefresh.IsZero() || m.refreshAt.Before(c.nextRefresh) {
		c.nextRefresh = m.refreshAt
	}
}

// NextRefresh is when RefreshDue next has work, for the caller's timer
// (possibly earlier: a binding that went away leaves its time until the
// next RefreshDue).
func (c *Correspondent) NextRefresh() (time.Time, bool) {
	return c.nextRefresh, !c.nextRefresh.IsZero()
}

// Tick removes the bindings expired at now and returns them for the
// caller to withdraw (routes, data path); the slice is reused by the next
// call. It also forgets the tombstones whose nonces have all expired and
// rotates the node key when it is due.
func (c *Correspondent) Tick(now time.Time) []binding.Entry {
	c.expired = c.cache.Expire(now, c.expired[:0])
	for _, e := range c.expired {
		delete(c.meta, e.HomeAddress)
		// Its last Binding Update's nonces may still be valid (the
		// lifetime can be as short as 4 s): keep refusing replays.
		c.tombs[e.HomeAddress] = tomb{seq: e.Sequence, until: now.Add(mip6.MaxNonceLifetime)}
	}
	for a, tb := range c.tombs {
		if !tb.until.After(now) {
			delete(c.tombs, a)
		}
	}
	if c.rotateEvery > 0 {
		if c.rotatedAt.IsZero() {
			c.rotatedAt = now
		} else if now.Sub(c.rotatedAt) >= c.rotateEvery {
			if c.nonces.RotateKey() == nil {
				c.rotatedAt = now
				c.stats.KeyRotations++
			}
		}
	}
	return c.expired
}

// NextExpiry is when Tick next has a binding to expire.
func (c *Correspondent) NextExpiry() (time.Time, bool) { return c.cache.NextExpiry() }

// RefreshDue returns the bindings due a Binding Refresh Request at now:
// with at most 1/RefreshRequestFraction of their lifetime left, not
// expired, each registration once. Whether to send it is the caller's
// decision: §9.5.5 asks for one only for a binding in active use, which
// the data path knows (Table's counters). The slice is reused.
func (c *Correspondent) RefreshDue(now time.Time) []binding.Entry {
	c.due = c.due[:0]
	if c.nextRefresh.IsZero() || now.Before(c.nextRefresh) {
		return c.due
	}
	// One pass over the bindings when something is due, which also
	// finds the next time.
	c.nextRefresh = time.Time{}
	for hoa, m := range c.meta {
		if m.asked {
			continue
		}
		if now.Before(m.refreshAt) {
			if c.nextRefresh.IsZero() || m.refreshAt.Before(c.nextRefresh) {
				c.nextRefresh = m.refreshAt
			}
			continue
		}
		e, ok := c.Lookup(hoa, now)
		if !ok {
			continue
		}
		m.asked = true
		c.due = append(c.due, e)
	}
	return c.due
}

// AppendBRR appends a whole Binding Refresh Request packet (§6.1.2,
// §9.5.5) for the binding of hoa: from the address the mobile node bound
// with, to the home address, without a type 2 routing header (§6.1: only
// a Binding Acknowledgement may carry one; the request reaches the node
// through its home agent, and a forged one can do no more than make it
// run return routability). It fails when hoa has no binding.
func (c *Correspondent) AppendBRR(buf []byte, hoa netip.Addr) ([]byte, error) {
	m := c.meta[hoa]
	if m == nil {
		return buf, fmt.Errorf("correspondent: no binding for %v", hoa)
	}
	return c.build(buf, &mip6.BindingRefreshRequest{}, m.cn, hoa, netip.Addr{}, nil, binding.Kbm{}, netip.Addr{})
}

// routable reports whether a can be a home or care-of address, or the
// source of a message we answer: a unicast IPv6 address beyond one link
// (§9.5.1: "unicast routable"), not unspecified, loopback, IPv4-mapped or
// -compatible, multicast or link-local.
func routable(a netip.Addr) bool {
	if !a.Is6() || a.Zone() != "" || a.Is4In6() || a.IsMulticast() || a.IsLinkLocalUnicast() {
		return false
	}
	b := a.As16()
	return [12]byte(b[:12]) != [12]byte{}
}
