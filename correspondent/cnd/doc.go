// Package cnd runs a correspondent node (RFC 6275 §9) on a Linux host
// whose kernel has no Mobile IPv6: the protocol core of package
// correspondent wired to packet sockets, a tun device, kernel routes and
// a few netfilter rules. cmd/cnd is a page around it; tests drive it
// in-process.
//
// # What it touches
//
//   - Signalling in: an AF_PACKET socket on every interface with a BPF
//     filter for Mobility Headers, Home Address options and type 2 routing
//     headers sent to the node's own addresses (configured, or the host's
//     global addresses at start).
//   - Signalling out: HoT, CoT, BA (with its type 2 routing header), BE and
//     BRR built whole by package correspondent and sent on a header-included
//     raw socket marked with fwmark RouteMark, so that they bypass the
//     binding routes (§6.1: Mobility Header messages never use the binding
//     cache; a HoT goes to the home address through the home agent).
//   - Outbound data (§9.3.2): a /128 route per bound home address into the
//     tun device DefaultTunName, in routing table RouteTable (protocol
//     RouteProtocol), consulted by an "ip -6 rule not fwmark RouteMark
//     lookup RouteTable" at priority RulePriority. The reader takes each
//     packet from the tun device, inserts the type 2 routing header with the
//     home address, sets the care-of address as destination and sends it on
//     a header-included raw socket (rawsock.Sender). A new route is
//     followed by a rule added and deleted at RulePriority+1, which makes
//     the kernel renumber every table: a connected socket (a TCP
//     connection to the home address from before the binding) checks its
//     cached route against the main table's numbering only, and would go
//     on through the home agent.
//   - Inbound data (§9.3.1): packets with a Home Address option whose
//     binding names their source as care-of address are rewritten (home
//     address as source, Destination Options header removed) and written
//     into the tun device, so local sockets receive them from the home
//     address. Without such a binding: Binding Error status 1, drop.
//   - Path MTU: the tun device's MTU is 1500 minus the 24 octets of the
//     routing header; a Packet Too Big that a router on the way to a
//     care-of address sends about one of our routed packets is read on a
//     raw ICMPv6 socket and passed on through the tun device as the Packet
//     Too Big the local socket needs (24 octets smaller, about the packet
//     it sent), so its next packets fit (RFC 8201).
//   - Netfilter: an nftables table NFTable (internal/netif.MobilityDropRules,
//     at the input hook: after the packet taps even on a bridge) that
//     drops, before the kernel's IPv6 input path sees them, Mobility Headers and packets with a Home Address option
//     sent to the node's addresses. The packet socket has already copied
//     them; without the rule the kernel would answer each with an ICMPv6
//     Parameter Problem, which tells a mobile node (§11.3.6) that this
//     correspondent does not do route optimization. gomip6's mnd acts on
//     exactly that: when cnd stops (and its rule goes), the first packet
//     with a Home Address option draws a Parameter Problem and the mobile
//     node returns to its home tunnel at once (package mnd, "Route
//     optimization").
//   - The tun device and the Packet Too Big socket are internal/rodata's
//     (OpenTun, ListenPacketTooBig, ReadPacketTooBig), which mnd's route
//     optimization path uses too; the per-packet work is package
//     correspondent's (RestoreHomeAddress, InsertRoutingHeader2,
//     AppendHomePacketTooBig), whose mobile node mirror is in
//     internal/rodata (InsertHomeAddress, RestoreRoutingHeader2,
//     AppendHomeAddressPacketTooBig).
//
// SIGTERM (Run returning) removes the rule, the routes, the tun device and
// the nftables table; Cleanup does the same after a crash (the tun device
// is not persistent: it and its routes go with the dead process). Until
// then the nftables table a killed cnd leaves keeps dropping mobile nodes'
// packets with a Home Address option, with no Parameter Problem to tell
// them (internal/lab TestKnownROCNDCrashBlackhole).
//
// # Limits
//
//   - The addresses served are fixed at start (cnd.toml has no key for
//     them yet; Options.Addresses, or the host's global addresses).
//   - The nftables rule matches a Home Address option in a Destination
//     Options header right after the IPv6 header (every implementation
//     known sends it there); behind a Hop-by-Hop header the kernel still
//     sees it and answers with a Parameter Problem, while cnd handles the
//     packet all the same.
//   - A Destination Options header that holds other options beside the
//     Home Address option (and padding) is dropped (see
//     correspondent.RestoreHomeAddress).
//   - A packet larger than the link toward the care-of address (a tun MTU
//     of 1476 assumes 1500) fails to send and is counted
//     (out_send_errors); paths below 1304 octets cannot carry a
//     1280-octet packet plus the routing header at all.
//   - One reader per direction, batched (internal/rodata): tun reads and
//     writes of up to 128 packets with the wireguard tun offloads, sends
//     with sendmmsg, or on a packet socket straight to the next hop when
//     its neighbour entry is known (which skips netfilter OUTPUT and tc).
package cnd
