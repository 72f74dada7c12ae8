package tunnel

import (
	"fmt"
	"sync/atomic"
)

// Reason says what became of a packet: ReasonOK for a forwarded one, or
// why it was dropped. Counters are kept per reason and direction.
type Reason uint8

// Reasons.
const (
	// ReasonOK: forwarded (encapsulated, or decapsulated and passed on).
	ReasonOK Reason = iota
	// ReasonMalformed: the inner packet is not a well-formed IPv6 packet,
	// or the outer headers are inconsistent (lengths, checksum, version).
	ReasonMalformed
	// ReasonNoBinding: no binding owns the address the packet is keyed on
	// (on decapsulation at a home agent: the inner source is not a home
	// address or inside a mobile network prefix of anyone, so it is not
	// owned by any registered node).
	ReasonNoBinding
	// ReasonOuterSrc: the outer source is not the registered care-of
	// address (home agent) or home agent (mobile node) of the binding the
	// inner packet belongs to.
	ReasonOuterSrc
	// ReasonOuterDst: the outer destination is not our end of that
	// binding's tunnel.
	ReasonOuterDst
	// ReasonPort: the UDP source port is not the registered one (RFC 5555
	// NAT mapping).
	ReasonPort
	// ReasonKind: the packet came with another encapsulation than the
	// binding registered.
	ReasonKind
	// ReasonInnerSrc: the inner source is not an address a binding could
	// own (multicast, link-local, unspecified, loopback, IPv4-mapped or
	// -compatible).
	ReasonInnerSrc
	// ReasonInnerDst: the inner destination would make us a relay or a
	// reflector (multicast, link-local, unspecified, loopback, IPv4-mapped
	// or -compatible).
	ReasonInnerDst
	// ReasonECN: outer CE over inner Not-ECT, dropped per RFC 6040 §4.2.
	ReasonECN
	// ReasonFragment: an outer fragment; the kernel reassembles before a
	// raw socket sees the packet, so this only comes from a capture path.
	ReasonFragment
	// ReasonTooBig: the inner packet exceeded the tunnel MTU; a Packet Too
	// Big went back to its source unless suppressed (see the ICMP
	// counters).
	ReasonTooBig
	// ReasonHeadroom: the caller's buffer had too little room in front of
	// the packet for the outer header, or behind it for an ICMP error. A
	// bug in the I/O layer, never the sender's fault.
	ReasonHeadroom
	// ReasonNotOurs: an outer packet of a kind this tunnel does not
	// terminate (another protocol, another UDP port).
	ReasonNotOurs
	// ReasonICMPShort: a received ICMP error quotes too little of our
	// packet to act on (RFC 792 routers quote only 8 octets of payload).
	ReasonICMPShort
	// ReasonICMPMismatch: a received ICMP error quotes a packet that no
	// binding of ours sent: stale or forged, ignored.
	ReasonICMPMismatch
	// ReasonICMPIgnored: a received ICMP error of a type we do not relay
	// (parameter problem about our own outer header, reassembly timeout,
	// informational messages).
	ReasonICMPIgnored

	// NumReasons is the number of reasons, for arrays indexed by Reason.
	NumReasons
)

var reasonNames = [NumReasons]string{
	"ok", "malformed", "no_binding", "outer_src", "outer_dst", "port", "kind",
	"inner_src", "inner_dst", "ecn", "fragment", "too_big", "headroom",
	"not_ours", "icmp_short", "icmp_mismatch", "icmp_ignored",
}

// String returns the reason as a metrics label.
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// Direction is where a counted packet was going.
type Direction uint8

// Directions.
const (
	// Out: from the inner side into the tunnel (encapsulation).
	Out Direction = iota
	// In: from the tunnel to the inner side (decapsulation).
	In
	// ICMP: ICMP errors received from the tunnel path (RFC 2473 §8).
	ICMP
	// NumDirections is the number of directions.
	NumDirections
)

// String returns the direction as a metrics label.
func (d Direction) String() string {
	switch d {
	case Out:
		return "out"
	case In:
		return "in"
	case ICMP:
		return "icmp"
	}
	return fmt.Sprintf("Direction(%d)", uint8(d))
}

// counter is a packet and byte count, on its own cache line: counters of
// different reasons are hit by different cores and must not share lines.
type counter struct {
	packets atomic.Uint64
	bytes   atomic.Uint64
	_       [48]byte
}

func (c *counter) add(n int) {
	c.packets.Add(1)
	c.bytes.Add(uint64(n))
}

// Counters are a tunnel's statistics: packets and bytes per direction and
// reason, and the ICMPv6 errors it originated. All fields are atomics,
// updated on the packet path without locks; read them with Snapshot.
type Counters struct {
	c [NumDirections][NumReasons]counter

	ptbSent      counter       // Packet Too Big sent for our tunnel MTU
	unreachSent  counter       // Destination Unreachable relayed (RFC 2473 §8)
	icmpLimited  atomic.Uint64 // ICMPv6 errors not sent: rate limit
	icmpSuppress atomic.Uint64 // not sent: RFC 4443 §2.4(e) rules
	ecnAnomaly   atomic.Uint64 // RFC 6040 §4.2 "(!!!)" combinations seen
	pmtuLowered  atomic.Uint64 // path MTU reductions applied
}

func (c *Counters) add(d Direction, r Reason, n int) { c.c[d][r].add(n) }

// Count is a packet and byte count.
type Count struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// Snapshot is a point-in-time copy of Counters, for the control API and
// metrics. Each field is read atomically; the set is not one atomic cut,
// which counters do not need.
type Snapshot struct {
	// ByReason is indexed by Direction and Reason.
	ByReason [NumDirections][NumReasons]Count `json:"by_reason"`
	// PTBSent counts Packet Too Big messages sent for our own tunnel MTU
	// or relayed from the tunnel path.
	PTBSent Count `json:"ptb_sent"`
	// UnreachSent counts Destination Unreachable messages relayed.
	UnreachSent Count `json:"unreach_sent"`
	// ICMPRateLimited counts ICMPv6 errors not sent: rate limit (RFC 4443
	// §2.4(f)).
	ICMPRateLimited uint64 `json:"icmp_rate_limited"`
	// ICMPSuppressed counts ICMPv6 errors not sent because RFC 4443
	// §2.4(e) forbids them (about an ICMPv6 error, to a multicast or
	// unspecified source) or no error source address is configured.
	ICMPSuppressed uint64 `json:"icmp_suppressed"`
	// ECNAnomalies counts RFC 6040 §4.2 "(!!!)" combinations.
	ECNAnomalies uint64 `json:"ecn_anomalies"`
	// PathMTULowered counts path MTU reductions applied from ICMP errors.
	PathMTULowered uint64 `json:"path_mtu_lowered"`
}

// Snapshot returns the current values.
func (c *Counters) Snapshot() Snapshot {
	var s Snapshot
	for d := range c.c {
		for r := range c.c[d] {
			s.ByReason[d][r] = Count{c.c[d][r].packets.Load(), c.c[d][r].bytes.Load()}
		}
	}
	s.PTBSent = Count{c.ptbSent.packets.Load(), c.ptbSent.bytes.Load()}
	s.UnreachSent = Count{c.unreachSent.packets.Load(), c.unreachSent.bytes.Load()}
	s.ICMPRateLimited = c.icmpLimited.Load()
	s.ICMPSuppressed = c.icmpSuppress.Load()
	s.ECNAnomalies = c.ecnAnomaly.Load()
	s.PathMTULowered = c.pmtuLowered.Load()
	return s
}

// Get returns the count of one direction and reason.
func (s Snapshot) Get(d Direction, r Reason) Count {
	if d >= NumDirections || r >= NumReasons {
		return Count{}
	}
	return s.ByReason[d][r]
}

// Dropped returns the packets of direction d not forwarded, all reasons.
func (s Snapshot) Dropped(d Direction) Count {
	var t Count
	for r := ReasonOK + 1; r < NumReasons; r++ {
		t.Packets += s.ByReason[d][r].Packets
		t.Bytes += s.ByReason[d][r].Bytes
	}
	return t
}
