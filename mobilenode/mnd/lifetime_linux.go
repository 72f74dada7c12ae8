package mnd

import (
	"time"

	"go.uber.org/zap"

	"github.com/gomip6/gomip6/internal/daemon"
	"github.com/gomip6/gomip6/mobilenode"
)

// The daemon's side of the lifetime bounds (lifetime.go).

// boundMoves is given the movement decisions before moves acts on them
// (and on every Router Advertisement and timer, with or without a
// decision): it gives the registration the current bounds, the care-of
// address's for the care-of address the decisions end on, so that the
// Binding Update of a move is bounded from the first, and a prefix
// lifetime an RA changed is used by the next one. It returns evs.
func (r *engine) boundMoves(evs []mobilenode.MoveEvent) []mobilenode.MoveEvent {
	if r.reg == nil || r.stopping {
		return evs
	}
	now := time.Now()
	r.output(r.reg.SetHomeAddressValidUntil(r.mps.prefix.validUntil(), now))
	cur := r.cur
	if len(evs) > 0 {
		cur = evs[len(evs)-1]
	}
	// IPv6 care-of addresses only: an IPv4 one (RFC 5555,
	// dsmip_linux.go) is not bounded.
	if cur.Kind != mobilenode.MovedTo || !cur.CareOf.Is6() {
		return evs
	}
	until := r.addrLft.until(cur.CareOf)
	r.output(r.reg.SetCareOfValidUntil(cur.CareOf, until, now))
	return evs
}

// boundHome gives the registration the home address's bound after an
// accepted Mobile Prefix Advertisement changed it (mps_linux.go onMPA).
func (r *engine) boundHome(now time.Time) {
	if r.reg == nil || r.stopping {
		return
	}
	r.output(r.reg.SetHomeAddressValidUntil(r.mps.prefix.validUntil(), now))
}

// addressInvalid logs EventHomeAddressInvalid and EventCareOfInvalid.
func (r *engine) addressInvalid(e mobilenode.Event) {
	var until time.Time
	if r.reg != nil {
		until = r.reg.HomeAddressValidUntil()
	}
	if e.Kind == mobilenode.EventHomeAddressInvalid {
		r.log.Warn("home address no longer valid (home prefix valid lifetime over): not registering until the home agent advertises the prefix again",
			zap.String("event", "home_address_invalid"), daemon.HoA(r.cfg.HomeAddress), daemon.CoA(e.CareOf),
			daemon.HA(r.cfg.HomeAgent), zap.Time("valid_until", until))
		return
	}
	r.log.Warn("care-of address about to become invalid (its valid lifetime is ending): not registering it",
		zap.String("event", "care_of_invalid"), daemon.HoA(r.cfg.HomeAddress), daemon.CoA(e.CareOf),
		daemon.HA(r.cfg.HomeAgent), daemon.Iface(r.cur.Interface))
}
