package netlab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"time"
)

// Proc is a background process started in a namespace with NS.Start.
type Proc struct {
	// Cmd is the started command. Its Args begin with "ip netns exec NAME";
	// "ip netns exec" execs the program, so Cmd.Process is the program
	// itself.
	Cmd *exec.Cmd
	// Log is the file that receives the process's stdout and stderr.
	Log string

	ns       *NS
	done     chan struct{}
	waitErr  error
	stopOnce sync.Once
	stopErr  error
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// Start starts name with args in the background inside the namespace. Its
// stdout and stderr go to a log file in the lab's LogDir (Proc.Log); the lab
// stops it on Close. The process runs in its own process group, so a
// terminal's Ctrl-C reaches only this program (whose handler then stops it
// in order), and it gets SIGKILL if this program dies without cleaning up
// (Pdeathsig). Do not call Start from inside Do: Pdeathsig follows the
// thread that started the process.
func (n *NS) Start(name string, args ...string) (*Proc, error) {
	l := n.lab
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, errors.New("netlab: lab is closed")
	}
	l.nproc++
	seq := l.nproc
	l.mu.Unlock()

	logPath := filepath.Join(l.logDir, fmt.Sprintf("%02d-%s-%s.log", seq, n.short, unsafeFileChars.ReplaceAllString(filepath.Base(name), "_")))
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("netlab: %w", err)
	}
	defer f.Close()
	argv := append(append(append([]string(nil), nsExecArgs[1:]...), n.Name, name), args...)
	cmd := exec.Command(nsExecArgs[0], argv...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &Proc{Cmd: cmd, Log: logPath, ns: n, done: make(chan struct{})}

	// Hold the lock across Start so that a concurrent Close either sees the
	// process or refuses it; never an untracked child.
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errors.New("netlab: lab is closed")
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("netlab: start %s in %s: %w", name, n.Name, err)
	}
	l.procs = append(l.procs, p)
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Done returns a channel closed when the process has exited (and been
// reaped).
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit and returns its exit error (nil for
// status 0), as exec.Cmd.Wait does.
func (p *Proc) Wait() error {
	<-p.done
	return p.waitErr
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Output returns what the process has written to its log so far.
func (p *Proc) Output() (string, error) {
	b, err := os.ReadFile(p.Log)
	return string(b), err
}

// Stop ends the process: SIGTERM, up to StopTimeout for it to exit, then
// SIGKILL. It signals only this process, by PID (through a pidfd, so never
// a recycled PID), never its group. It returns nil if the process exited
// (on its own before, or after SIGTERM) and an error if it needed SIGKILL
// or could not be signalled; Wait gives the exit status. It is idempotent.
func (p *Proc) Stop() error {
	p.stopOnce.Do(func() { p.stopErr = stopAll([]*Proc{p}, StopTimeout) })
	return p.stopErr
}

// stopAll sends SIGTERM to every live process of procs, waits up to timeout
// for all of them together, then sends SIGKILL to the rest and reaps them.
func stopAll(procs []*Proc, timeout time.Duration) error {
	var errs []error
	for _, p := range procs {
		if p.Exited() {
			continue
		}
		if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			errs = append(errs, fmt.Errorf("netlab: SIGTERM %d: %w", p.Cmd.Process.Pid, err))
		}
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for _, p := range procs {
		select {
		case <-p.done:
			continue
		case <-deadline.C:
			// Fire for the others too: the shared budget is spent.
			deadline.Reset(0)
		}
		errs = append(errs, fmt.Errorf("netlab: %s (pid %d) in %s ignored SIGTERM for %v, killed", p.Cmd.Args[len(nsExecArgs)+1], p.Cmd.Process.Pid, p.ns.Name, timeout))
		if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
			errs = append(errs, fmt.Errorf("netlab: SIGKILL %d: %w", p.Cmd.Process.Pid, err))
			continue
		}
		select {
		case <-p.done:
		case <-time.After(timeout):
			// Unkillable (stuck in the kernel): report, do not hang.
			errs = append(errs, fmt.Errorf("netlab: pid %d survived SIGKILL for %v", p.Cmd.Process.Pid, timeout))
		}
	}
	return errors.Join(errs...)
}
