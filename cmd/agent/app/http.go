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
//
// Like kube-apiserver's /readyz, it takes exclude parameters: a component's
// name (e.g. exclude=pipeline/audit/output/siem) or a kind, "inputs",
// "processors" or "outputs" (every component of that kind). An excluded
// component is still listed, marked excluded, but does not make the answer
// 503. The DaemonSet's readiness probe uses /readyz?exclude=outputs: a
// sink that is down or refuses credentials keeps its events buffered and
// is alerted on through kubetrail_component_ready, and must not stall a
// rolling update of agents that read and buffer fine.
func (r *readiness) serveReadyz(w http.ResponseWriter, req *http.Request) {
	running := r.ok.Load()
	ready, comps := true, []pipeline.ComponentStatus(nil)
	if r.health != nil {
		_, comps = r.health.Status()
	}
	excluded := excludedComponents(req.URL.Query()["exclude"])
	for _, c := range comps {
		if !c.Ready && !excluded(c.Name) {
			ready = false
		}
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
		note := ""
		if excluded(c.Name) {
			note = " (excluded)"
		}
		if c.Ready {
			fmt.Fprintf(&b, "%s: ready%s\n", c.Name, note)
		} else {
			fmt.Fprintf(&b, "%s: unready%s since %s: %s\n", c.Name, note, c.Since.UTC().Format(time.RFC3339), c.Reason)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !running || !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = io.WriteString(w, b.String())
}

// excludedComponents returns whether a component is excluded by /readyz's
// exclude parameters: its full name, or its kind in the plural.
func excludedComponents(exclude []string) func(name string) bool {
	return func(name string) bool {
		for _, x := range exclude {
			if x == name || x == componentKind(name)+"s" {
				return true
			}
		}
		return false
	}
}

// componentKind is "input", "processor" or "output" for a component named
// [pipeline/<p>/]<kind>/<name>.
func componentKind(name string) string {
	parts := strings.Split(name, "/")
	if len(parts) < 2 {
		return ""
	}
	return parts[len(parts)-2]
}

// readyCollector exports every component's health as
// kubetrail_component_ready{component, kind}: 1 ready, 0 unready. Read at
// scrape time from the same Health as /readyz.
type readyCollector struct {
	health *pipeline.Health
	desc   *prometheus.Desc
}

func newReadyCollector(h *pipeline.Health) *readyCollector {
	return &readyCollector{health: h, desc: prometheus.NewDesc("kubetrail_component_ready",
		"1 while the component (input, processor or output) reports ready, 0 while it is unready (see /readyz for why).",
		[]string{"component", "kind"}, nil)}
}

func (c *readyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *readyCollector) Collect(ch chan<- prometheus.Metric) {
	_, comps := c.health.Status()
	for _, s := range comps {
		v := 0.0
		if s.Ready {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, s.Name, componentKind(s.Name))
	}
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
