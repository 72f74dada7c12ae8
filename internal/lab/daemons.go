package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gomip6/gomip6/internal/control"
	"github.com/gomip6/gomip6/internal/netlab"
)

// FindBinary returns the path of the gomip6 command name: in dir when dir is
// not empty (and nowhere else), otherwise next to the running executable,
// then in PATH.
func FindBinary(dir, name string) (string, error) {
	if dir != "" {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("lab: %s: not an executable in %s (go build -o %s ./cmd/...)", name, dir, dir)
		}
		return filepath.Abs(p)
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("lab: %s: not next to this program nor in PATH (go build -o bin/ ./cmd/..., or --bin DIR)", name)
	}
	return filepath.Abs(p)
}

// Daemon is a gomip6 daemon the lab runs (or tried to run).
type Daemon struct {
	// Name is "had", "mnd" or "cnd"; NS where it runs.
	Name string
	NS   *netlab.NS
	// Binary, Config and Socket are its executable, configuration file
	// and control socket.
	Binary, Config, Socket string
	// Proc is the process; nil if it could not be started.
	Proc *netlab.Proc
	// Err says why the daemon is not running (did not start, exited, no
	// control socket); nil while it runs.
	Err error

	// ctl is the control socket's client, one per process: each client
	// keeps an idle connection open, which the daemon holds as a file
	// descriptor (the resource tests count them; a client per request
	// made mnd hold 20 more a second). StartDaemon sets it before it
	// returns, so later calls, from any goroutine, only read it.
	ctl *control.Client
}

// client returns the daemon's control client.
func (d *Daemon) client() *control.Client {
	if d.ctl == nil {
		d.ctl = control.NewClient(d.Socket)
	}
	return d.ctl
}

// Running reports whether the daemon started and has not exited.
func (d *Daemon) Running() bool {
	return d != nil && d.Err == nil && d.Proc != nil && !d.Proc.Exited()
}

// Why says why the daemon is not running, "" if it is.
func (d *Daemon) Why() string {
	switch {
	case d == nil:
		return "not started"
	case d.Err != nil:
		return d.Err.Error()
	case d.Proc == nil:
		return "not started"
	case d.Proc.Exited():
		return fmt.Sprintf("%s exited: %s", d.Name, lastLine(d.Proc))
	}
	return ""
}

// lastLine is the last non-empty line of a process's output.
func lastLine(p *netlab.Proc) string {
	out, _ := p.Output()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
		return l
	}
	return "(no output)"
}

// StartDaemon writes config to dir/NAME.toml, starts "bin -c FILE" in ns and
// waits up to wait for its control socket to answer /v1/status. A daemon
// that exits or never answers is returned with Err set (and stopped), not
// as an error: the lab reports it and goes on.
func StartDaemon(ctx context.Context, ns *netlab.NS, name, bin, dir, socket string, config []byte, wait time.Duration) *Daemon {
	d := &Daemon{Name: name, NS: ns, Binary: bin, Socket: socket, Config: filepath.Join(dir, name+".toml")}
	if err := os.WriteFile(d.Config, config, 0o600); err != nil {
		d.Err = fmt.Errorf("lab: %w", err)
		return d
	}
	p, err := ns.Start(bin, "-c", d.Config)
	if err != nil {
		d.Err = err
		return d
	}
	d.Proc = p
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	c := d.client()
	for {
		if _, err := c.Get(ctx, "/v1/status"); err == nil {
			return d
		}
		select {
		case <-p.Done():
			d.Err = fmt.Errorf("%s exited at once: %s", name, lastLine(p))
			return d
		case <-ctx.Done():
			d.Err = fmt.Errorf("%s: no answer on its control socket %s after %v (log: %s)", name, socket, wait, p.Log)
			p.Stop()
			return d
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Events returns the timeline events of the daemon's log so far.
func (d *Daemon) Events() []Event {
	return readLog(d, func(r io.Reader) []Event {
		ev, _ := ParseLog(d.Name, r)
		return ev
	})
}

// readLog returns what parse makes of the daemon's log so far (zero
// without a log).
func readLog[T any](d *Daemon, parse func(io.Reader) T) T {
	var zero T
	if d == nil || d.Proc == nil {
		return zero
	}
	f, err := os.Open(d.Proc.Log)
	if err != nil {
		return zero
	}
	defer f.Close()
	return parse(f)
}

// MNStatus is mnd's /v1/status (SPEC.md "Control API").
type MNStatus struct {
	Role          string     `json:"role"`
	HomeAddress   netip.Addr `json:"home_address"`
	CareOfAddress string     `json:"care_of_address"`
	AtHome        bool       `json:"at_home"`
	HomeAgent     string     `json:"home_agent"`
	Registered    bool       `json:"registered"`
	Encapsulation string     `json:"encapsulation"`
	// Bindings is mnd's Binding Update List: the home registration and,
	// with route optimization, one entry per correspondent.
	Bindings []MNBinding `json:"bindings"`
}

// MNBinding is one Binding Update List entry of mnd's /v1/status.
type MNBinding struct {
	Peer               netip.Addr `json:"peer"`
	CareOfAddress      netip.Addr `json:"care_of_address"`
	Home               bool       `json:"home_registration"`
	State              string     `json:"state"`
	Sequence           int        `json:"sequence"`
	LifetimeRemainingS float64    `json:"lifetime_remaining_s"`
	// For a correspondent: Correspondent is its address, Direct whether
	// packets to it leave directly from the care-of address; Failures,
	// Reason after failed attempts.
	Correspondent netip.Addr `json:"cn"`
	Direct        bool       `json:"direct"`
	Failures      int        `json:"failures"`
	Reason        string     `json:"reason"`
}

// Correspondent returns the Binding Update List entry for correspondent
// cn.
func (s MNStatus) Correspondent(cn netip.Addr) (MNBinding, bool) {
	for _, b := range s.Bindings {
		if !b.Home && b.Correspondent == cn {
			return b, true
		}
	}
	return MNBinding{}, false
}

// CNStatus is cnd's /v1/status.
type CNStatus struct {
	Role              string      `json:"role"`
	RouteOptimization bool        `json:"route_optimization"`
	Bindings          []HABinding `json:"bindings"`
}

// Binding returns the binding for home address hoa (the field names of
// cnd's binding cache entries are had's).
func (s CNStatus) Binding(hoa netip.Addr) (HABinding, bool) {
	return HAStatus{Bindings: s.Bindings}.Binding(hoa)
}

// HABinding is one binding of had's /v1/status.
type HABinding struct {
	HomeAddress        string  `json:"home_address"`
	CareOfAddress      string  `json:"care_of_address"`
	LifetimeRemainingS float64 `json:"lifetime_remaining_s"`
	Sequence           int     `json:"sequence"`
	Encapsulation      string  `json:"encapsulation"`
}

// HAStatus is had's /v1/status.
type HAStatus struct {
	Role     string      `json:"role"`
	Bindings []HABinding `json:"bindings"`
}

// Binding returns the binding for home address hoa.
func (s HAStatus) Binding(hoa netip.Addr) (HABinding, bool) {
	for _, b := range s.Bindings {
		if a, err := netip.ParseAddr(b.HomeAddress); err == nil && a == hoa {
			return b, true
		}
	}
	return HABinding{}, false
}

// Status fetches the daemon's /v1/status into v.
func (d *Daemon) Status(ctx context.Context, v any) error {
	if d == nil {
		return errors.New("lab: daemon not started")
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	b, err := d.client().Get(ctx, "/v1/status")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("lab: %s status: %w", d.Name, err)
	}
	return nil
}
