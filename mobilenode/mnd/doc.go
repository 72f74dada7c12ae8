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
// shutdown, or with -cleanup after a crash (see Shutdown). On link-up the
// daemon sends a Router Solicitation at once (and again when the
// link-local address appears, if the first could not be sent), so it need
// not wait for the router's next unsolicited RA, then retransmits it
// 4 s apart (RFC 4861 §6.3.7) and after the third with RFC 7559's
// back-off (8 s, 16 s, ... up to an hour, ±10 %) until a router
// advertises; a link that loses its last router starts again at once
// (mobilenode.Movement.Solicitations). The kernel's own solicitations are
// not relied on: they stop after the first RA of the link.
//
// # Default router reachability (RFC 4861 §7.3)
//
// The daemon listens to the kernel's neighbour events: an access link's
// default router whose entry goes FAILED is dropped from the movement
// detection at once (log "router_unreachable", counter
// mip6_mn_routers_unreachable_total): the node fails over to its next
// access interface, or reports lost connectivity, and solicits until a
// router answers. Without it a router that dies with the link still up,
// on a link whose RAs carry no Advertisement Interval option (radvd's
// defaults: 1800 s of Router Lifetime), would hold the node on a dead
// path for half an hour. The kernel's NUD only probes a neighbour DELAY
// (5 s) after its entry went stale, up to 45 s after the last
// confirmation, and tunnelled packets confirm nothing; so when the
// daemon's own traffic goes unanswered (a Binding Update retransmitted,
// the tunnel's liveness check firing) it sets the router's entry to PROBE
// (log "router_probe"), and the kernel's three unicast probes settle it
// in 3 s (nud_linux.go). TestRootRouterUnreachable: a silent router death
// on link A under traffic, registered through link B 6.6 s later; the
// router back, the next solicitation finds it (0.5 s in that run).
//
// # Detecting Network Attachment (RFC 6059)
//
// A solicited RA may be delayed up to MAX_RA_DELAY_TIME (500 ms, RFC 4861
// §6.2.6); a Neighbor Advertisement is not. mobilenode.Movement remembers
// the last 16 links it saw (the router's link-local and link-layer
// address from its RA's Source Link-layer Address option, the prefixes,
// home or not; least recently seen dropped). On link-up the daemon sends,
// besides the Router Solicitation, a unicast Neighbor Solicitation to each
// remembered router (dna_linux.go): built whole on an AF_PACKET socket of
// the interface, from our link-local address (with our Source Link-layer
// Address option, or without it from an optimistic address, RFC 4429),
// target the router's link-local address, to its remembered link-layer
// address, so only that router can answer and no multicast address
// resolution comes first. The same socket reads Neighbor Advertisements
// (BPF: ICMPv6 type 136, hop limit 255, to this host); a valid solicited
// one from a probed router whose frame came from the remembered
// link-layer address identifies the link: the home link means returning
// home at once (de-registration); a known foreign link means its router
// and prefixes count at once, and the care-of address the kernel kept is
// registered at once. Linux keeps IPv6 addresses (and does not redo DAD)
// across a carrier loss; an administrative down removes them, and then
// the kernel needs the RA to form the address again. The router's RA,
// when it comes, confirms, and its prefix set replaces the remembered
// one. A router that stays silent for its remembered advertisement
// interval is lost as usual. The log shows "dna_probe" (debug) and
// "dna" (a link identified).
//
// A quick flap may not show in the link events: the kernel reports the
// state when its linkwatch work runs, so a carrier lost and back before
// that comes as one "up" (or an "up" read before the "down"), and the
// daemon would not look for the network again. At every link event of an
// access interface the daemon therefore also reads the kernel's carrier
// down count (IFLA_CARRIER_DOWN_COUNT, Linux 4.16; RTM_GETLINK, as
// vishvananda/netlink does not decode it; carrier.go): when it moved
// since the previous event while the link was and is up, the event is
// handled as the down and the up it was (log event "link_flap", then
// "link" down and up; counter mip6_mn_carrier_flaps_total), so the DNA
// probes and the Router Solicitation go out. In the namespace lab a veth
// peer set down and up at once is always coalesced this way.
//
// Where the time of a move goes (mip6lab, issue 5): carrier back to the
// daemon's "link up" is under a millisecond (the kernel's linkwatch
// handles a carrier coming up at once, and the event needs no
// debouncing: flap damping acts only on repeated flaps); the tens of
// milliseconds between the lab's "carrier lost" and "carrier back" are
// the lab's own ip(8) commands moving the veth peer. A new link still
// waits for its router's answer to the Router Solicitation; a first
// registration waits for the home agent's DAD (RFC 6275 §10.3.1).
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
// # Kernel path ([tunnel] kernel_path)
//
// Opt-in (kernelpath_linux.go): the forwarder gets a tunnel/ebpf
// Accelerator, as had's does, and the plan's routes into mip0 (the
// default and the home prefix, IPv6) are installed through it: the same
// routes under the same keys, with "encap bpf xmit" and rtm_protocol
// ebpf.RouteProtocol instead of RouteProtocol, so a move or the return
// home still replaces each in place. The encapsulation program keys on
// the home address (outer source the care-of address, destination the
// home agent); the decapsulation program on the access interfaces takes
// only the home agent's packets to the current care-of address for the
// home address. Both take IPv6 in IPv6 and, on an IPv4 care-of address
// without a NAT, 6in4 (RFC 5555). The binding is handed to the kernel as
// soon as the home
// agent acknowledges it (one map update: packets leave with the old or
// the new care-of address, never a mix). The window left is the
// userspace forwarder's: until the acknowledgement packets leave with
// the registered (old) care-of address, and the home agent's packets to
// the new one that arrive between the acknowledgement and the map update
// are dropped. What the programs do not take goes to the userspace
// forwarder as before: IPv6 in UDP (behind a NAT) and the IPv4 home
// address's packets (RFC 5555), the Mobility Header, extension headers,
// and route-optimized
// traffic, which does not use the tunnel. If the programs cannot load
// (Linux before 6.6, no CAP_BPF) the daemon logs a warning and the
// forwarder carries everything, with PacketReceive as without the
// kernel path (tunnel.ForwarderConfig.PacketReceiveFallback). Its
// counters: Daemon.KernelPathStats and /v1/metrics
// (mip6_tunnel_kernel_*). The liveness check adds the programs' packet
// counters to the forwarder's; learning correspondents for route
// optimization samples, on every interface, the home agent's IPv6 in
// IPv6 before the ingress program strips it (a packet socket of every
// protocol runs before tcx), as the tunnel device no longer sees them.
// The accelerated routes carry the binding's tunnel MTU and follow it
// as the path MTU to the home agent changes (tunnel/ebpf RouteSpec.MTU),
// so local senders get the Packet Too Big the encapsulation needs. Left:
// a move's map update can race the forwarder's re-sync of the table, which
// may put the old care-of address back until the change signal's next
// Sync (a fraction of a millisecond).
//
// # Shutdown
//
// When Run's context ends: away from home, a de-registration from the
// current care-of address, waiting up to Options.DeregisterTimeout for its
// acknowledgement; then the tunnel binding, the rules and routes, the home
// address, the tunnel device, and the sysctls are removed or restored.
//
// The sysctls' original values are also written, before each change,
// to a journal next to the control socket (SOCKET.sysctl, sysctl.go):
// after a crash -cleanup restores them from it, and a daemon started
// without -cleanup takes the journal's values as the originals (the
// ones it finds are the crashed run's) and restores those at its
// shutdown. The tunnel device's own settings are not recorded: the
// device goes with them.
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
// "parameter_problem", "registration_failed", "shutdown",
// "liveness_refresh", "link_flap", and for route
// optimization "ro_direct", "ro_tunnel", "ro_failed", "ro_deregistered",
// "ro_learned", "ro_idle".
//
// # IPv4 networks (Dual-Stack MIPv6, RFC 5555)
//
// With home_agent_ipv4 in mnd.toml the daemon also uses IPv4-only access
// networks (dsmip.go, dsmip_linux.go). It follows the IPv4 addresses and
// IPv4 default routes of the access interfaces from netlink, and picks
// the care-of address by this rule: the home link on any interface first;
// then an IPv6 care-of address on any interface (mobilenode.Movement's
// choice, in preference order), because it needs no NAT traversal and no
// keepalives; then an IPv4 address of the first interface in preference
// order that is up, has an IPv4 default route and is not held down by
// flap damping (a held-down one only when nothing else is left).
//
// From an IPv4 care-of address the Binding Update (IPv4 Care-of Address
// option, no Home Address option, §4.2) goes in UDP from port 4191 to
// home_agent_ipv4 port 4191 through the tunnel forwarder's own socket, so
// that a NAT maps it as it maps the tunnel's packets, and the Binding
// Acknowledgement comes back to that socket, which hands Mobility Headers
// to the home address over to the loop (tunnel.ForwarderConfig.Signal).
// Accepted with a NAT Detection option (a NAT, or force_udp) the tunnel
// binding becomes IPv6 in UDP (status encapsulation "udp4", nat true),
// otherwise IPv6 in IPv4 ("ipv4"). While a NAT is seen the registration
// refreshes at least every refresh time of the NAT Detection option
// (NATKATIMEOUT, 110 s, by default): that Binding Update is the NAT
// keepalive, and after a NAT rebinding it shows the home agent the new
// mapping. Not waiting for it: the tunnel liveness check (below) sends
// a refresh as soon as the tunnel goes one-way, which creates the new
// mapping's state at the home agent, and while traffic stays one-way its
// back-off stops at the keepalive interval. The routes are those of an
// IPv6 foreign link into mip0, plus
//
//	HA4/32 via GATEWAY4 dev ACCESS metric 1           (main, IPv4)
//
// and no IPv6 route through the physical link and no care-of rule.
//
// An IPv4 home address (RFC 5555 §3.1.1) is asked for only when
// ipv4_home_address is in mnd.toml: a user who did not configure one
// keeps the visited network's IPv4 untouched. Granted, it is used while
// the care-of address is IPv4 and the tunnel IPv6 in UDP (the only
// encapsulation here that carries IPv4): a /32 on mip0, and
//
//	0.0.0.0/1, 128.0.0.0/1 dev mip0 src HOA4 metric 1   (main, IPv4)
//
// which beat the visited network's default whatever its metric, and lose
// to the host route to the home agent and the visited subnet. On an IPv6
// care-of address or at home it is withdrawn (status ipv4_home_address
// empty), and the host's IPv4 is the visited network's again.
//
// # Liveness of the home tunnel
//
// A binding can die at the home agent while the mobile node still holds
// it: a home agent that crashed before saving its state (had saves it 5
// s after a change) or came back with an older state file, or, behind a
// NAT, a NAT that lost its mapping. RFC 6275 notices only at the next
// refresh (§11.7.1) and RFC 5555 at the next keepalive (§4.3). Instead,
// while a binding is in place (any encapsulation: IPv6 care-of
// addresses as well as IPv4 ones, NAT or not) the loop reads the tunnel's
// packet counters every second (liveness.go, liveness_linux.go), and
// when data went out within Options.Liveness (DefaultLiveness, 3 s) but
// nothing came back for that long, a refresh Binding Update goes out at
// once (mobilenode.Registration.Refresh; log event "liveness_refresh",
// field "nat"; counter mip6_mn_liveness_refreshes_total). A home agent
// that lost the binding creates it again; behind a NAT it follows the
// new mapping. While traffic stays one-way (an upload over UDP gets no
// answer however good the path is) the refreshes back off, doubling up
// to the NAT keepalive interval (NATKATIMEOUT, 110 s, without a NAT). The
// check needs outgoing data: a flow that only comes in stops without
// the node noticing (the home agent has no binding to tunnel it by) until
// the refresh.
//
// # Route optimization (RFC 6275 §11.3.1-§11.3.3, §11.6, §11.7.2)
//
// With route_optimization on (globally, in a [[correspondent]] entry or
// a route_optimization_allow prefix) the daemon runs
// mobilenode.RouteOptimizer (ro_linux.go): return routability and a
// Binding Update with each correspondent, then a direct path to it.
//
// Which correspondents: RFC 6275 leaves the trigger to the mobile node.
// mnd starts at once with the correspondents the configuration names by
// address ([[correspondent]] address = ..., or a /128 prefix, or a /128
// in route_optimization_allow) for which conf.MN.RouteOptimizationFor
// says yes. When the policy allows correspondents it does not name (the
// global switch, or an allowing prefix), it also learns them from the
// traffic that arrives through the home tunnel: an AF_PACKET listener on
// mip0 whose classic BPF filter keeps one packet in 64 at random (40
// octets of it), so the forwarder's fast path is not slowed; a source the
// policy allows starts route optimization (at most ROMaxLearned learned
// correspondents). A learned correspondent that carried no packet for 5
// minutes (none sampled through the tunnel, none on its direct path) is
// removed and its binding deleted (§11.7.2 refreshes bindings in use
// only). A reload adds and removes (de-registers) correspondents.
//
// When: once the home agent has acknowledged the care-of address (the
// Home Test Init goes through the reverse tunnel, which needs that
// binding), and again after every move; a fresh home keygen token (under
// MAX_TOKEN_LIFETIME old) is reused, so a move costs one Care-of Test and
// the Binding Update (A flag set: we want to know; lifetime at most
// MAX_RR_BINDING_LIFETIME and never beyond the home registration's, as
// §11.7.2 asks). The Home Test Init is
// encapsulated by the tunnel core (tunnel.Tunnel.Output) and sent to the
// home agent; the Care-of Test Init and the Binding Update (Home Address
// option, Nonce Indices, Binding Authorization Data) leave from the
// care-of address straight to the access router's link-local address
// (rawsock.Sender.SendTo), whatever the routes say. Home Tests and Binding
// Refresh Requests come back through the tunnel: an AF_PACKET listener on
// mip0 (Mobility Headers to the home address) hands them to the loop;
// Care-of Tests, Binding Acknowledgements and Binding Errors arrive on the
// access interface's listener. Mobility Headers from anyone but the home
// agent go to the optimizer.
//
// Outbound data: a second tun device, ROTunName (mip6ro0), owned by the
// route optimization path, and one route per correspondent with a
// binding,
//
//	CN/128 dev mip6ro0 src HoA metric 1               (main)
//
// which beats the mip0 default. mip0's reader is the tunnel forwarder's
// and is not changed; a route into a device of our own diverts exactly the
// correspondents with a binding, and withdrawing the route is the
// fall-back. The reader inserts the Destination Options header with the
// Home Address option (internal/rodata.InsertHomeAddress), puts the
// care-of address in the source and sends the batch to the access router:
// on a packet socket to its link-layer address when the neighbour table
// knows it, else header-included on a raw socket (internal/rodata.Sender);
// the upper-layer checksum stays valid (§6.3). A packet
// that finds no binding (withdrawn after the kernel routed it) goes
// through the tunnel core as it would have.
//
// Inbound data: an AF_PACKET listener on the access interface with a
// filter for type 2 routing headers to the care-of address. A header
// naming our home address is removed and the home address becomes the
// destination (rodata.RestoreRoutingHeader2); the packet is written into
// mip6ro0, and the kernel delivers it to the home address's socket. A
// header naming any other address is dropped and counted
// (mip6_mn_ro_rh2_dropped_total).
//
// The kernel, without Mobile IPv6, would answer every type 2 routed
// packet with a Parameter Problem to its sender once the listener has
// copied it; the nftables table RONFTable (family ip6, installed while
// route optimization is on) drops them at prerouting instead, before the
// kernel sees them (the packet sockets see them first).
//
// Path MTU: mip6ro0's MTU (ROTunMTU) leaves room for the option on a
// 1500-octet link. A Packet Too Big a router sends to the care-of address
// about a direct packet (read on a raw ICMPv6 socket,
// rodata.ListenPacketTooBig) is rewritten into the one the local socket
// needs: to the home address, about the packet as it sent it, 24 octets
// smaller (rodata.AppendHomeAddressPacketTooBig), and written into
// mip6ro0 (RFC 8201). Paths below 1304 octets cannot carry a 1280-octet
// packet and the option.
//
// Fall-back: no Home Test, Care-of Test or acknowledgement within the
// §11.8 schedule (1 s doubling, given up beyond MAX_BINDACK_TIMEOUT), a
// refusal (status 128 and up except 135-138, which resynchronize or test
// again), Binding Error status 1 (one immediate retry) or 2, or an ICMPv6
// Parameter Problem (code 2) about our Home Address option from the
// correspondent: the route goes, the tunnel carries the traffic, and the
// correspondent is tried again after 32 s doubling to 30 min (30 min at
// once for status 2, and for a Parameter Problem from a correspondent
// that never accepted a Binding Update of ours in this run: both say it
// has no route optimization). That Parameter Problem is how a stopped cnd
// is detected (its kernel answers our first direct packet with it):
// connections continue through the tunnel at once, and since that
// correspondent did bind before, it gets the ordinary 32 s retry, so
// route optimization comes back about 32 s after the stop once cnd runs
// again.
//
// Direct-path liveness: a correspondent that goes silent without a
// Parameter Problem (a killed cnd, whose nftables table outlives it and
// drops our Home Address option; a firewall; a path change) would
// otherwise be noticed only when its binding needs the refresh, up to
// 420 s of lost packets. The data path counts, per correspondent, the
// packets sent directly and the type 2 routed ones received (atomics it
// updates anyway); the optimizer polls them on its timer every 0.5 s
// (mobilenode.ROConfig.DirectTraffic) and, when packets went out and
// nothing came back directly (data, or a Mobility Header to the care-of
// address) for mobilenode.ROLiveness (3 s), falls back to the tunnel at
// once and retries return routability on the ordinary back-off
// (event ro_direct_silent, mip6_mn_ro_direct_silent_total). Only
// traffic that expects an answer trips it: an idle path never does. A
// flow that only sends does, so the window doubles (to
// mobilenode.ROLivenessMax, 2 min) each time nothing came back, and
// returns to 3 s once something does: such a flow costs a fall-back
// about every two and a half minutes, not every few seconds. A restarted
// cnd replaces the table a killed one left (cnd -cleanup removes it
// without starting).
//
// From an IPv4 care-of address (RFC 5555) there is no route
// optimization: mnd sends nothing directly and, for each correspondent
// that may still hold a binding for an earlier IPv6 care-of address,
// sends the de-registration (a Binding Update with lifetime 0 from the
// home address, authorized by a home keygen token alone, §5.2.5) through
// the home tunnel, after a Home Test Init through the tunnel when the
// last home keygen token is too old.
//
// Home and shutdown: back home, once the home agent has released the
// binding, every correspondent that may hold one gets a Binding Update
// with lifetime 0 from the home address (a Home Test from the home link
// first when the home keygen token is too old). At shutdown away from
// home the de-registrations go out only where the home keygen token is
// still fresh; the other bindings expire at the correspondents within
// MAX_RR_BINDING_LIFETIME.
//
// Status and metrics: the correspondents' entries are in status
// "bindings" (cn, state, direct, lifetime_remaining_s, failures, reason,
// retry_in_s); the counters are mip6_mn_ro_*.
//
// # Home agent discovery
//
// With home_agent left out of mnd.toml, the first care-of address starts
// Dynamic Home Agent Address Discovery (RFC 6275 §11.4.1): a Home Agent
// Address Discovery Request from the care-of address to the home subnet's
// Home-Agents anycast address (ra.HomeAgentsAnycast), retransmitted from
// INITIAL_DHAAD_TIMEOUT (3 s) doubling up to 48 s; the first home agent of
// the matching reply is registered with. The reply is not authenticated
// (RFC 6275 has no means), but the registration that follows is, so a
// forged reply can only delay the node.
//
// Fallback (hafallback.go): the reply's list is kept (status
// "home_agents"; "home_agent" is the one in use). A home agent that
// leaves a first registration unanswered for three Binding Updates (1.5 +
// 3 + 6 s) or refuses it with 129-133 (a refusal another home agent may
// not repeat) is replaced by the next one of the list; after the last, the
// discovery runs again at once, and after further rounds in a row with no
// acceptance at INITIAL_DHAAD_TIMEOUT doubling to 48 s. A refresh of a
// binding the home agent still holds is never given up on; once that
// binding has expired its retransmissions count as a first
// registration's. A home_agent of mnd.toml is never replaced.
//
// # Mobile prefix discovery
//
// Away and registered from an IPv6 care-of address, the node sends a
// Mobile Prefix Solicitation (RFC 6275 §11.4.2) from the care-of address
// with the Home Address option: after the first registration of a run,
// on a Binding Acknowledgement with status 1, when the home prefix's
// advertised valid lifetime nears its end, and in answer to an
// unsolicited advertisement; INITIAL_SOLICIT_TIMER (3 s) doubling, four
// retransmissions at most. The Mobile Prefix Advertisement comes back
// through a type 2 routing header, caught by a packet socket on all
// interfaces whose filter keeps only that layout; §11.4.3's checks (from
// the home agent registered with, for our home address, the identifier
// of the latest unanswered solicitation) decide, and the home prefix's
// lifetimes and any other prefixes advertised go to the status
// ("home_prefix") and the log (mps.go). Counters:
// mip6_mn_mobile_prefix_solicitations_total,
// mip6_mn_mobile_prefix_advertisements_total and
// mip6_mn_home_agent_fallbacks_total.
//
// Binding lifetimes (§11.7.1, §11.7.2; lifetime.go): no Binding Update
// asks for more than what is left of the home prefix's valid lifetime, as
// last advertised, nor of the care-of address's valid lifetime as the
// kernel holds it (RFC 4862 §5.5.3 e: an RA cannot cut it below two
// hours, so a router advertising seconds cannot stop registration); a
// binding in place that would outlive a shortened lifetime is refreshed
// with the shorter one at once. With less than 4 s (one lifetime unit)
// left the node sends no Binding Update (a lifetime of 0 would delete the
// binding), logs "home_address_invalid" (or "care_of_invalid"), shows
// state "address-invalid" and home_prefix.home_address_invalid in the
// status, and registers again when an advertisement (or, for the care-of
// address, an RA or a move) extends it. Correspondent bindings never
// outlive the home binding, so they are bounded too.
//
// # Not yet
//
// A home link renumbering is only reported: forming a home address from a
// new prefix with the same interface identifier and registering it
// (§11.4.3) is not done, nor is the home address removed from mip0 when
// its valid lifetime runs out (the node only stops registering it). No
// IPsec on the
// solicitation and advertisement (§11.4.2 SHOULD). No mobile prefix
// discovery over an IPv4 care-of address. Home agent
// discovery over IPv4: an IPv4 care-of address needs home_agent in
// mnd.toml (or a home agent found over IPv6 before). After a NAT
// rebinding or a home agent's loss of the binding with no traffic from
// the mobile node, packets from the home agent are lost until the next
// keepalive or refresh (the liveness check needs outgoing packets to
// notice). A flap the link events coalesce is seen when the kernel's
// one event for it comes (after its linkwatch delay, up to a second in
// the lab), and not at all before Linux 4.16 (no carrier counts). DNA learns a router's link-layer address
// only from its RA's Source Link-layer Address option (a router that
// omits it is not remembered), and probes on IPv6 links only. Route
// optimization over an IPv4 care-of address (none in RFC 5555); a short
// flow may end before a sample of it is seen, and is never optimized.
// Reachability of the IPv4 default router on an IPv4-only link is left to
// the kernel's ARP (and the liveness check's refreshes). A reload does not change the log level (the
// logger is the caller's).
package mnd
