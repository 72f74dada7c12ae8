package lab

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// Soak bounds: the least-squares trend of each resource, fitted over the
// samples after the first third of the run (the Go heap and the caches
// reach their working size first), times the length of that window, must
// stay under these.
const (
	soakFDGrowth      = 2.0  // descriptors
	soakThreadGrowth  = 2.0  // threads
	soakRSSGrowthKiB  = 4096 // KiB
	soakMoveInterval  = 3 * time.Second
	soakSampleEvery   = time.Second
	soakDefaultLength = 3 * time.Minute
)

// TestE2ESoak moves the mobile node between link A and home every 3 s for
// a few minutes (GOMIP6_SOAK=duration, default 3m; -short skips it) with
// the flow running. Every move must register (at home: de-register), the
// TCP connection must survive the whole run, and neither had nor mnd may
// grow in file descriptors, threads or RSS (trend fitted and bounded as
// above), nor in live heap and goroutine stacks (their GC traces,
// checkLiveHeap). The daemons run with GOGC=2 (gcTracedBinaries) so that
// their RSS follows their live heap rather than the collector's pacing.
// Neither exports a goroutine count; the stacks and threads stand in.
func TestE2ESoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: not with -short")
	}
	length := soakDefaultLength
	if v := os.Getenv("GOMIP6_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("GOMIP6_SOAK=%q: want a duration such as 10m", v)
		}
		length = d
	}
	ctx, cancel := context.WithTimeout(t.Context(), length+60*time.Second)
	defer cancel()
	r := e2eLab(ctx, t, Options{NoCND: true, Bin: gcTracedBinaries(t)})
	f := startFlow(ctx, t, r)

	type series struct {
		name string
		d    *Daemon
		s    []ProcSample
	}
	daemons := []*series{{name: "had", d: r.HA}, {name: "mnd", d: r.MN}}
	take := func() {
		for _, s := range daemons {
			if x, err := s.d.Sample(); err == nil {
				s.s = append(s.s, x)
			} else {
				t.Errorf("%s: %v", s.name, err)
			}
		}
	}

	start := time.Now()
	lastSample := time.Time{}
	moves, failed := 0, 0
	var regTimes []time.Duration
	to := SiteA
	for time.Since(start) < length && ctx.Err() == nil {
		moved := time.Now()
		if err := r.Topo.Move(to); err != nil {
			t.Fatal(err)
		}
		moves++
		d, err := r.WaitRegistered(ctx, to, 5*time.Second)
		if err != nil {
			failed++
			t.Errorf("move %d to %s: %v", moves, to, err)
		} else {
			regTimes = append(regTimes, d)
		}
		for time.Since(moved) < soakMoveInterval && ctx.Err() == nil {
			if time.Since(lastSample) >= soakSampleEvery {
				take()
				lastSample = time.Now()
			}
			time.Sleep(100 * time.Millisecond)
		}
		if to == SiteA {
			to = SiteHome
		} else {
			to = SiteA
		}
	}
	take()
	probes, trace := f.stop()
	ps := AnalyzeProbes(probes, start, time.Now())
	tcp := SummarizeTCP(trace)
	reg := Summarize(regTimes)
	t.Logf("soak %v: %d moves, %d not registered in 5 s; registration median %v, max %v; probes %d/%d lost; tcp %+v",
		time.Since(start).Round(time.Second), moves, failed, reg.Median.Round(time.Millisecond), reg.Max.Round(time.Millisecond), ps.Lost, ps.Sent, tcp)
	if !tcp.Survived() {
		t.Errorf("TCP did not survive the soak: %+v", tcp)
	}

	for _, s := range daemons {
		if len(s.s) < 6 {
			t.Errorf("%s: %d samples", s.name, len(s.s))
			continue
		}
		w := s.s[len(s.s)/3:]
		span := w[len(w)-1].Time.Sub(w[0].Time).Seconds()
		var ts []time.Time
		var fds, rss, thr []float64
		for _, x := range w {
			ts = append(ts, x.Time)
			fds = append(fds, float64(x.FDs))
			rss = append(rss, float64(x.RSSKiB))
			thr = append(thr, float64(x.Threads))
		}
		gFD, gRSS, gThr := Trend(ts, fds)*span, Trend(ts, rss)*span, Trend(ts, thr)*span
		t.Logf("%s: first %s, last %s; trend over the last %.0f s: fds %+.2f, rss %+.0f KiB, threads %+.2f",
			s.name, fmtSample(s.s[0]), fmtSample(s.s[len(s.s)-1]), span, gFD, gRSS, gThr)
		t.Logf("%s samples: %s", s.name, compactSamples(s.s))
		if gFD > soakFDGrowth {
			t.Errorf("%s: file descriptors trend %+.2f over %.0f s", s.name, gFD, span)
		}
		if gThr > soakThreadGrowth {
			t.Errorf("%s: threads trend %+.2f over %.0f s", s.name, gThr, span)
		}
		if gRSS > soakRSSGrowthKiB {
			t.Errorf("%s: RSS trend %+.0f KiB over %.0f s", s.name, gRSS, span)
		}
		checkLiveHeap(t, s.d, 1)
	}
}

// compactSamples renders every tenth sample as "fds/rssKiB/threads".
func compactSamples(s []ProcSample) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 10 {
		fmt.Fprintf(&b, "%d/%d/%d ", s[i].FDs, s[i].RSSKiB, s[i].Threads)
	}
	return b.String()
}
