// Package daemon is the plumbing the three daemon mains (had, mnd, cnd)
// share, so that each main is a page: the command-line flags of SPEC.md
// (-c, -check, -version, -cleanup), the version string, the zap logger
// built from a configuration's log section, and the fixed log field keys.
//
// Libraries never log; only mains and role packages receive a *zap.Logger.
package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/gomip6/gomip6/conf"
)

// Version is the release version, set at link time:
//
//	go build -ldflags "-X github.com/gomip6/gomip6/internal/daemon.Version=v0.1.0" ./cmd/...
var Version = "dev"

// VersionString is what -version prints: name, Version, the Go version and
// platform, and the VCS revision when the binary was built from a checkout
// ("had dev (go1.26.8 linux/amd64, rev 7c94c23, modified)").
func VersionString(name string) string {
	s := fmt.Sprintf("%s %s (%s %s/%s", name, Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, modified string
		for _, kv := range bi.Settings {
			switch kv.Key {
			case "vcs.revision":
				rev = kv.Value
			case "vcs.modified":
				modified = kv.Value
			}
		}
		if rev != "" {
			s += ", rev " + rev[:min(len(rev), 12)]
			if modified == "true" {
				s += ", modified"
			}
		}
	}
	return s + ")"
}

// Options are the command-line flags every daemon takes (SPEC.md).
type Options struct {
	// Config is the configuration file (-c).
	Config string
	// Check validates the configuration, prints every problem with its
	// key path, and exits 0 or 1, touching nothing (-check).
	Check bool
	// Version prints the version and exits (-version).
	Version bool
	// Cleanup removes what a crashed run left behind and exits (-cleanup).
	Cleanup bool
}

// ParseFlags parses a daemon's command line. defaultConfig is the -c
// default. It returns flag.ErrHelp after printing the usage for -h, and
// another error (already printed to stderr, with the usage) for a bad
// command line.
func ParseFlags(name, defaultConfig string, args []string, stderr io.Writer) (Options, error) {
	var o Options
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Config, "c", defaultConfig, "configuration `file`")
	fs.BoolVar(&o.Check, "check", false, "validate the configuration, print every problem, exit 0 (valid) or 1; touches nothing")
	fs.BoolVar(&o.Version, "version", false, "print the version and exit")
	fs.BoolVar(&o.Cleanup, "cleanup", false, "remove what a crashed run left behind (routes, proxy entries, tun devices) and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s [-c FILE] [-check | -cleanup | -version]\n", name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected argument %q", fs.Arg(0))
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		fs.Usage()
		return o, err
	}
	if o.Check && o.Cleanup {
		err := errors.New("-check and -cleanup do not go together")
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return o, err
	}
	if o.Config == "" {
		err := errors.New("-c needs a file")
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return o, err
	}
	return o, nil
}

// Exit statuses of the daemons.
const (
	ExitOK     = 0 // done, or -check found the configuration valid
	ExitConfig = 1 // the configuration has problems, or could not be read
	ExitUsage  = 2 // bad command line, or the daemon cannot run (not implemented yet)
	ExitRun    = 3 // the daemon started but failed (a socket, a device, a route)
)

// Daemon describes one daemon to Main.
type Daemon struct {
	// Name is the command name: "had", "mnd", "cnd".
	Name string
	// Role says what the daemon is, for messages: "home agent".
	Role string
	// DefaultConfig is the -c default.
	DefaultConfig string
	// Load reads and validates the configuration at path and returns a
	// one-line summary of it for -check, or the error: conf.Errors for
	// configuration problems.
	Load func(path string) (summary string, err error)
	// Issue is the roadmap issue that brings the daemon to life. Until
	// then (Run nil) Main validates the configuration and says so honestly
	// instead of pretending to run.
	Issue int
	// Run runs the daemon until its context is cancelled (SIGTERM,
	// SIGINT), then shuts down cleanly, and returns nil; or returns the
	// error that stopped it. Nil: not implemented yet (see Issue).
	Run func(ctx context.Context, o RunOptions) error
	// Cleanup removes what a crashed run with the configuration at path
	// left behind (-cleanup) and says what it did on stdout. Nil: the
	// daemon installs nothing.
	Cleanup func(path string, stdout io.Writer) error
}

// Main runs a daemon's command line and returns the exit status.
func Main(d Daemon, args []string, stdout, stderr io.Writer) int {
	o, err := ParseFlags(d.Name, d.DefaultConfig, args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		return ExitUsage
	}
	if o.Version {
		fmt.Fprintln(stdout, VersionString(d.Name))
		return ExitOK
	}
	if o.Cleanup && d.Cleanup != nil {
		if err := d.Cleanup(o.Config, stdout); err != nil {
			PrintProblems(stderr, d.Name, o.Config, err)
			return ExitRun
		}
		return ExitOK
	}
	if o.Cleanup {
		// Nothing is installed yet (no routes, proxy entries or tun
		// devices), so a crashed run cannot have left anything behind.
		fmt.Fprintf(stdout, "%s: nothing to clean up: this version installs nothing (the %s lands with issue %d)\n", d.Name, d.Role, d.Issue)
		return ExitOK
	}
	summary, err := d.Load(o.Config)
	if err != nil {
		PrintProblems(stderr, d.Name, o.Config, err)
		return ExitConfig
	}
	if o.Check {
		fmt.Fprintf(stdout, "%s: %s: configuration ok: %s\n", d.Name, o.Config, summary)
		return ExitOK
	}
	if d.Run != nil {
		return runDaemon(d, o, stdout, stderr)
	}
	fmt.Fprintf(stderr, "%s: %s: configuration ok, but the %s is not implemented yet (issue %d); nothing was started or changed\n",
		d.Name, o.Config, d.Role, d.Issue)
	return ExitUsage
}

// PrintProblems prints a configuration load error: one line per problem,
// "FILE: key.path: message" like a compiler's, then a count; or the error
// itself when the file could not be read.
func PrintProblems(w io.Writer, name, path string, err error) {
	var ce conf.Errors
	if !errors.As(err, &ce) {
		fmt.Fprintf(w, "%s: %v\n", name, err)
		return
	}
	for _, p := range ce {
		fmt.Fprintf(w, "%s: %s\n", path, p)
	}
	plural := "s"
	if len(ce) == 1 {
		plural = ""
	}
	fmt.Fprintf(w, "%s: %s: %d problem%s\n", name, path, len(ce), plural)
}
