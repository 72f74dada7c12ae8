package tunnel

import (
	"encoding/binary"
	"net/netip"

	"github.com/gomip6/gomip6/mip6"
)

// maxQuote is how much of the invoking packet an ICMPv6 error carries: as
// much as fits without the error exceeding the minimum IPv6 MTU (RFC 4443
// §3.1-3.4: "as much of invoking packet as possible without the ICMPv6
// packet exceeding the minimum IPv6 MTU").
const maxQuote = MinIPv6MTU - IPv6HeaderLen - ICMPv6HeaderLen

// errorHeaderLen is what an ICMPv6 error puts in front of the quote.
const errorHeaderLen = IPv6HeaderLen + ICMPv6HeaderLen

// BuildICMPv6Error writes into dst an IPv6 packet from src to the source
// of the invoking packet, carrying an ICMPv6 error message (RFC 4443 §2.1)
// of the given type, code and 32-bit parameter (the MTU of a Packet Too
// Big, §3.2) that quotes as much of invoking as fits in 1280 octets, with
// the checksum of RFC 4443 §2.3 over the pseudo-header. It returns the
// packet, a prefix of dst, and false if dst cannot hold the header and the
// invoking packet's fixed header.
//
// invoking may overlap dst: with invoking == dst[48:48+n] the quote is
// already in place and nothing is copied (how Encap answers in place).
// The caller applies RFC 4443 §2.4's rules; see Tunnel for that.
func BuildICMPv6Error(dst []byte, src netip.Addr, typ, code uint8, param uint32, invoking []byte) ([]byte, bool) {
	q := min(len(invoking), maxQuote, len(dst)-errorHeaderLen)
	if q < IPv6HeaderLen || !src.Is6() {
		return nil, false
	}
	// Move the quote first (copy is memmove), then read the address from
	// its new place: whatever the overlap, nothing is read after being
	// overwritten.
	copy(dst[errorHeaderLen:errorHeaderLen+q], invoking[:q])
	to := addr16(dst, errorHeaderLen+ip6Src)
	from := src.As16()
	n := ICMPv6HeaderLen + q
	writeIPv6(dst, 0, 0, uint16(n), mip6.ProtoICMPv6, ICMPHopLimit, &from, &to)
	m := dst[IPv6HeaderLen : IPv6HeaderLen+n]
	m[0], m[1], m[2], m[3] = typ, code, 0, 0
	binary.BigEndian.PutUint32(m[4:8], param)
	binary.BigEndian.PutUint16(m[2:4], icmp6Checksum(&from, &to, m))
	return dst[:IPv6HeaderLen+n], true
}

// icmp6Checksum is the ICMPv6 checksum of m (checksum field as is) over
// the pseudo-header of RFC 8200 §8.1 with next header 58.
func icmp6Checksum(src, dst *[16]byte, m []byte) uint16 {
	sum := mip6.ChecksumAdd(0, src[:])
	sum = mip6.ChecksumAdd(sum, dst[:])
	sum += uint64(len(m)) + mip6.ProtoICMPv6
	return mip6.ChecksumFold(mip6.ChecksumAdd(sum, m))
}

// mayAnswer applies RFC 4443 §2.4(e) to an invoking packet: no error
// about an ICMPv6 error or a Redirect (e.1, e.2), none about a packet sent
// to a multicast address except Packet Too Big (e.3), none to a source
// that does not identify one node (e.6: unspecified, multicast; we add
// link-local, loopback and IPv4-mapped, which cannot be reached through
// the routing we would hand the error to).
func mayAnswer(invoking []byte, typ uint8) bool {
	if len(invoking) < IPv6HeaderLen || invoking[0]>>4 != 6 {
		return false
	}
	src := addr16(invoking, ip6Src)
	if badUnicast16(&src) {
		return false
	}
	if dst := addr16(invoking, ip6Dst); typ != icmp6PacketTooBig && isMulticast16(&dst) {
		return false
	}
	proto, off, ok := upperLayer(invoking)
	if ok && proto == mip6.ProtoICMPv6 {
		if off >= len(invoking) {
			return false // ICMPv6 header cut off: assume the worst
		}
		if t := invoking[off]; t < 128 || t == icmp6Redirect {
			return false
		}
	}
	return true
}

// reply builds an ICMPv6 error for the invoking packet into dst, if RFC
// 4443 §2.4 and the rate limit allow, and counts it in ctr. The verdict
// carries reason either way (already counted by the caller).
func (t *Tunnel) reply(dst []byte, typ, code uint8, param uint32, invoking []byte, reason Reason, ctr *counter) ([]byte, Verdict) {
	if t.noICMP || !mayAnswer(invoking, typ) {
		t.Counters.icmpSuppress.Add(1)
		return nil, Verdict{ActionDrop, reason}
	}
	if !t.limiter.Allow(t.cfg.Clock()) {
		t.Counters.icmpLimited.Add(1)
		return nil, Verdict{ActionDrop, reason}
	}
	pkt, ok := BuildICMPv6Error(dst, t.cfg.ErrorSource, typ, code, param, invoking)
	if !ok {
		t.Counters.add(Out, ReasonHeadroom, 0)
		return nil, Verdict{ActionDrop, ReasonHeadroom}
	}
	ctr.add(len(pkt))
	return pkt, Verdict{ActionReply, reason}
}

// replyInPlace answers the packet at buf[off:] with an ICMPv6 error built
// in the 48 octets of headroom in front of it.
func (t *Tunnel) replyInPlace(buf []byte, off int, typ, code uint8, param uint32, ctr *counter) ([]byte, Verdict) {
	if off < errorHeaderLen {
		t.Counters.add(Out, ReasonHeadroom, 0)
		return nil, Verdict{ActionDrop, ReasonHeadroom}
	}
	return t.reply(buf[off-errorHeaderLen:], typ, code, param, buf[off:], ReasonTooBig, ctr)
}

// TunnelError is an ICMP error received from the tunnel path (RFC 2473
// §8, RFC 4213 §3.4) about one of our outer packets, as ParseTunnelError
// finds it. Inner and Quote alias the message.
type TunnelError struct {
	// ICMPv4 is set for an ICMPv4 message (6in4, UDP), clear for ICMPv6.
	ICMPv4 bool
	// Type and Code are the message's.
	Type, Code uint8
	// MTU is the reported MTU of a Packet Too Big (RFC 4443 §3.2) or the
	// next-hop MTU of a Fragmentation Needed (RFC 1191 §4, 0 from a
	// router older than that); 0 for other messages.
	MTU int
	// Kind is the encapsulation of the quoted outer packet.
	Kind Kind
	// OuterSrc and OuterDst are the quoted outer header's addresses: our
	// end and the remote end. SrcPort and DstPort its UDP ports.
	OuterSrc, OuterDst netip.Addr
	SrcPort, DstPort   uint16
	// OuterLen is the quoted outer packet's length as its header states
	// it (not the quoted length, which is usually shorter).
	OuterLen int
	// Inner is the quoted inner IPv6 packet, truncated where the quote
	// ends; nil when less than its fixed header was quoted.
	Inner []byte
	// Quote is the whole quoted packet, outer header first.
	Quote []byte
}

// ParseTunnelError parses an ICMP error message, msg starting at the ICMP
// type octet (what a raw ICMPv6 socket delivers; for ICMPv4 strip the IPv4
// header first). It returns ReasonOK with the fields filled in when msg is
// an error quoting an IPv6-in-IPv6, 6in4 or IPv6-in-UDP packet;
// ReasonICMPIgnored for non-error types, ReasonNotOurs when the quoted
// packet is no tunnel packet, ReasonICMPShort or ReasonMalformed when too
// little or nonsense is quoted. It never allocates.
//
// The ICMPv4 checksum is verified (a raw IPv4 socket delivers messages
// unverified); the ICMPv6 one is not, because the kernel verifies it
// before a raw ICMPv6 socket sees the message and it needs the IPv6
// addresses.
func ParseTunnelError(msg []byte, v4 bool) (TunnelError, Reason) {
	te := TunnelError{ICMPv4: v4}
	if len(msg) < ICMPv6HeaderLen {
		return te, ReasonMalformed
	}
	te.Type, te.Code = msg[0], msg[1]
	param := binary.BigEndian.Uint32(msg[4:8])
	q := msg[8:]
	te.Quote = q
	if v4 {
		if mip6.ChecksumFold(mip6.ChecksumAdd(0, msg)) != 0 {
			return te, ReasonMalformed
		}
		switch te.Type {
		case icmp4DestUnreach, icmp4TimeExceeded, icmp4ParamProblem:
		default:
			return te, ReasonICMPIgnored
		}
		if te.Type == icmp4DestUnreach && te.Code == icmp4CodeFragNeed {
			te.MTU = int(param & 0xffff) // RFC 1191 §4: low 16 bits
		}
		return parseQuoted4(te, q)
	}
	switch te.Type {
	case icmp6DestUnreach, icmp6PacketTooBig, icmp6TimeExceeded, icmp6ParamProblem:
	default:
		return te, ReasonICMPIgnored
	}
	if te.Type == icmp6PacketTooBig {
		te.MTU = int(min(param, MaxPathMTU))
	}
	if len(q) < IPv6HeaderLen {
		return te, ReasonICMPShort
	}
	if q[0]>>4 != 6 {
		return te, ReasonMalformed
	}
	te.OuterSrc = netip.AddrFrom16(addr16(q, ip6Src))
	te.OuterDst = netip.AddrFrom16(addr16(q, ip6Dst))
	te.OuterLen = IPv6HeaderLen + int(binary.BigEndian.Uint16(q[ip6PayloadLen:]))
	proto, off, ok := upperLayer(q)
	if !ok {
		return te, ReasonICMPShort
	}
	if proto != mip6.ProtoIPv6 {
		return te, ReasonNotOurs
	}
	te.Kind = KindIPv6
	te.Inner = quotedInner(q[off:])
	return te, ReasonOK
}

// parseQuoted4 parses the IPv4 packet quoted by an ICMPv4 error.
func parseQuoted4(te TunnelError, q []byte) (TunnelError, Reason) {
	if len(q) < IPv4HeaderLen {
		return te, ReasonICMPShort
	}
	ihl := int(q[0]&0x0f) * 4
	if q[0]>>4 != 4 || ihl < IPv4HeaderLen {
		return te, ReasonMalformed
	}
	if len(q) < ihl {
		return te, ReasonICMPShort
	}
	if binary.BigEndian.Uint16(q[ip4Flags:])&ipv4FragOffset != 0 {
		return te, ReasonICMPShort // a later fragment: no header to see
	}
	te.OuterSrc = netip.AddrFrom4([4]byte(q[ip4Src : ip4Src+4]))
	te.OuterDst = netip.AddrFrom4([4]byte(q[ip4Dst : ip4Dst+4]))
	te.OuterLen = int(binary.BigEndian.Uint16(q[ip4TotalLen:]))
	switch q[ip4Proto] {
	case mip6.ProtoIPv6:
		te.Kind = Kind6in4
		te.Inner = quotedInner(q[ihl:])
	case mip6.ProtoUDP:
		u := q[ihl:]
		if len(u) < UDPHeaderLen {
			return te, ReasonICMPShort
		}
		te.SrcPort = binary.BigEndian.Uint16(u[0:])
		te.DstPort = binary.BigEndian.Uint16(u[2:])
		if te.SrcPort != UDPPortDSMIP && te.DstPort != UDPPortDSMIP {
			return te, ReasonNotOurs
		}
		te.Kind = KindUDP4
		te.Inner = quotedInner(u[UDPHeaderLen:])
	default:
		return te, ReasonNotOurs
	}
	return te, ReasonOK
}

// quotedInner returns p if it starts with a whole fixed IPv6 header.
func quotedInner(p []byte) []byte {
	if len(p) < IPv6HeaderLen || p[0]>>4 != 6 {
		return nil
	}
	return p
}

// plateaus are RFC 1191 §7's table of common MTUs, for a Fragmentation
// Needed from a router that leaves the next-hop MTU at zero.
var plateaus = [...]int{32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68}

// RelayError acts on a parsed ICMP error from the tunnel path (RFC 2473
// §8): it finds the binding whose packet the error quotes, checks that the
// quoted outer header is exactly that binding's tunnel (otherwise the
// message is stale or forged: anyone can send ICMP, and without the check
// a forged one would let a third party lower our MTU or make us send
// errors), and decides:
//
//   - Packet Too Big / Fragmentation Needed: if the MTU it reports is
//     plausible (see plausibleMTU), lower the binding's path MTU (never
//     below the kind's floor, never up) for PathMTUAge (Table.LowerPathMTU,
//     Table.AgePathMTU); if the quoted inner packet
//     no longer fits the tunnel MTU and is larger than 1280, relay a
//     Packet Too Big with MTU max(tunnel MTU, 1280) to the inner source,
//     as Encap would have sent had it known (RFC 2473 §7.1, §8).
//   - Destination Unreachable, Time Exceeded in transit (ICMPv6 or
//     ICMPv4): relay an ICMPv6 Destination Unreachable, code 3 (address
//     unreachable), to the inner source: RFC 2473 §8.1 reports every
//     failure of the tunnel link to the original source as the link's
//     destination being unreachable (the tunnel is one hop for it).
//   - Anything else (Parameter Problem: about the outer header we built,
//     not the source's; reassembly time exceeded): counted and ignored.
//
// The relayed error quotes te.Inner and is built into dst (which may be
// the received message's buffer: BuildICMPv6Error handles overlap), with
// the same RFC 4443 §2.4 rules and rate limit as our own errors.
func (t *Tunnel) RelayError(dst []byte, te *TunnelError) ([]byte, Verdict) {
	v, pkt := t.relay(dst, te)
	t.Counters.add(ICMP, v.Reason, len(te.Quote)+ICMPv6HeaderLen)
	return pkt, v
}

func (t *Tunnel) relay(dst []byte, te *TunnelError) (Verdict, []byte) {
	drop := func(r Reason) (Verdict, []byte) { return Verdict{ActionDrop, r}, nil }
	if te.Inner == nil {
		return drop(ReasonICMPShort)
	}
	keyOff := ip6Dst
	if t.cfg.Role == RoleMobileNode {
		keyOff = ip6Src
	}
	k := addr16(te.Inner, keyOff)
	b := t.table.lookup(&k)
	if b == nil || b.kind != te.Kind || b.local != te.OuterSrc.As16() || b.remote != te.OuterDst.As16() ||
		(b.kind == KindUDP4 && (b.lport != te.SrcPort || b.rport != te.DstPort)) {
		return drop(ReasonICMPMismatch)
	}
	tooBig := (!te.ICMPv4 && te.Type == icmp6PacketTooBig) ||
		(te.ICMPv4 && te.Type == icmp4DestUnreach && te.Code == icmp4CodeFragNeed)
	unreach := (!te.ICMPv4 && (te.Type == icmp6DestUnreach || te.Type == icmp6TimeExceeded && te.Code == icmp6CodeHopLimit)) ||
		(te.ICMPv4 && (te.Type == icmp4DestUnreach || te.Type == icmp4TimeExceeded && te.Code == icmp4CodeTTL))
	switch {
	case tooBig:
		mtu := te.MTU
		if mtu == 0 && te.ICMPv4 {
			for _, p := range plateaus {
				if p < te.OuterLen {
					mtu = p
					break
				}
			}
		}
		if !plausibleMTU(te, mtu) {
			return drop(ReasonICMPIgnored)
		}
		if t.table.LowerPathMTU(b, mtu) {
			t.Counters.pmtuLowered.Add(1)
		}
		n := IPv6HeaderLen + int(binary.BigEndian.Uint16(te.Inner[ip6PayloadLen:]))
		tmtu := b.TunnelMTU()
		if n <= tmtu || n <= MinIPv6MTU {
			return Verdict{ActionDrop, ReasonOK}, nil // learned; nothing to tell
		}
		pkt, v := t.reply(dst, icmp6PacketTooBig, 0, uint32(max(tmtu, MinIPv6MTU)), te.Inner, ReasonOK, &t.Counters.ptbSent)
		return v, pkt
	case unreach:
		pkt, v := t.reply(dst, icmp6DestUnreach, icmp6CodeAddrUnreach, 0, te.Inner, ReasonOK, &t.Counters.unreachSent)
		return v, pkt
	}
	return drop(ReasonICMPIgnored)
}

// minIPv4MTU is the smallest MTU an IPv4 link may have (RFC 791 §3.2,
// RFC 1191 §3: "never reduce ... below 68").
const minIPv4MTU = 68

// plausibleMTU reports whether a Packet Too Big or Fragmentation Needed
// reporting mtu about te's quoted packet may be believed:
//
//   - ICMPv6: not below the IPv6 minimum link MTU. RFC 8201 §4: a node
//     receiving a Packet Too Big "reporting a next-hop MTU that is less
//     than the IPv6 minimum link MTU" must discard it (and not clamp it:
//     no IPv6 link is that small, so the message is bogus).
//   - ICMPv4: not below 68, the smallest IPv4 MTU (RFC 791; RFC 1191 §3
//     forbids going lower). From 68 up it is taken, and LowerPathMTU
//     clamps it to our floor of 552 (minPathMTU4).
//   - Either: below the length of the quoted outer packet. A link whose
//     MTU is at least that long did not refuse that packet, so the
//     message does not describe a packet we sent over this path.
//
// 0 (no usable MTU) is never plausible.
func plausibleMTU(te *TunnelError, mtu int) bool {
	floor := MinIPv6MTU
	if te.ICMPv4 {
		floor = minIPv4MTU
	}
	return mtu >= floor && mtu < te.OuterLen
}

// HandleICMP is ParseTunnelError followed by RelayError for what a raw
// ICMP socket delivers: for ICMPv6 (v4 false) the message itself, for
// ICMPv4 the whole IPv4 packet, whose header is skipped here. Messages
// that do not parse as an error about one of our tunnel packets are
// counted in the ICMP direction too.
func (t *Tunnel) HandleICMP(dst, pkt []byte, v4 bool) ([]byte, Verdict) {
	msg := pkt
	if v4 {
		if len(pkt) < IPv4HeaderLen || pkt[0]>>4 != 4 || int(pkt[0]&0x0f)*4 < IPv4HeaderLen || int(pkt[0]&0x0f)*4 > len(pkt) {
			t.Counters.add(ICMP, ReasonMalformed, len(pkt))
			return nil, Verdict{ActionDrop, ReasonMalformed}
		}
		msg = pkt[int(pkt[0]&0x0f)*4:]
	}
	te, r := ParseTunnelError(msg, v4)
	if r != ReasonOK {
		t.Counters.add(ICMP, r, len(msg))
		return nil, Verdict{ActionDrop, r}
	}
	return t.RelayError(dst, &te)
}
