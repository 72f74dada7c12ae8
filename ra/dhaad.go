package ra

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/gomip6/gomip6/internal/ratelimit"
	"github.com/gomip6/gomip6/mip6"
)

// HomeAgentsAnycast returns the Mobile IPv6 Home-Agents anycast address of
// the home subnet prefix p, where mobile nodes send their Home Agent
// Address Discovery Requests (RFC 6275 §10.5): the reserved subnet anycast
// address with anycast ID 0x7e (126) of RFC 2526 §3. For a /64, whose
// interface identifiers are in EUI-64 format, that is p plus
// fdff:ffff:ffff:fffe (RFC 2526 §2: universal/local bit 0, the other bits
// above the low 7 set); for other lengths every host bit above the low 7
// is 1. It returns the invalid Addr for a prefix that is not IPv6 or is
// longer than /121, which has no room for the 128 reserved IDs.
func HomeAgentsAnycast(p netip.Prefix) netip.Addr {
	if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() || p.Bits() > 121 {
		return netip.Addr{}
	}
	b := p.Masked().Addr().As16()
	if p.Bits() == 64 {
		copy(b[8:], []byte{0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe})
		return netip.AddrFrom16(b)
	}
	for i := p.Bits(); i < 121; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	b[15] = b[15]&0x80 | 0x7e
	return netip.AddrFrom16(b)
}

// DHAADConfig parameterises a DHAADResponder. The zero value means the
// defaults.
type DHAADConfig struct {
	// Source is the home agent's global address on the home link, the
	// source of the replies (RFC 6275 §10.5: a reply comes from the home
	// agent's own address, never from the anycast address the request
	// went to). Required.
	Source netip.Addr
	// Rate and Burst limit the replies per requesting /64 (a source
	// address is free to make up within its /64, so per-address limits
	// would not hold): Rate per second, bursts of Burst. Zero means
	// DefaultDHAADRate and DefaultDHAADBurst.
	Rate, Burst int
	// GlobalRate and GlobalBurst limit all replies together, whatever
	// the sources: the bound on what the home agent sends when forged
	// requests come from many prefixes. Zero means DefaultDHAADGlobalRate
	// and DefaultDHAADGlobalBurst.
	GlobalRate, GlobalBurst int
	// Buckets is the size of the per-/64 table (rounded up to a power of
	// two); zero means 4096. Memory is 8 octets a bucket whatever the
	// number of sources; sources that hash to one bucket share it.
	Buckets int
}

// Defaults of DHAADConfig. A mobile node sends one request and retries
// with exponential backoff from INITIAL_DHAAD_TIMEOUT, 3 s (RFC 6275
// §11.4.1, §12): one reply a second per /64 with a burst of 3 serves
// several mobile nodes behind one prefix and their retries; 100 replies a
// second in total is beyond any real population of roaming nodes that
// just lost their home agent.
const (
	DefaultDHAADRate        = 1
	DefaultDHAADBurst       = 3
	DefaultDHAADGlobalRate  = 100
	DefaultDHAADGlobalBurst = 200
)

// DHAADResponder answers Home Agent Address Discovery Requests from the
// Home Agents List (RFC 6275 §10.5), with the checks that keep it from
// being used against third parties: a request is a few dozen octets and
// the reply up to 1232, so a reply to a forged source is an amplifier. It
// only answers a request that could come from a mobile node away from
// home: sent to the Home-Agents anycast address of the home prefix (or to
// Source), from a global unicast address that is not one of the home
// link's special addresses; and it rate-limits the replies per source /64
// and overall. The reply size is bounded by MaxDHAADAddresses (1280
// octets with the IPv6 header).
//
// It is safe for concurrent use.
type DHAADResponder struct {
	list    *HAList
	src     netip.Addr
	anycast netip.Addr

	mu     sync.Mutex
	per    ratelimit.Table  // per requesting /64
	global ratelimit.Bucket // all replies
	stats  DHAADStats
}

// DHAADStats are a DHAADResponder's counters.
type DHAADStats struct {
	// Replies counts replies built.
	Replies uint64
	// Invalid counts requests that were malformed (checksum, code, type,
	// length) or sent to an address other than the anycast address or
	// Source.
	Invalid uint64
	// BadSource counts requests from a source a reply must not go to.
	BadSource uint64
	// RateLimited counts requests dropped by the per-/64 limit, and
	// GlobalLimited those dropped by the overall one.
	RateLimited, GlobalLimited uint64
}

// NewDHAADResponder returns a responder answering from list (which must
// not be nil) for the home prefix it was made with.
func NewDHAADResponder(list *HAList, cfg DHAADConfig) (*DHAADResponder, error) {
	if list == nil {
		return nil, errors.New("ra: NewDHAADResponder: nil HAList")
	}
	if !globalUnicast(cfg.Source) {
		return nil, fmt.Errorf("ra: DHAAD source %v is not a global unicast IPv6 address", cfg.Source)
	}
	anycast := HomeAgentsAnycast(list.prefix)
	if !anycast.IsValid() {
		return nil, fmt.Errorf("ra: home prefix %v has no Home-Agents anycast address (RFC 2526)", list.prefix)
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultDHAADRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultDHAADBurst
	}
	if cfg.GlobalRate <= 0 {
		cfg.GlobalRate = DefaultDHAADGlobalRate
	}
	if cfg.GlobalBurst <= 0 {
		cfg.GlobalBurst = DefaultDHAADGlobalBurst
	}
	if cfg.Buckets <= 0 {
		cfg.Buckets = 4096
	}
	return &DHAADResponder{
		list:    list,
		src:     cfg.Source.WithZone(""),
		anycast: anycast,
		per:     ratelimit.NewTable(cfg.Rate, cfg.Burst, cfg.Buckets),
		global:  ratelimit.NewBucket(cfg.GlobalRate, cfg.GlobalBurst),
	}, nil
}

// Anycast returns the Home-Agents anycast address the responder accepts
// requests on: the daemon makes the home link interface answer to it.
func (r *DHAADResponder) Anycast() netip.Addr { return r.anycast }

// Stats returns the counters.
func (r *DHAADResponder) Stats() DHAADStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Reply answers the request req (the ICMPv6 message from its Type octet,
// with its checksum) that arrived at now from src to dst. It appends the
// reply — the ICMPv6 message with its checksum computed for Source to src
// — to buf and returns it with true, or returns buf unchanged and false
// when no reply is to be sent. The daemon sends the reply from Source to
// src, hop limit of its choice, no extension headers. (A raw ICMPv6
// socket recomputes the checksum; the one here is right either way.)
//
// No reply when: the checksum fails (RFC 4443 §2.3), the message is not a
// well-formed request (mip6.ParseICMP: code 0, at least 8 octets), dst is
// neither the Home-Agents anycast address nor Source, src is not a global
// unicast address (unspecified, loopback, multicast, link-local,
// IPv4-mapped, a zone) or is a subnet anycast address (RFC 4291 §2.6.1,
// RFC 2526: a reply there would go to whatever router or agent answers
// for it) or Source itself, or a rate limit is exceeded. An empty Home
// Agents List still gets a reply with no address (§10.5: the mobile node
// retries later, §11.4.1).
func (r *DHAADResponder) Reply(buf, req []byte, src, dst netip.Addr, now time.Time) ([]byte, bool) {
	src, dst = src.WithZone(""), dst.WithZone("")
	if dst != r.anycast && dst != r.src {
		r.count(func(s *DHAADStats) { s.Invalid++ })
		return buf, false
	}
	if !replyableSource(src) || src == r.src {
		r.count(func(s *DHAADStats) { s.BadSource++ })
		return buf, false
	}
	if len(req) < 8 || req[0] != mip6.ICMPHomeAgentDiscoveryReq || !mip6.VerifyICMPChecksum(req, src, dst) {
		r.count(func(s *DHAADStats) { s.Invalid++ })
		return buf, false
	}
	m, err := mip6.ParseICMP(req)
	q, ok := m.(*mip6.HomeAgentDiscoveryRequest)
	if err != nil || !ok {
		r.count(func(s *DHAADStats) { s.Invalid++ })
		return buf, false
	}
	// Limits last, so that garbage does not use up a prefix's tokens;
	// per-/64 before global, so that one flooding prefix does not use
	// up the tokens of everybody else.
	r.mu.Lock()
	switch {
	case !r.per.AllowSource(src, now):
		r.stats.RateLimited++
		r.mu.Unlock()
		return buf, false
	case !r.global.Allow(now):
		r.stats.GlobalLimited++
		r.mu.Unlock()
		return buf, false
	}
	r.stats.Replies++
	r.mu.Unlock()

	rep := r.list.DHAADReply(q, now)
	n0 := len(buf)
	out, err := mip6.AppendICMP(buf, rep)
	if err != nil {
		// DHAADReply only lists global unicast addresses, which the codec
		// accepts; nothing to send if that ever changes.
		return buf, false
	}
	mip6.SetICMPChecksum(out[n0:], r.src, src)
	return out, true
}

func (r *DHAADResponder) count(f func(*DHAADStats)) {
	r.mu.Lock()
	f(&r.stats)
	r.mu.Unlock()
}

// replyableSource reports whether a reply may go to a: a global unicast
// address that is not a subnet anycast address. For the anycast test the
// /64 boundary of RFC 4291 §2.5.4 is assumed (global unicast prefixes
// other than 000/3 have 64-bit interface identifiers): IID 0 is the
// Subnet-Router anycast address (§2.6.1) and the top 128 EUI-64 format
// IIDs are the reserved subnet anycast addresses of RFC 2526 §2.
func replyableSource(a netip.Addr) bool {
	if !globalUnicast(a) {
		return false
	}
	b := a.As16()
	if b[8]|b[9]|b[10]|b[11]|b[12]|b[13]|b[14]|b[15] == 0 {
		return false
	}
	if b[8] == 0xfd && b[9] == 0xff && b[10] == 0xff && b[11] == 0xff &&
		b[12] == 0xff && b[13] == 0xff && b[14] == 0xff && b[15]&0x80 != 0 {
		return false
	}
	return true
}
