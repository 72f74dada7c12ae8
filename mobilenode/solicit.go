package mobilenode

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
)

// Router Solicitation constants: RFC 4861 §10 (host constants) and RFC 7559
// §2 (continued retransmission with exponential back-off).
const (
	// RtrSolicitationInterval is RTR_SOLICITATION_INTERVAL, the spacing of
	// the first solicitations, and RFC 7559's initial retransmission time
	// (IRT).
	RtrSolicitationInterval = 4 * time.Second
	// MaxRtrSolicitations is MAX_RTR_SOLICITATIONS: RFC 4861 stops after
	// these; RFC 7559 goes on with back-off.
	MaxRtrSolicitations = 3
	// MaxRtrSolicitationInterval is RFC 7559's MAX_RTR_SOLICITATION_INTERVAL
	// (MRT), the longest wait between retransmissions.
	MaxRtrSolicitationInterval = time.Hour
)

// rsState is an interface's Router Solicitation schedule.
//
//	link up / routers all lost ──► due now ──send──► +4 s ──send──► +4 s ──send──►
//	   RFC 7559: +8 s, +16 s, ... doubling (±10 %) up to 1 h, for as long as
//	   no Router Advertisement with a nonzero Router Lifetime arrives
//	an RA (lifetime > 0) or link down ──► idle
//
// RFC 4861 §6.3.7 alone gives up after MAX_RTR_SOLICITATIONS: a laptop on a
// link whose router missed (or dropped) three solicitations would then wait
// for the router's unsolicited RA, up to MaxRtrAdvInterval (600 s with
// radvd's defaults), before it could register. RFC 7559 keeps soliciting
// with back-off instead, which also bounds what a link without any router
// costs.
type rsState struct {
	next time.Time     // zero: nothing due
	sent int           // solicitations since the schedule started
	rt   time.Duration // the last retransmission time (RFC 7559 RT)
}

// restart makes a solicitation due at now: the link came up, or it lost
// every router it had (RFC 6275 §11.5.1: a mobile node that suspects it
// moved solicits rather than waits).
func (s *rsState) restart(now time.Time) { *s = rsState{next: now} }

// stop ends the schedule: RFC 4861 §6.3.7, a host that received a valid RA
// with a nonzero Router Lifetime desists from soliciting.
func (s *rsState) stop() { *s = rsState{} }

// advance records a solicitation sent at now and schedules the next one;
// rnd returns a uniform value in [0, 1).
func (s *rsState) advance(now time.Time, rnd func() float64) {
	s.sent++
	// RFC 7559 §2 takes RFC 3315 §14's algorithm: RAND in [-0.1, 0.1],
	// RT = IRT + RAND*IRT first, then RT = 2*RTprev + RAND*RTprev, and
	// beyond MRT, RT = MRT + RAND*MRT. The jitter keeps hosts that came
	// up together (a switch reboot) from soliciting in step.
	jitter := func(d time.Duration) time.Duration {
		return time.Duration((rnd()*0.2 - 0.1) * float64(d))
	}
	if s.sent < MaxRtrSolicitations {
		// RFC 4861 §6.3.7's first solicitations, RTR_SOLICITATION_
		// INTERVAL apart (jittered as IRT is): a mobile node wants
		// its router fast, so the doubling starts after them.
		s.next = now.Add(RtrSolicitationInterval + jitter(RtrSolicitationInterval))
		return
	}
	prev := s.rt
	if prev == 0 {
		prev = RtrSolicitationInterval
	}
	rt := 2*prev + jitter(prev)
	if rt > MaxRtrSolicitationInterval {
		rt = MaxRtrSolicitationInterval + jitter(MaxRtrSolicitationInterval)
	}
	s.rt = rt
	s.next = now.Add(rt)
}

// Solicitations returns the interfaces on which a Router Solicitation is
// due at now, in preference order, and schedules each one's next. The
// caller sends them (a send that fails for want of a link-local address is
// the caller's to retry when the address comes; the schedule goes on).
func (m *Movement) Solicitations(now time.Time) []string {
	var out []string
	for _, s := range m.ifs {
		if !s.up || s.rs.next.IsZero() || s.rs.next.After(now) {
			continue
		}
		s.rs.advance(now, m.rand)
		out = append(out, s.name)
	}
	return out
}

// Routers returns the default routers live on iface, by link-local
// address: the ones whose reachability the daemon may check (RFC 4861
// §7.3 Neighbor Unreachability Detection).
func (m *Movement) Routers(iface string) []netip.Addr {
	s := m.iface(iface)
	if s == nil {
		return nil
	}
	out := make([]netip.Addr, 0, len(s.routers))
	for _, r := range s.routers {
		out = append(out, r.addr)
	}
	return out
}

// RouterUnreachable reports that Neighbor Unreachability Detection found
// router addr on iface unreachable (RFC 4861 §7.3.3: the kernel's neighbour
// entry went FAILED). The router is dropped at once, whatever its Router
// Lifetime or Advertisement Interval still promised: a router that dies
// without taking the link down, on a link whose RAs carry no Advertisement
// Interval option (radvd's defaults: 1800 s of Router Lifetime), would
// otherwise keep the node on a dead path for half an hour. An interface
// left without routers solicits again (RFC 6275 §11.5.1), so a router that
// comes back, or another one, is found.
func (m *Movement) RouterUnreachable(iface string, addr netip.Addr, now time.Time) []MoveEvent {
	s := m.iface(iface)
	if s == nil || !s.up {
		return nil
	}
	i := slices.IndexFunc(s.routers, func(r router) bool { return r.addr == addr })
	if i < 0 {
		return nil
	}
	s.routers = slices.Delete(s.routers, i, i+1)
	if len(s.routers) == 0 {
		s.rs.restart(now)
	}
	return m.evaluate(now, "router "+addr.String()+" on "+iface+" unreachable (neighbor unreachability detection)")
}

// defaultRand is the jitter source when MovementConfig.Rand is nil.
func defaultRand() float64 { return rand.Float64() }
