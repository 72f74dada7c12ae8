package daemon

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMainRunHook(t *testing.T) {
	d := fake
	var got RunOptions
	d.Run = func(ctx context.Context, o RunOptions) error {
		got = o
		if o.Config == "fail" {
			return errors.New("tun: permission denied")
		}
		return nil
	}
	d.Load = func(string) (string, error) { return "ok", nil }
	var stdout, stderr bytes.Buffer
	if code := Main(d, []string{"-c", "x.toml"}, &stdout, &stderr); code != ExitOK {
		t.Fatalf("exit %d, stderr %s", code, &stderr)
	}
	if got.Config != "x.toml" || got.Name != "xd" || got.Reload == nil {
		t.Errorf("Run got %+v", got)
	}
	stderr.Reset()
	if code := Main(d, []string{"-c", "fail"}, &stdout, &stderr); code != ExitRun {
		t.Errorf("failing Run: exit %d, want %d", code, ExitRun)
	}
	if !strings.Contains(stderr.String(), "tun: permission denied") {
		t.Errorf("stderr %q lacks the error", stderr.String())
	}
}

func TestMainCleanupHook(t *testing.T) {
	d := fake
	d.Cleanup = func(path string, w io.Writer) error {
		if path == "bad" {
			return errors.New("cannot")
		}
		_, err := io.WriteString(w, "removed mip0\n")
		return err
	}
	var stdout, stderr bytes.Buffer
	if code := Main(d, []string{"-cleanup"}, &stdout, &stderr); code != ExitOK || stdout.String() != "removed mip0\n" {
		t.Errorf("cleanup: exit %d, stdout %q", code, stdout.String())
	}
	if code := Main(d, []string{"-cleanup", "-c", "bad"}, &stdout, &stderr); code != ExitRun {
		t.Errorf("failing cleanup: exit %d, want %d", code, ExitRun)
	}
}

// TestRunSignals sends the test process SIGHUP and SIGTERM: SIGHUP must
// reach Run as one reload request, SIGTERM must cancel its context.
func TestRunSignals(t *testing.T) {
	d := fake
	reloads := 0
	d.Run = func(ctx context.Context, o RunOptions) error {
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
			return err
		}
		select {
		case <-o.Reload:
			reloads++
		case <-time.After(10 * time.Second):
			return errors.New("no reload request after SIGHUP")
		}
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("context not cancelled by SIGTERM")
		}
	}
	var stdout, stderr bytes.Buffer
	if code := Main(d, nil, &stdout, &stderr); code != ExitOK || reloads != 1 {
		t.Errorf("exit %d, reloads %d, stderr %s", code, reloads, &stderr)
	}
}
