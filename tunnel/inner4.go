package tunnel

import (
	"encoding/binary"

	"github.com/gomip6/gomip6/mip6"
)

// This file holds IPv4 inner packets: the traffic of an IPv4 home address
// (Dual-Stack MIPv6, RFC 5555 §3.1.1), which Table.SetIPv4 binds. RFC 5555
// §4.1 carries an IPv4 packet in the UDP encapsulation right after the UDP
// header, the version nibble telling it from IPv6; that is the only kind
// this package does for IPv4 inner packets (IPv4 in IPv6 and IPv4 in IPv4
// would need protocol-4 sockets). A home agent that grants an IPv4 home
// address therefore has the node tunnel in UDP.
//
// What differs from IPv6, and why:
//   - the header checksum: decapsulation combines ECN into the TOS octet
//     (RFC 6040 §4.2) and must then recompute it;
//   - the MTU: an inner packet larger than the tunnel MTU with DF set is
//     dropped (ReasonTooBig). The ICMPv4 Fragmentation Needed that RFC
//     2003 §5.1 asks for needs an IPv4 source address on the inner side,
//     which Config does not have (ErrorSource is IPv6); without it TCP's
//     path MTU discovery over the tunnel relies on the tun device's MTU
//     (the routes' MTU), which the daemon sets to the tunnel MTU. One
//     with DF clear is sent with the outer DF clear as well, and the
//     outer path fragments it (as RFC 4213 §3.2.2 does for IPv6 up to
//     1280).
//   - the relay rules (Decap): an inner source or destination in
//     0.0.0.0/8, 127.0.0.0/8, 169.254.0.0/16 (link-local, RFC 3927),
//     224.0.0.0/4 (multicast) or 240.0.0.0/4 (reserved and the limited
//     broadcast) is dropped, for the reasons given for IPv6 in Decap.

// inner4Len validates the inner IPv4 packet at the start of p and returns
// its total length: version 4, a header length of at least 20 octets, a
// total length covering the header and not longer than p. Trailing octets
// are not part of the packet. The header checksum is the receiver's to
// check (the kernel does, for what the tun device hands it).
func inner4Len(p []byte) (int, bool) {
	if len(p) < IPv4HeaderLen || p[0]>>4 != 4 {
		return 0, false
	}
	ihl := int(p[0]&0x0f) * 4
	n := int(binary.BigEndian.Uint16(p[ip4TotalLen:]))
	if ihl < IPv4HeaderLen || n < ihl || n > len(p) {
		return 0, false
	}
	return n, true
}

// key4 is the table form of the IPv4 address at p[off:off+4]: IPv4-mapped.
func key4(p []byte, off int) [16]byte {
	var k [16]byte
	k[10], k[11] = 0xff, 0xff
	copy(k[12:], p[off:off+4])
	return k
}

// bad4 reports whether the IPv4 address at a[12:] (table form) cannot be
// an inner source or destination: see the relay rules at the top of this
// file.
func bad4(a *[16]byte) bool {
	b0, b1 := a[12], a[13]
	return b0 == 0 || b0 == 127 || b0 >= 224 || (b0 == 169 && b1 == 254)
}

// df4 reports whether the IPv4 header h has DF set.
func df4(h []byte) bool { return binary.BigEndian.Uint16(h[ip4Flags:])&ipv4DF != 0 }

// encap4 is Encap for an IPv4 inner packet at buf[off:].
func (t *Tunnel) encap4(buf []byte, off int, b *Binding) ([]byte, Verdict) {
	inner := buf[off:]
	n, ok := inner4Len(inner)
	if !ok {
		t.Counters.add(Out, ReasonMalformed, len(inner))
		return nil, Verdict{ActionDrop, ReasonMalformed}
	}
	inner = inner[:n]
	action, r := t.check4Out(inner, b)
	if r != ReasonOK {
		t.Counters.add(Out, r, n)
		return nil, Verdict{ActionDrop, r}
	}
	oh := b.kind.Overhead()
	if off < oh {
		t.Counters.add(Out, ReasonHeadroom, n)
		return nil, Verdict{ActionDrop, ReasonHeadroom}
	}
	t.writeOuter4(buf[off-oh:off+n], b, inner, action == ActionSend)
	t.Counters.add(Out, ReasonOK, n)
	return buf[off-oh : off+n], Verdict{action, ReasonOK}
}

// check4Out applies the binding and MTU rules to an outbound IPv4 inner
// packet.
func (t *Tunnel) check4Out(inner []byte, b *Binding) (Action, Reason) {
	switch {
	case b == nil || !b.v4key():
		return ActionDrop, ReasonNoBinding
	case b.kind != KindUDP4:
		return ActionDrop, ReasonKind
	}
	if len(inner) > b.TunnelMTU() {
		if df4(inner) {
			return ActionDrop, ReasonTooBig
		}
		return ActionSendFragmentable, ReasonOK
	}
	return ActionSend, ReasonOK
}

// writeOuter4 writes IPv4 and UDP headers for b in front of the IPv4
// packet inner (RFC 5555 §4.1), with the outer TOS from the inner one
// (RFC 6040 §4.1 normal mode for ECN).
func (t *Tunnel) writeOuter4(pkt []byte, b *Binding, inner []byte, df bool) {
	writeIPv4(pkt, t.cfg.outerTOS(inner[ip4TOS]), t.nextID(), df, t.cfg.HopLimit, mip6.ProtoUDP, &b.local, &b.remote)
	writeUDP4(pkt, b.lport, b.rport, t.cfg.UDPChecksum)
}

// prepare4 is Prepare for an IPv4 inner packet at buf[off:].
func (t *Tunnel) prepare4(buf []byte, off int, b *Binding) ([]byte, Prepared, Verdict) {
	inner := buf[off:]
	n, ok := inner4Len(inner)
	if !ok {
		t.Counters.add(Out, ReasonMalformed, len(inner))
		return nil, Prepared{}, Verdict{ActionDrop, ReasonMalformed}
	}
	inner = inner[:n]
	action, r := t.check4Out(inner, b)
	if r != ReasonOK {
		t.Counters.add(Out, r, n)
		return nil, Prepared{}, Verdict{ActionDrop, r}
	}
	t.Counters.add(Out, ReasonOK, n)
	return inner, Prepared{Kind: b.kind, LocalPort: b.lport, RemotePort: b.rport, TOS: t.cfg.outerTOS(inner[ip4TOS]),
		HopLimit: t.cfg.HopLimit, DontFragment: action == ActionSend}, Verdict{action, ReasonOK}
}

// decap4 is decap for an IPv4 inner packet.
func (t *Tunnel) decap4(inner []byte, o *rawOuter) ([]byte, Verdict) {
	n, ok := inner4Len(inner)
	if !ok {
		t.Counters.add(In, ReasonMalformed, len(inner))
		return nil, Verdict{ActionDrop, ReasonMalformed}
	}
	inner = inner[:n]
	src, dst := key4(inner, ip4Src), key4(inner, ip4Dst)
	r := ReasonOK
	switch {
	case bad4(&src):
		r = ReasonInnerSrc
	case bad4(&dst):
		r = ReasonInnerDst
	default:
		keyOff := ip4Src
		if t.cfg.Role == RoleMobileNode {
			keyOff = ip4Dst
		}
		r = checkBinding(t.table.lookup4(inner, keyOff), o)
	}
	if r != ReasonOK {
		t.Counters.add(In, r, n)
		return nil, Verdict{ActionDrop, r}
	}
	tos := inner[ip4TOS]
	ecn, drop, anomaly := DecapECN(ECN(o.tos&3), ECN(tos&3))
	if anomaly {
		t.Counters.ecnAnomaly.Add(1)
	}
	if drop {
		t.Counters.add(In, ReasonECN, n)
		return nil, Verdict{ActionDrop, ReasonECN}
	}
	if ECN(tos&3) != ecn {
		inner[ip4TOS] = tos&^3 | uint8(ecn)
		ihl := int(inner[0]&0x0f) * 4
		binary.BigEndian.PutUint16(inner[ip4Checksum:], ipv4HeaderChecksum(inner[:ihl]))
	}
	t.Counters.add(In, ReasonOK, n)
	return inner, Verdict{ActionSend, ReasonOK}
}

// lookup4 returns the binding of the IPv4 address at p[off:off+4]: an IPv4
// home address's (SetIPv4), never an IPv6 prefix that happens to cover the
// IPv4-mapped form.
func (t *Table) lookup4(p []byte, off int) *Binding {
	k := key4(p, off)
	if b := t.lookup(&k); b != nil && b.v4key() {
		return b
	}
	return nil
}
