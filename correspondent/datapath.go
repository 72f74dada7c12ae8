package correspondent

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"

	"github.com/gomip6/gomip6/mip6"
)

// This file is the correspondent's data path (§9.3): the work on every
// packet exchanged with a mobile node that has a binding here, which a
// kernel without Mobile IPv6 cannot do. It works in place on the caller's
// buffers and allocates nothing.

// Route is one binding as the data path sees it. CareOf never changes once
// the Route is in a Table (a move publishes a new Route); Packets counts
// the packets sent and received through it, which tells the control loop
// whether the binding is in active use (§9.5.5).
type Route struct {
	CareOf  netip.Addr
	Packets atomic.Uint64
}

// Table maps home addresses to their Routes for the data path: readers
// (any number of goroutines) load an immutable map through an atomic
// pointer; the one writer (the control loop) replaces it on every change.
// Bindings change at signalling speed, so the copy per change is cheap
// next to a lock taken per packet. The zero value is an empty table.
type Table struct {
	m atomic.Pointer[map[netip.Addr]*Route]
}

// Lookup returns the Route of a home address, or nil.
func (t *Table) Lookup(hoa netip.Addr) *Route {
	m := t.m.Load()
	if m == nil {
		return nil
	}
	return (*m)[hoa]
}

// Len returns the number of bindings in the table.
func (t *Table) Len() int {
	m := t.m.Load()
	if m == nil {
		return 0
	}
	return len(*m)
}

// Set points hoa at coa. A new care-of address gets a new Route that
// carries the packet count over. Only one goroutine may call Set and
// Delete.
func (t *Table) Set(hoa, coa netip.Addr) {
	old := t.m.Load()
	n := make(map[netip.Addr]*Route, t.Len()+1)
	if old != nil {
		for k, v := range *old {
			n[k] = v
		}
	}
	r := &Route{CareOf: coa}
	if prev := n[hoa]; prev != nil {
		if prev.CareOf == coa {
			return
		}
		r.Packets.Store(prev.Packets.Load())
	}
	n[hoa] = r
	t.m.Store(&n)
}

// Delete removes hoa.
func (t *Table) Delete(hoa netip.Addr) {
	old := t.m.Load()
	if old == nil {
		return
	}
	if _, ok := (*old)[hoa]; !ok {
		return
	}
	n := make(map[netip.Addr]*Route, len(*old))
	for k, v := range *old {
		if k != hoa {
			n[k] = v
		}
	}
	t.m.Store(&n)
}

// Errors of the data path helpers; they wrap the mip6 sentinels, so
// errors.Is(err, mip6.ErrInvalid) works too.
var (
	// ErrNoHomeAddress: RestoreHomeAddress on a packet without a Home
	// Address option.
	ErrNoHomeAddress = wrapErr("correspondent: no Home Address option", mip6.ErrInvalid)
	// ErrOtherOptions: the Destination Options header that holds the
	// Home Address option holds other options than padding, which this
	// data path cannot hand to the kernel (see RestoreHomeAddress).
	ErrOtherOptions = wrapErr("correspondent: Home Address option shares its header with other options", mip6.ErrInvalid)
	// ErrHasRoutingHeader: the packet already has a routing header, to
	// which a type 2 routing header cannot be added (RFC 8200 §4.1
	// allows one routing header; RFC 6275 §6.4 combines them only in
	// ways a local application does not build).
	ErrHasRoutingHeader = wrapErr("correspondent: packet already has a routing header", mip6.ErrInvalid)
	// ErrNoRoom: the buffer has no 24 octets of headroom, or the payload
	// would exceed 65535 octets.
	ErrNoRoom = wrapErr("correspondent: no room for the routing header", mip6.ErrLength)
	// ErrNotIPv6: not a whole IPv6 packet.
	ErrNotIPv6 = wrapErr("correspondent: not an IPv6 packet", mip6.ErrTruncated)
)

type dpError struct {
	msg string
	err error
}

func (e *dpError) Error() string { return e.msg }
func (e *dpError) Unwrap() error { return e.err }

func wrapErr(msg string, err error) error { return &dpError{msg, err} }

// RestoreHomeAddress turns a packet that arrived from a care-of address
// with a Home Address option into the packet the mobile node's upper
// layer sent from its home address (§9.3.1): the home address goes into
// the IPv6 Source Address and the Destination Options header that carried
// the option is removed, so a kernel without Mobile IPv6, which would
// drop the packet for the unknown option (its type 201 says "discard and
// send a Parameter Problem", RFC 8200 §4.2), delivers it to the socket of
// the home address. The upper-layer checksum needs no change: the mobile
// node computed it with the home address as source (§6.3).
//
// The header is removed rather than kept with the option replaced by
// padding because Linux refuses runs of more than 7 octets of padding
// (net/ipv6/exthdrs.c), and the option is 18 octets. A header that holds
// anything but the option and padding gives ErrOtherOptions (no known
// implementation sends that).
//
// pkt is the packet from its IPv6 header, l its layout from
// mip6.WalkIPv6 (which validated the chain). The result is pkt's tail
// (the headers before the removed one move forward in place) ending at
// l.End; nothing is allocated. The caller has already checked that a
// binding for l.HomeAddress has l.Src as its care-of address.
func RestoreHomeAddress(pkt []byte, l *mip6.PacketLayout) ([]byte, error) {
	if l.HAO == 0 || !l.HomeAddress.IsValid() {
		return nil, ErrNoHomeAddress
	}
	if l.End > len(pkt) || l.End < mip6.IPv6HeaderLen || l.HAO+16 > l.End {
		return nil, ErrNotIPv6
	}
	// Find the Destination Options header that holds the option, and the
	// octet that names it (the IPv6 header's Next Header, or the previous
	// extension header's).
	prev, cur, nh := 6, mip6.IPv6HeaderLen, pkt[6]
	for {
		if cur+2 > l.End {
			return nil, ErrNotIPv6
		}
		var n int
		switch nh {
		case mip6.ProtoHopByHop, mip6.ProtoRouting, mip6.ProtoDestOpts:
			n = (int(pkt[cur+1]) + 1) * 8
		case mip6.ProtoFragment:
			n = 8
		case mip6.ProtoAH:
			n = (int(pkt[cur+1]) + 2) * 4
		default:
			return nil, ErrNoHomeAddress
		}
		if cur+n > l.End {
			return nil, ErrNotIPv6
		}
		if l.HAO >= cur && l.HAO < cur+n {
			if nh != mip6.ProtoDestOpts {
				return nil, ErrNoHomeAddress
			}
			if !onlyPadding(pkt[cur:cur+n], l.HAO-2-cur) {
				return nil, ErrOtherOptions
			}
			next := pkt[cur]
			copy(pkt[n:cur+n], pkt[:cur])
			out := pkt[n:l.End]
			out[prev] = next
			mip6.IPv6Header(out).SetPayloadLength(uint16(len(out) - mip6.IPv6HeaderLen))
			mip6.IPv6Header(out).SetSrc(l.HomeAddress)
			return out, nil
		}
		prev, nh, cur = cur, pkt[cur], cur+n
	}
}

// onlyPadding reports whether the Destination Options header h holds only
// Pad1, PadN and the option starting at hao.
func onlyPadding(h []byte, hao int) bool {
	for i := 2; i < len(h); {
		switch {
		case h[i] == 0: // Pad1
			i++
			continue
		case i+1 >= len(h):
			return false
		case i != hao && h[i] != 1: // neither PadN nor the Home Address option
			return false
		}
		i += 2 + int(h[i+1])
	}
	return true
}

// InsertRoutingHeader2 sends a packet for a home address to its care-of
// address (§9.3.2, §6.4): the packet buf[off:off+n], as a local
// application's socket sent it to the home address, gets a type 2
// routing header holding the home address (Segments Left 1) and the
// care-of address as IPv6 Destination Address. The routing header goes
// right after the IPv6 header, or after a Hop-by-Hop Options header
// (RFC 8200 §4.1). The upper-layer checksum needs no change: the sender
// computed it with the home address, which is the final destination
// (RFC 8200 §8.1).
//
// It works in place: the IPv6 header (and Hop-by-Hop header) move 24
// octets back into the headroom, so off must be at least 24; the result
// is buf[off-24 : off+length]. Nothing is allocated.
func InsertRoutingHeader2(buf []byte, off, n int, coa netip.Addr) ([]byte, error) {
	if off < mip6.RoutingHeader2Len || off+n > len(buf) {
		return nil, ErrNoRoom
	}
	pkt := buf[off : off+n]
	prev, ins, end, ok := mip6.InsertionPoint(pkt)
	if !ok {
		return nil, ErrNotIPv6
	}
	if end+mip6.RoutingHeader2Len-mip6.IPv6HeaderLen > 0xffff {
		return nil, ErrNoRoom
	}
	h := mip6.IPv6Header(pkt)
	if pkt[prev] == mip6.ProtoRouting {
		return nil, ErrHasRoutingHeader
	}
	hoa := h.Dst()
	next := pkt[prev]
	start := off - mip6.RoutingHeader2Len
	copy(buf[start:start+ins], pkt[:ins])
	out := buf[start : off+end]
	rh := out[ins : ins+mip6.RoutingHeader2Len]
	rh[0], rh[1], rh[2], rh[3] = next, 2, mip6.RoutingType2, 1
	binding32(rh[4:8], 0)
	a := hoa.As16()
	copy(rh[8:], a[:])
	out[prev] = mip6.ProtoRouting
	oh := mip6.IPv6Header(out)
	oh.SetPayloadLength(uint16(end + mip6.RoutingHeader2Len - mip6.IPv6HeaderLen))
	oh.SetDst(coa)
	return out, nil
}

func binding32(b []byte, v uint32) { binary.BigEndian.PutUint32(b, v) }

// ErrNotOurs: an ICMPv6 message that is not a Packet Too Big about a
// packet InsertRoutingHeader2 built.
var ErrNotOurs = wrapErr("correspondent: not a Packet Too Big about a type 2 routed packet", mip6.ErrInvalid)

// icmpPacketTooBig is the ICMPv6 type of Packet Too Big (RFC 4443 §3.2).
const icmpPacketTooBig = 2

// minMTU is the IPv6 minimum link MTU (RFC 8200 §5).
const minMTU = 1280

// AppendHomePacketTooBig translates path MTU discovery across the type 2
// routing header (RFC 8201 with RFC 6275 §9.3.2). A router between us and
// a care-of address answers a packet too big for its next link with a
// Packet Too Big about the packet as it saw it: to the care-of address,
// with our routing header. The local socket that sent the packet to the
// home address would never match that (its destination is the home
// address) and would keep sending packets that are dropped. This builds
// the Packet Too Big that socket needs: about the packet as it sent it (to
// the home address, without the routing header), with an MTU 24 octets
// smaller (the routing header we add), at least 1280, from the router's
// address from (so the kernel, receiving it on the tun device, updates
// the path MTU toward the home address).
//
// icmp is the ICMPv6 message from its Type octet, as a raw ICMPv6 socket
// reads it. The returned packet (appended to b) is whole, checksummed, at
// most 1280 octets (RFC 4443 §2.4(c)). hoa and coa are the home address
// of the routing header and the care-of address the packet went to: the
// caller checks that a binding links them before injecting it. A message
// of any other shape gives ErrNotOurs.
func AppendHomePacketTooBig(b, icmp []byte, from netip.Addr) (pkt []byte, hoa, coa netip.Addr, err error) {
	// Type, Code, Checksum, MTU, then our packet: IPv6 header and the
	// routing header right after it (InsertRoutingHeader2 also puts it
	// after a Hop-by-Hop header; those are not translated).
	if len(icmp) < 8+mip6.IPv6HeaderLen+mip6.RoutingHeader2Len || icmp[0] != icmpPacketTooBig || icmp[1] != 0 {
		return b, hoa, coa, ErrNotOurs
	}
	inner := icmp[8:]
	ih := mip6.IPv6Header(inner)
	if ih.Version() != 6 || ih.NextHeader() != mip6.ProtoRouting {
		return b, hoa, coa, ErrNotOurs
	}
	rh := mip6.RoutingHeader2(inner[mip6.IPv6HeaderLen : mip6.IPv6HeaderLen+mip6.RoutingHeader2Len])
	if !rh.IsValid() || rh.SegmentsLeft() != 1 || !from.Is6() || ih.PayloadLength() < mip6.RoutingHeader2Len {
		return b, hoa, coa, ErrNotOurs
	}
	hoa, coa = rh.HomeAddress(), ih.Dst()
	src := ih.Src() // our address: where the new message goes
	mtu := binary.BigEndian.Uint32(icmp[4:8])
	if mtu > mip6.RoutingHeader2Len {
		mtu -= mip6.RoutingHeader2Len
	}
	mtu = max(mtu, minMTU)
	// The original packet, as much as the router quoted, then cut so
	// that the whole message fits in 1280 octets.
	rest := inner[mip6.IPv6HeaderLen+mip6.RoutingHeader2Len:]
	quote := min(mip6.IPv6HeaderLen+len(rest), minMTU-mip6.IPv6HeaderLen-8)
	b = mip6.AppendIPv6Header(b, uint16(8+quote), mip6.ProtoICMPv6, 255, from, src)
	m := len(b)
	b = append(b, icmpPacketTooBig, 0, 0, 0, byte(mtu>>24), byte(mtu>>16), byte(mtu>>8), byte(mtu))
	o := len(b)
	b = append(b, inner[:mip6.IPv6HeaderLen]...)
	oh := mip6.IPv6Header(b[o:])
	oh.SetNextHeader(rh.NextHeader())
	oh.SetDst(hoa)
	oh.SetPayloadLength(ih.PayloadLength() - mip6.RoutingHeader2Len)
	b = append(b, rest[:quote-mip6.IPv6HeaderLen]...)
	mip6.SetICMPChecksum(b[m:], from, src)
	return b, hoa, coa, nil
}
