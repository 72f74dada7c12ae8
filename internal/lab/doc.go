// Package lab is mip6lab as a library (SPEC.md "mip6lab", issue 6): the lab
// network, the daemons' configuration files, the live flow from the
// correspondent to the home address, the tour of the mobile node around the
// links, and the timeline and report of what happened. cmd/mip6lab and the
// end-to-end root tests share it.
//
// # The network
//
// Build makes it out of netlab namespaces (unique names per run, removed on
// every exit path):
//
//   - inet, the "internet": one link to each router, IPv6 in
//     2001:db8:ff::/48 (and 2001:db8:200::/64 towards the correspondent),
//     IPv4 in 198.51.100.0/24 towards home, fb and cn;
//   - home, the home router where had runs: the home link is the bridge br0
//     (2001:db8:100::/64, home agent 2001:db8:100::1), the uplink has
//     198.51.100.2, had's [ipv4] address; homehost is a plain host on the
//     home link that configures itself from had's Router Advertisements;
//   - cn, the correspondent, 2001:db8:200::2, where cnd runs (issue 7) and
//     the flow starts;
//   - fa, foreign link A: a bridge with 2001:db8:a::/64 and radvd, a real
//     third-party router as in a café; how radvd advertises is an
//     RAProfile (Options.RadvdA, mip6lab --radvd): "lab" (300 ms to 1 s,
//     the default), "mipv6-min" (RFC 6275 §7.5's 30-70 ms) or "defaults"
//     (radvd's own, answering Router Solicitations); RenewRouterA gives
//     the router a new MAC and link-local address, so that the mobile
//     node meets link A as a network it has never seen (no DNA);
//   - fb, foreign link B: IPv4 only (192.0.2.0/24, nothing IPv6 on the
//     link), NAT44 to its uplink 198.51.100.18; the lab gives the mobile
//     node 192.0.2.10 when it arrives, as a DHCP server would;
//   - mn, the mobile node, with one access interface eth0, a veth whose peer
//     is moved from one router's namespace to another and enslaved to its
//     bridge (Topology.Move): carrier lost, then back, with the same MAC and
//     ifindex, as a laptop roaming between Wi-Fi networks.
//
// The bridges have fixed MAC addresses (BridgeMAC): a Linux bridge without
// one takes its lowest port's, so the roaming port changed the home
// router's address under had, which keeps the one it read at start.
//
// # The tour
//
// Start builds the network, writes had.toml, mnd.toml and cnd.toml (Params:
// a fresh key per run, SPI 1000, "laptop@home.example", home address
// 2001:db8:100::10, RAs every 50 ms to 1 s, 20 s bindings) and starts the
// daemons found next to the executable or in PATH (Options.Bin), each with
// its control socket in the run's directory. A daemon that does not run is
// reported, not hidden. Run.Tour then waits for the mobile node at home,
// starts the flow from cn to the home address, an ICMPv6 echo every 10 ms
// (Prober: the mobile node's kernel answers) and a TCP connection with a
// sequenced message every 20 ms to an echo server in mn (TCPFlow), and moves
// the mobile node home -> A -> B -> home (Options.Legs), a few seconds per
// link, polling the daemons' /v1/status.
//
// Per move the Report gives: whether the mobile node registered from the new
// link (mnd and had agreeing on the care-of address; at home: home and
// de-registered) and after how long (from mnd's log when it has the event),
// when the first probe was answered again, the longest stretch without an
// answered probe, the probes lost, whether the TCP connection carried data
// after the move, and whether homehost reaches the home address (through the
// home agent's proxy Neighbor Discovery while the node is away, RFC 6275
// §10.4.1). The timeline merges the lab's actions, the daemons' JSON log
// entries that carry an "event" field (ParseLog) and the flow's milestones,
// each timed from its move. Where something cannot work yet (link B needs
// DSMIPv6, issue 8), the report says so: it never reports a registration
// the daemons did not confirm.
//
// # Looking at the daemons from outside
//
// The end-to-end tests (e2e_*_test.go: restarts and crashes of had and mnd,
// hostile traffic, 1,000 link flaps, a soak, route optimization with cnd,
// the home link's MAC address changing under had, and issue 5's
// handover targets as medians over arrivals on link A per RAProfile) use probe.go: SampleProc and
// FDKinds read a daemon's descriptors, RSS, threads and CPU time from /proc;
// Daemon.Metrics parses /v1/metrics; Daemon.Restart, Kill, Start and
// RunOnce ("-cleanup") drive its lifecycle; StartCapture runs tcpdump in a
// namespace; WrapGCTrace runs the daemons with the Go runtime's GC trace
// (their live heap and goroutine stacks); Trend fits a resource's growth.
package lab
