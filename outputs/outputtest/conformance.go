package outputtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/event/truncate"
	"github.com/kubetrail/kubetrail/internal/syncbuf"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
	"github.com/kubetrail/kubetrail/outputs/internal/oversize"
	"github.com/kubetrail/kubetrail/pipeline"
	"github.com/kubetrail/kubetrail/pipeline/buffer"
)

// Harness adapts one output type to the conformance suite (Run). The suite
// drives the output through the real delivery loop (a pipeline with a disk
// buffer in t.TempDir() and a recording dead-letter writer) and checks what
// the real sink holds afterwards.
type Harness struct {
	// New builds an output (not started) that writes to a destination no
	// other call of New uses (a fresh topic, index, log stream), and the
	// function that reads that destination back. Required.
	New func(t *testing.T, o Options) (event.Output, ReadBack)
	// Ordered says that ReadBack returns the events of one auditID in the
	// order the sink acknowledged them (Kafka keyed by auditID, the HEC
	// receiver's file); the suite then checks that order. Sinks without an
	// order of their own leave it false: Elasticsearch, and CloudWatch Logs,
	// which orders by event timestamp, not by arrival.
	Ordered bool
	// Faults break the real sink in ways the output must classify; each is
	// run as a subtest. Optional.
	Faults []Fault
	// Events is how many corpus events the delivery tests send; default
	// 1000 (spread over the whole corpus, from 1 KB Metadata events to
	// 640 KB RequestResponse ones).
	Events int
	// Timeout bounds each wait for the sink; default 2 minutes.
	Timeout time.Duration
}

// Options are what the suite asks of an output in New.
type Options struct {
	// MaxEventBytes, when not 0, is the event size the output must treat as
	// its limit: an event of MaxEventBytes bytes or fewer must be accepted,
	// and one of more than MaxEventBytes must go through Oversize. The
	// output may reserve room for its own framing below it (the suite only
	// sends fitting events of at most MaxEventBytes/2 bytes). 0: the
	// output's default.
	MaxEventBytes int
	// Oversize is the policy for larger events; "" is the default.
	Oversize oversize.Policy
}

// ReadBack returns the raw JSON of every event the destination holds, with
// duplicates, in the order stored where the sink has one. The suite calls it
// repeatedly until what it waits for is there.
type ReadBack func(ctx context.Context) ([][]byte, error)

// Fault is one way to break the real sink.
type Fault struct {
	Name string
	// Break breaks the destination of an output New made; heal undoes it.
	Break func(t *testing.T) (heal func())
	// Unready says Write must return an event.Unready error while broken
	// (bad credentials, missing permission); otherwise a retryable error
	// (neither Permanent nor Unready).
	Unready bool
}

// Run runs the conformance suite against h.
func Run(t *testing.T, h Harness) {
	if h.Events == 0 {
		h.Events = 1000
	}
	if h.Timeout == 0 {
		h.Timeout = 2 * time.Minute
	}
	corpus := testcorpus.Load(t)
	sample := make([]event.Event, 0, h.Events)
	step := max(1, len(corpus)/h.Events)
	for i := 0; i < len(corpus) && len(sample) < h.Events; i += step {
		sample = append(sample, mustEvent(t, corpus[i].Raw))
	}
	s := &suite{h: h, sample: sample, corpus: corpus}
	t.Run("DeliversEveryEventInOrder", s.delivers)
	t.Run("CloseFlushes", s.closeFlushes)
	t.Run("AcknowledgedMeansStored", s.ackedMeansStored)
	t.Run("RetriesRetryable", s.retries)
	for _, f := range h.Faults {
		t.Run("Fault/"+f.Name, func(t *testing.T) { s.fault(t, f) })
	}
	t.Run("OversizeDeadLetter", s.oversizeDeadLetter)
	t.Run("OversizeTruncate", s.oversizeTruncate)
}

type suite struct {
	h      Harness
	sample []event.Event
	corpus []testcorpus.Line
}

func mustEvent(t *testing.T, raw []byte) event.Event {
	t.Helper()
	ev, err := event.New(bytes.Clone(raw))
	if err != nil {
		t.Fatalf("corpus event: %v", err)
	}
	return ev
}

func id(ev *event.Event) string { return string(ev.ID(nil)) }

func rawID(t *testing.T, raw []byte) string {
	t.Helper()
	ev, err := event.New(raw)
	if err != nil {
		t.Fatalf("the sink holds a malformed event: %v: %.200s", err, raw)
	}
	return id(&ev)
}

// delivers sends the sample through a pipeline and checks that the sink
// holds every event, byte-equivalent (as JSON), in order per auditID.
func (s *suite) delivers(t *testing.T) {
	out, read := s.h.New(t, Options{})
	rec := &recorder{out: out}
	env := newEnv(t, rec)
	stop := env.run()
	env.write(s.sample)
	got := s.waitFor(t, read, idsOf(s.sample))
	stop()
	s.checkHolds(t, got, s.sample)
	rec.checkAckedIn(t, got)
	if d := duplicates(t, got); d > 0 {
		t.Logf("%d duplicates in a run without failures", d)
	}
	if n := len(env.dlq.Entries()); n > 0 {
		t.Errorf("%d events dead-lettered, e.g. %s", n, env.dlq.Entries()[0].Reason)
	}
}

// closeFlushes calls the output directly: Start, one Write, Close; then the
// sink must hold the batch. Close right after Start must work too.
func (s *suite) closeFlushes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
	defer cancel()
	out, read := s.h.New(t, Options{})
	if err := out.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	evs := cloneEvents(s.sample[:min(50, len(s.sample))])
	if err := out.Write(ctx, &event.Batch{Events: evs, Bytes: rawBytes(evs)}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := out.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got := s.waitFor(t, read, idsOf(evs))
	s.checkHolds(t, got, evs)

	idle, _ := s.h.New(t, Options{})
	if err := idle.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := idle.Close(ctx); err != nil {
		t.Fatalf("Close without a Write: %v", err)
	}
}

// ackedMeansStored stops the pipeline abruptly (in-flight sends abandoned,
// as in a crash) after part of the sample was acknowledged, then reopens the
// buffer with a recording sink: every event is either in the real sink or
// handed out again, and everything the output acknowledged is in the sink.
func (s *suite) ackedMeansStored(t *testing.T) {
	out, read := s.h.New(t, Options{})
	rec := &recorder{out: out}
	env := newEnv(t, rec)
	readCtx, stopReading := context.WithCancel(context.Background())
	sendCtx, abandon := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- env.p.Run(readCtx, sendCtx) }()
	env.write(s.sample)
	deadline := time.Now().Add(s.h.Timeout)
	for rec.ackedCount() < len(s.sample)/3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	stopReading()
	abandon()
	if err := <-done; err != nil {
		t.Fatalf("pipeline: %v", err)
	}

	replay := &Sink{}
	env2 := env.reopen(replay)
	stop := env2.run()
	stored, _ := s.readAll(t, read)
	storedIDs := map[string]bool{}
	for _, raw := range stored {
		storedIDs[rawID(t, raw)] = true
	}
	var missing []string
	want := idsOf(s.sample)
	ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
	defer cancel()
	for {
		replayed := map[string]bool{}
		for _, raw := range replay.Events() {
			replayed[rawID(t, raw)] = true
		}
		missing = missing[:0]
		for _, w := range want {
			if !storedIDs[w] && !replayed[w] {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if len(missing) > 0 {
		t.Fatalf("%d events neither in the sink nor still buffered (lost), e.g. %s", len(missing), missing[0])
	}
	rec.checkAckedIn(t, stored)
	t.Logf("acknowledged before the stop: %d of %d; in the sink: %d; handed out again: %d",
		rec.ackedCount(), len(s.sample), len(stored), len(replay.Events()))
}

// retries fails the first Writes before they reach the output: the same
// batches are written again, and the sink ends up with everything.
func (s *suite) retries(t *testing.T) {
	out, read := s.h.New(t, Options{})
	rec := &recorder{out: out, inject: func(call int) error {
		if call < 3 {
			return fmt.Errorf("injected retryable failure %d", call)
		}
		return nil
	}}
	env := newEnv(t, rec)
	stop := env.run()
	evs := s.sample[:min(300, len(s.sample))]
	env.write(evs)
	got := s.waitFor(t, read, idsOf(evs))
	stop()
	s.checkHolds(t, got, evs)
	if len(env.dlq.Entries()) > 0 {
		t.Errorf("retryable failures dead-lettered %d events", len(env.dlq.Entries()))
	}
}

// fault breaks the sink while events flow: Write must classify the failure,
// nothing is dead-lettered, and after heal every event arrives.
func (s *suite) fault(t *testing.T, f Fault) {
	out, read := s.h.New(t, Options{})
	rec := &recorder{out: out}
	env := newEnv(t, rec)
	stop := env.run()
	evs := s.sample[:min(200, len(s.sample))]
	first, rest := evs[:len(evs)/2], evs[len(evs)/2:]
	env.write(first)
	s.waitFor(t, read, idsOf(first))
	rec.resetErrors()
	heal := f.Break(t)
	healed := false
	defer func() {
		if !healed {
			heal()
		}
	}()
	env.write(rest)
	ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
	defer cancel()
	var failure error
	for failure == nil && ctx.Err() == nil {
		failure = rec.firstError()
		time.Sleep(10 * time.Millisecond)
	}
	if failure == nil {
		t.Fatal("no Write failed while the sink was broken")
	}
	switch {
	case event.IsPermanent(failure):
		t.Errorf("broken sink: Write returned a permanent error (events would be dead-lettered): %v", failure)
	case f.Unready && !event.IsUnready(failure):
		t.Errorf("broken sink: want an event.Unready error, got %v", failure)
	case !f.Unready && event.IsUnready(failure):
		t.Errorf("broken sink: want a plain retryable error, got Unready: %v", failure)
	}
	heal()
	healed = true
	got := s.waitFor(t, read, idsOf(evs))
	stop()
	s.checkHolds(t, got, evs)
	if n := len(env.dlq.Entries()); n > 0 {
		t.Errorf("%d events dead-lettered while the sink was broken", n)
	}
	t.Logf("first failure: %v; duplicates after recovery: %d", failure, duplicates(t, got))
}

// oversizeLimit is the MaxEventBytes of the oversize tests: 23 corpus events
// are larger (5 KB to 640 KB, all RequestResponse with objects that
// truncation drops, leaving about 1 KB).
const oversizeLimit = 4096

// oversizeSet returns fitting corpus events (at most half the limit), the
// corpus events over the limit, and an event over the limit even truncated,
// interleaved so batches mix them.
func (s *suite) oversizeSet(t *testing.T) (all, fit, big []event.Event, huge event.Event) {
	for _, l := range s.corpus {
		switch {
		case len(l.Raw) > oversizeLimit:
			big = append(big, mustEvent(t, l.Raw))
		case len(l.Raw) <= oversizeLimit/2 && len(fit) < 200:
			fit = append(fit, mustEvent(t, l.Raw))
		}
	}
	huge = mustEvent(t, bytes.Replace([]byte(testcorpus.MetadataEvent), []byte(`"userAgent":"`),
		[]byte(`"userAgent":"`+strings.Repeat("x", 2*oversizeLimit)), 1))
	for i, f := range fit {
		all = append(all, f)
		if i%8 == 0 && i/8 < len(big) {
			all = append(all, big[i/8])
		}
		if i == 100 {
			all = append(all, huge)
		}
	}
	if len(big) < 10 {
		t.Fatalf("only %d corpus events over %d bytes", len(big), oversizeLimit)
	}
	return all, fit, big, huge
}

// oversizeDeadLetter: events over the limit are dead-lettered untouched with
// a reason, by per-event verdicts, while the events beside them arrive.
func (s *suite) oversizeDeadLetter(t *testing.T) {
	all, fit, big, huge := s.oversizeSet(t)
	out, read := s.h.New(t, Options{MaxEventBytes: oversizeLimit, Oversize: oversize.DeadLetter})
	rec := &recorder{out: out}
	env := newEnv(t, rec)
	stop := env.run()
	env.write(all)
	got := s.waitFor(t, read, idsOf(fit))
	want := append(append([]event.Event(nil), big...), huge)
	s.waitDeadLetters(t, env, len(want))
	stop()
	s.checkHolds(t, got, fit)
	for _, raw := range got {
		if len(raw) > oversizeLimit {
			t.Errorf("the sink holds an event of %d bytes over the limit", len(raw))
		}
	}
	checkDeadLettered(t, env.dlq.Entries(), want)
	if !rec.sawPartial() {
		t.Errorf("no Write returned a *event.PartialError although batches mixed fitting and oversized events")
	}
}

// oversizeTruncate: events over the limit arrive truncated as kube-apiserver
// does; one still over the limit is dead-lettered.
func (s *suite) oversizeTruncate(t *testing.T) {
	all, fit, big, huge := s.oversizeSet(t)
	out, read := s.h.New(t, Options{MaxEventBytes: oversizeLimit, Oversize: oversize.Truncate})
	env := newEnv(t, &recorder{out: out})
	stop := env.run()
	env.write(all)
	got := s.waitFor(t, read, append(idsOf(fit), idsOf(big)...))
	s.waitDeadLetters(t, env, 1)
	stop()
	s.checkHolds(t, got, fit)
	truncated := make([]event.Event, len(big))
	for i, b := range big {
		raw, err := truncate.Strip(b.Raw)
		if err != nil {
			t.Fatal(err)
		}
		truncated[i] = mustEvent(t, raw)
	}
	s.checkHolds(t, got, truncated)
	checkDeadLettered(t, env.dlq.Entries(), []event.Event{huge})
}

func (s *suite) waitDeadLetters(t *testing.T, env *env, n int) {
	t.Helper()
	deadline := time.Now().Add(s.h.Timeout)
	for len(env.dlq.Entries()) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

func checkDeadLettered(t *testing.T, got []pipeline.DeadLetter, want []event.Event) {
	t.Helper()
	byID := map[string]pipeline.DeadLetter{}
	for _, d := range got {
		byID[rawID(t, d.Raw)] = d
	}
	for i := range want {
		d, ok := byID[id(&want[i])]
		switch {
		case !ok:
			t.Errorf("%s (%d bytes) was not dead-lettered", id(&want[i]), len(want[i].Raw))
		case !bytes.Equal(d.Raw, want[i].Raw):
			t.Errorf("%s was dead-lettered changed (%d bytes, sent %d)", id(&want[i]), len(d.Raw), len(want[i].Raw))
		case d.Reason == "":
			t.Errorf("%s was dead-lettered without a reason", id(&want[i]))
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d events dead-lettered, want %d", len(got), len(want))
	}
}

// readAll reads the destination once.
func (s *suite) readAll(t *testing.T, read ReadBack) ([][]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
	defer cancel()
	for {
		got, err := read(ctx)
		if err == nil {
			return got, nil
		}
		if ctx.Err() != nil {
			t.Fatalf("read back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitFor reads the destination until it holds every id in want, and
// returns what it holds.
func (s *suite) waitFor(t *testing.T, read ReadBack, want []string) [][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
	defer cancel()
	var missing []string
	for {
		got, err := read(ctx)
		if err != nil {
			// Sinks have transient read errors too (a leader moving):
			// keep trying until the timeout.
			if ctx.Err() != nil {
				t.Fatalf("read back: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		have := map[string]bool{}
		for _, raw := range got {
			have[rawID(t, raw)] = true
		}
		missing = missing[:0]
		for _, w := range want {
			if !have[w] {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			return got
		}
		if ctx.Err() != nil {
			t.Fatalf("after %s the sink lacks %d of %d events, e.g. %s", s.h.Timeout, len(missing), len(want), missing[0])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkHolds checks that every event of want is in got as equal JSON and,
// for an ordered sink, that each auditID's events come in want's order.
func (s *suite) checkHolds(t *testing.T, got [][]byte, want []event.Event) {
	t.Helper()
	first := map[string][]byte{}
	var order []string
	for _, raw := range got {
		k := rawID(t, raw)
		if _, ok := first[k]; !ok {
			first[k] = raw
			order = append(order, k)
		}
	}
	bad := 0
	for i := range want {
		raw, ok := first[id(&want[i])]
		if !ok {
			t.Errorf("missing %s", id(&want[i]))
			continue
		}
		if !jsonEqual(raw, want[i].Raw) && bad < 3 {
			bad++
			t.Errorf("%s differs:\n got %.300s\nwant %.300s", id(&want[i]), raw, want[i].Raw)
		}
	}
	if !s.h.Ordered {
		return
	}
	pos := map[string]int{}
	for i, k := range order {
		pos[k] = i
	}
	last := map[string]int{} // auditID -> position of its previous stage
	for i := range want {
		p, ok := pos[id(&want[i])]
		if !ok {
			continue
		}
		a := string(want[i].AuditID)
		if prev, seen := last[a]; seen && p < prev {
			t.Errorf("auditID %s: stage %s stored before the stage sent ahead of it", a, want[i].Stage)
		}
		last[a] = p
	}
}

func jsonEqual(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func duplicates(t *testing.T, got [][]byte) int {
	seen := map[string]bool{}
	d := 0
	for _, raw := range got {
		k := rawID(t, raw)
		if seen[k] {
			d++
		}
		seen[k] = true
	}
	return d
}

func idsOf(evs []event.Event) []string {
	out := make([]string, len(evs))
	for i := range evs {
		out[i] = id(&evs[i])
	}
	return out
}

func cloneEvents(evs []event.Event) []event.Event {
	out := make([]event.Event, len(evs))
	for i := range evs {
		out[i], _ = event.New(bytes.Clone(evs[i].Raw))
	}
	return out
}

func rawBytes(evs []event.Event) int {
	n := 0
	for i := range evs {
		n += len(evs[i].Raw)
	}
	return n
}

// recorder wraps the output under test: it can fail Writes before they reach
// the output, and records what the output acknowledged and returned.
type recorder struct {
	out    event.Output
	inject func(call int) error

	mu      sync.Mutex
	calls   int
	acked   map[string]bool
	errs    []error
	partial bool
}

func (r *recorder) Start(ctx context.Context) error { return r.out.Start(ctx) }
func (r *recorder) Close(ctx context.Context) error { return r.out.Close(ctx) }

func (r *recorder) Write(ctx context.Context, b *event.Batch) error {
	r.mu.Lock()
	call := r.calls
	r.calls++
	r.mu.Unlock()
	if r.inject != nil {
		if err := r.inject(call); err != nil {
			return err
		}
	}
	err := r.out.Write(ctx, b)
	var pe *event.PartialError
	isPartial := errors.As(err, &pe)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.acked == nil {
		r.acked = map[string]bool{}
	}
	if err != nil {
		r.errs = append(r.errs, err)
	}
	if isPartial {
		r.partial = true
	}
	if err == nil || isPartial {
		for i := range b.Events {
			if pe == nil || pe.Failed[i] == nil {
				r.acked[id(&b.Events[i])] = true
			}
		}
	}
	return err
}

func (r *recorder) ackedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.acked)
}

func (r *recorder) firstError() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) == 0 {
		return nil
	}
	return r.errs[0]
}

func (r *recorder) resetErrors() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = nil
}

func (r *recorder) sawPartial() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.partial
}

// checkAckedIn checks that every event the output acknowledged is stored.
func (r *recorder) checkAckedIn(t *testing.T, stored [][]byte) {
	t.Helper()
	have := map[string]bool{}
	for _, raw := range stored {
		have[rawID(t, raw)] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for k := range r.acked {
		if !have[k] {
			n++
			if n <= 3 {
				t.Errorf("Write acknowledged %s but the sink does not hold it", k)
			}
		}
	}
}

// env is one pipeline over a buffer in a temporary directory.
type env struct {
	t    *testing.T
	dir  string
	dlq  *DeadLetters
	logs *syncbuf.Buffer
	p    *pipeline.Pipeline
}

func newEnv(t *testing.T, out event.Output) *env {
	e := &env{t: t, dir: t.TempDir(), dlq: &DeadLetters{}, logs: &syncbuf.Buffer{}}
	e.open(out)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pipeline log:\n%s", e.logs.String())
		}
	})
	return e
}

func (e *env) reopen(out event.Output) *env {
	e2 := &env{t: e.t, dir: e.dir, dlq: e.dlq, logs: e.logs}
	e2.open(out)
	return e2
}

func (e *env) open(out event.Output) {
	p, err := pipeline.New(pipeline.Config{
		Name: "conformance",
		Outputs: []pipeline.NamedOutput{{Name: "out", Output: out, Delivery: pipeline.DeliveryConfig{
			MaxEvents: 100, MaxBytes: 1 << 20, MaxWait: 20 * time.Millisecond, MaxInFlight: 1,
			Retry: pipeline.RetryConfig{InitialInterval: 20 * time.Millisecond, MaxInterval: 500 * time.Millisecond, Multiplier: 2, Jitter: 0.2},
		}}},
		Buffer:     buffer.Options{Dir: e.dir, Fsync: buffer.FsyncNever},
		DeadLetter: e.dlq,
		Logger:     slog.New(slog.NewTextHandler(e.logs, nil)),
		Metrics:    prometheus.NewRegistry(),
	})
	if err != nil {
		e.t.Fatalf("pipeline: %v", err)
	}
	e.p = p
}

// run runs the pipeline until stop: no new batches, then up to 10 s for
// the batches in flight.
func (e *env) run() (stop func()) {
	readCtx, stopReading := context.WithCancel(context.Background())
	sendCtx, abandon := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.p.Run(readCtx, sendCtx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			stopReading()
			grace := time.AfterFunc(10*time.Second, abandon)
			defer grace.Stop()
			if err := <-done; err != nil {
				e.t.Errorf("pipeline: %v", err)
			}
			abandon()
		})
	}
	e.t.Cleanup(stop)
	return stop
}

// write appends evs (copies) to the buffer, 100 at a time, and waits until
// they are durable.
func (e *env) write(evs []event.Event) {
	e.t.Helper()
	var wg sync.WaitGroup
	for i := 0; i < len(evs); i += 100 {
		chunk := cloneEvents(evs[i:min(i+100, len(evs))])
		wg.Add(1)
		if err := e.p.Write(context.Background(), chunk, wg.Done); err != nil {
			e.t.Fatalf("pipeline write: %v", err)
		}
	}
	wg.Wait()
}
