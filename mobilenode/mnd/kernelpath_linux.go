//go:build linux

package mnd

import (
	"errors"
	"net"
	"net/netip"

	"go.uber.org/zap"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/internal/control"
	"github.com/gomip6/gomip6/internal/daemon"
	"github.com/gomip6/gomip6/tunnel"
	"github.com/gomip6/gomip6/tunnel/ebpf"
)

// useKernelPath sets up fc for [tunnel] kernel_path (tunnel/ebpf), as
// had does: the kernel encapsulates what the plan routes into the tunnel
// device (packets from the home address, keyed on it: outer source the
// care-of address, outer destination the home agent) and decapsulates,
// on the access interfaces, what the home agent tunnels to the care-of
// address for the home address, with Tunnel.Decap's rules for a mobile
// node (RFC 6275 §10.4.5 from our side: outer source the home agent,
// outer destination the current care-of address), in IPv6 and, on an
// IPv4 care-of address without a NAT, in 6in4 (RFC 5555). Everything
// else stays with the userspace forwarder: IPv6 in UDP (behind a NAT),
// IPv4 inner packets, the Mobility Header and packets with extension
// headers, and route-optimized traffic (ro_linux.go), which does not
// enter the tunnel.
// With kernel_path off fc is left as it is.
func (r *engine) useKernelPath(fc *tunnel.ForwarderConfig, cfg *conf.MN) {
	if !cfg.Tunnel.KernelPath {
		return
	}
	// Packet sockets see arriving packets before the ingress program
	// decapsulates them (tunnel refuses the combination); the GRO
	// super-packets they were for are what the program decapsulates
	// whole; if it does not start, the forwarder takes them through
	// packet sockets again.
	fc.PacketReceiveFallback = fc.PacketReceive
	fc.PacketReceive = false
	tc := tunnel.Config{Role: tunnel.RoleMobileNode, ErrorSource: cfg.HomeAddress}
	fc.EBPF = func(dev string) (tunnel.KernelPath, error) {
		ifs := existingInterfaces(cfg.Interfaces)
		if len(ifs) == 0 {
			return nil, &ebpf.Error{Err: errors.New("none of the access interfaces exists")}
		}
		kp, err := ebpf.Start(ebpf.Config{Tunnel: tc, Interfaces: ifs}, func(a *ebpf.Accelerator) error {
			r.setAccel(a)
			return nil
		})(dev)
		if err != nil {
			return nil, err
		}
		r.log.Info("tunnel kernel path on", daemon.Iface(dev), zap.Strings("ingress", ifs))
		return kp, nil
	}
	fc.OnError = ebpf.OnError(func(err error) {
		r.log.Warn("tunnel kernel path: running without it where it failed", zap.Error(err))
	}, fc.OnError)
}

// existingInterfaces returns the names of ifs that exist now: the ingress
// program goes on them. An access interface that appears later (a USB
// modem) has none: its tunnel packets take the userspace forwarder.
func existingInterfaces(ifs []string) []string {
	var out []string
	for _, n := range ifs {
		if _, err := net.InterfaceByName(n); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// kernelPathStarted runs once the forwarder is up: a kernel path whose
// first Sync failed was closed by the forwarder, and its routes must not
// be asked for.
func (r *engine) kernelPathStarted() {
	if r.accel == nil {
		return
	}
	if e := r.fwd.Stats().KernelPathError; e != "" {
		r.setAccel(nil)
	}
}

// kernelPathClosed runs once the forwarder has closed, and the kernel
// path with it.
func (r *engine) kernelPathClosed() { r.setAccel(nil) }

func (r *engine) setAccel(a *ebpf.Accelerator) {
	r.accel = a
	// The liveness check's counters change their sum (liveness_linux.go):
	// it starts afresh.
	r.live.l.Stop()
	r.d.mu.Lock()
	r.d.accel = a
	r.d.mu.Unlock()
}

// KernelPathStats returns the counters of the tunnel's kernel path
// ([tunnel] kernel_path) and whether it runs. A GSO packet counts once.
func (d *Daemon) KernelPathStats() (tunnel.KernelStats, bool) {
	d.mu.Lock()
	a := d.accel
	d.mu.Unlock()
	if a == nil {
		return tunnel.KernelStats{}, false
	}
	return a.Stats(), true
}

// kernelPathMetrics is what /v1/metrics shows of the kernel path: nil
// when [tunnel] kernel_path is off, down when it is on but not running.
func (d *Daemon) kernelPathMetrics() *control.KernelPath {
	d.mu.Lock()
	on := d.cfg != nil && d.cfg.Tunnel.KernelPath
	d.mu.Unlock()
	if !on {
		return nil
	}
	k, up := d.KernelPathStats()
	return &control.KernelPath{Up: up, Encapsulated: k.Encapsulated, Decapsulated: k.Decapsulated, Passed: k.Passed, Dropped: k.Dropped}
}

// accelerated reports whether rt is a route into the tunnel device that
// the kernel path takes: IPv6 destinations only (the IPv4 home address's
// routes carry IPv4 inner packets, which the programs leave alone).
func (r *engine) accelerated(rt Route) bool {
	return r.accel != nil && rt.Dev == r.cfg.TunnelInterface && rt.Dst.Addr().Is6()
}

func routeSpec(rt Route) ebpf.RouteSpec {
	return ebpf.RouteSpec{Dst: rt.Dst, Src: rt.Src, Metric: rt.Metric, Table: rt.Table}
}

// replaceRoute installs rt in place (RTM_NEWROUTE with NLM_F_REPLACE
// under its key), as an accelerated route when the kernel path takes it.
// Either way it replaces whatever route had the key, so a route turning
// from plain to accelerated or back (the tunnel default replaced by the
// home link's on return) is never absent. A kernel path that refuses the
// route gets the plain one, which the forwarder serves.
func (r *engine) replaceRoute(rt Route) error {
	if r.accelerated(rt) {
		err := r.accel.AddRoute(routeSpec(rt))
		if err == nil {
			return nil
		}
		r.log.Warn("tunnel kernel path: route left to the forwarder", zap.Stringer("route", rt), zap.Error(err))
	}
	nr, err := r.nlRoute(rt)
	if err != nil {
		return err
	}
	return r.h.RouteReplace(nr)
}

// deleteRoute removes rt: the accelerated route and the plain one both
// (only the one that is there goes: deletions name the protocol, which
// the kernel matches), ignoring "not there".
func (r *engine) deleteRoute(rt Route) error {
	var errs []error
	if r.accelerated(rt) {
		errs = append(errs, r.accel.DeleteRoute(routeSpec(rt)))
	}
	nr, err := r.nlRoute(rt)
	if err != nil {
		// The device is gone, and its routes with it.
		return errors.Join(errs...)
	}
	if err := r.h.RouteDel(nr); err != nil && !gone(err) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// kernelPathBinding hands the binding of the home address to the kernel
// path at once after a registration changed it in the table, instead of
// at the forwarder's next Sync (which follows on its own goroutine):
// packets from the home address leave with the new care-of address as
// source from this map update on, and the home agent's packets to the new
// care-of address are accepted. One map update replaces the whole outer
// header template, so no packet gets half of the old endpoint.
//
// What remains is the window of the move itself, the same as the
// userspace forwarder's: from the move (the plan's routes already lead
// out of the new link) until the Binding Acknowledgement, packets leave
// with the registered, old care-of address as source (RFC 6275 §11.7.3:
// the binding exists once acknowledged; the home agent accepts them as
// long as it has not processed the Binding Update), and the home agent's
// packets to the new care-of address that arrive before this update
// (the loop's work after the acknowledgement, microseconds) are dropped
// (ReasonOuterDst). Packets already queued on the old interface leave
// with the old source, or not at all.
func (r *engine) kernelPathBinding() {
	if r.accel == nil {
		return
	}
	b := r.table.Lookup(r.cfg.HomeAddress)
	if b == nil || b.Prefix() != netip.PrefixFrom(r.cfg.HomeAddress, 128) {
		return
	}
	var err error
	if k := b.Kind(); k == tunnel.KindIPv6 || k == tunnel.Kind6in4 {
		err = r.accel.Update(b)
	} else {
		// IPv6 in UDP is the forwarder's: the kernel must stop using
		// the previous endpoint now, not at the next Sync.
		err = r.accel.Delete(b.Prefix())
	}
	if err != nil {
		r.log.Warn("tunnel kernel path: binding left to the next sync", daemon.HoA(r.cfg.HomeAddress), zap.Error(err))
	}
}
