package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/mobilenode"
)

// Route optimization (RFC 6275 §5.2, §11.6, §11.7.2) end to end: the real
// had, mnd and cnd in the lab, the correspondent's flow to the home
// address. mnd names the correspondent in a [[correspondent]] entry, so
// that return routability starts at the first registration (learning it
// from sampled traffic works too, but adds a random delay).

// roParams turns route optimization on in both daemons for the lab's
// correspondent.
func roParams(p *Params) {
	p.RouteOptimization = true
	p.Correspondents = []netip.Addr{CNAddr}
}

// roView is what mnd and cnd say about the correspondent binding.
type roView struct {
	mn    MNStatus
	entry MNBinding // mnd's Binding Update List entry for CNAddr
	cn    HABinding // cnd's binding for the home address
	cnOK  bool
}

// observeRO reads mnd's and cnd's status.
func observeRO(ctx context.Context, t *testing.T, r *Run) roView {
	t.Helper()
	var v roView
	if err := r.MN.Status(ctx, &v.mn); err != nil {
		t.Fatalf("mnd status: %v", err)
	}
	v.entry, _ = v.mn.Correspondent(CNAddr)
	if r.CN.Running() {
		var cs CNStatus
		if err := r.CN.Status(ctx, &cs); err == nil {
			v.cn, v.cnOK = cs.Binding(r.Params.HomeAddress)
		}
	}
	return v
}

// String describes both sides for a log or a failure.
func (v roView) String() string {
	cn := "none"
	if v.cnOK {
		cn = fmt.Sprintf("%s seq %d", v.cn.CareOfAddress, v.cn.Sequence)
	}
	return fmt.Sprintf("mnd coa %q encap %s; mnd entry for %s: state %q coa %s direct %v failures %d reason %q; cnd binding: %s",
		v.mn.CareOfAddress, v.mn.Encapsulation, CNAddr, v.entry.State, v.entry.CareOfAddress, v.entry.Direct, v.entry.Failures, v.entry.Reason, cn)
}

// up reports whether route optimization is in use for the care-of address
// mnd reports: mnd sends directly and cnd's binding names that address.
func (v roView) up() bool {
	coa, err := parseCoA(v.mn.CareOfAddress)
	return err == nil && coa.Is6() && v.entry.Direct && v.entry.CareOfAddress == coa &&
		v.cnOK && coaAddr(v.cn.CareOfAddress) == coa
}

// coaAddr is the address of a care-of address in a status or log
// ("addr", or "addr:port" behind a NAT); invalid if it is none.
func coaAddr(s string) netip.Addr {
	a, _ := parseCoA(s)
	return a
}

// waitRO polls every 20 ms until f holds, failing the test after timeout.
func waitRO(ctx context.Context, t *testing.T, r *Run, what string, timeout time.Duration, f func(roView) bool) roView {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v := observeRO(ctx, t, r)
		if f(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, timeout, v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tunnelPackets is had's count of packets through the home tunnel, both
// directions, every outcome.
func tunnelPackets(m Metrics) float64 { return m.Sum("mip6_tunnel_packets_total") }

// roDirectPackets is cnd's count of data packets on its route
// optimization data path, both directions.
func roDirectPackets(m Metrics) float64 { return m.Sum("mip6_cn_data_packets_total") }

// medianRTT is the median round-trip time of the probes sent in [from,
// to) that were answered, and how many there were.
func medianRTT(probes []Probe, from, to time.Time) (time.Duration, int) {
	var rtts []time.Duration
	for _, p := range probes {
		if p.Sent.Before(from) || !p.Sent.Before(to) || !p.Answered() {
			continue
		}
		rtts = append(rtts, p.Received.Sub(p.Sent))
	}
	if len(rtts) == 0 {
		return 0, 0
	}
	slices.Sort(rtts)
	return rtts[len(rtts)/2], len(rtts)
}

// roLogEntry is one line of mnd's JSON log, the fields the route
// optimization timing needs.
type roLogEntry struct {
	TS    time.Time `json:"ts"`
	Msg   string    `json:"msg"`
	Event string    `json:"event"`
	Type  string    `json:"type"`
	CN    string    `json:"cn"`
	CoA   string    `json:"coa"`
}

// roTiming is return routability and the correspondent Binding Update
// after one registration, from mnd's log: all times after Registered
// (mnd's "registered" event, logged as the home agent's Binding
// Acknowledgement is processed, right before route optimization starts).
type roTiming struct {
	Registered time.Time
	// FirstSent is when the first Home or Care-of Test Init left, Tests
	// when both keygen tokens were in (the Binding Update leaves then),
	// Direct when the correspondent's Binding Acknowledgement was
	// accepted (mnd's "ro_direct" event).
	FirstSent, Tests, Direct time.Duration
	// HoTI, CoTI and BU count what was sent (retransmissions
	// included).
	HoTI, CoTI, BU int
}

// String gives the figures, in 10 µs steps.
func (x roTiming) String() string {
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	if x.HoTI+x.CoTI == 0 {
		// §11.7.2 lets fresh keygen tokens be used again: the
		// Binding Update alone.
		return fmt.Sprintf("RR+BU %v after the home BA (keygen tokens reused: %d BU, no test)", r(x.Direct), x.BU)
	}
	return fmt.Sprintf("RR+BU %v after the home BA (first test init +%v, tokens in +%v; sent %d HoTI, %d CoTI, %d BU)",
		r(x.Direct), r(x.FirstSent), r(x.Tests), x.HoTI, x.CoTI, x.BU)
}

// readROTiming reads mnd's log for the first registration for coa after
// since and the route optimization with the lab's correspondent that
// followed it, up to its "ro_direct". The messages sent and the tests'
// end are debug entries (Params.MNLogLevel "debug", the lab's default).
func readROTiming(t *testing.T, r *Run, since time.Time, coa netip.Addr) (roTiming, bool) {
	t.Helper()
	var x roTiming
	done := false
	cn := CNAddr.String()
	eachLogEntry(t, r.MN, func(e roLogEntry) bool {
		if e.TS.Before(since) {
			return true
		}
		if x.Registered.IsZero() {
			if e.Event == "registered" && coaAddr(e.CoA) == coa {
				x.Registered = e.TS
			}
			return true
		}
		at := e.TS.Sub(x.Registered)
		switch {
		case e.Msg == "route optimization: sent" && e.CN == cn:
			if x.FirstSent == 0 && (e.Type == "HoTI" || e.Type == "CoTI") {
				x.FirstSent = at
			}
			switch e.Type {
			case "HoTI":
				x.HoTI++
			case "CoTI":
				x.CoTI++
			case "BU":
				x.BU++
			}
		case e.Msg == "return routability done" && e.CN == cn && x.Tests == 0:
			x.Tests = at
		case e.Event == "ro_direct" && e.CN == cn:
			x.Direct, done = at, true
			return false
		}
		return true
	})
	return x, done
}

// countROSent counts the route optimization messages mnd's log says it
// sent to the correspondent after since, by type ("HoTI", "CoTI", "BU").
func countROSent(t *testing.T, r *Run, since time.Time) map[string]int {
	t.Helper()
	n := map[string]int{}
	eachLogEntry(t, r.MN, func(e roLogEntry) bool {
		if !e.TS.Before(since) && e.Msg == "route optimization: sent" && e.CN == CNAddr.String() {
			n[e.Type]++
		}
		return true
	})
	return n
}

// eachLogEntry calls f with each JSON entry of d's log until f returns
// false.
func eachLogEntry(t *testing.T, d *Daemon, f func(roLogEntry) bool) {
	t.Helper()
	file, err := os.Open(d.Proc.Log)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		var e roLogEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil && !f(e) {
			return
		}
	}
}

// roLab is a lab with route optimization on and the flow running, and
// the steps its tests share.
type roLab struct {
	ctx context.Context
	t   *testing.T
	r   *Run
	f   *flow
	// timings are the RR+BU figures of each registration on link A,
	// legs the registrations' names.
	timings []roTiming
	legs    []string
}

// roLabAtA starts a roLab bounded by timeout, the flow running, and
// moves the mobile node to link A (legA).
func roLabAtA(t *testing.T, timeout time.Duration) *roLab {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	t.Cleanup(cancel)
	r := e2eLab(ctx, t, Options{Params: roParams})
	l := &roLab{ctx: ctx, t: t, r: r, f: startFlow(ctx, t, r)}
	l.legA("home -> A")
	return l
}

// checkTCP waits until a TCP message written after since is echoed.
func (l *roLab) checkTCP(what string, since time.Time) {
	l.t.Helper()
	back := l.f.waitTCP(l.t, since, 15*time.Second)
	l.t.Logf("%s: TCP echoed a message written %v after it", what, back.Round(time.Millisecond))
}

// legA moves the mobile node to link A and checks route optimization:
// up within 10 s (mnd direct, cnd's binding for the care-of address),
// the flow and TCP through. It logs and records the RR+BU time from
// mnd's log.
func (l *roLab) legA(what string) {
	t, r := l.t, l.r
	t.Helper()
	t0 := time.Now()
	moveAndRegister(l.ctx, t, r, SiteA)
	v := waitRO(l.ctx, t, r, what+": route optimization up", 10*time.Second, roView.up)
	coa := v.entry.CareOfAddress
	l.f.waitFlow(t, t0, 10*time.Second)
	l.checkTCP(what, t0)
	x, ok := readROTiming(t, r, t0, coa)
	if !ok {
		t.Fatalf("%s: mnd's log does not show the registration for %s and ro_direct after it: %+v", what, coa, x)
	}
	if x.BU == 0 {
		t.Fatalf("%s: mnd's log has no debug entry for the Binding Update it sent (log level not debug?): %+v", what, x)
	}
	t.Logf("%s: care-of address %s; %v", what, coa, x)
	// Issue 7's target is one round trip each way: nothing may have
	// needed a retransmission (the first comes after
	// INITIAL_BINDACK_TIMEOUT, 1 s, §11.8).
	if x.HoTI > 1 || x.CoTI > 1 || x.BU > 1 {
		t.Errorf("%s: return routability or the Binding Update was retransmitted: %v", what, x)
	}
	l.timings = append(l.timings, x)
	l.legs = append(l.legs, what)
}

// window is what steady measured.
type window struct {
	// tunnel is had's tunnel packets, direct cnd's data path packets.
	tunnel, direct float64
	// rtt is the probes' median round trip, n how many were answered.
	rtt time.Duration
	n   int
}

// steady measures d of traffic: had's tunnel packets, cnd's data path
// packets and the probes' median round trip; fewer than half of the
// probes may be lost. Loss is only logged below that: on a loaded machine
// (2 cores shared with other labs) the user-space data paths drop some
// (measured once: 17 of 88 in a second, with every path working).
func (l *roLab) steady(what string, d time.Duration) window {
	t, r, ctx := l.t, l.r, l.ctx
	t.Helper()
	ha0, mn0, cn0 := metrics(ctx, t, r.HA), metrics(ctx, t, r.MN), Metrics{}
	if r.CN.Running() {
		cn0 = metrics(ctx, t, r.CN)
	}
	from := time.Now()
	time.Sleep(d)
	to := time.Now()
	var w window
	ha1 := metrics(ctx, t, r.HA)
	w.tunnel = tunnelPackets(ha1) - tunnelPackets(ha0)
	if r.CN.Running() {
		w.direct = roDirectPackets(metrics(ctx, t, r.CN)) - roDirectPackets(cn0)
	}
	t.Logf("%s: had's tunnel and mnd's route optimization counters that moved:\n%s%s", what,
		onlyPrefix(ha1.Delta(ha0), "mip6_tunnel_"), onlyPrefix(metrics(ctx, t, r.MN).Delta(mn0), "mip6_mn_ro_"))
	w.rtt, w.n = medianRTT(l.f.probes.Snapshot(), from, to)
	fs, ts := l.f.stats(from, to)
	logFlow(t, what, fs, ts)
	t.Logf("%s: %v: had tunnel packets +%g, cnd data path packets +%g, probe round trip median %v (%d answered)",
		what, d, w.tunnel, w.direct, w.rtt.Round(time.Microsecond), w.n)
	if fs.Lost > fs.Sent/2 {
		t.Errorf("%s: %d of %d probes lost in steady state", what, fs.Lost, fs.Sent)
	}
	return w
}

// Traffic bounds for steady windows. The flow is 100 probes and 50 TCP
// messages a second, each answered: 300 packets a second that all cross
// had without route optimization. roSlack covers the signalling that may
// go through the tunnel meanwhile (a Home Test Init and Home Test of a
// refresh, a Binding Refresh Request).
const (
	flowPPS = 300
	roSlack = 20
)

// checkDirect asserts a route optimized window: had's tunnel carried at
// most the signalling slack, cnd's data path at least half the flow.
func (l *roLab) checkDirect(what string, w window, d time.Duration) {
	l.t.Helper()
	if w.tunnel > roSlack {
		l.t.Errorf("%s: had's tunnel carried %g packets in %v (at most %d signalling ones expected)", what, w.tunnel, d, roSlack)
	}
	if min := flowPPS * d.Seconds() / 2; w.direct < min {
		l.t.Errorf("%s: cnd's data path carried %g packets in %v, expected at least %g", what, w.direct, d, min)
	}
}

// checkTunnelled asserts a window without route optimization: had's
// tunnel carried at least half the flow, cnd's data path nothing.
func (l *roLab) checkTunnelled(what string, w window, d time.Duration) {
	l.t.Helper()
	if min := flowPPS * d.Seconds() / 2; w.tunnel < min {
		l.t.Errorf("%s: had's tunnel carried %g packets in %v, expected at least %g", what, w.tunnel, d, min)
	}
	if w.direct != 0 {
		l.t.Errorf("%s: cnd's data path carried %g packets", what, w.direct)
	}
}

// stopCND ends cnd mid-flow, with SIGTERM (its clean shutdown) or
// SIGKILL (a crash: its nftables table and rule stay), and checks that
// mnd falls back to the tunnel, the flow resumes and TCP survives. It
// returns how long mnd went on sending directly and the flow's
// statistics from the signal on.
func (l *roLab) stopCND(kill bool) (time.Duration, FlowStats, TCPStats) {
	t, r := l.t, l.r
	t.Helper()
	name := "SIGTERM"
	if kill {
		name = "SIGKILL"
	}
	t0 := time.Now()
	var err error
	if kill {
		err = r.CN.Kill()
	} else {
		err = r.CN.Proc.Stop()
	}
	if err != nil {
		t.Fatalf("cnd %s: %v", name, err)
	}
	v := waitRO(l.ctx, t, r, "cnd "+name+": mnd back to the tunnel", 30*time.Second, func(v roView) bool { return !v.entry.Direct })
	fell := time.Since(t0)
	l.f.waitFlow(t, t0, 10*time.Second)
	l.checkTCP("cnd "+name, t0)
	time.Sleep(500 * time.Millisecond)
	fs, ts := l.f.stats(t0, time.Now())
	logFlow(t, "cnd "+name, fs, ts)
	t.Logf("cnd %s: mnd back to the tunnel %v after it: %v", name, fell.Round(time.Millisecond), v)
	if !ts.Alive {
		t.Errorf("cnd %s: TCP connection lost: %v", name, l.f.tcp.Snapshot().Err)
	}
	return fell, fs, ts
}

// TestE2ERO runs route optimization between the real mnd and cnd, with
// the real had, through moves and a correspondent that stops:
//
//   - home -> A: after the registration, return routability and the
//     Binding Update to cnd; cnd's binding names the care-of address;
//     the flow then bypasses had (its tunnel counters stay within a
//     signalling slack) and goes through cnd's data path;
//   - A -> B (IPv4 behind NAT44): no route optimization from an IPv4
//     care-of address (RFC 5555 defines none: IPv6 travels inside the
//     tunnel to the home agent only); mnd sends no Care-of Test Init nor
//     any direct packet from there, deletes cnd's binding for the old
//     care-of address through the tunnel, and the flow goes through had;
//   - B -> A: route optimization again, for the care-of address of now;
//   - mnd's policy reloaded (SIGHUP) with route optimization off: mnd
//     deletes cnd's binding, the flow goes through had; on again: return
//     routability and the Binding Update, the flow bypasses had;
//   - cnd stopped mid-flow (SIGTERM): mnd falls back to the tunnel, the
//     flow resumes, TCP survives; cnd started again (route optimization
//     comes back at the next retry, RORetryMin later:
//     TestE2EROCNDRestart waits for it).
//
// Per registration on A it logs the time from the home Binding
// Acknowledgement to the correspondent's (mnd's log) against the
// round-trip times the probe stream measured on the direct path and
// through had. The TCP connection survives every step.
func TestE2ERO(t *testing.T) {
	// 1. home -> A.
	l := roLabAtA(t, 120*time.Second)
	ctx, r, f := l.ctx, l.r, l.f
	direct := l.steady("A, route optimized", 2*time.Second)
	l.checkDirect("A, route optimized", direct, 2*time.Second)

	// 2. A -> B: IPv4 care-of address, no route optimization.
	t0 := time.Now()
	moveAndRegister(ctx, t, r, SiteB)
	f.waitFlow(t, t0, 10*time.Second)
	l.checkTCP("A -> B", t0)
	v := waitRO(ctx, t, r, "B: cnd's binding for the old care-of address deleted", 5*time.Second,
		func(v roView) bool { return !v.cnOK })
	t.Logf("B: %v", v)
	mn0 := metrics(ctx, t, r.MN)
	if v.entry.Direct {
		t.Errorf("B: mnd sends to the correspondent directly from an IPv4 care-of address: %v", v)
	}
	tunnelB := l.steady("B, through had (IPv6 in UDP over NAT44)", 2*time.Second)
	l.checkTunnelled("B", tunnelB, 2*time.Second)
	d := metrics(ctx, t, r.MN).Delta(mn0)
	if n := d.Sum("mip6_mn_ro_packets_total", `direction="out"`); n != 0 {
		t.Errorf("B: mnd sent %g data packets on the direct path", n)
	}
	sent := countROSent(t, r, t0)
	t.Logf("A -> B: mnd sent to the correspondent: %v (a Binding Update: the de-registration through the tunnel)", sent)
	if sent["CoTI"] != 0 {
		t.Errorf("B: mnd sent %d Care-of Test Inits from an IPv4 care-of address", sent["CoTI"])
	}

	// 3. B -> A.
	l.legA("B -> A")
	direct2 := l.steady("A again, route optimized", time.Second)
	l.checkDirect("A again, route optimized", direct2, time.Second)

	// 4. Route optimization off and on again by mnd's policy.
	l.policy()

	// 5. cnd stopped mid-flow, started again.
	l.stopCND(false)
	tunnelA := l.steady("A, cnd stopped, through had", 2*time.Second)
	l.checkTunnelled("A, cnd stopped", tunnelA, 2*time.Second)
	t1 := time.Now()
	if err := r.CN.Start(ctx, 10*time.Second); err != nil {
		t.Fatalf("cnd start: %v", err)
	}
	f.waitFlow(t, t1, 10*time.Second)
	l.checkTCP("cnd started again", t1)
	t.Logf("cnd started again: %v", observeRO(ctx, t, r))

	if err := f.tcp.Snapshot().Err; err != nil {
		t.Errorf("TCP connection failed: %v", err)
	}
	l.summary(direct.rtt, tunnelA.rtt, tunnelB.rtt)
}

// policy turns route optimization off by mnd's policy (SIGHUP) and
// checks that cnd's binding goes and the flow takes the tunnel, then on
// again and checks that it comes back.
func (l *roLab) policy() {
	t, r, ctx := l.t, l.r, l.ctx
	t.Helper()
	reload := func(p Params) {
		t.Helper()
		if err := os.WriteFile(r.MN.Config, p.MNConfig(), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := r.MN.Proc.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	off := r.Params
	off.RouteOptimization, off.Correspondents = false, nil
	t0 := time.Now()
	reload(off)
	v := waitRO(ctx, t, r, "route optimization off", 10*time.Second, func(v roView) bool {
		return !v.cnOK && !v.entry.Direct && v.entry.State == ""
	})
	t.Logf("route optimization off: binding deleted at cnd %v after the SIGHUP: %v", time.Since(t0).Round(time.Millisecond), v)
	l.f.waitFlow(t, t0, 10*time.Second)
	l.checkTCP("route optimization off", t0)
	l.checkTunnelled("A, route optimization off", l.steady("A, route optimization off, through had", time.Second), time.Second)

	t0 = time.Now()
	reload(r.Params)
	v = waitRO(ctx, t, r, "route optimization on again", 10*time.Second, roView.up)
	t.Logf("route optimization on again: up %v after the SIGHUP: %v", time.Since(t0).Round(time.Millisecond), v)
	l.checkDirect("A, route optimized again", l.steady("A, route optimized again", time.Second), time.Second)
}

// summary logs the RR+BU figures against the round trips and checks
// issue 7's target as far as it can be checked without flaking: "RR + BU
// complete within one round trip each way after a move". The Home Test
// Init and Home Test go through had, the Care-of Test Init and Care-of
// Test directly, in parallel; then the Binding Update and Binding
// Acknowledgement directly: ideally one tunnel round trip, then one
// direct one. In namespaces the round trips are a few hundred
// microseconds and processing dominates, so what legA asserts is that
// nothing was retransmitted, and summary only a generous bound (2 s: a
// stalled machine, not a slow protocol); the figures are logged.
func (l *roLab) summary(directRTT, tunnelRTT, tunnel4RTT time.Duration) {
	t := l.t
	us := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	t.Logf("summary: probe round trip (correspondent -> home address -> correspondent) median: direct %v, through had %v, through had over IPv4 in UDP %v",
		us(directRTT), us(tunnelRTT), us(tunnel4RTT))
	ideal := tunnelRTT + directRTT
	for i, x := range l.timings {
		t.Logf("summary: %s: %v", l.legs[i], x)
		// From the first test init the tests take the longer of the
		// two round trips (the home test's through had), the Binding
		// Update and its acknowledgement a direct one.
		if x.HoTI+x.CoTI > 0 {
			t.Logf("summary: %s: set-up before the first test init %v; tests %v (%.1f x the tunnel RTT); BU/BA %v (%.1f x the direct RTT); from the first test init %v = %.1f x (tunnel RTT + direct RTT = %v)",
				l.legs[i], us(x.FirstSent), us(x.Tests-x.FirstSent), ratio(x.Tests-x.FirstSent, tunnelRTT),
				us(x.Direct-x.Tests), ratio(x.Direct-x.Tests, directRTT),
				us(x.Direct-x.FirstSent), ratio(x.Direct-x.FirstSent, ideal), us(ideal))
		} else {
			t.Logf("summary: %s: BU/BA %v (%.1f x the direct RTT)", l.legs[i], us(x.Direct), ratio(x.Direct, directRTT))
		}
		if x.Direct > 2*time.Second {
			t.Errorf("%s: RR+BU took %v after the home BA", l.legs[i], x.Direct)
		}
	}
}

// ratio is a / b, b at least a microsecond.
func ratio(a, b time.Duration) float64 { return float64(a) / float64(max(b, time.Microsecond)) }

// onlyPrefix keeps the series whose name starts with prefix.
func onlyPrefix(m Metrics, prefix string) Metrics {
	out := Metrics{}
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

// TestE2EROCNDOff: mnd wants route optimization with the correspondent,
// whose cnd has it off (route_optimization = false): cnd answers no test
// init (it drops them, and its nftables table keeps the kernel from
// answering either), so nothing is bound, mnd never sends directly and
// the flow goes through had.
func TestE2EROCNDOff(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	r := e2eLab(ctx, t, Options{Params: func(p *Params) { p.Correspondents = []netip.Addr{CNAddr} }})
	l := &roLab{ctx: ctx, t: t, r: r, f: startFlow(ctx, t, r)}
	t0 := time.Now()
	moveAndRegister(ctx, t, r, SiteA)
	l.f.waitFlow(t, t0, 10*time.Second)
	l.checkTCP("home -> A", t0)
	cn0 := metrics(ctx, t, r.CN)
	w := l.steady("A, cnd with route optimization off, through had", 2*time.Second)
	l.checkTunnelled("A, cnd with route optimization off", w, 2*time.Second)
	v := observeRO(ctx, t, r)
	t.Logf("A: %v; mnd sent %v; cnd's counters that moved: %v", v, countROSent(t, r, t0),
		onlyPrefix(metrics(ctx, t, r.CN).Delta(cn0), "mip6_cn_dropped_total"))
	if v.entry.Direct || v.cnOK {
		t.Errorf("route optimization with a cnd that has it off: %v", v)
	}
	if !v.entry.Correspondent.IsValid() {
		t.Errorf("mnd has no Binding Update List entry for %s: the test would prove nothing: %v", CNAddr, v)
	}
}

// TestE2EROCNDRestart: cnd stopped cleanly (SIGTERM) removes its
// nftables table, so its kernel answers the next packet mnd sends
// directly with an ICMPv6 Parameter Problem (code 2) about the Home
// Address option, and mnd falls back to the tunnel at once. The
// correspondent accepted our Binding Update before, so mnd takes the
// Parameter Problem for a stopped daemon rather than a node without
// Mobile IPv6 (mobilenode.RouteOptimizer.ParameterProblem) and retries
// on the ordinary back-off, RORetryMin (32 s) after the Parameter
// Problem: once cnd runs again, route optimization comes back by then.
// (Before, mnd left the correspondent alone for RORetryMax, 30 min.)
//
// Measured (5 runs on the shared machine): back 31.4-31.5 s after cnd
// started again, 32.0 s after the SIGTERM (cnd's start takes about 0.6
// s); bound: RORetryMin + 13 s after the SIGTERM, for a loaded machine.
func TestE2EROCNDRestart(t *testing.T) {
	l := roLabAtA(t, 90*time.Second)
	t0 := time.Now()
	l.stopCND(false)
	t1 := time.Now()
	if err := l.r.CN.Start(l.ctx, 10*time.Second); err != nil {
		t.Fatalf("cnd start: %v", err)
	}
	bound := mobilenode.RORetryMin + 13*time.Second - time.Since(t0)
	v := waitRO(l.ctx, t, l.r, "cnd started again: route optimization back", bound, roView.up)
	t.Logf("route optimization back %v after cnd started again (%v after the SIGTERM): %v",
		time.Since(t1).Round(time.Millisecond), time.Since(t0).Round(time.Millisecond), v)
	l.checkTCP("route optimization back", time.Now())
	l.checkDirect("A, route optimized after the cnd restart", l.steady("A, route optimized after the cnd restart", time.Second), time.Second)
}

// TestE2EROCNDCrash: cnd killed (SIGKILL, a crash, an OOM kill) leaves
// its nftables table (inet gomip6_cnd) behind, while its tun device, and
// with it the routes of its bindings, goes with the process. The table
// drops, at the input hook, every packet to the correspondent's
// addresses that carries a Home Address option (and every Mobility
// Header), so the kernel never answers them with the Parameter Problem
// that makes mnd fall back at once after a SIGTERM: the correspondent ->
// mobile node direction goes on through had, the other is lost.
//
// mnd's direct-path liveness check notices: packets go out directly and
// nothing comes back directly (the correspondent's packets arrive
// through the tunnel now) for mobilenode.ROLiveness (3 s, polled every
// sixth of it), and mnd falls back to the tunnel. Before the check mnd
// sent into the drop until the binding expired: a 15 s gap of the probe
// stream and a 29 s TCP stall in the lab, up to MAX_RR_BINDING_LIFETIME
// (420 s) in the field.
//
// Measured (4 runs on the shared machine): back to the tunnel 3.46-3.49
// s after the SIGKILL, longest probe gap 3.45-3.49 s, longest TCP stall
// 3.6-6.7 s (its retransmission timer doubles during the gap; TCP
// survives); route optimization back 35.5 s after the SIGKILL. Bound: the window plus a poll (3.5 s) plus 2.5 s of slack
// for a loaded machine. cnd started again
// replaces the leftover table (netif.AddNFTable replaces it; cnd
// -cleanup removes it without starting), and route optimization comes
// back at mnd's retry, RORetryMin after the fall-back.
func TestE2EROCNDCrash(t *testing.T) {
	l := roLabAtA(t, 90*time.Second)
	mn0 := metrics(l.ctx, t, l.r.MN)
	t0 := time.Now()
	fell, fs, ts := l.stopCND(true)
	window := mobilenode.ROLiveness + mobilenode.ROLiveness/6
	bound := window + 2500*time.Millisecond
	t.Logf("cnd SIGKILL: back to the tunnel after %v, probe gap %v, TCP stall %v (liveness window + a poll %v, bound %v)",
		fell.Round(time.Millisecond), fs.LongestGap.Round(time.Millisecond), ts.LongestStall.Round(time.Millisecond), window, bound)
	if fell > bound {
		t.Errorf("mnd sent directly to a killed cnd for %v, want at most %v", fell.Round(time.Millisecond), bound)
	}
	if fs.LongestGap > bound {
		t.Errorf("probe gap %v after cnd was killed, want at most %v", fs.LongestGap.Round(time.Millisecond), bound)
	}
	if n := metrics(l.ctx, t, l.r.MN).Delta(mn0).Sum("mip6_mn_ro_direct_silent_total"); n != 1 {
		t.Errorf("mip6_mn_ro_direct_silent_total moved by %g, want 1", n)
	}
	l.checkTunnelled("A, cnd killed", l.steady("A, cnd killed, through had", time.Second), time.Second)
	t1 := time.Now()
	if err := l.r.CN.Start(l.ctx, 10*time.Second); err != nil {
		t.Fatalf("cnd start after SIGKILL: %v", err)
	}
	l.f.waitFlow(t, t1, 10*time.Second)
	v := waitRO(l.ctx, t, l.r, "cnd started again: route optimization back", mobilenode.RORetryMin+13*time.Second-time.Since(t0), roView.up)
	t.Logf("route optimization back %v after cnd started again (%v after the SIGKILL): %v",
		time.Since(t1).Round(time.Millisecond), time.Since(t0).Round(time.Millisecond), v)
	l.checkTCP("route optimization back after the crash", time.Now())
	if err := l.f.tcp.Snapshot().Err; err != nil {
		t.Errorf("TCP connection failed: %v", err)
	}
}

// TestROParamsConfig: the route optimization settings reach the files
// as conf reads them: mnd's [[correspondent]] entries (also with the
// global switch off) and cnd's switch, alone or with mnd's.
func TestROParamsConfig(t *testing.T) {
	dir := t.TempDir()
	p, err := DefaultParams(dir)
	if err != nil {
		t.Fatal(err)
	}
	other := netip.MustParseAddr("2001:db8:300::5")
	for _, tc := range []struct {
		name         string
		global, cnOn bool
		cns          []netip.Addr
		wantMN       []conf.Correspondent
		wantCN       bool
	}{
		{name: "off"},
		{name: "correspondents only", cns: []netip.Addr{CNAddr, other},
			wantMN: []conf.Correspondent{{Address: CNAddr, RouteOptimization: true}, {Address: other, RouteOptimization: true}}},
		{name: "cnd only", cnOn: true, wantCN: true},
		{name: "both", global: true, cns: []netip.Addr{CNAddr},
			wantMN: []conf.Correspondent{{Address: CNAddr, RouteOptimization: true}}, wantCN: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := p
			q.RouteOptimization, q.CNRouteOptimization, q.Correspondents = tc.global, tc.cnOn, tc.cns
			mf, cf := filepath.Join(dir, "mnd.toml"), filepath.Join(dir, "cnd.toml")
			if err := os.WriteFile(mf, q.MNConfig(), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cf, q.CNConfig(), 0o600); err != nil {
				t.Fatal(err)
			}
			m, err := conf.LoadMN(mf)
			if err != nil {
				t.Fatalf("LoadMN: %v\n%s", err, q.MNConfig())
			}
			c, err := conf.LoadCN(cf)
			if err != nil {
				t.Fatalf("LoadCN: %v\n%s", err, q.CNConfig())
			}
			if diff := cmp.Diff(tc.wantMN, m.Correspondents, cmpopts.EquateEmpty(), cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
				cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("mnd correspondents (-want +got):\n%s", diff)
			}
			if m.RouteOptimization != tc.global || c.RouteOptimization != tc.wantCN {
				t.Errorf("route_optimization: mnd %v (want %v), cnd %v (want %v)", m.RouteOptimization, tc.global, c.RouteOptimization, tc.wantCN)
			}
		})
	}
}
