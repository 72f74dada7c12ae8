// Package rawsock gets Mobile IPv6 packets past a kernel that has no Mobile
// IPv6 support, in both directions.
//
// Receiving: a Linux kernel built without CONFIG_IPV6_MIP6 answers a
// Mobility Header (protocol 135) with an ICMPv6 Parameter Problem (unknown
// next header), a Home Address option (type 201, whose top bits 11 say
// "discard and report", RFC 8200 §4.2) with a Parameter Problem code 2, and
// a type 2 routing header with Segments Left 1 with a Parameter Problem code
// 0 (RFC 8200 §4.4: unknown routing type). None of them reaches a socket.
// A Listener catches them first: an AF_PACKET socket sees every frame of its
// interface before the IPv6 input path runs, and a classic BPF filter built
// here keeps only the Mobile IPv6 ones so the capture stays small.
//
// Sending: a Sender writes whole IPv6 packets, headers included, on an
// AF_INET6 raw socket with protocol IPPROTO_RAW, which implies
// header-included on Linux, so the kernel never sees the Home Address
// option or the type 2 routing header as something it should build (and
// refuse) itself. BuildMH makes such packets from a mip6 message.
//
// Measured on this project's kernel (6.18, CONFIG_IPV6_MIP6 not set; see
// TestRootCatchAndSend): the header-included raw socket sends packets with
// a Home Address option and with a type 2 routing header unchanged, octet
// for octet, so no AF_PACKET send path is needed; the receiving kernel
// answers a BU with a Home Address option with Parameter Problem code 2
// pointer 46, a BA with a type 2 routing header with code 0 pointer 42, a
// bare Mobility Header with code 1 pointer 6, and delivers none of them;
// the Listener sees all three. Through the socket API, IPV6_RTHDR with a
// type 2 header fails with EINVAL (setsockopt and sendmsg ancillary
// data), while IPV6_DSTOPTS with a Home Address option is accepted.
//
// The filters a daemon gets (MobilityFilter, MIPv6Filter, ...) need the
// daemon's own addresses as destinations, and start by checking the
// frame's packet type: only frames sent to this host's link-layer address
// (and its own outgoing ones) pass, never a promiscuous interface's view
// of other hosts' traffic or a multicast copy.
//
// The Listener's socket is SOCK_DGRAM, not SOCK_RAW: the kernel removes
// the link header before the filter runs, so one filter program (LinkIP)
// serves Ethernet, tun devices and any other link, and the reader gets the
// IPv6 packet itself. The link-layer source is not needed by any daemon
// (replies are routed). The filters are also built for LinkEthernet, for
// SOCK_RAW sockets or pcap-style captures.
package rawsock

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/gomip6/gomip6/mip6"
	"golang.org/x/net/bpf"
)

// Link says where the IP header starts in the frames a filter sees.
type Link int

const (
	// LinkIP: the frame is the IP packet. That is what an AF_PACKET
	// SOCK_DGRAM socket sees on any link (the kernel strips the link
	// header before the filter runs) and what a tun or other raw-IP link
	// carries. The Listener uses it.
	LinkIP Link = iota
	// LinkEthernet: the frame starts with a 14-octet Ethernet II header
	// (an AF_PACKET SOCK_RAW socket on an Ethernet link). 802.1Q-tagged
	// frames are not matched: the kernel strips the tag before AF_PACKET
	// sees the frame unless VLAN offload is off, and a VLAN interface
	// carries untagged frames.
	LinkEthernet
)

// offset returns the offset of the IP header, 0 for an unknown Link.
func (l Link) offset() (uint32, error) {
	switch l {
	case LinkIP:
		return 0, nil
	case LinkEthernet:
		return 14, nil
	}
	return 0, fmt.Errorf("rawsock: unknown link type %d", int(l))
}

// Match selects which Mobile IPv6 packets an IPv6 filter keeps; the bits
// combine with "or".
type Match uint8

const (
	// MatchMH keeps packets whose upper layer is the Mobility Header
	// (RFC 6275 §6.1), directly after the IPv6 header or after extension
	// headers.
	MatchMH Match = 1 << iota
	// MatchHAO keeps packets with a Destination Options header whose
	// first option, at offset 6 of the header, is the Home Address
	// option (RFC 6275 §6.3). See IPv6Filter for the layouts missed.
	MatchHAO
	// MatchRH2 keeps packets with a routing header of type 2 (RFC 6275
	// §6.4).
	MatchRH2

	// MatchAll is MatchMH | MatchHAO | MatchRH2.
	MatchAll = MatchMH | MatchHAO | MatchRH2
)

// MaxFilterHeaders is how many IPv6 extension headers the filter walks
// before it gives up on a packet. Classic BPF has no loops, so the walk is
// unrolled; the Mobile IPv6 chains (RFC 6275 §6.3: routing header, then
// Destination Options with the Home Address option, then Fragment, AH/ESP)
// have at most four, and twice that covers a Hop-by-Hop header and a second
// Destination Options header as well.
const MaxFilterHeaders = 8

// DefaultSnaplen is the number of octets a filter keeps of an accepted
// frame when IPv6Spec.Snaplen is zero: the largest IPv6 packet without a
// jumbo payload plus an Ethernet header, so nothing is cut.
const DefaultSnaplen = 14 + 40 + 65535

// IPv6Spec parameterises IPv6Filter.
type IPv6Spec struct {
	// Link is where the IPv6 header starts in the frame.
	Link Link
	// Match selects the packets to keep; zero is an error.
	Match Match
	// Dst keeps only packets whose IPv6 Destination Address is one of
	// these: our own addresses (a home agent's, a care-of address) so
	// that transit traffic of a router, or a packet for another node seen
	// by a promiscuous interface, is not captured. The address on the
	// wire is meant: for a packet with a type 2 routing header that is
	// the care-of address, not the home address in the header. It must
	// not be empty unless AnyDestination is set.
	Dst []netip.Addr
	// AnyDestination, with an empty Dst, keeps packets whatever their
	// destination: for captures (mip6ctl), never for a daemon. It must be
	// asked for, so that a daemon that forgot its addresses gets an error
	// rather than a filter that matches everything.
	AnyDestination bool
	// AnyPacketType leaves out the check of the frame's packet type
	// (see pktTypeCheck): for running the program in the x/net/bpf VM,
	// which cannot load ancillary data, or on a pcap-style capture.
	AnyPacketType bool
	// Snaplen is how many octets of an accepted frame to keep; zero means
	// DefaultSnaplen.
	Snaplen uint32
}

// The packet type check. Unless told otherwise, the filters start by
// loading the frame's sll_pkttype (skb->pkt_type, through the classic BPF
// ancillary load SKF_AD_OFF + SKF_AD_PKTTYPE, x/net/bpf ExtType) and
// reject the frame unless it is PACKET_HOST (a frame addressed to this
// host's link-layer address) or PACKET_OUTGOING (sent by this host, which
// a Listener sees only when Config.IncludeOutgoing asks for it). So a
// frame for another host that a promiscuous interface picked up
// (PACKET_OTHERHOST) and a multicast or broadcast copy (PACKET_MULTICAST,
// PACKET_BROADCAST) never reach a daemon, whatever IPv6 destination they
// carry: a Mobile IPv6 packet for us comes to our link-layer address.
// (Neighbor Discovery, which does use multicast, has its own filter in
// ndproxy.) The x/net/bpf VM refuses that load, which is why
// IPv6Spec.AnyPacketType exists.

// sll_pkttype values of packet(7) (linux/if_packet.h).
const (
	packetHost     = 0 // PACKET_HOST
	packetOutgoing = 4 // PACKET_OUTGOING
)

// pktTypeCheck appends the packet type check: 4 instructions, the last a
// jump to the reject label.
func pktTypeCheck(a *asm) {
	a.i(bpf.LoadExtension{Num: bpf.ExtType})
	a.jif(bpf.JumpEqual, packetHost, "pkttype_ok", "")
	a.jif(bpf.JumpEqual, packetOutgoing, "pkttype_ok", "")
	a.jmp(lblReject)
	a.label("pkttype_ok")
}

// Labels of the shared epilogue.
const (
	lblAccept = "accept"
	lblReject = "reject"
)

// IPv6Filter returns a classic BPF program that accepts the IPv6 frames
// selected by s and rejects everything else (other protocols, IPv4, frames
// too short for what is looked at).
//
// The program walks up to MaxFilterHeaders extension headers: Hop-by-Hop
// Options, Routing and Destination Options by their Hdr Ext Len in 8-octet
// units (RFC 8200 §4.3-4.6), Fragment as 8 octets (only a first fragment:
// the walk stops at a Fragment Offset other than zero, since the rest of
// the chain is not in the packet) and AH by its Payload Len in 4-octet
// units minus 2 (RFC 4302 §2.2). A Mobility Header is accepted when its
// first 8 octets, the smallest Mobility Header, are in the frame.
//
// The Home Address option is recognised at offset 6 of a Destination
// Options header, the one place RFC 6275 §6.3's alignment rule (8n+6)
// allows for a first option, and where Linux (net/ipv6/mip6.c), KAME, UMIP
// and mip6.AppendHomeAddressDestOpts put it, after a 4-octet PadN. Not
// caught: a Home Address option that follows other options in its header
// (offset 14, 22, ...); no implementation known to us sends that, and
// looking at those offsets would also match option data that happens to
// hold 201. A packet missed that way still reaches the kernel, which
// answers the sender with a Parameter Problem, so the failure is visible
// and not silent. A Home Address option behind ESP is encrypted and cannot
// be matched by anybody but the IPsec layer. Everything the filter accepts
// is a candidate only: the reader runs mip6.WalkIPv6 on it, which checks
// the whole chain, every option and the alignment.
func IPv6Filter(s IPv6Spec) ([]bpf.Instruction, error) {
	L, err := s.Link.offset()
	if err != nil {
		return nil, err
	}
	if s.Match == 0 || s.Match&^MatchAll != 0 {
		return nil, fmt.Errorf("rawsock: invalid match %#x", uint8(s.Match))
	}
	if len(s.Dst) == 0 && !s.AnyDestination {
		return nil, errors.New("rawsock: a filter needs at least one destination address (or AnyDestination)")
	}
	for _, d := range s.Dst {
		if !d.Is6() || d.Is4In6() {
			return nil, fmt.Errorf("rawsock: filter destination %v is not an IPv6 address", d)
		}
	}
	a := newAsm()
	if !s.AnyPacketType {
		pktTypeCheck(a)
	}
	if s.Link == LinkEthernet {
		a.i(bpf.LoadAbsolute{Off: 12, Size: 2})
		a.require(bpf.JumpEqual, 0x86dd)
	}
	// Version 6 in the top nibble: a tun link or a socket bound to all
	// protocols also carries IPv4.
	a.i(bpf.LoadAbsolute{Off: L, Size: 1}, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0})
	a.require(bpf.JumpEqual, 0x60)

	if len(s.Dst) > 0 {
		for i, d := range s.Dst {
			b := d.As16()
			next := fmt.Sprintf("dst_%d", i+1)
			for w := range 4 {
				a.i(bpf.LoadAbsolute{Off: L + 24 + uint32(4*w), Size: 4})
				v := uint32(b[4*w])<<24 | uint32(b[4*w+1])<<16 | uint32(b[4*w+2])<<8 | uint32(b[4*w+3])
				a.jif(bpf.JumpEqual, v, "", next)
			}
			a.jmp("walk")
			a.label(next)
		}
		a.jmp(lblReject)
	}
	a.label("walk")
	// A = Next Header of the IPv6 header, X = offset of the header it
	// names.
	a.i(bpf.LoadAbsolute{Off: L + 6, Size: 1}, bpf.LoadConstant{Dst: bpf.RegX, Val: L + 40})

	// advance moves X past the header at X, whose length is computed by
	// lenIns from A = the octet at X+1, and leaves its Next Header in A.
	advance := func(k int, lenIns ...bpf.Instruction) {
		a.i(bpf.LoadIndirect{Off: 0, Size: 1}, bpf.StoreScratch{Src: bpf.RegA, N: 0})
		a.i(lenIns...)
		a.i(bpf.ALUOpX{Op: bpf.ALUOpAdd}, bpf.TAX{}, bpf.LoadScratch{Dst: bpf.RegA, N: 0})
		a.jmp(fmt.Sprintf("step_%d", k+1))
	}
	for k := range MaxFilterHeaders {
		l := func(s string) string { return fmt.Sprintf("%s_%d", s, k) }
		a.label(l("step"))
		if s.Match&MatchMH != 0 {
			a.jif(bpf.JumpEqual, mip6.ProtoMobility, l("mh"), "")
		}
		a.jif(bpf.JumpEqual, mip6.ProtoDestOpts, l("dopt"), "")
		a.jif(bpf.JumpEqual, mip6.ProtoRouting, l("rt"), "")
		a.jif(bpf.JumpEqual, mip6.ProtoHopByHop, l("ext"), "")
		a.jif(bpf.JumpEqual, mip6.ProtoFragment, l("frag"), "")
		a.jif(bpf.JumpEqual, mip6.ProtoAH, l("ah"), "")
		a.jmp(lblReject)

		if s.Match&MatchMH != 0 {
			// Loading the 8th octet proves the frame holds a whole
			// minimal Mobility Header; a short frame ends the program
			// with 0 (reject).
			a.label(l("mh"))
			a.i(bpf.LoadIndirect{Off: 7, Size: 1})
			a.jmp(lblAccept)
		}
		a.label(l("dopt"))
		if s.Match&MatchHAO != 0 {
			a.i(bpf.LoadIndirect{Off: 6, Size: 1})
			a.jif(bpf.JumpEqual, mip6.OptHomeAddress, l("acc"), l("ext"))
		} else {
			a.jmp(l("ext"))
		}
		a.label(l("rt"))
		if s.Match&MatchRH2 != 0 {
			a.i(bpf.LoadIndirect{Off: 2, Size: 1})
			a.jif(bpf.JumpEqual, mip6.RoutingType2, l("acc"), l("ext"))
		} else {
			a.jmp(l("ext"))
		}
		a.label(l("acc"))
		a.jmp(lblAccept)

		a.label(l("frag"))
		// Fragment Offset is the top 13 bits of octets 2-3 (RFC 8200
		// §4.5): a later fragment has no headers to walk.
		a.i(bpf.LoadIndirect{Off: 2, Size: 2})
		a.jif(bpf.JumpBitsSet, 0xfff8, l("rej"), "")
		advance(k, bpf.LoadConstant{Dst: bpf.RegA, Val: 8})

		a.label(l("ah"))
		advance(k, bpf.LoadIndirect{Off: 1, Size: 1},
			bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 2},
			bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2})

		a.label(l("ext"))
		advance(k, bpf.LoadIndirect{Off: 1, Size: 1},
			bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 1},
			bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 3})

		a.label(l("rej"))
		a.jmp(lblReject)
	}
	a.label(fmt.Sprintf("step_%d", MaxFilterHeaders))
	a.jmp(lblReject)
	epilogue(a, s.Snaplen)
	return a.resolve()
}

// epilogue places the shared accept and reject returns.
func epilogue(a *asm, snaplen uint32) {
	if snaplen == 0 {
		snaplen = DefaultSnaplen
	}
	a.label(lblAccept)
	a.i(bpf.RetConstant{Val: snaplen})
	a.label(lblReject)
	a.i(bpf.RetConstant{Val: 0})
}

// MobilityFilter keeps Mobility Header packets (MatchMH) on link, sent to
// one of dst (at least one) at this host's link-layer address (the packet
// type check).
func MobilityFilter(link Link, dst ...netip.Addr) ([]bpf.Instruction, error) {
	return IPv6Filter(IPv6Spec{Link: link, Match: MatchMH, Dst: dst})
}

// HomeAddressFilter keeps packets with a Home Address option (MatchHAO),
// with MobilityFilter's rules on dst and packet type.
func HomeAddressFilter(link Link, dst ...netip.Addr) ([]bpf.Instruction, error) {
	return IPv6Filter(IPv6Spec{Link: link, Match: MatchHAO, Dst: dst})
}

// RoutingHeader2Filter keeps packets with a type 2 routing header
// (MatchRH2), with MobilityFilter's rules on dst and packet type.
func RoutingHeader2Filter(link Link, dst ...netip.Addr) ([]bpf.Instruction, error) {
	return IPv6Filter(IPv6Spec{Link: link, Match: MatchRH2, Dst: dst})
}

// MIPv6Filter keeps every packet the kernel without Mobile IPv6 would drop:
// Mobility Header, Home Address option or type 2 routing header
// (MatchAll), with MobilityFilter's rules on dst and packet type. It is
// what had, mnd and cnd attach.
func MIPv6Filter(link Link, dst ...netip.Addr) ([]bpf.Instruction, error) {
	return IPv6Filter(IPv6Spec{Link: link, Match: MatchAll, Dst: dst})
}

// ipv4Prologue checks the EtherType (on Ethernet), version 4 and the
// protocol, jumping to reject otherwise.
func ipv4Prologue(a *asm, L uint32, link Link, proto uint8) {
	if link == LinkEthernet {
		a.i(bpf.LoadAbsolute{Off: 12, Size: 2})
		a.jif(bpf.JumpEqual, 0x0800, "", "rej4")
	}
	a.i(bpf.LoadAbsolute{Off: L, Size: 1}, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0})
	a.jif(bpf.JumpEqual, 0x40, "", "rej4")
	a.i(bpf.LoadAbsolute{Off: L + 9, Size: 1})
	a.jif(bpf.JumpEqual, uint32(proto), "", "rej4")
}

// IPv4ProtocolFilter keeps IPv4 packets of protocol proto: 41 for IPv6 in
// IPv4 (RFC 4213, the 6in4 tunnels of RFC 5555 without NAT). Like the IPv6
// filters it starts with the packet type check.
func IPv4ProtocolFilter(link Link, proto uint8) ([]bpf.Instruction, error) {
	return ipv4ProtocolFilter(link, proto, true)
}

func ipv4ProtocolFilter(link Link, proto uint8, pktType bool) ([]bpf.Instruction, error) {
	L, err := link.offset()
	if err != nil {
		return nil, err
	}
	a := newAsm()
	if pktType {
		pktTypeCheck(a)
	}
	ipv4Prologue(a, L, link, proto)
	a.jmp(lblAccept)
	a.label("rej4")
	a.jmp(lblReject)
	epilogue(a, 0)
	return a.resolve()
}

// IPv4UDPPortFilter keeps IPv4 UDP datagrams with port as source or
// destination port: mip6.UDPPortDSMIP (4191) for IPv6 in UDP behind a NAT
// (RFC 5555 §4.1), where the home agent listens on the port and the mobile
// node hears from it. Only first fragments and unfragmented datagrams hold
// the UDP header; later fragments are rejected. Like the IPv6 filters it
// starts with the packet type check.
func IPv4UDPPortFilter(link Link, port uint16) ([]bpf.Instruction, error) {
	return ipv4UDPPortFilter(link, port, true)
}

func ipv4UDPPortFilter(link Link, port uint16, pktType bool) ([]bpf.Instruction, error) {
	L, err := link.offset()
	if err != nil {
		return nil, err
	}
	if port == 0 {
		return nil, errors.New("rawsock: UDP port 0")
	}
	a := newAsm()
	if pktType {
		pktTypeCheck(a)
	}
	ipv4Prologue(a, L, link, mip6.ProtoUDP)
	// Fragment Offset is the low 13 bits of octets 6-7 (RFC 791).
	a.i(bpf.LoadAbsolute{Off: L + 6, Size: 2})
	a.jif(bpf.JumpBitsSet, 0x1fff, "rej4", "")
	// X = 4 * IHL, the IPv4 header length.
	a.i(bpf.LoadMemShift{Off: L})
	a.i(bpf.LoadIndirect{Off: L, Size: 2})
	a.jif(bpf.JumpEqual, uint32(port), "acc4", "")
	a.i(bpf.LoadIndirect{Off: L + 2, Size: 2})
	a.jif(bpf.JumpEqual, uint32(port), "acc4", "rej4")
	a.label("acc4")
	a.jmp(lblAccept)
	a.label("rej4")
	a.jmp(lblReject)
	epilogue(a, 0)
	return a.resolve()
}

// Assemble is bpf.Assemble for the result of a filter function, so that a
// call site can write Assemble(MIPv6Filter(LinkIP, addr)).
func Assemble(ins []bpf.Instruction, err error) ([]bpf.RawInstruction, error) {
	if err != nil {
		return nil, err
	}
	return bpf.Assemble(ins)
}
