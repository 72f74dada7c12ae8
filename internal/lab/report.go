package lab

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of a tour.
type Report struct {
	// Prefix is the lab's namespace prefix.
	Prefix string
	// Started is when the daemons were started (the timeline's origin).
	Started time.Time
	// RadvdA is how link A's radvd advertised.
	RadvdA  RAProfile
	Daemons []DaemonInfo
	Legs    []LegResult
	// TCP is the whole connection's outcome.
	TCP TCPSummary
	// Timeline is the lab's, the daemons' and the flow's events, folded
	// (see TimelineEntry.Repeats).
	Timeline []TimelineEntry
	// Notes are things the reader should know (a daemon missing, the
	// connection never established).
	Notes []string
	// Interrupted reports that the tour was cut short (Ctrl-C): its
	// figures are partial and it is not a success.
	Interrupted bool
}

// DaemonInfo says where a daemon ran and whether it did.
type DaemonInfo struct {
	Name, Namespace, Socket, Config, Log string
	Running                              bool
	// Why says why it is not running ("" if it is).
	Why string
}

// LegResult is one move of the tour and what followed on the new link.
type LegResult struct {
	From, To Site
	MovedAt  time.Time
	// Duration is how long the mobile node stayed on the link.
	Duration time.Duration
	// Registered reports that mnd registered with the home agent from the
	// new link (at home: that it is home and de-registered), and
	// TimeToRegister how long after the move (from mnd's own log when it
	// has the event, else from polling its status every 100 ms).
	Registered     bool
	TimeToRegister time.Duration
	// NotRegistered says what the daemons reported instead.
	NotRegistered string
	// LinkUp is when the mobile node's link came up on the new network,
	// from the move (its carrier back: mnd's "link up" or the lab's
	// "moved", whichever came first). Delivered reports that a
	// correspondent's probe sent after the move was answered, and
	// FirstPacket how long after LinkUp the first answer came: issue 5's
	// handover time, "link-up to the first packet of a correspondent's
	// flow delivered to the home address through the new care-of
	// address" (at home: directly on the home link). FirstDelivery
	// explains why such a probe can only have come through the new link.
	LinkUp      time.Duration
	Delivered   bool
	FirstPacket time.Duration
	// CareOf and Encapsulation are mnd's at the end of the leg; HABinding
	// the home agent's binding for the home address then ("" if none).
	CareOf, Encapsulation, HABinding string
	Flow                             FlowStats
	// FlowBack reports that probes were answered in the leg's last
	// second.
	FlowBack bool
	TCP      TCPStats
	// HomeLinkHost is the result of a ping from homehost, a plain host on
	// the home link, to the home address at the end of the leg: "ok", or
	// why not. Away from home it checks the home agent's proxy Neighbor
	// Discovery and tunnel (RFC 6275 §10.4.1). "" when not tried.
	HomeLinkHost string
	// OK is Registered, FlowBack, TCP.Survived() and HomeLinkHost "ok";
	// Problems lists what was not.
	OK       bool
	Problems []string
}

// TimelineEntry is an event in its phase of the tour.
type TimelineEntry struct {
	Event
	// Leg is 0 for the start (before the first move), then the leg's
	// number from 1, and len(Report.Legs)+1 after the last leg's end.
	Leg int
	// SinceMove is the time from the phase's beginning (the move, or the
	// start of the daemons).
	SinceMove time.Duration
	// Repeats counts later events of the same source and name in the
	// phase, folded into this one.
	Repeats int
}

// FirstDelivery returns the time from linkUp to the first Echo Reply to
// come back for a probe sent at or after movedAt, when the mobile node's
// old link went away; false if none came before end. The answer counts
// only if it came after linkUp: a probe sent in the instant between
// movedAt and the old link's removal could still be answered through the
// old link, but not after the new one is up, since the mobile node has a
// single interface and its old link is gone by then. The reply's arrival
// at the correspondent stands for the request's delivery to the mobile
// node, so the figure includes the way back (well under a millisecond in
// the lab) and the probe interval's granularity.
func FirstDelivery(probes []Probe, movedAt, linkUp, end time.Time) (time.Duration, bool) {
	var first time.Time
	for _, p := range probes {
		if p.Sent.Before(movedAt) || !p.Sent.Before(end) || !p.Received.After(linkUp) || !p.Received.Before(end) {
			continue
		}
		if first.IsZero() || p.Received.Before(first) {
			first = p.Received
		}
	}
	if first.IsZero() {
		return 0, false
	}
	return first.Sub(linkUp), true
}

// DurationStats are the median, minimum and maximum of a sample of
// durations, and its size.
type DurationStats struct {
	N                int
	Median, Min, Max time.Duration
}

// Summarize computes the statistics of ds (zero for none). The median of
// an even number of values is the mean of the two middle ones.
func Summarize(ds []time.Duration) DurationStats {
	if len(ds) == 0 {
		return DurationStats{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	st := DurationStats{N: n, Min: s[0], Max: s[n-1], Median: s[n/2]}
	if n%2 == 0 {
		st.Median = (s[n/2-1] + s[n/2]) / 2
	}
	return st
}

// String formats the statistics as the report prints them.
func (s DurationStats) String() string {
	if s.N == 0 {
		return "no move delivered a packet"
	}
	moves := "moves"
	if s.N == 1 {
		moves = "move"
	}
	return fmt.Sprintf("median %s over %d %s (min %s, max %s)", fmtDur(s.Median), s.N, moves, fmtDur(s.Min), fmtDur(s.Max))
}

// FirstPacketStats summarises FirstPacket over the legs that delivered.
func (r *Report) FirstPacketStats() DurationStats {
	var ds []time.Duration
	for _, l := range r.Legs {
		if l.Delivered {
			ds = append(ds, l.FirstPacket)
		}
	}
	return Summarize(ds)
}

// OK reports whether every leg went well and the TCP connection survived
// the whole tour.
func (r *Report) OK() bool {
	for _, l := range r.Legs {
		if !l.OK {
			return false
		}
	}
	return len(r.Legs) > 0 && !r.Interrupted && r.TCP.Survived()
}

// fmtDur formats a duration for the tables: "312ms", "1.25s".
func fmtDur(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + fmtDur(-d)
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// WriteText writes the readable report: daemons, timeline, summary table
// and verdict.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\ngomip6 lab %s: the mobile node toured %s\n", r.Prefix, r.tourString())
	if r.RadvdA != "" {
		fmt.Fprintf(&b, "radvd on link A: %s\n", r.RadvdA.Describe())
	}
	b.WriteString("\ndaemons\n")
	for _, d := range r.Daemons {
		if d.Running {
			fmt.Fprintf(&b, "  %-4s in %-14s running    log %s\n", d.Name, d.Namespace, d.Log)
		} else {
			fmt.Fprintf(&b, "  %-4s in %-14s NOT RUNNING: %s\n", d.Name, d.Namespace, d.Why)
		}
	}

	b.WriteString("\ntimeline (time since the move; x N = N more of the same)\n")
	phase := -1
	for _, e := range r.Timeline {
		if e.Leg != phase {
			phase = e.Leg
			if phase == 0 {
				fmt.Fprintf(&b, "  start at home (daemons started %s)\n", r.Started.Format("15:04:05.000"))
			} else if phase <= len(r.Legs) {
				l := r.Legs[phase-1]
				fmt.Fprintf(&b, "  move %d: %s -> %s at %s\n", phase, l.From, l.To, l.MovedAt.Format("15:04:05.000"))
			} else {
				b.WriteString("  after the last leg, while the flow stops (times since the last move)\n")
			}
		}
		line := fmt.Sprintf("    %8s  %-4s  %-16s", fmtDur(e.SinceMove), e.Source, e.Name)
		detail := e.Msg
		if f := e.fieldString(); f != "" {
			detail += " [" + f + "]"
		}
		if e.Repeats > 0 {
			detail += fmt.Sprintf(" x %d", e.Repeats)
		}
		b.WriteString(strings.TrimRight(line+"  "+detail, " ") + "\n")
	}

	b.WriteString("\nsummary\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  move\tregistered\ttime to register\tfirst packet\tflow back after\tlongest gap\tlost\ttcp\thome link\tresult")
	for i, l := range r.Legs {
		reg, ttr := "no", "-"
		if l.Registered {
			reg, ttr = "yes", fmtDur(l.TimeToRegister)
			if l.To == SiteHome {
				reg = "home"
			}
		}
		back := "-"
		switch {
		case l.Flow.Recovered:
			back = fmtDur(l.Flow.Recovery)
		case !l.Flow.Interrupted && l.Flow.Answered > 0:
			back = "no gap"
		case l.Flow.Interrupted:
			back = "never"
		}
		tcp := "survived"
		switch {
		case !r.TCP.Connected:
			tcp = "none"
		case !l.TCP.Alive:
			tcp = "broken"
		case !l.TCP.Resumed:
			tcp = "stalled"
		}
		res := "ok"
		if !l.OK {
			res = "FAIL"
		}
		hl := "-"
		switch l.HomeLinkHost {
		case "":
		case homeHostOK:
			hl = "ok"
		default:
			hl = "FAIL"
		}
		first := "-"
		if l.Delivered {
			first = fmtDur(l.FirstPacket)
		}
		fmt.Fprintf(tw, "  %d. %s -> %s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", i+1, l.From, l.To, reg, ttr, first, back, fmtDur(l.Flow.LongestGap), l.Flow.Lost, l.Flow.Sent, tcp, hl, res)
	}
	tw.Flush()
	b.WriteString("  (time to register and flow back after: from the move; first packet: from link-up on the new network\n" +
		"   to the first correspondent probe answered through the new link, issue 5's handover time)\n")
	if len(r.Legs) > 0 {
		fmt.Fprintf(&b, "\nhandover, link-up to first packet: %s\n", r.FirstPacketStats())
	}
	for i, l := range r.Legs {
		if l.NotRegistered != "" {
			fmt.Fprintf(&b, "  %d. not registered: %s\n", i+1, l.NotRegistered)
		}
		if !l.OK && len(l.Problems) > 0 {
			fmt.Fprintf(&b, "  %d. problems: %s\n", i+1, strings.Join(l.Problems, "; "))
		}
	}
	fmt.Fprintf(&b, "\ntcp connection: %s\n", r.tcpString())
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	switch {
	case r.OK():
		b.WriteString("\nresult: every leg registered, the flow came back and the TCP connection survived\n")
	case r.Interrupted:
		b.WriteString("\nresult: INTERRUPTED (the figures above are partial)\n")
	default:
		b.WriteString("\nresult: FAILED (see above)\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) tourString() string {
	parts := []string{string(SiteHome)}
	for _, l := range r.Legs {
		parts = append(parts, string(l.To))
	}
	return strings.Join(parts, " -> ")
}

func (r *Report) tcpString() string {
	t := r.TCP
	switch {
	case !t.Connected:
		return "never established"
	case t.Survived():
		return fmt.Sprintf("survived the tour: %d messages, every echo back in order", t.Sent)
	}
	s := fmt.Sprintf("%d of %d messages echoed", t.Echoed, t.Sent)
	if !t.InOrder {
		s += ", out of order"
	}
	if t.Err != "" {
		s += ", error: " + t.Err
	}
	return s
}

// msOf is a duration in milliseconds for JSON, with microsecond precision.
func msOf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// JSON returns the report as the JSON object mip6lab --json prints.
// Durations are in milliseconds (keys ending in _ms).
func (r *Report) JSON() ([]byte, error) {
	type jsonLeg struct {
		From             Site     `json:"from"`
		To               Site     `json:"to"`
		MovedAt          string   `json:"moved_at"`
		DurationMS       float64  `json:"duration_ms"`
		Registered       bool     `json:"registered"`
		TimeToRegisterMS *float64 `json:"time_to_register_ms"`
		NotRegistered    string   `json:"not_registered,omitempty"`
		CareOfAddress    string   `json:"care_of_address,omitempty"`
		Encapsulation    string   `json:"encapsulation,omitempty"`
		HABinding        string   `json:"ha_binding,omitempty"`
		LinkUpMS         float64  `json:"link_up_ms"`
		FirstPacketMS    *float64 `json:"first_packet_ms"`
		ProbesSent       int      `json:"probes_sent"`
		ProbesLost       int      `json:"probes_lost"`
		LongestGapMS     float64  `json:"longest_gap_ms"`
		FlowBackAfterMS  *float64 `json:"flow_back_after_ms"`
		FlowBack         bool     `json:"flow_back"`
		TCPSurvived      bool     `json:"tcp_survived"`
		TCPLongestStall  float64  `json:"tcp_longest_stall_ms"`
		TCPSent          int      `json:"tcp_sent"`
		TCPEchoed        int      `json:"tcp_echoed"`
		HomeLinkHost     string   `json:"home_link_host,omitempty"`
		OK               bool     `json:"ok"`
		Problems         []string `json:"problems,omitempty"`
	}
	type jsonEvent struct {
		Leg         int               `json:"leg"`
		SinceMoveMS float64           `json:"since_move_ms"`
		Time        string            `json:"time"`
		Source      string            `json:"source"`
		Event       string            `json:"event"`
		Msg         string            `json:"msg,omitempty"`
		Fields      map[string]string `json:"fields,omitempty"`
		Repeats     int               `json:"repeats,omitempty"`
	}
	type jsonDaemon struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
		Running   bool   `json:"running"`
		Why       string `json:"why,omitempty"`
		Socket    string `json:"socket,omitempty"`
		Log       string `json:"log,omitempty"`
	}
	type jsonRadvd struct {
		Profile RAProfile `json:"profile"`
		Config  string    `json:"config"`
	}
	type jsonStats struct {
		Moves    int      `json:"moves"`
		MedianMS *float64 `json:"median_ms"`
		MinMS    *float64 `json:"min_ms"`
		MaxMS    *float64 `json:"max_ms"`
	}
	fp := r.FirstPacketStats()
	js := jsonStats{Moves: fp.N}
	if fp.N > 0 {
		md, mn, mx := msOf(fp.Median), msOf(fp.Min), msOf(fp.Max)
		js.MedianMS, js.MinMS, js.MaxMS = &md, &mn, &mx
	}
	var radvd *jsonRadvd
	if r.RadvdA != "" {
		radvd = &jsonRadvd{r.RadvdA, r.RadvdA.Describe()}
	}
	out := struct {
		Prefix      string       `json:"prefix"`
		Started     string       `json:"started"`
		RadvdA      *jsonRadvd   `json:"radvd_a,omitempty"`
		FirstPacket jsonStats    `json:"first_packet"`
		OK          bool         `json:"ok"`
		Interrupted bool         `json:"interrupted,omitempty"`
		Daemons     []jsonDaemon `json:"daemons"`
		Legs        []jsonLeg    `json:"legs"`
		TCP         any          `json:"tcp"`
		Timeline    []jsonEvent  `json:"timeline"`
		Notes       []string     `json:"notes,omitempty"`
	}{
		Prefix:      r.Prefix,
		Started:     r.Started.Format(time.RFC3339Nano),
		RadvdA:      radvd,
		FirstPacket: js,
		OK:          r.OK(),
		Interrupted: r.Interrupted,
		TCP: struct {
			Connected bool   `json:"connected"`
			Survived  bool   `json:"survived"`
			Sent      int    `json:"sent"`
			Echoed    int    `json:"echoed"`
			InOrder   bool   `json:"in_order"`
			Err       string `json:"error,omitempty"`
		}{r.TCP.Connected, r.TCP.Survived(), r.TCP.Sent, r.TCP.Echoed, r.TCP.InOrder, r.TCP.Err},
		Notes:    r.Notes,
		Daemons:  []jsonDaemon{},
		Legs:     []jsonLeg{},
		Timeline: []jsonEvent{},
	}
	for _, d := range r.Daemons {
		out.Daemons = append(out.Daemons, jsonDaemon{d.Name, d.Namespace, d.Running, d.Why, d.Socket, d.Log})
	}
	for _, l := range r.Legs {
		jl := jsonLeg{
			From: l.From, To: l.To, MovedAt: l.MovedAt.Format(time.RFC3339Nano), DurationMS: msOf(l.Duration),
			Registered: l.Registered, NotRegistered: l.NotRegistered,
			CareOfAddress: l.CareOf, Encapsulation: l.Encapsulation, HABinding: l.HABinding,
			ProbesSent: l.Flow.Sent, ProbesLost: l.Flow.Lost, LongestGapMS: msOf(l.Flow.LongestGap),
			FlowBack: l.FlowBack, TCPSurvived: l.TCP.Survived(), TCPLongestStall: msOf(l.TCP.LongestStall),
			TCPSent: l.TCP.Sent, TCPEchoed: l.TCP.Echoed, HomeLinkHost: l.HomeLinkHost, OK: l.OK, Problems: l.Problems,
		}
		if l.Registered {
			v := msOf(l.TimeToRegister)
			jl.TimeToRegisterMS = &v
		}
		jl.LinkUpMS = msOf(l.LinkUp)
		if l.Delivered {
			v := msOf(l.FirstPacket)
			jl.FirstPacketMS = &v
		}
		if l.Flow.Recovered {
			v := msOf(l.Flow.Recovery)
			jl.FlowBackAfterMS = &v
		} else if !l.Flow.Interrupted && l.Flow.Answered > 0 {
			v := 0.0
			jl.FlowBackAfterMS = &v
		}
		out.Legs = append(out.Legs, jl)
	}
	for _, e := range r.Timeline {
		out.Timeline = append(out.Timeline, jsonEvent{
			Leg: e.Leg, SinceMoveMS: msOf(e.SinceMove), Time: e.Time.Format(time.RFC3339Nano),
			Source: e.Source, Event: e.Name, Msg: e.Msg, Fields: e.Fields, Repeats: e.Repeats,
		})
	}
	return json.MarshalIndent(out, "", "  ")
}
