package mnd

import (
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
// not bounded). The care-of address's is the valid lifetime of the prefix
// it was formed from, as the access link's routers advertise it
// (mobilenode.Movement.CareOfValidUntil). The registration
// (mobilenode.Registration.SetHomeAddressValidUntil, SetCareOfValidUntil)
// keeps every Binding Update within both, and stops registering, with
// the event "home_address_invalid" (or "care_of_invalid"), when one has
// less than one 4 s unit left. Correspondent registrations follow:
// mobilenode.RouteOptimizer never asks for more than what is left of the
// home binding, which is within both bounds.

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
