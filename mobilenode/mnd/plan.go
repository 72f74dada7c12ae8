package mnd

import (
	"fmt"
	"net/netip"
	"slices"
)

// Routing choices of the daemon. They are ours, not the RFC's: RFC 6275
// §11.3.1 only says that packets from the home address go through the home
// agent while away, and leaves how to route them to the implementation.
const (
	// DefaultTable is the policy routing table that holds the default
	// route for packets sourced from the care-of address ("m6").
	DefaultTable = 0x6d36
	// RulePriority is the priority of the "from care-of address" rule:
	// before the main table (32766), after the local table (0).
	RulePriority = 1000
	// RouteMetric is the metric of the routes the daemon installs in the
	// main table: below the kernel's RA-learned default (1024), so ours win
	// while they exist and the kernel's take over when they are removed.
	RouteMetric = 1
	// RouteProtocol marks every route and rule the daemon installs
	// (rtm_protocol, FRA_PROTOCOL), so that -cleanup finds exactly what a
	// crashed run left, whatever its addresses were. 109 is unassigned in
	// Linux's rtnetlink.h and iproute2's rt_protos.
	RouteProtocol = 109
)

// Route is one route the daemon wants in the kernel. Routes are identified
// by (Table, Dst, Metric), the key Linux replaces on RTM_NEWROUTE with
// NLM_F_REPLACE, so changing the device, gateway or preferred source of a
// route with the same key is one atomic operation: no packet ever finds
// the route missing.
type Route struct {
	Table  int
	Dst    netip.Prefix
	Metric int
	// Dev is the output interface, Gateway the next hop (a link-local
	// router address; zero for a point-to-point device such as mip0).
	Dev     string
	Gateway netip.Addr
	// Src is the preferred source address (RTA_PREFSRC): the kernel's
	// source address selection returns it for sockets that do not bind
	// one, which is how applications come to use the home address
	// without RFC 6724's rule 4 (CONFIG_IPV6_MIP6 is not in this kernel).
	Src netip.Addr
}

// Key returns the route's identity in the kernel.
func (r Route) Key() RouteKey { return RouteKey{r.Table, r.Dst, r.Metric} }

func (r Route) String() string {
	s := r.Dst.String()
	if r.Gateway.IsValid() {
		s += " via " + r.Gateway.String()
	}
	s += " dev " + r.Dev
	if r.Src.IsValid() {
		s += " src " + r.Src.String()
	}
	s += fmt.Sprintf(" metric %d", r.Metric)
	if r.Table != 0 && r.Table != mainTable {
		s += fmt.Sprintf(" table %d", r.Table)
	}
	return s
}

// RouteKey identifies a route: what RTM_NEWROUTE with NLM_F_REPLACE
// replaces.
type RouteKey struct {
	Table  int
	Dst    netip.Prefix
	Metric int
}

// Rule is one policy routing rule: packets from Src use Table.
type Rule struct {
	Src      netip.Prefix
	Table    int
	Priority int
}

func (r Rule) String() string {
	return fmt.Sprintf("from %s lookup %d pref %d", r.Src, r.Table, r.Priority)
}

// mainTable is RT_TABLE_MAIN.
const mainTable = 254

// Plan is the routing state the daemon wants for one situation.
type Plan struct {
	Routes []Route
	Rules  []Rule
}

// Away describes the mobile node away from home, for PlanAway.
type Away struct {
	// Tunnel is the tunnel device (mip0) that holds the home address.
	Tunnel string
	// Iface is the access interface of the care-of address, Router the
	// link-local address of its default router (the RA's source).
	Iface  string
	Router netip.Addr
	// CareOf, HomeAddress and HomeAgent are the binding's addresses.
	CareOf, HomeAddress, HomeAgent netip.Addr
	// HomePrefix is the home subnet prefix: routed into the tunnel too,
	// over the on-link route the home link's RA left on the access
	// interface (valid for days), which would otherwise send packets for
	// home-link hosts out of the foreign link as Neighbor Solicitations.
	HomePrefix netip.Prefix
	// Table is the policy table for care-of-sourced traffic.
	Table int
	// HomeAgentIPv4 is the home agent's IPv4 address (home_agent_ipv4):
	// with an IPv4 care-of address (RFC 5555) it is where the tunnel
	// goes, and Router is then the IPv4 default route's next hop (an
	// invalid Addr: a device route).
	HomeAgentIPv4 netip.Addr
	// HomeAddressIPv4 is the IPv4 home address granted (RFC 5555
	// §3.1.1), valid only while it is carried (an IPv4 care-of address,
	// IPv6 in UDP): the host's IPv4 traffic then goes through mip0 too.
	HomeAddressIPv4 netip.Addr
}

// PlanAway returns the routes and rules of a mobile node away from home:
//
//   - default dev mip0 src HoA metric 1 (main): applications' packets get
//     the home address as source and enter the tunnel device, where the
//     Forwarder reverse-tunnels them to the home agent (§11.3.1). The
//     kernel's own RA-learned default (metric 1024) stays as it is and
//     simply loses.
//   - HA/128 via router dev IFACE metric 1 (main): the tunnel's outer
//     packets and the Binding Updates, both to the home agent, leave from
//     the physical interface and never loop into mip0. It is a host route,
//     more specific than any default, so it wins whatever else is there.
//     (Left out while the home agent is unknown: DHAAD finds it.)
//   - HOMEPREFIX dev mip0 src HoA metric 1 (main): hosts of the home link
//     are reached through the tunnel like everything else; the on-link
//     route of the home prefix that the kernel learned at home (metric
//     256, days of lifetime) stays and loses.
//   - default via router dev IFACE metric 1 in Table, with the rule
//     "from CoA lookup Table": anything sourced from the care-of address
//     (return routability's Care-of Test Init, a socket bound to the
//     care-of address) goes out directly instead of into mip0, whose
//     Forwarder would drop it (its source owns no binding).
//
// A move between access interfaces replaces each route under the same key,
// so the route to the home agent and the tunnel default are never absent.
//
// With an IPv4 care-of address (Dual-Stack MIPv6, RFC 5555) the IPv6
// routes into mip0 are the same, and instead of the IPv6 routes through
// the access link there is one IPv4 host route: HA4/32 via the IPv4
// default route's next hop, so the tunnel's packets keep their way out of
// the physical interface whatever else (a VPN, an IPv4 default into
// mip0) claims the IPv4 default. There is no IPv6 route through the
// physical link at all (it has no IPv6 router), and no care-of rule: a
// socket bound to the IPv4 care-of address uses the main table's IPv4
// default, which is the kernel's, as it should.
func PlanAway(a Away) Plan {
	if a.CareOf.Is4() {
		return planAway4(a)
	}
	table := a.Table
	if table == 0 {
		table = DefaultTable
	}
	p := Plan{
		Routes: []Route{
			{Table: table, Dst: defaultRoute, Metric: RouteMetric, Dev: a.Iface, Gateway: a.Router},
			{Table: mainTable, Dst: defaultRoute, Metric: RouteMetric, Dev: a.Tunnel, Src: a.HomeAddress},
		},
		Rules: []Rule{{Src: netip.PrefixFrom(a.CareOf, 128), Table: table, Priority: RulePriority}},
	}
	if a.HomePrefix.IsValid() {
		p.Routes = append(p.Routes, Route{Table: mainTable, Dst: a.HomePrefix.Masked(), Metric: RouteMetric, Dev: a.Tunnel, Src: a.HomeAddress})
	}
	if a.HomeAgent.IsValid() {
		// First: the Binding Update needs it.
		p.Routes = slices.Insert(p.Routes, 0, Route{Table: mainTable, Dst: netip.PrefixFrom(a.HomeAgent, 128), Metric: RouteMetric, Dev: a.Iface, Gateway: a.Router})
	}
	return p
}

// planAway4 is PlanAway for an IPv4 care-of address.
func planAway4(a Away) Plan {
	var p Plan
	if a.HomeAgentIPv4.Is4() {
		p.Routes = append(p.Routes, Route{Table: mainTable, Dst: netip.PrefixFrom(a.HomeAgentIPv4, 32), Metric: RouteMetric, Dev: a.Iface, Gateway: a.Router})
	}
	p.Routes = append(p.Routes, Route{Table: mainTable, Dst: defaultRoute, Metric: RouteMetric, Dev: a.Tunnel, Src: a.HomeAddress})
	if a.HomePrefix.IsValid() {
		p.Routes = append(p.Routes, Route{Table: mainTable, Dst: a.HomePrefix.Masked(), Metric: RouteMetric, Dev: a.Tunnel, Src: a.HomeAddress})
	}
	if a.HomeAddressIPv4.Is4() {
		// The IPv4 home address: the two halves of the IPv4 space into
		// mip0 with it as source. Being more specific than any default
		// they win over the visited network's (DHCP's, whatever its
		// metric) without touching it, and lose to the host route to
		// the home agent and to the visited subnet's own route, which
		// must stay outside the tunnel.
		for _, half := range ipv4Halves {
			p.Routes = append(p.Routes, Route{Table: mainTable, Dst: half, Metric: RouteMetric, Dev: a.Tunnel, Src: a.HomeAddressIPv4})
		}
	}
	return p
}

var ipv4Halves = [2]netip.Prefix{netip.MustParsePrefix("0.0.0.0/1"), netip.MustParsePrefix("128.0.0.0/1")}

// PlanHome returns the routes of a mobile node on its home link: the home
// address is an ordinary address of iface (RFC 6275 §11.5.5), and one
// default route through the home link's router with the home address as
// preferred source keeps new connections on the home address too (the
// kernel would otherwise pick the SLAAC address it also formed from the
// home prefix). It replaces the away plan's mip0 default under the same
// key, so there is no instant without a default route while coming home.
// router may be zero (no RA seen yet): then there is no route to install.
func PlanHome(iface string, router, hoa netip.Addr) Plan {
	if !router.IsValid() {
		return Plan{}
	}
	return Plan{Routes: []Route{
		{Table: mainTable, Dst: defaultRoute, Metric: RouteMetric, Dev: iface, Gateway: router, Src: hoa},
	}}
}

var defaultRoute = netip.MustParsePrefix("::/0")

// Change is the ordered list of kernel operations that turn one Plan into
// another without a gap: first every route of the new plan is replaced
// (added, or changed in place under its key), then new rules are added,
// then old rules and the routes the new plan does not have are deleted.
type Change struct {
	Replace     []Route
	AddRules    []Rule
	DeleteRules []Rule
	Delete      []Route
}

// Empty reports whether the change does nothing.
func (c Change) Empty() bool {
	return len(c.Replace)+len(c.AddRules)+len(c.DeleteRules)+len(c.Delete) == 0
}

// Diff returns the operations from old to new. Routes already installed
// with the same content are left alone; routes whose key stays but whose
// content changes are replaced in place.
//
// stale names interfaces that went down since old was installed (nil: none):
// an administratively downed interface loses its routes in the kernel, one
// that only lost carrier keeps them, and the daemon cannot tell which, so
// new's routes through a stale interface are replaced even when old has
// them already; old's routes through it that new lacks are deleted as
// usual (a route through the previous network's router must not outlive
// the move).
func Diff(old, new Plan, stale map[string]bool) Change {
	var c Change
	oldByKey := make(map[RouteKey]Route, len(old.Routes))
	for _, r := range old.Routes {
		oldByKey[r.Key()] = r
	}
	newKeys := make(map[RouteKey]bool, len(new.Routes))
	for _, r := range new.Routes {
		newKeys[r.Key()] = true
		if o, ok := oldByKey[r.Key()]; !ok || o != r || stale[r.Dev] {
			c.Replace = append(c.Replace, r)
		}
	}
	for _, r := range new.Rules {
		if !slices.Contains(old.Rules, r) {
			c.AddRules = append(c.AddRules, r)
		}
	}
	for _, r := range old.Rules {
		if !slices.Contains(new.Rules, r) {
			c.DeleteRules = append(c.DeleteRules, r)
		}
	}
	for _, r := range old.Routes {
		if !newKeys[r.Key()] {
			c.Delete = append(c.Delete, r)
		}
	}
	return c
}
