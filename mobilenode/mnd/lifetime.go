package mnd

import (
	"net/netip"
	"time"

	"github.com/gomip6/gomip6/mip6"
)

// Binding lifetimes bounded by the valid lifetimes of the addresses (RFC
// 6275 §11.7.1 for the home registration, §11.7.2 for correspondents):
// the lifetime of a Binding Update "MUST be no greater than the remaining
// valid lifetime of the home address and the care-of address".
//
// The home address's valid lifetime is the home prefix's, as the home
// agent's last accepted Mobile Prefix Advertisement gave it (§11.4.3,
// mps.go; nothing is known before the first, and then the lifetime is
// not bounded). The care-of address's is the kernel's valid lifetime of
// the address (addrLifetimes): an RA's Prefix Information option moves it,
// but RFC 4862 §5.5.3 e keeps an unauthenticated RA from cutting it below
// two hours, so a misconfigured router (or anyone on the link) advertising
// a valid lifetime of seconds cannot stop the node from registering, as
// the prefix's advertised lifetime taken as is would. The registration
// (mobilenode.Registration.SetHomeAddressValidUntil, SetCareOfValidUntil)
// keeps every Binding Update within both, and stops registering, with
// the event "home_address_invalid" (or "care_of_invalid"), when one has
// less than one 4 s unit left. Correspondent registrations follow:
// mobilenode.RouteOptimizer never asks for more than what is left of the
// home binding, which is within both bounds.

// addrLifetimes are the kernel's valid lifetimes of the access
// interfaces' global addresses (RTM_NEWADDR's IFA_CACHEINFO), as the
// time each ends: zero for infinite. One entry per address the kernel
// has; an address removed is forgotten.
type addrLifetimes map[netip.Addr]time.Time

// infiniteLft is IFA_CACHEINFO's infinite lifetime (all ones, as in RFC
// 4861 §4.6.2).
const infiniteLft = 0xffffffff

// note records address a with validLft seconds left at now (present), or
// its removal.
func (l addrLifetimes) note(a netip.Addr, validLft int, present bool, now time.Time) {
	a = a.WithZone("")
	switch {
	case !present:
		delete(l, a)
	case validLft < 0 || validLft >= infiniteLft:
		l[a] = time.Time{}
	default:
		l[a] = now.Add(time.Duration(validLft) * time.Second)
	}
}

// until returns when a stops being valid: zero for infinite or unknown.
func (l addrLifetimes) until(a netip.Addr) time.Time { return l[a.WithZone("")] }

// validUntil returns when the home address stops being valid as the
// advertisement gave the home prefix's valid lifetime: zero when nothing
// is known (no advertisement, or one that did not list the home prefix)
// or the lifetime is infinite (RFC 4861 §4.6.2: all ones).
func (p homePrefix) validUntil() time.Time {
	if p.At.IsZero() || !p.Seen || p.Valid >= mip6.NDInfiniteLifetime {
		return time.Time{}
	}
	return p.At.Add(p.Valid)
}
