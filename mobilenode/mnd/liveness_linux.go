package mnd

import (
	"time"

	"go.uber.org/zap"

	"github.com/gomip6/gomip6/internal/daemon"
	"github.com/gomip6/gomip6/mobilenode"
	"github.com/gomip6/gomip6/tunnel"
)

// livenessPoll is how often the loop reads the tunnel counters for the
// liveness check while a binding is in place.
const livenessPoll = time.Second

// liveWatch is the loop's side of the liveness check (liveness.go): the
// check, its next poll (zero: at the next timer) and whether it runs.
type liveWatch struct {
	l        mobilenode.Liveness
	pollAt   time.Time
	watching bool
}

// livenessWatched reports whether the liveness check runs now.
func (r *engine) livenessWatched() bool {
	if r.reg == nil {
		return false
	}
	return livenessWatched(livenessInput{
		AtHome: r.atHome, Stopping: r.stopping, Current: r.cur,
		State: r.reg.State(), Bound: r.reg.Entry().BoundCareOf, IPv4: r.ds.enabled,
	})
}

// livenessNext returns when the loop polls the tunnel counters next. It
// runs after every event of the loop (arm), so it also notices the check
// starting and stopping: every stretch of a binding starts with fresh
// counters (the acknowledgement that began it came back).
func (r *engine) livenessNext() (time.Time, bool) {
	if !r.livenessWatched() {
		if r.live.watching {
			r.live.watching, r.live.pollAt = false, time.Time{}
			r.live.l.Stop()
		}
		return time.Time{}, false
	}
	if !r.live.watching {
		r.live.watching, r.live.pollAt = true, time.Time{}
		r.live.l.Stop()
	}
	return r.live.pollAt, true
}

// livenessTimer runs the liveness check when due: a refresh Binding
// Update goes out at once when data went out through the tunnel but
// none came back for the window, so that a home agent that lost the
// binding, or a NAT that lost its mapping, costs a few seconds instead
// of up to a refresh or keepalive interval.
func (r *engine) livenessTimer(now time.Time) {
	if !r.live.watching || !r.livenessWatched() {
		return
	}
	if !r.live.pollAt.IsZero() && now.Before(r.live.pollAt) {
		return
	}
	r.live.pollAt = now.Add(livenessPoll)
	if r.live.l.Window == 0 {
		r.live.l.Window = r.d.opts.Liveness
		if r.live.l.Window <= 0 {
			r.live.l.Window = DefaultLiveness
		}
	}
	nat := r.cur.CareOf.Is4() && r.ds.nat
	r.live.l.Max = livenessMax(r.live.l.Window, nat, r.ds.keepalive)
	c := r.tun.Counters.Snapshot()
	out := c.Get(tunnel.Out, tunnel.ReasonOK).Packets
	in := c.Get(tunnel.In, tunnel.ReasonOK).Packets
	if r.accel != nil {
		// The kernel path's packets never reach the forwarder
		// (kernelpath_linux.go); a GSO packet counts once, which
		// is all a one-way check needs.
		k := r.accel.Stats()
		out, in = out+k.Encapsulated, in+k.Decapsulated
	}
	if !r.live.l.Poll(now, out, in) {
		return
	}
	o, ok := r.reg.Refresh(now)
	if !ok {
		return
	}
	ha := r.cfg.HomeAgent
	if r.cur.CareOf.Is4() {
		ha = r.cfg.HomeAgentIPv4
	}
	r.log.Info("nothing back from the home agent through the tunnel: refreshing the binding", zap.String("event", "liveness_refresh"),
		daemon.CoA(r.cur.CareOf), daemon.HA(ha), zap.Bool("nat", nat), zap.Duration("silent_for", r.live.l.Window))
	r.d.count(func(c *Counters) { c.LivenessRefreshes++ })
	if !r.cur.CareOf.Is4() {
		r.probeRouters(r.cur.Interface, "tunnel silent")
	}
	r.output(o)
}
