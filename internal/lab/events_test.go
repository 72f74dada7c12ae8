package lab

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// A log as the daemons write it (zap JSON, internal/daemon's keys), with
// the lines that are not timeline events.
const mndLog = `{"level":"info","ts":"2026-11-24T12:35:25.984195701Z","logger":"mnd","msg":"mnd started","hoa":"2001:db8:100::10","interfaces":["eth0"],"iface":"mip0"}
{"level":"info","ts":"2026-11-24T12:35:25.984907168Z","logger":"mnd","msg":"link up","event":"link","iface":"eth0","up":true}
{"level":"debug","ts":"2026-11-24T12:35:26.8Z","logger":"mnd","msg":"router advertisement","event":"ra","iface":"eth0"}
mnd: something printed before the logger existed
{"level":"info","ts":"2026-11-24T12:35:27.879893686Z","logger":"mnd","msg":"binding update sent","event":"bu_sent","hoa":"2001:db8:100::10","coa":"2001:db8:a::1","ha":"2001:db8:100::1","seq":65047,"lifetime":20,"retransmission":0}
{"level":"warn","ts":"2026-11-24T12:35:33.931622827Z","logger":"mnd","msg":"lost connectivity","reason":"link eth0 down"}
{"level":"info","ts":"not a time","msg":"x","event":"moved"}
{"level":"info","ts":"2026-11-24T12:35:34Z","msg":"odd field","event":"moved","coa":{"addr":"2001:db8:a::1","port":4500}}
{"level":"info","ts":"2026-11-24T12:35:34Z","msg":"truncated","event":"mo
[1,2,3]
{"level":"error","ts":"2026-11-24T12:35:35Z","msg":"home agent refused the registration","event":"registration_failed","status":"administratively-prohibited"}
`

func TestParseLog(t *testing.T) {
	ts := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	got, err := ParseLog("mnd", strings.NewReader(mndLog))
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{
		{Time: ts("2026-11-24T12:35:25.984907168Z"), Source: "mnd", Name: "link", Msg: "link up", Fields: map[string]string{"iface": "eth0"}},
		{Time: ts("2026-11-24T12:35:26.8Z"), Source: "mnd", Name: "ra", Msg: "router advertisement", Fields: map[string]string{"iface": "eth0"}},
		{Time: ts("2026-11-24T12:35:27.879893686Z"), Source: "mnd", Name: "bu_sent", Msg: "binding update sent", Fields: map[string]string{
			"hoa": "2001:db8:100::10", "coa": "2001:db8:a::1", "ha": "2001:db8:100::1", "seq": "65047", "lifetime": "20"}},
		{Time: ts("2026-11-24T12:35:33.931622827Z"), Source: "mnd", Name: "warn", Msg: "lost connectivity"},
		{Time: ts("2026-11-24T12:35:34Z"), Source: "mnd", Name: "moved", Msg: "odd field", Fields: map[string]string{"coa": `{"addr":"2001:db8:a::1","port":4500}`}},
		{Time: ts("2026-11-24T12:35:35Z"), Source: "mnd", Name: "registration_failed", Msg: "home agent refused the registration", Fields: map[string]string{"status": "administratively-prohibited"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseLog (-want +got):\n%s", diff)
	}

	// Fractional seconds (zap's SecondsDurationEncoder) keep their
	// digits.
	ev, _ := ParseLog("had", strings.NewReader(`{"level":"info","ts":"2026-11-24T12:00:00Z","msg":"m","event":"ba_sent","lifetime":19.5}`))
	if len(ev) != 1 || ev[0].Fields["lifetime"] != "19.5" {
		t.Errorf("lifetime 19.5: %+v", ev)
	}

	// A line longer than the scanner's limit ends the read with an error,
	// keeping what came before.
	long := `{"level":"info","ts":"2026-11-24T12:00:00Z","msg":"m","event":"a"}` + "\n" + strings.Repeat("x", 2<<20) + "\n"
	ev, err = ParseLog("had", strings.NewReader(long))
	if err == nil || len(ev) != 1 {
		t.Errorf("long line: %d events, %v", len(ev), err)
	}
}

func TestFirstEvent(t *testing.T) {
	ev := []Event{
		{Time: ms(0), Source: "mnd", Name: "bu_sent"},
		{Time: ms(10), Source: "had", Name: "ba_sent"},
		{Time: ms(20), Source: "mnd", Name: "ba_received"},
		{Time: ms(30), Source: "mnd", Name: "registered"},
		{Time: ms(40), Source: "mnd", Name: "ba_received"},
	}
	for _, tc := range []struct {
		source   string
		from, to time.Time
		names    []string
		want     int // index in ev, -1: none
	}{
		{"mnd", ms(0), time.Time{}, []string{"ba_received"}, 2},
		{"mnd", ms(21), time.Time{}, []string{"ba_received"}, 4},
		{"mnd", ms(0), ms(20), []string{"ba_received"}, -1}, // to is exclusive
		{"mnd", ms(0), time.Time{}, []string{"registered", "ba_received"}, 2},
		{"had", ms(0), time.Time{}, []string{"ba_received"}, -1},
		{"had", ms(10), ms(11), []string{"ba_sent"}, 1}, // from is inclusive
	} {
		e, ok := FirstEvent(ev, tc.source, tc.from, tc.to, tc.names...)
		if tc.want < 0 {
			if ok {
				t.Errorf("FirstEvent(%s, %v): got %+v, want none", tc.source, tc.names, e)
			}
			continue
		}
		if !ok || !e.Time.Equal(ev[tc.want].Time) || e.Name != ev[tc.want].Name {
			t.Errorf("FirstEvent(%s, %v, %v..%v) = %+v, %v; want %+v", tc.source, tc.names, tc.from, tc.to, e, ok, ev[tc.want])
		}
	}
}
