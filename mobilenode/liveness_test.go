package mobilenode

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestLiveness drives the liveness check in virtual time, polled
// every second as the daemon's timer does: a two-way flow never triggers
// it; when the answers stop for the window while packets still go out (the
// home agent lost the binding, or the NAT its mapping), one refresh goes
// out; refreshes that bring nothing back back off (3, 6, 12 s
// ... up to the keepalive); answers reset it; an idle tunnel never
// triggers it.
func TestLiveness(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := Liveness{Window: 3 * time.Second, Max: 20 * time.Second}
		p := newLivenessPoller(&l)
		var got []time.Duration
		run := func(secs int, flow func(s int) (bool, bool)) { got = append(got, p.run(secs, flow)...) }
		twoWay := func(int) (bool, bool) { return true, true }
		run(10, twoWay)
		// Second 11 on: the NAT lost the mapping; nothing comes back.
		run(30, func(int) (bool, bool) { return true, false })
		want := []time.Duration{13 * time.Second, 16 * time.Second, 22 * time.Second, 34 * time.Second}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("refreshes (-want +got):\n%s", d)
		}
		// The binding follows the new mapping: answers again, and the
		// back-off starts over (the window, then doubling).
		got = nil
		run(10, twoWay)
		run(8, func(int) (bool, bool) { return true, false })
		if d := cmp.Diff([]time.Duration{53 * time.Second, 56 * time.Second}, got); d != "" {
			t.Fatalf("after recovery (-want +got):\n%s", d)
		}
		// Idle after a two-way flow: nothing out, nothing expected.
		run(10, twoWay)
		got = nil
		run(60, func(int) (bool, bool) { return false, false })
		if len(got) != 0 {
			t.Fatalf("idle tunnel: refreshes at %v", got)
		}
		// stop, then a poll: a fresh start, no refresh on stale times.
		l.Stop()
		run(2, func(int) (bool, bool) { return true, false })
		if len(got) != 0 {
			t.Fatalf("after stop: refreshes at %v", got)
		}
	})
}

// TestLivenessScenarios: the refreshes of the liveness check (window 3
// s, max 20 s, polled every second) for per-second traffic patterns. A
// pattern gives, for second s, whether a packet went out and whether one
// came back.
func TestLivenessScenarios(t *testing.T) {
	type flow func(s int) (out, in bool)
	tests := []struct {
		name string
		secs int
		flow flow
		want []time.Duration
	}{{
		// The home agent restarts without the binding at second 5 and
		// accepts the refresh: answers again from second 9 on.
		name: "home agent lost the binding",
		secs: 30,
		flow: func(s int) (bool, bool) { return true, s <= 5 || s >= 9 },
		want: []time.Duration{8 * time.Second},
	}, {
		// A request-response protocol answering every other second
		// stays within the window.
		name: "sparse answers",
		secs: 30,
		flow: func(s int) (bool, bool) { return true, s%2 == 0 },
	}, {
		// Answers every 4 s: longer than the window, so a refresh
		// goes out in each gap (at most one per gap, the answer
		// resets the back-off).
		name: "answers rarer than the window",
		secs: 13,
		flow: func(s int) (bool, bool) { return true, s%4 == 0 },
		want: []time.Duration{3 * time.Second, 7 * time.Second, 11 * time.Second},
	}, {
		// Only inbound traffic (a download whose acknowledgements go
		// by route optimization, or a stream): nothing to expect.
		name: "inbound only",
		secs: 30,
		flow: func(int) (bool, bool) { return false, true },
	}, {
		// Only outbound from the start (a UDP upload): refreshes back
		// off from the window to max.
		name: "outbound only",
		secs: 60,
		flow: func(int) (bool, bool) { return true, false },
		want: []time.Duration{3 * time.Second, 6 * time.Second, 12 * time.Second, 24 * time.Second, 44 * time.Second},
	}, {
		// One packet out, then silence: the packet goes unanswered
		// for the window (one refresh), then nothing was sent
		// lately, so nothing more is due.
		name: "one packet then idle",
		secs: 30,
		flow: func(s int) (bool, bool) { return s == 1, false },
		want: []time.Duration{3 * time.Second},
	}, {
		// Idle for longer than the window, then a request whose
		// answer comes a poll later: answered within the window, so
		// no refresh (a refresh at the first poll that saw the
		// request, for the idle spell before it, would cost a
		// Binding Update per conversation).
		name: "idle, then an answer a poll late",
		secs: 30,
		flow: func(s int) (bool, bool) { return s == 1 || s == 20, s == 2 || s == 21 },
	}, {
		// The same with the answer later than the window: one
		// refresh, the window after the request.
		name: "idle, then no answer",
		secs: 30,
		flow: func(s int) (bool, bool) { return s == 1 || s == 20, s == 2 },
		want: []time.Duration{22 * time.Second},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := Liveness{Window: 3 * time.Second, Max: 20 * time.Second}
				l.Poll(time.Now(), 0, 0)
				got := newLivenessPoller(&l).run(tt.secs, tt.flow)
				if d := cmp.Diff(tt.want, got); d != "" {
					t.Errorf("refreshes (-want +got):\n%s", d)
				}
			})
		})
	}
}

// livenessPoller polls a liveness check every second of (virtual) time,
// as the daemon's timer does, with the tunnel counters of a made-up
// flow.
type livenessPoller struct {
	l       *Liveness
	start   time.Time
	out, in uint64
}

func newLivenessPoller(l *Liveness) *livenessPoller {
	return &livenessPoller{l: l, start: time.Now()}
}

// run polls for secs seconds; flow says, for the second s since the
// start, whether a packet went out and whether one came back. It returns
// when refreshes were due, since the start.
func (p *livenessPoller) run(secs int, flow func(s int) (out, in bool)) []time.Duration {
	var got []time.Duration
	for range secs {
		time.Sleep(time.Second)
		s := int(time.Since(p.start) / time.Second)
		o, i := flow(s)
		if o {
			p.out++
		}
		if i {
			p.in++
		}
		if p.l.Poll(time.Now(), p.out, p.in) {
			got = append(got, time.Since(p.start))
		}
	}
	return got
}

// TestLivenessWiden: an owner that stops the check on a trip widens the
// window (doubling, up to Max); the widened window outlasts a restart,
// and an answer brings back the configured one.
func TestLivenessWiden(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := Liveness{Window: 3 * time.Second, Max: 10 * time.Second}
		var olds []time.Duration
		for range 3 {
			olds = append(olds, l.Widen())
		}
		if d := cmp.Diff([]time.Duration{3 * time.Second, 6 * time.Second, 10 * time.Second}, olds); d != "" {
			t.Errorf("Widen returned (-want +got):\n%s", d)
		}
		l.Start(time.Now(), 0, 0)
		if !l.Active() {
			t.Fatal("not active after Start")
		}
		// Outbound only: the widened window (10 s) applies.
		p := newLivenessPoller(&l)
		if d := cmp.Diff([]time.Duration{10 * time.Second}, p.run(12, func(int) (bool, bool) { return true, false })); d != "" {
			t.Errorf("widened window: trips (-want +got):\n%s", d)
		}
		l.Stop()
		if l.Active() {
			t.Fatal("active after Stop")
		}
		l.Widen()
		// A fresh start (the first poll), an answer, then outbound
		// only: the configured window again, and the back-off of
		// repeated trips from it.
		got := p.run(10, func(s int) (bool, bool) { return s > 14, s == 14 })
		if d := cmp.Diff([]time.Duration{17 * time.Second, 20 * time.Second}, got); d != "" {
			t.Errorf("after an answer: trips (-want +got):\n%s", d)
		}
	})
}
