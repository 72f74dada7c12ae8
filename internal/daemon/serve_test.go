package daemon

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/gomip6/gomip6/conf"
)

// TestServe: the first load starts the runtime; a reload request with a
// good file hands the runtime the new configuration, one with a bad file
// is logged and not handed over; cancelling stops the runtime.
func TestServe(t *testing.T) {
	// Each load reads the file's next version, in order.
	versions := make(chan string, 3)
	versions <- "v1"
	versions <- "bad"
	versions <- "v2"
	load := func(string) (string, error) {
		if v := <-versions; v != "bad" {
			return v, nil
		}
		return "", errors.New("bad file")
	}
	reqs := make(chan struct{})
	var stderr bytes.Buffer
	o := RunOptions{Config: "x.toml", Name: "xd", Stderr: &stderr, Reload: reqs}
	got := make(chan string, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, o, load, func(string) conf.Log { return conf.Log{Level: "info", Format: "json"} },
			func(c string, log *zap.Logger) (func(context.Context, <-chan string) error, error) {
				got <- c
				return func(ctx context.Context, reload <-chan string) error {
					for {
						select {
						case <-ctx.Done():
							return nil
						case c := <-reload:
							got <- c
						}
					}
				}, nil
			})
	}()
	next := func() string {
		select {
		case c := <-got:
			return c
		case <-time.After(5 * time.Second):
			t.Fatal("nothing reached the runtime")
			return ""
		}
	}
	if c := next(); c != "v1" {
		t.Fatalf("started with %q", c)
	}
	reqs <- struct{}{}
	reqs <- struct{}{}
	if c := next(); c != "v2" {
		t.Fatalf("after reloads: %q (the bad file must not reach the runtime)", c)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "keeping the old one") {
		t.Errorf("bad reload not logged: %s", stderr.String())
	}
}
