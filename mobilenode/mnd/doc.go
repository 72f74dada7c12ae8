// Package mnd is the runtime of the mobile node daemon (RFC 6275 §11,
// issue 5): it wires the pure cores of package mobilenode (Registration,
// Movement) to Linux. cmd/mnd is a page around it; tests drive it
// in-process inside a network namespace.
//
// # What runs
//
// One goroutine (Run's) owns the Registration, the Movement and every
// kernel change; it is locked to an OS thread inside the network namespace
// New was called in, so that netlink sockets, AF_PACKET listeners opened
// for interfaces that appear later, and /proc/sys/net writes all land in
// the daemon's namespace. Events reach it on channels:
//
//   - netlink link and address events (with the existing state listed at
//     start) of the access interfaces (mnd.toml interfaces);
//   - Router Advertisements and ICMPv6 Parameter Problems from one raw
//     ICMPv6 socket, RAs validated with ra.ValidateRA (RFC 4861 §6.1.2);
//   - Mobility Headers (Binding Acknowledgement, Binding Refresh Request,
//     Binding Error) from one AF_PACKET rawsock.Listener per access
//     interface with the MIPv6 filter: the kernel has no CONFIG_IPV6_MIP6
//     and drops them (type 2 routing header, Mobility Header) before any
//     socket could see them;
//   - the timer of the two cores' next deadline;
//   - reloads.
//
// Binding Updates built by the core go out whole on the header-included raw
// socket of rawsock.Sender, from the care-of address with the Home Address
// option (at home: from the home address, without it).
//
// # Care-of addresses
//
// The kernel forms them: SLAAC from the visited router's RA (accept_ra and
// autoconf stay 1: the node is a host). On every access interface the
// daemon sets optimistic_dad=1 and use_optimistic=1 (RFC 4429) in its own
// namespace, so the address is usable as soon as the kernel creates it and
// the Binding Update never waits a full DAD; the old values come back at
// shutdown. On link-up the daemon sends a Router Solicitation at once (and
// again when the link-local address appears, if the first could not be
// sent), so it need not wait for the router's next unsolicited RA.
//
// # Routing, without the kernel's Mobile IPv6
//
// This kernel has no CONFIG_IPV6_MIP6, so RFC 6724's "prefer home address"
// source selection rule does not exist. Routes with a preferred source do
// the job instead (see PlanAway and PlanHome):
//
// Away from home, the home address is a /128 (nodad) on mip0, the tun
// device of a tunnel.Forwarder in the mobile node role, and
//
//	default dev mip0 src HoA metric 1                 (main)
//	HA/128 via ROUTER dev ACCESS metric 1             (main)
//	default via ROUTER dev ACCESS metric 1 table 0x6d36
//	rule from CoA lookup 0x6d36 pref 1000
//
// Applications get the home address as source and their packets enter
// mip0, where the Forwarder reverse-tunnels them to the home agent (RFC
// 2473, IPv6 in IPv6, outer source the care-of address); the tunnel's own
// packets and the Binding Updates go to the home agent, whose host route
// leads out of the physical interface, so nothing loops into mip0.
// Anything sourced from the care-of address uses the rule's table and
// leaves directly. The kernel's RA-learned default (metric 1024) is left
// alone: it loses while ours exist and wins again when they go.
//
// A move replaces each route under its (table, destination, metric) key,
// which RTM_NEWROUTE with NLM_F_REPLACE does atomically: the route to the
// home agent and the mip0 default are never missing. The new routes are in
// place before the Binding Update goes out. The tunnel binding (the
// tunnel.Table entry HoA/128 -> KindIPv6 CoA -> HA) follows when the home
// agent accepts (RFC 6275 §11.7.3).
//
// At home (§11.5.5) the home address becomes an ordinary address of the
// home interface (nodad: the home agent was defending it), and
//
//	default via ROUTER dev HOME src HoA metric 1      (main)
//
// replaces the mip0 default in place, so connections keep the home address
// and new ones get it too (the kernel would otherwise prefer the SLAAC
// address it forms from the home prefix). Then the de-registration (lifetime
// 0, from the home address) goes out; when the home agent accepts it the
// daemon sends the unsolicited Neighbor Advertisement for the home address
// (Override set), deletes the tunnel binding and takes the home address off
// mip0. Leaving home again puts the home address on mip0 before it leaves
// the home interface, so it is never absent.
//
// Every route and rule carries rtm_protocol RouteProtocol, so that -cleanup
// (Cleanup) finds what a crashed run left; the tunnel device is found by
// name.
//
// # Shutdown
//
// When Run's context ends: away from home, a de-registration from the
// current care-of address, waiting up to Options.DeregisterTimeout for its
// acknowledgement; then the tunnel binding, the rules and routes, the home
// address, the tunnel device, and the sysctls are removed or restored.
//
// # Observability
//
// Status is the /v1/status object of SPEC.md on the control socket (mode
// 0600), with /v1/metrics in the Prometheus text format (mip6_ names). The
// zap logs use the fixed keys of internal/daemon, and an "event" field that
// mip6lab parses into a timeline: "link" (link up or down, field "up"),
// "ra" (debug level: RAs come often), "bu_sent", "ba_received",
// "registered", "moved", "returned_home", "deregistered",
// "lost_connectivity", "dhaad_request", "dhaad_reply",
// "parameter_problem", "registration_failed", "shutdown".
//
// # Home agent discovery
//
// With home_agent left out of mnd.toml, the first care-of address starts
// Dynamic Home Agent Address Discovery (RFC 6275 §11.4.1): a Home Agent
// Address Discovery Request from the care-of address to the home subnet's
// Home-Agents anycast address (ra.HomeAgentsAnycast), retransmitted from
// INITIAL_DHAAD_TIMEOUT (3 s) doubling up to 48 s; the first home agent of
// the matching reply is registered with and kept for the run. The reply is
// not authenticated (RFC 6275 has no means), but the registration that
// follows is, so a forged reply can only delay the node.
//
// # Not yet
//
// Mobile prefix discovery (§11.4.2-11.4.3); falling back to the next home
// agent of the DHAAD list when the first does not answer. IPv4 care-of
// addresses (DSMIPv6, RFC 5555): the tunnel is IPv6 in IPv6 only. Route
// optimization. Neighbour unreachability detection of the default router
// beyond the kernel's own. A reload does not change the log level (the
// logger is the caller's).
package mnd
