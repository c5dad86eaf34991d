package host_test

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/internal/syncbuf"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
	"github.com/kubetrail/kubetrail/outputs/outputtest"
	"github.com/kubetrail/kubetrail/pipeline"
	"github.com/kubetrail/kubetrail/pipeline/buffer"
	"github.com/kubetrail/kubetrail/plugins/host"
)

// rig runs one pipeline (real delivery loop, disk buffer in a temp dir)
// whose single output is a plugin.
type rig struct {
	t    *testing.T
	dir  string
	dlq  *outputtest.DeadLetters
	logs *syncbuf.Buffer
	reg  *prometheus.Registry
	out  *host.Output
	p    *pipeline.Pipeline
	// health records what the delivery loop reports for the output.
	health *healthRecorder
	stop   func()
}

const outName = "archive"

func newRig(t *testing.T, cfg *host.Config, d pipeline.DeliveryConfig) *rig {
	t.Helper()
	r := &rig{t: t, dir: t.TempDir(), dlq: &outputtest.DeadLetters{}, logs: &syncbuf.Buffer{}, reg: prometheus.NewRegistry(), health: &healthRecorder{}}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	out, err := host.New(cfg, pipeline.Settings{Name: outName, StateDir: r.dir, Logger: log.With("output", outName), Metrics: r.reg, DeadLetter: r.dlq})
	require.NoError(t, err)
	r.out = out
	p, err := pipeline.New(pipeline.Config{
		Name:       "audit",
		Outputs:    []pipeline.NamedOutput{{Name: outName, Output: out, Delivery: d, Health: r.health}},
		Buffer:     buffer.Options{Dir: filepath.Join(r.dir, "buffer"), Fsync: buffer.FsyncPolicy("never")},
		DeadLetter: r.dlq,
		Logger:     log,
		Metrics:    r.reg,
	})
	require.NoError(t, err)
	r.p = p
	readCtx, stopReading := context.WithCancel(context.Background())
	sendCtx, abandon := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(readCtx, sendCtx) }()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			stopReading()
			grace := time.AfterFunc(5*time.Second, abandon)
			defer grace.Stop()
			select {
			case err := <-done:
				assert.NoError(t, err)
			case <-time.After(30 * time.Second):
				t.Error("pipeline did not stop")
			}
			abandon()
		})
	}
	t.Cleanup(r.stop)
	return r
}

// feed appends events to the pipeline's buffer, as an input would.
func (r *rig) feed(evs []event.Event) {
	r.t.Helper()
	p := r.p
	var durable atomic.Int64
	n := 0
	for i := 0; i < len(evs); i += 100 {
		require.NoError(r.t, p.Write(context.Background(), evs[i:min(i+100, len(evs))], func() { durable.Add(1) }))
		n++
	}
	require.Eventually(r.t, func() bool { return durable.Load() == int64(n) }, 10*time.Second, time.Millisecond)
}

func (r *rig) restarts() float64 { return metric(r.t, r.reg, "kubetrail_plugin_restarts_total") }

func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// corpus returns n real audit events.
func corpus(t testing.TB, n int) []event.Event {
	t.Helper()
	var evs []event.Event
	for _, l := range testcorpus.Load(t) {
		ev, err := event.New(l.Raw)
		if err != nil {
			continue
		}
		evs = append(evs, ev)
		if len(evs) == n {
			break
		}
	}
	require.Len(t, evs, n)
	return evs
}

// lines counts each line of an NDJSON file.
func lines(t *testing.T, path string) map[string]int {
	t.Helper()
	got := map[string]int{}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return got
	}
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 8<<20)
	for sc.Scan() {
		got[sc.Text()]++
	}
	require.NoError(t, sc.Err())
	return got
}

// waitAccounted waits until every event is in the sink or dead-lettered,
// and checks that each went where dead() said and none is missing.
func (r *rig) waitAccounted(read func() map[string]int, evs []event.Event, dead func(ev event.Event) bool) map[string]int {
	r.t.Helper()
	var got map[string]int
	missing := 0
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got = read()
		dl := map[string]bool{}
		for _, e := range r.dlq.Entries() {
			dl[string(e.Raw)] = true
		}
		missing = 0
		for _, ev := range evs {
			if got[string(ev.Raw)] == 0 && !dl[string(ev.Raw)] {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.Zero(r.t, missing, "events neither delivered nor dead-lettered; log:\n%s", r.logs.String())
	dl := map[string]bool{}
	for _, e := range r.dlq.Entries() {
		dl[string(e.Raw)] = true
	}
	for _, ev := range evs {
		if dead != nil && dead(ev) {
			assert.True(r.t, dl[string(ev.Raw)], "event %s was to be dead-lettered", ev.ID(nil))
			assert.Zero(r.t, got[string(ev.Raw)], "a permanently rejected event is not in the sink")
		} else {
			assert.False(r.t, dl[string(ev.Raw)], "event %s was dead-lettered", ev.ID(nil))
		}
	}
	return got
}

var fast = pipeline.DeliveryConfig{
	MaxEvents: 50, MaxWait: time.Millisecond, MaxInFlight: 2,
	Retry: pipeline.RetryConfig{InitialInterval: 10 * time.Millisecond, MaxInterval: 200 * time.Millisecond, Multiplier: 2},
}

func goConfig(t *testing.T, sink string, extra map[string]any) *host.Config {
	cfg := &host.Config{
		Path:                   buildGoExample(t),
		Config:                 map[string]any{"dir": sink},
		StartTimeout:           config.Duration(20 * time.Second),
		WriteTimeout:           config.Duration(20 * time.Second),
		RestartInitialInterval: config.Duration(50 * time.Millisecond),
		RestartMaxInterval:     config.Duration(500 * time.Millisecond),
	}
	for k, v := range extra {
		cfg.Config[k] = v
	}
	return cfg
}

// The plugin is SIGKILLed several times while a stream is delivered: it is
// restarted each time, its in-flight batches are sent again, and every
// event reaches the sink.
func TestGoPluginKilledMidStream(t *testing.T) {
	sink := t.TempDir()
	r := newRig(t, goConfig(t, sink, nil), fast)
	all := corpus(t, 3050)
	evs, tail := all[:3000], all[3000:]
	file := filepath.Join(sink, outName+".ndjson")
	go r.feed(evs)
	kills := 0
	for _, at := range []int{300, 1200, 2200} {
		require.Eventually(t, func() bool { return len(lines(t, file)) >= at }, time.Minute, time.Millisecond)
		pid := r.out.PID()
		if pid == 0 {
			continue
		}
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
		kills++
	}
	r.waitAccounted(func() map[string]int { return lines(t, file) }, evs, nil)
	// More events after the stream: a plugin killed after its last batch
	// is found dead (and restarted) by the next Write.
	r.feed(tail)
	got := r.waitAccounted(func() map[string]int { return lines(t, file) }, all, nil)
	assert.GreaterOrEqual(t, kills, 2)
	assert.GreaterOrEqual(t, r.restarts(), float64(kills), "restarts are counted")
	assert.Contains(t, r.logs.String(), "plugin process failed; restarting it")
	dups := 0
	for _, c := range got {
		dups += c - 1
	}
	t.Logf("%d kills, %v restarts, %d duplicate lines", kills, r.restarts(), dups)
}

// healthRecorder is a pipeline.HealthReporter keeping the last report.
type healthRecorder struct {
	mu     sync.Mutex
	ready  bool
	reason error
	seen   []string // every unready reason, in order
}

func (h *healthRecorder) Ready() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ready, h.reason = true, nil
}

func (h *healthRecorder) Unready(reason error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ready, h.reason = false, reason
	h.seen = append(h.seen, reason.Error())
}

func (h *healthRecorder) state() (bool, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ready, append([]string(nil), h.seen...)
}
