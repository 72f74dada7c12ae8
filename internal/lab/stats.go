package lab

import (
	"time"
)

// FlowStats summarises the probe stream over one leg of the tour, the
// window [From, To) that starts at the move.
type FlowStats struct {
	// Sent, Answered and Lost count the probes sent in the window
	// (answered whenever their reply came, even after the window).
	Sent, Answered, Lost int
	// LongestGap is the longest stretch of the window in which no probe
	// sent was answered, measured on the send times and clamped to the
	// window: with probes every 10 ms and nothing lost it is about 10 ms.
	LongestGap time.Duration
	// Interrupted reports whether any probe of the window was lost.
	Interrupted bool
	// Recovered reports, when Interrupted, whether a probe sent after the
	// first lost one was answered; Recovery is then the time from the
	// move to that answer ("time to the first probe answered again").
	Recovered bool
	Recovery  time.Duration
}

// AnalyzeProbes computes the statistics of the probes sent in [from, to).
// trace is in sending order, as a Prober records it.
func AnalyzeProbes(trace []Probe, from, to time.Time) FlowStats {
	var s FlowStats
	prev := from // start of the current stretch without an answer
	firstLost := -1
	lastSent := time.Time{}
	for i, p := range trace {
		if p.Sent.Before(from) || !p.Sent.Before(to) {
			continue
		}
		s.Sent++
		lastSent = p.Sent
		if !p.Answered() {
			s.Lost++
			if firstLost < 0 {
				firstLost = i
			}
			continue
		}
		s.Answered++
		if g := p.Sent.Sub(prev); g > s.LongestGap {
			s.LongestGap = g
		}
		prev = p.Sent
		if firstLost >= 0 && !s.Recovered {
			s.Recovered = true
			s.Recovery = p.Received.Sub(from)
		}
	}
	// A stretch without answers running to the end of the window.
	if s.Sent > 0 && lastSent.After(prev) {
		if g := to.Sub(prev); g > s.LongestGap {
			s.LongestGap = g
		}
	}
	if s.Sent == 0 {
		s.LongestGap = to.Sub(from)
	}
	s.Interrupted = s.Lost > 0
	return s
}

// TCPStats summarises the TCP flow over one leg, the window [from, to).
type TCPStats struct {
	// Sent and Echoed count the messages written in the window and those
	// of them whose echo came back (whenever it came).
	Sent, Echoed int
	// Alive reports that the connection had no error before the end of
	// the window (no reset, no timeout).
	Alive bool
	// Resumed reports that, during the window, an echo came back for a
	// message written during the window: the connection carried data
	// after the move.
	Resumed bool
	// LongestStall is the longest time in the window without an echo
	// coming back, clamped to the window.
	LongestStall time.Duration
}

// Survived reports whether the connection lived through the move and
// carried data after it.
func (s TCPStats) Survived() bool { return s.Alive && s.Resumed }

// AnalyzeTCP computes the TCP flow's statistics for [from, to).
func AnalyzeTCP(tr TCPTrace, from, to time.Time) TCPStats {
	s := TCPStats{Alive: !tr.Connected.IsZero() && (tr.Err == nil || !tr.ErrAt.Before(to))}
	prev := from
	var recv []time.Time
	for _, m := range tr.Msgs {
		if !m.Sent.Before(from) && m.Sent.Before(to) {
			s.Sent++
			if !m.Received.IsZero() {
				s.Echoed++
				if m.Received.Before(to) {
					s.Resumed = true
				}
			}
		}
		if !m.Received.IsZero() && !m.Received.Before(from) && m.Received.Before(to) {
			recv = append(recv, m.Received)
		}
	}
	// Echoes come back in order (TCP), so receive times are increasing.
	for _, r := range recv {
		if g := r.Sub(prev); g > s.LongestStall {
			s.LongestStall = g
		}
		prev = r
	}
	if g := to.Sub(prev); g > s.LongestStall {
		s.LongestStall = g
	}
	return s
}

// TCPSummary is the whole connection's outcome at the end of the tour.
type TCPSummary struct {
	// Connected reports whether the connection was ever established.
	Connected bool
	// Sent and Echoed count every message and those echoed back.
	Sent, Echoed int
	// InOrder reports that every echo came back in sequence.
	InOrder bool
	// Err is the connection's first error, "" if none.
	Err string
}

// Survived reports whether the connection lasted the whole tour with every
// echo back in order: no reset, nothing missing.
func (s TCPSummary) Survived() bool {
	return s.Connected && s.Err == "" && s.InOrder && s.Echoed == s.Sent && s.Sent > 0
}

// SummarizeTCP gives the outcome of a finished trace.
func SummarizeTCP(tr TCPTrace) TCPSummary {
	s := TCPSummary{Connected: !tr.Connected.IsZero(), Sent: len(tr.Msgs), InOrder: tr.OutOfOrder == 0}
	for _, m := range tr.Msgs {
		if !m.Received.IsZero() {
			s.Echoed++
		}
	}
	if tr.Err != nil {
		s.Err = tr.Err.Error()
	}
	return s
}
