package mobilenode

import (
	"bytes"
	"fmt"
	"net"
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
	// DefaultKnownLinks is how many links Detecting Network Attachment
	// (RFC 6059) remembers: a laptop's home, office and a few cafés.
	DefaultKnownLinks = 16
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
	// KnownLinks bounds the links remembered for Detecting Network
	// Attachment (RFC 6059), least recently seen dropped first: 0 means
	// DefaultKnownLinks, a negative value turns DNA off.
	KnownLinks int
	// Rand returns a uniform value in [0, 1) for the jitter of Router
	// Solicitation retransmissions (RFC 7559); nil means math/rand/v2.
	Rand func() float64
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
	// dna: known only from a Neighbor Advertisement that matched a
	// remembered link (RFC 6059); its prefixes are the remembered ones,
	// and the first RA replaces them whole instead of adding to them.
	dna bool
}

// KnownRouter is a router of a link the node has seen, as Detecting
// Network Attachment (RFC 6059) identifies links: by the router's
// link-local address and link-layer address together (a link-local
// address alone, fe80::1 say, is on many networks).
type KnownRouter struct {
	Addr netip.Addr
	MAC  net.HardwareAddr
}

// knownLink is a remembered link: what the last RA of its router said.
type knownLink struct {
	router   netip.Addr
	mac      net.HardwareAddr
	home     bool
	prefixes []prefix
	// lossAfter is how long the router may stay silent (its deadline
	// less the time of its last RA): a router confirmed by DNA gets the
	// same time for its first RA.
	lossAfter time.Duration
	seen      time.Time
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
	// probed are the remembered routers DNAProbes handed out since the
	// link came up: only their Neighbor Advertisements count.
	probed []KnownRouter
	// rs is the Router Solicitation schedule (solicit.go).
	rs rsState
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
//   - Link-up is not acted on by itself: nothing is usable before an RA.
//     Solicitations says when to send Router Solicitations: at link-up,
//     retransmitted (RFC 4861 §6.3.7, RFC 7559) until a router advertises,
//     and again when a link loses its last router (solicit.go).
//   - A router that Neighbor Unreachability Detection finds unreachable
//     is dropped at once (RouterUnreachable).
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
//
// Detecting Network Attachment (RFC 6059): the links seen are remembered
// (router link-local and link-layer address, prefixes, home or not; at
// most KnownLinks, least recently seen dropped). On link-up the daemon
// asks DNAProbes which routers to probe with a unicast Neighbor
// Solicitation and reports the answers to NeighborAdvertisement: an
// answer from a remembered router whose link-layer address matches means
// the node is back on that link, so its router and prefixes count at once,
// as if its RA had come (home: return home; foreign: the care-of address
// the kernel kept across the carrier loss is used again). The router's
// first real RA confirms and corrects: its prefix set replaces the
// remembered one.
type Movement struct {
	cfg   MovementConfig
	ifs   []*ifState
	cur   MoveEvent // Kind 0: no decision yet
	known []knownLink
	rand  func() float64
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
	if cfg.KnownLinks == 0 {
		cfg.KnownLinks = DefaultKnownLinks
	}
	m := &Movement{cfg: cfg, rand: cfg.Rand}
	if m.rand == nil {
		m.rand = defaultRand
	}
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
	s.rs.restart(now)
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
	s.rs.stop()
	s.routers = s.routers[:0]
	s.probed = nil
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
			if len(s.routers) == 0 && s.rs.next.IsZero() {
				s.rs.restart(now)
			}
		}
		return m.evaluate(now, "router "+src.String()+" on "+iface+" withdrew")
	}
	s.rs.stop()
	r := router{addr: src, deadline: now.Add(ra.RouterLifetime)}
	if i >= 0 && !s.routers[i].dna {
		// Prefixes a router stops listing keep their lifetimes
		// (RFC 4862 §5.5.3 ages them; it does not drop them). Those
		// of a router known only from DNA were remembered, not
		// advertised: the RA's set replaces them.
		r.prefixes = s.routers[i].prefixes
	}
	var mac net.HardwareAddr
	for _, o := range ra.Options {
		switch o := o.(type) {
		case *mip6.NDLinkLayerAddress:
			// RFC 4861 §4.6.1: an RA's Source Link-layer Address.
			// Ethernet's is 6 octets; a longer body is padding.
			if !o.Target && len(o.Addr) >= 6 {
				mac = slices.Clone(o.Addr[:6])
			}
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
	m.remember(r, mac, now)
	return m.evaluate(now, "router advertisement from "+src.String()+" on "+iface)
}

// remember records what router r's RA said about its link, identified by
// r's link-local address and mac (without a Source Link-layer Address
// option the link cannot be identified, RFC 6059, and is not
// remembered).
func (m *Movement) remember(r router, mac net.HardwareAddr, now time.Time) {
	if m.cfg.KnownLinks < 0 || len(mac) == 0 || !r.addr.IsLinkLocalUnicast() {
		return
	}
	k := knownLink{router: r.addr, mac: mac, home: r.home, prefixes: slices.Clone(r.prefixes),
		lossAfter: r.deadline.Sub(now), seen: now}
	i := slices.IndexFunc(m.known, func(x knownLink) bool { return x.router == r.addr && bytes.Equal(x.mac, mac) })
	if i >= 0 {
		m.known = slices.Delete(m.known, i, i+1)
	}
	// Most recently seen first; the oldest falls off the end.
	m.known = slices.Insert(m.known, 0, k)
	if len(m.known) > m.cfg.KnownLinks {
		m.known = m.known[:m.cfg.KnownLinks]
	}
}

// DNAProbes returns the remembered routers to probe with a unicast
// Neighbor Solicitation now that iface's link is up (RFC 6059), most
// recently seen first, and makes their answers count on iface until the
// link goes down. Nothing while the link is down or once a router
// advertised on it.
func (m *Movement) DNAProbes(iface string) []KnownRouter {
	s := m.iface(iface)
	if s == nil || !s.up || len(s.routers) > 0 || m.cfg.KnownLinks < 0 {
		return nil
	}
	// remember keeps each (router, link-layer address) pair once.
	out := make([]KnownRouter, 0, len(m.known))
	for _, k := range m.known {
		out = append(out, KnownRouter{Addr: k.router, MAC: slices.Clone(k.mac)})
	}
	s.probed = out
	return slices.Clone(out)
}

// NeighborAdvertisement reports a solicited Neighbor Advertisement on
// iface from src (the router's link-local address, which must be the
// target) sent from link-layer address mac. When it answers one of
// DNAProbes' routers and mac is the one remembered with it, the link is
// identified (RFC 6059: both addresses of the router match): its router
// counts as live with the remembered prefixes until it misses its next
// advertisement, exactly as if its RA had just come. An answer from a
// router already heard on iface since the link came up changes nothing.
func (m *Movement) NeighborAdvertisement(iface string, src netip.Addr, mac net.HardwareAddr, now time.Time) []MoveEvent {
	s := m.iface(iface)
	if s == nil || !s.up || len(mac) == 0 {
		return nil
	}
	if !slices.ContainsFunc(s.probed, func(x KnownRouter) bool { return x.Addr == src && bytes.Equal(x.MAC, mac) }) {
		return nil
	}
	if slices.ContainsFunc(s.routers, func(r router) bool { return r.addr == src }) {
		return nil
	}
	i := slices.IndexFunc(m.known, func(x knownLink) bool { return x.router == src && bytes.Equal(x.mac, mac) })
	if i < 0 {
		return nil
	}
	k := m.known[i]
	r := router{addr: src, deadline: now.Add(k.lossAfter), home: k.home, dna: true}
	for _, p := range k.prefixes {
		// Only what is still valid (RFC 6059 reuses the
		// configuration whose lifetimes have not run out).
		if p.expires.IsZero() || p.expires.After(now) {
			r.prefixes = append(r.prefixes, p)
		}
	}
	s.routers = append(s.routers, r)
	return m.evaluate(now, "DNA: router "+src.String()+" ("+mac.String()+") of a known link answered on "+iface)
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
		if s.up {
			earliest(s.rs.next)
		}
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
		had := len(s.routers)
		s.routers = slices.DeleteFunc(s.routers, func(r router) bool {
			if !r.deadline.After(now) {
				reason = "router " + r.addr.String() + " on " + s.name + " lost"
				return true
			}
			return false
		})
		if s.up && had > 0 && len(s.routers) == 0 {
			s.rs.restart(now)
		}
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
