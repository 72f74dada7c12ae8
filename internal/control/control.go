// Package control is the daemons' control API transport: HTTP with JSON
// bodies on a unix socket (mode 0600), routes versioned under /v1/
// (SPEC.md "Control API"), and the client mip6ctl uses.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Listen opens the control socket at path: it creates the directory (0755),
// removes a stale socket left by a crashed daemon (only if nothing answers
// on it), and leaves the socket with mode 0600 so only root can talk to it.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
			c.Close()
			return nil, fmt.Errorf("control: %s is in use by a running daemon", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control: removing stale socket: %w", err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control: %w", err)
	}
	return l, nil
}

// Server timeouts. A control client (mip6ctl, a monitoring agent, the lab)
// may open a connection per request and never close it: without an idle
// timeout each would keep a descriptor and a goroutine in the daemon for
// good, which a poller turns into a leak.
const (
	ServerReadHeaderTimeout = 5 * time.Second
	ServerIdleTimeout       = 30 * time.Second
	ServerMaxHeaderBytes    = 16 << 10
)

// NewServer returns the HTTP server for a daemon's control socket or
// metrics listener, with the timeouts above.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ServerReadHeaderTimeout,
		IdleTimeout:       ServerIdleTimeout,
		MaxHeaderBytes:    ServerMaxHeaderBytes,
	}
}

// WriteJSON writes v as the JSON body of a response with status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Client talks to one daemon's control socket.
type Client struct {
	path string
	hc   *http.Client
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}
	return &Client{path: path, hc: &http.Client{Transport: tr, Timeout: 5 * time.Second}}
}

// ErrNoDaemon reports that nothing listens on the socket.
var ErrNoDaemon = errors.New("control: no daemon answers")

// Get fetches route (e.g. "/v1/status") and returns the raw body.
func (c *Client) Get(ctx context.Context, route string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://gomip6"+route, nil)
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ne *net.OpError
		if errors.As(err, &ne) {
			return nil, fmt.Errorf("%w on %s: %v", ErrNoDaemon, c.path, ne.Err)
		}
		return nil, fmt.Errorf("control: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("control: reading %s: %w", route, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("control: %s: %s: %s", route, resp.Status, body)
	}
	return body, nil
}
