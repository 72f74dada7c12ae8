package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gomip6/gomip6/internal/netlab"
)

// Options configure a lab run.
type Options struct {
	// Bin is the directory of the gomip6 binaries (had, mnd, cnd,
	// mip6ctl). Empty: next to the running executable, then PATH.
	Bin string
	// Legs are the sites the mobile node visits after starting at home.
	// Nil: DefaultLegs.
	Legs []Site
	// LegDuration is how long the mobile node stays on each link.
	// Zero: 6 s.
	LegDuration time.Duration
	// ProbeInterval and TCPInterval are the flow's rates. Zero: 10 ms and
	// 20 ms.
	ProbeInterval, TCPInterval time.Duration
	// StartWait bounds the wait for the daemons at the start (control
	// sockets, the mobile node at home). Zero: 10 s.
	StartWait time.Duration
	// RadvdA is how link A's radvd advertises. Zero: RALab.
	RadvdA RAProfile
	// Progress receives a line per step while the lab runs; nil: none.
	Progress io.Writer
	// NoDaemons builds the network and runs the tour without starting any
	// daemon (the plumbing alone; nothing registers).
	NoDaemons bool
	// NoCND skips the correspondent daemon.
	NoCND bool
	// Params, if not nil, adjusts the daemons' settings before the
	// configuration files are written.
	Params func(*Params)
}

// DefaultLegs is the tour of SPEC.md: home -> A -> B -> home.
var DefaultLegs = []Site{SiteA, SiteB, SiteHome}

func (o *Options) defaults() {
	if o.Legs == nil {
		o.Legs = DefaultLegs
	}
	if o.LegDuration == 0 {
		o.LegDuration = 6 * time.Second
	}
	if o.ProbeInterval == 0 {
		o.ProbeInterval = 10 * time.Millisecond
	}
	if o.TCPInterval == 0 {
		o.TCPInterval = 20 * time.Millisecond
	}
	if o.StartWait == 0 {
		o.StartWait = 10 * time.Second
	}
	if o.RadvdA == "" {
		o.RadvdA = RALab
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// Run is a lab: the network, the daemons in it and what happened.
type Run struct {
	Opts   Options
	Lab    *netlab.Lab
	Topo   *Topology
	Params Params
	// Dir holds the configuration files, control sockets and state file
	// (inside the lab's log directory).
	Dir string
	// HA, MN and CN are the daemons; nil with NoDaemons (CN also with
	// NoCND).
	HA, MN, CN *Daemon
	// Started is when the daemons were started.
	Started time.Time

	events []Event // the lab's own
	notes  []string
}

// Start builds the lab network and starts the daemons. With a non-nil t the
// lab is closed by t.Cleanup; otherwise the caller must Close it (and
// should defer Run.Lab.CloseOnPanic). A daemon that does not run is not an
// error: the report says so.
func Start(ctx context.Context, t testing.TB, o Options) (*Run, error) {
	o.defaults()
	if err := ValidateLegs(o.Legs); err != nil {
		return nil, err
	}
	l, err := netlab.New(t)
	if err != nil {
		return nil, err
	}
	r := &Run{Opts: o, Lab: l, Dir: l.LogDir()}
	fail := func(err error) (*Run, error) {
		if t == nil {
			l.Close()
		}
		return nil, err
	}
	r.progress("building the network in namespaces %s-* ...", l.Prefix())
	if r.Topo, err = BuildRA(l, o.RadvdA); err != nil {
		return fail(err)
	}
	if r.Params, err = DefaultParams(r.Dir); err != nil {
		return fail(err)
	}
	if o.Params != nil {
		o.Params(&r.Params)
	}
	if o.NoDaemons {
		r.note("daemons not started (plumbing only)")
		return r, nil
	}
	r.Started = time.Now()
	start := func(name string, ns *netlab.NS, config []byte) *Daemon {
		bin, err := FindBinary(o.Bin, name)
		if err != nil {
			d := &Daemon{Name: name, NS: ns, Err: err}
			r.progress("%s: %v", name, err)
			return d
		}
		d := StartDaemon(ctx, ns, name, bin, r.Dir, r.Params.Socket(name), config, o.StartWait)
		if d.Err != nil {
			r.progress("%s in %s: not running: %v", name, ns.Short(), d.Err)
		} else {
			r.progress("%s in %s: running, control socket %s", name, ns.Short(), d.Socket)
		}
		return d
	}
	r.HA = start("had", r.Topo.Home, r.Params.HAConfig())
	if !o.NoCND {
		r.CN = start("cnd", r.Topo.CN, r.Params.CNConfig())
	}
	r.MN = start("mnd", r.Topo.MN, r.Params.MNConfig())
	return r, nil
}

// ValidateLegs checks a tour: known sites, the first not home (the mobile
// node starts there), no two consecutive legs at the same site.
func ValidateLegs(legs []Site) error {
	for _, s := range legs {
		if _, err := ParseSite(string(s)); err != nil {
			return err
		}
	}
	if len(legs) > 0 && legs[0] == SiteHome {
		return errors.New("lab: the tour starts at home; the first leg must go elsewhere")
	}
	for i := 1; i < len(legs); i++ {
		if legs[i] == legs[i-1] {
			return fmt.Errorf("lab: legs %d and %d both at %s", i, i+1, legs[i])
		}
	}
	return nil
}

// Close stops the daemons and removes the network.
func (r *Run) Close() error { return r.Lab.Close() }

func (r *Run) progress(format string, args ...any) {
	fmt.Fprintf(r.Opts.Progress, "mip6lab: "+format+"\n", args...)
}

func (r *Run) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

func (r *Run) event(source, name, format string, args ...any) {
	r.events = append(r.events, Event{Time: time.Now(), Source: source, Name: name, Msg: fmt.Sprintf(format, args...)})
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Observation is what one poll of the daemons' status found: each
// daemon's /v1/status, or why there is none (not running, no answer).
type Observation struct {
	MN    MNStatus
	MNErr error
	HA    HAStatus
	HAErr error
}

func (r *Run) observe(ctx context.Context) Observation {
	var o Observation
	if r.MN.Running() {
		o.MNErr = r.MN.Status(ctx, &o.MN)
	} else {
		o.MNErr = errors.New("mnd not running")
	}
	if r.HA.Running() {
		o.HAErr = r.HA.Status(ctx, &o.HA)
	} else {
		o.HAErr = errors.New("had not running")
	}
	return o
}

// registeredAt reports whether an Observation shows the mobile node
// registered (or, at home, back home and de-registered) for site s.
func (r *Run) registeredAt(s Site, o Observation) bool {
	if o.MNErr != nil {
		return false
	}
	switch s {
	case SiteHome:
		if !o.MN.AtHome {
			return false
		}
		if o.HAErr == nil {
			_, bound := o.HA.Binding(r.Params.HomeAddress)
			return !bound
		}
		return true
	case SiteA:
		coa, err := parseCoA(o.MN.CareOfAddress)
		return o.MN.Registered && !o.MN.AtHome && err == nil && PrefixA.Contains(coa) && r.haAgrees(o)
	case SiteB:
		return o.MN.Registered && !o.MN.AtHome && (o.MN.Encapsulation == "ipv4" || o.MN.Encapsulation == "udp4") && r.haAgrees(o)
	}
	return false
}

// haAgrees reports whether the home agent's binding for the home address
// names the care-of address the mobile node reports (or, for a node behind
// a NAT, whose binding holds the NAT's address and port, that a binding
// with the same encapsulation exists). Without had's status it cannot
// disagree.
func (r *Run) haAgrees(o Observation) bool {
	if o.HAErr != nil {
		return true
	}
	b, ok := o.HA.Binding(r.Params.HomeAddress)
	if !ok {
		return false
	}
	if o.MN.Encapsulation == "udp4" {
		return b.Encapsulation == "udp4"
	}
	mc, err1 := parseCoA(o.MN.CareOfAddress)
	hc, err2 := parseCoA(b.CareOfAddress)
	return err1 == nil && err2 == nil && mc == hc
}

// Observe polls the mobile node's and the home agent's /v1/status.
func (r *Run) Observe(ctx context.Context) Observation { return r.observe(ctx) }

// WaitRegistered polls the daemons every 50 ms until they show the mobile
// node registered from site s (at home: home and de-registered, with no
// binding left at the home agent), and returns how long that took. After
// timeout it returns an error that quotes the last status.
func (r *Run) WaitRegistered(ctx context.Context, s Site, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		o := r.observe(ctx)
		if r.registeredAt(s, o) {
			return time.Since(start), nil
		}
		if time.Since(start) > timeout || ctx.Err() != nil {
			return time.Since(start), fmt.Errorf("lab: not registered at %s after %v: %s", s, timeout, describe(o))
		}
		sleep(ctx, 50*time.Millisecond)
	}
}

// parseCoA parses a care-of address, "addr" or "addr:port" / "[addr]:port"
// (a mobile node behind a NAT, RFC 5555).
func parseCoA(s string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a, nil
	}
	ap, err := netip.ParseAddrPort(s)
	return ap.Addr(), err
}

// legObs is what the tour saw during one leg.
type legObs struct {
	from, to     Site
	movedAt, end time.Time
	linkUp       time.Time // when Move returned: the carrier back
	moveErr      error
	regAt        time.Time // first poll that showed the registration
	last         Observation
	homeHost     string // homeHostCheck's result after the leg
}

// Results of homeHostCheck.
const (
	homeHostOK        = "ok"
	homeHostNoAnswer  = "no answer"
	homeHostNoAddress = "no address (no RA from had on the home link)"
)

// homeHostCheck pings the home address from homehost, a plain host on the
// home link: with the mobile node away, the home agent must answer Neighbor
// Solicitations for the home address on its behalf (proxy ND, RFC 6275
// §10.4.1) and tunnel the packets to it. homehost's address is its own
// SLAAC one, from had's Router Advertisements.
func (r *Run) homeHostCheck() string {
	out, err := r.Topo.HomeHost.IP("-6", "-o", "addr", "show", "dev", "eth0", "scope", "global")
	if err != nil || !strings.Contains(out, "inet6") {
		return homeHostNoAddress
	}
	if err := r.Topo.HomeHost.Ping(r.Params.HomeAddress, time.Second); err != nil {
		return homeHostNoAnswer
	}
	return homeHostOK
}

// Tour runs the flow and moves the mobile node along the legs, then
// returns the report. It does not close the lab (--keep explores it after).
func (r *Run) Tour(ctx context.Context) (*Report, error) {
	o := r.Opts
	tourStart := time.Now()
	if r.Started.IsZero() {
		r.Started = tourStart
	}

	// The mobile node must be at home (its home address assigned) before
	// the correspondent can open the TCP connection.
	if r.MN.Running() {
		r.progress("waiting for mnd to see the home link ...")
		deadline := time.Now().Add(o.StartWait)
		for {
			ob := r.observe(ctx)
			if r.registeredAt(SiteHome, ob) {
				r.event("lab", "at_home", "mnd reports at_home")
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				r.note("mnd did not report at_home within %v (status: %s)", o.StartWait, describe(ob))
				break
			}
			sleep(ctx, 50*time.Millisecond)
		}
	}

	// The flow: probes and a TCP connection from the correspondent to the
	// home address.
	r.progress("flow: ICMPv6 echo every %v and a TCP echo every %v from cn [%s] to the home address [%s]",
		o.ProbeInterval, o.TCPInterval, CNAddr, r.Params.HomeAddress)
	prober, err := StartProber(r.Topo.CN, r.Params.HomeAddress, o.ProbeInterval)
	if err != nil {
		return nil, err
	}
	r.event("flow", "probes_started", "probe stream to %s", r.Params.HomeAddress)
	tcp, err := ListenEcho(r.Topo.MN, r.Params.HomeAddress, Port)
	if err != nil {
		prober.Stop(0)
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if err := tcp.Dial(dctx, r.Topo.CN, r.Params.HomeAddress, Port, o.TCPInterval); err != nil {
		r.note("TCP connection not established: %v", err)
		r.progress("tcp: not connected: %v", err)
	} else {
		r.event("flow", "tcp_connected", "TCP connection to [%s]:%d established", r.Params.HomeAddress, Port)
	}
	cancel()
	sleep(ctx, time.Second) // a baseline before the first move

	var legs []legObs
	for i, to := range o.Legs {
		if ctx.Err() != nil {
			break
		}
		lo := legObs{from: r.Topo.At(), to: to}
		r.progress("move %d/%d: %s -> %s", i+1, len(o.Legs), lo.from, to)
		lo.movedAt = time.Now()
		r.events = append(r.events, Event{Time: lo.movedAt, Source: "lab", Name: "move",
			Msg: fmt.Sprintf("eth0's peer leaves %s's bridge (carrier lost)", lo.from)})
		lo.moveErr = r.Topo.Move(to)
		lo.linkUp = time.Now()
		if lo.moveErr != nil {
			r.event("lab", "move_failed", "%v", lo.moveErr)
		} else {
			r.event("lab", "moved", "eth0's peer enslaved to %s's bridge and up (carrier back)", to)
		}
		lo.end = lo.movedAt.Add(o.LegDuration)
		for time.Now().Before(lo.end) && ctx.Err() == nil {
			ob := r.observe(ctx)
			lo.last = ob
			if lo.regAt.IsZero() && r.registeredAt(to, ob) {
				lo.regAt = time.Now()
				r.progress("  %s after %s (%s)", map[bool]string{true: "home, de-registered", false: "registered"}[to == SiteHome],
					fmtDur(lo.regAt.Sub(lo.movedAt)), describe(ob))
			}
			sleep(ctx, 100*time.Millisecond)
		}
		if lo.regAt.IsZero() {
			r.progress("  not registered: %s", describe(lo.last))
		}
		if now := time.Now(); now.Before(lo.end) {
			lo.end = now // cut short by ctx
		}
		st := AnalyzeProbes(prober.Snapshot(), lo.movedAt, lo.end)
		r.progress("  flow: %d/%d probes lost, longest gap %s", st.Lost, st.Sent, fmtDur(st.LongestGap))
		if ctx.Err() == nil {
			lo.homeHost = r.homeHostCheck()
			r.progress("  home-link host -> home address: %s", lo.homeHost)
		}
		legs = append(legs, lo)
	}

	r.progress("stopping the flow ...")
	probes := prober.Stop(time.Second)
	trace := tcp.Stop(3 * time.Second)
	rep := r.report(legs, probes, trace)
	rep.Interrupted = ctx.Err() != nil
	return rep, nil
}

// describe summarises a status Observation for humans.
func describe(o Observation) string {
	if o.MNErr != nil {
		return o.MNErr.Error()
	}
	s := fmt.Sprintf("mnd: registered=%v at_home=%v care_of_address=%q encapsulation=%q", o.MN.Registered, o.MN.AtHome, o.MN.CareOfAddress, o.MN.Encapsulation)
	switch {
	case o.HAErr != nil:
		s += "; " + o.HAErr.Error()
	default:
		var bs []string
		for _, b := range o.HA.Bindings {
			bs = append(bs, fmt.Sprintf("%s -> %s (%s)", b.HomeAddress, b.CareOfAddress, b.Encapsulation))
		}
		if len(bs) == 0 {
			bs = []string{"none"}
		}
		s += "; had bindings: " + strings.Join(bs, ", ")
	}
	return s
}

// report assembles the Report from the tour's observations and traces.
func (r *Run) report(legs []legObs, probes []Probe, trace TCPTrace) *Report {
	rep := &Report{
		Prefix:  r.Lab.Prefix(),
		Started: r.Started,
		RadvdA:  r.Topo.RadvdA,
		TCP:     SummarizeTCP(trace),
		Notes:   append([]string(nil), r.notes...),
	}
	for _, d := range []*Daemon{r.HA, r.MN, r.CN} {
		if d == nil {
			continue
		}
		di := DaemonInfo{Name: d.Name, Namespace: d.NS.Name, Socket: d.Socket, Config: d.Config, Running: d.Running(), Why: d.Why()}
		if d.Proc != nil {
			di.Log = d.Proc.Log
		}
		rep.Daemons = append(rep.Daemons, di)
	}

	// All events: the lab's, the daemons' and the flow's milestones.
	ev := append([]Event(nil), r.events...)
	for _, d := range []*Daemon{r.HA, r.MN, r.CN} {
		ev = append(ev, d.Events()...)
	}
	for _, lo := range legs {
		st := AnalyzeProbes(probes, lo.movedAt, lo.end)
		if st.Interrupted {
			for _, p := range probes {
				if !p.Sent.Before(lo.movedAt) && p.Sent.Before(lo.end) && !p.Answered() {
					ev = append(ev, Event{Time: p.Sent, Source: "flow", Name: "probe_lost", Msg: fmt.Sprintf("first probe lost (seq %d)", p.Seq)})
					break
				}
			}
		}
		if st.Recovered {
			ev = append(ev, Event{Time: lo.movedAt.Add(st.Recovery), Source: "flow", Name: "probe_answered", Msg: "first probe answered again"})
		}
		ts := AnalyzeTCP(trace, lo.movedAt, lo.end)
		leg := LegResult{
			From: lo.from, To: lo.to, MovedAt: lo.movedAt, Duration: lo.end.Sub(lo.movedAt),
			Flow: st, TCP: ts,
			// The flow is back when a probe sent in the leg's last
			// second was answered.
			FlowBack: st.Answered > 0 && anyAnswered(probes, lo.end.Add(-time.Second), lo.end),
		}
		if lo.moveErr == nil {
			up := linkUpAt(ev, r.Params.Interfaces, lo.movedAt, lo.linkUp)
			leg.LinkUp = up.Sub(lo.movedAt)
			leg.FirstPacket, leg.Delivered = FirstDelivery(probes, lo.movedAt, up, lo.end)
			// The figure is issue 5's only if the answer came through
			// the new link: not before mnd took that link into use.
			if p := firstPacketProblem(ev, lo.to, lo.movedAt, up.Add(leg.FirstPacket), lo.end); leg.Delivered && p != "" {
				leg.Delivered = false
				leg.Problems = append(leg.Problems, p)
			}
		}
		if lo.last.MNErr == nil {
			leg.CareOf, leg.Encapsulation = lo.last.MN.CareOfAddress, lo.last.MN.Encapsulation
		}
		if lo.last.HAErr == nil {
			if b, ok := lo.last.HA.Binding(r.Params.HomeAddress); ok {
				leg.HABinding = fmt.Sprintf("%s -> %s (%s, seq %d, %.0fs left)", b.HomeAddress, b.CareOfAddress, b.Encapsulation, b.Sequence, b.LifetimeRemainingS)
			}
		}
		switch {
		case lo.moveErr != nil:
			leg.NotRegistered = "the lab could not move the link: " + lo.moveErr.Error()
		case !lo.regAt.IsZero():
			leg.Registered = true
			leg.TimeToRegister = lo.regAt.Sub(lo.movedAt)
			// The daemon's own log dates it better than a 100 ms poll:
			// the first of these events, in order of preference.
			names := []string{"registered", "ba_received"}
			if lo.to == SiteHome {
				names = []string{"deregistered", "returned_home", "home"}
			}
			sorted := sortedCopy(ev)
			for _, name := range names {
				e, ok := FirstEvent(sorted, "mnd", lo.movedAt, lo.regAt.Add(time.Millisecond), name)
				if ok && (lo.to == SiteHome || e.Fields["status"] == "" || e.Fields["status"] == "accepted") {
					leg.TimeToRegister = e.Time.Sub(lo.movedAt)
					break
				}
			}
		default:
			leg.NotRegistered = describe(lo.last)
			if _, bound := lo.last.HA.Binding(r.Params.HomeAddress); lo.to == SiteHome && lo.last.MNErr == nil && lo.last.MN.AtHome && lo.last.HAErr == nil && bound {
				leg.NotRegistered += "; mnd is home but had still holds the binding: the de-registration (RFC 6275 §11.5.4) was not accepted in time"
			}
			if lo.to == SiteB {
				leg.NotRegistered += "; link B is IPv4-only behind NAT: registering there needs DSMIPv6 (RFC 5555, issue 8)"
			}
		}
		if !leg.Registered {
			leg.Problems = append(leg.Problems, "not registered")
		}
		if !leg.FlowBack {
			leg.Problems = append(leg.Problems, "probes not answered at the end of the leg")
		}
		leg.HomeLinkHost = lo.homeHost
		if lo.homeHost != "" && lo.homeHost != homeHostOK {
			leg.Problems = append(leg.Problems, "home-link host -> home address: "+lo.homeHost)
		}
		if !ts.Survived() {
			if trace.Connected.IsZero() {
				leg.Problems = append(leg.Problems, "no TCP connection")
			} else if !ts.Alive {
				leg.Problems = append(leg.Problems, "TCP connection broken")
			} else {
				leg.Problems = append(leg.Problems, "TCP carried no data after the move")
			}
		}
		leg.OK = len(leg.Problems) == 0
		rep.Legs = append(rep.Legs, leg)
	}
	if trace.Err != nil {
		ev = append(ev, Event{Time: trace.ErrAt, Source: "flow", Name: "tcp_error", Msg: trace.Err.Error()})
	}
	SortEvents(ev)
	rep.Timeline = buildTimeline(ev, legs, r.Started)
	return rep
}

// linkUpAt returns when the mobile node's link came up after a move that
// began at movedAt and whose Move returned at moved: mnd's first "link up"
// event for one of ifaces in between, if it logged one (the kernel's
// carrier, seen from inside), else moved. Taking the earlier of the two
// never shortens the handover figures measured from it.
func linkUpAt(ev []Event, ifaces []string, movedAt, moved time.Time) time.Time {
	up := moved
	for _, e := range ev {
		if e.Source == "mnd" && e.Name == "link" && e.Msg == "link up" && slices.Contains(ifaces, e.Fields["iface"]) &&
			!e.Time.Before(movedAt) && e.Time.Before(up) {
			up = e.Time
		}
	}
	return up
}

// newLinkAt returns when mnd took the leg's destination into use: the
// earliest of its "moved" events in [movedAt, end) to a care-of address
// of site to (link A's prefix; link B's IPv4 address, DSMIPv6) or, for
// home, of its "returned_home" events. mnd logs "moved" before it sends
// the Binding Update for the new care-of address and "returned_home"
// before the de-registration (RFC 6275 §11.5.4); until the home agent
// has one of them, it tunnels the home address's packets to the old
// care-of address. Nothing can come through the new link earlier.
func newLinkAt(ev []Event, to Site, movedAt, end time.Time) (time.Time, bool) {
	var at time.Time
	for _, e := range ev {
		if e.Source != "mnd" || e.Time.Before(movedAt) || !e.Time.Before(end) || (!at.IsZero() && !e.Time.Before(at)) {
			continue
		}
		coa, _ := netip.ParseAddr(e.Fields["coa"])
		var ok bool
		switch to {
		case SiteHome:
			ok = e.Name == "returned_home"
		case SiteA:
			ok = e.Name == "moved" && PrefixA.Contains(coa)
		case SiteB:
			ok = e.Name == "moved" && coa == MNIPv4B
		}
		if ok {
			at = e.Time
		}
	}
	return at, !at.IsZero()
}

// firstPacketProblem checks the first answer of a leg to site to, which
// came at answered: "" when it came after mnd took the new link into use
// (newLinkAt), else why the leg's first-packet figure cannot be issue
// 5's handover time. FirstDelivery's own argument (the old link is gone
// by link-up) rests on the lab's idea of link-up; this one on mnd's log.
func firstPacketProblem(ev []Event, to Site, movedAt, answered, end time.Time) string {
	at, ok := newLinkAt(ev, to, movedAt, end)
	switch {
	case !ok && to == SiteHome:
		return "first packet not checked: mnd logged no return home"
	case !ok:
		return fmt.Sprintf("first packet not checked: mnd logged no move to a care-of address on link %s", strings.ToUpper(string(to)))
	case answered.Before(at):
		where := "link " + strings.ToUpper(string(to))
		if to == SiteHome {
			where = "the home link"
		}
		return fmt.Sprintf("first probe answered %s before mnd took %s into use: not through the new link", fmtDur(at.Sub(answered)), where)
	}
	return ""
}

func sortedCopy(ev []Event) []Event {
	c := slices.Clone(ev)
	SortEvents(c)
	return c
}

// anyAnswered reports whether a probe sent in [from, to) was answered.
func anyAnswered(probes []Probe, from, to time.Time) bool {
	for _, p := range probes {
		if !p.Sent.Before(from) && p.Sent.Before(to) && p.Answered() {
			return true
		}
	}
	return false
}

// buildTimeline places the events in their phases (the start, from start,
// then one per leg) and folds repeats: the first event of each source and
// name (and message: "link up" and "link down" stay apart) in a phase is
// shown, with the number of later ones. SinceMove is
// relative to the phase's beginning. Events after the last leg's end (while
// the flow stops) get a phase of their own, timed from the last move.
func buildTimeline(ev []Event, legs []legObs, start time.Time) []TimelineEntry {
	phase := func(t time.Time) (int, time.Time) {
		p, ref := 0, start
		for i, lo := range legs {
			if !t.Before(lo.movedAt) {
				p, ref = i+1, lo.movedAt
			}
		}
		if n := len(legs); n > 0 && p == n && !t.Before(legs[n-1].end) {
			p = n + 1 // after the tour, still timed from the last move
		}
		return p, ref
	}
	var out []TimelineEntry
	seen := map[string]int{} // phase/source/name -> index in out
	for _, e := range ev {
		p, ref := phase(e.Time)
		key := fmt.Sprintf("%d/%s/%s/%s", p, e.Source, e.Name, e.Msg)
		if i, ok := seen[key]; ok && e.Source != "lab" {
			out[i].Repeats++
			continue
		}
		seen[key] = len(out)
		te := TimelineEntry{Event: e, Leg: p}
		if !ref.IsZero() {
			te.SinceMove = e.Time.Sub(ref)
		}
		out = append(out, te)
	}
	return out
}
