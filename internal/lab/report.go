package lab

import (
	"encoding/json"
	"fmt"
	"io"
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
	fmt.Fprintln(tw, "  move\tregistered\ttime to register\tflow back after\tlongest gap\tlost\ttcp\thome link\tresult")
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
		fmt.Fprintf(tw, "  %d. %s -> %s\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", i+1, l.From, l.To, reg, ttr, back, fmtDur(l.Flow.LongestGap), l.Flow.Lost, l.Flow.Sent, tcp, hl, res)
	}
	tw.Flush()
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
	out := struct {
		Prefix      string       `json:"prefix"`
		Started     string       `json:"started"`
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
