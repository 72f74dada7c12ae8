// Package netlab builds throw-away networks out of Linux network namespaces
// for gomip6's lab (mip6lab) and its root tests.
//
// A Lab owns everything it creates: namespaces (named "<prefix>-<short>",
// with a random per-run prefix such as "g6a1b2"), the veth links inside them
// and the processes started in them. Close undoes all of it, and it runs on
// every exit path the process can observe: t.Cleanup when a testing.TB is
// given (which also runs when the test panics), SIGINT/SIGTERM of the process
// (a handler is installed once), and a deferred CloseOnPanic. What it cannot
// observe (SIGKILL, a power cut) Sweep removes on the next run: every lab
// records its owner PID in /run/gomip6-netlab/<prefix>.pid before creating
// anything, so a namespace whose owner is gone is known to be a leftover.
//
// Safety rules the package follows (gomip6's testing rules): it never
// changes the root namespace (veth pairs are created directly inside the lab
// namespaces, every "ip" command runs with -n or "ip netns exec", sysctls
// are written only under /proc/sys/net from inside a lab namespace); it only
// signals processes it started, by PID (os.Process uses a pidfd, so a
// recycled PID is never hit); and every external command is bounded in time.
//
// Typical use: New, one NS per node, DisableDAD on each if links should be
// usable at once (otherwise forwarded packets wait about a second for DAD,
// see NS.WaitDAD), Link, Addr, Route, Forwarding on routers, then Start the
// daemons and check with Ping, Run or sockets opened with NS.Do.
//
// Everything here needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) except the
// pure helpers; tests call SkipUnlessRoot first.
package netlab

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DefaultTimeout bounds every command the package runs (and NS.Run) when the
// caller gives no context. A hung "ip" must fail a test, not hang CI.
var DefaultTimeout = 30 * time.Second

// StopTimeout is how long Proc.Stop and Lab.Close wait after SIGTERM before
// they send SIGKILL.
var StopTimeout = 5 * time.Second

// HandleSignals, when true (the default), makes the first New install a
// SIGINT/SIGTERM handler that closes every open lab and then re-raises the
// signal. If the program has its own signal.Notify for the signal, the
// re-raised signal reaches it (the labs are already gone); otherwise the
// process dies of the signal as it would have. Set it to false before the
// first New to manage signals yourself (then call Close on your labs).
var HandleSignals = true

// runDir holds the owner records, one "<prefix>.pid" file per live lab. A
// variable so unit tests can point it at a temporary directory.
var runDir = "/run/gomip6-netlab"

// namePrefix starts every lab prefix; the prefix is namePrefix plus
// prefixHexLen random hex digits.
const (
	namePrefix   = "g6"
	prefixHexLen = 4
)

var (
	// prefixRE matches a lab prefix.
	prefixRE = regexp.MustCompile(`^g6[0-9a-f]{4}$`)
	// nsNameRE matches a namespace a lab created; group 1 is the prefix.
	nsNameRE = regexp.MustCompile(`^(g6[0-9a-f]{4})-([a-z0-9][a-z0-9_.-]*)$`)
	// shortRE restricts the caller's short names to something that is safe
	// in a namespace name, a file name and a shell prompt.
	shortRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,31}$`)
)

// newPrefix returns a random lab prefix read from r.
func newPrefix(r io.Reader) (string, error) {
	b := make([]byte, prefixHexLen/2)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("netlab: random prefix: %w", err)
	}
	return namePrefix + hex.EncodeToString(b), nil
}

// parseNSName splits a namespace name created by a lab into its prefix and
// short name; ok is false for every other name.
func parseNSName(name string) (prefix, short string, ok bool) {
	m := nsNameRE.FindStringSubmatch(name)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// Lab owns every namespace, link and process it creates. Names are unique
// per run (a short random prefix), so two runs, even concurrent ones, never
// collide. A Lab is safe for concurrent use.
type Lab struct {
	prefix string
	logDir string
	t      testing.TB

	mu     sync.Mutex
	closed bool
	nss    []*NS
	procs  []*Proc
	nproc  int
	keep   bool

	closeOnce sync.Once
	closeErr  error
}

// New creates a lab: it picks a prefix no other lab or leftover uses,
// records this process as its owner and makes a directory for process logs.
// With a non-nil t it registers t.Cleanup(l.Close), reports a Close error
// with t.Errorf and, when the test failed, logs the tail of every process
// log.
func New(t testing.TB) (*Lab, error) {
	if t != nil {
		t.Helper()
	}
	installSignalHandler()
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return nil, fmt.Errorf("netlab: %w", err)
	}
	existing, err := listNetns(context.Background())
	if err != nil {
		return nil, err
	}
	inUse := map[string]bool{}
	for _, n := range existing {
		if p, _, ok := parseNSName(n); ok {
			inUse[p] = true
		}
	}
	var prefix string
	for range 100 {
		p, err := newPrefix(rand.Reader)
		if err != nil {
			return nil, err
		}
		if inUse[p] {
			continue
		}
		// O_EXCL makes the record the lock on the prefix: of two runs that
		// draw the same prefix, only one creates the file.
		if err := writeRecord(p, os.Getpid()); err != nil {
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			return nil, err
		}
		prefix = p
		break
	}
	if prefix == "" {
		return nil, errors.New("netlab: no free prefix after 100 tries")
	}
	logDir, err := os.MkdirTemp("", "gomip6-netlab-"+prefix+"-")
	if err != nil {
		os.Remove(recordPath(prefix))
		return nil, fmt.Errorf("netlab: %w", err)
	}
	l := &Lab{prefix: prefix, logDir: logDir, t: t}
	register(l)
	if t != nil {
		t.Cleanup(func() {
			if t.Failed() {
				l.dumpLogs(t)
			}
			if err := l.Close(); err != nil {
				t.Errorf("netlab: close: %v", err)
			}
		})
	}
	return l, nil
}

// Prefix returns the lab's unique prefix, e.g. "g6a1b2"; every namespace of
// the lab is named "<prefix>-<short>".
func (l *Lab) Prefix() string { return l.prefix }

// LogDir returns the directory that holds the logs of processes started
// with NS.Start. Close removes it unless KeepLogs was called.
func (l *Lab) LogDir() string { return l.logDir }

// KeepLogs makes Close leave LogDir in place (for example when a lab tool is
// asked to keep its results).
func (l *Lab) KeepLogs() {
	l.mu.Lock()
	l.keep = true
	l.mu.Unlock()
}

// Namespaces returns the lab's namespaces in creation order.
func (l *Lab) Namespaces() []*NS {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*NS(nil), l.nss...)
}

// CloseOnPanic closes the lab if the surrounding function is panicking and
// then lets the panic continue. Use it as "defer l.CloseOnPanic()" in code
// that has no testing.TB (a panic unwinding past main would otherwise skip
// every cleanup).
func (l *Lab) CloseOnPanic() {
	if r := recover(); r != nil {
		l.Close()
		panic(r)
	}
}

// Close stops every process the lab started (SIGTERM, then SIGKILL after
// StopTimeout, each by its own PID), deletes every namespace it created
// (which deletes the veth links in them), removes the log directory and the
// owner record. It is idempotent and safe to call concurrently: later calls
// wait for the first and return its result. A namespace that still holds
// processes the lab did not start (something run in the background by a
// command) is deleted from /run/netns all the same, and reported in the
// error, since those processes keep it alive.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.close() })
	return l.closeErr
}

func (l *Lab) close() error {
	l.mu.Lock()
	l.closed = true
	nss := append([]*NS(nil), l.nss...)
	procs := append([]*Proc(nil), l.procs...)
	keep := l.keep
	l.mu.Unlock()
	defer unregister(l)

	var errs []error
	if err := stopAll(procs, StopTimeout); err != nil {
		errs = append(errs, err)
	}
	nsFailed := false
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	for i := len(nss) - 1; i >= 0; i-- {
		n := nss[i]
		if out, err := runCmd(ctx, "ip", "netns", "pids", n.Name); err == nil {
			if pids := strings.Fields(out); len(pids) > 0 {
				errs = append(errs, fmt.Errorf("netlab: namespace %s still holds processes not started by the lab: %s", n.Name, strings.Join(pids, " ")))
			}
		}
		if _, err := runCmd(ctx, "ip", "netns", "del", n.Name); err != nil {
			nsFailed = true
			errs = append(errs, err)
		}
	}
	if !keep {
		if err := os.RemoveAll(l.logDir); err != nil {
			errs = append(errs, fmt.Errorf("netlab: %w", err))
		}
	}
	// Keep the record while a namespace survives, so that Sweep removes the
	// namespace once this process is gone.
	if !nsFailed {
		if err := os.Remove(recordPath(l.prefix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("netlab: %w", err))
		}
	}
	return errors.Join(errs...)
}

// dumpLogs logs the tail of every process log through t.
func (l *Lab) dumpLogs(t testing.TB) {
	l.mu.Lock()
	procs := append([]*Proc(nil), l.procs...)
	l.mu.Unlock()
	for _, p := range procs {
		t.Logf("netlab: log of %s in %s (%s):\n%s", p.Cmd.Args[len(nsExecArgs)+1:], p.ns.Name, p.Log, tail(p.Log, 4096))
	}
}

// tail returns at most the last n bytes of the file at path.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		f.Seek(fi.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// ---- the registry of open labs and the signal handler ----

var (
	labsMu  sync.Mutex
	labs    = map[*Lab]struct{}{}
	sigOnce sync.Once
)

func register(l *Lab) {
	labsMu.Lock()
	labs[l] = struct{}{}
	labsMu.Unlock()
}

func unregister(l *Lab) {
	labsMu.Lock()
	delete(labs, l)
	labsMu.Unlock()
}

// closeAll closes every open lab, concurrently so that the processes of all
// labs share one StopTimeout.
func closeAll() {
	labsMu.Lock()
	all := make([]*Lab, 0, len(labs))
	for l := range labs {
		all = append(all, l)
	}
	labsMu.Unlock()
	var wg sync.WaitGroup
	for _, l := range all {
		wg.Go(func() { l.Close() })
	}
	wg.Wait()
}

func installSignalHandler() {
	if !HandleSignals {
		return
	}
	sigOnce.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
		go func() {
			sig := <-ch
			closeAll()
			// Stop our subscription so the re-raised signal gets the
			// program's own handler or, if there is none, the default
			// action: the process dies of the signal as if we were not
			// here.
			signal.Stop(ch)
			syscall.Kill(os.Getpid(), sig.(syscall.Signal))
		}()
	})
}

// ---- owner records ----

func recordPath(prefix string) string { return filepath.Join(runDir, prefix+".pid") }

// writeRecord creates the owner record of prefix exclusively. It holds the
// owner's PID and its start time (field 22 of /proc/PID/stat), so that a
// recycled PID is not mistaken for the owner. The record is written to a
// temporary file and then hard-linked into place: link fails if the name
// exists, and a reader never sees a half-written record.
func writeRecord(prefix string, pid int) error {
	start, err := procStartTime(pid)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(runDir, prefix+".tmp*")
	if err != nil {
		return fmt.Errorf("netlab: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = fmt.Fprintf(f, "%d %d\n", pid, start)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("netlab: %w", err)
	}
	if err := os.Link(f.Name(), recordPath(prefix)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		return fmt.Errorf("netlab: %w", err)
	}
	return nil
}

// owner is what a record says about a lab's owner.
type owner struct {
	PID   int
	Start uint64 // 0 if unknown
}

// parseRecord parses the content of an owner record.
func parseRecord(b []byte) (owner, error) {
	f := strings.Fields(string(b))
	if len(f) < 1 || len(f) > 2 {
		return owner{}, fmt.Errorf("netlab: bad owner record %q", b)
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return owner{}, fmt.Errorf("netlab: bad owner PID %q", f[0])
	}
	o := owner{PID: pid}
	if len(f) == 2 {
		if o.Start, err = strconv.ParseUint(f[1], 10, 64); err != nil {
			return owner{}, fmt.Errorf("netlab: bad owner start time %q", f[1])
		}
	}
	return o, nil
}

// parseStat returns the state and the start time from the content of
// /proc/PID/stat. The command name (field 2) is in parentheses and may hold
// spaces and parentheses, so fields are counted from the last ')'.
func parseStat(b []byte) (state string, start uint64, err error) {
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", 0, fmt.Errorf("netlab: bad /proc stat %q", s)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); field 22 (starttime) is f[19].
	if len(f) < 20 {
		return "", 0, fmt.Errorf("netlab: short /proc stat %q", s)
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("netlab: bad start time in /proc stat: %w", err)
	}
	return f[0], start, nil
}

func procStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("netlab: %w", err)
	}
	_, start, err := parseStat(b)
	return start, err
}

// ownerAlive reports whether the process a record names still runs. A
// zombie counts as gone (it has exited; only its parent has not reaped it),
// and so does a process with the same PID but another start time.
func ownerAlive(o owner) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", o.PID))
	if err != nil {
		return false
	}
	state, start, err := parseStat(b)
	if err != nil {
		// Unreadable but present: do not delete what may be in use.
		return true
	}
	if state == "Z" || state == "X" {
		return false
	}
	return o.Start == 0 || o.Start == start
}

// ---- running commands ----

// runCmd runs a command bounded by ctx and DefaultTimeout and returns its
// combined output; the error names the command and quotes its output.
func runCmd(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	// A background grandchild that inherits the output pipe must not make
	// Wait hang past the deadline.
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", err, ctx.Err())
		}
		return string(out), fmt.Errorf("netlab: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// listNetns returns the names of all named network namespaces.
func listNetns(ctx context.Context) ([]string, error) {
	out, err := runCmd(ctx, "ip", "netns", "list")
	if err != nil {
		return nil, err
	}
	var names []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		// "name" or "name (id: 3)"
		if f := strings.Fields(sc.Text()); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names, nil
}
