package mobilenode

import "time"

// Liveness notices a path that only works one way: data packets go out
// and nothing comes back. RFC 6275 leaves a path whose far end lost its
// state to the next refresh (§11.7.1) or to a Binding Error or ICMP error
// (§9.3.1, §11.3.5, §11.3.6) that a firewall can swallow, and RFC 5555 a
// NAT that lost its mapping to the next keepalive (§4.3): minutes of
// lost packets. The mobile node has two such paths, watched alike: the
// home tunnel (mnd refreshes the home binding when it trips) and the
// direct path to a correspondent under route optimization
// (RouteOptimizer falls back to the home tunnel).
//
// The owner polls the path's counters of data packets sent and received
// on a timer of its own (not per packet) and calls Poll, which trips when
// a packet has gone unanswered for the window: something went out and
// nothing has come back since, for at least the window. A packet that
// leaves after an idle spell is given the window to be answered, as any
// other.
//
// Two back-offs keep a flow that only sends (a UDP upload, which no path
// answers however good) from costing an action per window; both end as
// soon as something comes back:
//
//   - while the check keeps running after a trip (the home tunnel), the
//     next trip waits the window again, then twice as long after each
//     trip that brought nothing back, up to Max;
//   - an owner that stops the check on a trip (the direct path falls
//     back) widens the window itself with Widen, up to Max; Start keeps
//     the widened window.
//
// The zero Liveness with Window set is ready: its first Poll starts it.
// It is not safe for concurrent use.
type Liveness struct {
	// Window is the configured window; Max bounds both back-offs
	// (never below Window).
	Window, Max time.Duration

	active  bool
	out, in uint64
	// polled is the last poll; waiting is the poll before the one that
	// first saw a packet go out with nothing back since (zero: nothing
	// unanswered), the earliest the packet can have left. A packet seen
	// going out in the poll where something also came back counts as
	// answered, and an unanswered one is taken to have left just after
	// the previous poll: the check trips at most a poll early rather
	// than a poll late.
	polled, waiting time.Time
	// win is the window in force: Window, or wider after Widen.
	win time.Duration
	// lastTrip is the last trip; unanswered says nothing came back
	// since; backoff is the least time from lastTrip to the next trip
	// while unanswered.
	lastTrip   time.Time
	unanswered bool
	backoff    time.Duration
}

// Start (re)starts the check at now with the path's counters: nothing is
// unanswered yet. The window widened by Widen stays; the back-off of
// repeated trips starts over.
func (l *Liveness) Start(now time.Time, out, in uint64) {
	win := l.win
	if win == 0 {
		win = l.Window
	}
	*l = Liveness{Window: l.Window, Max: l.Max, active: true, out: out, in: in, polled: now, win: win, backoff: l.Window}
}

// Stop ends the check (nothing to watch: not registered, at home,
// another binding, not direct any more); the next Poll starts it afresh.
func (l *Liveness) Stop() { l.active = false }

// Active reports whether the check runs.
func (l *Liveness) Active() bool { return l.active }

// Poll takes the path's counters of data packets sent (out) and received
// (in) at now and reports whether the path is lost: a packet has gone
// unanswered for the window (and, after a previous unanswered trip, the
// back-off has passed). A trip starts the wait over: the owner's action
// (a refresh, a fall-back) is the next thing to be answered. A check not
// running starts and reports false.
func (l *Liveness) Poll(now time.Time, out, in uint64) bool {
	if !l.active {
		l.Start(now, out, in)
		return false
	}
	prev := l.polled
	l.polled = now
	switch {
	case in != l.in:
		l.waiting, l.win, l.unanswered, l.backoff = time.Time{}, l.Window, false, l.Window
	case out != l.out && l.waiting.IsZero():
		l.waiting = prev
	}
	l.out, l.in = out, in
	if l.waiting.IsZero() || now.Sub(l.waiting) < l.win {
		return false
	}
	if l.unanswered {
		if now.Sub(l.lastTrip) < l.backoff {
			return false
		}
		// The last trip's action brought nothing back: the flow is
		// one-way, or the far end is unreachable (which the
		// owner's own retransmissions handle).
		l.backoff = min(2*l.backoff, max(l.Max, l.Window))
	}
	l.lastTrip, l.unanswered, l.waiting = now, true, time.Time{}
	return true
}

// Widen doubles the window in force, up to Max, and returns the one it
// replaces. It lasts until something comes back.
func (l *Liveness) Widen() time.Duration {
	win := l.win
	if win == 0 {
		win = l.Window
	}
	l.win = min(2*win, max(l.Max, l.Window))
	return win
}
