package conf

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/gomip6/gomip6/mip6"
)

// HA is had.toml, the home agent's configuration (RFC 6275 §10).
type HA struct {
	// StateFile is where the binding cache is persisted atomically, so that
	// a restarted had resumes forwarding for every still-valid binding
	// without waiting for mobile nodes to re-register (issue 4).
	StateFile string `toml:"state_file"`

	Home                 Home                 `toml:"home"`
	RouterAdvertisements RouterAdvertisements `toml:"router_advertisements"`
	// MobileNodes are the mobile nodes allowed to register. There may be
	// none: with an [uplink], had is then a plain IPv6 home router.
	MobileNodes []MobileNode `toml:"mobile_node"`
	// IPv4 enables Dual-Stack Mobile IPv6 (RFC 5555); nil when absent.
	IPv4 *HAIPv4 `toml:"ipv4"`
	// Uplink is the home router's 6in4 uplink (issue 8); nil when absent.
	Uplink    *Uplink   `toml:"uplink"`
	RateLimit RateLimit `toml:"rate_limit"`
	Tunnel    Tunnel    `toml:"tunnel"`
	Control   Control   `toml:"control"`
	Log       Log       `toml:"log"`
}

// Home is [home]: the home link.
type Home struct {
	// Interface is the home link's network interface.
	Interface string `toml:"interface"`
	// Prefix is the home subnet prefix. It must be a /64 when the built-in
	// router advertisements are on (see RouterAdvertisements).
	Prefix netip.Prefix `toml:"prefix"`
	// Address is this home agent's own address on the home link.
	Address netip.Addr `toml:"address"`
	// MaxLifetime is the longest binding granted: a multiple of 4 s, at
	// most 262140 s (RFC 6275 §6.1.7-6.1.8). Default 10m.
	MaxLifetime Duration `toml:"max_lifetime"`
	// MobilePrefixMinInterval and MobilePrefixMaxInterval bound the
	// unsolicited Mobile Prefix Advertisements (RFC 6275 §13
	// MinMobPfxAdvInterval, MaxMobPfxAdvInterval). Defaults 600s, 86400s.
	MobilePrefixMinInterval Duration `toml:"mobile_prefix_min_interval"`
	MobilePrefixMaxInterval Duration `toml:"mobile_prefix_max_interval"`
}

// RouterAdvertisements is [router_advertisements]: the built-in RA sender
// of the home link, with the Mobile IPv6 extensions of RFC 6275 §7 (H bit,
// Home Agent Information option, Advertisement Interval option, R bit).
type RouterAdvertisements struct {
	// Enabled switches the sender on (default). Turn it off when radvd
	// already advertises on the home link.
	Enabled bool `toml:"enabled"`
	// MinInterval and MaxInterval bound the time between unsolicited RAs
	// (RFC 4861 §6.2.1 MinRtrAdvInterval, MaxRtrAdvInterval), with the
	// lower floors RFC 6275 §7.5 allows a home agent's link: 30 ms and
	// 70 ms. MaxInterval defaults to 1s. MinInterval defaults to RFC 4861's
	// 0.33 × MaxInterval when MaxInterval is 9 s or more, otherwise to
	// 0.75 × MaxInterval (RFC 4861's default there, MaxInterval itself,
	// breaks its own rule min <= 0.75 × max).
	MinInterval Duration `toml:"min_interval"`
	MaxInterval Duration `toml:"max_interval"`
	// MinDelayBetweenRAs is the least time between any two RAs, solicited
	// or not (RFC 6275 §13 MinDelayBetweenRAs, floor 30 ms, replacing RFC
	// 4861's MIN_DELAY_BETWEEN_RAS). Default: 3s or MinInterval, whichever
	// is shorter, so that the intervals above can be met.
	MinDelayBetweenRAs Duration `toml:"min_delay_between_ras"`
	// RouterLifetime is the RA's Router Lifetime: 0 (not a default router)
	// or from MaxInterval to 9000s, whole seconds (RFC 4861 §6.2.1).
	// Default 3 × MaxInterval rounded up to a whole second.
	RouterLifetime Duration `toml:"router_lifetime"`
	// HAPreference is the Home Agent Information option's preference
	// (RFC 6275 §7.4), -32768 to 32767, higher preferred. Default 0.
	HAPreference int16 `toml:"ha_preference"`
	// HALifetime is the Home Agent Information option's lifetime, 1 to
	// 65535 whole seconds (RFC 6275 §7.4: 0 must not be used). Default:
	// RouterLifetime; it must be set when RouterLifetime is 0.
	HALifetime Duration `toml:"ha_lifetime"`
	// PrefixValidLifetime and PrefixPreferredLifetime are the home
	// prefix's lifetimes in its Prefix Information option (RFC 4861
	// §4.6.2), whole seconds, preferred <= valid. Defaults are RFC 4861's:
	// 2592000s (30 days) and 604800s (7 days). 4294967295s means infinity.
	PrefixValidLifetime     Duration `toml:"prefix_valid_lifetime"`
	PrefixPreferredLifetime Duration `toml:"prefix_preferred_lifetime"`
	// MTU, when not 0, is advertised in an MTU option (RFC 4861 §4.6.4);
	// at least 1280 (RFC 8200 §5). Default 0: no MTU option.
	MTU uint32 `toml:"mtu,omitempty"`
	// RetransTimer is the home link's RetransTimer, advertised in the RAs'
	// Retrans Timer field (RFC 4861 §6.2.1 AdvRetransTimer), whole
	// milliseconds, and used by the home agent's own Duplicate Address
	// Detection of a new home registration (RFC 6275 §10.3.1), which
	// otherwise waits RFC 4861's 1 s: a shorter value on a LAN shortens
	// the first registration after leaving home. Default 0: unspecified
	// (hosts keep 1 s, and so does the home agent).
	RetransTimer Duration `toml:"retrans_timer,omitempty"`
}

// MobileNode is one [[mobile_node]]: a mobile node allowed to register, and
// its MN-HA security association (RFC 4285).
type MobileNode struct {
	// ID is the mobile node's NAI, sent in the MN Identifier option
	// (RFC 4283).
	ID string `toml:"id"`
	// HomeAddress is inside home.prefix; only this node may register it.
	HomeAddress netip.Addr `toml:"home_address"`
	// SPI is the RFC 4285 mobility SPI of the security association, 256
	// or above, unique.
	SPI uint32 `toml:"spi"`
	// Key is the MN-HA shared key, base64 in the file, at least 16 bytes.
	Key Secret `toml:"key"`
	// Algorithm is "hmac-sha1" (default, RFC 4285 §5.1) or "hmac-sha256".
	Algorithm string `toml:"algorithm"`
	// MobilePrefixes are the node's mobile network prefixes when it is a
	// mobile router (NEMO, RFC 3963), routed into its tunnel. Optional.
	MobilePrefixes []netip.Prefix `toml:"mobile_prefixes,omitempty"`
	// IPv4HomeAddress is a fixed IPv4 home address for this node (RFC
	// 5555 §3.1.1), inside ipv4.home_pool. Optional: without it a node
	// asking for one gets one from the pool.
	IPv4HomeAddress netip.Addr `toml:"ipv4_home_address,omitempty"`
}

func (m *MobileNode) setDefaults() { m.Algorithm = "hmac-sha1" }

// HAIPv4 is [ipv4]: Dual-Stack Mobile IPv6 at the home agent (RFC 5555).
type HAIPv4 struct {
	// Address is the home agent's IPv4 address that mobile nodes on IPv4
	// networks send their Binding Updates to.
	Address netip.Addr `toml:"address"`
	// HomePool is the IPv4 prefix from which IPv4 home addresses are
	// assigned (RFC 5555 §3.1.1, issue 8). Optional: without it mobile
	// nodes get no IPv4 home address.
	HomePool netip.Prefix `toml:"home_pool,omitempty"`
	// NATKeepalive is the refresh time the home agent gives mobile nodes
	// behind a NAT in the NAT Detection option (RFC 5555 §3.2.2), whole
	// seconds. Default NATKATIMEOUT, 110s.
	NATKeepalive Duration `toml:"nat_keepalive"`
}

// DefaultNATKeepalive is RFC 5555's NATKATIMEOUT.
const DefaultNATKeepalive = 110 * time.Second

func (v *HAIPv4) setDefaults() { v.NATKeepalive = Duration(DefaultNATKeepalive) }

// Uplink is [uplink]: the home router's IPv6 uplink over a 6in4 tunnel
// (IPv6 in IPv4, protocol 41, RFC 4213) to a tunnel broker (issue 8).
type Uplink struct {
	// Type is the tunnel type; only "6in4" for now.
	Type string `toml:"type"`
	// Interface is the name of the tun device had creates for the tunnel.
	// Default "mip6up0".
	Interface string `toml:"interface"`
	// LocalIPv4 and RemoteIPv4 are the tunnel's outer endpoints: this
	// router's IPv4 address (its private address when behind NAT) and the
	// broker's tunnel server.
	LocalIPv4  netip.Addr `toml:"local_ipv4"`
	RemoteIPv4 netip.Addr `toml:"remote_ipv4"`
	// LocalIPv6 and RemoteIPv6 are the IPv6 addresses of the two ends of
	// the tunnel link; RemoteIPv6 becomes the default IPv6 route.
	LocalIPv6  netip.Addr `toml:"local_ipv6"`
	RemoteIPv6 netip.Addr `toml:"remote_ipv6"`
	// RoutedPrefix is the prefix the broker routes to this router; the
	// home prefix lies inside it.
	RoutedPrefix netip.Prefix `toml:"routed_prefix"`
	// MTU is the tunnel's IPv6 MTU: default 1480 (1500 less the 20-byte
	// IPv4 header), at least 1280 (RFC 8200 §5).
	MTU int `toml:"mtu"`
}

// Uplink defaults.
const (
	DefaultUplinkInterface = "mip6up0"
	DefaultUplinkMTU       = 1480
	maxUplinkMTU           = 65535 - 20 // the largest IPv4 packet less its header
)

func (u *Uplink) setDefaults() {
	u.Interface = DefaultUplinkInterface
	u.MTU = DefaultUplinkMTU
}

// Defaults of had.toml that are not derived from other keys.
const (
	DefaultHAStateFile     = "/var/lib/gomip6/had.state"
	DefaultHASocket        = "/run/gomip6/had.sock"
	DefaultMaxLifetime     = 10 * time.Minute
	DefaultMaxRtrAdv       = 1 * time.Second
	DefaultPrefixValid     = 2592000 * time.Second // RFC 4861 AdvValidLifetime
	DefaultPrefixPreferred = 604800 * time.Second  // RFC 4861 AdvPreferredLifetime
)

// Limits from RFC 4861 §6.2.1 and the RA fields' widths.
const (
	maxMaxRtrAdv      = 1800 * time.Second
	maxRouterLifetime = 9000 * time.Second
	maxHALifetime     = 65535 * time.Second
	infiniteLifetime  = 0xffffffff * time.Second
)

func defaultHA() HA {
	return HA{
		StateFile: DefaultHAStateFile,
		Home: Home{
			MaxLifetime:             Duration(DefaultMaxLifetime),
			MobilePrefixMinInterval: Duration(mip6.DefaultMinMobPfxAdvInterval),
			MobilePrefixMaxInterval: Duration(mip6.DefaultMaxMobPfxAdvInterval),
		},
		RouterAdvertisements: RouterAdvertisements{
			Enabled:                 true,
			MaxInterval:             Duration(DefaultMaxRtrAdv),
			PrefixValidLifetime:     Duration(DefaultPrefixValid),
			PrefixPreferredLifetime: Duration(DefaultPrefixPreferred),
		},
		RateLimit: defaultRateLimit(),
		Control:   Control{Socket: DefaultHASocket},
		Log:       defaultLog(),
	}
}

// LoadHA reads and validates had.toml. A file that cannot be read gives
// the os error; a file with problems gives [Errors] listing all of them.
func LoadHA(path string) (*HA, error) { return load(path, ParseHA) }

// ParseHA validates the content of a had.toml and fills in the defaults.
func ParseHA(data []byte) (*HA, error) { return parse(data, defaultHA(), (*decoder).validateHA) }

func (d *decoder) validateHA(c *HA) {
	if d.usable("state_file") {
		d.checkAbsPath("state_file", c.StateFile)
	}
	d.validateHome(c)
	d.validateRA(c)
	d.validateMobileNodes(c)
	if c.IPv4 != nil {
		d.validateHAIPv4(c.IPv4)
	}
	if c.Uplink != nil {
		d.validateUplink(c)
	}
	d.checkRateLimit("rate_limit", c.RateLimit)
	d.checkControl("control", c.Control)
	d.checkLog("log", c.Log)
}

func (d *decoder) validateHome(c *HA) {
	h := &c.Home
	if d.required("home.interface", `the home link, e.g. "eth1"`) {
		d.checkIfname("home.interface", h.Interface)
	}
	prefixOK := d.required("home.prefix", `the home subnet, e.g. "2001:db8:100::/64"`) &&
		d.checkIPv6Prefix("home.prefix", h.Prefix) && d.checkHomePrefixLen("home.prefix", h.Prefix)
	if d.required("home.address", "this home agent's address on the home link") &&
		d.checkIPv6Unicast("home.address", h.Address) && prefixOK {
		switch {
		case !h.Prefix.Contains(h.Address):
			d.bad["home.address"] = true
			d.addf("home.address", "%s is not inside home.prefix %s", h.Address, h.Prefix)
		default:
			if why := reservedAnycast(h.Address, h.Prefix); why != "" {
				d.bad["home.address"] = true
				d.addf("home.address", "%s %s", h.Address, why)
			}
		}
	}
	if d.usable("home.max_lifetime") {
		d.checkLifetime("home.max_lifetime", h.MaxLifetime, mip6.MaxLifetime)
	}
	lo, hi := "home.mobile_prefix_min_interval", "home.mobile_prefix_max_interval"
	if d.usable(lo) && h.MobilePrefixMinInterval <= 0 {
		d.bad[lo] = true
		d.addf(lo, "must be positive")
	}
	if d.usable(hi) && h.MobilePrefixMaxInterval <= 0 {
		d.bad[hi] = true
		d.addf(hi, "must be positive")
	}
	if d.usable(lo) && d.usable(hi) && h.MobilePrefixMinInterval > h.MobilePrefixMaxInterval {
		d.bad[lo] = true
		d.addf(lo, "%s is longer than %s %s", h.MobilePrefixMinInterval, hi, h.MobilePrefixMaxInterval)
	}
}

// validateRA checks [router_advertisements] and fills the defaults that
// depend on other keys. The values are checked even when the sender is
// off: a bad value in the file is a bad value.
func (d *decoder) validateRA(c *HA) {
	ra := &c.RouterAdvertisements
	const (
		kMin, kMax   = "router_advertisements.min_interval", "router_advertisements.max_interval"
		kDelay, kRL  = "router_advertisements.min_delay_between_ras", "router_advertisements.router_lifetime"
		kHAL         = "router_advertisements.ha_lifetime"
		kValid, kPrf = "router_advertisements.prefix_valid_lifetime", "router_advertisements.prefix_preferred_lifetime"
		kMTU         = "router_advertisements.mtu"
		kRetrans     = "router_advertisements.retrans_timer"
	)
	// ha_preference needs no check: every int16 is a valid preference
	// (RFC 6275 §7.4), and the decoder refused values outside int16.

	// A home link whose hosts form addresses by SLAAC needs a /64: SLAAC
	// forms an address only when prefix length plus interface identifier
	// length is 128 (RFC 4862 §5.5.3 d), and interface identifiers are 64
	// bits (RFC 4291 §2.5.1). With the sender off, another router decides.
	// The prefix is still good for the checks that follow, so it is not
	// marked bad.
	if ra.Enabled && d.ok("home.prefix") && c.Home.Prefix.Bits() != 64 {
		d.addf("home.prefix", "%s is not a /64: hosts on the home link form addresses by SLAAC from the "+
			"advertised prefix, which needs a 64-bit interface identifier (RFC 4862 §5.5.3, RFC 4291 §2.5.1); "+
			"use a /64 or set router_advertisements.enabled = false", c.Home.Prefix)
	}

	maxOK := d.usable(kMax) && d.checkMillis(kMax, ra.MaxInterval)
	if maxOK {
		switch {
		case ra.MaxInterval.Std() < mip6.MinMaxRtrAdvInterval:
			d.addf(kMax, "%s is below %s, the floor RFC 6275 §7.5 sets for MaxRtrAdvInterval", ra.MaxInterval, mip6.MinMaxRtrAdvInterval)
			maxOK = false
		case ra.MaxInterval.Std() > maxMaxRtrAdv:
			d.addf(kMax, "%s is above %s (RFC 4861 §6.2.1)", ra.MaxInterval, maxMaxRtrAdv)
			maxOK = false
		}
		d.bad[kMax] = !maxOK
	}
	if !d.defined[kMin] && maxOK {
		m := ra.MaxInterval.Std()
		if m >= 9*time.Second {
			ra.MinInterval = Duration(m * 33 / 100)
		} else {
			ra.MinInterval = Duration(m * 3 / 4)
		}
		ra.MinInterval = Duration(ra.MinInterval.Std().Truncate(time.Millisecond))
	}
	minOK := d.usable(kMin) && (d.defined[kMin] || maxOK)
	if d.defined[kMin] && minOK {
		minOK = d.checkMillis(kMin, ra.MinInterval)
		if minOK && ra.MinInterval.Std() < mip6.MinMinRtrAdvInterval {
			d.bad[kMin] = true
			d.addf(kMin, "%s is below %s, the floor RFC 6275 §7.5 sets for MinRtrAdvInterval", ra.MinInterval, mip6.MinMinRtrAdvInterval)
			minOK = false
		}
		// RFC 4861 §6.2.1: MinRtrAdvInterval <= 0.75 × MaxRtrAdvInterval,
		// compared in integers: 4 × min <= 3 × max.
		if minOK && maxOK && 4*ra.MinInterval.Std() > 3*ra.MaxInterval.Std() {
			d.bad[kMin] = true
			d.addf(kMin, "%s is more than 0.75 × max_interval %s (RFC 4861 §6.2.1); at most %s",
				ra.MinInterval, ra.MaxInterval, (3 * ra.MaxInterval.Std() / 4).Truncate(time.Millisecond))
			minOK = false
		}
	}

	if !d.defined[kDelay] && minOK {
		ra.MinDelayBetweenRAs = Duration(min(mip6.DefaultMinDelayBetweenRAs, ra.MinInterval.Std()))
	}
	if d.defined[kDelay] && d.usable(kDelay) && d.checkMillis(kDelay, ra.MinDelayBetweenRAs) {
		switch {
		case ra.MinDelayBetweenRAs.Std() < mip6.MinMinDelayBetweenRAs:
			d.bad[kDelay] = true
			d.addf(kDelay, "%s is below %s, the floor of MinDelayBetweenRAs (RFC 6275 §13)", ra.MinDelayBetweenRAs, mip6.MinMinDelayBetweenRAs)
		case minOK && ra.MinDelayBetweenRAs > ra.MinInterval:
			d.bad[kDelay] = true
			d.addf(kDelay, "%s is longer than min_interval %s, which could then never be met", ra.MinDelayBetweenRAs, ra.MinInterval)
		}
	}

	if !d.defined[kRL] && maxOK {
		rl := 3 * ra.MaxInterval.Std()
		if r := rl % time.Second; r != 0 {
			rl += time.Second - r
		}
		ra.RouterLifetime = Duration(rl)
	}
	rlOK := d.usable(kRL) && (d.defined[kRL] || maxOK)
	if d.defined[kRL] && rlOK {
		rlOK = d.checkSeconds(kRL, ra.RouterLifetime, 0, maxRouterLifetime)
		if rlOK && maxOK && ra.RouterLifetime != 0 && ra.RouterLifetime < ra.MaxInterval {
			d.bad[kRL] = true
			d.addf(kRL, "%s is shorter than max_interval %s: must be 0 or between max_interval and 9000s (RFC 4861 §6.2.1)", ra.RouterLifetime, ra.MaxInterval)
			rlOK = false
		}
	}

	if !d.defined[kHAL] && rlOK {
		ra.HALifetime = ra.RouterLifetime
		if ra.HALifetime == 0 {
			d.bad[kHAL] = true
			d.addf(kHAL, "missing: it defaults to router_lifetime, which is 0 here, and a Home Agent Lifetime of 0 must not be used (RFC 6275 §7.4)")
		}
	}
	if d.defined[kHAL] && d.usable(kHAL) {
		if ra.HALifetime == 0 {
			d.bad[kHAL] = true
			d.addf(kHAL, "a Home Agent Lifetime of 0 must not be used (RFC 6275 §7.4)")
		} else {
			d.checkSeconds(kHAL, ra.HALifetime, time.Second, maxHALifetime)
		}
	}

	validOK := d.usable(kValid) && d.checkSeconds(kValid, ra.PrefixValidLifetime, 0, infiniteLifetime)
	prefOK := d.usable(kPrf) && d.checkSeconds(kPrf, ra.PrefixPreferredLifetime, 0, infiniteLifetime)
	if validOK && prefOK && ra.PrefixPreferredLifetime > ra.PrefixValidLifetime {
		d.bad[kPrf] = true
		d.addf(kPrf, "%s is longer than prefix_valid_lifetime %s (RFC 4861 §4.6.2)", ra.PrefixPreferredLifetime, ra.PrefixValidLifetime)
	}
	if d.usable(kMTU) && ra.MTU != 0 && ra.MTU < 1280 {
		d.bad[kMTU] = true
		d.addf(kMTU, "%d is below 1280, the IPv6 minimum link MTU (RFC 8200 §5); 0 leaves the MTU option out", ra.MTU)
	}
	if d.usable(kRetrans) && ra.RetransTimer != 0 {
		rt := time.Duration(ra.RetransTimer)
		switch {
		case rt%time.Millisecond != 0:
			d.bad[kRetrans] = true
			d.addf(kRetrans, "%s is not a whole number of milliseconds (RFC 4861 §4.2)", rt)
		case rt < 10*time.Millisecond || rt > 10*time.Second:
			// Not RFC limits: below 10 ms a busy host's answer to a DAD
			// probe can miss the window; above 10 s nothing works.
			d.bad[kRetrans] = true
			d.addf(kRetrans, "%s is outside 10ms..10s; 0 leaves it unspecified (1 s)", rt)
		}
	}
}

// checkMillis checks an interval carried in milliseconds (the Advertisement
// Interval option, RFC 6275 §7.3) and positive.
func (d *decoder) checkMillis(key string, v Duration) bool {
	switch {
	case v <= 0:
		d.addf(key, "must be positive")
	case v.Std()%time.Millisecond != 0:
		d.addf(key, "%s is not a whole number of milliseconds", v)
	default:
		return true
	}
	d.bad[key] = true
	return false
}

func (d *decoder) validateMobileNodes(c *HA) {
	homeOK := d.ok("home.prefix")
	haOK := d.ok("home.address")
	poolOK := c.IPv4 != nil && d.ok("ipv4.home_pool")

	ids := map[string]int{}
	hoas := map[netip.Addr]int{}
	spis := map[uint32]int{}
	v4hoas := map[netip.Addr]int{}
	type mnp struct {
		key string
		p   netip.Prefix
	}
	var mnps []mnp

	for i := range c.MobileNodes {
		mn := &c.MobileNodes[i]
		at := fmt.Sprintf("mobile_node[%d]", i)
		ref := func(j int) string { return fmt.Sprintf("mobile_node[%d]", j) }

		if k := at + ".id"; d.required(k, `the node's NAI, e.g. "laptop@home.example"`) && d.checkNAI(k, mn.ID) {
			if j, dup := ids[mn.ID]; dup {
				d.addf(k, "%q is already used by %s", mn.ID, ref(j))
			} else {
				ids[mn.ID] = i
			}
		}

		if k := at + ".home_address"; d.required(k, "an address inside home.prefix") && d.checkIPv6Unicast(k, mn.HomeAddress) {
			switch {
			case homeOK && !c.Home.Prefix.Contains(mn.HomeAddress):
				d.addf(k, "%s is not inside home.prefix %s", mn.HomeAddress, c.Home.Prefix)
			case haOK && mn.HomeAddress == c.Home.Address:
				d.addf(k, "%s is the home agent's own address (home.address)", mn.HomeAddress)
			case homeOK && reservedAnycast(mn.HomeAddress, c.Home.Prefix) != "":
				d.addf(k, "%s %s", mn.HomeAddress, reservedAnycast(mn.HomeAddress, c.Home.Prefix))
			default:
				if j, dup := hoas[mn.HomeAddress]; dup {
					d.addf(k, "%s is already the home address of %s", mn.HomeAddress, ref(j))
				} else {
					hoas[mn.HomeAddress] = i
				}
			}
		}

		d.checkSA(at, mn.SPI, mn.Key, mn.Algorithm)
		if k := at + ".spi"; d.ok(k) && mn.SPI >= 256 {
			if j, dup := spis[mn.SPI]; dup {
				d.addf(k, "%d is already the SPI of %s (the SPI selects the security association)", mn.SPI, ref(j))
			} else {
				spis[mn.SPI] = i
			}
		}

		for j, p := range mn.MobilePrefixes {
			k := fmt.Sprintf("%s.mobile_prefixes[%d]", at, j)
			if !d.usable(at+".mobile_prefixes") || !d.usable(k) || !d.checkIPv6Prefix(k, p) {
				continue
			}
			if homeOK && p.Overlaps(c.Home.Prefix) {
				d.addf(k, "%s overlaps home.prefix %s: a mobile network prefix is routed into the mobile router's tunnel, the home prefix stays on the home link", p, c.Home.Prefix)
				continue
			}
			mnps = append(mnps, mnp{k, p})
		}

		if k := at + ".ipv4_home_address"; d.ok(k) && d.checkIPv4Unicast(k, mn.IPv4HomeAddress) {
			switch {
			case c.IPv4 == nil || !d.defined["ipv4.home_pool"]:
				d.addf(k, "needs an IPv4 home address pool: set ipv4.home_pool")
			case !poolOK:
				// ipv4.home_pool itself is reported.
			case !c.IPv4.HomePool.Contains(mn.IPv4HomeAddress):
				d.addf(k, "%s is not inside ipv4.home_pool %s", mn.IPv4HomeAddress, c.IPv4.HomePool)
			case c.IPv4.HomePool.Bits() <= 30 && (mn.IPv4HomeAddress == c.IPv4.HomePool.Addr() || mn.IPv4HomeAddress == lastAddr(c.IPv4.HomePool)):
				// RFC 5555 gives the node a host address; the first and
				// last of a subnet are its network and broadcast addresses.
				d.addf(k, "%s is the network or broadcast address of ipv4.home_pool %s", mn.IPv4HomeAddress, c.IPv4.HomePool)
			default:
				if j, dup := v4hoas[mn.IPv4HomeAddress]; dup {
					d.addf(k, "%s is already the IPv4 home address of %s", mn.IPv4HomeAddress, ref(j))
				} else {
					v4hoas[mn.IPv4HomeAddress] = i
				}
			}
		}
	}

	ps := make([]netip.Prefix, len(mnps))
	for i, m := range mnps {
		ps[i] = m.p
	}
	for _, o := range overlaps(ps) {
		a, b := mnps[o[0]], mnps[o[1]]
		if a.p == b.p {
			d.addf(a.key, "%s is already listed at %s", a.p, b.key)
		} else {
			d.addf(a.key, "%s overlaps %s at %s", a.p, b.p, b.key)
		}
	}
}

func (d *decoder) validateHAIPv4(v *HAIPv4) {
	addrOK := d.required("ipv4.address", "the home agent's IPv4 address for mobile nodes on IPv4 networks") &&
		d.checkIPv4Unicast("ipv4.address", v.Address)
	if k := "ipv4.home_pool"; d.ok(k) {
		switch p := v.HomePool; {
		case !p.Addr().Is4():
			d.bad[k] = true
			d.addf(k, "%s is not an IPv4 prefix", p)
		case addrOK && p.Contains(v.Address):
			d.bad[k] = true
			d.addf(k, "%s contains ipv4.address %s, the home agent's own address", p, v.Address)
		}
	}
	if k := "ipv4.nat_keepalive"; d.usable(k) {
		d.checkSeconds(k, v.NATKeepalive, time.Second, 0xffffffff*time.Second)
	}
}

func (d *decoder) validateUplink(c *HA) {
	u := c.Uplink
	if k := "uplink.type"; d.required(k, `"6in4"`) && u.Type != "6in4" {
		d.bad[k] = true
		d.addf(k, "%q is not a supported tunnel type (only \"6in4\": IPv6 in IPv4, protocol 41, RFC 4213)", u.Type)
	}
	if k := "uplink.interface"; d.usable(k) && d.checkIfname(k, u.Interface) && d.ok("home.interface") && u.Interface == c.Home.Interface {
		d.bad[k] = true
		d.addf(k, "%q is home.interface; the tunnel needs its own device", u.Interface)
	}
	l4 := d.required("uplink.local_ipv4", "this router's IPv4 address") && d.checkIPv4Unicast("uplink.local_ipv4", u.LocalIPv4)
	r4 := d.required("uplink.remote_ipv4", "the tunnel broker's IPv4 address") && d.checkIPv4Unicast("uplink.remote_ipv4", u.RemoteIPv4)
	if l4 && r4 && u.LocalIPv4 == u.RemoteIPv4 {
		d.addf("uplink.remote_ipv4", "%s is also uplink.local_ipv4", u.RemoteIPv4)
	}
	l6 := d.required("uplink.local_ipv6", "this router's IPv6 address on the tunnel link") && d.checkIPv6Unicast("uplink.local_ipv6", u.LocalIPv6)
	r6 := d.required("uplink.remote_ipv6", "the broker's IPv6 address on the tunnel link") && d.checkIPv6Unicast("uplink.remote_ipv6", u.RemoteIPv6)
	if l6 && r6 && u.LocalIPv6 == u.RemoteIPv6 {
		d.addf("uplink.remote_ipv6", "%s is also uplink.local_ipv6", u.RemoteIPv6)
	}
	homeOK := d.ok("home.prefix")
	for _, e := range []struct {
		key string
		ok  bool
		a   netip.Addr
	}{{"uplink.local_ipv6", l6, u.LocalIPv6}, {"uplink.remote_ipv6", r6, u.RemoteIPv6}} {
		if e.ok && homeOK && c.Home.Prefix.Contains(e.a) {
			d.addf(e.key, "%s is inside home.prefix %s; the tunnel link is a separate link", e.a, c.Home.Prefix)
		}
	}
	if k := "uplink.routed_prefix"; d.required(k, "the prefix the broker routes to this router") && d.checkIPv6Prefix(k, u.RoutedPrefix) {
		if homeOK && !within(c.Home.Prefix, u.RoutedPrefix) {
			d.addf(k, "%s does not contain home.prefix %s: the home link is numbered from the routed prefix", u.RoutedPrefix, c.Home.Prefix)
		}
		// The broker routes the prefix to us: its own end of the tunnel
		// link cannot be in it (had makes what of the prefix is not on
		// the home link unreachable).
		if r6 && u.RoutedPrefix.Contains(u.RemoteIPv6) {
			d.addf("uplink.remote_ipv6", "%s is inside uplink.routed_prefix %s, which the broker routes to this router", u.RemoteIPv6, u.RoutedPrefix)
		}
	}
	if k := "uplink.mtu"; d.usable(k) && (u.MTU < 1280 || u.MTU > maxUplinkMTU) {
		d.bad[k] = true
		d.addf(k, "%d is outside 1280 (the IPv6 minimum, RFC 8200 §5) to %d", u.MTU, maxUplinkMTU)
	}
}
