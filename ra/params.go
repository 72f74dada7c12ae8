package ra

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/mip6"
)

// DefaultCurHopLimit is the Cur Hop Limit the RAs advertise: RFC 4861
// §6.2.1 AdvCurHopLimit defaults to the IANA value, 64.
const DefaultCurHopLimit = 64

// Params is the content of the home agent's Router Advertisements and
// Mobile Prefix Advertisements for one home link.
type Params struct {
	// Prefix is the home subnet prefix and Address the home agent's global
	// address inside it, advertised whole in the Prefix Information option
	// with the R flag (RFC 6275 §7.2).
	Prefix  netip.Prefix
	Address netip.Addr
	// MaxInterval is MaxRtrAdvInterval, the value of the Advertisement
	// Interval option (RFC 6275 §7.3).
	MaxInterval time.Duration
	// RouterLifetime is the RA's Router Lifetime; 0 when the home agent is
	// not a default router.
	RouterLifetime time.Duration
	// HAPreference and HALifetime go into the Home Agent Information
	// option (RFC 6275 §7.4).
	HAPreference int16
	HALifetime   time.Duration
	// MobileRouter is the R flag of the Home Agent Information option
	// (RFC 3963 §7.3): this home agent serves mobile routers.
	MobileRouter bool
	// ValidLifetime and PreferredLifetime are the home prefix's lifetimes.
	ValidLifetime, PreferredLifetime time.Duration
	// MTU, when not 0, is advertised in an MTU option (RFC 4861 §4.6.4).
	MTU uint32
	// RetransTimer is the RAs' Retrans Timer (RFC 4861 §6.2.1); 0 leaves
	// it unspecified.
	RetransTimer time.Duration
	// LinkLayer is the home link interface's hardware address, sent in the
	// Source Link-layer Address option (RFC 4861 §4.6.1) so that hosts
	// need not resolve the router; nil leaves it out (links without
	// link-layer addresses).
	LinkLayer net.HardwareAddr
}

// ParamsFromConfig takes the RA content from a validated had.toml. lladdr
// is the home interface's hardware address (nil for none).
//
// MobileRouter is set when some [[mobile_node]] has mobile network
// prefixes: had then serves that mobile router (RFC 3963), and otherwise
// the Home Agent Information option can keep its defaults and be left out
// (see RouterAdvertisement).
func ParamsFromConfig(c *conf.HA, lladdr net.HardwareAddr) Params {
	r := c.RouterAdvertisements
	p := Params{
		Prefix:            c.Home.Prefix,
		Address:           c.Home.Address,
		MaxInterval:       r.MaxInterval.Std(),
		RouterLifetime:    r.RouterLifetime.Std(),
		HAPreference:      r.HAPreference,
		HALifetime:        r.HALifetime.Std(),
		ValidLifetime:     r.PrefixValidLifetime.Std(),
		PreferredLifetime: r.PrefixPreferredLifetime.Std(),
		MTU:               r.MTU,
		RetransTimer:      r.RetransTimer.Std(),
		LinkLayer:         lladdr,
	}
	for _, mn := range c.MobileNodes {
		if len(mn.MobilePrefixes) > 0 {
			p.MobileRouter = true
		}
	}
	return p
}

// Timing returns the scheduler's intervals from a validated had.toml.
func TimingFromConfig(c *conf.HA) Timing {
	r := c.RouterAdvertisements
	return Timing{
		MinInterval:        r.MinInterval.Std(),
		MaxInterval:        r.MaxInterval.Std(),
		MinDelayBetweenRAs: r.MinDelayBetweenRAs.Std(),
	}
}

// Validate checks what the wire format and the RFCs need of p, so that the
// messages built from it always marshal.
func (p Params) Validate() error {
	switch {
	case !p.Prefix.IsValid() || !p.Prefix.Addr().Is6() || p.Prefix.Addr().Is4In6():
		return fmt.Errorf("ra: home prefix %v is not IPv6", p.Prefix)
	case !p.Address.Is6() || !p.Prefix.Contains(p.Address):
		return fmt.Errorf("ra: home agent address %v is not inside %v", p.Address, p.Prefix)
	case p.MaxInterval <= 0 || p.MaxInterval%time.Millisecond != 0:
		return fmt.Errorf("ra: MaxInterval %v is not a positive whole number of ms (RFC 6275 §7.3)", p.MaxInterval)
	case p.RouterLifetime < 0 || p.RouterLifetime > 9000*time.Second || p.RouterLifetime%time.Second != 0:
		return fmt.Errorf("ra: RouterLifetime %v is not whole seconds in [0, 9000s] (RFC 4861 §6.2.1)", p.RouterLifetime)
	case p.haLifetime() <= 0 || p.haLifetime() > 65535*time.Second || p.haLifetime()%time.Second != 0:
		return fmt.Errorf("ra: Home Agent Lifetime %v is not whole seconds in [1s, 65535s] (RFC 6275 §7.4)", p.haLifetime())
	case p.PreferredLifetime > p.ValidLifetime:
		return fmt.Errorf("ra: preferred lifetime %v above valid lifetime %v (RFC 4861 §4.6.2)", p.PreferredLifetime, p.ValidLifetime)
	case p.MTU != 0 && p.MTU < 1280:
		return fmt.Errorf("ra: MTU %d below 1280 (RFC 8200 §5)", p.MTU)
	}
	for _, d := range []time.Duration{p.ValidLifetime, p.PreferredLifetime} {
		if d < 0 || d > mip6.NDInfiniteLifetime || d%time.Second != 0 {
			return fmt.Errorf("ra: prefix lifetime %v is not whole seconds (RFC 4861 §4.6.2)", d)
		}
	}
	return nil
}

// haLifetime is the Home Agent Lifetime in effect: HALifetime, or the
// Router Lifetime when it is 0, the §7.4 default.
func (p Params) haLifetime() time.Duration {
	if p.HALifetime == 0 {
		return p.RouterLifetime
	}
	return p.HALifetime
}

// prefixOption is the home prefix's Prefix Information option: L and A so
// hosts on the home link use it on-link and for SLAAC (RFC 4861 §4.6.2, RFC
// 4862 §5.5.3), and the R flag with the home agent's complete global
// address in the Prefix field (RFC 6275 §7.2), from which the other home
// agents of the link learn it (§10.5.1).
func (p Params) prefixOption() *mip6.PrefixInformation {
	return &mip6.PrefixInformation{
		Prefix:            netip.PrefixFrom(p.Address, p.Prefix.Bits()),
		OnLink:            true,
		Autonomous:        true,
		RouterAddress:     true,
		ValidLifetime:     p.ValidLifetime,
		PreferredLifetime: p.PreferredLifetime,
	}
}

// commonOptions are the options of every RA: source link-layer address and
// MTU, when set, then the prefix.
func (p Params) commonOptions() []mip6.NDOption {
	var opts []mip6.NDOption
	if len(p.LinkLayer) > 0 {
		opts = append(opts, &mip6.NDLinkLayerAddress{Addr: p.LinkLayer})
	}
	if p.MTU != 0 {
		opts = append(opts, &mip6.NDMTU{MTU: p.MTU})
	}
	return append(opts, p.prefixOption())
}

// HomeAgentInformation returns the Home Agent Information option the RAs
// carry, or nil when it is left out. RFC 6275 §7.4: without the option a
// receiver takes preference 0 and the Router Lifetime as Home Agent
// Lifetime, and when both values are those defaults the home agent SHOULD
// NOT include it. The NEMO R flag (RFC 3963 §7.3) can only travel in the
// option, so a home agent serving mobile routers always includes it.
func (p Params) HomeAgentInformation() *mip6.HomeAgentInformation {
	life := p.haLifetime()
	if p.HAPreference == 0 && life == p.RouterLifetime && !p.MobileRouter {
		return nil
	}
	return &mip6.HomeAgentInformation{MobileRouter: p.MobileRouter, Preference: p.HAPreference, Lifetime: life}
}

// RouterAdvertisement builds the home agent's periodic and solicited RA:
// the H flag (RFC 6275 §7.1), the Prefix Information option with the R flag
// (§7.2), the Advertisement Interval option with MaxRtrAdvInterval (§7.3:
// the longest time between unsolicited multicast RAs, which mobile nodes
// use to detect movement, §11.5.1) and the Home Agent Information option
// when it is not all defaults (§7.4), plus source link-layer address and
// MTU.
func (p Params) RouterAdvertisement() *mip6.RouterAdvertisement {
	opts := p.commonOptions()
	opts = append(opts, &mip6.AdvertisementInterval{Interval: p.MaxInterval})
	if hai := p.HomeAgentInformation(); hai != nil {
		opts = append(opts, hai)
	}
	return &mip6.RouterAdvertisement{
		CurHopLimit:    DefaultCurHopLimit,
		HomeAgent:      true,
		RouterLifetime: p.RouterLifetime,
		RetransTimer:   p.RetransTimer,
		Options:        opts,
	}
}

// FinalRouterAdvertisement builds the RA sent when the home agent stops
// advertising: Router Lifetime 0 so hosts drop it as a default router at
// once (RFC 4861 §6.2.5), and the H flag clear, so the other home agents of
// the link delete it from their Home Agents Lists (RFC 6275 §10.5.1); a
// Home Agent Lifetime of 0, the other way to say it, must not be sent
// (§7.4). The prefix stays, with its lifetimes: hosts keep their
// addresses, which remain valid.
func (p Params) FinalRouterAdvertisement() *mip6.RouterAdvertisement {
	return &mip6.RouterAdvertisement{
		CurHopLimit: DefaultCurHopLimit,
		Options:     p.commonOptions(),
	}
}

// MobilePrefixAdvertisement builds a Mobile Prefix Advertisement (RFC 6275
// §6.8) for the home prefix, solicited (id copied from the Mobile Prefix
// Solicitation, §10.6.3) or unsolicited (any id, §10.6.2). It carries the
// same Prefix Information option as the RAs: §6.8 has the home agent use
// the §7.2 form, R flag and its own address included. M and O are clear:
// the home link has no DHCPv6. The daemon sends it, to the mobile node's
// care-of address with a type 2 routing header (§10.6.2).
func (p Params) MobilePrefixAdvertisement(id uint16) *mip6.MobilePrefixAdvertisement {
	return &mip6.MobilePrefixAdvertisement{
		Identifier: id,
		Options:    []mip6.NDOption{p.prefixOption()},
	}
}

// Self returns this home agent's own Home Agents List entry: its global
// address, preference and lifetime as its RAs advertise them (RFC 6275
// §10.1: the list includes the home agent itself).
func (p Params) Self(linkLocal netip.Addr) HomeAgent {
	return HomeAgent{
		LinkLocal:    linkLocal,
		Addresses:    []netip.Addr{p.Address},
		Preference:   p.HAPreference,
		Lifetime:     p.haLifetime(),
		MobileRouter: p.MobileRouter,
	}
}
