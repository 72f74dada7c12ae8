package tunnel

import (
	"net/netip"

	"github.com/gomip6/gomip6/mip6"
)

// This file holds the test for signalling that arrives on the tunnel's
// own sockets. A Dual-Stack MIPv6 mobile node on an IPv4 network sends its
// Binding Update to the home agent's IPv4 address in UDP port 4191 or as
// IPv6 in IPv4 (RFC 5555 §4.1, §4.2), exactly the way its data will come
// once registered; the home agent answers the same way. Those packets
// reach the forwarder's sockets, not the daemon's, and the first one
// cannot pass decapsulation: there is no binding yet for its inner source
// (the home address), so the anti-spoofing rules drop it. The forwarder
// therefore takes them out before decapsulation and hands them to the
// daemon (ForwarderConfig.Signal).

// natKeepalive reports whether a UDP datagram received on the DSMIPv6
// port is a NAT keepalive rather than a tunnelled packet: an empty one.
// RFC 5555 §4.1 leaves keeping the NAT's mapping open to the mobile node
// (ours refreshes its binding through it), and some implementations send
// the smallest datagram there is for it, as other UDP NAT traversal
// schemes do (RFC 3948 §2.3's NAT-keepalive is one octet; that one cannot
// be told from a truncated packet here and stays malformed). It carries
// no IPv6 packet, so it is counted as a keepalive, not as malformed.
func natKeepalive(payload []byte) bool { return len(payload) == 0 }

// signalAddrs is a small set of IPv6 addresses in table form.
type signalAddrs [][16]byte

// newSignalAddrs keeps the IPv6 addresses of addrs (an IPv4-mapped one is
// not an IPv6 packet's destination and is left out).
func newSignalAddrs(addrs []netip.Addr) signalAddrs {
	var s signalAddrs
	for _, a := range addrs {
		if a.Is6() && !a.Is4In6() {
			s = append(s, a.WithZone("").As16())
		}
	}
	return s
}

// match reports whether inner, an IPv6 packet, is Mobility Header
// signalling for one of the addresses: its Destination Address is one of
// them and the upper-layer protocol, past the extension headers
// (mip6.WalkIPv6), is the Mobility Header (RFC 6275 §6.1). The cost on the
// data path is the destination comparison: only packets to one of our own
// addresses, which data through the tunnel almost never is, are walked.
// It neither allocates nor panics. A fragment is not signalling (the
// kernel reassembles outer fragments; a mobile node does not fragment a
// Binding Update).
func (s signalAddrs) match(inner []byte) bool {
	if len(s) == 0 || len(inner) < IPv6HeaderLen || inner[0]>>4 != 6 {
		return false
	}
	dst := (*[16]byte)(inner[ip6Dst : ip6Dst+16])
	found := false
	for i := range s {
		if s[i] == *dst {
			found = true
			break
		}
	}
	if !found {
		return false
	}
	l, err := mip6.WalkIPv6(inner)
	return err == nil && l.Proto == mip6.ProtoMobility && !l.NonFirstFragment && l.Fragment == 0
}
