package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs"
	"github.com/kubetrail/kubetrail/pipeline"
)

// probe is an output type that records the Settings it was built with.
type probeConfig struct{}

var (
	probeMu  sync.Mutex
	probeSet = map[string]pipeline.Settings{}
)

var probeLimits = event.Limits{MaxEvents: 1000, MaxBytes: 4 << 20, PerEventOverhead: 100}

func init() {
	outputs.Register("probe", outputs.Factory{
		NewConfig: func() any { return &probeConfig{} },
		Limits:    probeLimits,
		Delivery: func(d *config.Delivery) {
			d.Batch.MaxEvents = 5000 // above the limit: clamped
			d.MaxInFlight = 4
		},
		New: func(_ any, set pipeline.Settings) (event.Output, error) {
			// Two outputs of this type register the same metric name: the
			// labels in set.Metrics keep them apart.
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: "probe_sent_total", Help: "test"})
			if err := set.Metrics.Register(c); err != nil {
				return nil, err
			}
			c.Inc()
			probeMu.Lock()
			probeSet[set.Name] = set
			probeMu.Unlock()
			return event.WriteFunc(func(context.Context, *event.Batch) error { return nil }), nil
		},
	})
}

func buildFrom(t *testing.T, yaml string) *Agent {
	t.Helper()
	dir := t.TempDir()
	audit := filepath.Join(dir, "audit.log")
	require.NoError(t, os.WriteFile(audit, nil, 0o600))
	file := filepath.Join(dir, "agent.yaml")
	require.NoError(t, os.WriteFile(file, []byte("agent: {state_dir: "+filepath.Join(dir, "state")+"}\n"+
		"inputs: {apiserver: {type: auditlog, path: "+audit+"}}\n"+yaml), 0o600))
	cfg, err := config.Load(file, Registries{})
	require.NoError(t, err)
	a, err := Build(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	t.Cleanup(a.Close)
	return a
}

// An output factory's delivery defaults and Limits reach both the loader and
// the output: absent keys take the factory's defaults, batch bounds are
// clamped to the Limits, and the output receives what the loop runs with.
func TestOutputGetsResolvedDeliveryAndLabelledMetrics(t *testing.T) {
	a := buildFrom(t, `
outputs:
  one: {type: probe}
  two: {type: probe, batch: {max_bytes: 10MiB, max_events: 50}}
pipelines:
  audit: {inputs: [apiserver], outputs: [one, two]}
`)
	probeMu.Lock()
	one, two := probeSet["one"], probeSet["two"]
	probeMu.Unlock()

	assert.Equal(t, 1000, one.Delivery.MaxEvents, "factory default 5000 clamped to Limits.MaxEvents")
	assert.Equal(t, 4, one.Delivery.MaxInFlight, "factory default")
	assert.Equal(t, 1<<20, one.Delivery.MaxBytes, "agent default, under the limit")
	assert.Equal(t, pipeline.DefaultDeliveryConfig().Retry, one.Delivery.Retry, "agent defaults")
	assert.Equal(t, 50, two.Delivery.MaxEvents, "the user's key")
	assert.Equal(t, 4<<20-100, two.Delivery.MaxBytes, "10MiB clamped to Limits.MaxBytes less one event's overhead")
	assert.Equal(t, "audit", one.Pipeline)
	require.NotNil(t, one.Health)

	mfs, err := a.Metrics().Gather()
	require.NoError(t, err)
	var labels []map[string]string
	for _, mf := range mfs {
		if mf.GetName() != "probe_sent_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			labels = append(labels, l)
		}
	}
	assert.ElementsMatch(t, []map[string]string{
		{"pipeline": "audit", "output": "one"},
		{"pipeline": "audit", "output": "two"},
	}, labels)
}

// /readyz names each component, and an unready one turns the whole answer
// into 503 with its reason.
func TestReadyzServesComponentHealthWithReason(t *testing.T) {
	h := &pipeline.Health{}
	siem := h.Component("pipeline/audit/output/siem")
	h.Component("pipeline/audit/output/local")
	r := &readiness{health: h}
	r.set(true)
	get := func() (int, string) {
		rec := httptest.NewRecorder()
		r.serveReadyz(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	code, body := get()
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "pipeline/audit/output/siem: ready\n")

	siem.Unready(event.Unready(errors.New("403 Forbidden: token lacks hec write")))
	code, body = get()
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "pipeline/audit/output/siem: unready since ")
	assert.Contains(t, body, "403 Forbidden: token lacks hec write")
	assert.Contains(t, body, "pipeline/audit/output/local: ready\n")

	siem.Ready()
	code, _ = get()
	assert.Equal(t, http.StatusOK, code)
	r.set(false)
	code, _ = get()
	assert.Equal(t, http.StatusServiceUnavailable, code, "not running is not ready")
}

// /readyz?exclude=outputs (the DaemonSet's readiness probe) ignores an
// unready sink but not an unready input; kubetrail_component_ready still
// shows the sink down.
func TestReadyzExcludeAndReadyGauge(t *testing.T) {
	h := &pipeline.Health{}
	siem := h.Component("pipeline/audit/output/siem")
	in := h.Component("input/apiserver")
	r := &readiness{health: h}
	r.set(true)
	get := func(url string) (int, string) {
		rec := httptest.NewRecorder()
		r.serveReadyz(rec, httptest.NewRequest(http.MethodGet, url, nil))
		return rec.Code, rec.Body.String()
	}
	siem.Unready(errors.New("connection refused"))
	code, body := get("/readyz?exclude=outputs")
	assert.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "pipeline/audit/output/siem: unready (excluded) since ")
	code, _ = get("/readyz?exclude=pipeline/audit/output/siem")
	assert.Equal(t, http.StatusOK, code)
	code, _ = get("/readyz?exclude=inputs")
	assert.Equal(t, http.StatusServiceUnavailable, code, "excluding inputs leaves the output counted")
	code, _ = get("/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)

	in.Unready(errors.New("audit log directory unreadable"))
	code, body = get("/readyz?exclude=outputs")
	assert.Equal(t, http.StatusServiceUnavailable, code, "an unready input fails the probe: %s", body)

	reg := prometheus.NewRegistry()
	reg.MustRegister(newReadyCollector(h))
	in.Ready()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			lab := map[string]string{}
			for _, l := range m.GetLabel() {
				lab[l.GetName()] = l.GetValue()
			}
			got[lab["kind"]+" "+lab["component"]] = m.GetGauge().GetValue()
		}
	}
	assert.Equal(t, map[string]float64{"output pipeline/audit/output/siem": 0, "input input/apiserver": 1}, got)
}
