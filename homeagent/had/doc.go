// Package had runs a home agent on a Linux router: the protocol core of
// package homeagent wired to the sockets, the tun device and the kernel
// routes of the home link, for a kernel without Mobile IPv6 (RFC 6275 §10).
// cmd/had is a page around it; tests drive it in-process.
//
// # What it touches
//
//   - Binding Updates: an AF_PACKET socket on every interface with a BPF
//     filter for Mobility Headers to this home agent's address (the kernel,
//     without CONFIG_IPV6_MIP6, would answer them with a Parameter Problem
//     and drop them; the packet socket sees them first, and an nftables
//     table, inet gomip6_had, drops them at the input hook so that no
//     Parameter Problem goes out, not even towards the forged source of a
//     flood; without nft had runs on and warns).
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
//   - Mobile Prefix Advertisements (RFC 6275 §10.6): a solicitation from a
//     registered mobile node is answered at once; unsolicited ones go to
//     every node away from home (care-of address, type 2 routing header)
//     when a reload changes the home prefix's information, and otherwise
//     at least every home.mobile_prefix_max_interval (RAND_ADV_DELAY of
//     §10.6.2 after the last exchange), retransmitted after 3, 6 and 12 s
//     (PREFIX_ADV_TIMEOUT doubling, PREFIX_ADV_RETRIES) until the node
//     answers with a solicitation (§11.4.3); a later Binding Update
//     restarts an unanswered one. The schedule is mpasched.go, run by the
//     loop's housekeeping tick.
//   - The control socket (/v1/status, /v1/bindings, /v1/metrics).
//   - The state file, so that a restarted had forwards at once for every
//     binding still valid.
//
// # Dual-Stack MIPv6 (RFC 5555)
//
// With an [ipv4] section the forwarder also terminates IPv6 in UDP (port
// 4191) and IPv6 in IPv4 (protocol 41) on ipv4.address, which had does
// not configure: the operator does (New warns when it is missing). A
// mobile node on an IPv4 network sends its Binding Update that way, and
// the forwarder hands Mobility Headers to home.address to the loop
// (tunnel.ForwarderConfig.Signal, a bounded queue: full, dropped and
// counted) before its anti-spoofing rules. The core sees the outer source
// as it arrived (a NAT's public address and port) and decides NAT, UDP or
// 6in4 and the tunnel endpoint (homeagent.HomeAgent.Endpoint); the
// Binding Acknowledgement, a Binding Error for an unknown MH type and a
// Binding Refresh Request go back the same way through the forwarder's
// own socket (Forwarder.SendUDP4, Send6in4), the only way through the
// NAT's mapping. A refresh from a new public port or address moves the
// binding and the tunnel with it (a NAT rebinding).
//
// An IPv4 home address granted from ipv4.home_pool (RFC 5555 §3.1.1) gets
// a /32 route into the tun device (proto 109) and, when the pool is inside
// a subnet of the home interface, a proxy ARP entry (NTF_PROXY) on the
// home link, so that the home link's hosts reach it: the home agent
// intercepts for an IPv4 home address as a Mobile IPv4 home agent does
// (proxy ARP, RFC 5944 §4.6); both go with the binding, and at shutdown.
// A killed had leaves the proxy ARP entries (the routes go with the tun
// device): -cleanup with the configuration removes the home interface's
// proxy entries inside ipv4.home_pool (CleanupWith); without it, it
// cannot tell them from others and says so. IPv4 forwarding is turned on
// when a pool is configured. Any change to [ipv4] needs a restart (reload refuses it).
//
// Not done over IPv4: unsolicited Mobile Prefix Advertisements (sent to
// IPv6 care-of addresses only).
//
// # The 6in4 uplink
//
// With an [uplink] section had is also the home router's IPv6 uplink over
// a tunnel broker's 6in4 link (IPv6 in IPv4, protocol 41, RFC 4213), in
// userspace for a kernel without sit (uplink_linux.go), and with no
// [[mobile_node]] it is a complete IPv6 home router. New brings up:
//
//   - a second tunnel.Tunnel and tunnel.Forwarder, 6in4 only, on their own
//     tun device (uplink.interface, "mip6up0") with MTU uplink.mtu (1480),
//     in the mobile node role: the table binds the routed prefix (and
//     local_ipv6 as a /128 if outside it) to local_ipv4 -> remote_ipv4, so
//     packets go out when their inner source is ours and come in from
//     remote_ipv4 only, for an inner destination of ours, from any inner
//     source; everything else is dropped and counted;
//   - local_ipv6/128 on the device with remote_ipv6 as its peer;
//   - the default IPv6 route via remote_ipv6 on the device (metric 1024,
//     proto 109; refused if a default route of that metric exists);
//   - an unreachable route for the routed prefix (proto 109), so that the
//     unused part of it is answered with Destination Unreachable instead
//     of sent back to the broker (RFC 7084 WPD-5);
//   - IPv6 forwarding (on for the home agent anyway).
//
// What is advertised on the home link does not change: home.prefix, which
// the configuration requires to lie inside the routed prefix, as an
// on-link autonomous /64 (hosts form addresses in it by SLAAC), with a
// non-zero router lifetime, so the hosts' default route is had. Other /64s
// of the routed prefix are not advertised (there is one home link); the
// tunnel's MTU is advertised only if router_advertisements.mtu says so.
//
// Packet Too Big: the kernel answers a forwarded packet above the tun
// device's MTU itself; a smaller IPv4 path answers our DF-marked 6in4
// packets with Fragmentation Needed, read by the uplink forwarder's ICMPv4
// socket, which lowers the path MTU (for tunnel.PathMTUAge) and relays a
// Packet Too Big to the inner source from home.address (RFC 2473 §8).
// Packets from the internet that are too large for the broker's end get
// their Packet Too Big from the broker.
//
// Shutdown removes the two routes and closes the forwarder (the device,
// its address and any route into it go too). A killed had leaves only the
// unreachable route, which -cleanup removes. /v1/status has an "uplink"
// object and /v1/metrics mip6_uplink_packets_total{direction,reason}.
// Changing [uplink] needs a restart (a reload that changes it is refused).
//
// With [ipv4] (DSMIPv6) as well, both forwarders have a protocol-41 raw
// IPv4 socket and the kernel gives each a copy of every 6in4 packet: the
// home agent's tunnel drops the broker's traffic (in/no_binding: internet
// sources are nobody's home address) and the uplink's drops the mobile
// nodes' (in/outer_src: their outer source is not the broker). Correct,
// at the price of a second copy and check per packet.
//
// # The home link interface
//
// had follows its home interface through netlink link and address
// updates (link_linux.go): a new MAC address goes into the RAs' Source
// Link-layer Address option and the proxy's NAs, announced at once with
// gratuitous NAs (Override) for every proxied home address and an
// unsolicited RA; after the link went down and came back, the same
// announcements go out once its link-local address is usable. The
// sockets survive a down/up. An administrative down removes home.address
// from the interface (the kernel does, unless keep_addr_on_down): had
// warns and goes on; putting it back is the network configuration's job.
//
// # Goroutines
//
//	AF_PACKET reader ──► rx (bounded; full: dropped, counted) ─┐
//	tunnel socket readers ──► sigq (DSMIPv6; bounded, ditto) ──┤
//	DAD waiters (one per DAD, bounded) ──► dadDone ────────────┤
//	control socket handlers ──► reqs (reply channel) ──────────┤
//	netlink subscriptions ──► link and address updates ────────┤
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
