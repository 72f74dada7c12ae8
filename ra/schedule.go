package ra

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/gomip6/gomip6/mip6"
)

// Router constants of RFC 4861 §10 that the scheduler uses.
const (
	// MaxInitialRtrAdvertisements is how many RAs after the interface
	// starts advertising go out at intervals of at most
	// MaxInitialRtrAdvertInterval (MAX_INITIAL_RTR_ADVERTISEMENTS).
	MaxInitialRtrAdvertisements = 3
	// MaxInitialRtrAdvertInterval caps those initial intervals
	// (MAX_INITIAL_RTR_ADVERT_INTERVAL).
	MaxInitialRtrAdvertInterval = 16 * time.Second
	// MaxRADelayTime bounds the random delay before an answer to a Router
	// Solicitation (MAX_RA_DELAY_TIME, RFC 4861 §6.2.6).
	MaxRADelayTime = 500 * time.Millisecond
)

// Timing holds the intervals of the home link's RAs, normally
// conf.RouterAdvertisements' MinInterval, MaxInterval and
// MinDelayBetweenRAs.
type Timing struct {
	// MinInterval and MaxInterval are MinRtrAdvInterval and
	// MaxRtrAdvInterval (RFC 4861 §6.2.1), down to the floors RFC 6275
	// §7.5 allows a home agent: 30 ms and 70 ms.
	MinInterval, MaxInterval time.Duration
	// MinDelayBetweenRAs is the least time between two multicast RAs of
	// any kind (RFC 6275 §13, floor 30 ms), which replaces RFC 4861's
	// MIN_DELAY_BETWEEN_RAS of 3 s (RFC 6275 §7.5).
	MinDelayBetweenRAs time.Duration
}

// Validate checks t against RFC 4861 §6.2.1 and RFC 6275 §7.5, §13, the
// same rules conf applies to the file.
func (t Timing) Validate() error {
	switch {
	case t.MaxInterval < mip6.MinMaxRtrAdvInterval:
		return fmt.Errorf("ra: MaxInterval %v below %v (RFC 6275 §7.5)", t.MaxInterval, mip6.MinMaxRtrAdvInterval)
	case t.MinInterval < mip6.MinMinRtrAdvInterval:
		return fmt.Errorf("ra: MinInterval %v below %v (RFC 6275 §7.5)", t.MinInterval, mip6.MinMinRtrAdvInterval)
	case 4*t.MinInterval > 3*t.MaxInterval:
		return fmt.Errorf("ra: MinInterval %v above 0.75 × MaxInterval %v (RFC 4861 §6.2.1)", t.MinInterval, t.MaxInterval)
	case t.MinDelayBetweenRAs < mip6.MinMinDelayBetweenRAs:
		return fmt.Errorf("ra: MinDelayBetweenRAs %v below %v (RFC 6275 §13)", t.MinDelayBetweenRAs, mip6.MinMinDelayBetweenRAs)
	case t.MinDelayBetweenRAs > t.MinInterval:
		return fmt.Errorf("ra: MinDelayBetweenRAs %v above MinInterval %v, which could never be met", t.MinDelayBetweenRAs, t.MinInterval)
	}
	return nil
}

// Rand is the random source of the scheduler and of the Home Agents List:
// Int64N returns a uniform value in [0, n). *math/rand/v2.Rand is one;
// tests pass a seeded one.
type Rand interface {
	Int64N(n int64) int64
}

// globalRand is the default Rand, math/rand/v2's top-level generator.
type globalRand struct{}

func (globalRand) Int64N(n int64) int64 { return rand.Int64N(n) }

// uniform returns a uniform duration in [lo, hi].
func uniform(r Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(r.Int64N(int64(hi-lo)+1))
}

// Scheduler decides when the home link's multicast RAs go out. It does no
// I/O and reads no clock: every method takes the current time, so a caller
// drives it with real time and a test with made-up times. It is not safe
// for concurrent use.
//
// Use: Start, then repeatedly wait until Next, send an RA, call Sent; call
// Solicited for every valid Router Solicitation; on shutdown call Stop and
// send the final RA at the time it returns.
type Scheduler struct {
	t   Timing
	rnd Rand

	started, stopped bool
	sent             int       // multicast RAs sent so far
	last             time.Time // when the last one went out
	next             time.Time // the next unsolicited RA
	// solicited is the pending early RA, zero if none: the answer to an
	// RS (Solicited) or an RA asked for at once (Trigger).
	solicited time.Time
}

// NewScheduler returns a scheduler for t; rnd nil means math/rand/v2.
func NewScheduler(t Timing, rnd Rand) (*Scheduler, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if rnd == nil {
		rnd = globalRand{}
	}
	return &Scheduler{t: t, rnd: rnd}, nil
}

// Start makes the interface an advertising interface at now. The first RA
// is due at once: nothing has been sent that it could be rate-limited
// against, and hosts and mobile nodes on the link learn the home agent
// without waiting an interval (radvd does the same).
func (s *Scheduler) Start(now time.Time) {
	s.started, s.stopped = true, false
	s.sent, s.last, s.solicited = 0, time.Time{}, time.Time{}
	s.next = now
}

// Next returns when the next RA is due: the earlier of the next unsolicited
// RA and a pending answer to a solicitation. It is the zero time before
// Start and after Stop.
func (s *Scheduler) Next() time.Time {
	if !s.started || s.stopped {
		return time.Time{}
	}
	if !s.solicited.IsZero() && s.solicited.Before(s.next) {
		return s.solicited
	}
	return s.next
}

// Due reports whether an RA is due at now.
func (s *Scheduler) Due(now time.Time) bool {
	n := s.Next()
	return !n.IsZero() && !now.Before(n)
}

// Sent records that a multicast RA went out at now and schedules the next
// unsolicited one. RFC 4861 §6.2.4: whenever a multicast RA is sent,
// solicited or not, the timer is reset to a uniform random value in
// [MinRtrAdvInterval, MaxRtrAdvInterval]; for the first
// MAX_INITIAL_RTR_ADVERTISEMENTS RAs it is capped at
// MAX_INITIAL_RTR_ADVERT_INTERVAL so that new hosts hear the router soon.
// The cap never brings it under MinDelayBetweenRAs, which bounds every
// multicast RA (§6.2.6, RFC 6275 §7.5). A pending answer to a solicitation
// is answered by this RA.
func (s *Scheduler) Sent(now time.Time) {
	s.sent++
	s.last = now
	s.solicited = time.Time{}
	iv := uniform(s.rnd, s.t.MinInterval, s.t.MaxInterval)
	if s.sent < MaxInitialRtrAdvertisements && iv > MaxInitialRtrAdvertInterval {
		iv = max(MaxInitialRtrAdvertInterval, s.t.MinDelayBetweenRAs)
	}
	s.next = now.Add(iv)
}

// Solicited records a valid Router Solicitation received at now and
// schedules the answer, following the way RFC 4861 §6.2.6 suggests:
//   - the answer waits a random delay in [0, MAX_RA_DELAY_TIME], counted
//     from the first solicitation when one RA answers several, so a pending
//     answer is not moved;
//   - if that falls after the next scheduled RA, that RA is the answer;
//   - if a multicast RA went out less than MinDelayBetweenRAs ago, the
//     answer waits MinDelayBetweenRAs plus the random delay after it, the
//     rate limit (RFC 6275 §7.5 and §13 replace MIN_DELAY_BETWEEN_RAS by
//     MinDelayBetweenRAs).
//
// Answers are multicast, the usual case in §6.2.6, so that one RA serves
// every host that solicited. Before Start or after Stop it does nothing.
func (s *Scheduler) Solicited(now time.Time) {
	if !s.started || s.stopped || !s.solicited.IsZero() {
		return
	}
	d := uniform(s.rnd, 0, MaxRADelayTime)
	at := now.Add(d)
	if !s.last.IsZero() && now.Sub(s.last) < s.t.MinDelayBetweenRAs {
		at = s.last.Add(s.t.MinDelayBetweenRAs + d)
	}
	if !at.Before(s.next) {
		return
	}
	s.solicited = at
}

// Trigger asks for an RA as soon as the rate limit allows, because what
// the router advertises changed (its link-layer address, say) or the
// link came back. RFC 4861 §6.2.4 lets a router then send up to
// MAX_INITIAL_RTR_ADVERTISEMENTS unsolicited RAs by the rules of an
// interface that just became advertising: the RA is due at now, or
// MinDelayBetweenRAs after the last multicast RA if that was sooner
// (§6.2.4 and §6.2.6 keep every multicast RA that far apart; RFC 6275
// §7.5 replaces MIN_DELAY_BETWEEN_RAS by MinDelayBetweenRAs), and the
// count of initial RAs starts again, so the next ones come at most
// MAX_INITIAL_RTR_ADVERT_INTERVAL apart. An earlier pending RA (an
// answer to a solicitation, or the next scheduled one) stays, and serves.
// Before Start or after Stop it does nothing.
func (s *Scheduler) Trigger(now time.Time) {
	if !s.started || s.stopped {
		return
	}
	at := now
	if !s.last.IsZero() && now.Sub(s.last) < s.t.MinDelayBetweenRAs {
		at = s.last.Add(s.t.MinDelayBetweenRAs)
	}
	s.sent = 0
	if !at.Before(s.next) || (!s.solicited.IsZero() && !at.Before(s.solicited)) {
		return
	}
	s.solicited = at
}

// Stop records that the interface ceases to advertise at now and returns
// when the final RA, with Router Lifetime 0 (RFC 4861 §6.2.5), may go out:
// now, or later if the rate limit of MinDelayBetweenRAs demands. Nothing
// else is due after Stop.
func (s *Scheduler) Stop(now time.Time) time.Time {
	s.stopped = true
	s.solicited = time.Time{}
	if !s.last.IsZero() && now.Sub(s.last) < s.t.MinDelayBetweenRAs {
		return s.last.Add(s.t.MinDelayBetweenRAs)
	}
	return now
}
