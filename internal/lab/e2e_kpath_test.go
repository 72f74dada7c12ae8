package lab

import (
	"context"
	"testing"
	"time"
)

// TestE2EKernelPath runs had with [tunnel] kernel_path = true (tunnel/ebpf,
// opt-in): with the mobile node on link A, the correspondent's probes and
// TCP connection to the home address work, and had's metrics show the
// kernel encapsulating toward the care-of address (the accelerated route
// of the binding) and decapsulating the reverse tunnel (the ingress
// program), not only the userspace forwarder. The node then goes home
// (the binding and its route go) and back to A (they come again), and the
// TCP connection survives all of it.
func TestE2EKernelPath(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	r := e2eLab(ctx, t, Options{NoCND: true, Params: func(p *Params) { p.KernelPath = true }})
	if up := metrics(ctx, t, r.HA).Sum("mip6_tunnel_kernel_path_up"); up != 1 {
		// The lab's kernel (6.6 or later, root) can load it: a failure
		// here is had's, not the machine's.
		t.Fatalf("had's kernel path is not running (mip6_tunnel_kernel_path_up %v); see had's log", up)
	}
	f := startFlow(ctx, t, r)
	t0 := time.Now()

	// away moves the node to s, waits for the flow, and returns
	// how many packets the kernel encapsulated and decapsulated meanwhile.
	away := func(s Site) (enc, dec float64) {
		t.Helper()
		before := metrics(ctx, t, r.HA)
		since := time.Now()
		moveAndRegister(ctx, t, r, s)
		f.waitFlow(t, since, 5*time.Second)
		f.waitTCP(t, since, 10*time.Second)
		time.Sleep(time.Second) // a second of flow over the tunnel
		d := metrics(ctx, t, r.HA).Delta(before)
		enc = d.Sum("mip6_tunnel_kernel_packets_total", `outcome="encapsulated"`)
		dec = d.Sum("mip6_tunnel_kernel_packets_total", `outcome="decapsulated"`)
		t.Logf("on %s: kernel encapsulated %v, decapsulated %v, passed %v, dropped %v; userspace out ok %v, in ok %v",
			s, enc, dec,
			d.Sum("mip6_tunnel_kernel_packets_total", `outcome="passed"`),
			d.Sum("mip6_tunnel_kernel_packets_total", `outcome="dropped"`),
			d.Sum("mip6_tunnel_packets_total", `direction="out"`, `reason="ok"`),
			d.Sum("mip6_tunnel_packets_total", `direction="in"`, `reason="ok"`))
		return enc, dec
	}
	// A second of probes every 10 ms and TCP every 20 ms is about 150
	// packets each way; 50 leaves room for the time the route takes to
	// follow the binding, and is far more than signalling alone.
	const least = 50
	check := func(leg string, enc, dec float64) {
		t.Helper()
		if enc < least || dec < least {
			t.Errorf("%s: the kernel encapsulated %v and decapsulated %v packets, want at least %d each", leg, enc, dec, least)
		}
	}
	enc, dec := away(SiteA)
	check("first visit to A", enc, dec)

	since := time.Now()
	moveAndRegister(ctx, t, r, SiteHome)
	f.waitTCP(t, since, 10*time.Second)
	if _, ok := haBinding(ctx, t, r); ok {
		t.Error("had still has a binding with the node at home")
	}

	enc, dec = away(SiteA)
	check("back on A", enc, dec)

	fs, ts := f.stats(t0, time.Now())
	logFlow(t, "kernel path A -> home -> A", fs, ts)
	if !ts.Survived() {
		t.Errorf("TCP did not survive A -> home -> A with the kernel path: %+v (%v)", ts, f.tcp.Snapshot().Err)
	}
}
