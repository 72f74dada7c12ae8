package mnd

import (
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/gomip6/gomip6/internal/rawsock"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/mobilenode"
)

// Mobile prefix discovery, mobile node side (RFC 6275 §11.4.2-§11.4.3).
//
// Away from home and registered, the node asks its home agent for the
// home prefix's lifetimes with a Mobile Prefix Solicitation: from the
// care-of address with the Home Address option (§11.4.2 requires the
// option; had answers only a solicitation whose care-of address is the
// one its binding holds, §9.3.1), with a fresh random Identifier on each
// transmission. It is sent
//
//   - when a registration is acknowledged with status 1, "accepted but
//     prefix discovery necessary" (§11.7.3);
//   - after the first registration of a run, while nothing is known of
//     the prefix: the node cannot tell when its home address is "about to
//     become invalid" (§11.4.2) before it has heard a lifetime once;
//   - when the prefix's valid lifetime, as last advertised, nears its end
//     (mobilenode.RefreshInterval of it after the advertisement: the same
//     margin as a binding refresh, which the binding, bounded by that
//     lifetime, also needs by then: an answer extending the lifetime
//     lets the refresh ask for the configured lifetime again);
//   - when an unsolicited advertisement arrives (§11.4.3: discarded, and
//     answered with a solicitation, which the home agent's retransmissions
//     of its unsolicited advertisement wait for, §10.6.3).
//
// An unanswered solicitation is sent again after INITIAL_SOLICIT_TIMER (3
// s, §12), doubling, mpsRetries times; then the node waits for the next
// reason above.
//
// A Mobile Prefix Advertisement comes from the home agent to the care-of
// address with a type 2 routing header (§6.8, §10.6.2), which this kernel
// refuses on input (no CONFIG_IPV6_MIP6), so a packet socket with its own
// filter (mpaFilter) catches it first. §11.4.3's checks: the source is the
// home agent the node last registered with, the routing header names our
// home address, and the Identifier is that of the latest solicitation not
// yet answered; anything else is discarded (the unsolicited case asks
// again). IPsec protection (§11.4.3 SHOULD) is not available: the
// Identifier match and the routing header are what bind the answer to the
// question.
//
// An accepted advertisement updates the home prefix's lifetimes (status
// "home_prefix"), and its valid lifetime bounds the lifetime of every
// Binding Update from then on (§11.7.1, lifetime.go): a home prefix
// advertised with a valid lifetime of 0, or one left to run out, makes the
// home address invalid, and the node stops registering it until an
// advertisement extends it. A Prefix Information option for another
// prefix is a renumbering of the home link (§10.6): it is logged and
// listed in the status (other_prefixes), but the node keeps its
// configured home address; forming a home address from the new prefix and
// registering it (§11.4.3) is not done.

// mpsRetries is how many times an unanswered solicitation is sent again.
const mpsRetries = 4

// maxSolicitTimeout bounds the solicitation back-off.
const maxSolicitTimeout = mip6.InitialSolicitTimer << mpsRetries

// homePrefix is the home prefix as the last accepted Mobile Prefix
// Advertisement gave it.
type homePrefix struct {
	// At is when the advertisement was accepted (zero: none yet).
	At time.Time
	// Valid and Preferred are the lifetimes of the home prefix's Prefix
	// Information option (mip6.NDInfiniteLifetime: infinity); Seen says
	// the advertisement had one.
	Valid, Preferred time.Duration
	Seen             bool
	// Others are the other prefixes the advertisement carried, with a
	// nonzero valid lifetime: the home link's new prefixes.
	Others []netip.Prefix
}

// mpsState is the loop's mobile prefix discovery.
type mpsState struct {
	// id is the Identifier of the latest solicitation while unanswered
	// (0: none outstanding), next when it is sent again, timeout the wait
	// after that one, tries how many went out.
	id      uint16
	next    time.Time
	timeout time.Duration
	tries   int
	// prefix is what the home agent said last; asked the advertisement
	// time whose lifetime-driven solicitation was started, so that one
	// given up on is not started again for the same information.
	prefix homePrefix
	asked  time.Time
}

// due reports when the next solicitation goes out: the retransmission of
// an outstanding one, or the one a nearly used-up valid lifetime calls
// for. False: none is planned.
func (m *mpsState) due() (time.Time, bool) {
	if m.id != 0 {
		return m.next, true
	}
	p := m.prefix
	if !p.Seen || p.At == m.asked || p.Valid == 0 || p.Valid >= mip6.NDInfiniteLifetime {
		return time.Time{}, false
	}
	return p.At.Add(max(mobilenode.RefreshInterval(p.Valid, 0), mip6.InitialSolicitTimer)), true
}

// stale reports whether the home prefix's advertised valid lifetime is
// past the point where a solicitation is due (see due) at now, whether
// or not one was sent for it.
func (m *mpsState) stale(now time.Time) bool {
	if m.id != 0 {
		return false
	}
	saved := m.asked
	m.asked = time.Time{}
	at, ok := m.due()
	m.asked = saved
	return ok && !now.Before(at)
}

// sent records a solicitation with Identifier id sent at now: the first of
// an exchange when none is outstanding, else a retransmission. It reports
// false when the retransmissions are used up, and then nothing was to be
// sent.
func (m *mpsState) sent(id uint16, now time.Time) bool {
	if m.id == 0 {
		m.timeout, m.tries = mip6.InitialSolicitTimer, 0
		m.asked = m.prefix.At
	} else if m.tries > mpsRetries {
		m.id = 0
		return false
	}
	m.id, m.tries = id, m.tries+1
	m.next = now.Add(m.timeout)
	m.timeout = min(2*m.timeout, maxSolicitTimeout)
	return true
}

// mpaMsg is a captured Mobile Prefix Advertisement: the IPv6 source, the
// home address its type 2 routing header names, and the message.
type mpaMsg struct {
	src, home netip.Addr
	mpa       *mip6.MobilePrefixAdvertisement
}

// Why an advertisement was not accepted.
var (
	errMPASource      = errors.New("not from the home agent registered with")
	errMPAHome        = errors.New("routing header names another home address")
	errMPAUnsolicited = errors.New("unsolicited (identifier of no outstanding solicitation)")
	errMPANoPrefix    = errors.New("no Prefix Information option")
)

// accept applies §11.4.3 to m received at now by a node with home address
// hoa and home prefix home, registered with ha. On success the solicitation
// is answered and the prefix information updated; changed says it differs
// from what was known (lifetimes aside from their ageing, or other
// prefixes). errMPAUnsolicited asks for a solicitation.
func (m *mpsState) accept(msg mpaMsg, ha, hoa netip.Addr, home netip.Prefix, now time.Time) (changed bool, err error) {
	switch {
	case msg.src != ha:
		return false, errMPASource
	case msg.home != hoa:
		return false, errMPAHome
	case m.id == 0 || msg.mpa.Identifier != m.id:
		return false, errMPAUnsolicited
	}
	n := homePrefix{At: now}
	pios := 0
	for _, o := range msg.mpa.Options {
		pi, ok := o.(*mip6.PrefixInformation)
		if !ok {
			continue
		}
		pios++
		if pi.PreferredLifetime > pi.ValidLifetime {
			// §11.4.3 processes the options as a Router
			// Advertisement's, and RFC 4862 §5.5.3 (c) ignores
			// this one.
			continue
		}
		// With the R flag the field is the home agent's whole address
		// (§7.2); the prefix is its first Bits() bits.
		p := pi.Prefix.Masked()
		if p == home.Masked() {
			n.Seen, n.Valid, n.Preferred = true, pi.ValidLifetime, pi.PreferredLifetime
		} else if pi.ValidLifetime > 0 && !slices.Contains(n.Others, p) {
			n.Others = append(n.Others, p)
		}
	}
	if pios == 0 {
		// §6.8: an advertisement carries one or more; this one
		// answers nothing, and the solicitation stays outstanding.
		return false, errMPANoPrefix
	}
	if !n.Seen {
		// The home prefix went unmentioned: what was known of it
		// stands (RFC 4861 §6.3.4 treats an RA the same way), aged
		// to the new reference time.
		age := now.Sub(m.prefix.At)
		aged := func(l time.Duration) time.Duration {
			if l >= mip6.NDInfiniteLifetime {
				return l
			}
			return max(l-age, 0)
		}
		n.Seen, n.Valid, n.Preferred = m.prefix.Seen, aged(m.prefix.Valid), aged(m.prefix.Preferred)
	}
	old := m.prefix
	changed = !slices.Equal(old.Others, n.Others) || old.Seen != n.Seen ||
		!sameLifetime(old, n, old.Valid, n.Valid) || !sameLifetime(old, n, old.Preferred, n.Preferred)
	m.prefix, m.id = n, 0
	return changed, nil
}

// sameLifetime reports whether lifetime b advertised at n.At is lifetime a
// advertised at o.At aged by the time between, give or take a second
// (lifetimes are whole seconds on the wire).
func sameLifetime(o, n homePrefix, a, b time.Duration) bool {
	if a >= mip6.NDInfiniteLifetime || b >= mip6.NDInfiniteLifetime {
		return a == b
	}
	d := a - n.At.Sub(o.At) - b
	return d > -2*time.Second && d < 2*time.Second
}

// parseMPA extracts a Mobile Prefix Advertisement from a captured IPv6
// packet: ICMPv6 type 147 behind a type 2 routing header that has not been
// processed yet (Segments Left 1), with a valid checksum. The checksum's
// pseudo-header destination is the home address of the routing header,
// the final destination (RFC 8200 §8.1).
func parseMPA(pkt []byte) (mpaMsg, bool) {
	lay, err := mip6.WalkIPv6(pkt)
	if err != nil || lay.Proto != mip6.ProtoICMPv6 || lay.RH2 == 0 || lay.RH2SegmentsLeft != 1 ||
		lay.End-lay.Offset < 8 || pkt[lay.Offset] != mip6.ICMPMobilePrefixAdvert {
		return mpaMsg{}, false
	}
	icmp := pkt[lay.Offset:lay.End]
	if !mip6.VerifyICMPChecksum(icmp, lay.PseudoSrc, lay.PseudoDst) {
		return mpaMsg{}, false
	}
	m, err := mip6.ParseICMP(icmp)
	mpa, ok := m.(*mip6.MobilePrefixAdvertisement)
	if err != nil || !ok {
		return mpaMsg{}, false
	}
	return mpaMsg{src: lay.Src, home: lay.RH2Address, mpa: mpa}, true
}

// buildMPS returns the IPv6 packet of a Mobile Prefix Solicitation from
// the care-of address coa to the home agent ha with the Home Address
// option for hoa (§11.4.2): IPv6 header, Destination Options header,
// ICMPv6 type 146. The checksum's pseudo-header source is the home address
// (RFC 6275 §6.3: the receiver swaps it in before ICMPv6 sees the packet).
func buildMPS(coa, ha, hoa netip.Addr, id uint16) []byte {
	icmp, _ := mip6.MarshalICMP(&mip6.MobilePrefixSolicitation{Identifier: id})
	mip6.SetICMPChecksum(icmp, hoa, ha)
	b := make([]byte, 0, mip6.IPv6HeaderLen+24+len(icmp))
	b = mip6.AppendIPv6Header(b, uint16(24+len(icmp)), mip6.ProtoDestOpts, rawsock.DefaultHopLimit, coa, ha)
	b = mip6.AppendHomeAddressDestOpts(b, mip6.ProtoICMPv6, hoa)
	return append(b, icmp...)
}

// HomePrefixStatus is the home prefix in the status, as the home agent's
// last accepted Mobile Prefix Advertisement gave it (RFC 6275 §11.4.3).
type HomePrefixStatus struct {
	// Prefix is the configured home prefix.
	Prefix netip.Prefix `json:"prefix"`
	// Advertised says the advertisement carried it; the lifetimes are
	// then what is left of its valid and preferred lifetimes, -1 for
	// infinity.
	Advertised          bool    `json:"advertised"`
	ValidRemainingS     float64 `json:"valid_remaining_s"`
	PreferredRemainingS float64 `json:"preferred_remaining_s"`
	// AgeS is how long ago the advertisement was accepted.
	AgeS float64 `json:"age_s"`
	// HomeAddressInvalid is true when less than one Binding Update
	// lifetime unit (4 s) of the home prefix's valid lifetime is left:
	// the home address is no longer valid, and the node does not
	// register it (§11.7.1, lifetime.go).
	HomeAddressInvalid bool `json:"home_address_invalid,omitempty"`
	// OtherPrefixes are the other prefixes it carried (a renumbering of
	// the home link): not used by the node, which keeps its configured
	// home address.
	OtherPrefixes []netip.Prefix `json:"other_prefixes,omitempty"`
}

// status returns the home prefix status at now, nil before any accepted
// advertisement.
func (p homePrefix) status(home netip.Prefix, now time.Time) *HomePrefixStatus {
	if p.At.IsZero() {
		return nil
	}
	age := now.Sub(p.At)
	rem := func(l time.Duration) float64 {
		if l >= mip6.NDInfiniteLifetime {
			return -1
		}
		return max(l-age, 0).Truncate(time.Second).Seconds()
	}
	s := &HomePrefixStatus{Prefix: home, Advertised: p.Seen, AgeS: age.Truncate(time.Second).Seconds(),
		OtherPrefixes: slices.Clone(p.Others)}
	if p.Seen {
		s.ValidRemainingS, s.PreferredRemainingS = rem(p.Valid), rem(p.Preferred)
	}
	if until := p.validUntil(); !until.IsZero() && until.Sub(now) < mip6.LifetimeUnit {
		s.HomeAddressInvalid = true
	}
	return s
}
