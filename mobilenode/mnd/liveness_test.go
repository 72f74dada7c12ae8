package mnd

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gomip6/gomip6/mobilenode"
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
		l := liveness{window: 3 * time.Second, max: 20 * time.Second}
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
		// back-off starts over.
		got = nil
		run(10, twoWay)
		run(5, func(int) (bool, bool) { return true, false })
		if d := cmp.Diff([]time.Duration{53 * time.Second}, got); d != "" {
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
		l.stop()
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
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := liveness{window: 3 * time.Second, max: 20 * time.Second}
				l.poll(time.Now(), 0, 0)
				got := newLivenessPoller(&l).run(tt.secs, tt.flow)
				if d := cmp.Diff(tt.want, got); d != "" {
					t.Errorf("refreshes (-want +got):\n%s", d)
				}
			})
		})
	}
}

// TestLivenessWatched: the check runs for every tunnelled binding in
// use (IPv6 in IPv6 as well as the IPv4 encapsulations), and not at
// home, while stopping, with a Binding Update in flight, or when the
// acknowledged binding is not the care-of address in use.
func TestLivenessWatched(t *testing.T) {
	coa6 := netip.MustParseAddr("2001:db8:a::100")
	coa4 := netip.MustParseAddr("192.0.2.10")
	away := func(coa netip.Addr) mobilenode.MoveEvent {
		return mobilenode.MoveEvent{Kind: mobilenode.MovedTo, Interface: "a0", CareOf: coa}
	}
	tests := []struct {
		name string
		in   livenessInput
		want bool
	}{
		{"IPv6 care-of address", livenessInput{Current: away(coa6), State: mobilenode.Registered, Bound: coa6}, true},
		{"IPv4 care-of address", livenessInput{Current: away(coa4), State: mobilenode.Registered, Bound: coa4, IPv4: true}, true},
		{"IPv4 without DSMIPv6", livenessInput{Current: away(coa4), State: mobilenode.Registered, Bound: coa4}, false},
		{"at home", livenessInput{AtHome: true, Current: mobilenode.MoveEvent{Kind: mobilenode.ReturnedHome, Interface: "a0"}, State: mobilenode.Registered}, false},
		{"stopping", livenessInput{Stopping: true, Current: away(coa6), State: mobilenode.Registered, Bound: coa6}, false},
		{"refreshing", livenessInput{Current: away(coa6), State: mobilenode.Refreshing, Bound: coa6}, false},
		{"registering a move", livenessInput{Current: away(coa6), State: mobilenode.Registered, Bound: netip.MustParseAddr("2001:db8:b::100")}, false},
		{"lost connectivity", livenessInput{Current: mobilenode.MoveEvent{Kind: mobilenode.LostConnectivity}, State: mobilenode.Registered, Bound: coa6}, false},
	}
	for _, tt := range tests {
		if got := livenessWatched(tt.in); got != tt.want {
			t.Errorf("%s: livenessWatched = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestLivenessMax: behind a NAT the back-off stops at the keepalive the
// home agent gave, elsewhere at NATKATIMEOUT (110 s, RFC 5555 §4.3);
// never below the window.
func TestLivenessMax(t *testing.T) {
	tests := []struct {
		window, keepalive time.Duration
		nat               bool
		want              time.Duration
	}{
		{3 * time.Second, 30 * time.Second, true, 30 * time.Second},
		{3 * time.Second, 0, true, 110 * time.Second},
		{3 * time.Second, 30 * time.Second, false, 110 * time.Second},
		{5 * time.Minute, 0, false, 5 * time.Minute},
		{time.Minute, 20 * time.Second, true, time.Minute},
	}
	for _, tt := range tests {
		if got := livenessMax(tt.window, tt.nat, tt.keepalive); got != tt.want {
			t.Errorf("livenessMax(%v, %v, %v) = %v, want %v", tt.window, tt.nat, tt.keepalive, got, tt.want)
		}
	}
}

// livenessPoller polls a liveness check every second of (virtual) time,
// as the daemon's timer does, with the tunnel counters of a made-up
// flow.
type livenessPoller struct {
	l       *liveness
	start   time.Time
	out, in uint64
}

func newLivenessPoller(l *liveness) *livenessPoller {
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
		if p.l.poll(time.Now(), p.out, p.in) {
			got = append(got, time.Since(p.start))
		}
	}
	return got
}
