package auditlog

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs/outputtest"
	"github.com/kubetrail/kubetrail/pipeline"
)

// harness is one test's log directory, state directory and input runs.
type harness struct {
	t     *testing.T
	dir   string // the audit log directory (not created)
	path  string // the active file
	state string
	logs  *logCapture
	dl    *outputtest.DeadLetters
	reg   *prometheus.Registry
	hook  func(*tailer)
	tune  func(*Input) // applied to each input before it runs
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	root := t.TempDir()
	h := &harness{
		t: t, dir: filepath.Join(root, "audit"), state: filepath.Join(root, "state"),
		logs: &logCapture{}, dl: &outputtest.DeadLetters{},
	}
	h.path = filepath.Join(h.dir, "audit.log")
	t.Cleanup(func() {
		if t.Failed() {
			for _, r := range h.logs.all() {
				t.Log(r)
			}
		}
	})
	return h
}

func (h *harness) mkdir() {
	h.t.Helper()
	require.NoError(h.t, os.MkdirAll(h.dir, 0o755))
}

func (h *harness) ckptPath() string {
	return filepath.Join(h.state, "inputs", "apiserver", "checkpoint.json")
}

// testConfig is the default config with a quick poll.
func (h *harness) config(mods ...func(*Config)) *Config {
	c := NewConfig()
	c.Path = h.path
	c.PollInterval = config.Duration(20 * time.Millisecond)
	for _, m := range mods {
		m(c)
	}
	return c
}

// run is one running input.
type run struct {
	in     *Input
	sink   pipeline.EventSink
	cancel context.CancelFunc
	done   chan error
	reg    *prometheus.Registry
}

// start builds an input (fresh metrics registry) and runs it.
func (h *harness) start(sink pipeline.EventSink, mods ...func(*Config)) *run {
	h.t.Helper()
	h.reg = prometheus.NewRegistry()
	set := pipeline.Settings{
		Name: "apiserver", StateDir: h.state,
		Logger:  slog.New(h.logs),
		Metrics: h.reg, DeadLetter: h.dl,
	}
	in, err := New(h.config(mods...), set)
	require.NoError(h.t, err)
	in.ckptEvery = 10 * time.Millisecond
	ready := make(chan struct{})
	in.onStarted = func(t *tailer) {
		if h.hook != nil {
			h.hook(t)
		}
		close(ready)
	}
	if h.tune != nil {
		h.tune(in)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{in: in, sink: sink, cancel: cancel, done: make(chan error, 1), reg: h.reg}
	_, dirErr := os.Stat(h.dir)
	go func() { r.done <- in.Run(ctx, sink) }()
	h.t.Cleanup(func() { cancel(); <-r.done })
	if dirErr == nil {
		// Started (first checkpoint written): what is written from now on
		// is not history.
		select {
		case <-ready:
		case <-time.After(10 * time.Second):
			h.t.Fatal("input did not start")
		}
	}
	return r
}

// stop cancels the run and returns what Run returned.
func (r *run) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
		return nil
	}
}

func (r *run) metric(name string, labels ...string) float64 {
	mfs, err := r.reg.Gather()
	if err != nil {
		panic(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			lp := map[string]string{}
			for _, l := range m.GetLabel() {
				lp[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if lp[labels[i]] != labels[i+1] {
					continue next
				}
			}
			if m.Counter != nil {
				sum += m.GetCounter().GetValue()
			} else {
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// recSink records copies of the events it is given. ack decides, per batch
// (0-based), whether durable is called at once; nil acks everything. Once a
// batch is not acked, no later batch may be (callbacks come in order).
type recSink struct {
	mu      sync.Mutex
	raws    [][]byte
	batches []int
	ack     func(batch int) bool
	delay   time.Duration
	// ackAfter delays durable, as a buffer's fsync interval does.
	ackAfter time.Duration
	held     bool
}

func (s *recSink) Write(ctx context.Context, events []event.Event, durable func()) error {
	if s.delay > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(s.delay):
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	s.mu.Lock()
	for _, e := range events {
		s.raws = append(s.raws, bytes.Clone(e.Raw))
	}
	n := len(s.batches)
	s.batches = append(s.batches, len(events))
	ok := !s.held && (s.ack == nil || s.ack(n))
	if !ok {
		s.held = true
	}
	s.mu.Unlock()
	switch {
	case ok && s.ackAfter > 0:
		time.AfterFunc(s.ackAfter, durable) // in order: same delay, FIFO timers
	case ok:
		durable()
	}
	return nil
}

func (s *recSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.raws)
}

func (s *recSink) all() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.raws...)
}

// acked is how many events were in acknowledged batches.
func (s *recSink) acked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for i, b := range s.batches {
		if s.ack != nil && !s.ack(i) {
			break
		}
		n += b
	}
	return n
}

// logCapture is a slog.Handler that keeps records as text.
type logCapture struct {
	mu    sync.Mutex
	recs  []string
	level []slog.Level
}

func (c *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCapture) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *logCapture) WithGroup(string) slog.Handler            { return c }
func (c *logCapture) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", r.Time.Format("15:04:05.000"), r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	c.mu.Lock()
	c.recs = append(c.recs, b.String())
	c.level = append(c.level, r.Level)
	c.mu.Unlock()
	return nil
}

func (c *logCapture) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.recs...)
}

// find returns the records at level lvl whose text contains every part.
func (c *logCapture) find(lvl slog.Level, parts ...string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
next:
	for i, r := range c.recs {
		if c.level[i] != lvl {
			continue
		}
		for _, p := range parts {
			if !strings.Contains(r, p) {
				continue next
			}
		}
		out = append(out, r)
	}
	return out
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			if os.Getenv("AUDITLOG_TEST_STACKS") != "" {
				buf := make([]byte, 1<<20)
				t.Logf("goroutines:\n%s", buf[:runtime.Stack(buf, true)])
			}
			t.Fatalf("timed out after %s: "+msg, append([]any{timeout}, args...)...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// templates are real audit events from the corpus (testdata/lines.ndjson).
func templates(t testing.TB) [][]byte {
	t.Helper()
	b, err := os.ReadFile("testdata/lines.ndjson")
	require.NoError(t, err)
	return bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
}

// genLines returns n real events whose auditIDs are rewritten to be unique
// (same length: sizes are those of the corpus), without newlines.
func genLines(t testing.TB, n, salt int) [][]byte {
	t.Helper()
	tpl := templates(t)
	out := make([][]byte, n)
	key := []byte(`"auditID":"`)
	for i := range out {
		l := bytes.Clone(tpl[i%len(tpl)])
		j := bytes.Index(l, key) + len(key)
		copy(l[j:j+36], fmt.Sprintf("%08x-0000-4000-8000-%012x", salt, i))
		out[i] = l
	}
	return out
}

// writeLines writes each line (plus newline) with one Write call.
func writeLines(t testing.TB, w interface{ Write([]byte) (int, error) }, lines [][]byte) {
	t.Helper()
	for _, l := range lines {
		_, err := w.Write(append(l[:len(l):len(l)], '\n'))
		require.NoError(t, err)
	}
}

// logger is a lumberjack logger as kube-apiserver configures it, big
// enough never to rotate by itself: tests rotate explicitly.
func (h *harness) logger(compress bool, maxBackups int) *lumberjack.Logger {
	l := &lumberjack.Logger{Filename: h.path, MaxSize: 100, MaxBackups: maxBackups, Compress: compress}
	h.t.Cleanup(func() {
		l.Close()
		if compress {
			h.millDone()
		}
	})
	return l
}

// millDone waits for lumberjack's background compression to finish, so the
// test's directory can be removed.
func (h *harness) millDone() {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		plain, _ := filepath.Glob(filepath.Join(h.dir, "audit-*.log"))
		gz, _ := filepath.Glob(filepath.Join(h.dir, "audit-*.log.gz"))
		if len(plain) == 0 || len(gz) == 0 {
			time.Sleep(20 * time.Millisecond)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rotate rotates after making sure the backup gets a stamp (milliseconds)
// of its own: lumberjack would otherwise rename over the previous backup.
func rotate(t testing.TB, l *lumberjack.Logger) {
	t.Helper()
	time.Sleep(2 * time.Millisecond)
	require.NoError(t, l.Rotate())
}

// requireLines checks that got is exactly want, in order.
func requireLines(t *testing.T, want, got [][]byte) {
	t.Helper()
	for i := 0; i < len(want) && i < len(got); i++ {
		if !bytes.Equal(want[i], got[i]) {
			t.Fatalf("event %d differs (of %d wanted, %d got):\nwant %.120s\ngot  %.120s", i, len(want), len(got), want[i], got[i])
		}
	}
	require.Equal(t, len(want), len(got), "number of events")
}

// settle waits a few poll intervals so that extra (duplicate) events would
// have arrived.
func settle() { time.Sleep(150 * time.Millisecond) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func newRegistry() *prometheus.Registry { return prometheus.NewRegistry() }
