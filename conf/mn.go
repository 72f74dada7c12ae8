package conf

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/gomip6/gomip6/mip6"
)

// MN is mnd.toml, the mobile node's configuration (RFC 6275 §11).
type MN struct {
	// ID is the mobile node's NAI (RFC 4282), sent in the MN Identifier
	// option (RFC 4283); the home agent looks the node up by it.
	ID string `toml:"id"`
	// HomeAddress is the node's home address, inside HomePrefix.
	HomeAddress netip.Addr `toml:"home_address"`
	// HomePrefix is the home subnet prefix; a Router Advertisement for it
	// means the node is at home.
	HomePrefix netip.Prefix `toml:"home_prefix"`
	// HomeAgent is the home agent's address. Zero (key left out): find it
	// with Dynamic Home Agent Address Discovery (RFC 6275 §11.4.1).
	HomeAgent netip.Addr `toml:"home_agent,omitempty"`
	// HomeAgentIPv4 is the home agent's IPv4 address, used from IPv4-only
	// networks (DSMIPv6, RFC 5555). Zero: no IPv4 operation.
	HomeAgentIPv4 netip.Addr `toml:"home_agent_ipv4,omitempty"`
	// SPI, Key and Algorithm are the MN-HA security association (RFC
	// 4285), the same as in the home agent's [[mobile_node]] entry.
	SPI       uint32 `toml:"spi"`
	Key       Secret `toml:"key"`
	Algorithm string `toml:"algorithm"`
	// Interfaces are the access interfaces, most preferred first.
	Interfaces []string `toml:"interfaces"`
	// TunnelInterface is the virtual interface that holds the home
	// address. Default "mip0".
	TunnelInterface string `toml:"tunnel_interface"`
	// Lifetime is the binding lifetime requested from the home agent (it
	// may grant less): a multiple of 4 s, at most 262140 s. Default 5m.
	Lifetime Duration `toml:"lifetime"`
	// IPv4HomeAddress asks the home agent for an IPv4 home address (RFC
	// 5555 §3.1.1): a specific one, or 0.0.0.0 for any. Zero (key left
	// out): none.
	IPv4HomeAddress netip.Addr `toml:"ipv4_home_address,omitempty"`
	// ForceUDP sets the F flag (RFC 5555 §3.1.3): UDP encapsulation to
	// home_agent_ipv4 even where no NAT is detected. Default false.
	ForceUDP bool `toml:"force_udp"`

	// RouteOptimization is the default for correspondents that no entry
	// below matches: try route optimization (RFC 6275 §5.2, §11.6) or keep
	// the traffic in the home tunnel. Default false: route optimization
	// shows the care-of address, and so the node's location, to every
	// correspondent, and most correspondents do not
	// answer it; turn it on, or allow it per correspondent.
	RouteOptimization bool `toml:"route_optimization"`
	// RouteOptimizationAllow and RouteOptimizationDeny are prefixes of
	// correspondents with which route optimization is (or is not) tried,
	// whatever route_optimization says. See RouteOptimizationFor.
	RouteOptimizationAllow []netip.Prefix `toml:"route_optimization_allow,omitempty"`
	RouteOptimizationDeny  []netip.Prefix `toml:"route_optimization_deny,omitempty"`
	// Correspondents are per-correspondent policy entries.
	Correspondents []Correspondent `toml:"correspondent"`

	// Tunnel is [tunnel]: kernel_path only. On a mobile node the kernel
	// path carries the home tunnel's IPv6 packets in IPv6 (RFC 2473) and
	// in IPv4 (6in4 to home_agent_ipv4, RFC 5555 without a NAT); IPv6 in
	// UDP (behind a NAT), the IPv4 home address's packets and
	// route-optimized traffic stay on the userspace path.
	Tunnel  Tunnel  `toml:"tunnel"`
	Control Control `toml:"control"`
	Log     Log     `toml:"log"`
}

// Correspondent is one [[correspondent]] policy entry: route optimization
// on or off for one address or one prefix.
type Correspondent struct {
	// Address or Prefix (exactly one) says which correspondents the entry
	// covers.
	Address netip.Addr   `toml:"address,omitempty"`
	Prefix  netip.Prefix `toml:"prefix,omitempty"`
	// RouteOptimization is required.
	RouteOptimization bool `toml:"route_optimization"`
}

// Covers returns the prefix the entry covers (an address is a /128).
func (c Correspondent) Covers() netip.Prefix {
	if c.Address.IsValid() {
		return netip.PrefixFrom(c.Address, 128)
	}
	return c.Prefix
}

// Defaults of mnd.toml.
const (
	DefaultMNSocket        = "/run/gomip6/mnd.sock"
	DefaultTunnelInterface = "mip0"
	DefaultMNLifetime      = 5 * time.Minute
)

func defaultMN() MN {
	return MN{
		Algorithm:       "hmac-sha1",
		TunnelInterface: DefaultTunnelInterface,
		Lifetime:        Duration(DefaultMNLifetime),
		Control:         Control{Socket: DefaultMNSocket},
		Log:             defaultLog(),
	}
}

// RouteOptimizationFor tells whether the mobile node should try route
// optimization with correspondent cn. Every [[correspondent]] entry,
// route_optimization_allow prefix (on) and route_optimization_deny prefix
// (off) is a rule for a prefix; the rule with the longest prefix that
// contains cn decides, as in a routing table, so a deny for a /48 can have
// an allow for one /64 inside it. With no rule for cn, route_optimization
// decides. Validation guarantees no prefix has two rules.
func (c *MN) RouteOptimizationFor(cn netip.Addr) bool {
	decision, best := c.RouteOptimization, -1
	consider := func(p netip.Prefix, on bool) {
		if p.Bits() > best && p.Contains(cn) {
			decision, best = on, p.Bits()
		}
	}
	for _, e := range c.Correspondents {
		consider(e.Covers(), e.RouteOptimization)
	}
	for _, p := range c.RouteOptimizationAllow {
		consider(p, true)
	}
	for _, p := range c.RouteOptimizationDeny {
		consider(p, false)
	}
	return decision
}

// LoadMN reads and validates mnd.toml. A file that cannot be read gives
// the os error; a file with problems gives [Errors] listing all of them.
func LoadMN(path string) (*MN, error) { return load(path, ParseMN) }

// ParseMN validates the content of an mnd.toml and fills in the defaults.
func ParseMN(data []byte) (*MN, error) { return parse(data, defaultMN(), (*decoder).validateMN) }

func (d *decoder) validateMN(c *MN) {
	if d.required("id", `the node's NAI, e.g. "laptop@home.example"`) {
		d.checkNAI("id", c.ID)
	}
	prefixOK := d.required("home_prefix", `the home subnet, e.g. "2001:db8:100::/64"`) &&
		d.checkIPv6Prefix("home_prefix", c.HomePrefix) && d.checkHomePrefixLen("home_prefix", c.HomePrefix)
	hoaOK := d.required("home_address", "an address inside home_prefix") && d.checkIPv6Unicast("home_address", c.HomeAddress)
	if hoaOK && prefixOK {
		if !c.HomePrefix.Contains(c.HomeAddress) {
			d.addf("home_address", "%s is not inside home_prefix %s", c.HomeAddress, c.HomePrefix)
		} else if why := reservedAnycast(c.HomeAddress, c.HomePrefix); why != "" {
			d.addf("home_address", "%s %s", c.HomeAddress, why)
		}
	}
	// The home agent is a router on the home link (RFC 6275 §3.2), so its
	// address is in the home prefix; one outside it is almost surely a typo.
	if k := "home_agent"; d.ok(k) && d.checkIPv6Unicast(k, c.HomeAgent) {
		switch {
		case prefixOK && !c.HomePrefix.Contains(c.HomeAgent):
			d.addf(k, "%s is not inside home_prefix %s (the home agent is on the home link; leave the key out to discover it)", c.HomeAgent, c.HomePrefix)
		case hoaOK && c.HomeAgent == c.HomeAddress:
			d.addf(k, "%s is home_address", c.HomeAgent)
		}
	}
	if k := "home_agent_ipv4"; d.ok(k) {
		d.checkIPv4Unicast(k, c.HomeAgentIPv4)
	}
	d.checkSA("", c.SPI, c.Key, c.Algorithm)

	if d.required("interfaces", `the access interfaces in order of preference, e.g. ["eth0", "wlan0"]`) {
		if len(c.Interfaces) == 0 {
			d.addf("interfaces", "empty: list at least one access interface")
		}
		seen := map[string]int{}
		for i, n := range c.Interfaces {
			k := fmt.Sprintf("interfaces[%d]", i)
			if !d.usable(k) || !d.checkIfname(k, n) {
				continue
			}
			if j, dup := seen[n]; dup {
				d.addf(k, "%q is already listed at interfaces[%d]", n, j)
				continue
			}
			seen[n] = i
		}
	}
	if k := "tunnel_interface"; d.usable(k) && d.checkIfname(k, c.TunnelInterface) && d.usable("interfaces") {
		for i, n := range c.Interfaces {
			if n == c.TunnelInterface {
				d.addf(k, "%q is also interfaces[%d]; the home address needs an interface of its own", n, i)
			}
		}
	}
	if k := "lifetime"; d.usable(k) {
		d.checkLifetime(k, c.Lifetime, mip6.MaxLifetime)
	}
	if k := "ipv4_home_address"; d.ok(k) {
		// 0.0.0.0 asks the home agent to pick one (RFC 5555 §3.1.1).
		if a := c.IPv4HomeAddress; !a.Is4() || !a.IsUnspecified() {
			d.checkIPv4Unicast(k, a)
		}
	}
	// UDP encapsulation runs over IPv4 to the home agent's IPv4 address
	// (RFC 5555); without one the F flag has nothing to force.
	if c.ForceUDP && d.ok("force_udp") && !d.defined["home_agent_ipv4"] {
		d.addf("force_udp", "needs home_agent_ipv4: UDP encapsulation runs over IPv4 to the home agent (RFC 5555)")
	}
	d.validatePolicy(c)
	d.checkControl("control", c.Control)
	d.checkLog("log", c.Log)
}

// validatePolicy checks the route optimization rules: well-formed, and no
// prefix with two rules (which one would win?).
func (d *decoder) validatePolicy(c *MN) {
	type rule struct {
		key string
		p   netip.Prefix
	}
	var rules []rule
	for i := range c.Correspondents {
		e := &c.Correspondents[i]
		at := fmt.Sprintf("correspondent[%d]", i)
		hasA, hasP := d.defined[at+".address"], d.defined[at+".prefix"]
		switch {
		case hasA && hasP:
			d.addf(at, "has both address and prefix; give one")
			continue
		case !hasA && !hasP:
			d.addf(at, "has neither address nor prefix; give one")
			continue
		}
		d.required(at+".route_optimization", "true or false")
		if hasA {
			k := at + ".address"
			if d.usable(k) && d.checkIPv6Unicast(k, e.Address) {
				rules = append(rules, rule{k, e.Covers()})
			}
			continue
		}
		k := at + ".prefix"
		if d.usable(k) && d.checkIPv6Prefix(k, e.Prefix) {
			rules = append(rules, rule{k, e.Prefix})
		}
	}
	for _, l := range []struct {
		key string
		ps  []netip.Prefix
	}{{"route_optimization_allow", c.RouteOptimizationAllow}, {"route_optimization_deny", c.RouteOptimizationDeny}} {
		for i, p := range l.ps {
			k := fmt.Sprintf("%s[%d]", l.key, i)
			if d.usable(l.key) && d.usable(k) && d.checkIPv6Prefix(k, p) {
				rules = append(rules, rule{k, p})
			}
		}
	}
	first := map[netip.Prefix]string{}
	for _, r := range rules {
		if prev, dup := first[r.p]; dup {
			d.addf(r.key, "%s already has a rule at %s", r.p, prev)
			continue
		}
		first[r.p] = r.key
	}
}
