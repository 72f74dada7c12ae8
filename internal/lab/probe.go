package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/internal/netlab"
	"github.com/gomip6/gomip6/internal/pcapfile"
)

// This file holds what the end-to-end tests use to look at a running daemon
// from the outside (its /proc entries and its metrics), to restart or crash
// it, and to capture what reaches a namespace.

// ProcSample is one sample of a process's resources, read from /proc.
type ProcSample struct {
	Time time.Time
	// FDs is the number of open file descriptors (entries of
	// /proc/PID/fd).
	FDs int
	// RSSKiB is the resident set size (VmRSS of /proc/PID/status).
	RSSKiB int
	// Threads is the number of OS threads (Threads of
	// /proc/PID/status). The daemons do not export their goroutine
	// count; threads bound what a goroutine leak that blocks in system
	// calls would show.
	Threads int
	// CPU is the processor time used so far, user and system (utime and
	// stime of /proc/PID/stat).
	CPU time.Duration
}

// SampleProc reads the resources of process pid.
func SampleProc(pid int) (ProcSample, error) {
	s := ProcSample{Time: time.Now()}
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	fds, err := os.ReadDir(filepath.Join(dir, "fd"))
	if err != nil {
		return s, fmt.Errorf("lab: %w", err)
	}
	s.FDs = len(fds)
	f, err := os.Open(filepath.Join(dir, "status"))
	if err != nil {
		return s, fmt.Errorf("lab: %w", err)
	}
	defer f.Close()
	if err := parseProcStatus(f, &s); err != nil {
		return s, fmt.Errorf("lab: /proc/%d/status: %w", pid, err)
	}
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return s, fmt.Errorf("lab: %w", err)
	}
	if s.CPU, err = parseProcStatCPU(string(stat)); err != nil {
		return s, fmt.Errorf("lab: /proc/%d/stat: %w", pid, err)
	}
	return s, nil
}

// clockTick is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go supports (sysconf(_SC_CLK_TCK)).
const clockTick = 10 * time.Millisecond

// parseProcStatCPU returns utime + stime (fields 14 and 15, proc(5)) of a
// /proc/PID/stat line. The command name (field 2) is in parentheses and
// may hold spaces and parentheses: the fields are counted after its last
// ')'.
func parseProcStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state): utime is f[11], stime f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the command name", len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("utime %q stime %q", f[11], f[12])
	}
	return time.Duration(ut+st) * clockTick, nil
}

// parseProcStatus fills RSSKiB and Threads from a /proc/PID/status file
// (proc(5): "VmRSS:     1234 kB", "Threads:  7").
func parseProcStatus(r io.Reader, s *ProcSample) error {
	var rss, threads bool
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		switch k {
		case "VmRSS":
			n, err := strconv.Atoi(fields[0])
			if err != nil || len(fields) != 2 || fields[1] != "kB" {
				return fmt.Errorf("bad VmRSS %q", v)
			}
			s.RSSKiB, rss = n, true
		case "Threads":
			n, err := strconv.Atoi(fields[0])
			if err != nil {
				return fmt.Errorf("bad Threads %q", v)
			}
			s.Threads, threads = n, true
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if !rss || !threads {
		return errors.New("no VmRSS or Threads line (a zombie has no VmRSS)")
	}
	return nil
}

// PID returns the daemon's process id, 0 if it is not running. NS.Start
// runs "ip netns exec", which execs the daemon, so the child's PID is the
// daemon's.
func (d *Daemon) PID() int {
	if !d.Running() {
		return 0
	}
	return d.Proc.Cmd.Process.Pid
}

// Sample reads the daemon's resources from /proc.
func (d *Daemon) Sample() (ProcSample, error) {
	pid := d.PID()
	if pid == 0 {
		return ProcSample{}, fmt.Errorf("lab: %s not running: %s", d.Name, d.Why())
	}
	return SampleProc(pid)
}

// Metrics are the samples of a Prometheus text exposition, keyed by the
// series: the metric name followed by its labels as exposed, e.g.
// `mip6_ha_binding_updates_total{status="accepted"}`.
type Metrics map[string]float64

// ParseMetrics parses the Prometheus text format (version 0.0.4) that
// /v1/metrics serves. Comment lines are skipped; a sample line is
// "series value [timestamp]".
func ParseMetrics(r io.Reader) (Metrics, error) {
	m := Metrics{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// The series ends at the last space before the value: label
		// values may hold spaces, so split from the right.
		i := strings.LastIndexByte(line, ' ')
		if i <= 0 {
			return nil, fmt.Errorf("lab: metrics line %d: %q", n, line)
		}
		series, val := strings.TrimSpace(line[:i]), line[i+1:]
		// A timestamp after the value: the value is the field before.
		if j := strings.LastIndexByte(series, ' '); j > 0 && !strings.HasSuffix(series, "}") {
			if _, err := strconv.ParseInt(val, 10, 64); err == nil {
				series, val = strings.TrimSpace(series[:j]), series[j+1:]
			}
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return nil, fmt.Errorf("lab: metrics line %d: value %q: %w", n, val, err)
		}
		m[series] = v
	}
	return m, sc.Err()
}

// Sum adds the samples of metric name over all its label sets; with
// labels (`status="accepted"` strings) only the series holding each of
// them count.
func (m Metrics) Sum(name string, labels ...string) float64 {
	var s float64
	for k, v := range m {
		n, rest, _ := strings.Cut(k, "{")
		if n != name {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				ok = false
			}
		}
		if ok {
			s += v
		}
	}
	return s
}

// Delta returns the series whose value changed from before to m, with the
// difference (a series new in m counts from 0).
func (m Metrics) Delta(before Metrics) Metrics {
	d := Metrics{}
	for k, v := range m {
		if dv := v - before[k]; dv != 0 {
			d[k] = dv
		}
	}
	return d
}

// String lists the series in order, one per line.
func (m Metrics) String() string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %g\n", k, m[k])
	}
	return b.String()
}

// Metrics fetches and parses the daemon's /v1/metrics.
func (d *Daemon) Metrics(ctx context.Context) (Metrics, error) {
	if d == nil {
		return nil, errors.New("lab: daemon not started")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	b, err := d.client().Get(ctx, "/v1/metrics")
	if err != nil {
		return nil, err
	}
	return ParseMetrics(strings.NewReader(string(b)))
}

// Restart stops the daemon with SIGTERM (its clean shutdown) and starts it
// again with the same binary and configuration file, waiting up to wait for
// its control socket. It returns the stop's error (a daemon that needed
// SIGKILL) joined with the start's; the new process is in d either way.
func (d *Daemon) Restart(ctx context.Context, wait time.Duration) error {
	var stopErr error
	if d.Proc != nil {
		stopErr = d.Proc.Stop()
	}
	return errors.Join(stopErr, d.start(ctx, wait))
}

// Kill ends the daemon with SIGKILL, as a crash would: it removes nothing it
// installed. It waits for the process to be reaped.
func (d *Daemon) Kill() error {
	if d.Proc == nil || d.Proc.Exited() {
		return fmt.Errorf("lab: %s not running", d.Name)
	}
	if err := d.Proc.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("lab: kill %s: %w", d.Name, err)
	}
	<-d.Proc.Done()
	return nil
}

// Start starts the daemon again after Kill or Proc.Stop, with the same
// binary and configuration file.
func (d *Daemon) Start(ctx context.Context, wait time.Duration) error {
	if d.Running() {
		return fmt.Errorf("lab: %s already running", d.Name)
	}
	return d.start(ctx, wait)
}

func (d *Daemon) start(ctx context.Context, wait time.Duration) error {
	config, err := os.ReadFile(d.Config)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	nd := StartDaemon(ctx, d.NS, d.Name, d.Binary, filepath.Dir(d.Config), d.Socket, config, wait)
	*d = *nd
	return d.Err
}

// RunOnce runs the daemon's binary once with args (e.g. "-cleanup") and its
// configuration file, in its namespace, and returns the combined output.
func (d *Daemon) RunOnce(ctx context.Context, args ...string) (string, error) {
	return d.NS.RunContext(ctx, append([]string{d.Binary, "-c", d.Config}, args...)...)
}

// Trend fits y = a + b·t by least squares to the samples (t in seconds from
// the first) and returns the slope b in units per second. Fewer than two
// samples, or all at one time, give 0.
func Trend(ts []time.Time, ys []float64) float64 {
	n := min(len(ts), len(ys))
	if n < 2 {
		return 0
	}
	var st, sy float64
	for i := range n {
		st += ts[i].Sub(ts[0]).Seconds()
		sy += ys[i]
	}
	mt, my := st/float64(n), sy/float64(n)
	var num, den float64
	for i := range n {
		dt := ts[i].Sub(ts[0]).Seconds() - mt
		num += dt * (ys[i] - my)
		den += dt * dt
	}
	if den == 0 || math.IsNaN(num/den) {
		return 0
	}
	return num / den
}

// Capture is a packet capture (tcpdump) running in a namespace.
type Capture struct {
	proc *netlab.Proc
	file string
}

// StartCapture starts tcpdump on ifname ("any" for every interface) in ns,
// with a BPF filter (may be empty), writing a pcap file in the lab's log
// directory; it returns when tcpdump is capturing.
func StartCapture(ns *netlab.NS, ifname, filter string, dir string) (*Capture, error) {
	f, err := os.CreateTemp(dir, "capture-"+ns.Short()+"-*.pcap")
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	name := f.Name()
	f.Close()
	// --immediate-mode: packets reach tcpdump at once, not after
	// libpcap's buffer timeout; -U: it writes each packet as it comes
	// (nothing waits in a buffer when the capture stops); -Z root: it
	// keeps writing the file as root.
	args := []string{"-n", "--immediate-mode", "-U", "-Z", "root", "-s", "0", "-i", ifname, "-w", name}
	if filter != "" {
		args = append(args, filter)
	}
	p, err := ns.Start("tcpdump", args...)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := p.Output()
		if strings.Contains(out, "listening on") {
			return &Capture{proc: p, file: name}, nil
		}
		if p.Exited() || time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("lab: tcpdump in %s did not start: %s", ns.Name, strings.TrimSpace(out))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the capture and returns the packets it saw. It gives packets
// already sent 100 ms to be captured.
func (c *Capture) Stop() ([]pcapfile.Packet, error) {
	time.Sleep(100 * time.Millisecond)
	c.proc.Stop()
	f, err := os.Open(c.file)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	defer f.Close()
	r, err := pcapfile.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("lab: capture %s: %w", c.file, err)
	}
	var ps []pcapfile.Packet
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			return ps, nil
		}
		if err != nil {
			// A capture cut by the stop may end in a partial record.
			return ps, nil
		}
		p.Data = slices.Clone(p.Data) // valid only until the next Next
		ps = append(ps, p)
	}
}

// FDKinds counts process pid's open file descriptors by kind: the target
// of the /proc/PID/fd link up to its first ':' or '[' ("pipe",
// "/dev/net/tun", "eventpoll", ...), sockets by their table in
// /proc/PID/net ("socket:netlink", "socket:packet", "socket:raw6", ...).
func FDKinds(pid int) (map[string]int, error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	sockets := socketTables(pid)
	m := map[string]int{}
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if ino, ok := strings.CutPrefix(target, "socket:["); ok {
			kind := sockets[strings.TrimSuffix(ino, "]")]
			if kind == "" {
				// Not in the tables of the process's namespace: a
				// socket of another namespace. Ask the socket itself.
				kind = socketKind(pid, e.Name())
			}
			m["socket:"+kind]++
			continue
		}
		if i := strings.IndexAny(target, ":["); i > 0 {
			if target[:i] == "anon_inode" {
				target = strings.Trim(target[i:], ":[]")
			} else {
				target = target[:i]
			}
		}
		m[target]++
	}
	return m, nil
}

// socketTables maps the inodes of the sockets in process pid's network
// namespace to the /proc/PID/net table that lists them (proc(5)).
func socketTables(pid int) map[string]string {
	m := map[string]string{}
	for _, table := range []string{"netlink", "packet", "raw6", "raw", "udp6", "udp", "tcp6", "tcp", "unix"} {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "net", table))
		if err != nil {
			continue
		}
		lines := strings.Split(string(b), "\n")
		if len(lines) == 0 {
			continue
		}
		// The inode column's position differs per table: find it from
		// the header ("Inode" or "inode").
		col := -1
		for i, h := range strings.Fields(lines[0]) {
			if strings.EqualFold(h, "inode") {
				col = i
			}
		}
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			// The tcp, udp and raw headers name two columns each for
			// "tx_queue:rx_queue" and "tr:tm->when": the data has two
			// fields fewer before the inode than the header.
			c := col
			if strings.HasPrefix(table, "tcp") || strings.HasPrefix(table, "udp") || strings.HasPrefix(table, "raw") {
				c = col - 2
			}
			if c >= 0 && c < len(f) {
				m[f[c]] = table
			}
		}
	}
	return m
}

// socketKind names the family and protocol of process pid's socket fd (a
// decimal string), by duplicating it with pidfd_getfd(2) and asking
// SO_DOMAIN and SO_PROTOCOL: "other-netns:netlink/0" for a NETLINK_ROUTE
// socket, for example.
func socketKind(pid int, fd string) string {
	n, err := strconv.Atoi(fd)
	if err != nil {
		return "other"
	}
	pfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return "other"
	}
	defer unix.Close(pfd)
	dup, err := unix.PidfdGetfd(pfd, n, 0)
	if err != nil {
		return "other"
	}
	defer unix.Close(dup)
	dom, err1 := unix.GetsockoptInt(dup, unix.SOL_SOCKET, unix.SO_DOMAIN)
	proto, err2 := unix.GetsockoptInt(dup, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	if err1 != nil || err2 != nil {
		return "other"
	}
	fam := map[int]string{unix.AF_NETLINK: "netlink", unix.AF_INET6: "inet6", unix.AF_INET: "inet", unix.AF_PACKET: "packet", unix.AF_UNIX: "unix"}[dom]
	if fam == "" {
		fam = strconv.Itoa(dom)
	}
	return fmt.Sprintf("other-netns:%s/%d", fam, proto)
}

// GCSample is one line of the Go runtime's garbage collector trace
// (GODEBUG=gctrace=1, documented in the runtime package): "gc N @Ts P%:
// ..., A->B->C MB, G MB goal, ...".
type GCSample struct {
	// N is the collection's number, At the time since the process
	// started.
	N  int
	At time.Duration
	// LiveMB is the live heap after the collection (C), GoalMB the heap
	// goal of the next one, in whole MB as the trace prints them.
	LiveMB, GoalMB int
	// StacksMB is the scannable goroutine stack size ("S MB stacks",
	// printed since Go 1.19; -1 when absent): it grows with the number
	// of goroutines, so it shows a goroutine leak of a daemon that does
	// not export its goroutine count.
	StacksMB int
}

var gcTraceRE = regexp.MustCompile(`^gc (\d+) @([0-9.]+)s [0-9]+%: .* (\d+)->(\d+)->(\d+) MB, (\d+) MB goal(?:, (\d+) MB stacks)?`)

// ParseGCTrace returns the GC trace lines found in r (other lines, such
// as a daemon's JSON log, are skipped).
func ParseGCTrace(r io.Reader) []GCSample {
	var out []GCSample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m := gcTraceRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		at, _ := strconv.ParseFloat(m[2], 64)
		live, _ := strconv.Atoi(m[5])
		goal, _ := strconv.Atoi(m[6])
		stacks := -1
		if m[7] != "" {
			stacks, _ = strconv.Atoi(m[7])
		}
		out = append(out, GCSample{N: n, At: time.Duration(at * float64(time.Second)), LiveMB: live, GoalMB: goal, StacksMB: stacks})
	}
	return out
}

// GCTrace returns the GC trace in the daemon's log (empty unless it runs
// with GODEBUG=gctrace=1, see WrapGCTrace).
func (d *Daemon) GCTrace() []GCSample {
	return readLog(d, ParseGCTrace)
}

// WrapGCTrace writes, in dir, a shell script per name that runs
// binDir/name with GODEBUG=gctrace=1 added to its environment (exec: the
// daemon keeps the script's PID), so that a lab started with Bin = dir
// runs daemons that trace their garbage collections into their logs. With
// gogc > 0 the scripts also set GOGC: a low value makes the collector run
// often, so that the trace (and RSS) follow the live heap instead of the
// collector's pacing (a daemon that allocated tens of MB at start
// otherwise goes minutes without a collection, its RSS growing with every
// allocation meanwhile).
func WrapGCTrace(dir, binDir string, gogc int, names ...string) error {
	env := `GODEBUG="${GODEBUG:+$GODEBUG,}gctrace=1"`
	if gogc > 0 {
		env += fmt.Sprintf(" GOGC=%d", gogc)
	}
	for _, name := range names {
		real, err := filepath.Abs(filepath.Join(binDir, name))
		if err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		script := fmt.Sprintf("#!/bin/sh\n%s exec '%s' \"$@\"\n", env, strings.ReplaceAll(real, "'", `'\''`))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
	}
	return nil
}
