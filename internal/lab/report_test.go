package lab

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gomip6/gomip6/internal/netlab"
)

func TestBuildTimeline(t *testing.T) {
	legs := []legObs{{from: SiteHome, to: SiteA, movedAt: ms(1000), end: ms(2000)}, {from: SiteA, to: SiteB, movedAt: ms(2000), end: ms(3000)}}
	ev := []Event{
		{Time: ms(70), Source: "mnd", Name: "link", Msg: "link up"},
		{Time: ms(100), Source: "mnd", Name: "ra", Msg: "router advertisement"},
		{Time: ms(600), Source: "mnd", Name: "ra", Msg: "router advertisement"},
		{Time: ms(1000), Source: "lab", Name: "move", Msg: "leaves"},
		{Time: ms(1020), Source: "mnd", Name: "link", Msg: "link down"},
		{Time: ms(1025), Source: "mnd", Name: "link", Msg: "link up"},
		{Time: ms(1030), Source: "mnd", Name: "ra", Msg: "router advertisement"},
		{Time: ms(1300), Source: "mnd", Name: "ra", Msg: "router advertisement"},
		{Time: ms(1900), Source: "mnd", Name: "ra", Msg: "router advertisement"},
		{Time: ms(2000), Source: "lab", Name: "move", Msg: "leaves"},
		{Time: ms(2010), Source: "mnd", Name: "link", Msg: "link down"},
		{Time: ms(3000), Source: "had", Name: "binding_expired", Msg: "binding expired"},
	}
	got := buildTimeline(ev, legs, ms(0))
	want := []TimelineEntry{
		{Event: ev[0], Leg: 0, SinceMove: 70 * time.Millisecond},
		{Event: ev[1], Leg: 0, SinceMove: 100 * time.Millisecond, Repeats: 1},
		{Event: ev[3], Leg: 1},
		{Event: ev[4], Leg: 1, SinceMove: 20 * time.Millisecond},
		{Event: ev[5], Leg: 1, SinceMove: 25 * time.Millisecond},
		{Event: ev[6], Leg: 1, SinceMove: 30 * time.Millisecond, Repeats: 2},
		{Event: ev[9], Leg: 2},
		{Event: ev[10], Leg: 2, SinceMove: 10 * time.Millisecond},
		{Event: ev[11], Leg: 3, SinceMove: 1000 * time.Millisecond},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("buildTimeline (-want +got):\n%s", diff)
	}
}

// sampleReport is a two-leg report: A registered, B not.
func sampleReport() *Report {
	return &Report{
		Prefix:  "g6abcd",
		Started: ms(0),
		RadvdA:  RAMIPv6Min,
		Daemons: []DaemonInfo{
			{Name: "had", Namespace: "g6abcd-home", Running: true, Log: "/tmp/x/had.log", Socket: "/tmp/x/had.sock"},
			{Name: "cnd", Namespace: "g6abcd-cn", Why: "cnd exited at once: not implemented yet (issue 7)"},
		},
		Legs: []LegResult{{
			From: SiteHome, To: SiteA, MovedAt: ms(1000), Duration: 6 * time.Second,
			Registered: true, TimeToRegister: 1030 * time.Millisecond,
			LinkUp: 22 * time.Millisecond, Delivered: true, FirstPacket: 1013 * time.Millisecond,
			CareOf: "2001:db8:a::5", Encapsulation: "ipv6",
			Flow:         FlowStats{Sent: 600, Answered: 497, Lost: 103, LongestGap: 1030 * time.Millisecond, Interrupted: true, Recovered: true, Recovery: 1035 * time.Millisecond},
			FlowBack:     true,
			TCP:          TCPStats{Sent: 300, Echoed: 300, Alive: true, Resumed: true, LongestStall: 1500 * time.Millisecond},
			HomeLinkHost: homeHostOK,
			OK:           true,
		}, {
			From: SiteA, To: SiteB, MovedAt: ms(7000), Duration: 6 * time.Second,
			NotRegistered: "mnd: registered=false; link B is IPv4-only",
			LinkUp:        30 * time.Millisecond,
			Flow:          FlowStats{Sent: 600, Lost: 600, LongestGap: 6 * time.Second, Interrupted: true},
			TCP:           TCPStats{Sent: 300, Echoed: 300, Alive: true, LongestStall: 6 * time.Second},
			HomeLinkHost:  homeHostNoAnswer,
			Problems:      []string{"not registered", "probes not answered at the end of the leg"},
		}},
		TCP: TCPSummary{Connected: true, Sent: 600, Echoed: 600, InOrder: true},
		Timeline: []TimelineEntry{
			{Event: Event{Time: ms(1000), Source: "lab", Name: "move", Msg: "eth0's peer leaves home's bridge"}, Leg: 1},
			{Event: Event{Time: ms(1025), Source: "mnd", Name: "bu_sent", Msg: "binding update sent", Fields: map[string]string{"seq": "7", "coa": "2001:db8:a::5"}}, Leg: 1, SinceMove: 25 * time.Millisecond},
			{Event: Event{Time: ms(1300), Source: "mnd", Name: "ra", Msg: "router advertisement"}, Leg: 1, SinceMove: 300 * time.Millisecond, Repeats: 4},
			{Event: Event{Time: ms(13500), Source: "had", Name: "binding_expired", Msg: "binding expired"}, Leg: 3, SinceMove: 6500 * time.Millisecond},
		},
		Notes: []string{"a note"},
	}
}

func TestWriteText(t *testing.T) {
	r := sampleReport()
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"gomip6 lab g6abcd: the mobile node toured home -> a -> b\n" +
			"radvd on link A: MIPv6 minimum intervals (RFC 6275 §7.5): MinRtrAdvInterval 0.03 s, MaxRtrAdvInterval 0.07 s, AdvIntervalOpt on, MinDelayBetweenRAs 0.03 s\n",
		"  had  in g6abcd-home    running    log /tmp/x/had.log\n",
		"  cnd  in g6abcd-cn      NOT RUNNING: cnd exited at once: not implemented yet (issue 7)\n",
		"  move 1: home -> a at ",
		"        0ms  lab   move              eth0's peer leaves home's bridge\n",
		"       25ms  mnd   bu_sent           binding update sent [coa=2001:db8:a::5 seq=7]\n",
		"      300ms  mnd   ra                router advertisement x 4\n",
		"  after the last leg, while the flow stops (times since the last move)\n       6.50s  had   binding_expired   binding expired\n",
		"  move          registered  time to register  first packet  flow back after  longest gap  lost     tcp       home link  result\n",
		"  1. home -> a  yes         1.03s             1.01s         1.03s            1.03s        103/600  survived  ok         ok\n",
		"  2. a -> b     no          -                 -             never            6.00s        600/600  stalled   FAIL       FAIL\n",
		"\nhandover, link-up to first packet: median 1.01s over 1 move (min 1.01s, max 1.01s)\n",
		"  2. not registered: mnd: registered=false; link B is IPv4-only\n",
		"  2. problems: not registered; probes not answered at the end of the leg\n",
		"tcp connection: survived the tour: 600 messages, every echo back in order\n",
		"note: a note\n",
		"result: FAILED",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	if r.OK() {
		t.Error("OK() with a failed leg")
	}
	r.Legs = r.Legs[:1]
	if !r.OK() {
		t.Error("not OK() with every leg ok and TCP survived")
	}
	b.Reset()
	r.WriteText(&b)
	if !strings.Contains(b.String(), "result: every leg registered") {
		t.Errorf("no success line:\n%s", b.String())
	}
	r.Interrupted = true
	if r.OK() {
		t.Error("OK() when interrupted")
	}
	b.Reset()
	r.WriteText(&b)
	if !strings.Contains(b.String(), "result: INTERRUPTED") {
		t.Errorf("no interruption line:\n%s", b.String())
	}
	r.Interrupted = false
	r.TCP.Err = "connection reset by peer"
	if r.OK() {
		t.Error("OK() with the TCP connection reset")
	}
}

func TestReportJSON(t *testing.T) {
	b, err := sampleReport().JSON()
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Prefix string `json:"prefix"`
		OK     bool   `json:"ok"`
		Radvd  struct {
			Profile string `json:"profile"`
			Config  string `json:"config"`
		} `json:"radvd_a"`
		FirstPacket struct {
			Moves    int      `json:"moves"`
			MedianMS *float64 `json:"median_ms"`
			MinMS    *float64 `json:"min_ms"`
			MaxMS    *float64 `json:"max_ms"`
		} `json:"first_packet"`
		Legs []struct {
			From             string   `json:"from"`
			To               string   `json:"to"`
			Registered       bool     `json:"registered"`
			TimeToRegisterMS *float64 `json:"time_to_register_ms"`
			NotRegistered    string   `json:"not_registered"`
			ProbesLost       int      `json:"probes_lost"`
			LongestGapMS     float64  `json:"longest_gap_ms"`
			FlowBackAfterMS  *float64 `json:"flow_back_after_ms"`
			LinkUpMS         float64  `json:"link_up_ms"`
			FirstPacketMS    *float64 `json:"first_packet_ms"`
			TCPSurvived      bool     `json:"tcp_survived"`
			HomeLinkHost     string   `json:"home_link_host"`
			OK               bool     `json:"ok"`
		} `json:"legs"`
		TCP struct {
			Survived bool `json:"survived"`
			Sent     int  `json:"sent"`
		} `json:"tcp"`
		Timeline []struct {
			Leg         int               `json:"leg"`
			SinceMoveMS float64           `json:"since_move_ms"`
			Event       string            `json:"event"`
			Fields      map[string]string `json:"fields"`
			Repeats     int               `json:"repeats"`
		} `json:"timeline"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if got.Prefix != "g6abcd" || got.OK || len(got.Legs) != 2 || !got.TCP.Survived || got.TCP.Sent != 600 {
		t.Errorf("report: %+v", got)
	}
	if got.Radvd.Profile != "mipv6-min" || got.Radvd.Config != RAMIPv6Min.Describe() {
		t.Errorf("radvd_a: %+v", got.Radvd)
	}
	if fp := got.FirstPacket; fp.Moves != 1 || fp.MedianMS == nil || *fp.MedianMS != 1013 || *fp.MinMS != 1013 || *fp.MaxMS != 1013 {
		t.Errorf("first_packet: %+v", fp)
	}
	l1, l2 := got.Legs[0], got.Legs[1]
	if l1.LinkUpMS != 22 || l1.FirstPacketMS == nil || *l1.FirstPacketMS != 1013 || l2.LinkUpMS != 30 || l2.FirstPacketMS != nil {
		t.Errorf("link-up and first packet: leg 1 %v %v, leg 2 %v %v", l1.LinkUpMS, l1.FirstPacketMS, l2.LinkUpMS, l2.FirstPacketMS)
	}
	if l1.From != "home" || l1.To != "a" || !l1.Registered || l1.TimeToRegisterMS == nil || *l1.TimeToRegisterMS != 1030 ||
		l1.ProbesLost != 103 || l1.LongestGapMS != 1030 || l1.FlowBackAfterMS == nil || *l1.FlowBackAfterMS != 1035 || !l1.TCPSurvived || l1.HomeLinkHost != "ok" || !l1.OK {
		t.Errorf("leg 1: %+v", l1)
	}
	// Unknown figures are null, not 0 (0 would read as "instant").
	if l2.Registered || l2.TimeToRegisterMS != nil || l2.FlowBackAfterMS != nil || l2.NotRegistered == "" || l2.TCPSurvived || l2.HomeLinkHost != homeHostNoAnswer || l2.OK {
		t.Errorf("leg 2: %+v", l2)
	}
	if len(got.Timeline) != 4 || got.Timeline[1].SinceMoveMS != 25 || got.Timeline[1].Fields["seq"] != "7" || got.Timeline[2].Repeats != 4 {
		t.Errorf("timeline: %+v", got.Timeline)
	}
}

func TestFmtDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0ms", 999 * time.Microsecond: "0ms", 312 * time.Millisecond: "312ms", 1250 * time.Millisecond: "1.25s",
		-25 * time.Millisecond: "-25ms", 90 * time.Second: "1m30s",
	} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestReportJSONNoDelivery(t *testing.T) {
	r := sampleReport()
	r.Legs = r.Legs[1:]
	r.RadvdA = ""
	b, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	// No move delivered: the statistics are null, not 0 ("instant"),
	// and without a radvd setting there is no radvd_a.
	if !strings.Contains(string(b), `"first_packet": {
    "moves": 0,
    "median_ms": null,
    "min_ms": null,
    "max_ms": null
  }`) || strings.Contains(string(b), "radvd_a") {
		t.Errorf("JSON:\n%s", b)
	}
	var out strings.Builder
	r.WriteText(&out)
	if !strings.Contains(out.String(), "handover, link-up to first packet: no move delivered a packet\n") || strings.Contains(out.String(), "radvd on link A") {
		t.Errorf("text:\n%s", out.String())
	}
}

func TestFirstDelivery(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		trace                []Probe
		movedAt, linkUp, end time.Time
		want                 time.Duration
		ok                   bool
	}{{
		// Probes at -50, -40 ... answered in 1 ms up to the move at 0;
		// those sent at 0 .. 40 lost; the one at 50 answered at 52.
		// Link-up at 30: 22 ms.
		name:    "outage",
		trace:   probes(cat(repeat(5, 1), repeat(5, -1), repeat(5, 2))...),
		movedAt: ms(0), linkUp: ms(30), end: ms(1000),
		want: 22 * time.Millisecond, ok: true,
	}, {
		// The probe sent at 0 was answered at 1 through the old link,
		// before link-up at 25; the next answer after link-up counts.
		name:    "answered through the old link before link-up",
		trace:   probes(cat(repeat(5, 1), repeat(1, 1), repeat(2, -1), repeat(5, 3))...),
		movedAt: ms(0), linkUp: ms(25), end: ms(1000),
		want: 8 * time.Millisecond, ok: true, // probe at 30, answered at 33
	}, {
		// A probe sent before the move (at -10) answered late, after
		// link-up, does not count: it was sent before the move.
		name:    "old probe answered late",
		trace:   []Probe{{Seq: 1, Sent: ms(-10), Received: ms(40)}, {Seq: 2, Sent: ms(0)}, {Seq: 3, Sent: ms(10), Received: ms(60)}},
		movedAt: ms(0), linkUp: ms(20), end: ms(1000),
		want: 40 * time.Millisecond, ok: true,
	}, {
		// The earliest answer counts, not the earliest probe: the probe
		// at 10 was held (a queue) and answered after the one at 20.
		name:    "earliest answer",
		trace:   []Probe{{Seq: 1, Sent: ms(10), Received: ms(70)}, {Seq: 2, Sent: ms(20), Received: ms(50)}},
		movedAt: ms(0), linkUp: ms(5), end: ms(1000),
		want: 45 * time.Millisecond, ok: true,
	}, {
		name:    "nothing answered in the window",
		trace:   probes(cat(repeat(5, 1), repeat(20, -1))...),
		movedAt: ms(0), linkUp: ms(30), end: ms(200),
	}, {
		// An answer after the window's end belongs to the next move.
		name:    "answered after the end",
		trace:   []Probe{{Seq: 1, Sent: ms(10), Received: ms(250)}},
		movedAt: ms(0), linkUp: ms(5), end: ms(200),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := FirstDelivery(tc.trace, tc.movedAt, tc.linkUp, tc.end)
			if got != tc.want || ok != tc.ok {
				t.Errorf("FirstDelivery = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	d := func(n ...int) []time.Duration {
		var s []time.Duration
		for _, v := range n {
			s = append(s, time.Duration(v)*time.Millisecond)
		}
		return s
	}
	for _, tc := range []struct {
		in   []time.Duration
		want DurationStats
		str  string
	}{
		{nil, DurationStats{}, "no move delivered a packet"},
		{d(40), DurationStats{N: 1, Median: 40 * time.Millisecond, Min: 40 * time.Millisecond, Max: 40 * time.Millisecond}, "median 40ms over 1 move (min 40ms, max 40ms)"},
		// Unsorted, odd: the middle one; one outlier does not move it.
		{d(30, 2000, 10, 20, 25), DurationStats{N: 5, Median: 25 * time.Millisecond, Min: 10 * time.Millisecond, Max: 2000 * time.Millisecond}, "median 25ms over 5 moves (min 10ms, max 2.00s)"},
		// Even: the mean of the two middle ones.
		{d(10, 40, 20, 1000), DurationStats{N: 4, Median: 30 * time.Millisecond, Min: 10 * time.Millisecond, Max: 1000 * time.Millisecond}, "median 30ms over 4 moves (min 10ms, max 1.00s)"},
	} {
		in := append([]time.Duration(nil), tc.in...)
		got := Summarize(tc.in)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Summarize(%v) (-want +got):\n%s", tc.in, diff)
		}
		if got.String() != tc.str {
			t.Errorf("String() = %q, want %q", got.String(), tc.str)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("Summarize reordered its input: %v", tc.in)
		}
	}
}

func TestLinkUpAt(t *testing.T) {
	ev := []Event{
		{Time: ms(5), Source: "mnd", Name: "link", Msg: "link up", Fields: map[string]string{"iface": "eth0"}}, // before the move
		{Time: ms(110), Source: "mnd", Name: "link", Msg: "link down", Fields: map[string]string{"iface": "eth0"}},
		{Time: ms(115), Source: "mnd", Name: "link", Msg: "link up", Fields: map[string]string{"iface": "wlan9"}}, // not an access interface
		{Time: ms(121), Source: "had", Name: "link", Msg: "link up", Fields: map[string]string{"iface": "eth0"}},
		{Time: ms(122), Source: "mnd", Name: "link", Msg: "link up", Fields: map[string]string{"iface": "eth0"}},
	}
	if got := linkUpAt(ev, []string{"eth0"}, ms(100), ms(124)); !got.Equal(ms(122)) {
		t.Errorf("linkUpAt = %v, want mnd's link up at 122 ms", got.Sub(t0))
	}
	// mnd's event after the lab's Move returned: the lab's time.
	if got := linkUpAt(ev, []string{"eth0"}, ms(100), ms(120)); !got.Equal(ms(120)) {
		t.Errorf("linkUpAt = %v, want the lab's 120 ms", got.Sub(t0))
	}
}

func TestRAProfile(t *testing.T) {
	for in, want := range map[string]RAProfile{"": RALab, "lab": RALab, " MIPv6-Min ": RAMIPv6Min, "defaults": RADefaults} {
		got, err := ParseRAProfile(in)
		if err != nil || got != want {
			t.Errorf("ParseRAProfile(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseRAProfile("fast"); err == nil {
		t.Error(`ParseRAProfile("fast"): no error`)
	}
	// RFC 6275 §7.5: MinRtrAdvInterval 0.03 s, MaxRtrAdvInterval 0.07 s.
	for p, want := range map[RAProfile]netlab.RA{
		RALab:      {Prefixes: []string{"2001:db8:a::/64"}, MinInterval: 300 * time.Millisecond, MaxInterval: time.Second},
		RAMIPv6Min: {Prefixes: []string{"2001:db8:a::/64"}, MinInterval: 30 * time.Millisecond, MaxInterval: 70 * time.Millisecond},
		RADefaults: {Prefixes: []string{"2001:db8:a::/64"}, RadvdDefaults: true},
	} {
		if diff := cmp.Diff(want, p.RA()); diff != "" {
			t.Errorf("%s.RA() (-want +got):\n%s", p, diff)
		}
	}
}
