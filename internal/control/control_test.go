package control

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
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

// pipeListener hands the server the far ends of net.Pipe connections, so
// the server's real deadlines run on the synctest bubble's fake clock.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.UnixAddr{Name: "pipe", Net: "unix"} }

// dial connects a client to the server behind l and returns the client end
// and a channel closed when the server has closed the connection (the
// client reads EOF). Everything the server writes is discarded.
func (l *pipeListener) dial() (net.Conn, <-chan struct{}) {
	client, server := net.Pipe()
	l.conns <- server
	closed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, client)
		close(closed)
	}()
	return client, closed
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// TestNewServerTimeouts: the daemons' servers close idle connections and
// slow headers, or a poller that never closes its connections would make
// a daemon hold a descriptor per connection for good. The server NewServer
// returns runs in a synctest bubble on net.Pipe connections, so its own
// deadlines (not the fields alone) are what cuts the clients off, and at
// the configured time, not earlier.
func TestNewServerTimeouts(t *testing.T) {
	cases := []struct {
		name    string
		send    string // what the client writes, then it goes silent
		timeout time.Duration
	}{
		// Headers that never end (slowloris): ReadHeaderTimeout.
		{"slow headers", "GET /v1/status HTTP/1.1\r\nHost: gomip6\r\nX-Slow: 1\r\n", ServerReadHeaderTimeout},
		// A client that connects and never sends a byte: before the
		// first request, the header timeout applies too.
		{"silent", "", ServerReadHeaderTimeout},
		// A complete keep-alive request, then nothing: IdleTimeout.
		{"idle keep-alive", "GET /v1/status HTTP/1.1\r\nHost: gomip6\r\n\r\n", ServerIdleTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var served atomic.Int32
				srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					served.Add(1)
					WriteJSON(w, http.StatusOK, map[string]any{"role": "ha"})
				}))
				l := newPipeListener()
				go srv.Serve(l)
				defer srv.Close()

				client, closed := l.dial()
				defer client.Close()
				if tc.send != "" {
					if _, err := client.Write([]byte(tc.send)); err != nil {
						t.Fatal(err)
					}
				}
				synctest.Wait()
				if strings.HasSuffix(tc.send, "\r\n\r\n") && served.Load() != 1 {
					t.Fatalf("request served %d times, want 1", served.Load())
				}
				time.Sleep(tc.timeout - time.Second)
				synctest.Wait()
				if isClosed(closed) {
					t.Fatalf("connection closed before %v", tc.timeout-time.Second)
				}
				time.Sleep(2 * time.Second)
				synctest.Wait()
				if !isClosed(closed) {
					t.Fatalf("connection still open %v after the client went silent, want closed after %v", tc.timeout+time.Second, tc.timeout)
				}
			})
		})
	}
}

// TestNewServerMaxHeaderBytes: a request whose headers exceed the limit is
// refused with 431 and never reaches the handler.
func TestNewServerMaxHeaderBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var served atomic.Int32
		srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served.Add(1) }))
		l := newPipeListener()
		go srv.Serve(l)
		defer srv.Close()

		client, server := net.Pipe()
		l.conns <- server
		defer client.Close()
		// net/http allows 4096 bytes of slack over MaxHeaderBytes; go
		// well past it.
		big := "GET / HTTP/1.1\r\nHost: gomip6\r\nX-Big: " + strings.Repeat("a", 2*ServerMaxHeaderBytes+8192) + "\r\n\r\n"
		go client.Write([]byte(big))
		resp, err := http.ReadResponse(bufio.NewReader(client), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("status %d, want %d", resp.StatusCode, http.StatusRequestHeaderFieldsTooLarge)
		}
		if served.Load() != 0 {
			t.Errorf("handler ran %d times for an oversized request", served.Load())
		}
		// The server lingers (net/http closeWriteAndWait) before it
		// closes a refused connection; let it finish inside the bubble.
		client.Close()
		time.Sleep(time.Second)
		synctest.Wait()
	})
}
