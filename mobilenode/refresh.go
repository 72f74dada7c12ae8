package mobilenode

import "time"

// Refresh sends a refresh Binding Update at once for the binding in place
// (state Registered), as a Binding Refresh Request would (§11.7.4), and
// reports whether it did; in any other state a Binding Update is already
// in flight or there is no binding, and nothing happens. The daemon uses
// it when the tunnel goes one-way (data out, nothing back;
// mobilenode/mnd's liveness check): behind a NAT (RFC 5555 §4.3) the
// Binding Update creates a new NAT mapping and shows it to the home
// agent, which then moves the binding to it; a home agent that lost its
// bindings (a crash, a restart without its state) takes it as a new
// registration.
func (r *Registration) Refresh(now time.Time) (Output, bool) {
	if r.e.State != Registered {
		return r.output(Output{}), false
	}
	return r.output(r.start(Refreshing, r.e.CareOf, r.cfg.Lifetime, now)), true
}
