// Package rodata is the data path of route optimization (RFC 6275 §6.3,
// §6.4, §9.3, §11.3) that the daemons share: the per-packet header work a
// kernel without CONFIG_IPV6_MIP6 cannot do, and the tun device both
// daemons divert packets through.
//
// The mobile node's side is here: InsertHomeAddress (a packet from the
// home address leaves from the care-of address, §11.3.1) and
// RestoreRoutingHeader2 (a packet routed to the care-of address with a
// type 2 routing header is handed to the home address, §11.3.3). The
// correspondent's mirror operations, which the correspondent core tests
// against its binding cache, are correspondent.RestoreHomeAddress and
// correspondent.InsertRoutingHeader2. Everything here works in place on
// the caller's buffer and allocates nothing.
//
// The batched I/O both daemons' data paths run on is here too (Linux),
// one system call per batch rather than per packet, as the tunnel
// forwarder's: OpenTun creates the tun device with virtio-net headers and
// segmentation offloads, whose Read splits a local TCP flow's
// super-packets and drains what else is queued, and whose TunWriter
// writes a batch with the packets of one flow coalesced (GRO); Sender
// sends a batch of whole packets with one sendmmsg, on a packet socket
// to the next hop's Ethernet address when the kernel knows it, else on a
// header-included raw socket. The packet sockets that catch the packets
// (internal/rawsock.Listener) already receive with recvmmsg.
package rodata

import (
	"net/netip"

	"github.com/gomip6/gomip6/mip6"
)

// Error is an error of this package; each wraps a mip6 sentinel, so
// errors.Is(err, mip6.ErrInvalid) works too.
type Error struct {
	msg string
	err error
}

func (e *Error) Error() string { return e.msg }

// Unwrap returns the mip6 sentinel.
func (e *Error) Unwrap() error { return e.err }

// Errors of the packet helpers.
var (
	// ErrNotIPv6: not a whole IPv6 packet.
	ErrNotIPv6 error = &Error{"rodata: not an IPv6 packet", mip6.ErrTruncated}
	// ErrNoRoom: less headroom than the header to insert, or the payload
	// would exceed 65535 octets.
	ErrNoRoom error = &Error{"rodata: no room for the extension header", mip6.ErrLength}
	// ErrLayout: the packet already has a routing header or Destination
	// Options header where the Home Address option would go (§6.3), or
	// a type 2 routing header that is not the first extension header
	// after any Hop-by-Hop Options header.
	ErrLayout error = &Error{"rodata: extension header layout not handled", mip6.ErrInvalid}
	// ErrNoRoutingHeader2: no type 2 routing header with Segments Left 1.
	ErrNoRoutingHeader2 error = &Error{"rodata: no type 2 routing header to process", mip6.ErrInvalid}
	// ErrNotOurHome: the type 2 routing header names another address
	// than our home address (§11.3.3: such a packet must be dropped,
	// or anyone could bounce packets off us).
	ErrNotOurHome error = &Error{"rodata: type 2 routing header for another address", mip6.ErrAddress}
)

// InsertHomeAddress turns a packet a local socket sent from the home
// address into the packet a mobile node away from home sends to a
// correspondent that holds its binding (§11.3.1, §6.3): the care-of
// address coa becomes the IPv6 Source Address, and a Destination Options
// header with the Home Address option (mip6.AppendHomeAddressDestOpts's
// canonical 24 octets, the option at 8n+6) carries the home address. The
// header goes right after the IPv6 header or the Hop-by-Hop Options
// header (§6.3: after a routing header, before Fragment, AH and ESP; this
// node's packets have no routing header). The upper-layer checksum needs
// no change: the sender computed it with the home address, which §6.3
// makes the pseudo-header source of a packet with the option.
//
// The packet is buf[off:off+n]; its IPv6 and Hop-by-Hop headers move 24
// octets back into the headroom, so off must be at least 24. The result
// is buf[off-24 : off+40+Payload Length]. Nothing is allocated.
func InsertHomeAddress(buf []byte, off, n int, coa netip.Addr) ([]byte, error) {
	const ins = mip6.HomeAddressDestOptsLen
	if off < ins || off+n > len(buf) || n < 0 {
		return nil, ErrNoRoom
	}
	pkt := buf[off : off+n]
	prev, at, end, ok := mip6.InsertionPoint(pkt)
	if !ok {
		return nil, ErrNotIPv6
	}
	if end-mip6.IPv6HeaderLen+ins > 0xffff {
		return nil, ErrNoRoom
	}
	h := mip6.IPv6Header(pkt)
	if next := pkt[prev]; next == mip6.ProtoDestOpts || routingAfter(pkt[:end], at, next) {
		return nil, ErrLayout
	}
	hoa := h.Src()
	next := pkt[prev]
	start := off - ins
	copy(buf[start:start+at], pkt[:at])
	out := buf[start : off+end]
	var dh [ins]byte
	copy(out[at:at+ins], mip6.AppendHomeAddressDestOpts(dh[:0], next, hoa))
	out[prev] = mip6.ProtoDestOpts
	oh := mip6.IPv6Header(out)
	oh.SetPayloadLength(uint16(end + ins - mip6.IPv6HeaderLen))
	oh.SetSrc(coa)
	return out, nil
}

// routingAfter reports whether the extension header chain of pkt from
// offset at, whose type is next, holds a routing header (the Home Address
// option must come after it, §6.3, which the insertion cannot do) or runs
// past the packet. It walks at most mip6.MaxExtensionHeaders headers and
// stops at the upper layer or a non-first fragment.
func routingAfter(pkt []byte, at int, next uint8) bool {
	for range mip6.MaxExtensionHeaders {
		var n int
		switch next {
		case mip6.ProtoRouting:
			return true
		case mip6.ProtoHopByHop, mip6.ProtoDestOpts:
			if at+2 > len(pkt) {
				return true
			}
			n = (int(pkt[at+1]) + 1) * 8
		case mip6.ProtoFragment:
			if at+8 > len(pkt) {
				return true
			}
			if pkt[at+2] != 0 || pkt[at+3]&0xf8 != 0 {
				return false // not the first fragment: no more headers
			}
			n = 8
		case mip6.ProtoAH:
			if at+2 > len(pkt) {
				return true
			}
			n = (int(pkt[at+1]) + 2) * 4
		default:
			return false
		}
		if at+n > len(pkt) {
			return true
		}
		next, at = pkt[at], at+n
	}
	return true
}

// RestoreRoutingHeader2 does for a packet that arrived at the care-of
// address what a Mobile IPv6 kernel does with its type 2 routing header
// (§11.3.3, §6.4): the home address in the header must be hoa, ours
// (anything else gives ErrNotOurHome: drop it); it becomes the IPv6
// Destination Address and the routing header is removed, so a kernel
// without Mobile IPv6 (which answers type 2 with a Parameter Problem,
// RFC 8200 §4.4) delivers the packet to the socket of the home address.
// The upper-layer checksum needs no change: the correspondent computed it
// with the home address, the final destination (RFC 8200 §8.1).
//
// pkt is the packet from its IPv6 header and l its layout from
// mip6.WalkIPv6. The routing header must follow the IPv6 header or a
// Hop-by-Hop Options header, where correspondents put it (§6.4), and
// be the only routing header (else ErrLayout). The result is pkt's tail
// ending at l.End, the headers in front of the routing header moved
// forward in place; nothing is allocated.
func RestoreRoutingHeader2(pkt []byte, l *mip6.PacketLayout, hoa netip.Addr) ([]byte, error) {
	const rl = mip6.RoutingHeader2Len
	if l.RH2 == 0 || l.RH2SegmentsLeft != 1 {
		return nil, ErrNoRoutingHeader2
	}
	if l.End > len(pkt) || l.End < mip6.IPv6HeaderLen || l.RH2+rl > l.End || l.RH2 < mip6.IPv6HeaderLen {
		return nil, ErrNotIPv6
	}
	if l.RH2Address != hoa {
		return nil, ErrNotOurHome
	}
	prev := 6
	switch {
	case l.RH2 == mip6.IPv6HeaderLen && pkt[6] == mip6.ProtoRouting:
	case pkt[6] == mip6.ProtoHopByHop && pkt[mip6.IPv6HeaderLen] == mip6.ProtoRouting &&
		l.RH2 == mip6.IPv6HeaderLen+(int(pkt[mip6.IPv6HeaderLen+1])+1)*8:
		prev = mip6.IPv6HeaderLen
	default:
		return nil, ErrLayout
	}
	next := pkt[l.RH2]
	if next == mip6.ProtoRouting {
		// A second routing header: RFC 8200 §4.1 allows one, and no
		// correspondent sends another after the type 2 one.
		return nil, ErrLayout
	}
	copy(pkt[rl:l.RH2+rl], pkt[:l.RH2])
	out := pkt[rl:l.End]
	out[prev] = next
	oh := mip6.IPv6Header(out)
	oh.SetPayloadLength(uint16(len(out) - mip6.IPv6HeaderLen))
	oh.SetDst(hoa)
	return out, nil
}
