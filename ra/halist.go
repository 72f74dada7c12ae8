package ra

import (
	"cmp"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/gomip6/gomip6/mip6"
)

// MaxDHAADAddresses is how many home agent addresses a Home Agent Address
// Discovery Reply holds at most: RFC 6275 §10.5 keeps the reply within the
// minimum IPv6 MTU, 1280 octets (RFC 8200 §5), less the 40-octet IPv6
// header and the 8-octet ICMPv6 header of the reply: 1232 / 16 = 77.
const MaxDHAADAddresses = (1280 - 40 - 8) / 16

// MaxHomeAgents bounds the Home Agents List of one link: the entries
// learned from other home agents' RAs, the own entry not counted. Any node
// on the home link can send RAs with the H flag from as many link-local
// addresses as it likes (RFC 6275 §15.1 leaves RA authenticity to SEND),
// and without a bound each would cost an entry until its lifetime runs
// out. 64 is far above a real deployment (a handful of home agents per
// link) and below what a DHAAD reply can list (MaxDHAADAddresses).
const MaxHomeAgents = 64

// MaxAddressesPerHomeAgent bounds the global addresses one entry keeps.
// RFC 6275 §10.5.1 adds an address for every Prefix Information option
// with the R flag, and a later RA can add more without repeating the
// earlier ones, so a forged sender could otherwise grow one entry without
// end. A home agent has one address per home prefix of the link.
const MaxAddressesPerHomeAgent = 16

// HomeAgent is one entry of the Home Agents List (RFC 6275 §10.1).
type HomeAgent struct {
	// LinkLocal is the home agent's link-local address, the source of its
	// RAs, which keys the list (§10.1).
	LinkLocal netip.Addr
	// Addresses are its global addresses, learned from the Prefix
	// Information options with the R flag of its RAs (§7.2). A DHAAD reply
	// can only list a home agent that has at least one.
	Addresses []netip.Addr
	// Preference is its Home Agent Preference, higher preferred: from the
	// Home Agent Information option, 0 without one (§7.4).
	Preference int16
	// Lifetime is its Home Agent Lifetime: from the option, or the Router
	// Lifetime without one (§7.4).
	Lifetime time.Duration
	// Expires is when the entry times out (the RA's arrival plus
	// Lifetime); zero for this home agent's own entry, which does not.
	Expires time.Time
	// MobileRouter is the NEMO R flag of its Home Agent Information option
	// (RFC 3963 §7.3).
	MobileRouter bool
}

// HAList is the Home Agents List of one home link (RFC 6275 §10.1): this
// home agent's own entry and the ones learned from the other home agents'
// RAs (§10.5.1). It is safe for concurrent use: the Sender feeds it while
// the daemon answers DHAAD requests from it.
type HAList struct {
	mu      sync.Mutex
	prefix  netip.Prefix
	rnd     Rand
	self    *HomeAgent
	entries map[netip.Addr]*HomeAgent
	stats   HAListStats
}

// HAListStats are the Home Agents List's counters of what its bounds cost,
// for metrics: non-zero values on a link with a few home agents mean
// somebody is sending forged RAs.
type HAListStats struct {
	// Entries is the number of entries learned from other home agents,
	// expired ones that Expire has not removed yet included.
	Entries int
	// Evicted counts entries removed to make room for a new home agent
	// of higher preference while the list was full.
	Evicted uint64
	// Refused counts RAs from a new home agent ignored because the list
	// was full and its preference was not above the lowest there.
	Refused uint64
	// AddressesRefused counts addresses not added to an entry that
	// already had MaxAddressesPerHomeAgent.
	AddressesRefused uint64
}

// Stats returns the counters.
func (l *HAList) Stats() HAListStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.Entries = len(l.entries)
	return s
}

// NewHAList returns an empty list for the home link with home subnet
// prefix. rnd (nil: math/rand/v2) orders home agents of equal preference in
// DHAAD replies.
func NewHAList(prefix netip.Prefix, rnd Rand) *HAList {
	if rnd == nil {
		rnd = globalRand{}
	}
	return &HAList{prefix: prefix.Masked(), rnd: rnd, entries: map[netip.Addr]*HomeAgent{}}
}

// SetSelf sets this home agent's own entry (Params.Self); it never
// expires. RAs from its link-local address are then ignored: they are its
// own, looped back.
func (l *HAList) SetSelf(h HomeAgent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h.Expires = time.Time{}
	h.Addresses = slices.Clone(h.Addresses)
	l.self = &h
	delete(l.entries, h.LinkLocal)
}

// Update processes an RA received at now from src, its IP source address,
// already validated as RFC 4861 §6.1.2 requires (link-local source, hop
// limit 255). It follows RFC 6275 §10.5.1:
//   - without the H flag, the sender is not (or no longer) a home agent:
//     its entry goes;
//   - otherwise preference and lifetime come from the Home Agent
//     Information option, or are 0 and the Router Lifetime without one
//     (§7.4) — so an RA from radvd with AdvHomeAgentFlag and no options of
//     RFC 6275 is understood;
//   - a lifetime of 0 deletes the entry;
//   - otherwise the entry is created or refreshed, and every Prefix
//     Information option with the R flag adds a global address of the
//     sender (a valid lifetime of 0 removes it).
//
// The list is bounded (MaxHomeAgents entries, MaxAddressesPerHomeAgent
// addresses each), against forged RAs from the home link. A new home
// agent that finds the list full, once expired entries are gone, takes
// the place of the entry with the lowest preference (of those, the one
// that expires first) if its own preference is higher, and is ignored
// otherwise: a DHAAD reply lists the most preferred first anyway (§10.5),
// so what is dropped is what a reply would leave out first. An existing
// entry is always refreshed. Both outcomes are counted (Stats).
//
// It reports whether the list changed.
func (l *HAList) Update(src netip.Addr, ra *mip6.RouterAdvertisement, now time.Time) bool {
	if ra == nil || !src.IsLinkLocalUnicast() {
		return false
	}
	src = src.WithZone("")
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.self != nil && l.self.LinkLocal == src {
		return false
	}
	old, had := l.entries[src]
	if !ra.HomeAgent {
		delete(l.entries, src)
		return had
	}
	h := HomeAgent{LinkLocal: src, Lifetime: ra.RouterLifetime}
	for _, o := range ra.Options {
		if hai, ok := o.(*mip6.HomeAgentInformation); ok {
			h.Preference, h.Lifetime, h.MobileRouter = hai.Preference, hai.Lifetime, hai.MobileRouter
			break // §7.4 allows one; a second would be a sender's error
		}
	}
	if h.Lifetime <= 0 {
		delete(l.entries, src)
		return had
	}
	h.Expires = now.Add(h.Lifetime)
	if had {
		h.Addresses = old.Addresses
	} else if len(l.entries) >= MaxHomeAgents && !l.makeRoomLocked(h.Preference, now) {
		l.stats.Refused++
		return false
	}
	for _, o := range ra.Options {
		pi, ok := o.(*mip6.PrefixInformation)
		if !ok || !pi.RouterAddress {
			continue
		}
		a := pi.Prefix.Addr()
		if !globalUnicast(a) {
			continue
		}
		i := slices.Index(h.Addresses, a)
		switch {
		case pi.ValidLifetime == 0 && i >= 0:
			h.Addresses = slices.Delete(slices.Clone(h.Addresses), i, i+1)
		case pi.ValidLifetime > 0 && i < 0 && len(h.Addresses) >= MaxAddressesPerHomeAgent:
			l.stats.AddressesRefused++
		case pi.ValidLifetime > 0 && i < 0:
			h.Addresses = append(slices.Clone(h.Addresses), a)
		}
	}
	l.entries[src] = &h
	return true
}

// makeRoomLocked frees an entry of the full list for a new home agent of
// preference pref at now: an expired entry if there is one, else the one
// of lowest preference (the earliest to expire among equals) when pref is
// above it. It reports whether there is room. l.mu is held.
func (l *HAList) makeRoomLocked(pref int16, now time.Time) bool {
	var victim *HomeAgent
	for k, h := range l.entries {
		if !now.Before(h.Expires) {
			delete(l.entries, k)
			return true
		}
		if victim == nil || h.Preference < victim.Preference ||
			h.Preference == victim.Preference && h.Expires.Before(victim.Expires) {
			victim = h
		}
	}
	if victim == nil || pref <= victim.Preference {
		return false
	}
	delete(l.entries, victim.LinkLocal)
	l.stats.Evicted++
	return true
}

// globalUnicast reports whether a can be a home agent address a mobile
// node sends to from away (the §6.6 rule mip6 applies to DHAAD replies).
func globalUnicast(a netip.Addr) bool {
	return a.Is6() && !a.Is4In6() && a.Zone() == "" && !a.IsUnspecified() && !a.IsLoopback() &&
		!a.IsMulticast() && !a.IsLinkLocalUnicast()
}

// Expire removes the entries whose lifetime has run out at now and
// returns how many it removed (§10.5.1: an entry is deleted when its
// lifetime expires).
func (l *HAList) Expire(now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for k, h := range l.entries {
		if !now.Before(h.Expires) {
			delete(l.entries, k)
			n++
		}
	}
	return n
}

// List returns the entries valid at now, own entry included, highest
// preference first; equal preferences in link-local address order. The
// entries are copies.
func (l *HAList) List(now time.Time) []HomeAgent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []HomeAgent
	if l.self != nil {
		s := *l.self
		s.Addresses = slices.Clone(s.Addresses)
		out = append(out, s)
	}
	for _, h := range l.entries {
		if now.Before(h.Expires) {
			c := *h
			c.Addresses = slices.Clone(c.Addresses)
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b HomeAgent) int {
		if c := cmp.Compare(b.Preference, a.Preference); c != 0 {
			return c
		}
		return a.LinkLocal.Compare(b.LinkLocal)
	})
	return out
}

// DHAADReply builds the Home Agent Address Discovery Reply to req at now
// (RFC 6275 §10.5): the global addresses inside the home prefix of every
// home agent in the list, own included, in order of preference, home
// agents of equal preference in random order to share the load among
// them, and at most MaxDHAADAddresses so that the reply fits the minimum
// MTU, the least preferred left out. A mobile router's request (the R flag,
// RFC 3963 §7.1) gets only the home agents that serve mobile routers and
// a reply with the R flag (§7.2). The reply may list no address; it is
// still sent, the mobile node then retries (§11.4.1).
func (l *HAList) DHAADReply(req *mip6.HomeAgentDiscoveryRequest, now time.Time) *mip6.HomeAgentDiscoveryReply {
	rep := &mip6.HomeAgentDiscoveryReply{}
	if req != nil {
		rep.Identifier, rep.MobileRouter = req.Identifier, req.MobileRouter
	}
	all := l.List(now)
	// Shuffle within each run of equal preference (Fisher-Yates).
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].Preference == all[i].Preference {
			j++
		}
		for k := j - 1; k > i; k-- {
			m := i + int(l.rnd.Int64N(int64(k-i+1)))
			all[k], all[m] = all[m], all[k]
		}
		i = j
	}
	for _, h := range all {
		if rep.MobileRouter && !h.MobileRouter {
			continue
		}
		for _, a := range h.Addresses {
			if len(rep.HomeAgents) == MaxDHAADAddresses {
				return rep
			}
			if l.prefix.Contains(a) && globalUnicast(a) {
				rep.HomeAgents = append(rep.HomeAgents, a)
			}
		}
	}
	return rep
}
