package ndproxy

import (
	"hash/maphash"
	"net/netip"
	"time"
)

// limiter is a token bucket in the generic cell rate algorithm form: tat
// is the theoretical arrival time of the next message, and a message at t
// is allowed when tat - t is at most tau (the burst), which moves tat to
// max(tat, t) + interval. A zero interval means no limit.
type limiter struct {
	tat, interval, tau int64
}

// newLimiter allows rate messages a second in bursts of burst; a rate
// below 1 means no limit.
func newLimiter(rate, burst int) limiter {
	if rate < 1 {
		return limiter{}
	}
	iv := int64(time.Second) / int64(rate)
	return limiter{interval: iv, tau: int64(max(burst, 1)-1) * iv}
}

func (l *limiter) allow(now time.Time) bool {
	if l.interval == 0 {
		return true
	}
	t := now.UnixNano()
	tat := max(l.tat, t)
	if tat-t > l.tau {
		return false
	}
	l.tat = tat + l.interval
	return true
}

// limiterTable is a fixed table of limiters indexed by a keyed hash of an
// address: its memory does not depend on how many addresses an attacker
// makes up, and the random key keeps one from aiming a collision at a
// chosen target. Addresses sharing a slot share its budget.
type limiterTable struct {
	tat           []int64
	interval, tau int64
	seed          maphash.Seed
	mask          uint64
}

func newLimiterTable(rate, burst, n int) limiterTable {
	l := newLimiter(rate, burst)
	if l.interval == 0 {
		return limiterTable{}
	}
	size := 1
	for size < n {
		size <<= 1
	}
	return limiterTable{tat: make([]int64, size), interval: l.interval, tau: l.tau,
		seed: maphash.MakeSeed(), mask: uint64(size - 1)}
}

func (t *limiterTable) allow(a netip.Addr, now time.Time) bool {
	if t.tat == nil {
		return true
	}
	k := a.As16()
	i := maphash.Bytes(t.seed, k[:]) & t.mask
	l := limiter{tat: t.tat[i], interval: t.interval, tau: t.tau}
	ok := l.allow(now)
	t.tat[i] = l.tat
	return ok
}
