package mnd

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/internal/netlab"
	"github.com/gomip6/gomip6/internal/rodata"
	"github.com/gomip6/gomip6/mobilenode"
)

// newRORouteEngine returns an engine with just what roRoute and roIdle
// use: a netlink handle in a namespace of its own, a device standing for
// the route optimization tun device (roRoute points /128 routes into
// it), an optimizer that knows cn (at home: it sends nothing) and cn
// learned at seen.
func newRORouteEngine(t *testing.T, cn netip.Addr, seen time.Time) *engine {
	t.Helper()
	netlab.SkipUnlessRoot(t)
	nl, err := netlab.New(t)
	must(t, err)
	ns, err := nl.NS("ro")
	must(t, err)
	// A veth pair (the kernel may lack the dummy driver); ro0 stands
	// for the tun device.
	_, err = ns.IP("link", "add", "ro0", "type", "veth", "peer", "name", "ro1")
	must(t, err)
	for _, dev := range []string{"ro0", "ro1"} {
		_, err = ns.IP("link", "set", dev, "up")
		must(t, err)
	}
	// The routes' source is the home address: it must be local.
	must(t, ns.Addr("lo", netip.PrefixFrom(labHoA, 128).String()))
	var h *netlink.Handle
	var idx int
	must(t, ns.Do(func() error {
		var err error
		if h, err = netlink.NewHandle(); err != nil {
			return err
		}
		l, err := h.LinkByName("ro0")
		if err != nil {
			return err
		}
		idx = l.Attrs().Index
		return nil
	}))
	t.Cleanup(h.Close)
	opt, err := mobilenode.NewRouteOptimizer(mobilenode.ROConfig{HomeAddress: labHoA})
	must(t, err)
	if o, err := opt.Add(cn, seen); err != nil || len(o.Send) != 0 {
		t.Fatalf("Add: %+v, %v", o, err)
	}
	r := &engine{d: &Daemon{}, cfg: &conf.MN{HomeAddress: labHoA}, log: zap.NewNop(), h: h}
	r.ro.opt = opt
	r.ro.tun = &rodata.Tun{Name: "ro0", Index: idx}
	r.ro.routes = map[netip.Addr]bool{}
	r.ro.learned = map[netip.Addr]roUsage{cn: {seen: seen}}
	empty := map[netip.Addr]*roDirect{}
	r.ro.direct.Store(&empty)
	return r
}

// TestRootRORouteIdleUsage: a fall-back to the tunnel and a new direct
// path (a handover: every correspondent goes back to the tunnel, then
// direct from the new care-of address) neither makes an idle learned
// correspondent look in use (the new path's counters start from zero,
// not from the count roIdle last saw) nor loses the packets its old path
// carried since roIdle's last look.
func TestRootRORouteIdleUsage(t *testing.T) {
	cn := netip.MustParseAddr("2001:db8:2::77")
	coa1 := netip.MustParseAddr("2001:db8:a::10")
	coa2 := netip.MustParseAddr("2001:db8:b::10")
	direct := func(r *engine) *roDirect { return (*r.ro.direct.Load())[cn] }
	learned := func(r *engine) bool { _, ok := r.ro.learned[cn]; return ok }

	t.Run("idle after a fall-back", func(t *testing.T) {
		t0 := time.Now()
		r := newRORouteEngine(t, cn, t0)
		r.roRoute(cn, coa1, true)
		if !r.ro.routes[cn] || direct(r) == nil {
			t.Fatalf("roRoute on: route %v, direct %v", r.ro.routes[cn], direct(r))
		}
		direct(r).out.Add(100)
		// The check sees the traffic: in use at t0+1m.
		r.roIdle(t0.Add(time.Minute))
		if u := r.ro.learned[cn]; u.packets != 100 || !u.seen.Equal(t0.Add(time.Minute)) {
			t.Fatalf("usage %+v after 100 packets", u)
		}
		// Back to the tunnel and direct again, with no traffic since.
		r.roRoute(cn, netip.Addr{}, false)
		if r.ro.routes[cn] || direct(r) != nil {
			t.Fatalf("roRoute off: route %v, direct %v", r.ro.routes[cn], direct(r))
		}
		r.roRoute(cn, coa2, true)
		r.roIdle(t0.Add(time.Minute + roIdleTimeout - time.Second))
		if !learned(r) {
			t.Fatal("removed before roIdleTimeout")
		}
		r.roIdle(t0.Add(time.Minute + roIdleTimeout + time.Second))
		if learned(r) {
			u := r.ro.learned[cn]
			t.Errorf("idle since t0+1m, still learned %v later: last seen at t0+%v, %d packets", roIdleTimeout+time.Second, u.seen.Sub(t0), u.packets)
		}
		if _, ok := r.ro.opt.Entry(cn); ok {
			t.Error("the optimizer still has the idle correspondent")
		}
	})

	t.Run("traffic just before a fall-back", func(t *testing.T) {
		// Learned long ago and idle since, as far as roIdle has seen;
		// then 50 packets go directly and the path falls back before
		// the next check.
		t0 := time.Now()
		r := newRORouteEngine(t, cn, t0.Add(-10*time.Minute))
		r.roRoute(cn, coa1, true)
		direct(r).out.Add(50)
		r.roRoute(cn, netip.Addr{}, false)
		r.roRoute(cn, coa2, true)
		r.roIdle(t0.Add(roIdleTimeout - time.Second))
		if !learned(r) {
			t.Fatal("removed although its direct path carried packets just before the fall-back")
		}
		// From then on idle: removed once roIdleTimeout has passed
		// since the fall-back (made at t0 or a little later).
		r.roIdle(t0.Add(roIdleTimeout + time.Minute))
		if learned(r) {
			u := r.ro.learned[cn]
			t.Errorf("still learned %v after its last packets: last seen at t0+%v, %d packets", roIdleTimeout+time.Minute, u.seen.Sub(t0), u.packets)
		}
	})
}
