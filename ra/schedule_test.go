package ra

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fixedRand returns the largest value when max is true, else 0: the two
// ends of every random range.
type fixedRand struct{ max bool }

func (r fixedRand) Int64N(n int64) int64 {
	if r.max {
		return n - 1
	}
	return 0
}

func mustScheduler(t *testing.T, tm Timing, r Rand) *Scheduler {
	t.Helper()
	s, err := NewScheduler(tm, r)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTimingValidate(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name string
		tm   Timing
		ok   bool
	}{
		{"floors of RFC 6275 §7.5", Timing{30 * ms, 70 * ms, 30 * ms}, true},
		{"had default", Timing{750 * ms, time.Second, 750 * ms}, true},
		{"RFC 4861 defaults", Timing{198 * time.Second, 600 * time.Second, 3 * time.Second}, true},
		{"max under 70ms", Timing{30 * ms, 69 * ms, 30 * ms}, false},
		{"min under 30ms", Timing{29 * ms, 70 * ms, 29 * ms}, false},
		{"min above 0.75 max", Timing{751 * ms, time.Second, 30 * ms}, false},
		{"delay under 30ms", Timing{100 * ms, time.Second, 29 * ms}, false},
		{"delay above min", Timing{100 * ms, time.Second, 101 * ms}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.tm.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate(%+v) = %v, want ok %v", tc.tm, err, tc.ok)
			}
			if _, err := NewScheduler(tc.tm, nil); (err == nil) != tc.ok {
				t.Fatalf("NewScheduler(%+v) = %v, want ok %v", tc.tm, err, tc.ok)
			}
		})
	}
}

// run drives s for n RAs with no solicitations and returns the send times.
func run(s *Scheduler, n int) []time.Time {
	var out []time.Time
	s.Start(t0)
	for range n {
		at := s.Next()
		if !s.Due(at) || s.Due(at.Add(-1)) {
			panic("Due disagrees with Next")
		}
		out = append(out, at)
		s.Sent(at)
	}
	return out
}

// TestUnsolicitedIntervals: RFC 4861 §6.2.4, the first RA at once, every
// later interval uniform in [MinRtrAdvInterval, MaxRtrAdvInterval]; both
// ends of the range are reached and the spread is not degenerate.
func TestUnsolicitedIntervals(t *testing.T) {
	for _, tm := range []Timing{
		{30 * time.Millisecond, 70 * time.Millisecond, 30 * time.Millisecond},
		{750 * time.Millisecond, time.Second, 750 * time.Millisecond},
		{198 * time.Second, 600 * time.Second, 3 * time.Second},
	} {
		s := mustScheduler(t, tm, rand.New(rand.NewPCG(1, 2)))
		times := run(s, 2000)
		if !times[0].Equal(t0) {
			t.Errorf("%+v: first RA at %v, want at Start %v", tm, times[0], t0)
		}
		lo, hi := time.Duration(1<<62), time.Duration(0)
		for i := MaxInitialRtrAdvertisements; i < len(times); i++ {
			d := times[i].Sub(times[i-1])
			if d < tm.MinInterval || d > tm.MaxInterval {
				t.Fatalf("%+v: interval %d is %v, outside [%v, %v]", tm, i, d, tm.MinInterval, tm.MaxInterval)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		span := tm.MaxInterval - tm.MinInterval
		if lo > tm.MinInterval+span/20 || hi < tm.MaxInterval-span/20 {
			t.Errorf("%+v: intervals only in [%v, %v]: not uniform over the range", tm, lo, hi)
		}
	}
}

// TestInitialBurst: the first MAX_INITIAL_RTR_ADVERTISEMENTS RAs go out at
// intervals of at most MAX_INITIAL_RTR_ADVERT_INTERVAL (RFC 4861 §6.2.4),
// and then the configured intervals apply.
func TestInitialBurst(t *testing.T) {
	tm := Timing{100 * time.Second, 200 * time.Second, 3 * time.Second}
	for _, r := range []Rand{fixedRand{false}, fixedRand{true}, rand.New(rand.NewPCG(3, 4))} {
		times := run(mustScheduler(t, tm, r), 5)
		want := []time.Time{t0, t0.Add(16 * time.Second), t0.Add(32 * time.Second)}
		for i, w := range want {
			if !times[i].Equal(w) {
				t.Errorf("RA %d at +%v, want +%v", i+1, times[i].Sub(t0), w.Sub(t0))
			}
		}
		for i := 3; i < 5; i++ {
			if d := times[i].Sub(times[i-1]); d < tm.MinInterval || d > tm.MaxInterval {
				t.Errorf("interval before RA %d is %v, outside [%v, %v]", i+1, d, tm.MinInterval, tm.MaxInterval)
			}
		}
	}
	// With intervals already under 16 s the cap changes nothing.
	tm = Timing{750 * time.Millisecond, time.Second, 750 * time.Millisecond}
	times := run(mustScheduler(t, tm, fixedRand{true}), 3)
	if d := times[1].Sub(times[0]); d != time.Second {
		t.Errorf("second RA after %v, want 1s", d)
	}
}

// TestInitialBurstRateFloor: the 16 s cap never goes under
// MinDelayBetweenRAs.
func TestInitialBurstRateFloor(t *testing.T) {
	tm := Timing{30 * time.Second, 60 * time.Second, 20 * time.Second}
	times := run(mustScheduler(t, tm, fixedRand{false}), 3)
	if d := times[1].Sub(times[0]); d != 20*time.Second {
		t.Errorf("second RA after %v, want MinDelayBetweenRAs 20s", d)
	}
}

// TestSolicited follows RFC 4861 §6.2.6 with the delays at both ends of
// [0, MAX_RA_DELAY_TIME].
func TestSolicited(t *testing.T) {
	slow := Timing{100 * time.Second, 200 * time.Second, 3 * time.Second}
	fast := Timing{30 * time.Millisecond, 70 * time.Millisecond, 30 * time.Millisecond}
	for _, tc := range []struct {
		name   string
		tm     Timing
		maxR   bool
		lastAt time.Duration // when the last RA went out, after t0
		rsAt   time.Duration // when the RS arrives
		want   time.Duration // when the answer is due
	}{
		{"random delay 0", slow, false, 0, 10 * time.Second, 10 * time.Second},
		{"random delay 0.5s", slow, true, 0, 10 * time.Second, 10*time.Second + 500*time.Millisecond},
		{"rate limit", slow, false, 0, time.Second, 3 * time.Second},
		{"rate limit plus delay", slow, true, 0, time.Second, 3*time.Second + 500*time.Millisecond},
		{"exactly MinDelayBetweenRAs later", slow, false, 0, 3 * time.Second, 3 * time.Second},
		// The next unsolicited RA (after min 30ms with rand 0) comes
		// before the random delay would end: it is the answer.
		{"scheduled RA sooner", fast, true, 0, time.Millisecond, 70 * time.Millisecond},
		{"scheduled RA sooner, rand 0", fast, false, 0, time.Millisecond, 30 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustScheduler(t, tc.tm, fixedRand{tc.maxR})
			s.Start(t0)
			s.Sent(t0.Add(tc.lastAt))
			s.Solicited(t0.Add(tc.rsAt))
			if got := s.Next().Sub(t0); got != tc.want {
				t.Errorf("answer due at +%v, want +%v", got, tc.want)
			}
		})
	}
}

// TestSolicitedFirstCounts: when one RA answers several RSs the delay is
// counted from the first (RFC 4861 §6.2.6); the answer resets the timer.
func TestSolicitedFirstCounts(t *testing.T) {
	tm := Timing{100 * time.Second, 200 * time.Second, 3 * time.Second}
	s := mustScheduler(t, tm, fixedRand{true})
	s.Start(t0)
	s.Sent(t0)
	s.Solicited(t0.Add(10 * time.Second))
	s.Solicited(t0.Add(10*time.Second + 400*time.Millisecond))
	want := t0.Add(10*time.Second + 500*time.Millisecond)
	if got := s.Next(); !got.Equal(want) {
		t.Fatalf("answer due at %v, want %v", got.Sub(t0), want.Sub(t0))
	}
	s.Sent(want)
	if got := s.Next().Sub(want); got != 16*time.Second {
		// Second RA ever sent, still in the initial burst: capped at 16 s.
		t.Errorf("after the answer the next RA is in %v, want 16s", got)
	}
	s.Sent(s.Next())
	last := s.Next()
	s.Sent(last)
	if got := s.Next().Sub(last); got != 200*time.Second {
		t.Errorf("after the burst the next RA is in %v, want MaxInterval 200s (max random)", got)
	}
}

// TestStop: the final RA (RFC 4861 §6.2.5) is rate-limited like any other
// multicast RA, and nothing is due after it.
func TestStop(t *testing.T) {
	tm := Timing{100 * time.Second, 200 * time.Second, 3 * time.Second}
	for _, tc := range []struct {
		stopAt, want time.Duration
	}{
		{time.Second, 3 * time.Second},
		{5 * time.Second, 5 * time.Second},
	} {
		s := mustScheduler(t, tm, fixedRand{false})
		s.Start(t0)
		s.Sent(t0)
		s.Solicited(t0.Add(tc.stopAt - time.Millisecond))
		if got := s.Stop(t0.Add(tc.stopAt)).Sub(t0); got != tc.want {
			t.Errorf("Stop at +%v: final RA at +%v, want +%v", tc.stopAt, got, tc.want)
		}
		if !s.Next().IsZero() || s.Due(t0.Add(time.Hour)) {
			t.Errorf("after Stop, Next = %v, want nothing due", s.Next())
		}
		s.Solicited(t0.Add(time.Hour))
		if !s.Next().IsZero() {
			t.Errorf("an RS after Stop scheduled an RA")
		}
	}
	// Stop before anything was sent: at once.
	s := mustScheduler(t, tm, nil)
	s.Start(t0)
	if got := s.Stop(t0); !got.Equal(t0) {
		t.Errorf("Stop with nothing sent: final at %v, want at once", got.Sub(t0))
	}
}

// TestRandomTraffic drives the scheduler with random solicitations and
// checks the invariants: no two multicast RAs closer than
// MinDelayBetweenRAs, no gap between RAs longer than MaxRtrAdvInterval,
// and every RS answered within MinDelayBetweenRAs + MAX_RA_DELAY_TIME.
func TestRandomTraffic(t *testing.T) {
	ms := time.Millisecond
	for _, tm := range []Timing{
		{30 * ms, 70 * ms, 30 * ms},
		{750 * ms, time.Second, 750 * ms},
		{4 * time.Second, 10 * time.Second, time.Second},
	} {
		r := rand.New(rand.NewPCG(5, 6))
		s := mustScheduler(t, tm, r)
		s.Start(t0)
		now := t0
		var last time.Time
		var pendingRS []time.Time
		for range 20000 {
			// The next event: an RS at a random time or the due RA.
			rs := now.Add(time.Duration(r.Int64N(int64(2 * tm.MaxInterval))))
			if next := s.Next(); !rs.Before(next) {
				now = next
				if !last.IsZero() {
					if d := now.Sub(last); d < tm.MinDelayBetweenRAs || d > tm.MaxInterval {
						t.Fatalf("%+v: RAs %v apart", tm, d)
					}
				}
				for _, at := range pendingRS {
					if d := now.Sub(at); d > tm.MinDelayBetweenRAs+MaxRADelayTime {
						t.Fatalf("%+v: RS answered after %v", tm, d)
					}
				}
				pendingRS = pendingRS[:0]
				s.Sent(now)
				last = now
				continue
			}
			now = rs
			pendingRS = append(pendingRS, rs)
			s.Solicited(rs)
		}
	}
}

// TestTrigger: an RA asked for at once goes out at once, or
// MinDelayBetweenRAs after the last multicast RA (RFC 4861 §6.2.4,
// §6.2.6; RFC 6275 §7.5), and the initial intervals start again (§6.2.4:
// up to MAX_INITIAL_RTR_ADVERTISEMENTS RAs as for a new advertising
// interface).
func TestTrigger(t *testing.T) {
	slow := Timing{100 * time.Second, 200 * time.Second, 3 * time.Second}
	fast := Timing{30 * time.Millisecond, 70 * time.Millisecond, 30 * time.Millisecond}
	for _, tc := range []struct {
		name      string
		tm        Timing
		lastAt    time.Duration // the last RA, after t0
		rsAt      time.Duration // an RS before the trigger; 0 for none
		triggerAt time.Duration
		want      time.Duration // when the next RA is due
	}{
		{"at once", slow, 0, 0, 10 * time.Second, 10 * time.Second},
		{"rate limited", slow, 0, 0, time.Second, 3 * time.Second},
		{"exactly MinDelayBetweenRAs later", slow, 0, 0, 3 * time.Second, 3 * time.Second},
		// The next scheduled RA (30 ms after the last, rand 0) is sooner
		// than the rate limit allows an extra one: it serves.
		{"scheduled RA sooner", fast, 0, 0, time.Millisecond, 30 * time.Millisecond},
		// A pending answer to an RS (delay 0.5 s) later than the
		// trigger's RA: the trigger's comes first and answers it.
		{"before a pending answer", slow, 0, 10 * time.Second, 10*time.Second + 100*time.Millisecond, 10*time.Second + 100*time.Millisecond},
		// A pending answer sooner than the trigger's RA (rate limited
		// to 3 s + 0.5 s vs 3 s: here the RS came first at 1 s and is
		// due at 3.5 s; the trigger at 1.2 s is due at 3 s).
		{"rate limited, before the answer", slow, 0, time.Second, 1200 * time.Millisecond, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustScheduler(t, tc.tm, fixedRand{true})
			s.Start(t0)
			s.Sent(t0.Add(tc.lastAt))
			if tc.rsAt != 0 {
				s.Solicited(t0.Add(tc.rsAt))
			}
			s.Trigger(t0.Add(tc.triggerAt))
			if got := s.Next().Sub(t0); got != tc.want {
				t.Errorf("RA due at +%v, want +%v", got, tc.want)
			}
		})
	}

	// The initial intervals again: past the initial burst, a trigger's
	// RA is followed by RAs at most 16 s apart, then the configured
	// intervals.
	s := mustScheduler(t, slow, fixedRand{true})
	times := run(s, 5)
	last := times[len(times)-1]
	at := last.Add(50 * time.Second)
	s.Trigger(at)
	if got := s.Next(); !got.Equal(at) {
		t.Fatalf("triggered RA due at %v, want %v", got.Sub(t0), at.Sub(t0))
	}
	var gaps []time.Duration
	for range 4 {
		s.Sent(at)
		gaps = append(gaps, s.Next().Sub(at))
		at = s.Next()
	}
	if want := []time.Duration{16 * time.Second, 16 * time.Second, 200 * time.Second, 200 * time.Second}; !slices.Equal(gaps, want) {
		t.Errorf("intervals after a trigger %v, want %v", gaps, want)
	}

	// Nothing before Start or after Stop.
	s = mustScheduler(t, slow, nil)
	s.Trigger(t0)
	if !s.Next().IsZero() {
		t.Error("a trigger before Start scheduled an RA")
	}
	s.Start(t0)
	s.Stop(t0)
	s.Trigger(t0)
	if !s.Next().IsZero() {
		t.Error("a trigger after Stop scheduled an RA")
	}
}
