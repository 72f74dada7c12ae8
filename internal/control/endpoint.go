package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Endpoint is a daemon's control API: the unix socket serving every
// route of its handler, and optionally a TCP listener (control.
// metrics_listen) serving only the metrics, for a Prometheus scraper that
// cannot reach a unix socket.
type Endpoint struct {
	sock, metrics       net.Listener
	sockSrv, metricsSrv *http.Server
	wg                  sync.WaitGroup
}

// Open listens on the unix socket path (Listen; none when path is empty)
// and on the TCP address metricsListen (none when empty), with servers
// for h: the socket gets all of h, the TCP listener only GET /v1/metrics
// (and GET /metrics, the path scrapers default to), both answered by h's
// /v1/metrics. Nothing is served before Serve.
func Open(path, metricsListen string, h http.Handler) (*Endpoint, error) {
	e := &Endpoint{}
	var err error
	if path != "" {
		if e.sock, err = Listen(path); err != nil {
			return nil, err
		}
		e.sockSrv = NewServer(h)
	}
	if metricsListen != "" {
		if e.metrics, err = net.Listen("tcp", metricsListen); err != nil {
			e.Close()
			return nil, fmt.Errorf("control.metrics_listen: %w", err)
		}
		e.metricsSrv = NewServer(metricsMux(h))
	}
	return e, nil
}

// metricsMux routes only h's metrics, under both paths.
func metricsMux(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /v1/metrics", h)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		r = r.Clone(r.Context())
		r.URL.Path = "/v1/metrics"
		h.ServeHTTP(w, r)
	})
	return mux
}

// Serve serves both listeners until Close, each on a goroutine of its
// own; an error other than the close is passed to onErr with the
// listener's name ("control socket", "metrics listener").
func (e *Endpoint) Serve(onErr func(what string, err error)) {
	serve := func(s *http.Server, l net.Listener, what string) {
		if s == nil {
			return
		}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			if err := s.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) && onErr != nil {
				onErr(what, err)
			}
		}()
	}
	serve(e.sockSrv, e.sock, "control socket")
	serve(e.metricsSrv, e.metrics, "metrics listener")
}

// Close stops both servers, letting requests in flight finish for up to a
// second, closes the listeners (served or not) and waits for Serve's
// goroutines.
func (e *Endpoint) Close() error {
	var errs []error
	for _, p := range []struct {
		s *http.Server
		l net.Listener
	}{{e.sockSrv, e.sock}, {e.metricsSrv, e.metrics}} {
		if p.l == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := p.s.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
		// Shutdown closes only the listeners it serves.
		if err := p.l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	e.wg.Wait()
	return errors.Join(errs...)
}
