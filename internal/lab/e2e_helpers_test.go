package lab

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gomip6/gomip6/internal/netlab"
)

// The end-to-end tests (e2e_*_test.go) run the real daemons, built from
// ./cmd/..., in the lab's topology (root tier; -short skips them, as
// daemonBinaries does). Each builds its own lab (unique namespace names,
// removed by t.Cleanup on every exit path) and is bounded by a context.

// e2eLab starts a lab with had, mnd and (unless o.NoCND) cnd, fails the
// test if one does not run, and waits until mnd reports at home. o's
// Progress is filled in, and Bin when empty (daemonBinaries).
func e2eLab(ctx context.Context, t *testing.T, o Options) *Run {
	t.Helper()
	netlab.SkipUnlessRoot(t)
	if o.Bin == "" {
		o.Bin = daemonBinaries(t)
	}
	o.Progress = testWriter{t}
	r, err := Start(ctx, t, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*Daemon{r.HA, r.MN, r.CN} {
		if d == nil {
			continue
		}
		if why := d.Why(); why != "" {
			t.Fatalf("%s not running: %s", d.Name, why)
		}
	}
	if _, err := r.WaitRegistered(ctx, SiteHome, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return r
}

// flow is the correspondent's live traffic to the home address: the probe
// stream and the TCP echo connection of the tour.
type flow struct {
	probes *Prober
	tcp    *TCPFlow
}

// startFlow starts probes every 10 ms and a TCP message every 20 ms from
// the correspondent to the home address (the mobile node must be where the
// home address works). The flow stops at the test's end.
func startFlow(ctx context.Context, t *testing.T, r *Run) *flow {
	t.Helper()
	p, err := StartProber(r.Topo.CN, r.Params.HomeAddress, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := ListenEcho(r.Topo.MN, r.Params.HomeAddress, Port)
	if err != nil {
		p.Stop(0)
		t.Fatal(err)
	}
	f := &flow{probes: p, tcp: tcp}
	t.Cleanup(func() { f.stop() })
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := tcp.Dial(dctx, r.Topo.CN, r.Params.HomeAddress, Port, 20*time.Millisecond); err != nil {
		t.Fatalf("TCP flow: %v", err)
	}
	return f
}

// stop stops the flow (idempotent) and returns its traces.
func (f *flow) stop() ([]Probe, TCPTrace) {
	return f.probes.Stop(500 * time.Millisecond), f.tcp.Stop(3 * time.Second)
}

// stats are the probe and TCP statistics of [from, to).
func (f *flow) stats(from, to time.Time) (FlowStats, TCPStats) {
	return AnalyzeProbes(f.probes.Snapshot(), from, to), AnalyzeTCP(f.tcp.Snapshot(), from, to)
}

// waitFlow waits until a probe sent after since has been answered, and
// fails the test after timeout.
func (f *flow) waitFlow(t *testing.T, since time.Time, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if anyAnswered(f.probes.Snapshot(), since, time.Now()) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no probe to the home address answered within %v", timeout)
}

// waitTCP waits until a TCP message written after since has been echoed,
// and fails the test after timeout. After an outage TCP retransmits on
// its back-off timer (RFC 6298: 1 s, 2 s, 4 s ... with Linux's 200 ms
// minimum RTO, doubling), so the connection resumes up to a few seconds
// after the path is back.
func (f *flow) waitTCP(t *testing.T, since time.Time, timeout time.Duration) time.Duration {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		tr := f.tcp.Snapshot()
		if tr.Err != nil {
			t.Fatalf("TCP connection failed: %v", tr.Err)
		}
		for _, m := range tr.Msgs {
			if !m.Sent.Before(since) && !m.Received.IsZero() {
				return m.Received.Sub(since)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no TCP message written after %v echoed within %v", since.Format("15:04:05.000"), timeout)
	return 0
}

// moveAndRegister moves the mobile node to s and waits up to 10 s for the
// registration (at home: de-registration) to show at both daemons.
func moveAndRegister(ctx context.Context, t *testing.T, r *Run, s Site) time.Duration {
	t.Helper()
	if err := r.Topo.Move(s); err != nil {
		t.Fatal(err)
	}
	d, err := r.WaitRegistered(ctx, s, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// haBinding returns had's binding for the home address, failing the test
// if had does not answer.
func haBinding(ctx context.Context, t *testing.T, r *Run) (HABinding, bool) {
	t.Helper()
	var st HAStatus
	if err := r.HA.Status(ctx, &st); err != nil {
		t.Fatalf("had status: %v", err)
	}
	return st.Binding(r.Params.HomeAddress)
}

// metrics fetches d's metrics, failing the test on error.
func metrics(ctx context.Context, t *testing.T, d *Daemon) Metrics {
	t.Helper()
	m, err := d.Metrics(ctx)
	if err != nil {
		t.Fatalf("%s metrics: %v", d.Name, err)
	}
	return m
}

// sample reads d's resources, failing the test on error.
func sample(t *testing.T, d *Daemon) ProcSample {
	t.Helper()
	s, err := d.Sample()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// attacker adds a namespace "atk", a host on the internet that sends
// crafted packets with whatever source address it likes (nothing on the
// path filters sources, as on much of the internet). Its link to inet is
// 2001:db8:ff:8::/64; its own /64, 2001:db8:ff:9::/64 (the attacker at ::2,
// on its loopback), is routed to it through that link. Routed, not
// on-link: answers to thousands of spoofed sources of an on-link /64 would
// fill inet's neighbour cache (1,024 entries by default, RFC 6583 §3.2; it
// is not settable per namespace here), which then drops the flow's packets
// too (measured: a quarter of the probes lost, gaps of 1.2 s). That
// attacks inet, not gomip6.
func attacker(t *testing.T, r *Run) *netlab.NS {
	t.Helper()
	l := r.Lab
	a, err := l.NS("atk")
	if err == nil {
		err = a.DisableDAD()
	}
	var b builder
	b.err = err
	b.link(l, r.Topo.Inet, "atk0", a, "eth0")
	b.addr(r.Topo.Inet, "atk0", "2001:db8:ff:8::1/64")
	b.addr(a, "eth0", "2001:db8:ff:8::2/64")
	b.addr(a, "lo", attackerAddr+"/64")
	b.route(a, "::/0", "via", "2001:db8:ff:8::1")
	b.route(r.Topo.Inet, "2001:db8:ff:9::/64", "via", "2001:db8:ff:8::2")
	if b.err != nil {
		t.Fatal(b.err)
	}
	return a
}

// attackerAddr is the attacker's own address.
const attackerAddr = "2001:db8:ff:9::2"

// scapy runs a Python program with scapy in ns (Debian's python3-scapy,
// /usr/bin/python3). The program starts after "from scapy.all import *"
// and the inet6 layers; conf.verb is 0.
func scapy(ctx context.Context, t *testing.T, ns *netlab.NS, program string) string {
	t.Helper()
	full := "from scapy.all import *\nfrom scapy.layers.inet6 import *\nconf.verb = 0\n" + program
	out, err := ns.RunContext(ctx, "/usr/bin/python3", "-c", full)
	if err != nil {
		t.Fatalf("scapy in %s: %v\n%s", ns.Short(), err, out)
	}
	return strings.TrimSpace(out)
}

// logFlow logs the flow's figures for a window.
func logFlow(t *testing.T, what string, fs FlowStats, ts TCPStats) {
	t.Helper()
	t.Logf("%s: probes %d sent, %d lost, longest gap %v; tcp %d sent, %d echoed, longest stall %v, alive=%v",
		what, fs.Sent, fs.Lost, fs.LongestGap.Round(time.Millisecond), ts.Sent, ts.Echoed, ts.LongestStall.Round(time.Millisecond), ts.Alive)
}

// fmtSample renders a resource sample.
func fmtSample(s ProcSample) string {
	return fmt.Sprintf("fds=%d rss=%dKiB threads=%d cpu=%v", s.FDs, s.RSSKiB, s.Threads, s.CPU)
}

// gcTracedBinaries returns a directory of wrappers that run the daemons
// with GODEBUG=gctrace=1 and GOGC=2 (WrapGCTrace), so that their live heap
// can be read from their logs and their RSS follows it.
func gcTracedBinaries(t *testing.T) string {
	t.Helper()
	netlab.SkipUnlessRoot(t)
	dir := t.TempDir()
	if err := WrapGCTrace(dir, daemonBinaries(t), 2, "had", "mnd", "cnd"); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkLiveHeap logs d's GC trace and fails the test if the live heap
// after the last collection is above the largest after the earlier ones
// by more than slackMB. Collections in the daemon's first 2 s are left
// out: both daemons allocate their tables at start (had's live heap is
// 29 MB there, mostly untouched memory that RSS does not show), and after
// that they allocate so little that a lab run sees few collections, if
// any. It needs three collections after start to judge (otherwise it
// only logs).
func checkLiveHeap(t *testing.T, d *Daemon, slackMB int) {
	t.Helper()
	var gc []GCSample
	all := d.GCTrace()
	for _, g := range all {
		if g.At >= 2*time.Second {
			gc = append(gc, g)
		}
	}
	var b strings.Builder
	step := max(1, len(gc)/20) // about 20 in the log
	for i, g := range gc {
		if i%step == 0 || i == len(gc)-1 {
			fmt.Fprintf(&b, " %d/%d@%.1fs", g.LiveMB, g.StacksMB, g.At.Seconds())
		}
	}
	start := "none"
	if n := len(all) - len(gc); n > 0 {
		start = fmt.Sprintf("%d, live heap %d MB after the last", n, all[n-1].LiveMB)
	}
	t.Logf("%s: garbage collections in its first 2 s: %s; then %d (live heap/stacks MB @ time since start):%s", d.Name, start, len(gc), b.String())
	if len(gc) < 3 {
		return
	}
	// The last two collections against the ones before: a leak keeps
	// what it took, while one collection can land on a transient (a
	// netlink dump, a batch of super-packets in flight: a CI run saw mnd
	// at 49 MB after ten collections and 51 MB at the eleventh).
	n := len(gc)
	first := 0
	for _, g := range gc[:n-2] {
		first = max(first, g.LiveMB)
	}
	if last := min(gc[n-1].LiveMB, gc[n-2].LiveMB); last > first+slackMB {
		t.Errorf("%s: live heap at least %d MB after the last two collections, at most %d MB after the earlier ones since start", d.Name, last, first)
	}
	// Goroutine stacks (a leak of goroutines shows here: 1,000 blocked
	// goroutines hold at least 2 MB).
	stacks := 0
	for _, g := range gc[:len(gc)-1] {
		stacks = max(stacks, g.StacksMB)
	}
	if last := gc[len(gc)-1].StacksMB; last > stacks+slackMB {
		t.Errorf("%s: goroutine stacks grew to %d MB, at most %d MB after the earlier collections since start", d.Name, last, stacks)
	}
}
