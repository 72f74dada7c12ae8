package tunnel

import (
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
)

// Addresses of the test topology (RFC 3849 / RFC 5737 documentation
// ranges).
var (
	cnAddr  = netip.MustParseAddr("2001:db8:1::1")     // correspondent
	hoa     = netip.MustParseAddr("2001:db8:2::100")   // home address
	haHome  = netip.MustParseAddr("2001:db8:2::1")     // HA on the home link
	ha6     = netip.MustParseAddr("2001:db8:ffff::1")  // HA tunnel end, IPv6
	coa6    = netip.MustParseAddr("2001:db8:cafe::2")  // care-of address, IPv6
	ha4     = netip.MustParseAddr("192.0.2.1")         // HA tunnel end, IPv4
	coa4    = netip.MustParseAddr("198.51.100.2")      // care-of / NAT, IPv4
	other6  = netip.MustParseAddr("2001:db8:bad::666") // someone else
	other4  = netip.MustParseAddr("203.0.113.66")
	mnp     = netip.MustParsePrefix("2001:db8:3300::/48") // mobile network prefix
	natPort = uint16(40000)
)

// testInner is the inner packet of the scapy vectors:
//
//	IPv6(tc=0xba, fl=0x12345, nh=59, hlim=63, src="2001:db8:1::1",
//	     dst="2001:db8:2::100")/Raw(b"gomip6!!")
const testInnerHex = "6ba1234500083b3f20010db800010000000000000000000120010db8000200000000000000000100676f6d6970362121"

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mkInner builds an IPv6 packet by hand (not with the code under test).
func mkInner(src, dst netip.Addr, tc uint8, next uint8, payload []byte) []byte {
	p := make([]byte, 40+len(payload))
	binary.BigEndian.PutUint32(p[0:], 6<<28|uint32(tc)<<20)
	binary.BigEndian.PutUint16(p[4:], uint16(len(payload)))
	p[6] = next
	p[7] = 63
	s, d := src.As16(), dst.As16()
	copy(p[8:], s[:])
	copy(p[24:], d[:])
	copy(p[40:], payload)
	return p
}

// withHeadroom copies p behind Headroom octets of junk and returns the
// buffer and the offset of p.
func withHeadroom(p []byte) ([]byte, int) {
	buf := make([]byte, Headroom+len(p))
	for i := range Headroom {
		buf[i] = 0xee
	}
	copy(buf[Headroom:], p)
	return buf, Headroom
}

func ep6() Endpoint { return Endpoint{Kind: KindIPv6, Local: ha6, Remote: coa6} }
func ep4() Endpoint { return Endpoint{Kind: Kind6in4, Local: ha4, Remote: coa4} }
func epUDP() Endpoint {
	return Endpoint{Kind: KindUDP4, Local: ha4, Remote: coa4, LocalPort: UDPPortDSMIP, RemotePort: natPort}
}

// fakeClock is an injectable clock.
type fakeClock struct{ now int64 }

func (c *fakeClock) Now() int64 { return c.now }

// newHA returns a home agent tunnel with one binding for hoa with e.
func newHA(t testing.TB, e Endpoint, mod func(*Config)) (*Tunnel, *fakeClock) {
	t.Helper()
	tab := NewTable(0)
	if err := tab.Set(netip.PrefixFrom(hoa, 128), e); err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{now: 1e12}
	cfg := Config{ErrorSource: haHome, Clock: clk.Now}
	if mod != nil {
		mod(&cfg)
	}
	tun, err := New(cfg, tab)
	if err != nil {
		t.Fatal(err)
	}
	return tun, clk
}
