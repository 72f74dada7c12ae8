package homeagent

import (
	"hash/maphash"
	"net/netip"
	"time"
)

// RateLimiter is a token bucket per source (RFC 6275 §15.4 asks nodes to
// bound the signalling they process; issue 4 asks that a BU flood not
// starve legitimate nodes). It is the generic cell rate algorithm: each
// bucket is one theoretical arrival time, so a bucket is 8 octets.
//
// Buckets live in a fixed-size table indexed by a keyed hash of the
// source, so memory is bounded whatever a flood of forged sources does,
// and there is nothing to evict. Two sources that hash to the same bucket
// share it; the hash key is random per limiter, so an attacker cannot aim
// a collision at a chosen victim.
//
// Sources are keyed by their /64 for IPv6 (one interface identifier per
// address is free to make up, so per-address buckets would not limit an
// attacker at all) and by the whole address for IPv4 (the NAT's public
// address). The price: nodes sharing a /64 with a flooding host share its
// bucket.
//
// It reads no clock: Allow takes the current time. Not safe for
// concurrent use.
type RateLimiter struct {
	tat      []int64 // theoretical arrival time per bucket, Unix ns
	interval int64   // ns between tokens: 1 s / rate
	tau      int64   // burst tolerance: (burst - 1) × interval
	seed     maphash.Seed
	mask     uint64
}

// NewRateLimiter returns a limiter allowing rate messages per second per
// source with bursts of burst, over buckets buckets (rounded up to a power
// of two; 0 means 65536). rate <= 0 disables limiting.
func NewRateLimiter(rate, burst, buckets int) *RateLimiter {
	if rate <= 0 {
		return &RateLimiter{}
	}
	if buckets <= 0 {
		buckets = 1 << 16
	}
	n := 1
	for n < buckets {
		n <<= 1
	}
	burst = max(burst, 1)
	iv := int64(time.Second) / int64(rate)
	return &RateLimiter{
		tat:      make([]int64, n),
		interval: iv,
		tau:      int64(burst-1) * iv,
		seed:     maphash.MakeSeed(),
		mask:     uint64(n - 1),
	}
}

// Allow reports whether a message from src may be processed at now, and
// if so takes a token from its bucket.
func (l *RateLimiter) Allow(src netip.Addr, now time.Time) bool {
	if l == nil || l.tat == nil {
		return true
	}
	a := src.Unmap()
	var k [16]byte
	var key []byte
	if a.Is4() {
		b := a.As4()
		copy(k[:4], b[:])
		key = k[:4]
	} else {
		k = a.As16()
		key = k[:8] // the /64
	}
	i := maphash.Bytes(l.seed, key) & l.mask
	t := now.UnixNano()
	tat := max(l.tat[i], t)
	if tat-t > l.tau {
		return false
	}
	l.tat[i] = tat + l.interval
	return true
}

// TokenBucket is one token bucket for everything together, where
// RateLimiter has one per source: it bounds the total of some kind of
// message the home agent emits, whichever sources provoke it. It is the
// same generic cell rate algorithm (one theoretical arrival time).
//
// The home agent uses one for the answers it gives before a Binding
// Update proved to come from the node (144, 145, 146), so that a flood
// spread over many /64s, each within its RateLimiter bucket, still cannot
// make it send unbounded replies; and one for Binding Errors (RFC 6275
// §9.3.3 rate-limits them "in the same manner as is done for ICMPv6
// messages", RFC 4443 §2.4(f)).
//
// It reads no clock: Allow takes the current time. Not safe for
// concurrent use. A nil *TokenBucket allows everything.
type TokenBucket struct {
	tat      int64 // theoretical arrival time, Unix ns
	interval int64 // ns between tokens: 1 s / rate
	tau      int64 // burst tolerance: (burst - 1) × interval
}

// NewTokenBucket returns a bucket allowing rate messages per second with
// bursts of burst (at least 1). rate <= 0 returns nil, which allows
// everything.
func NewTokenBucket(rate, burst int) *TokenBucket {
	if rate <= 0 {
		return nil
	}
	iv := max(int64(time.Second)/int64(rate), 1)
	return &TokenBucket{interval: iv, tau: int64(max(burst, 1)-1) * iv}
}

// Allow reports whether a message may go at now, and if so takes a
// token.
func (b *TokenBucket) Allow(now time.Time) bool {
	if b == nil {
		return true
	}
	t := now.UnixNano()
	tat := max(b.tat, t)
	if tat-t > b.tau {
		return false
	}
	b.tat = tat + b.interval
	return true
}
