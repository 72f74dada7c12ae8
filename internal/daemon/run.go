package daemon

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// RunOptions is what Main hands a daemon's Run: the validated configuration
// file's path, where to log, and the reload requests.
type RunOptions struct {
	// Config is the configuration file. Main has already loaded it once
	// and found it valid; Run loads it again to use it (and on each
	// reload request).
	Config string
	// Name is the daemon's command name ("had"), for the logger.
	Name string
	// Stdout and Stderr are the process's; logs go to Stderr (zap JSON,
	// see NewLogger).
	Stdout, Stderr io.Writer
	// Reload receives one value per SIGHUP: load the configuration again
	// and apply it, keeping the old one if the new one is bad (SPEC.md).
	Reload <-chan struct{}
}

// runDaemon runs d.Run with the process's signals wired to it: SIGTERM and
// SIGINT cancel the context (Run then shuts down cleanly: de-registers and
// removes what it installed) and SIGHUP becomes a reload request. A second
// SIGTERM/SIGINT is left to the default action, so an operator can still
// kill a daemon whose shutdown hangs.
func runDaemon(d Daemon, o Options, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case reload <- struct{}{}:
				default: // one pending reload covers any number of SIGHUPs
				}
			}
		}
	}()
	go func() {
		// After the first signal, give the default action back so that a
		// second one kills a stuck shutdown.
		<-ctx.Done()
		stop()
	}()
	err := d.Run(ctx, RunOptions{Config: o.Config, Name: d.Name, Stdout: stdout, Stderr: stderr, Reload: reload})
	if err != nil {
		PrintProblems(stderr, d.Name, o.Config, err)
		return ExitRun
	}
	return ExitOK
}
