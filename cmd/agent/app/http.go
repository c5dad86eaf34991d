package app

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kubetrail/kubetrail/pipeline"
)

// readiness is what /readyz reports: ready while the agent runs and every
// component reports ready.
type readiness struct {
	ok     atomic.Bool
	health *pipeline.Health
}

func (r *readiness) set(ok bool) { r.ok.Store(ok) }

// serveReadyz answers 200 when ready, else 503, with one line per component
// saying whether it is ready and, if not, since when and why.
func (r *readiness) serveReadyz(w http.ResponseWriter, _ *http.Request) {
	running := r.ok.Load()
	ready, comps := true, []pipeline.ComponentStatus(nil)
	if r.health != nil {
		ready, comps = r.health.Status()
	}
	var b strings.Builder
	switch {
	case !running:
		b.WriteString("not ready: the agent is not running\n")
	case !ready:
		b.WriteString("not ready\n")
	default:
		b.WriteString("ok\n")
	}
	for _, c := range comps {
		if c.Ready {
			fmt.Fprintf(&b, "%s: ready\n", c.Name)
		} else {
			fmt.Fprintf(&b, "%s: unready since %s: %s\n", c.Name, c.Since.UTC().Format(time.RFC3339), c.Reason)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !running || !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = io.WriteString(w, b.String())
}

// serveHTTP serves /metrics, /healthz and /readyz on addr; "" serves nothing.
func serveHTTP(addr string, reg *prometheus.Registry, ready *readiness, log *slog.Logger) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", ready.serveReadyz)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if addr == "" {
		return srv, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on http_listen %s: %w", addr, err)
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "error", err)
		}
	}()
	return srv, nil
}
