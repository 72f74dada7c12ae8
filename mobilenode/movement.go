package mobilenode

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/gomip6/gomip6/mip6"
)

// Movement detection defaults (our choices; RFC 6275 §11.5.1 leaves the
// algorithm open).
const (
	// DefaultRouterLossSlack is added to the time a router may take to
	// advertise: scheduling and queueing delay on a busy host.
	DefaultRouterLossSlack = 50 * time.Millisecond
	// DefaultFlapThreshold link-downs within DefaultFlapWindow make a
	// link flapping.
	DefaultFlapThreshold = 3
	// DefaultFlapWindow is the window flaps are counted in.
	DefaultFlapWindow = 30 * time.Second
	// DefaultHoldDown is how long a flapping link stays out of the
	// preference order after it comes back up; each further flap in the
	// window doubles it, up to DefaultMaxHoldDown.
	DefaultHoldDown    = 5 * time.Second
	DefaultMaxHoldDown = 2 * time.Minute
)

// maxDowns bounds the flap history kept beyond FlapThreshold: enough
// doublings to reach any sane MaxHoldDown from HoldDown.
const maxDowns = 16

// MovementConfig configures a Movement.
type MovementConfig struct {
	// Interfaces are the access interfaces, most preferred first
	// (mnd.toml interfaces). Events for other interfaces are ignored.
	Interfaces []string
	// HomePrefix is the home subnet prefix: an RA advertising it means
	// the link is the home link (§11.5.2 of RFC 6275 calls this "home
	// link detection").
	HomePrefix netip.Prefix
	// HomeAddress is never taken as a care-of address.
	HomeAddress netip.Addr
	// RouterLossMissed is how many consecutive unsolicited RAs a router
	// may miss before it counts as lost: 0 means 1 (one lost multicast
	// RA on a wireless link must not look like a move), a negative
	// value means none.
	RouterLossMissed int
	// RouterLossSlack is added to the deadline; 0 means
	// DefaultRouterLossSlack.
	RouterLossSlack time.Duration
	// FlapThreshold, FlapWindow, HoldDown and MaxHoldDown tune flap
	// damping; 0 means the Default values.
	FlapThreshold int
	FlapWindow    time.Duration
	HoldDown      time.Duration
	MaxHoldDown   time.Duration
}

// MoveKind says what a MoveEvent reports.
type MoveKind uint8

// Movement events.
const (
	// MovedTo: the best care-of address is now CareOf on Interface.
	MovedTo MoveKind = iota + 1
	// ReturnedHome: Interface is on the home link.
	ReturnedHome
	// LostConnectivity: no access interface is usable.
	LostConnectivity
)

// String names the kind.
func (k MoveKind) String() string {
	switch k {
	case MovedTo:
		return "moved"
	case ReturnedHome:
		return "returned-home"
	case LostConnectivity:
		return "lost-connectivity"
	}
	return "move(" + strconv.Itoa(int(k)) + ")"
}

// MoveEvent is a change of the movement decision.
type MoveEvent struct {
	Kind      MoveKind
	Interface string
	CareOf    netip.Addr
	// Reason says what triggered the change, for the logs.
	Reason string
}

// router is one default router heard on an interface.
type router struct {
	addr     netip.Addr
	deadline time.Time // router lost when no RA by then
	home     bool      // it advertises the home prefix
	prefixes []prefix
}

// prefix is an on-link autonomous prefix from a router, with the end of
// its valid lifetime.
type prefix struct {
	p       netip.Prefix
	expires time.Time
}

type ifState struct {
	name      string
	up        bool
	downs     []time.Time // link-downs within the flap window
	holdUntil time.Time
	routers   []router
	addrs     []netip.Addr // global unicast addresses, in order added
}

// Movement turns link, address and Router Advertisement events of the
// access interfaces into movement decisions (RFC 6275 §11.5): the best
// care-of address by interface preference, home-link detection, and
// router-lost detection from the Advertisement Interval option (§7.3,
// §11.5.1). It is pure: every method takes the current time. One goroutine
// owns it.
//
// An interface is usable when it is up and has a live default router;
// away from home it also needs a global address inside a prefix that a
// live router advertises (an address left over from the previous network
// does not count, which is why a stale care-of address is never chosen).
// The first usable interface in preference order wins; a flapping
// interface (held down) is used only when no other one is usable.
//
// Decisions:
//   - Link-up is not acted on by itself: nothing is usable before an RA
//     (the daemon sends a Router Solicitation on link-up, RFC 4861 §6.3.7).
//     Link-down is acted on at once: nothing passes over a down link.
//   - A router is lost when it misses RouterLossMissed+1 advertisement
//     intervals (plus slack), or when its Router Lifetime runs out when it
//     sends no Advertisement Interval option.
//   - Flap damping: a link that went down FlapThreshold times within
//     FlapWindow is held down for HoldDown after it comes back, doubling
//     with each further flap, up to MaxHoldDown. Held down it is skipped
//     only while another interface is usable, so a node with one link
//     never cuts itself off; with two it stops ping-ponging registrations
//     between them (each move costs a Binding Update round trip and, for
//     a new binding, the home agent's DAD).
type Movement struct {
	cfg MovementConfig
	ifs []*ifState
	cur MoveEvent // Kind 0: no decision yet
}

// NewMovement returns a Movement with every interface down.
func NewMovement(cfg MovementConfig) (*Movement, error) {
	if len(cfg.Interfaces) == 0 {
		return nil, fmt.Errorf("mobilenode: no access interfaces")
	}
	if !cfg.HomePrefix.IsValid() {
		return nil, fmt.Errorf("mobilenode: home prefix required")
	}
	cfg.HomePrefix = cfg.HomePrefix.Masked()
	if cfg.RouterLossMissed == 0 {
		cfg.RouterLossMissed = 1
	}
	cfg.RouterLossMissed = max(cfg.RouterLossMissed, 0)
	if cfg.RouterLossSlack <= 0 {
		cfg.RouterLossSlack = DefaultRouterLossSlack
	}
	if cfg.FlapThreshold <= 0 {
		cfg.FlapThreshold = DefaultFlapThreshold
	}
	if cfg.FlapWindow <= 0 {
		cfg.FlapWindow = DefaultFlapWindow
	}
	if cfg.HoldDown <= 0 {
		cfg.HoldDown = DefaultHoldDown
	}
	if cfg.MaxHoldDown <= 0 {
		cfg.MaxHoldDown = DefaultMaxHoldDown
	}
	m := &Movement{cfg: cfg}
	for _, n := range cfg.Interfaces {
		m.ifs = append(m.ifs, &ifState{name: n})
	}
	return m, nil
}

func (m *Movement) iface(name string) *ifState {
	for _, s := range m.ifs {
		if s.name == name {
			return s
		}
	}
	return nil
}

// Current returns the current decision: Kind 0 before any.
func (m *Movement) Current() MoveEvent { return m.cur }

// HeldDown reports whether iface is held down by flap damping at now.
func (m *Movement) HeldDown(iface string, now time.Time) bool {
	s := m.iface(iface)
	return s != nil && s.holdUntil.After(now)
}

// LinkUp reports that iface's link came up.
func (m *Movement) LinkUp(iface string, now time.Time) []MoveEvent {
	s := m.iface(iface)
	if s == nil || s.up {
		return nil
	}
	s.up = true
	s.prune(now, m.cfg.FlapWindow)
	s.holdUntil = time.Time{}
	if n := len(s.downs); n >= m.cfg.FlapThreshold {
		hold := m.cfg.HoldDown
		for i := m.cfg.FlapThreshold; i < n && hold < m.cfg.MaxHoldDown; i++ {
			hold *= 2
		}
		s.holdUntil = now.Add(min(hold, m.cfg.MaxHoldDown))
	}
	return m.evaluate(now, "link "+iface+" up")
}

// LinkDown reports that iface's link went down. Its routers are forgotten
// (the link may come back on another network); its addresses stay until
// AddressRemoved, but need a live router's prefix to count.
func (m *Movement) LinkDown(iface string, now time.Time) []MoveEvent {
	s := m.iface(iface)
	if s == nil || !s.up {
		return nil
	}
	s.up = false
	s.routers = s.routers[:0]
	s.prune(now, m.cfg.FlapWindow)
	s.downs = append(s.downs, now)
	// The hold-down saturates long before maxDowns flaps (the doubling
	// reaches MaxHoldDown), so older ones need not be kept: the state
	// of a link flapping a thousand times a second stays bounded.
	if len(s.downs) > m.cfg.FlapThreshold+maxDowns {
		s.downs = slices.Delete(s.downs, 0, len(s.downs)-m.cfg.FlapThreshold-maxDowns)
	}
	return m.evaluate(now, "link "+iface+" down")
}

// prune drops link-downs older than the window.
func (s *ifState) prune(now time.Time, window time.Duration) {
	i := 0
	for i < len(s.downs) && !s.downs[i].After(now.Add(-window)) {
		i++
	}
	s.downs = slices.Delete(s.downs, 0, i)
}

// AddressAdded reports a global unicast address on iface (one formed with
// optimistic DAD counts at once, RFC 4429: registration need not wait).
func (m *Movement) AddressAdded(iface string, a netip.Addr, now time.Time) []MoveEvent {
	s := m.iface(iface)
	if s == nil || !a.Is6() || !a.IsGlobalUnicast() || a == m.cfg.HomeAddress || slices.Contains(s.addrs, a) {
		return nil
	}
	s.addrs = append(s.addrs, a.WithZone(""))
	return m.evaluate(now, "address "+a.String()+" on "+iface)
}

// AddressRemoved reports that a is gone from iface.
func (m *Movement) AddressRemoved(iface string, a netip.Addr, now time.Time) []MoveEvent {
	s := m.iface(iface)
	if s == nil {
		return nil
	}
	i := slices.Index(s.addrs, a.WithZone(""))
	if i < 0 {
		return nil
	}
	s.addrs = slices.Delete(s.addrs, i, i+1)
	return m.evaluate(now, "address "+a.String()+" removed from "+iface)
}

// RouterAdvertisement reports a valid RA (ra.ValidateRA) from src on
// iface. A Router Lifetime of 0 withdraws the router (RFC 4861 §6.3.4).
func (m *Movement) RouterAdvertisement(iface string, src netip.Addr, ra *mip6.RouterAdvertisement, now time.Time) []MoveEvent {
	s := m.iface(iface)
	if s == nil || ra == nil || !s.up {
		return nil
	}
	i := slices.IndexFunc(s.routers, func(r router) bool { return r.addr == src })
	if ra.RouterLifetime <= 0 {
		if i >= 0 {
			s.routers = slices.Delete(s.routers, i, i+1)
		}
		return m.evaluate(now, "router "+src.String()+" on "+iface+" withdrew")
	}
	r := router{addr: src, deadline: now.Add(ra.RouterLifetime)}
	if i >= 0 {
		// Prefixes a router stops listing keep their lifetimes
		// (RFC 4862 §5.5.3 ages them; it does not drop them).
		r.prefixes = s.routers[i].prefixes
	}
	for _, o := range ra.Options {
		switch o := o.(type) {
		case *mip6.AdvertisementInterval:
			// §7.3, §11.5.1: the longest time between the router's
			// unsolicited RAs.
			if o.Interval > 0 {
				d := time.Duration(m.cfg.RouterLossMissed+1)*o.Interval + m.cfg.RouterLossSlack
				r.deadline = now.Add(min(d, ra.RouterLifetime))
			}
		case *mip6.PrefixInformation:
			p := netip.PrefixFrom(o.Prefix.Addr(), o.Prefix.Bits()).Masked()
			if p == m.cfg.HomePrefix {
				r.home = true
			}
			j := slices.IndexFunc(r.prefixes, func(x prefix) bool { return x.p == p })
			if !o.Autonomous && !o.OnLink {
				continue
			}
			if o.ValidLifetime <= 0 {
				if j >= 0 {
					r.prefixes = slices.Delete(slices.Clone(r.prefixes), j, j+1)
				}
				continue
			}
			exp := now.Add(o.ValidLifetime)
			if o.ValidLifetime >= mip6.NDInfiniteLifetime {
				exp = time.Time{}
			}
			if j >= 0 {
				r.prefixes = slices.Clone(r.prefixes)
				r.prefixes[j].expires = exp
			} else {
				r.prefixes = append(slices.Clone(r.prefixes), prefix{p, exp})
			}
		}
	}
	if i >= 0 {
		s.routers[i] = r
	} else {
		s.routers = append(s.routers, r)
	}
	return m.evaluate(now, "router advertisement from "+src.String()+" on "+iface)
}

// NextTimer returns when Timer has work next: a router deadline, a prefix
// expiry or the end of a hold-down.
func (m *Movement) NextTimer() (time.Time, bool) {
	var t time.Time
	earliest := func(u time.Time) {
		if !u.IsZero() && (t.IsZero() || u.Before(t)) {
			t = u
		}
	}
	for _, s := range m.ifs {
		earliest(s.holdUntil)
		for _, r := range s.routers {
			earliest(r.deadline)
			for _, p := range r.prefixes {
				earliest(p.expires)
			}
		}
	}
	return t, !t.IsZero()
}

// Timer expires routers, prefixes and hold-downs due at now.
func (m *Movement) Timer(now time.Time) []MoveEvent {
	reason := "timer"
	for _, s := range m.ifs {
		if !s.holdUntil.IsZero() && !s.holdUntil.After(now) {
			s.holdUntil = time.Time{}
			reason = "hold-down of " + s.name + " ended"
		}
		s.routers = slices.DeleteFunc(s.routers, func(r router) bool {
			if !r.deadline.After(now) {
				reason = "router " + r.addr.String() + " on " + s.name + " lost"
				return true
			}
			return false
		})
		for i := range s.routers {
			r := &s.routers[i]
			r.prefixes = slices.DeleteFunc(slices.Clone(r.prefixes), func(p prefix) bool {
				return !p.expires.IsZero() && !p.expires.After(now)
			})
		}
	}
	return m.evaluate(now, reason)
}

// careOf returns s's care-of address: the current one if still good, else
// the first address added that lies in a live router's prefix.
func (s *ifState) careOf(cur netip.Addr) netip.Addr {
	var best netip.Addr
	for _, a := range s.addrs {
		for _, r := range s.routers {
			for _, p := range r.prefixes {
				if p.p.Contains(a) {
					if a == cur {
						return a
					}
					if !best.IsValid() {
						best = a
					}
				}
			}
		}
	}
	return best
}

// choice is what interface s offers: home, a care-of address, or nothing.
func (m *Movement) choice(s *ifState) (MoveEvent, bool) {
	if !s.up || len(s.routers) == 0 {
		return MoveEvent{}, false
	}
	for _, r := range s.routers {
		if r.home {
			return MoveEvent{Kind: ReturnedHome, Interface: s.name}, true
		}
	}
	cur := netip.Addr{}
	if m.cur.Interface == s.name {
		cur = m.cur.CareOf
	}
	coa := s.careOf(cur)
	if !coa.IsValid() || m.cfg.HomePrefix.Contains(coa) {
		return MoveEvent{}, false
	}
	return MoveEvent{Kind: MovedTo, Interface: s.name, CareOf: coa}, true
}

// evaluate recomputes the decision and returns the change, if any.
func (m *Movement) evaluate(now time.Time, reason string) []MoveEvent {
	next := MoveEvent{Kind: LostConnectivity}
	found := false
	for pass := 0; pass < 2 && !found; pass++ {
		for _, s := range m.ifs {
			if pass == 0 && s.holdUntil.After(now) {
				continue
			}
			if c, ok := m.choice(s); ok {
				next, found = c, true
				break
			}
		}
	}
	if next.Kind == m.cur.Kind && next.Interface == m.cur.Interface && next.CareOf == m.cur.CareOf {
		return nil
	}
	if next.Kind == LostConnectivity && m.cur.Kind == 0 {
		// Nothing was ever usable: no news.
		return nil
	}
	next.Reason = reason
	m.cur = next
	return []MoveEvent{next}
}
