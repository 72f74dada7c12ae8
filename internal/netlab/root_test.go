package netlab

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests in this file build real namespaces; they skip unless root.
// Addresses are documentation ones only (RFC 3849, RFC 5737).

// ourNamespaces returns the namespaces in the system whose name starts with
// prefix.
func ourNamespaces(t *testing.T, prefix string) []string {
	t.Helper()
	names, err := listNetns(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ours []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix+"-") {
			ours = append(ours, n)
		}
	}
	return ours
}

// line is the a — r — b topology of the tests.
type line struct {
	lab     *Lab
	a, r, b *NS
}

// newLine builds a — r — b: 2001:db8:1::/64 and 192.0.2.0/24 between a and
// r, 2001:db8:2::/64 and 198.51.100.0/24 between r and b, default routes on
// a and b through r, and r forwarding both families.
func newLine(t *testing.T) *line {
	t.Helper()
	SkipUnlessRoot(t)
	l, err := New(t)
	if err != nil {
		t.Fatal(err)
	}
	ln := &line{lab: l}
	for _, x := range []struct {
		p    **NS
		name string
	}{{&ln.a, "a"}, {&ln.r, "r"}, {&ln.b, "b"}} {
		if *x.p, err = l.NS(x.name); err != nil {
			t.Fatal(err)
		}
		// Without DAD the first forwarded packet is not lost while r's
		// link-local addresses are tentative (see WaitDAD).
		if err := (*x.p).DisableDAD(); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(l.Link(ln.a, "g6t-a0", ln.r, "g6t-r0"))
	must(l.Link(ln.r, "g6t-r1", ln.b, "g6t-b0"))
	must(ln.a.Addr("g6t-a0", "2001:db8:1::2/64"))
	must(ln.a.Addr("g6t-a0", "192.0.2.2/24"))
	must(ln.r.Addr("g6t-r0", "2001:db8:1::1/64"))
	must(ln.r.Addr("g6t-r0", "192.0.2.1/24"))
	must(ln.r.Addr("g6t-r1", "2001:db8:2::1/64"))
	must(ln.r.Addr("g6t-r1", "198.51.100.1/24"))
	must(ln.b.Addr("g6t-b0", "2001:db8:2::2/64"))
	must(ln.b.Addr("g6t-b0", "198.51.100.2/24"))
	must(ln.a.Route("default", "via", "2001:db8:1::1"))
	must(ln.a.Route("default", "via", "192.0.2.1"))
	must(ln.b.Route("default", "via", "2001:db8:2::1"))
	must(ln.b.Route("default", "via", "198.51.100.1"))
	must(ln.r.Forwarding(true, true))
	return ln
}

func TestLine(t *testing.T) {
	ln := newLine(t)
	if !prefixRE.MatchString(ln.lab.Prefix()) || ln.a.Name != ln.lab.Prefix()+"-a" {
		t.Errorf("prefix %q, namespace %q", ln.lab.Prefix(), ln.a.Name)
	}

	// The interfaces are in the namespaces and not in the root one.
	if out, err := ln.a.Run("ip", "-br", "link", "show", "dev", "g6t-a0"); err != nil || !strings.Contains(out, "UP") {
		t.Errorf("g6t-a0 in a: %q, %v", out, err)
	}
	for _, ifname := range []string{"g6t-a0", "g6t-r0", "g6t-r1", "g6t-b0"} {
		if _, err := net.InterfaceByName(ifname); err == nil {
			t.Errorf("%s exists in the root namespace", ifname)
		}
	}

	// The sysctls, read through "ip netns exec" (not through Do, which set
	// them): r forwards, a does not.
	for _, tc := range []struct {
		ns   *NS
		file string
		want string
	}{
		{ln.r, "/proc/sys/net/ipv6/conf/all/forwarding", "1"},
		{ln.r, "/proc/sys/net/ipv6/conf/g6t-r1/forwarding", "1"},
		{ln.r, "/proc/sys/net/ipv4/ip_forward", "1"},
		{ln.a, "/proc/sys/net/ipv6/conf/all/forwarding", "0"},
		{ln.a, "/proc/sys/net/ipv4/ip_forward", "0"},
	} {
		out, err := tc.ns.Run("cat", tc.file)
		if err != nil || strings.TrimSpace(out) != tc.want {
			t.Errorf("%s in %s = %q, %v; want %s", tc.file, tc.ns.Name, out, err, tc.want)
		}
	}

	// Across r, both families.
	for _, dst := range []string{"2001:db8:2::2", "198.51.100.2"} {
		if err := ln.a.Ping(netip.MustParseAddr(dst), 5*time.Second); err != nil {
			t.Errorf("a -> %s: %v", dst, err)
		}
	}
	if err := ln.b.Ping(netip.MustParseAddr("2001:db8:1::2"), 5*time.Second); err != nil {
		t.Errorf("b -> a: %v", err)
	}
	// Without forwarding on r, the same ping fails: the pings above went
	// through r, not around it.
	if err := ln.r.Forwarding(false, false); err != nil {
		t.Fatal(err)
	}
	if err := ln.a.Ping(netip.MustParseAddr("2001:db8:2::2"), 500*time.Millisecond); err == nil {
		t.Error("a -> b with r not forwarding: got a reply")
	}
	// r itself still answers on its near side.
	if err := ln.a.Ping(netip.MustParseAddr("2001:db8:1::1"), 5*time.Second); err != nil {
		t.Errorf("a -> r: %v", err)
	}
}

func TestSysctlAndDAD(t *testing.T) {
	SkipUnlessRoot(t)
	l, err := New(t)
	if err != nil {
		t.Fatal(err)
	}
	n, err := l.NS("dad")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.DisableDAD(); err != nil {
		t.Fatal(err)
	}
	if err := l.Link(n, "g6t-x", n, "g6t-y"); err != nil {
		t.Fatal(err)
	}
	// A link created after DisableDAD has DAD off.
	out, err := n.Run("cat", "/proc/sys/net/ipv6/conf/g6t-x/accept_dad")
	if err != nil || strings.TrimSpace(out) != "0" {
		t.Errorf("accept_dad on g6t-x = %q, %v; want 0", out, err)
	}
	if err := n.Sysctl("net/ipv6/conf/g6t-y/hop_limit", "7"); err != nil {
		t.Fatal(err)
	}
	if v, err := n.ReadSysctl("net.ipv6.conf.g6t-y.hop_limit"); err != nil || v != "7" {
		t.Errorf("ReadSysctl hop_limit = %q, %v", v, err)
	}
	// The root namespace's value is untouched.
	if b, err := os.ReadFile("/proc/sys/net/ipv6/conf/default/accept_dad"); err == nil && strings.TrimSpace(string(b)) == "0" {
		t.Log("note: the root namespace has accept_dad 0 itself; the isolation check is weaker")
	}
	if _, err := l.NS("dad"); err == nil {
		t.Error("second NS(\"dad\"): no error")
	}
	if err := n.WaitDAD(time.Second); err != nil {
		t.Errorf("WaitDAD with DAD off: %v", err)
	}

	// With DAD on (the kernel default), a new link's link-local
	// addresses are tentative for a while; WaitDAD waits that out.
	m, err := l.NS("dad-on")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Link(m, "g6t-x", m, "g6t-y"); err != nil {
		t.Fatal(err)
	}
	if out, _ := m.IP("-6", "addr", "show", "tentative"); !strings.Contains(out, "fe80::") {
		t.Errorf("no tentative link-local right after Link (DAD on):\n%s", out)
	}
	if err := m.WaitDAD(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if out, _ := m.IP("-6", "addr", "show", "dev", "g6t-x"); !strings.Contains(out, "fe80::") || strings.Contains(out, "tentative") {
		t.Errorf("after WaitDAD:\n%s", out)
	}
}

// nsInode returns the inode of the network namespace of the current thread.
func nsInode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

func TestDo(t *testing.T) {
	ln := newLine(t)
	want, err := nsInode(filepath.Join("/run/netns", ln.a.Name))
	if err != nil {
		t.Fatal(err)
	}
	root, err := nsInode("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}

	// Inside, the thread is in a; a socket bound to a's address (which
	// exists only in a) opens there.
	var sa *net.UDPConn
	err = ln.a.Do(func() error {
		got, err := nsInode("/proc/thread-self/ns/net")
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("thread in netns %d, want %d", got, want)
		}
		sa, err = net.ListenUDP("udp6", &net.UDPAddr{IP: net.ParseIP("2001:db8:1::2")})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	// Outside, the same bind fails: the address is not in the root
	// namespace (unless the host happens to own it).
	if c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.ParseIP("2001:db8:1::2")}); err == nil {
		c.Close()
		t.Log("note: the root namespace has 2001:db8:1::2; skipping the negative bind check")
	} else if !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("bind in the root namespace: %v, want EADDRNOTAVAIL", err)
	}

	// A socket made in b talks to the one in a across r, used from the
	// test's own goroutine, outside Do.
	var sb *net.UDPConn
	if err := ln.b.Do(func() (err error) {
		sb, err = net.DialUDP("udp6", nil, sa.LocalAddr().(*net.UDPAddr))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if _, err := sb.Write([]byte("hello from b")); err != nil {
		t.Fatal(err)
	}
	sa.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, from, err := sa.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	if string(buf[:n]) != "hello from b" || !from.IP.Equal(net.ParseIP("2001:db8:2::2")) {
		t.Errorf("a got %q from %v", buf[:n], from)
	}

	// The process (and so every other thread) stays in the root namespace.
	if got, _ := nsInode("/proc/self/ns/net"); got != root {
		t.Errorf("process moved to netns %d from %d", got, root)
	}
	// Errors and panics of f come back to the caller.
	sentinel := errors.New("sentinel")
	if err := ln.a.Do(func() error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("Do returned %v, want the sentinel", err)
	}
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want boom", r)
			}
		}()
		ln.a.Do(func() error { panic("boom") })
	}()
	// After a panic the namespace switch still works (threads were
	// restored or discarded).
	if err := ln.b.Do(func() error { return nil }); err != nil {
		t.Error(err)
	}
}

func TestStartStop(t *testing.T) {
	SkipUnlessRoot(t)
	l, err := New(t)
	if err != nil {
		t.Fatal(err)
	}
	n, err := l.NS("p")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Link(n, "g6t-p0", n, "g6t-p1"); err != nil {
		t.Fatal(err)
	}
	// Runs inside the namespace (sees its links), output in the log.
	p, err := n.Start("sh", "-c", "ip -br link show g6t-p0; echo to-stderr >&2; exec sleep 60")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Log, l.LogDir()) {
		t.Errorf("log %s not in %s", p.Log, l.LogDir())
	}
	// Wait for the output (no sleeping: poll the file with a deadline).
	deadline := time.Now().Add(5 * time.Second)
	var out string
	for time.Now().Before(deadline) {
		out, _ = p.Output()
		if strings.Contains(out, "to-stderr") {
			break
		}
		pollPause()
	}
	if !strings.Contains(out, "g6t-p0") || !strings.Contains(out, "to-stderr") {
		t.Errorf("log = %q", out)
	}
	// The PID is the program itself (ip netns exec execs it).
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.Cmd.Process.Pid))
	if strings.TrimSpace(string(comm)) != "sleep" {
		t.Errorf("pid %d is %q, want sleep", p.Cmd.Process.Pid, comm)
	}
	start := time.Now()
	if err := p.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if d := time.Since(start); d > StopTimeout {
		t.Errorf("Stop of a process that obeys SIGTERM took %v", d)
	}
	if !p.Exited() {
		t.Error("not exited after Stop")
	}
	var ee *exec.ExitError
	if err := p.Wait(); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("Wait = %v, want death by SIGTERM", err)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}

	// A process that ignores SIGTERM is killed after StopTimeout.
	old := StopTimeout
	StopTimeout = 300 * time.Millisecond
	defer func() { StopTimeout = old }()
	q, err := n.Start("sh", "-c", "trap '' TERM; echo ready; exec sleep 60")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); pollPause() {
		if out, _ := q.Output(); strings.Contains(out, "ready") {
			break
		}
	}
	// Let sh reach exec (the trap is inherited as SIG_IGN by sleep).
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); pollPause() {
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", q.Cmd.Process.Pid)); strings.TrimSpace(string(comm)) == "sleep" {
			break
		}
	}
	if err := q.Stop(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Stop of a SIGTERM-ignoring process: %v, want a kill report", err)
	}
	if err := q.Wait(); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("Wait = %v, want death by SIGKILL", err)
	}

	// A process still running at Close is stopped by Close.
	r, err := n.Start("sleep", "60")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if !r.Exited() {
		t.Error("Close left a process running")
	}
	if _, err := n.Start("true"); err == nil {
		t.Error("Start after Close: no error")
	}
}

// pollPause is the pause between two polls of an external process's state
// (a file, /proc); the tests never sleep for a fixed time, they poll with a
// deadline.
func pollPause() { time.Sleep(10 * time.Millisecond) }

func TestCloseRemovesEverything(t *testing.T) {
	SkipUnlessRoot(t)
	l, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a, err := l.NS("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.NS("b")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Link(a, "g6t-a", b, "g6t-b"); err != nil {
		t.Fatal(err)
	}
	p, err := a.Start("sleep", "60")
	if err != nil {
		t.Fatal(err)
	}
	if got := ourNamespaces(t, l.Prefix()); len(got) != 2 {
		t.Fatalf("namespaces of the lab: %q", got)
	}
	if _, err := os.Stat(recordPath(l.Prefix())); err != nil {
		t.Errorf("owner record: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	checkGone(t, l.Prefix())
	if _, err := os.Stat(l.LogDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("log dir after Close: %v", err)
	}
	if !p.Exited() {
		t.Error("process still running after Close")
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := l.NS("c"); err == nil {
		t.Error("NS after Close: no error")
	}
	checkGone(t, l.Prefix())
}

// checkGone fails t if anything of the lab with prefix is left.
func checkGone(t *testing.T, prefix string) {
	t.Helper()
	if got := ourNamespaces(t, prefix); len(got) != 0 {
		t.Errorf("left behind: %q", got)
	}
	if _, err := os.Stat(recordPath(prefix)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("owner record of %s: %v", prefix, err)
	}
}

// buildAndPanic is a test helper that panics halfway through building a
// lab, as buggy setup code would.
func buildAndPanic(prefix *string) {
	l, err := New(nil)
	if err != nil {
		panic(err)
	}
	defer l.CloseOnPanic()
	*prefix = l.Prefix()
	if _, err := l.NS("x"); err != nil {
		panic(err)
	}
	if got := len(l.Namespaces()); got != 1 {
		panic(fmt.Sprintf("%d namespaces", got))
	}
	panic("helper bug")
}

func TestCloseOnPanic(t *testing.T) {
	SkipUnlessRoot(t)
	var prefix string
	func() {
		defer func() {
			if r := recover(); r != "helper bug" {
				t.Fatalf("recovered %v, want the helper's panic", r)
			}
		}()
		buildAndPanic(&prefix)
	}()
	checkGone(t, prefix)
}

// The helper process: the parent test re-runs the test binary with
// NETLAB_HELPER set to play a run that panics, is signalled or is killed.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("NETLAB_HELPER")
	if mode == "" {
		t.Skip("only run as a helper process")
	}
	l, err := New(t)
	if err != nil {
		t.Fatal(err)
	}
	n, err := l.NS("h")
	if err != nil {
		t.Fatal(err)
	}
	p, err := n.Start("sleep", "60")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("READY %s %d\n", l.Prefix(), p.Cmd.Process.Pid)
	switch mode {
	case "panic":
		func() { panic("helper process panics") }()
	case "block":
		// Wait to be signalled or killed. The parent holds our stdin
		// open; EOF means it is gone, and then we end normally.
		os.Stdin.Read(make([]byte, 1))
		t.Fatal("helper process was not stopped")
	}
}

// helper starts the helper process in mode and returns it with the lab
// prefix and the PID of the process the helper started.
func helper(t *testing.T, mode string) (*exec.Cmd, *syncBuf, string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), "NETLAB_HELPER="+mode)
	if _, err := cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	rest := &syncBuf{}
	cmd.Stderr = rest
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("helper ended before READY; stderr: %s", rest.String())
			}
			rest.WriteString(line + "\n")
			var prefix string
			var pid int
			if _, err := fmt.Sscanf(line, "READY %s %d", &prefix, &pid); err == nil {
				go func() {
					for line := range lines {
						rest.WriteString(line + "\n")
					}
				}()
				return cmd, rest, prefix, pid
			}
		case <-timeout:
			t.Fatal("helper not READY in 30 s")
		}
	}
}

// syncBuf is a buffer that the helper's stdout reader and exec's stderr
// copier write concurrently.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) WriteString(p string) {
	s.Write([]byte(p))
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// processGone reports whether pid has exited, polling up to 5 s. The
// helper's child is reparented when the helper dies, so /proc is the
// witness.
func processGone(pid int) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); pollPause() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		if st, _, err := parseStat(b); err == nil && st == "Z" {
			return true
		}
	}
	return false
}

func TestPanicInTestCleansUp(t *testing.T) {
	SkipUnlessRoot(t)
	cmd, out, prefix, pid := helper(t, "panic")
	err := cmd.Wait()
	if err == nil {
		t.Fatalf("the panicking helper exited 0:\n%s", out)
	}
	if !strings.Contains(out.String(), "helper process panics") {
		t.Errorf("helper output lacks its panic:\n%s", out)
	}
	checkGone(t, prefix)
	if !processGone(pid) {
		t.Errorf("the helper's sleep (pid %d) survives", pid)
	}
}

func TestSignalCleansUp(t *testing.T) {
	SkipUnlessRoot(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd, out, prefix, pid := helper(t, "block")
		if got := ourNamespaces(t, prefix); len(got) != 1 {
			t.Fatalf("helper's namespaces: %q", got)
		}
		cmd.Process.Signal(sig)
		err := cmd.Wait()
		// The handler re-raises the signal after cleaning up, so the
		// helper dies of it.
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != sig {
			t.Errorf("%v: helper ended with %v, want death by the signal\n%s", sig, err, out)
		}
		checkGone(t, prefix)
		if !processGone(pid) {
			t.Errorf("%v: the helper's sleep (pid %d) survives", sig, pid)
		}
	}
}

func TestSweep(t *testing.T) {
	SkipUnlessRoot(t)
	// A live lab of ours must survive any sweep.
	live, err := New(t)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := live.NS("live"); err != nil {
		t.Fatal(err)
	}

	// A run killed with SIGKILL leaves its namespace and record behind.
	cmd, out, prefix, pid := helper(t, "block")
	cmd.Process.Kill()
	cmd.Wait()
	left := ourNamespaces(t, prefix)
	if len(left) != 1 {
		t.Fatalf("leftovers of the killed helper: %q\n%s", left, out)
	}
	if _, err := os.Stat(recordPath(prefix)); err != nil {
		t.Fatalf("the killed helper's record: %v", err)
	}
	// Its child died with it (Pdeathsig).
	if !processGone(pid) {
		t.Errorf("the killed helper's sleep (pid %d) survives", pid)
	}

	logDirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "gomip6-netlab-"+prefix+"-*"))
	if len(logDirs) != 1 {
		t.Errorf("log dirs of the killed helper: %q", logDirs)
	}
	removed, err := Sweep(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range removed {
		if n == left[0] {
			found = true
		}
		if strings.HasPrefix(n, live.Prefix()+"-") {
			t.Errorf("Sweep removed %s of a live lab", n)
		}
	}
	if !found {
		t.Errorf("Sweep removed %q, want %s among them", removed, left[0])
	}
	checkGone(t, prefix)
	if logDirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "gomip6-netlab-"+prefix+"-*")); len(logDirs) != 0 {
		t.Errorf("log dirs of the killed helper after Sweep: %q", logDirs)
	}
	if _, err := os.Stat(live.LogDir()); err != nil {
		t.Errorf("the live lab's log dir after Sweep: %v", err)
	}
	if got := ourNamespaces(t, live.Prefix()); len(got) != 1 {
		t.Errorf("the live lab's namespaces after Sweep: %q", got)
	}
	// maxAge 0 removes unowned namespaces of any age, still not live ones.
	if _, err := Sweep(0); err != nil {
		t.Fatal(err)
	}
	if got := ourNamespaces(t, live.Prefix()); len(got) != 1 {
		t.Errorf("the live lab's namespaces after Sweep(0): %q", got)
	}
}
