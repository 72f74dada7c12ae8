package lab

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"
)

// Event is one entry of the tour's timeline: a lab action (a link moved),
// a daemon's log entry that carries an "event" field, or a flow milestone.
type Event struct {
	// Time is when it happened (daemon events: the log entry's "ts").
	Time time.Time `json:"time"`
	// Source is "lab", "flow", or the daemon ("had", "mnd", "cnd").
	Source string `json:"source"`
	// Name is the event: the daemon's "event" field ("bu_sent", "ra"),
	// "warn" or "error" for a daemon's warnings and errors without one,
	// or the lab's and flow's own names ("moved", "probe_lost",
	// "probe_answered").
	Name string `json:"event"`
	// Msg is the log message or the lab's description.
	Msg string `json:"msg,omitempty"`
	// Fields are the entry's fixed keys that the timeline shows (hoa,
	// coa, ha, cn, iface, status, seq, lifetime).
	Fields map[string]string `json:"fields,omitempty"`
}

// timelineKeys are the log fields kept in Event.Fields, in display order
// (SPEC.md's fixed keys).
var timelineKeys = []string{"iface", "coa", "hoa", "ha", "cn", "status", "seq", "lifetime"}

// fieldString formats the fields as "key=value" pairs in a fixed order.
func (e Event) fieldString() string {
	var parts []string
	for _, k := range timelineKeys {
		if v, ok := e.Fields[k]; ok {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, " ")
}

// ParseLog reads a daemon's JSON log (one zap entry a line, the keys of
// internal/daemon: "ts", "level", "msg", and the fixed field keys) and
// returns its timeline events: entries with an "event" field, and warnings
// and errors. Lines that are not JSON objects (a panic, a message printed
// before the logger existed) are skipped; a line too long for the scanner
// ends the read with an error, with the events found so far.
func ParseLog(source string, r io.Reader) ([]Event, error) {
	var out []Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if e, ok := parseLine(source, sc.Bytes()); ok {
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("lab: %s log: %w", source, err)
	}
	return out, nil
}

// parseLine turns one log line into an Event, if it is one.
func parseLine(source string, line []byte) (Event, bool) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return Event{}, false
	}
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		return Event{}, false
	}
	name, _ := m["event"].(string)
	level, _ := m["level"].(string)
	if name == "" {
		if level != "warn" && level != "error" && level != "dpanic" && level != "panic" && level != "fatal" {
			return Event{}, false
		}
		name = level
	}
	e := Event{Source: source, Name: name}
	e.Msg, _ = m["msg"].(string)
	if ts, ok := m["ts"].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			e.Time = t
		}
	}
	if e.Time.IsZero() {
		// An entry without a usable time cannot be placed on the
		// timeline.
		return Event{}, false
	}
	for _, k := range timelineKeys {
		v, ok := m[k]
		if !ok || v == nil {
			continue
		}
		if e.Fields == nil {
			e.Fields = map[string]string{}
		}
		switch v := v.(type) {
		case string:
			e.Fields[k] = v
		case float64:
			e.Fields[k] = fmt.Sprintf("%g", v)
		default:
			b, _ := json.Marshal(v)
			e.Fields[k] = string(b)
		}
	}
	return e, true
}

// SortEvents sorts events by time, keeping the order of equal times.
func SortEvents(ev []Event) {
	sort.SliceStable(ev, func(i, j int) bool { return ev[i].Time.Before(ev[j].Time) })
}

// FirstEvent returns the first event, in ev's order (SortEvents), from
// source named one of names at or after from and before to (to zero: no
// end).
func FirstEvent(ev []Event, source string, from, to time.Time, names ...string) (Event, bool) {
	for _, e := range ev {
		if e.Source != source || e.Time.Before(from) || (!to.IsZero() && !e.Time.Before(to)) {
			continue
		}
		if slices.Contains(names, e.Name) {
			return e, true
		}
	}
	return Event{}, false
}
