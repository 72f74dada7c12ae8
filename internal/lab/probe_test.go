package lab

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gomip6/gomip6/internal/pcapfile"
)

func TestParseMetrics(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Metrics
		err      bool
	}{
		{name: "empty", in: "", want: Metrics{}},
		{
			name: "families",
			in: `# HELP mip6_ha_bindings Bindings in the binding cache.
# TYPE mip6_ha_bindings gauge
mip6_ha_bindings 3
# HELP mip6_ha_binding_updates_total Binding Updates answered or accepted, by status.
# TYPE mip6_ha_binding_updates_total counter
mip6_ha_binding_updates_total{status="accepted"} 12
mip6_ha_binding_updates_total{status="mipv6-auth-fail"} 1
`,
			want: Metrics{
				"mip6_ha_bindings": 3,
				`mip6_ha_binding_updates_total{status="accepted"}`:        12,
				`mip6_ha_binding_updates_total{status="mipv6-auth-fail"}`: 1,
			},
		},
		{
			name: "label value with spaces, float, timestamp",
			in:   "m{a=\"x y\",b=\"z\"} 1.5\nn 2 1700000000000\n",
			want: Metrics{`m{a="x y",b="z"}`: 1.5, "n": 2},
		},
		{name: "no value", in: "mip6_x\n", err: true},
		{name: "bad value", in: "mip6_x abc\n", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMetrics(strings.NewReader(tc.in))
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if tc.err {
				return
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestMetricsSumDelta(t *testing.T) {
	before := Metrics{`c{r="a"}`: 1, `c{r="b"}`: 5, "g": 2, "cc": 7}
	after := Metrics{`c{r="a"}`: 4, `c{r="b"}`: 5, `c{r="n"}`: 2, "g": 1, "cc": 7}
	if got := after.Sum("c"); got != 11 {
		t.Errorf("Sum(c) = %g, want 11 (not cc)", got)
	}
	if got := after.Sum("c", `r="a"`); got != 4 {
		t.Errorf(`Sum(c, r="a") = %g, want 4`, got)
	}
	want := Metrics{`c{r="a"}`: 3, `c{r="n"}`: 2, "g": -1}
	if d := cmp.Diff(want, after.Delta(before)); d != "" {
		t.Errorf("Delta (-want +got):\n%s", d)
	}
	if got, want := want.String(), "c{r=\"a\"} 3\nc{r=\"n\"} 2\ng -1\n"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

func TestParseProcStatus(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     ProcSample
		err      bool
	}{
		{
			name: "proc(5) excerpt",
			in:   "Name:\tmnd\nVmPeak:\t 1261324 kB\nVmRSS:\t   22084 kB\nRssAnon:\t    9000 kB\nThreads:\t11\n",
			want: ProcSample{RSSKiB: 22084, Threads: 11},
		},
		{name: "zombie", in: "Name:\tmnd\nState:\tZ (zombie)\nThreads:\t1\n", err: true},
		{name: "bad unit", in: "VmRSS:\t1 MB\nThreads:\t1\n", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got ProcSample
			err := parseProcStatus(strings.NewReader(tc.in), &got)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if !tc.err {
				if d := cmp.Diff(tc.want, got); d != "" {
					t.Errorf("(-want +got):\n%s", d)
				}
			}
		})
	}
}

// sampleChild starts sleep with extra open files beyond stdio, samples it
// and returns the sample with the count /proc/PID/fd lists then. A child's descriptor table is its own: counting the test binary's
// would race with whatever an earlier test left closing in the background
// (one CI run saw 10 -> 9 across an added socket).
func sampleChild(t *testing.T, extra int) (ProcSample, int) {
	t.Helper()
	cmd := exec.Command("sleep", "30")
	for range extra {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("sleep: %v", err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	// The descriptors are in place once exec has happened: the child's
	// comm turns from the test binary's name to sleep.
	comm := filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "comm")
	for deadline := time.Now().Add(5 * time.Second); ; {
		b, err := os.ReadFile(comm)
		if err == nil && strings.TrimSpace(string(b)) == "sleep" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child never exec'd sleep (comm %q, %v)", b, err)
		}
		time.Sleep(time.Millisecond)
	}
	s, err := SampleProc(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	fds, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "fd"))
	if err != nil {
		t.Fatal(err)
	}
	return s, len(fds)
}

func TestSampleProcSelf(t *testing.T) {
	// A child may also inherit a descriptor some other goroutine of the
	// test binary opened without O_CLOEXEC just then (a CI run saw 6 and
	// 7 for 3 and 5): what must hold is that the sample counts the
	// child's table (which sleep never changes) and sees the files given.
	for _, extra := range []int{0, 2} {
		s, listed := sampleChild(t, extra)
		if s.FDs != listed || s.FDs < 3+extra {
			t.Errorf("%d extra files: sample says %d fds, /proc lists %d, want at least %d", extra, s.FDs, listed, 3+extra)
		}
	}
	c, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer c.Close()
	s1, err := SampleProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s1.FDs < 4 {
		t.Errorf("fds %d in the test binary with a socket open", s1.FDs)
	}
	if s1.RSSKiB <= 0 || s1.Threads <= 0 {
		t.Errorf("sample %+v", s1)
	}
	kinds, err := FDKinds(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// FDKinds looks sockets up in /proc/PID/net, the namespace of the
	// main thread. In a test binary that has run netlab.SkipUnlessRoot,
	// that thread may sit in a namespace of its own: the probe unshares
	// one on a locked thread it never unlocks, and when that thread is
	// the main one the runtime parks it instead of ending it. Then the
	// socket is found by asking it (SO_DOMAIN, SO_PROTOCOL).
	if kinds["socket:udp6"]+kinds["socket:other-netns:inet6/17"] < 1 {
		t.Errorf("FDKinds = %v, want a socket:udp6 (or socket:other-netns:inet6/17)", kinds)
	}
}

func TestTrend(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s ...float64) []time.Time {
		var ts []time.Time
		for _, x := range s {
			ts = append(ts, t0.Add(time.Duration(x*float64(time.Second))))
		}
		return ts
	}
	for _, tc := range []struct {
		name string
		ts   []time.Time
		ys   []float64
		want float64
	}{
		{"none", nil, nil, 0},
		{"one", at(0), []float64{5}, 0},
		{"flat", at(0, 1, 2, 3), []float64{7, 7, 7, 7}, 0},
		{"line", at(0, 1, 2, 3), []float64{1, 3, 5, 7}, 2},
		{"noisy flat", at(0, 1, 2, 3), []float64{5, 6, 5, 6}, 0.2},
		{"same time", at(1, 1, 1), []float64{1, 2, 3}, 0},
		{"uneven", at(0, 10, 40), []float64{0, -5, -20}, -0.5},
	} {
		if got := Trend(tc.ts, tc.ys); got < tc.want-1e-9 || got > tc.want+1e-9 {
			t.Errorf("%s: Trend = %g, want %g", tc.name, got, tc.want)
		}
	}
}

func TestIPv6Dsts(t *testing.T) {
	ip6 := func(dst string, nh byte, payload []byte) []byte {
		b := make([]byte, 40, 40+len(payload))
		b[0], b[6], b[7] = 0x60, nh, 64
		a := [16]byte(net.ParseIP(dst).To16())
		copy(b[24:], a[:])
		return append(b, payload...)
	}
	inner := ip6("2001:db8:200::2", 17, []byte("x"))
	outer := ip6("2001:db8:100::1", 41, inner)
	eth := append([]byte{0, 0, 0x5e, 0, 0x53, 1, 0, 0, 0x5e, 0, 0x53, 2, 0x86, 0xdd}, outer...)
	sll2 := append([]byte{0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0}, inner...)
	for _, tc := range []struct {
		name string
		p    pcapfile.Packet
		want []string
	}{
		{"ethernet, tunnel", pcapfile.Packet{LinkType: 1, Data: eth}, []string{"2001:db8:100::1", "2001:db8:200::2"}},
		{"sll2", pcapfile.Packet{LinkType: 276, Data: sll2}, []string{"2001:db8:200::2"}},
		{"raw", pcapfile.Packet{LinkType: 101, Data: inner}, []string{"2001:db8:200::2"}},
		{"ethernet, IPv4", pcapfile.Packet{LinkType: 1, Data: append(eth[:12:12], 0x08, 0x00)}, nil},
		{"truncated", pcapfile.Packet{LinkType: 1, Data: eth[:30]}, nil},
	} {
		if d := cmp.Diff(tc.want, ipv6Dsts(tc.p)); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, d)
		}
	}
}

func TestParseGCTrace(t *testing.T) {
	// Lines as the Go runtime prints them (runtime package doc,
	// GODEBUG=gctrace=1), between a daemon's JSON log lines.
	in := `{"level":"info","msg":"home agent running"}
gc 1 @0.002s 3%: 0.17+0.45+0.005 ms clock, 0.34+0.063/0.18/0.22+0.010 ms cpu, 3->4->3 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P
gc 12 @15.305s 0%: 0.29+0.64+0.004 ms clock, 0.58+0/0.35/0.33+0.008 ms cpu, 25->29->11 MB, 29 MB goal, 0 MB stacks, 0 MB globals, 2 P
gc 13 @16.0s 0%: 0.29+0.64+0.004 ms clock, 0.58+0/0.35/0.33+0.008 ms cpu, 25->29->11 MB, 29 MB goal, 0 MB stacks, 0 MB globals, 2 P (forced)
scvg: 0 MB released
gc 14 @17s 1%: 0.1+0.2+0.01 ms clock, 0.2+0/0.1/0+0.02 ms cpu, 3->3->2 MB, 4 MB goal, 2 P
gc 3 @x 0%: broken
`
	want := []GCSample{
		{N: 1, At: 2 * time.Millisecond, LiveMB: 3, GoalMB: 4, StacksMB: 0},
		{N: 12, At: 15305 * time.Millisecond, LiveMB: 11, GoalMB: 29, StacksMB: 0},
		{N: 13, At: 16 * time.Second, LiveMB: 11, GoalMB: 29, StacksMB: 0},
		{N: 14, At: 17 * time.Second, LiveMB: 2, GoalMB: 4, StacksMB: -1},
	}
	if d := cmp.Diff(want, ParseGCTrace(strings.NewReader(in))); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestWrapGCTrace(t *testing.T) {
	bin, dir := t.TempDir(), t.TempDir()
	// A stand-in daemon that prints its environment and arguments.
	if err := os.WriteFile(bin+"/mnd", []byte("#!/bin/sh\necho \"GODEBUG=$GODEBUG GOGC=$GOGC args=$*\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WrapGCTrace(dir, bin, 2, "mnd"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dir+"/mnd", "-c", "a b.toml")
	cmd.Env = append(os.Environ(), "GODEBUG=madvdontneed=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(out)), "GODEBUG=madvdontneed=1,gctrace=1 GOGC=2 args=-c a b.toml"; got != want {
		t.Errorf("wrapper ran %q, want %q", got, want)
	}
}

func TestParseProcStatCPU(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     time.Duration
		err      bool
	}{
		{
			name: "proc(5) line",
			in:   "1234 (mnd) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 130 0 0 20 0 11 0 100 1000000 3000 18446744073709551615",
			want: 3800 * time.Millisecond,
		},
		{
			name: "command with spaces and parentheses",
			in:   "7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 5 0 0",
			want: 30 * time.Millisecond,
		},
		{name: "short", in: "7 (x) R 1 2 3", err: true},
		{name: "no name", in: "7 x R", err: true},
	} {
		got, err := parseProcStatCPU(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%s: parseProcStatCPU = %v, %v; want %v, error %v", tc.name, got, err, tc.want, tc.err)
		}
	}
}
