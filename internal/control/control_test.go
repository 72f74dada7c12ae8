package control

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestListenServeGet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "d.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]any{"role": "ha"})
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	defer srv.Close()

	c := NewClient(path)
	body, err := c.Get(context.Background(), "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `"role": "ha"`) {
		t.Errorf("body %s", body)
	}
	if _, err := c.Get(context.Background(), "/v1/nope"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown route: %v", err)
	}
	// A second daemon must not steal a live socket.
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Listen: %v", err)
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	// Closing a unix listener removes the file in Go; recreate the
	// leftover of a crashed daemon by hand.
	l.(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	l.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
	l2, err := Listen(path)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	l2.Close()
}

func TestNoDaemon(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "none.sock"))
	if _, err := c.Get(context.Background(), "/v1/status"); !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("got %v, want ErrNoDaemon", err)
	}
}

func TestListenRefusesNonSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	os.WriteFile(path, []byte("x"), 0o644)
	if _, err := Listen(path); err == nil {
		t.Fatal("Listen over a regular file succeeded")
	}
}

// TestNewServerTimeouts: the daemons' servers close idle connections and
// slow headers, or a poller that never closes its connections would make
// a daemon hold a descriptor per connection for good.
func TestNewServerTimeouts(t *testing.T) {
	s := NewServer(http.NotFoundHandler())
	if s.IdleTimeout <= 0 || s.ReadHeaderTimeout <= 0 || s.MaxHeaderBytes <= 0 {
		t.Fatalf("IdleTimeout %v, ReadHeaderTimeout %v, MaxHeaderBytes %d: all must be set", s.IdleTimeout, s.ReadHeaderTimeout, s.MaxHeaderBytes)
	}
}
