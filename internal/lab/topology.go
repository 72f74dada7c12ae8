package lab

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gomip6/gomip6/internal/netlab"
)

// Site is a link the mobile node can be attached to.
type Site string

// The sites of the tour.
const (
	SiteHome Site = "home" // the home link, br0 in the home router's namespace
	SiteA    Site = "a"    // foreign link A: IPv6, radvd (RFC 4861 router)
	SiteB    Site = "b"    // foreign link B: IPv4 only, behind NAT44
)

// ParseSite parses "home", "a" or "b".
func ParseSite(s string) (Site, error) {
	switch Site(strings.ToLower(strings.TrimSpace(s))) {
	case SiteHome:
		return SiteHome, nil
	case SiteA:
		return SiteA, nil
	case SiteB:
		return SiteB, nil
	}
	return "", fmt.Errorf("lab: unknown site %q (home, a or b)", s)
}

// Addresses of the topology. Everything is documentation space: IPv6
// 2001:db8::/32 (RFC 3849), IPv4 192.0.2.0/24 and 198.51.100.0/24 (RFC 5737).
var (
	// HomePrefix is the home link's prefix, HAAddr the home agent's
	// address on it and HoA the mobile node's home address.
	HomePrefix = netip.MustParsePrefix("2001:db8:100::/64")
	HAAddr     = netip.MustParseAddr("2001:db8:100::1")
	HoA        = netip.MustParseAddr("2001:db8:100::10")
	// HAIPv4 is the home router's IPv4 address on its uplink: the
	// DSMIPv6 address of the home agent (had.toml [ipv4] address).
	HAIPv4 = netip.MustParseAddr("198.51.100.2")

	// CNAddr is the correspondent, on 2001:db8:200::/64 behind inet.
	CNAddr   = netip.MustParseAddr("2001:db8:200::2")
	CNIPv4   = netip.MustParseAddr("198.51.100.34")
	CNPrefix = netip.MustParsePrefix("2001:db8:200::/64")

	// PrefixA is foreign link A's prefix, advertised by radvd.
	PrefixA = netip.MustParsePrefix("2001:db8:a::/64")
	// LinkB is foreign link B's IPv4 subnet (no IPv6 there), RouterB the
	// NAT router's address on it, MNIPv4B the address the mobile node is
	// given there (as a DHCP server would) and NATB the NAT's public
	// address.
	LinkB   = netip.MustParsePrefix("192.0.2.0/24")
	RouterB = netip.MustParseAddr("192.0.2.1")
	MNIPv4B = netip.MustParseAddr("192.0.2.10")
	NATB    = netip.MustParseAddr("198.51.100.18")
)

// Interface names.
const (
	// MNIface is the mobile node's only access interface.
	MNIface = "eth0"
	// BridgeIface is the link bridge in the home, fa and fb namespaces.
	BridgeIface = "br0"
	// mnPort is the router-side end of the mobile node's veth, the one
	// that roams between the routers' bridges.
	mnPort = "mnp0"
)

// Topology is the lab network:
//
//	                 inet (2001:db8:ff::/48 links, 198.51.100.0/24)
//	   /------------/   |   \-----------\-------------\
//	 home (had)        cn              fa (radvd)      fb (NAT44)
//	 br0 2001:db8:100::/64            br0 2001:db8:a::/64  br0 192.0.2.0/24
//	  |  \                              |                   |
//	homehost  mn eth0 <- its peer moves between the three bridges ->
//
// The mobile node has one interface, eth0, a veth whose peer is moved from
// one router's namespace to another and enslaved to its bridge: the mobile
// node sees carrier loss and carrier back, with the same MAC and ifindex,
// as a laptop roaming between Wi-Fi networks does.
type Topology struct {
	Lab *netlab.Lab
	// Inet is the "internet" router; Home the home router (where had
	// runs); HomeHost a plain host on the home link; CN the
	// correspondent; FA and FB the routers of foreign links A and B; MN
	// the mobile node.
	Inet, Home, HomeHost, CN, FA, FB, MN *netlab.NS
	// Radvd is the router advertisement daemon of link A, RadvdA how it
	// advertises.
	Radvd  *netlab.Proc
	RadvdA RAProfile

	mu sync.Mutex
	at Site
	// routerA counts RenewRouterA's new identities of link A's router.
	routerA int
}

// RAProfile is how the radvd of link A advertises (Options.RadvdA).
type RAProfile string

// The radvd settings of link A. The handover targets (issue 5) are
// stated for the MIPv6 minimum intervals and for radvd's defaults.
const (
	// RALab: unsolicited RAs every 300 ms to 1 s with the Advertisement
	// Interval option, MinDelayBetweenRAs 300 ms. The tour's default: a
	// router tuned for mobile nodes, not to the limit.
	RALab RAProfile = "lab"
	// RAMIPv6Min: the shortest intervals RFC 6275 §7.5 allows,
	// MinRtrAdvInterval 30 ms and MaxRtrAdvInterval 70 ms (radvd adds
	// 20 ms to a MaxRtrAdvInterval under 200 ms for its scheduling, so
	// at most 90 ms apart), with the Advertisement Interval option and
	// MinDelayBetweenRAs 30 ms (RFC 6275 §7.5's MinDelayBetweenRAs).
	RAMIPv6Min RAProfile = "mipv6-min"
	// RADefaults: no interval lines, radvd's defaults (radvd.conf(5):
	// MaxRtrAdvInterval 600 s, MinRtrAdvInterval 198 s,
	// MinDelayBetweenRAs 3 s, Router Solicitations answered with unicast
	// RAs, AdvRASolicitedUnicast on): a mobile node learns of the link
	// from the RA answering its Router Solicitation.
	RADefaults RAProfile = "defaults"
)

// ParseRAProfile parses "lab", "mipv6-min" or "defaults"; "" is RALab.
func ParseRAProfile(s string) (RAProfile, error) {
	switch p := RAProfile(strings.ToLower(strings.TrimSpace(s))); p {
	case "":
		return RALab, nil
	case RALab, RAMIPv6Min, RADefaults:
		return p, nil
	}
	return "", fmt.Errorf("lab: unknown radvd setting %q (lab, mipv6-min or defaults)", s)
}

// RA returns the netlab settings of the profile for link A (PrefixA).
func (p RAProfile) RA() netlab.RA {
	ra := netlab.RA{Prefixes: []string{PrefixA.String()}}
	switch p {
	case RAMIPv6Min:
		ra.MinInterval, ra.MaxInterval = 30*time.Millisecond, 70*time.Millisecond
	case RADefaults:
		ra.RadvdDefaults = true
	default:
		ra.MinInterval, ra.MaxInterval = 300*time.Millisecond, time.Second
	}
	return ra
}

// Describe says in a line how link A's radvd advertises with the profile.
func (p RAProfile) Describe() string {
	switch p {
	case RAMIPv6Min:
		return "MIPv6 minimum intervals (RFC 6275 §7.5): MinRtrAdvInterval 0.03 s, MaxRtrAdvInterval 0.07 s, AdvIntervalOpt on, MinDelayBetweenRAs 0.03 s"
	case RADefaults:
		return "radvd's defaults: MaxRtrAdvInterval 600 s, MinRtrAdvInterval 198 s, MinDelayBetweenRAs 3 s, solicited RAs unicast"
	}
	return "lab setting: MinRtrAdvInterval 0.3 s, MaxRtrAdvInterval 1 s, AdvIntervalOpt on, MinDelayBetweenRAs 0.3 s"
}

// Build creates the topology in l, with the mobile node attached to the
// home link and link A's radvd as RALab. Everything it creates belongs to
// l (l.Close removes it).
func Build(l *netlab.Lab) (*Topology, error) { return BuildRA(l, RALab) }

// BuildRA is Build with link A's radvd advertising as ra says.
func BuildRA(l *netlab.Lab, ra RAProfile) (*Topology, error) {
	if _, err := ParseRAProfile(string(ra)); err != nil {
		return nil, err
	}
	if ra == "" {
		ra = RALab
	}
	t := &Topology{Lab: l, at: SiteHome, RadvdA: ra}
	var b builder
	ns := func(p **netlab.NS, name string, dad bool) {
		if b.err != nil {
			return
		}
		*p, b.err = l.NS(name)
		if b.err == nil && !dad {
			b.err = (*p).DisableDAD()
		}
	}
	// Routers and fixed hosts skip DAD so that the network is usable at
	// once (netlab.NS.WaitDAD explains why a router with tentative
	// link-local addresses loses the first forwarded packets). The mobile
	// node keeps the kernel's defaults: mnd copes with DAD as on a laptop.
	ns(&t.Inet, "inet", false)
	ns(&t.Home, "home", false)
	ns(&t.HomeHost, "homehost", false)
	ns(&t.CN, "cn", false)
	ns(&t.FA, "fa", false)
	ns(&t.FB, "fb", false)
	ns(&t.MN, "mn", true)
	if b.err != nil {
		return nil, b.err
	}

	// inet and its links to every router.
	b.link(l, t.Inet, "home0", t.Home, "up0")
	b.addr(t.Inet, "home0", "2001:db8:ff:1::1/64", "198.51.100.1/28")
	b.addr(t.Home, "up0", "2001:db8:ff:1::2/64", "198.51.100.2/28")
	b.link(l, t.Inet, "cn0", t.CN, "eth0")
	b.addr(t.Inet, "cn0", "2001:db8:200::1/64", "198.51.100.33/28")
	b.addr(t.CN, "eth0", "2001:db8:200::2/64", "198.51.100.34/28")
	b.link(l, t.Inet, "fa0", t.FA, "up0")
	b.addr(t.Inet, "fa0", "2001:db8:ff:3::1/64")
	b.addr(t.FA, "up0", "2001:db8:ff:3::2/64")
	b.link(l, t.Inet, "fb0", t.FB, "up0")
	b.addr(t.Inet, "fb0", "2001:db8:ff:4::1/64", "198.51.100.17/28")
	b.addr(t.FB, "up0", "2001:db8:ff:4::2/64", "198.51.100.18/28")
	b.route(t.Inet, HomePrefix.String(), "via", "2001:db8:ff:1::2")
	b.route(t.Inet, PrefixA.String(), "via", "2001:db8:ff:3::2")
	b.forwarding(t.Inet, true, true)

	// Bridges. Each foreign bridge gets a stub port so that it has carrier
	// (and radvd advertises) before the mobile node arrives; the home
	// bridge has homehost.
	//
	// Each bridge gets a fixed MAC address, as a real router's LAN
	// interface has: a Linux bridge without one takes the lowest MAC of
	// its ports and changes it when that port leaves, so the mobile
	// node's roaming port would change the home router's link-layer
	// address under had (which reads it once at start) and the home link's
	// neighbour caches. BridgeMAC explains the values.
	for i, n := range []*netlab.NS{t.Home, t.FA, t.FB} {
		b.ip(n, "link", "add", BridgeIface, "address", BridgeMAC(i+1).String(), "type", "bridge", "forward_delay", "0", "mcast_snooping", "0")
		b.ip(n, "link", "set", BridgeIface, "up")
	}
	b.link(l, t.HomeHost, "eth0", t.Home, "hh0")
	b.port(t.Home, "hh0")
	for _, n := range []*netlab.NS{t.FA, t.FB} {
		b.link(l, n, "stub0", n, "stub1")
		b.port(n, "stub0")
	}

	// Home router: the home link and the uplink; had adds the rest.
	b.addr(t.Home, BridgeIface, HAAddr.String()+"/64")
	b.route(t.Home, "::/0", "via", "2001:db8:ff:1::1")
	b.route(t.Home, "0.0.0.0/0", "via", "198.51.100.1")
	b.forwarding(t.Home, true, true)

	// Correspondent.
	b.route(t.CN, "::/0", "via", "2001:db8:200::1")
	b.route(t.CN, "0.0.0.0/0", "via", "198.51.100.33")

	// Foreign link A: a plain IPv6 router with radvd.
	b.addr(t.FA, BridgeIface, "2001:db8:a::1/64")
	b.route(t.FA, "::/0", "via", "2001:db8:ff:3::1")
	b.forwarding(t.FA, true, false)

	// Foreign link B: IPv4 only, NAT44 to its uplink.
	b.sysctl(t.FB, "net/ipv6/conf/"+BridgeIface+"/disable_ipv6", "1")
	b.addr(t.FB, BridgeIface, RouterB.String()+"/24")
	b.route(t.FB, "::/0", "via", "2001:db8:ff:4::1")
	b.route(t.FB, "0.0.0.0/0", "via", "198.51.100.17")
	b.forwarding(t.FB, false, true)
	if b.err == nil {
		b.err = t.FB.Masquerade("up0")
	}

	// The mobile node, at home.
	b.link(l, t.MN, MNIface, t.Home, mnPort)
	b.port(t.Home, mnPort)
	if b.err != nil {
		return nil, b.err
	}

	p, err := t.FA.StartRadvd(BridgeIface, ra.RA())
	if err != nil {
		return nil, err
	}
	t.Radvd = p
	return t, nil
}

// RenewRouterA gives link A's router a new identity while the mobile node
// is elsewhere: a new MAC address on its bridge (00:00:5e:00:53:20 and up,
// RFC 7042 §2.1.2's documentation block), the link-local address formed
// from it, and a restarted radvd advertising from them. Detecting Network
// Attachment (RFC 6059 §2.3) recognises a link by its router's link-local
// and link-layer addresses together, so the mobile node's next arrival on
// link A is an arrival on a link it has never seen: it cannot confirm the
// link with a unicast Neighbor Solicitation and waits for a Router
// Advertisement, the part of a handover the radvd setting governs.
func (t *Topology) RenewRouterA() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.at == SiteA {
		return fmt.Errorf("lab: renewing link A's router with the mobile node on link A")
	}
	t.routerA++
	mac := net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x53, byte(0x20 + (t.routerA-1)%0xe0)}
	// The modified EUI-64 interface identifier (RFC 4291 Appendix A):
	// the universal/local bit inverted, ff:fe in the middle.
	ll := netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 8: mac[0] ^ 0x02, 9: mac[1], 10: mac[2], 11: 0xff, 12: 0xfe, 13: mac[3], 14: mac[4], 15: mac[5]})
	if err := t.Radvd.Stop(); err != nil {
		return fmt.Errorf("lab: stopping link A's radvd: %w", err)
	}
	var b builder
	b.ip(t.FA, "link", "set", "dev", BridgeIface, "address", mac.String())
	b.ip(t.FA, "-6", "addr", "flush", "dev", BridgeIface, "scope", "link")
	b.ip(t.FA, "-6", "addr", "add", ll.String()+"/64", "dev", BridgeIface, "nodad")
	if b.err != nil {
		return b.err
	}
	p, err := t.FA.StartRadvd(BridgeIface, t.RadvdA.RA())
	if err != nil {
		return err
	}
	t.Radvd = p
	return nil
}

// Router returns the namespace of the router of site s.
func (t *Topology) Router(s Site) *netlab.NS {
	switch s {
	case SiteHome:
		return t.Home
	case SiteA:
		return t.FA
	case SiteB:
		return t.FB
	}
	return nil
}

// At returns the site the mobile node is attached to.
func (t *Topology) At() Site {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.at
}

// Move attaches the mobile node to site to: the peer of its eth0 leaves the
// current router's namespace (the mobile node sees carrier loss), joins
// to's, is enslaved to its bridge and brought up (carrier back). On link B,
// which has no IPv6, the mobile node gets MNIPv4B/24 and a default route
// through RouterB, as a DHCP server would give it; leaving B takes them
// away again (a lease is no use on another link).
func (t *Topology) Move(to Site) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	from := t.at
	nr := t.Router(to)
	if nr == nil {
		return fmt.Errorf("lab: unknown site %q", to)
	}
	if from == to {
		return fmt.Errorf("lab: mobile node already at %s", to)
	}
	if _, err := t.Router(from).IP("link", "set", "dev", mnPort, "netns", nr.Name); err != nil {
		return fmt.Errorf("lab: move %s -> %s: %w", from, to, err)
	}
	t.at = to
	var b builder
	if from == SiteB {
		b.ip(t.MN, "-4", "addr", "flush", "dev", MNIface)
	}
	b.port(nr, mnPort)
	if to == SiteB {
		b.addr(t.MN, MNIface, MNIPv4B.String()+"/24")
		b.route(t.MN, "0.0.0.0/0", "via", RouterB.String())
	}
	return b.err
}

// BridgeMAC returns the fixed MAC address of the lab's n-th bridge (1: home,
// 2: link A, 3: link B): 00:00:5e:00:53:n, from the block RFC 7042 §2.1.2
// sets aside for documentation. The bridges are on separate links, so two
// labs running at once do not clash.
func BridgeMAC(n int) net.HardwareAddr {
	return net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x53, byte(n)}
}

// builder runs a sequence of setup steps, stopping at the first error.
type builder struct{ err error }

func (b *builder) ip(n *netlab.NS, args ...string) {
	if b.err == nil {
		_, b.err = n.IP(args...)
	}
}

func (b *builder) link(l *netlab.Lab, a *netlab.NS, aIf string, c *netlab.NS, cIf string) {
	if b.err == nil {
		b.err = l.Link(a, aIf, c, cIf)
	}
}

func (b *builder) addr(n *netlab.NS, ifname string, cidrs ...string) {
	for _, c := range cidrs {
		if b.err == nil {
			b.err = n.Addr(ifname, c)
		}
	}
}

func (b *builder) route(n *netlab.NS, args ...string) {
	if b.err == nil {
		b.err = n.Route(args...)
	}
}

func (b *builder) forwarding(n *netlab.NS, v6, v4 bool) {
	if b.err == nil {
		b.err = n.Forwarding(v6, v4)
	}
}

func (b *builder) sysctl(n *netlab.NS, key, value string) {
	if b.err == nil {
		b.err = n.Sysctl(key, value)
	}
}

// port enslaves ifname to the namespace's bridge and brings it up. A bridge
// port needs no IPv6 of its own (the bridge has the router's addresses).
func (b *builder) port(n *netlab.NS, ifname string) {
	b.sysctl(n, "net/ipv6/conf/"+ifname+"/disable_ipv6", "1")
	b.ip(n, "link", "set", "dev", ifname, "master", BridgeIface, "up")
}
