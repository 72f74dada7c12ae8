package lab

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// ms is t0 + n milliseconds.
func ms(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

// probes builds a trace of probes every 10 ms from t0 - 50 ms: answered[i]
// is the reply delay of probe i in ms, or -1 when lost.
func probes(delays ...int) []Probe {
	var tr []Probe
	for i, d := range delays {
		p := Probe{Seq: i + 1, Sent: ms(-50 + 10*i)}
		if d >= 0 {
			p.Received = p.Sent.Add(time.Duration(d) * time.Millisecond)
		}
		tr = append(tr, p)
	}
	return tr
}

func repeat(n, v int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = v
	}
	return s
}

func cat(parts ...[]int) []int {
	var s []int
	for _, p := range parts {
		s = append(s, p...)
	}
	return s
}

func TestAnalyzeProbes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		trace    []Probe
		from, to time.Time
		want     FlowStats
	}{{
		// Probes at -50..+140 ms, all answered in 1 ms; the window [0,
		// 100) holds the 10 probes at 0, 10, ... 90.
		name:  "no loss",
		trace: probes(repeat(20, 1)...),
		from:  ms(0), to: ms(100),
		want: FlowStats{Sent: 10, Answered: 10, LongestGap: 10 * time.Millisecond},
	}, {
		// 5 before the window, then the probes at 0..290 are lost, the
		// one at 300 is answered 2 ms later, and the rest.
		name:  "outage after the move",
		trace: probes(cat(repeat(5, 1), repeat(30, -1), repeat(20, 2))...),
		from:  ms(0), to: ms(500),
		want: FlowStats{
			Sent: 50, Answered: 20, Lost: 30,
			LongestGap:  300 * time.Millisecond, // from the move to the probe sent at 300
			Interrupted: true, Recovered: true,
			Recovery: 302 * time.Millisecond,
		},
	}, {
		// Two outages: 40 ms then 120 ms; the longest counts, recovery
		// is after the first.
		name:  "two outages",
		trace: probes(cat(repeat(5, 1), repeat(2, 1), repeat(3, -1), repeat(5, 1), repeat(11, -1), repeat(10, 1))...),
		from:  ms(0), to: ms(310),
		want: FlowStats{
			Sent: 31, Answered: 17, Lost: 14,
			// answered at 60, lost 70..170, answered at 180: 120 ms.
			LongestGap:  120 * time.Millisecond,
			Interrupted: true, Recovered: true,
			// lost 20, 30, 40; answered at 50 + 1 ms.
			Recovery: 51 * time.Millisecond,
		},
	}, {
		// Never back: the gap runs to the end of the window.
		name:  "not recovered",
		trace: probes(cat(repeat(5, 1), repeat(3, 1), repeat(40, -1))...),
		from:  ms(0), to: ms(400),
		want: FlowStats{
			Sent: 40, Answered: 3, Lost: 37,
			LongestGap:  380 * time.Millisecond, // last answer sent at 20
			Interrupted: true,
		},
	}, {
		// Late replies still count as answered (a reply that took 300 ms
		// was not lost), and the gap is on send times.
		name:  "late replies",
		trace: probes(cat(repeat(5, 1), repeat(10, 300))...),
		from:  ms(0), to: ms(100),
		want: FlowStats{Sent: 10, Answered: 10, LongestGap: 10 * time.Millisecond},
	}, {
		name: "empty window",
		from: ms(0), to: ms(100),
		want: FlowStats{LongestGap: 100 * time.Millisecond},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := AnalyzeProbes(tc.trace, tc.from, tc.to)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("AnalyzeProbes (-want +got):\n%s", diff)
			}
		})
	}
}

// tcpTrace builds messages every 20 ms from t0 with the given echo delays in
// ms (-1: never echoed).
func tcpTrace(delays ...int) TCPTrace {
	tr := TCPTrace{Connected: ms(-1000)}
	for i, d := range delays {
		m := Echo{Seq: i + 1, Sent: ms(20 * i)}
		if d >= 0 {
			m.Received = m.Sent.Add(time.Duration(d) * time.Millisecond)
		}
		tr.Msgs = append(tr.Msgs, m)
	}
	return tr
}

func TestAnalyzeTCP(t *testing.T) {
	// 10 messages at 0..180 ms echoed after 2 ms; then a stall: the
	// messages at 200..580 all come back at 600 (TCP retransmission
	// delivers them together); then normal again from 600.
	delays := cat(repeat(10, 2))
	for i := range 20 {
		delays = append(delays, 600-(200+20*i))
	}
	delays = append(delays, repeat(10, 2)...)
	tr := tcpTrace(delays...)

	for _, tc := range []struct {
		name     string
		tr       TCPTrace
		from, to time.Time
		want     TCPStats
	}{{
		name: "steady", tr: tr, from: ms(0), to: ms(200),
		// echoes at 2, 22, ... 182; the last stretch is 182 -> 200.
		want: TCPStats{Sent: 10, Echoed: 10, Alive: true, Resumed: true, LongestStall: 20 * time.Millisecond},
	}, {
		name: "stall", tr: tr, from: ms(190), to: ms(700),
		// messages at 200..580 (20) and 600..680 (5); echoes at 600 (20)
		// and 602..682; the stall is 190 -> 600.
		want: TCPStats{Sent: 25, Echoed: 25, Alive: true, Resumed: true, LongestStall: 410 * time.Millisecond},
	}, {
		name: "stalled to the end", tr: tr, from: ms(190), to: ms(500),
		// echoes of this window's messages come after it.
		// messages at 200..480 (15), echoed at 600.
		want: TCPStats{Sent: 15, Echoed: 15, Alive: true, LongestStall: 310 * time.Millisecond},
	}, {
		name: "reset", tr: func() TCPTrace {
			t := tcpTrace(repeat(10, 2)...)
			t.Err, t.ErrAt = errors.New("connection reset by peer"), ms(50)
			return t
		}(), from: ms(0), to: ms(200),
		want: TCPStats{Sent: 10, Echoed: 10, Resumed: true, LongestStall: 20 * time.Millisecond},
	}, {
		name: "never connected", tr: TCPTrace{}, from: ms(0), to: ms(100),
		want: TCPStats{LongestStall: 100 * time.Millisecond},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := AnalyzeTCP(tc.tr, tc.from, tc.to)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("AnalyzeTCP (-want +got):\n%s", diff)
			}
			if got.Survived() != (tc.want.Alive && tc.want.Resumed) {
				t.Errorf("Survived() = %v", got.Survived())
			}
		})
	}
}

func TestSummarizeTCP(t *testing.T) {
	ok := tcpTrace(repeat(5, 2)...)
	lost := tcpTrace(2, 2, -1)
	reordered := tcpTrace(repeat(5, 2)...)
	reordered.OutOfOrder = 1
	reset := tcpTrace(repeat(5, 2)...)
	reset.Err = errors.New("read: connection reset by peer")
	for _, tc := range []struct {
		name string
		tr   TCPTrace
		want TCPSummary
		surv bool
	}{
		{"ok", ok, TCPSummary{Connected: true, Sent: 5, Echoed: 5, InOrder: true}, true},
		{"missing echo", lost, TCPSummary{Connected: true, Sent: 3, Echoed: 2, InOrder: true}, false},
		{"out of order", reordered, TCPSummary{Connected: true, Sent: 5, Echoed: 5}, false},
		{"reset", reset, TCPSummary{Connected: true, Sent: 5, Echoed: 5, InOrder: true, Err: "read: connection reset by peer"}, false},
		{"never connected", TCPTrace{}, TCPSummary{InOrder: true}, false},
	} {
		got := SummarizeTCP(tc.tr)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: SummarizeTCP (-want +got):\n%s", tc.name, diff)
		}
		if got.Survived() != tc.surv {
			t.Errorf("%s: Survived() = %v, want %v", tc.name, got.Survived(), tc.surv)
		}
	}
}
