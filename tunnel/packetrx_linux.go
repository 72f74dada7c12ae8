//go:build linux

package tunnel

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/gomip6/gomip6/internal/netif"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Receiving GRO super-packets (ForwarderConfig.PacketReceive).
//
// Linux coalesces IPv6-in-IPv6 and 6in4 TCP segments on receipt like
// plain ones (GRO: the ip6ip6 and sit handlers of net/ipv6/ip6_offload.c,
// on by default on real NICs and on a veth in NAPI mode), and a raw
// protocol-41 socket then receives one datagram of up to 64 KiB whose
// inner TCP checksum is only the pseudo-header sum (CHECKSUM_PARTIAL), and
// nothing says so, nor what the segment size was. Written to the tun
// device as it is, such a packet has a wrong checksum and is larger than
// any link: measured on a veth with GRO working, TCP through the tunnel
// fell from 1.5 Gbit/s to about 100 kbit/s.
//
// A packet socket with PACKET_VNET_HDR says both (a virtio_net_hdr in
// front of every packet: GSO type and size, checksum start and offset), so
// the inner super-packet goes into the tun device whole with the same
// header, adjusted for the outer header removed, and the kernel segments
// it again where it must (or delivers it whole): one tun write per 64 KiB.
//
// Packets are split between the packet socket and the raw socket by
// classic BPF filters on both, so each is handled once: the packet socket
// takes outer packets with no fragmentation and more than 1280 octets of
// payload (IPv6: next header 41 right after the fixed header; IPv4: DF
// set, not a fragment), which is where GRO super-packets are; the raw
// socket keeps the rest, in particular what the kernel reassembled from
// outer fragments (RFC 2473 §7.1(a) and RFC 4213 §3.2.2 allow them only
// for inner packets of at most 1280 octets, and IPv4 reassembly leaves DF
// clear), which a packet socket sees only in pieces. A GRO super-packet
// of at most 1280 octets (two small segments) still reaches the raw
// socket; the forwarder cannot tell it apart there.
//
// The packet socket sees packets before the IP layer: the outer header
// checks of Tunnel.Input (version, lengths, IPv4 checksum, no fragments)
// and the binding's anti-spoofing rules (outer source and destination)
// apply as on the raw path, but netfilter's INPUT chain does not.

// vnetHdrLen is the size of struct virtio_net_hdr, which both
// PACKET_VNET_HDR and a tun device with IFF_VNET_HDR (as wireguard's tun
// opens it) put in front of every packet.
const vnetHdrLen = 10

// virtio_net_hdr fields (include/uapi/linux/virtio_net.h).
const (
	vnetFlagNeedsCsum = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM
	vnetGSONone       = 0 // VIRTIO_NET_HDR_GSO_NONE
	vnetGSOECN        = 0x80
)

// packetSplit is the outer payload size above which the packet socket
// takes a packet: every packet the peer may send fragmented carries an
// inner packet of at most 1280 octets.
const packetSplit = MinIPv6MTU

// skfNetOff is SKF_NET_OFF: classic BPF loads at this offset plus k read
// from the network header, wherever the socket's data starts.
const skfNetOff = 0xfff00000 // -0x100000

// packetFilter6 accepts, on an ETH_P_IPV6 packet socket, IPv6 packets to
// this host with next header 41 and a payload over packetSplit. (The
// socket is SOCK_RAW, as PACKET_VNET_HDR requires, so its data starts at
// the link-layer header: the loads are from the network header.)
func packetFilter6() []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.PACKET_HOST, SkipTrue: 5},
		bpf.LoadAbsolute{Off: skfNetOff + ip6NextHeader, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 41, SkipTrue: 3},
		bpf.LoadAbsolute{Off: skfNetOff + ip6PayloadLen, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpLessOrEqual, Val: packetSplit, SkipTrue: 1},
		bpf.RetConstant{Val: 0x40000},
		bpf.RetConstant{Val: 0},
	}
}

// rawFilter6 is the raw protocol-41 IPv6 socket's complement of
// packetFilter6: it drops what the packet socket takes. The raw socket's
// data starts after the IPv6 header, so it reads the header through
// SKF_NET_OFF; a reassembled packet shows its reassembled header.
func rawFilter6() []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadAbsolute{Off: skfNetOff + ip6NextHeader, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 41, SkipTrue: 2},
		bpf.LoadAbsolute{Off: skfNetOff + ip6PayloadLen, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: packetSplit, SkipTrue: 1},
		bpf.RetConstant{Val: 0x40000},
		bpf.RetConstant{Val: 0},
	}
}

// packetFilter4 accepts, on an ETH_P_IP packet socket, IPv4 packets to
// this host with protocol 41, DF set and no fragment bits, longer than
// packetSplit plus a 20-octet header.
func packetFilter4() []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.PACKET_HOST, SkipTrue: 8},
		bpf.LoadAbsolute{Off: skfNetOff + ip4Proto, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 41, SkipTrue: 6},
		bpf.LoadAbsolute{Off: skfNetOff + ip4Flags, Size: 2},
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x7fff}, // DF, MF, offset
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: ipv4DF, SkipTrue: 3},
		bpf.LoadAbsolute{Off: skfNetOff + ip4TotalLen, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpLessOrEqual, Val: packetSplit + IPv4HeaderLen, SkipTrue: 1},
		bpf.RetConstant{Val: 0x40000},
		bpf.RetConstant{Val: 0},
	}
}

// rawFilter4 is the raw protocol-41 IPv4 socket's complement of
// packetFilter4 (a raw IPv4 socket's data starts at the IPv4 header).
// Reassembled packets have DF clear (ip_frag_reasm), so they stay here.
func rawFilter4() []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadAbsolute{Off: ip4Flags, Size: 2},
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x7fff},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: ipv4DF, SkipTrue: 2},
		bpf.LoadAbsolute{Off: ip4TotalLen, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: packetSplit + IPv4HeaderLen, SkipTrue: 1},
		bpf.RetConstant{Val: 0x40000},
		bpf.RetConstant{Val: 0},
	}
}

// attachFilter attaches a classic BPF program to fd.
func attachFilter(fd int, prog []bpf.Instruction) error {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return err
	}
	f := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		f[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]})
}

// newPacketSock opens a SOCK_RAW packet socket for ethertype proto on
// every interface, with PACKET_VNET_HDR, our own sends ignored and filter
// attached before it is bound to the protocol, so that it never queues a
// packet the filter would refuse.
func newPacketSock(f *Forwarder, name string, proto uint16, filter []bpf.Instruction) (*sock, error) {
	s, err := newSock(&f.closed, name, unix.AF_PACKET, unix.SOCK_RAW, 0, func(fd int) error {
		setBuffers(fd, f.cfg.SocketBuffer)
		if err := sockopts(fd,
			[3]int{unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1},
			[3]int{unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1}); err != nil {
			return err
		}
		if err := attachFilter(fd, filter); err != nil {
			return fmt.Errorf("filter: %w", err)
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: netif.Htons(proto)})
	})
	if err == nil {
		f.socks = append(f.socks, s)
	}
	return s, err
}

// openPacketRX opens the packet sockets of PacketReceive and splits the
// traffic with the raw sockets (see the comment at the top of the file).
func (f *Forwarder) openPacketRX() error {
	var err error
	if f.raw6 != nil {
		if err := attachFilter(f.raw6.fd, rawFilter6()); err != nil {
			return fmt.Errorf("tunnel: raw6 filter: %w", err)
		}
		if f.pkt6, err = newPacketSock(f, "packet6", unix.ETH_P_IPV6, packetFilter6()); err != nil {
			return err
		}
	}
	if f.raw4 != nil {
		if err := attachFilter(f.raw4.fd, rawFilter4()); err != nil {
			return fmt.Errorf("tunnel: raw4 filter: %w", err)
		}
		if f.pkt4, err = newPacketSock(f, "packet4", unix.ETH_P_IP, packetFilter4()); err != nil {
			return err
		}
	}
	return nil
}

// linkHeaderLen is the link-layer header in front of the network header
// that a SOCK_RAW packet socket returns, by the interface's hardware type
// (sll_hatype), and whether we know it.
func linkHeaderLen(hatype uint16) (int, bool) {
	switch hatype {
	case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK:
		return 14, true
	case unix.ARPHRD_NONE, unix.ARPHRD_RAWIP, unix.ARPHRD_TUNNEL, unix.ARPHRD_TUNNEL6, unix.ARPHRD_SIT, unix.ARPHRD_IPGRE:
		return 0, true
	}
	return 0, false
}

// vnetPacket handles message i of a packet-socket receive: a
// virtio_net_hdr, the link-layer header and a whole outer IP packet,
// which Tunnel.Input's checks (and the signalling check) decapsulate. A
// plain packet joins the tun write batch; a GSO super-packet, or one whose
// checksum the kernel left to finish, is written on its own with the
// header, adjusted.
func (p *rxPath) vnetPacket(i, n int) {
	buf := p.bufs[i]
	sll := (*unix.RawSockaddrLinklayer)(unsafe.Pointer(&p.m.Names[i]))
	ll, ok := linkHeaderLen(sll.Hatype)
	if !ok || n < vnetHdrLen+ll {
		p.f.t.Counters.add(In, ReasonMalformed, n)
		return
	}
	h := buf[Headroom-vnetHdrLen : Headroom]
	data := buf[Headroom+ll : Headroom+n-vnetHdrLen]
	p.f.ctr.sockPackets.Add(1)
	var o rawOuter
	inner, r := parseOuterRaw(&o, data)
	if r != ReasonOK {
		p.f.t.Counters.add(In, r, len(data))
		return
	}
	if p.f.signal(inner, &o) {
		return
	}
	outerLen := ll + len(data) - len(inner) // csum_start counts from the link header
	inner, v := p.f.t.decap(inner, &o)
	if v.Action != ActionSend {
		return
	}
	if h[0]&vnetFlagNeedsCsum == 0 && h[1]&^vnetGSOECN == vnetGSONone {
		p.pass(buf, inner, v)
		return
	}
	// virtio_net_hdr: flags, gso_type, hdr_len, gso_size, csum_start,
	// csum_offset, the 16-bit ones in the host's order (legacy virtio,
	// as both the packet socket and tun use without TUNSETVNETLE/BE).
	ne := binary.NativeEndian
	csumStart := int(ne.Uint16(h[6:])) - outerLen
	if h[0]&vnetFlagNeedsCsum != 0 && (csumStart < 0 || csumStart+int(ne.Uint16(h[8:]))+2 > len(inner)) {
		p.f.t.Counters.add(In, ReasonMalformed, len(inner))
		return
	}
	w, ok := writeSlice(buf, inner, vnetHdrLen)
	if !ok {
		return
	}
	hdrLen := max(int(ne.Uint16(h[2:]))-outerLen, 0)
	gsoSize := ne.Uint16(h[4:])
	csumOff := ne.Uint16(h[8:])
	flags, gsoType := h[0], h[1]
	// w[:vnetHdrLen] overlaps the end of the outer header, which is no
	// longer needed: everything was read from h first.
	w[0], w[1] = flags, gsoType
	ne.PutUint16(w[2:], uint16(hdrLen))
	ne.PutUint16(w[4:], gsoSize)
	ne.PutUint16(w[6:], uint16(max(csumStart, 0)))
	ne.PutUint16(w[8:], csumOff)
	// Keep the order of the batch: what was queued before goes first.
	p.flush()
	p.f.ctr.tunWrites.Add(1)
	p.f.ctr.tunWritten.Add(1)
	p.f.ctr.gsoWrites.Add(1)
	if _, err := p.file.Write(w); err != nil {
		p.f.ctr.tunWriteErr.Add(1)
	}
}

// vnetRoom is what a packet-socket receive buffer has beyond bufSize: the
// link-layer header in front of the largest IP packet.
const vnetRoom = 32
