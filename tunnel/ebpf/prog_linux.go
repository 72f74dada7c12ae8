//go:build linux

package ebpf

import (
	"fmt"

	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/internal/netif"
	"github.com/gomip6/gomip6/tunnel"
)

// Offsets in struct __sk_buff (include/uapi/linux/bpf.h), the context
// both programs get.
const (
	skbLen     = 0
	skbPktType = 4
	skbData    = 76
	skbDataEnd = 80
	skbGSOSize = 176
)

// Kernel constants the programs use (include/uapi/linux/bpf.h,
// include/uapi/linux/pkt_cls.h).
const (
	lwtEncapIP     = 2   // BPF_LWT_ENCAP_IP
	lwtOK          = 0   // BPF_OK: carry on with the route's own output (the tun device)
	lwtDrop        = 2   // BPF_DROP
	lwtReroute     = 128 // BPF_LWT_REROUTE: route again on the new outer header
	adjRoomMAC     = 1   // BPF_ADJ_ROOM_MAC
	adjFixedGSO    = 1 << 0
	adjDecapL3IPv6 = 1 << 8 // BPF_F_ADJ_ROOM_DECAP_L3_IPV6 (Linux 6.3)
	recomputeCsum  = 1      // BPF_F_RECOMPUTE_CSUM
	tcxNext        = -1     // TCX_NEXT: not ours, unchanged
	tcxPass        = 0      // TCX_PASS
	tcxDrop        = 2      // TCX_DROP
	packetHost     = 0      // PACKET_HOST (include/uapi/linux/if_packet.h)
	ethHdrLen      = 14
	ip6HdrLen      = 40
	ip4HdrLen      = 20
	protoIPv6Encap = 41
)

// The ethertypes as a 16-bit load of the frame's octets finds them: in
// network order in memory (0x86dd is 0xdd86 on a little-endian host).
var (
	etherTypeIPv6 = int32(netif.Htons(unix.ETH_P_IPV6))
	etherTypeIPv4 = int32(netif.Htons(unix.ETH_P_IP))
)

// The encapsulation map: an LPM trie keyed by the binding's prefix (home
// address /128 or mobile network prefix), whose value is the binding's
// outer header, ready but for the per-packet fields (traffic class, flow
// label and payload length, or TOS and total length), followed by its
// kind. The decapsulation program looks the same map up with the inner
// packet's binding address and checks the outer addresses against the
// template, so one map describes a binding both ways.
const (
	keySize   = 4 + 16 // struct bpf_lpm_trie_key: prefixlen, address
	valueSize = 48
	valKind   = 40 // u32 tunnel.Kind after the 40-octet template
)

// Counter slots of the per-CPU array: NumDirections x NumReasons as
// tunnel.Counters has them, then one "passed on unchanged" slot per
// direction.
const (
	numCounters = int(tunnel.NumDirections)*int(tunnel.NumReasons) + int(tunnel.NumDirections)
)

func counterSlot(d tunnel.Direction, r tunnel.Reason) int32 {
	return int32(d)*int32(tunnel.NumReasons) + int32(r)
}

func passSlot(d tunnel.Direction) int32 {
	return int32(tunnel.NumDirections)*int32(tunnel.NumReasons) + int32(d)
}

// gen builds one program; labels are made unique per call site.
type gen struct {
	insns    asm.Instructions
	n        int
	pending  string // label for the next instruction
	counters int    // map fd
	table    int    // map fd
}

func (g *gen) emit(ins ...asm.Instruction) {
	if g.pending != "" && len(ins) > 0 {
		ins[0] = ins[0].WithSymbol(g.pending)
		g.pending = ""
	}
	g.insns = append(g.insns, ins...)
}

func (g *gen) label(prefix string) string {
	g.n++
	return fmt.Sprintf("%s_%d", prefix, g.n)
}

// mark names the next instruction.
func (g *gen) mark(label string) {
	if g.pending != "" {
		// Two labels on one place: "ja +0" carries the first.
		nop := asm.Instruction{OpCode: asm.OpCode(asm.JumpClass).SetJumpOp(asm.Ja)}
		g.insns = append(g.insns, nop.WithSymbol(g.pending))
		g.pending = ""
	}
	g.pending = label
}

// count adds one to counter slot (clobbers R0-R5). The slot index goes on
// the stack at fp-28, which neither program uses for anything else.
func (g *gen) count(slot int32) {
	skip := g.label("counted")
	g.emit(
		asm.StoreImm(asm.RFP, -28, int64(slot), asm.Word),
		asm.LoadMapPtr(asm.R1, g.counters),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -28),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, skip),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
	)
	g.mark(skip)
}

// payloadLen sets R3 to the outer payload length from the 16-bit length
// field at R7+off of an outer header of hl octets, of which counted are
// included in the field (IPv4's total length counts its header, IPv6's
// payload length does not), and jumps to bad if the field claims more
// than the packet has after the MAC header, or less than counted.
func (g *gen) payloadLen(off int16, hl, counted int32, bad string) {
	g.emit(
		asm.LoadMem(asm.R3, asm.R7, off, asm.Half),
		asm.HostTo(asm.BE, asm.R3, asm.Half),
		asm.LoadMem(asm.R2, asm.R6, skbLen, asm.Word),
		asm.Add.Imm(asm.R2, -ethHdrLen-(hl-counted)),
		asm.JGT.Reg(asm.R3, asm.R2, bad),
	)
	if counted > 0 {
		g.emit(
			asm.JLT.Imm(asm.R3, counted, bad),
			asm.Add.Imm(asm.R3, -counted),
		)
	}
}

// lookup looks the 16 octets at R7+off (the binding address) up in the
// binding map, building the LPM key at stack offset key, and jumps to
// miss if there is no entry; else R0 points to the value.
func (g *gen) lookup(off, key int16, miss string) {
	g.emit(asm.StoreImm(asm.RFP, key, 128, asm.Word))
	for i := int16(0); i < 16; i += 4 {
		g.emit(
			asm.LoadMem(asm.R1, asm.R7, off+i, asm.Word),
			asm.StoreMem(asm.RFP, key+4+i, asm.R1, asm.Word),
		)
	}
	g.emit(
		asm.LoadMapPtr(asm.R1, g.table),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, int32(key)),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, miss),
	)
}

// exit counts slot and returns ret.
func (g *gen) exit(slot int32, ret int32) {
	g.count(slot)
	g.emit(asm.Mov.Imm(asm.R0, ret), asm.Return())
}

// Stack layout of the encapsulation program.
const (
	encKey = -24 // struct bpf_lpm_trie_key, 20 octets
	encHdr = -72 // the outer header being built, 40 octets
)

// encapInsns is the BPF_PROG_TYPE_LWT_XMIT program of the routes into the
// tunnel: it finds the inner packet's binding (home agent: by destination,
// mobile node: by source, as Tunnel.Encap does), copies the binding's
// outer header template, fills in what depends on the packet and pushes it
// with bpf_lwt_push_encap(BPF_LWT_ENCAP_IP). bpf_lwt_push_ip_encap
// (net/core/lwt_bpf.c) writes the header as given, computes only an IPv4
// header checksum left zero, and marks GSO packets SKB_GSO_IPXIP6 /
// SKB_GSO_IPXIP4 with the segment size lowered by the header, so the
// lengths are ours to set; BPF_LWT_REROUTE then routes the packet on its
// new outer destination. Anything without a binding, or a GSO packet other
// than TCP (which bpf_lwt_push_ip_encap refuses after it has pushed the
// header), goes on unchanged (BPF_OK) through the route's device, the tun
// device of the userspace forwarder.
//
// The outer fields are those of Tunnel.Encap: hop limit / TTL from the
// template, traffic class / TOS from the inner traffic class per cfg (RFC
// 6040 §4.1, RFC 2983), for IPv6 the flow label of tunnel's flowLabel
// (RFC 6438 §3, the same function so both paths label a flow alike), for
// IPv4 DF set and identification 0 (RFC 6864 §4.1: an atomic datagram's
// identification is meaningless; the GSO segmenter numbers segments). The
// inner hop limit is not touched (see Tunnel.Encap).
func encapInsns(cfg tunnel.Config, table, counters int) asm.Instructions {
	g := &gen{table: table, counters: counters}
	keyOff := int16(24) // inner destination
	if cfg.Role == tunnel.RoleMobileNode {
		keyOff = 8 // inner source
	}
	const pass, v4, push = "pass", "v4", "push"
	g.emit(
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R7, asm.R6, skbData, asm.Word),
		asm.LoadMem(asm.R8, asm.R6, skbDataEnd, asm.Word),
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.Add.Imm(asm.R1, ip6HdrLen),
		asm.JGT.Reg(asm.R1, asm.R8, pass),
		asm.LoadMem(asm.R1, asm.R7, 0, asm.Byte),
		asm.And.Imm(asm.R1, 0xf0),
		asm.JNE.Imm(asm.R1, 0x60, pass),
		// A GSO packet must be TCP right after the IPv6 header.
		asm.LoadMem(asm.R1, asm.R6, skbGSOSize, asm.Word),
		asm.JEq.Imm(asm.R1, 0, "nogso"),
		asm.LoadMem(asm.R1, asm.R7, 6, asm.Byte),
		asm.JNE.Imm(asm.R1, 6, pass),
	)
	g.mark("nogso")
	g.lookup(keyOff, encKey, pass)
	for i := int16(0); i < 40; i += 8 {
		g.emit(
			asm.LoadMem(asm.R1, asm.R0, i, asm.DWord),
			asm.StoreMem(asm.RFP, encHdr+i, asm.R1, asm.DWord),
		)
	}
	// R9 = the inner traffic class, then the outer one.
	g.emit(
		asm.LoadMem(asm.R9, asm.R7, 0, asm.Half),
		asm.HostTo(asm.BE, asm.R9, asm.Half),
		asm.RSh.Imm(asm.R9, 4),
		asm.And.Imm(asm.R9, 0xff),
	)
	if cfg.DSCP == tunnel.DSCPFixed {
		g.emit(asm.And.Imm(asm.R9, 3), asm.Or.Imm(asm.R9, int32(cfg.DSCPValue&0x3f)<<2))
	}
	if cfg.ECN == tunnel.ECNCompatibility {
		g.emit(asm.And.Imm(asm.R9, 0xfc))
	}
	g.emit(
		asm.LoadMem(asm.R1, asm.R0, 0, asm.Byte),
		asm.JEq.Imm(asm.R1, 0x45, v4),
		// IPv6: flowLabel of encap.go, on the packet's first 40 octets.
		asm.LoadMem(asm.R1, asm.R7, 8, asm.DWord),
		asm.LoadMem(asm.R2, asm.R7, 16, asm.DWord),
		asm.Xor.Reg(asm.R1, asm.R2),
		asm.LoadMem(asm.R2, asm.R7, 24, asm.DWord),
		asm.LoadMem(asm.R3, asm.R7, 32, asm.DWord),
		asm.Xor.Reg(asm.R2, asm.R3),
		asm.Mov.Reg(asm.R3, asm.R2),
		asm.LSh.Imm(asm.R3, 29),
		asm.RSh.Imm(asm.R2, 35),
		asm.Or.Reg(asm.R2, asm.R3), // y<<29 | y>>35
		asm.Xor.Reg(asm.R1, asm.R2),
		asm.LoadMem(asm.R2, asm.R7, 0, asm.Word),
		asm.HostTo(asm.BE, asm.R2, asm.Word),
		asm.And.Imm(asm.R2, 0xfffff),
		asm.LSh.Imm(asm.R2, 8),
		asm.Xor.Reg(asm.R1, asm.R2),
		asm.LoadMem(asm.R2, asm.R7, 6, asm.Byte),
		asm.Xor.Reg(asm.R1, asm.R2),
		asm.LoadImm(asm.R2, -0x61c8864680b583eb, asm.DWord), // 0x9e3779b97f4a7c15
		asm.Mul.Reg(asm.R1, asm.R2),
		asm.RSh.Imm(asm.R1, 44),
		// Word 0: version 6, traffic class, flow label.
		asm.Mov.Reg(asm.R2, asm.R9),
		asm.LSh.Imm(asm.R2, 20),
		asm.Or.Reg(asm.R1, asm.R2),
		asm.LoadImm(asm.R2, 0x60000000, asm.DWord),
		asm.Or.Reg(asm.R1, asm.R2),
		asm.HostTo(asm.BE, asm.R1, asm.Word),
		asm.StoreMem(asm.RFP, encHdr, asm.R1, asm.Word),
		// Payload length: the whole inner packet. For a GSO packet above
		// 65535 octets the segmenter writes each segment's own.
		asm.LoadMem(asm.R1, asm.R6, skbLen, asm.Word),
		asm.HostTo(asm.BE, asm.R1, asm.Half),
		asm.StoreMem(asm.RFP, encHdr+4, asm.R1, asm.Half),
		asm.Mov.Imm(asm.R4, ip6HdrLen),
		asm.Ja.Label(push),
		// IPv4: TOS and total length; the template has DF, TTL, protocol
		// 41, the addresses and a zero checksum for the kernel to fill.
		asm.StoreMem(asm.RFP, encHdr+1, asm.R9, asm.Byte).WithSymbol(v4),
		asm.LoadMem(asm.R1, asm.R6, skbLen, asm.Word),
		asm.Add.Imm(asm.R1, ip4HdrLen),
		asm.HostTo(asm.BE, asm.R1, asm.Half),
		asm.StoreMem(asm.RFP, encHdr+2, asm.R1, asm.Half),
		asm.Mov.Imm(asm.R4, ip4HdrLen),
		asm.Mov.Reg(asm.R1, asm.R6).WithSymbol(push),
		asm.Mov.Imm(asm.R2, lwtEncapIP),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, encHdr),
		asm.FnLwtPushEncap.Call(),
		asm.JNE.Imm(asm.R0, 0, "failed"),
	)
	g.exit(counterSlot(tunnel.Out, tunnel.ReasonOK), lwtReroute)
	g.mark("failed")
	// The header may be on already: the packet cannot go to the tun device.
	g.exit(counterSlot(tunnel.Out, tunnel.ReasonHeadroom), lwtDrop)
	g.mark(pass)
	g.exit(passSlot(tunnel.Out), lwtOK)
	return g.insns
}

// Stack layout of the decapsulation program (fp-28 is the counter key).
const (
	decKey  = -24 // struct bpf_lpm_trie_key
	decECN  = -32 // the inner header's second octet, ECN combined
	decType = -40 // the EtherType written after a 6in4 decapsulation
)

// decapInsns is the tcx ingress program of the interfaces the tunnel
// packets arrive on. It takes IPv6 in IPv6 and 6in4 packets (no outer
// extension headers or IPv4 options, not fragments) whose inner packet
// belongs to a binding, checks them as Tunnel.Decap does and removes the
// outer header with bpf_skb_adjust_room(BPF_ADJ_ROOM_MAC,
// BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_DECAP_L3_IPV6): the MAC
// header stays, the inner IPv6 header follows it, skb->protocol becomes
// IPv6 and a GRO packet keeps its segment size (the inner segments are
// what the sender made; "upgrading" them by the outer header's size, the
// helper's default, would forward segments larger than they left the
// mobile node). The kernel then forwards or delivers the inner packet as
// if it had arrived so (decrementing the hop limit when it forwards, as
// for the tun device's packets).
//
// Headers a NIC left outside the linear part of the packet are pulled in
// (bpf_skb_pull_data) before they are read.
//
// Rules, with the reasons of Tunnel.Decap (counted per CPU, direction
// In): inner destination or source multicast or link-local
// (ReasonInnerDst, ReasonInnerSrc; the other martians, rarer, go to
// userspace); binding found but another encapsulation (ReasonKind), outer
// source not its care-of address / home agent (ReasonOuterSrc), outer
// destination not our end (ReasonOuterDst); RFC 6040 §4.2 (outer CE over
// inner Not-ECT dropped, ReasonECN; CE and ECT(1) carried into the inner
// header). Everything else is left unchanged for the kernel and the
// userspace forwarder's sockets (TCX_NEXT): no binding for the inner
// address (the forwarder counts ReasonNoBinding), inner IPv4, and inner
// packets whose next header is Hop-by-Hop, Routing, Destination Options
// or Mobility Header, so that signalling keeps going to Signal (RFC 5555
// §4) and type 2 routing headers and home address options are handled as
// today.
func decapInsns(cfg tunnel.Config, table, counters int) asm.Instructions {
	g := &gen{table: table, counters: counters}
	keyOff := int16(8) // inner source
	if cfg.Role == tunnel.RoleMobileNode {
		keyOff = 24 // inner destination
	}
	const next, other, v6, v4 = "next", "other", "v6", "v4"
	// Headers outside the linear part (a NIC's GRO that left them in
	// page fragments) are pulled in first: all the program reads, the
	// outer and inner IPv6 headers, are within the first 94 octets.
	const need = ethHdrLen + 2*ip6HdrLen
	g.emit(
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R7, asm.R6, skbData, asm.Word),
		asm.LoadMem(asm.R8, asm.R6, skbDataEnd, asm.Word),
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.Add.Imm(asm.R1, need),
		asm.JLE.Reg(asm.R1, asm.R8, "linear"),
		asm.LoadMem(asm.R1, asm.R6, skbLen, asm.Word),
		asm.JLT.Imm(asm.R1, need, "linear"),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, need),
		asm.FnSkbPullData.Call(),
		asm.LoadMem(asm.R7, asm.R6, skbData, asm.Word),
		asm.LoadMem(asm.R8, asm.R6, skbDataEnd, asm.Word),
		// Only packets to our own MAC address: not multicast or
		// broadcast (the outer destination is our unicast end point)
		// nor our own packets looped back (PACKET_LOOPBACK).
		asm.LoadMem(asm.R1, asm.R6, skbPktType, asm.Word).WithSymbol("linear"),
		asm.JNE.Imm(asm.R1, packetHost, other),
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.Add.Imm(asm.R1, ethHdrLen),
		asm.JGT.Reg(asm.R1, asm.R8, other),
		asm.LoadMem(asm.R1, asm.R7, 12, asm.Half),
		asm.JEq.Imm(asm.R1, etherTypeIPv6, v6),
		asm.JEq.Imm(asm.R1, etherTypeIPv4, v4),
		// Not a tunnel packet: uncounted, so that the counters say what
		// became of the tunnel's packets only.
		asm.Mov.Imm(asm.R0, tcxNext).WithSymbol(other),
		asm.Return(),
	)
	for _, outer4 := range []bool{false, true} {
		o := int16(ethHdrLen)
		hl := int16(ip6HdrLen)
		if outer4 {
			hl = ip4HdrLen
		}
		in := o + hl // the inner header
		lbl := func(s string) string { return fmt.Sprintf("%s%d", s, hl) }
		g.mark(map[bool]string{false: v6, true: v4}[outer4])
		g.emit(
			asm.Mov.Reg(asm.R1, asm.R7),
			asm.Add.Imm(asm.R1, int32(in)),
			asm.JGT.Reg(asm.R1, asm.R8, other),
		)
		if outer4 {
			g.emit(
				asm.LoadMem(asm.R1, asm.R7, o+9, asm.Byte),
				asm.JNE.Imm(asm.R1, protoIPv6Encap, other),
				asm.LoadMem(asm.R1, asm.R7, o, asm.Byte),
				asm.JNE.Imm(asm.R1, 0x45, next), // options: userspace
				asm.LoadMem(asm.R1, asm.R7, o+6, asm.Half),
				asm.And.Imm(asm.R1, 0xff3f), // MF and offset, as loaded
				asm.JNE.Imm(asm.R1, 0, next),
				asm.LoadMem(asm.R9, asm.R7, o+1, asm.Byte),
			)
			// What ip_rcv, which has not run yet, would drop is left to
			// it: a bad header checksum (RFC 1071 sum of the header
			// must be all ones; byte order does not matter to it) or a
			// total length beyond the packet.
			g.emit(asm.Mov.Imm(asm.R1, 0))
			for i := int16(0); i < ip4HdrLen; i += 2 {
				g.emit(asm.LoadMem(asm.R2, asm.R7, o+i, asm.Half), asm.Add.Reg(asm.R1, asm.R2))
			}
			for range 2 {
				g.emit(
					asm.Mov.Reg(asm.R2, asm.R1),
					asm.RSh.Imm(asm.R2, 16),
					asm.And.Imm(asm.R1, 0xffff),
					asm.Add.Reg(asm.R1, asm.R2),
				)
			}
			g.emit(asm.JNE.Imm(asm.R1, 0xffff, next))
			g.payloadLen(o+2, ip4HdrLen, ip4HdrLen, next)
		} else {
			g.emit(
				asm.LoadMem(asm.R1, asm.R7, o+6, asm.Byte),
				asm.JNE.Imm(asm.R1, protoIPv6Encap, other),
				asm.LoadMem(asm.R1, asm.R7, o, asm.Byte),
				asm.And.Imm(asm.R1, 0xf0),
				asm.JNE.Imm(asm.R1, 0x60, next), // ipv6_rcv drops it
				asm.LoadMem(asm.R9, asm.R7, o+1, asm.Byte),
				asm.RSh.Imm(asm.R9, 4),
			)
			g.payloadLen(o+4, ip6HdrLen, 0, next)
		}
		// R3 is the outer payload length, which must hold the inner
		// packet (Tunnel.Decap's ReasonMalformed; ipv6_rcv would drop
		// it too).
		g.emit(
			asm.And.Imm(asm.R9, 3), // outer ECN
			asm.Mov.Reg(asm.R1, asm.R7),
			asm.Add.Imm(asm.R1, int32(in+ip6HdrLen)),
			asm.JGT.Reg(asm.R1, asm.R8, next),
			asm.LoadMem(asm.R2, asm.R7, in+4, asm.Half),
			asm.HostTo(asm.BE, asm.R2, asm.Half),
			asm.Add.Imm(asm.R2, ip6HdrLen),
			asm.JGT.Reg(asm.R2, asm.R3, next),
			asm.LoadMem(asm.R1, asm.R7, in, asm.Byte),
			asm.And.Imm(asm.R1, 0xf0),
			asm.JNE.Imm(asm.R1, 0x60, next),
			asm.LoadMem(asm.R1, asm.R7, in+6, asm.Byte),
			asm.JEq.Imm(asm.R1, 0, next),   // Hop-by-Hop
			asm.JEq.Imm(asm.R1, 43, next),  // Routing
			asm.JEq.Imm(asm.R1, 60, next),  // Destination Options
			asm.JEq.Imm(asm.R1, 135, next), // Mobility Header
		)
		for _, a := range []struct {
			off    int16
			reason tunnel.Reason
		}{{in + 24, tunnel.ReasonInnerDst}, {in + 8, tunnel.ReasonInnerSrc}} {
			bad, ok := g.label("bad"), g.label("ok")
			g.emit(
				asm.LoadMem(asm.R1, asm.R7, a.off, asm.Byte),
				asm.JEq.Imm(asm.R1, 0xff, bad), // multicast
				asm.JNE.Imm(asm.R1, 0xfe, ok),
				asm.LoadMem(asm.R1, asm.R7, a.off+1, asm.Byte),
				asm.And.Imm(asm.R1, 0xc0),
				asm.JNE.Imm(asm.R1, 0x80, ok), // not fe80::/10
				asm.Ja.Label(bad),
				asm.LoadMem(asm.R1, asm.R7, a.off, asm.DWord).WithSymbol(ok),
				asm.JEq.Imm(asm.R1, 0, next), // ::/64: loopback, v4-compatible, ...: userspace
			)
			g.emit(asm.Ja.Label(lbl("checked" + a.reason.String())))
			g.mark(bad)
			g.exit(counterSlot(tunnel.In, a.reason), tcxDrop)
			g.mark(lbl("checked" + a.reason.String()))
		}
		g.lookup(in+keyOff, decKey, next) // no binding: the forwarder counts it
		g.emit(asm.LoadMem(asm.R1, asm.R0, valKind, asm.Word))
		kind := tunnel.KindIPv6
		if outer4 {
			kind = tunnel.Kind6in4
		}
		g.emit(asm.JNE.Imm(asm.R1, int32(kind), lbl("kind")))
		// Outer source = the template's destination, outer destination =
		// its source.
		type cmp struct {
			pkt, tmpl int16
			size      asm.Size
			reason    tunnel.Reason
		}
		var cmps []cmp
		if outer4 {
			cmps = []cmp{{o + 12, 16, asm.Word, tunnel.ReasonOuterSrc}, {o + 16, 12, asm.Word, tunnel.ReasonOuterDst}}
		} else {
			cmps = []cmp{
				{o + 8, 24, asm.DWord, tunnel.ReasonOuterSrc}, {o + 16, 32, asm.DWord, tunnel.ReasonOuterSrc},
				{o + 24, 8, asm.DWord, tunnel.ReasonOuterDst}, {o + 32, 16, asm.DWord, tunnel.ReasonOuterDst},
			}
		}
		for _, c := range cmps {
			g.emit(
				asm.LoadMem(asm.R1, asm.R7, c.pkt, c.size),
				asm.LoadMem(asm.R2, asm.R0, c.tmpl, c.size),
				asm.JNE.Reg(asm.R1, asm.R2, lbl(c.reason.String())),
			)
		}
		// RFC 6040 §4.2 (DecapECN): R1 = inner ECN; R9 becomes "write
		// decECN".
		keep, set := lbl("keep"), lbl("set")
		g.emit(
			asm.LoadMem(asm.R2, asm.R7, in+1, asm.Byte),
			asm.Mov.Reg(asm.R1, asm.R2),
			asm.RSh.Imm(asm.R1, 4),
			asm.And.Imm(asm.R1, 3),
			asm.And.Imm(asm.R2, 0xcf),
			asm.JEq.Imm(asm.R9, 1, lbl("ect1")),
			asm.JNE.Imm(asm.R9, 3, keep),
			// Outer CE.
			asm.JEq.Imm(asm.R1, 0, lbl("ecn")),
			asm.JEq.Imm(asm.R1, 3, keep),
			asm.Or.Imm(asm.R2, 3<<4),
			asm.Ja.Label(set),
			// Outer ECT(1) over inner ECT(0).
			asm.JNE.Imm(asm.R1, 2, keep).WithSymbol(lbl("ect1")),
			asm.Or.Imm(asm.R2, 1<<4),
			asm.StoreMem(asm.RFP, decECN, asm.R2, asm.Byte).WithSymbol(set),
			asm.Mov.Imm(asm.R9, 1),
			asm.Ja.Label(lbl("adjust")),
			asm.Mov.Imm(asm.R9, 0).WithSymbol(keep),
			asm.Mov.Reg(asm.R1, asm.R6).WithSymbol(lbl("adjust")),
			asm.Mov.Imm(asm.R2, int32(-hl)),
			asm.Mov.Imm(asm.R3, adjRoomMAC),
			asm.Mov.Imm(asm.R4, adjFixedGSO|adjDecapL3IPv6),
			asm.FnSkbAdjustRoom.Call(),
			asm.JNE.Imm(asm.R0, 0, lbl("failed")),
		)
		if outer4 {
			g.emit(
				asm.StoreImm(asm.RFP, decType, int64(etherTypeIPv6), asm.Half),
				asm.Mov.Reg(asm.R1, asm.R6),
				asm.Mov.Imm(asm.R2, 12),
				asm.Mov.Reg(asm.R3, asm.RFP),
				asm.Add.Imm(asm.R3, decType),
				asm.Mov.Imm(asm.R4, 2),
				asm.Mov.Imm(asm.R5, 0),
				asm.FnSkbStoreBytes.Call(),
			)
		}
		g.emit(
			asm.JEq.Imm(asm.R9, 0, lbl("done")),
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.Mov.Imm(asm.R2, ethHdrLen+1),
			asm.Mov.Reg(asm.R3, asm.RFP),
			asm.Add.Imm(asm.R3, decECN),
			asm.Mov.Imm(asm.R4, 1),
			asm.Mov.Imm(asm.R5, recomputeCsum),
			asm.FnSkbStoreBytes.Call(),
		)
		g.mark(lbl("done"))
		g.exit(counterSlot(tunnel.In, tunnel.ReasonOK), tcxPass)
		for _, r := range []tunnel.Reason{tunnel.ReasonKind, tunnel.ReasonOuterSrc, tunnel.ReasonOuterDst, tunnel.ReasonECN} {
			g.mark(lbl(r.String()))
			g.exit(counterSlot(tunnel.In, r), tcxDrop)
		}
		// bpf_skb_adjust_room failed (no memory to unclone): the packet
		// is as it came; the userspace path may still take it.
		g.mark(lbl("failed"))
		g.exit(counterSlot(tunnel.In, tunnel.ReasonHeadroom), tcxNext)
	}
	g.mark(next)
	g.exit(passSlot(tunnel.In), tcxNext)
	return g.insns
}
