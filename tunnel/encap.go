package tunnel

import (
	"encoding/binary"

	"github.com/gomip6/gomip6/mip6"
)

// Action is what the caller does with the packet a Tunnel method returns.
type Action uint8

// Actions. The zero value drops, so a forgotten case fails closed.
const (
	// ActionDrop: discard; Verdict.Reason says why (already counted).
	ActionDrop Action = iota
	// ActionSend: send the returned packet: an outer packet to the tunnel
	// path (Encap), or an inner packet to the inner side (Decap).
	ActionSend
	// ActionSendFragmentable: send the returned outer packet on a path
	// that may fragment it. The tunnel MTU is below 1280 and the inner
	// packet is not larger than 1280, so RFC 2473 §7.1(a) and RFC 4213
	// §3.2.2 have the outer packet fragmented: the IPv4 header was built
	// with DF clear; an IPv6 outer packet must go out through a socket
	// where the kernel builds the header and fragments (send the payload,
	// pkt[Kind.Overhead():], as with Tunnel.Prepare).
	ActionSendFragmentable
	// ActionReply: the returned packet is an ICMPv6 error (Packet Too
	// Big, or a relayed unreachable) for the inner source: write it to the
	// inner side (the tun device), where the kernel routes it.
	ActionReply
)

// String names the action.
func (a Action) String() string {
	switch a {
	case ActionDrop:
		return "drop"
	case ActionSend:
		return "send"
	case ActionSendFragmentable:
		return "send-fragmentable"
	case ActionReply:
		return "reply"
	}
	return "Action(?)"
}

// Verdict is the outcome of a Tunnel method.
type Verdict struct {
	Action Action
	// Reason is ReasonOK for ActionSend and ActionSendFragmentable, why
	// the packet was dropped for ActionDrop, and why the reply was built
	// for ActionReply (ReasonTooBig for our own Packet Too Big).
	Reason Reason
}

// Output looks up the binding of the inner packet at buf[off:] (its
// destination on a home agent, its source on a mobile node) and
// encapsulates it: see Encap.
func (t *Tunnel) Output(buf []byte, off int) ([]byte, Verdict) {
	if off < 0 || off > len(buf) {
		t.Counters.add(Out, ReasonHeadroom, 0)
		return nil, Verdict{ActionDrop, ReasonHeadroom}
	}
	inner := buf[off:]
	if len(inner) > 0 && inner[0]>>4 == 4 {
		// An IPv4 home address's packet (Table.SetIPv4).
		if len(inner) < IPv4HeaderLen {
			return t.encap4(buf, off, nil)
		}
		keyOff := ip4Dst
		if t.cfg.Role == RoleMobileNode {
			keyOff = ip4Src
		}
		return t.encap4(buf, off, t.table.lookup4(inner, keyOff))
	}
	if _, ok := innerLen(inner); !ok {
		t.Counters.add(Out, ReasonMalformed, len(inner))
		return nil, Verdict{ActionDrop, ReasonMalformed}
	}
	keyOff := ip6Dst
	if t.cfg.Role == RoleMobileNode {
		keyOff = ip6Src
	}
	k := addr16(inner, keyOff)
	return t.Encap(buf, off, t.table.lookup(&k))
}

// Encap encapsulates the inner IPv6 packet at buf[off:] for binding b (an
// IPv4 packet for an IPv4 home address's binding: see inner4.go),
// writing the outer header in place into the headroom buf[off-overhead:off]
// (Headroom is always enough), and returns the outer packet. buf must end
// where the packet ends (pass buf[:off+size]); octets after the inner
// packet's payload length are cut off.
//
// The inner hop limit is not touched: a forwarding node decrements it when
// it routes the packet into the tunnel (RFC 2473 §3.1 treats the tunnel as
// a link), and here that is the kernel, which has already done so before
// the packet reached the tun device; packets this node originates are not
// decremented, correctly. Likewise on decapsulation: the kernel decrements
// when it forwards the packet it read from the tun device.
//
// The outer header: hop limit / TTL from Config (RFC 2473 §6.3); traffic
// class / TOS with the inner DSCP (or a fixed one) and the inner ECN field
// in normal mode (RFC 6040 §4.1); for IPv6 a flow label hashed from the
// inner addresses and flow label, so ECMP on the tunnel path keeps inner
// flows apart and in order (RFC 6438 §3); for IPv4 DF set, a fresh
// identification and the header checksum; for UDP the source and
// destination ports of the binding and a zero checksum unless configured
// (see Config.UDPChecksum).
//
// MTU (RFC 2473 §7.1, RFC 4213 §3.2.2): if the inner packet is larger than
// the tunnel MTU (path MTU - overhead) it is not sent. If it is larger than
// 1280 too, a Packet Too Big with MTU max(tunnel MTU, 1280) is built in
// place for the inner source (ActionReply), subject to RFC 4443 §2.4's
// rate limit and rules. If it is at most 1280 (possible only when the
// tunnel MTU is below 1280, a path MTU under 1320 for IPv6 or 1300 for
// IPv4), it must still get through: the outer packet is built with DF
// clear and ActionSendFragmentable says to let the outer layer fragment.
func (t *Tunnel) Encap(buf []byte, off int, b *Binding) ([]byte, Verdict) {
	if off < 0 || off > len(buf) {
		t.Counters.add(Out, ReasonHeadroom, 0)
		return nil, Verdict{ActionDrop, ReasonHeadroom}
	}
	inner := buf[off:]
	if len(inner) > 0 && inner[0]>>4 == 4 {
		return t.encap4(buf, off, b)
	}
	n, ok := innerLen(inner)
	if !ok {
		t.Counters.add(Out, ReasonMalformed, len(inner))
		return nil, Verdict{ActionDrop, ReasonMalformed}
	}
	inner = inner[:n]
	if b == nil || b.v4key() {
		// (An IPv4 home address's binding carries IPv4 packets only:
		// an IPv6 packet to its IPv4-mapped form is not for it.)
		t.Counters.add(Out, ReasonNoBinding, n)
		return nil, Verdict{ActionDrop, ReasonNoBinding}
	}
	oh := b.kind.Overhead()
	if off < oh {
		t.Counters.add(Out, ReasonHeadroom, n)
		return nil, Verdict{ActionDrop, ReasonHeadroom}
	}
	action := ActionSend
	if tmtu := b.TunnelMTU(); n > tmtu {
		if n > MinIPv6MTU {
			t.Counters.add(Out, ReasonTooBig, n)
			return t.replyInPlace(buf[:off+n], off, icmp6PacketTooBig, 0, uint32(max(tmtu, MinIPv6MTU)), &t.Counters.ptbSent)
		}
		action = ActionSendFragmentable
	}
	t.writeOuter(buf[off-oh:off+n], b, inner, action == ActionSend)
	t.Counters.add(Out, ReasonOK, n)
	return buf[off-oh : off+n], Verdict{action, ReasonOK}
}

// writeOuter writes the outer header(s) for b in front of inner: pkt is
// the whole outer packet, header space first.
func (t *Tunnel) writeOuter(pkt []byte, b *Binding, inner []byte, df bool) {
	tos := t.cfg.outerTOS(ip6TrafficClass(inner))
	switch b.kind {
	case KindIPv6:
		writeIPv6(pkt, tos, flowLabel(inner), uint16(len(inner)), mip6.ProtoIPv6, t.cfg.HopLimit, &b.local, &b.remote)
	case Kind6in4:
		writeIPv4(pkt, tos, t.nextID(), df, t.cfg.HopLimit, mip6.ProtoIPv6, &b.local, &b.remote)
	case KindUDP4:
		writeIPv4(pkt, tos, t.nextID(), df, t.cfg.HopLimit, mip6.ProtoUDP, &b.local, &b.remote)
		writeUDP4(pkt, b.lport, b.rport, t.cfg.UDPChecksum)
	}
}

// nextID returns an IPv4 identification. RFC 6864 §4.1 lets atomic
// datagrams (DF set) carry any value; the fragmentable ones need IDs that
// do not repeat quickly per source, destination and protocol, which one
// counter per tunnel gives.
func (t *Tunnel) nextID() uint16 { return uint16(t.ipid.Add(1)) }

// writeIPv6 writes a fixed IPv6 header into h[:40] (RFC 8200 §3).
func writeIPv6(h []byte, tc uint8, fl uint32, plen uint16, next, hop uint8, src, dst *[16]byte) {
	binary.BigEndian.PutUint32(h[0:4], 6<<28|uint32(tc)<<20|fl&0xfffff)
	binary.BigEndian.PutUint16(h[ip6PayloadLen:], plen)
	h[ip6NextHeader] = next
	h[ip6HopLimit] = hop
	copy(h[ip6Src:ip6Src+16], src[:])
	copy(h[ip6Dst:ip6Dst+16], dst[:])
}

// writeIPv4 writes a 20-octet IPv4 header (RFC 791 §3.1) in front of the
// rest of pkt, whose length gives the total length. src and dst are in
// table form (IPv4-mapped).
func writeIPv4(pkt []byte, tos uint8, id uint16, df bool, ttl, proto uint8, src, dst *[16]byte) {
	h := pkt[:IPv4HeaderLen]
	h[0] = 4<<4 | IPv4HeaderLen/4
	h[ip4TOS] = tos
	binary.BigEndian.PutUint16(h[ip4TotalLen:], uint16(len(pkt)))
	binary.BigEndian.PutUint16(h[ip4ID:], id)
	var flags uint16
	if df {
		flags = ipv4DF
	}
	binary.BigEndian.PutUint16(h[ip4Flags:], flags)
	h[ip4TTL] = ttl
	h[ip4Proto] = proto
	h[ip4Checksum], h[ip4Checksum+1] = 0, 0
	copy(h[ip4Src:ip4Src+4], src[12:])
	copy(h[ip4Dst:ip4Dst+4], dst[12:])
	binary.BigEndian.PutUint16(h[ip4Checksum:], ipv4HeaderChecksum(h))
}

// writeUDP4 writes the UDP header after the IPv4 header of pkt and, if
// asked, its checksum over the IPv4 pseudo-header (RFC 768). A computed
// checksum of zero is sent as all ones, since zero means "none".
func writeUDP4(pkt []byte, sport, dport uint16, sum bool) {
	u := pkt[IPv4HeaderLen:]
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	u[6], u[7] = 0, 0
	if sum {
		c := udp4Checksum(pkt[ip4Src:ip4Src+4], pkt[ip4Dst:ip4Dst+4], u)
		if c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(u[6:], c)
	}
}

// udp4Checksum is the UDP checksum of u (checksum field included as is)
// over the IPv4 pseudo-header of RFC 768: source, destination, zero,
// protocol 17, UDP length.
func udp4Checksum(src, dst, u []byte) uint16 {
	sum := mip6.ChecksumAdd(0, src)
	sum = mip6.ChecksumAdd(sum, dst)
	sum += mip6.ProtoUDP + uint64(len(u))
	return mip6.ChecksumFold(mip6.ChecksumAdd(sum, u))
}

// flowLabel derives the outer flow label from the inner header (RFC 6438
// §3): a multiplicative hash of the addresses, next header and inner flow
// label, folded to 20 bits. The same inner flow always gets the same label.
func flowLabel(inner []byte) uint32 {
	x := binary.LittleEndian.Uint64(inner[ip6Src:]) ^ binary.LittleEndian.Uint64(inner[ip6Src+8:])
	y := binary.LittleEndian.Uint64(inner[ip6Dst:]) ^ binary.LittleEndian.Uint64(inner[ip6Dst+8:])
	x ^= (y<<29 | y>>35) ^ uint64(ip6FlowLabel(inner))<<8 ^ uint64(inner[ip6NextHeader])
	x *= 0x9e3779b97f4a7c15
	return uint32(x >> 44)
}

// Prepared is what a kernel-built send needs besides the payload: the
// socket path where the kernel writes the outer IPv4+UDP (a UDP socket) or
// outer IPv6 header (a raw socket, protocol 41) itself.
type Prepared struct {
	// Endpoint fields, for the destination sockaddr and the source
	// (IP_PKTINFO / IPV6_PKTINFO) of the send.
	Kind                  Kind
	LocalPort, RemotePort uint16
	// TOS is the outer TOS / traffic class octet (IP_TOS / IPV6_TCLASS
	// control message), computed as Encap would.
	TOS uint8
	// HopLimit is the outer TTL / hop limit (IP_TTL / IPV6_HOPLIMIT).
	HopLimit uint8
	// DontFragment is false when the packet must be allowed to fragment
	// (ActionSendFragmentable): send it on the socket with path MTU
	// discovery off (IP_PMTUDISC_DONT / IPV6_DONTFRAG 0).
	DontFragment bool
}

// Prepare is Encap for kernel-built sends: it checks the inner packet at
// pkt against b's tunnel MTU exactly as Encap does and, instead of writing
// an outer header, returns the fields the socket send needs, with the
// payload to send (for every kind the inner packet itself: RFC 5555 §4.1
// puts it right after the UDP header). On ActionReply the returned packet
// is a Packet Too Big built in place in buf[off-48:], as with Encap, so
// the same headroom rule applies.
func (t *Tunnel) Prepare(buf []byte, off int, b *Binding) ([]byte, Prepared, Verdict) {
	if off < 0 || off > len(buf) {
		t.Counters.add(Out, ReasonHeadroom, 0)
		return nil, Prepared{}, Verdict{ActionDrop, ReasonHeadroom}
	}
	inner := buf[off:]
	if len(inner) > 0 && inner[0]>>4 == 4 {
		return t.prepare4(buf, off, b)
	}
	n, ok := innerLen(inner)
	if !ok {
		t.Counters.add(Out, ReasonMalformed, len(inner))
		return nil, Prepared{}, Verdict{ActionDrop, ReasonMalformed}
	}
	inner = inner[:n]
	if b == nil || b.v4key() {
		t.Counters.add(Out, ReasonNoBinding, n)
		return nil, Prepared{}, Verdict{ActionDrop, ReasonNoBinding}
	}
	p := Prepared{
		Kind:         b.kind,
		LocalPort:    b.lport,
		RemotePort:   b.rport,
		TOS:          t.cfg.outerTOS(ip6TrafficClass(inner)),
		HopLimit:     t.cfg.HopLimit,
		DontFragment: true,
	}
	action := ActionSend
	if tmtu := b.TunnelMTU(); n > tmtu {
		if n > MinIPv6MTU {
			t.Counters.add(Out, ReasonTooBig, n)
			pkt, v := t.replyInPlace(buf[:off+n], off, icmp6PacketTooBig, 0, uint32(max(tmtu, MinIPv6MTU)), &t.Counters.ptbSent)
			return pkt, Prepared{}, v
		}
		action = ActionSendFragmentable
		p.DontFragment = false
	}
	t.Counters.add(Out, ReasonOK, n)
	return inner, p, Verdict{action, ReasonOK}
}
