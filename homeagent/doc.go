// Package homeagent is the protocol core of the home agent (RFC 6275 §10):
// Binding Update processing for home registrations with RFC 4285 MN-HA
// authentication, the binding cache that results, and its expiry. It has
// no sockets, reads no clock and logs nothing: the had daemon (and tests)
// feed it received Mobility Headers with the current time and act on the
// Result it returns: send the Binding Acknowledgement it built (complete,
// authenticated and checksummed, to be wrapped in IPv6 with a type 2
// routing header), run Duplicate Address Detection when asked, install or
// withdraw proxy Neighbor Discovery.
//
// # Ownership
//
// A HomeAgent and its binding.Cache belong to one goroutine. The data
// plane reads the lock-free tunnel.Table, which the HomeAgent updates
// after every change when Options.Table is set.
//
// # Authentication and what gets an answer
//
// Authentication is always on: every Binding Update must carry the
// Mobility Message Authentication option (RFC 4285 §5) with subtype MN-HA
// as its first authentication option, the MN Identifier option (RFC 4283)
// and the Mobility Message Replay Protection option (RFC 4285 §6). Which
// failures are answered:
//
//   - no MN-HA option, or an SPI with no security association: silent
//     drop. There is no key to authenticate an answer with, and the
//     mobile node discards unauthenticated acknowledgements anyway; an
//     unauthenticated sender gets nothing back (no reflection).
//   - a wrong authenticator under a known SPI: 146 (MIPV6-AUTH-FAIL),
//     authenticated under that SPI's key, so the genuine node can tell a
//     key mismatch from packet loss.
//   - an MN Identifier missing or naming another node than the SPI's:
//     144 (MIPV6-ID-MISMATCH).
//   - a timestamp missing, too far from the home agent's clock, or not
//     later than the node's last accepted one: 145 (MIPV6-MESG-ID-REQD),
//     with the home agent's current time in the Replay Protection option
//     so the mobile node can resynchronise (RFC 4285 §6).
//
// Checks of RFC 6275 come after authentication, so that an
// unauthenticated sender learns nothing about the cache: 139, 132, 133,
// 135, then de-registration (§10.3.2, 133 without a binding), the NEMO
// checks of RFC 3963 (140-142), and DAD (134, through CompleteDAD).
// Status 131 (home registration not supported) is never sent: this code
// only runs on a home agent, and one with no security associations drops
// every Binding Update as unauthenticated before it could apply. A
// Binding Update without the H flag for an address with no home
// registration is a correspondent registration without the return
// routability options, silently discarded (§9.5.1).
//
// Nothing but an accepted Binding Update changes state: rejected and
// dropped ones leave the cache and the node's replay window as they
// were, so a forged or replayed message cannot even move the window. (A
// Binding Update that passed every check and waits for DAD moves the
// window, so it cannot be replayed while DAD runs.)
//
// # Rate limiting
//
// A token bucket per source /64 (IPv4: per address) runs before
// everything else, the MAC included. After the MAC it would only meter
// traffic that already authenticated and do nothing against a forged
// flood; before it, it bounds both the CPU a source can take and the
// answers (144-146) it can draw (internal/ratelimit).
//
// Those answers, sent before a Binding Update is known to come from its
// node, also share one overall token bucket (Options.ReplyRate, 100/s
// with bursts of 200 by default), so that a flood spread over many /64s
// cannot make the home agent emit unbounded replies either; over it they
// are dropped (DropReplyLimited, counted in Stats). Binding Errors have a
// bucket of their own (HomeAgent.BindingError, RFC 6275 §9.3.3).
//
// # Care-of addresses
//
// A care-of address must be unicast and routable (see routable: no
// IPv4-mapped, IPv4-compatible, loopback, unspecified, multicast or
// link-local address; an IPv4 one, see Dual-Stack MIPv6 below, must be
// unicast, see unicast4), or the Binding Update is dropped before
// authentication. After it, one that would loop the tunnel (inside the
// home prefix, the home agent's address, inside the node's own mobile
// network prefixes, another node's home address, the home agent's IPv4
// address or its IPv4 home address pool) is refused with 128, as
// is a binding the data plane table refuses: nothing then enters the
// cache and the replay window stays.
//
// # Dual-Stack Mobile IPv6 (RFC 5555)
//
// With an [ipv4] section a Binding Update may also arrive over IPv4, in
// UDP port 4191 or as IPv6 in IPv4 (protocol 41), to ipv4.address: the
// caller sets Packet.Outer (the outer source and UDP source port as seen)
// and Packet.OuterDst. Such a Binding Update must carry the IPv4 Care-of
// Address option (RFC 5555 §4.2; otherwise, or with that option in a
// native IPv6 packet, it is dropped as DropBadCareOf) and needs no Home
// Address option: its inner source is the home address. The home agent
// compares the option with the outer source (§4.1): when they differ a
// NAT is on the path, and the binding tunnels in UDP to the public
// address and port it saw (tunnel.KindUDP4), as it does when the F flag
// asks for UDP; otherwise IPv6 in IPv4 to the care-of address
// (tunnel.Kind6in4). The binding cache holds the public IPv4 address as
// the care-of address and the port (0 for protocol 41), from which
// Endpoint derives the tunnel, so the state file needs no new field. A
// Binding Update from the same node with a new public port or address (a
// NAT rebinding) is a Moved change: the tunnel follows and the session
// survives. The BA goes back the way the Binding Update came
// (Result.Outer), with a NAT Detection option (§3.2.2: F when the node
// forced UDP, the refresh time ipv4.nat_keepalive when a NAT was seen,
// all ones when none was) when the binding uses UDP, and an IPv4 Address
// Acknowledgement (§3.2.1) answering an IPv4 Home Address option from
// ipv4.home_pool (see assignIPv4 for the statuses). The IPv4 home address
// is kept per node, not in the cache's state file, and installed in the
// data plane table (tunnel.Table.SetIPv4) pointing at the node's tunnel,
// which is then always UDP: the data plane carries IPv4 packets in UDP
// only, so a node with an IPv4 home address is made to tunnel in UDP
// (the NAT Detection option's F flag), and one that moves to an IPv6
// network loses it (129). Routing the address into the tunnel device is
// the daemon's business (Result.IPv4HomeAddress,
// HomeAgent.IPv4HomeAddress). dsmip.go says what the MN-HA authenticator
// covers with an IPv4 care-of address.
//
// # Messages the daemon triggers
//
// RefreshDue lists the bindings due a Binding Refresh Request (RFC 6275
// §9.5.5), once per registration, and AppendBRR builds one;
// AppendBindingError and BindingError build Binding Errors (§9.3.3).
//
// # Lifetimes
//
// The lifetime granted is the one asked for, capped by home.max_lifetime
// and by the home address's lifetime (the home prefix's valid lifetime
// that the built-in router advertisements give it, RFC 6275 §10.3.1),
// rounded down to 4-second units. Each accepted registration's BA
// carries a Binding Refresh Advice (§6.2.4) of three quarters of the
// lifetime.
package homeagent
