// Package had runs a home agent on a Linux router: the protocol core of
// package homeagent wired to the sockets, the tun device and the kernel
// routes of the home link, for a kernel without Mobile IPv6 (RFC 6275 §10).
// cmd/had is a page around it; tests drive it in-process.
//
// # What it touches
//
//   - Binding Updates: an AF_PACKET socket on every interface with a BPF
//     filter for Mobility Headers to this home agent's address (the kernel,
//     without CONFIG_IPV6_MIP6, answers them with a Parameter Problem and
//     drops them; the packet socket sees them first).
//   - Binding Acknowledgements and Binding Refresh Requests: built whole with
//     their type 2 routing header and sent on a header-included raw socket
//     (the socket API refuses type 2 routing headers without MIP6).
//   - Interception (§10.4.1): the userspace proxy of package ndproxy answers
//     Neighbor Solicitations for every registered home address on the home
//     link, after DAD (§10.3.1); a /128 route per home address (and a route
//     per mobile network prefix, RFC 3963) points into the tun device of a
//     tunnel.Forwarder, which encapsulates toward the care-of address and
//     decapsulates the reverse tunnel with its anti-spoofing checks.
//   - Router advertisements on the home link (package ra), unless switched
//     off.
//   - The control socket (/v1/status, /v1/bindings, /v1/metrics).
//   - The state file, so that a restarted had forwards at once for every
//     binding still valid.
//
// # Goroutines
//
//	AF_PACKET reader ──► rx (bounded; full: dropped, counted) ─┐
//	DAD waiters (one per DAD, bounded) ──► dadDone ────────────┤
//	control socket handlers ──► reqs (reply channel) ──────────┤
//	                                                           ▼
//	                                     loop: owns the HomeAgent, its
//	                                     binding cache, the kernel routes and
//	                                     the proxy set; timers for expiry,
//	                                     refresh requests, state saves
//
// The tunnel.Forwarder's goroutines read the lock-free tunnel.Table that the
// HomeAgent updates; nothing on the packet path takes a lock or logs.
//
// # Network namespaces
//
// New opens every socket, the tun device and the netlink handle in the
// network namespace of the calling thread and writes its sysctls there;
// afterwards nothing depends on which thread runs what. Tests call New from
// inside netlab.NS.Do.
package had
