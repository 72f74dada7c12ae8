// Package ebpf is an optional kernel fast path for the protocol-41
// tunnels (IPv6 in IPv6, RFC 2473; 6in4, RFC 4213) of package tunnel: the
// kernel encapsulates and decapsulates with two small BPF programs that
// gomip6 generates (github.com/cilium/ebpf/asm, no compiler) and loads
// itself, while the userspace tunnel.Forwarder stays the fallback for
// everything the programs leave alone.
//
// Why: per-packet work in the kernel at both ends of a flow limits the
// userspace forwarder (README, "Performance"), and the cure, GSO
// super-packets, cannot be handed to tun or packet sockets because a
// virtio-net header cannot say IP-in-IP. A route with "encap bpf xmit"
// can: bpf_lwt_push_encap marks a TCP super-packet SKB_GSO_IPXIP6 or
// SKB_GSO_IPXIP4 and the kernel segments it after encapsulation, and
// bpf_skb_adjust_room removes the outer header of a GRO packet on
// ingress without breaking it up.
//
// Use: ForwarderConfig.EBPF = ebpf.Start(cfg, nil). The forwarder keeps
// the map in step with its binding table and closes the Accelerator first
// on Close: routes, tcx attachments, programs and maps go. Its errors are
// *Error, so that a daemon can run on without it where it fails. What a
// crashed process leaves is found by name: its routes have protocol
// RouteProtocol and name its tun device (Cleanup removes those of the
// devices it is given, leaving another Accelerator's in the same
// namespace alone), its programs and maps names starting with
// ProgramName (they go with the last route that holds them), and tcx
// attachments die with the process.
//
// A home agent's routes come with its bindings (Update). A mobile node
// (Role RoleMobileNode) adds its own, those of its routing plan, with
// AddRoute: each in its table and at its metric, replacing in place the
// plain route into the tun device with the same key, so that the plan's
// order of operations (and its never-absent default route) holds as
// without the kernel path. Its one binding, keyed by the home address,
// is the outer header care-of address to home agent; a move is one map
// update (Update, which the daemon calls as soon as the binding is
// acknowledged rather than wait for the forwarder's Sync), so packets
// leave with the old or the new care-of address, never a mix, and the
// ingress program takes from then on only the home agent's packets to
// the new care-of address for the home address.
//
// Needs Linux 6.6 (tcx; BPF_F_ADJ_ROOM_DECAP_L3_IPV6 is 6.3), CAP_BPF and
// CAP_NET_ADMIN; New fails otherwise and the forwarder runs as before.
// Not accelerated: IPv6 in UDP (RFC 5555), IPv4 inner packets, outer
// IPv6 extension headers, IPv4 options and fragments, inner packets whose
// first header is an extension header or the Mobility Header, non-TCP GSO
// packets: all of them take the forwarder as before.
//
// The programs allocate nothing of their own; the kernel allocates the
// skbs as for any forwarded packet. Only the BPF map and the routes
// change when a binding does.
package ebpf
