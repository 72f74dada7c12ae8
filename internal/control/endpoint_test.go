package control

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// TestEndpoint: the socket serves the whole API; the metrics listener
// only the metrics, under /v1/metrics and /metrics; Close removes the
// socket.
func TestEndpoint(t *testing.T) {
	api := http.NewServeMux()
	api.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "status") })
	api.HandleFunc("GET /v1/metrics", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "metrics") })
	path := filepath.Join(t.TempDir(), "d.sock")
	e, err := Open(path, "127.0.0.1:0", api)
	if err != nil {
		t.Fatal(err)
	}
	e.Serve(func(what string, err error) { t.Errorf("%s: %v", what, err) })
	b, err := NewClient(path).Get(context.Background(), "/v1/status")
	if err != nil || string(b) != "status" {
		t.Fatalf("status over the socket: %q %v", b, err)
	}
	base := "http://" + e.metrics.Addr().String()
	for p, want := range map[string]int{"/metrics": 200, "/v1/metrics": 200, "/v1/status": 404} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatalf("GET %s on the metrics listener: %v", p, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || (want == 200 && string(body) != "metrics") {
			t.Errorf("GET %s on the metrics listener: %d %q, want %d", p, resp.StatusCode, body, want)
		}
	}
	m, err := Open("", "", api)
	if err != nil {
		t.Fatal(err)
	}
	if m.metricsSrv != nil || m.sockSrv != nil {
		t.Fatal("Open with no addresses built servers")
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket left after Close: %v", err)
	}
	if resp, err := http.Get(base + "/metrics"); err == nil {
		resp.Body.Close()
		t.Error("the metrics listener still answers after Close")
	}
}

func TestEndpointMetricsRoutes(t *testing.T) {
	api := http.NewServeMux()
	api.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "status") })
	api.HandleFunc("GET /v1/metrics", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "metrics") })
	h := metricsMux(api)
	for path, want := range map[string]int{"/v1/metrics": 200, "/metrics": 200, "/v1/status": 404} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want || (want == 200 && rec.Body.String() != "metrics") {
			t.Errorf("GET %s on the metrics listener: %d %q, want %d", path, rec.Code, rec.Body, want)
		}
	}
}
