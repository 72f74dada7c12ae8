package tunnel

import (
	"github.com/gomip6/gomip6/mip6"
)

// Numbers fixed by the RFCs. Protocol numbers and the DSMIPv6 port come
// from package mip6 so there is one copy of each code point.
const (
	// IPv6HeaderLen is the fixed IPv6 header (RFC 8200 §3).
	IPv6HeaderLen = 40
	// IPv4HeaderLen is an IPv4 header without options (RFC 791 §3.1). We
	// never send options, and accept them on receipt.
	IPv4HeaderLen = 20
	// UDPHeaderLen is the UDP header (RFC 768).
	UDPHeaderLen = 8
	// ICMPv6HeaderLen is type, code, checksum and the 32-bit parameter of
	// an ICMPv6 error message (RFC 4443 §2.1, §3).
	ICMPv6HeaderLen = 8
	// ICMPv4HeaderLen is the same for ICMPv4 (RFC 792).
	ICMPv4HeaderLen = 8

	// MinIPv6MTU is the IPv6 minimum link MTU (RFC 8200 §5). RFC 4443
	// §3.2 caps an ICMPv6 error at this size, and RFC 2473 §7.1 never
	// reports a smaller tunnel MTU.
	MinIPv6MTU = 1280

	// UDPPortDSMIP is the DSMIPv6 UDP port of RFC 5555 §4.1.
	UDPPortDSMIP = mip6.UDPPortDSMIP

	// DefaultHopLimit is the tunnel hop limit of RFC 2473 §6.3 for a
	// router: the default IPv6 hop limit of IANA's registry, 64. We use the
	// same value for the IPv4 TTL of 6in4 and UDP encapsulation.
	DefaultHopLimit = 64
)

// Encapsulation overheads: the bytes each kind puts in front of the inner
// packet. A tunnel's MTU is the outer path MTU minus this (RFC 2473 §7,
// RFC 4213 §3.2).
const (
	OverheadIPv6 = IPv6HeaderLen                // RFC 2473 §3.1, next header 41
	Overhead6in4 = IPv4HeaderLen                // RFC 4213 §3.5, protocol 41
	OverheadUDP4 = IPv4HeaderLen + UDPHeaderLen // RFC 5555 §4.1
)

// ICMPv6 error types and codes (RFC 4443 §3).
const (
	icmp6DestUnreach     = 1
	icmp6PacketTooBig    = 2
	icmp6TimeExceeded    = 3
	icmp6ParamProblem    = 4
	icmp6Redirect        = 137 // RFC 4861 §4.5; RFC 4443 §2.4(e.2)
	icmp6CodeAddrUnreach = 3   // "address unreachable", RFC 4443 §3.1
	icmp6CodeHopLimit    = 0   // "hop limit exceeded in transit", §3.3
)

// ICMPv4 types and codes (RFC 792, RFC 1191).
const (
	icmp4DestUnreach  = 3
	icmp4TimeExceeded = 11
	icmp4ParamProblem = 12
	icmp4CodeFragNeed = 4 // "fragmentation needed and DF set"
	icmp4CodeTTL      = 0 // "time to live exceeded in transit"
)

// IPv4 header flag bits in the flags/fragment-offset word (RFC 791 §3.1).
const (
	ipv4DF         = 0x4000
	ipv4MF         = 0x2000
	ipv4FragOffset = 0x1fff
)

// Implementation choices, not protocol constants.
const (
	// Headroom is the space a receive buffer should leave in front of the
	// inner packet: the largest encapsulation overhead (40), rounded up so
	// that a virtio-net header (10 octets, IFF_VNET_HDR) still fits in
	// front of the outer header and the outer header stays 8-aligned.
	Headroom = 64

	// DefaultPathMTU is the outer path MTU assumed until the control plane
	// or a Packet Too Big says otherwise: Ethernet.
	DefaultPathMTU = 1500

	// MaxPathMTU is the largest outer packet the IPv4 and IPv6 total and
	// payload length fields can describe without jumbograms.
	MaxPathMTU = 65535

	// minPathMTU4 is the floor for an IPv4 outer path MTU learned from an
	// ICMPv4 Fragmentation Needed. RFC 791 allows 68, but a forged message
	// could then push every packet through fragmentation; Linux uses 552
	// (net.ipv4.route.min_pmtu) for the same reason.
	minPathMTU4 = 552

	// ICMPHopLimit is the hop limit of the ICMPv6 errors we originate.
	ICMPHopLimit = 64

	// DefaultICMPRate and DefaultICMPBurst parametrize the token bucket of
	// RFC 4443 §2.4(f) for the ICMPv6 errors a tunnel originates: about
	// one per 10 ms on average, bursts of 10.
	DefaultICMPRate  = 100
	DefaultICMPBurst = 10

	// maxExtHeaders bounds the extension-header walks so a packet made of
	// nothing but empty extension headers costs a bounded amount of work.
	maxExtHeaders = 16
)
