package mnd

import (
	"net/netip"
	"time"

	"github.com/gomip6/gomip6/mobilenode"
)

// DefaultLiveness is how long the mobile node waits, while it sends
// through the home tunnel and nothing comes back from the home agent,
// before it sends a refresh Binding Update to repair the path: a few
// round trips and a TCP retransmission, far less than the refresh a
// binding would otherwise wait for (minutes with the usual lifetimes)
// or NATKATIMEOUT (110 s, RFC 5555 §4.3).
const DefaultLiveness = 3 * time.Second

// liveness notices a home tunnel that only works one way. RFC 6275
// leaves it to the next refresh (§11.7.1) and RFC 5555 to the next NAT
// keepalive (§4.3), but two common failures make the tunnel one-way long
// before that:
//
//   - the home agent lost the binding (it crashed before saving its
//     state, or came back with an older state file): the mobile node's
//     tunnelled packets reach a home agent that drops them, and the
//     packets to the home address are not tunnelled at all;
//   - behind a NAT, the NAT lost its mapping (a reboot, an idle timeout
//     shorter than the keepalive, a flush): the mobile node's packets
//     leave through a new mapping the home agent does not know, and the
//     home agent's go to the old one, which is gone.
//
// Both are repaired by one Binding Update: the home agent creates the
// binding again (from the new mapping). The daemon polls the tunnel's
// packet counters on its timer (not per packet) and calls poll: when
// packets went out within the window but none came back for the whole
// window, a refresh is due. Refreshes back off (window, then doubling up
// to max) while traffic stays one-way: a flow that only sends (a backup
// upload over UDP) gets no answer however good the path is, and costs
// then at most a Binding Update per max.
type liveness struct {
	window, max time.Duration
	active      bool
	out, in     uint64
	outAt, inAt time.Time
	lastRefresh time.Time
	backoff     time.Duration
}

// stop ends the watch: not registered, at home, or another binding. The
// next poll starts afresh.
func (l *liveness) stop() { l.active = false }

// poll takes the tunnel's counters of data packets sent (out) and
// received (in) at now and reports whether a refresh Binding Update is
// due.
func (l *liveness) poll(now time.Time, out, in uint64) bool {
	if !l.active {
		// A fresh binding: its acknowledgement just came back.
		*l = liveness{window: l.window, max: l.max, active: true, out: out, in: in,
			outAt: now, inAt: now, backoff: l.window}
		return false
	}
	if in != l.in {
		l.in, l.inAt, l.backoff = in, now, l.window
	}
	if out != l.out {
		l.out, l.outAt = out, now
	}
	if now.Sub(l.outAt) >= l.window || now.Sub(l.inAt) < l.window {
		// Nothing sent lately (nothing to expect back), or an answer
		// within the window.
		return false
	}
	unanswered := !l.lastRefresh.IsZero() && !l.lastRefresh.Before(l.inAt)
	if unanswered && now.Sub(l.lastRefresh) < l.backoff {
		return false
	}
	if unanswered {
		// The last refresh brought no traffic back: the flow is
		// one-way, or the home agent is unreachable (the
		// registration's own retransmissions handle that).
		l.backoff = min(2*l.backoff, l.max)
	}
	l.lastRefresh = now
	return true
}

// livenessInput is the part of the daemon's state that decides whether
// the liveness check runs.
type livenessInput struct {
	// AtHome, Stopping: no tunnel, or going away.
	AtHome, Stopping bool
	// Current is the movement decision acted on.
	Current mobilenode.MoveEvent
	// State is the home registration's state, Bound the care-of address
	// of the binding the home agent acknowledged.
	State mobilenode.State
	Bound netip.Addr
	// IPv4 says whether Dual-Stack MIPv6 is configured: without it an
	// IPv4 care-of address is never registered.
	IPv4 bool
}

// livenessWatched reports whether the liveness check runs: away from
// home, registered, and the binding the home agent acknowledged is the
// one in use, over any encapsulation (IPv6 in IPv6, IPv6 in IPv4, IPv6
// in UDP through a NAT or not). While a Binding Update is in flight the
// registration's own retransmissions (§11.8) watch the home agent.
func livenessWatched(in livenessInput) bool {
	if in.AtHome || in.Stopping || in.Current.Kind != mobilenode.MovedTo || in.State != mobilenode.Registered {
		return false
	}
	if in.Current.CareOf.Is4() && !in.IPv4 {
		return false
	}
	return in.Current.CareOf.IsValid() && in.Bound == in.Current.CareOf
}

// livenessMax is the longest back-off between refreshes while traffic
// stays one-way: behind a NAT the keepalive interval the home agent gave
// (RFC 5555 §4.3: a refresh then is due anyway), else NATKATIMEOUT's 110
// s, about what a NAT keepalive would cost; never below the window.
func livenessMax(window time.Duration, nat bool, keepalive time.Duration) time.Duration {
	if nat && keepalive > 0 {
		return max(keepalive, window)
	}
	return max(mobilenode.NATKeepalive, window)
}
