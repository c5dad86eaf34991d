package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
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

// httpHandler routes /metrics, /healthz and /readyz.
func httpHandler(reg *prometheus.Registry, ready *readiness, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: scrapeErrorLog{log}}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", ready.serveReadyz)
	return mux
}

// scrapeErrorLog logs promhttp's errors: at ERROR, except the client going
// away in the middle of a scrape (a timed-out or cancelled Prometheus), which
// is the client's business and logged at DEBUG.
type scrapeErrorLog struct{ log *slog.Logger }

func (l scrapeErrorLog) Println(v ...any) {
	msg := strings.TrimSuffix(fmt.Sprintln(v...), "\n")
	for _, a := range v {
		if err, ok := a.(error); ok && clientGone(err) {
			l.log.Debug("metrics scrape abandoned by the client", "error", err)
			return
		}
	}
	l.log.Error(msg)
}

// clientGone reports whether err is a write to an HTTP client that hung up.
func clientGone(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, context.Canceled) ||
		errors.Is(err, http.ErrHandlerTimeout)
}

// serveHTTP serves /metrics, /healthz and /readyz on addr; "" serves nothing.
func serveHTTP(addr string, reg *prometheus.Registry, ready *readiness, log *slog.Logger) (*http.Server, error) {
	srv := &http.Server{Handler: httpHandler(reg, ready, log), ReadHeaderTimeout: 10 * time.Second}
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
