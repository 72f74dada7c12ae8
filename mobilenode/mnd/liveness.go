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

// The home tunnel's liveness check (a mobilenode.Liveness, polled by
// liveness_linux.go) notices a tunnel that only works one way. RFC 6275
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
// packet counters on its timer (not per packet): when a packet went out
// and nothing came back for the window, a refresh is due. Refreshes back
// off (window, then doubling up to livenessMax) while traffic stays
// one-way: a flow that only sends (a backup upload over UDP) gets no
// answer however good the path is, and costs then at most a Binding
// Update per livenessMax.

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
