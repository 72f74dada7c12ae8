// Package tunnel is gomip6's encapsulation layer, shared by the home
// agent, the mobile node and (later) the correspondent: a pure per-packet
// core and, on Linux, the Forwarder that moves packets between a tun device
// and the tunnel sockets. It builds and checks IPv6-in-IPv6 (RFC 2473), 6in4 (protocol 41,
// RFC 4213) and IPv6-in-UDP over IPv4 (port 4191, RFC 5555 §4.1) headers
// in place, keeps the binding table that maps home addresses and mobile
// network prefixes to tunnel endpoints, applies ECN per RFC 6040, answers
// oversized packets with Packet Too Big (RFC 2473 §7, RFC 4213 §3.2,
// RFC 4443 §3.2), relays ICMP errors from the tunnel path (RFC 2473 §8)
// and drops spoofed decapsulated packets, counting every outcome.
//
// The core (Tunnel, Table, the encapsulations) does no I/O: the Forwarder
// (forward_linux.go: wireguard's tun, raw and UDP sockets with
// recvmmsg/sendmmsg batches, UDP GSO/GRO) calls it with packets in its own
// buffers. Nothing on the per-packet path allocates, locks, logs or sleeps,
// and all methods are safe for concurrent use.
//
// For IPv6-in-IPv6 and 6in4 the kernel can carry the packets instead
// (ForwarderConfig.EBPF, package tunnel/ebpf): BPF programs push and strip
// the outer header and apply the same checks, driven by the same Table
// (Table.Changes), while the Forwarder keeps what they leave to it
// (signalling, packets without a binding, UDP encapsulation). TCP
// super-packets then cross the tunnel whole, which no socket path can do.
//
// # Data flow
//
// Buffers carry Headroom (64) octets in front of the packet so that outer
// headers and ICMPv6 errors are written in place:
//
//	buf: [ headroom ............ | inner IPv6 packet ............ ]
//	                       off-oh ^ off
//
// Outbound, inner side to tunnel (home agent: packets for a mobile node;
// mobile node: packets from its home address):
//
//	tun.Read ──► Tunnel.Output(buf, off)
//	               │ Table.Lookup(inner dst | inner src)   no lock, no alloc
//	               ▼
//	             Tunnel.Encap ──► inner > tunnel MTU and > 1280?
//	               │                 yes: Packet Too Big built in place ──► ActionReply ──► tun.Write
//	               │ inner ≤ tunnel MTU: outer header written at off-oh ──► ActionSend ──► raw/UDP socket
//	               │ tunnel MTU < inner ≤ 1280: DF clear ──► ActionSendFragmentable ──► socket that fragments
//	               ▼
//	             (Tunnel.Prepare instead of Encap when the kernel builds the
//	              outer header: UDP sockets, raw IPv6 sockets)
//
// Inbound, tunnel to inner side:
//
//	socket read ──► Tunnel.Input(pkt)  ── ParseOuter: IPv4/IPv6 header, UDP, checksums
//	       (or Tunnel.Decap(inner, &Outer{...}) when the socket strips the outer header)
//	               │ inner sanity ─► Table.Lookup(inner src | inner dst)
//	               │ outer src/port/dst/kind = the binding's endpoint?  (anti-spoofing)
//	               │ RFC 6040 §4.2 ECN combine (CE over Not-ECT: drop)
//	               ▼
//	             ActionSend ──► tun.Write     any failure: ActionDrop + counter by Reason
//
// ICMP errors from the tunnel path:
//
//	ICMPv6 / ICMPv4 socket ──► Tunnel.HandleICMP = ParseTunnelError + Tunnel.RelayError
//	               │ quoted outer = a binding's tunnel?  (else ignore: stale or forged)
//	               │ Packet Too Big / Frag Needed with a plausible MTU (≥ 1280 / 68,
//	               │   below the quoted packet): Table.LowerPathMTU; PTB to the
//	               │   inner source if its packet no longer fits
//	               │ unreachable / hop limit exceeded: Destination Unreachable code 3
//	               ▼
//	             ActionReply ──► tun.Write
//
// # Signalling on the tunnel sockets
//
// A Dual-Stack MIPv6 node on an IPv4 network (RFC 5555 §4) sends its
// Binding Updates the way its data goes: to the home agent's IPv4 address
// in UDP port 4191 or in protocol 41, that is, to the Forwarder's sockets.
// With ForwarderConfig.SignalAddrs and Signal set, an inner IPv6 packet to
// one of those addresses carrying a Mobility Header (IsSignal) is handed
// to the daemon before the binding check instead of being decapsulated
// (a first Binding Update has no binding to pass), and
// Forwarder.SendUDP4 and Forwarder.Send6in4 send the answer through the
// same sockets, so it leaves from port 4191 through the NAT's mapping.
//
// # IPv4 home addresses
//
// Table.SetIPv4 binds an IPv4 home address (RFC 5555 §3.1.1) to a UDP
// endpoint; its IPv4 packets then go through the tunnel in UDP like the
// IPv6 ones (RFC 5555 §4.1 puts either right after the UDP header), with
// the same relay, binding and ECN rules (inner4.go). Other kinds do not
// carry IPv4.
//
// # Bindings and their life cycle
//
// The control plane (the binding cache of had, the binding update list of
// mnd) owns the Table's writes: Set on registration and refresh (the
// learned path MTU survives a refresh to the same care-of address), Set
// with a new endpoint on a care-of change, Delete on de-registration or
// expiry. The packet path only reads. A *Binding never changes after it is
// published, except for its path MTU, which ICMP errors lower atomically;
// a care-of change publishes a new *Binding with one atomic store, so a
// packet in flight is encapsulated for the old endpoint or the new one,
// never a mixture, and none is lost. See Table for the structure.
//
// A path MTU lowered by a Packet Too Big is not lowered for good: the
// control plane calls Table.AgePathMTU every minute or so, which puts it
// back to the installed value PathMTUAge (10 minutes, RFC 8201 §4) after
// the last lowering, walking only the bindings that were lowered.
//
// # Concurrency
//
// Many goroutines (one per tun queue, one per socket reader) call Output,
// Encap, Prepare, Input, Decap, HandleICMP, RelayError and Table.Lookup
// concurrently;
// one goroutine calls Table.Set and Table.Delete. Counters are atomics,
// each on its own cache line. The ICMP rate limiter is a single atomic
// (GCRA) read only when an error is about to be sent.
package tunnel
