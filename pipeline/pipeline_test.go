package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/event/auditfields"
	"github.com/kubetrail/kubetrail/outputs/outputtest"
	"github.com/kubetrail/kubetrail/pipeline"
	"github.com/kubetrail/kubetrail/pipeline/buffer"
)

// fastRetry retries quickly so tests of failure and recovery stay short.
var fastRetry = pipeline.RetryConfig{InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond, Multiplier: 2}

type harness struct {
	t    *testing.T
	dir  string
	dlq  *outputtest.DeadLetters
	logs *bytes.Buffer
}

func newHarness(t *testing.T) *harness {
	return &harness{t: t, dir: t.TempDir(), dlq: &outputtest.DeadLetters{}, logs: &bytes.Buffer{}}
}

func (h *harness) bufferOptions(name string) buffer.Options {
	return buffer.Options{Dir: h.dir + "/" + name, Fsync: buffer.FsyncPolicy("never")}
}

func (h *harness) logger() *slog.Logger { return slog.New(slog.NewTextHandler(h.logs, nil)) }

func (h *harness) registry() *prometheus.Registry { return prometheus.NewRegistry() }

// open builds a pipeline over the harness's buffer directory.
func (h *harness) open(name string, outs []pipeline.NamedOutput, procs ...pipeline.Processor) *pipeline.Pipeline {
	h.t.Helper()
	var named []pipeline.NamedProcessor
	for i, proc := range procs {
		named = append(named, pipeline.NamedProcessor{Name: fmt.Sprintf("p%d", i), Processor: proc})
	}
	p, err := pipeline.New(pipeline.Config{
		Name:       name,
		Processors: named,
		Outputs:    outs,
		Buffer:     buffer.Options{Dir: h.dir + "/" + name, Fsync: buffer.FsyncPolicy("never")},
		DeadLetter: h.dlq,
		Logger:     slog.New(slog.NewTextHandler(h.logs, nil)),
		Metrics:    prometheus.NewRegistry(),
	})
	require.NoError(h.t, err)
	return p
}

// running runs p until the returned stop is called. stop shuts down as the
// agent does: no new batches, then a short grace period for the ones in
// flight (a dead sink's batch is abandoned and stays buffered).
func running(t *testing.T, p *pipeline.Pipeline) (stop func()) {
	readCtx, stopReading := context.WithCancel(context.Background())
	sendCtx, abandon := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(readCtx, sendCtx) }()
	return func() {
		stopReading()
		grace := time.AfterFunc(200*time.Millisecond, abandon)
		defer grace.Stop()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("pipeline did not stop within 10s of the grace period")
		}
		abandon()
	}
}

func testEvent(i int, extra string) event.Event {
	raw := fmt.Sprintf(`{"kind":"Event","level":"Metadata","auditID":"id-%05d","stage":"ResponseComplete","verb":"get"%s}`, i, extra)
	var ev event.Event
	ev.Raw = []byte(raw)
	if err := auditfields.Extract(ev.Raw, &ev.Meta); err != nil {
		panic(err)
	}
	return ev
}

// write sends n events numbered from first in batches of 100 and waits until
// the buffer reported all of them durable.
func write(t *testing.T, sink pipeline.EventSink, first, n int, extra func(i int) string) {
	t.Helper()
	var durable atomic.Int64
	batches := 0
	for i := first; i < first+n; i += 100 {
		var evs []event.Event
		for j := i; j < min(i+100, first+n); j++ {
			x := ""
			if extra != nil {
				x = extra(j)
			}
			evs = append(evs, testEvent(j, x))
		}
		require.NoError(t, sink.Write(context.Background(), evs, func() { durable.Add(1) }))
		batches++
	}
	require.Eventually(t, func() bool { return durable.Load() == int64(batches) }, 5*time.Second, time.Millisecond)
}

func ids(events [][]byte) []string {
	out := make([]string, len(events))
	for i, raw := range events {
		var m event.Meta
		if err := auditfields.Extract(raw, &m); err != nil {
			panic(err)
		}
		out[i] = string(m.AuditID)
	}
	return out
}

func want(first, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("id-%05d", first+i)
	}
	return out
}

func waitFor(t *testing.T, s *outputtest.Sink, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.True(t, s.WaitFor(ctx, n), "sink got %d of %d events", len(s.Events()), n)
}

func TestSinkDownThenUpGetsEveryEventInOrder(t *testing.T) {
	h := newHarness(t)
	var up atomic.Bool
	sink := &outputtest.Sink{Fail: func(call int, _ *event.Batch) error {
		if call >= 30 {
			up.Store(true)
		}
		if !up.Load() {
			return errors.New("connection refused")
		}
		return nil
	}}
	p := h.open("audit", []pipeline.NamedOutput{{Name: "siem", Output: sink,
		Delivery: pipeline.DeliveryConfig{MaxEvents: 50, MaxWait: time.Millisecond, Retry: fastRetry}}})
	stop := running(t, p)
	write(t, p, 0, 2000, nil)
	waitFor(t, sink, 2000)
	stop()
	assert.Equal(t, want(0, 2000), ids(sink.Events()), "every event exactly once, in order")
	assert.GreaterOrEqual(t, sink.Calls(), 30+2000/50)
	assert.Contains(t, h.logs.String(), "connection refused")
}

func TestDeadOutputDoesNotStallAnother(t *testing.T) {
	h := newHarness(t)
	dead := &outputtest.Sink{Fail: func(int, *event.Batch) error { return errors.New("503 service unavailable") }}
	live := &outputtest.Sink{}
	p := h.open("audit", []pipeline.NamedOutput{
		{Name: "dead", Output: dead, Delivery: pipeline.DeliveryConfig{Retry: fastRetry}},
		{Name: "live", Output: live, Delivery: pipeline.DeliveryConfig{MaxWait: time.Millisecond}},
	})
	stop := running(t, p)
	write(t, p, 0, 1500, nil)
	waitFor(t, live, 1500)
	stop()
	assert.Equal(t, want(0, 1500), ids(live.Events()))
	assert.Empty(t, dead.Events())
	assert.Greater(t, dead.Calls(), 1, "the dead output kept retrying")

	// The dead output's backlog survived: on restart with a working sink it
	// gets everything, while the live one gets nothing twice.
	revived, live2 := &outputtest.Sink{}, &outputtest.Sink{}
	p = h.open("audit", []pipeline.NamedOutput{
		{Name: "dead", Output: revived, Delivery: pipeline.DeliveryConfig{MaxWait: time.Millisecond}},
		{Name: "live", Output: live2},
	})
	stop = running(t, p)
	waitFor(t, revived, 1500)
	stop()
	assert.Equal(t, want(0, 1500), ids(revived.Events()))
	assert.Empty(t, live2.Events())
}

func TestPermanentRejectionsGoToDeadLetter(t *testing.T) {
	h := newHarness(t)
	var seen sync.Map // flaky events fail on their first attempt only
	sink := &outputtest.Sink{Fail: func(_ int, b *event.Batch) error {
		failed := map[int]error{}
		for i, ev := range b.Events {
			switch {
			case bytes.Contains(ev.Raw, []byte(`"poison"`)):
				failed[i] = event.Permanent(errors.New("mapper_parsing_exception"))
			case bytes.Contains(ev.Raw, []byte(`"flaky"`)):
				if _, again := seen.LoadOrStore(string(ev.AuditID), true); !again {
					failed[i] = errors.New("es_rejected_execution_exception") // retryable
				}
			}
		}
		if len(failed) == 0 {
			return nil
		}
		return &event.PartialError{Failed: failed}
	}}
	p := h.open("audit", []pipeline.NamedOutput{{Name: "es", Output: sink,
		Delivery: pipeline.DeliveryConfig{MaxEvents: 100, MaxWait: time.Millisecond, Retry: fastRetry}}})
	stop := running(t, p)
	write(t, p, 0, 300, func(i int) string {
		switch {
		case i%50 == 7:
			return `,"tag":"poison"`
		case i%50 == 9:
			return `,"tag":"flaky"`
		}
		return ""
	})
	waitFor(t, sink, 300-6)
	stop()

	got := ids(sink.Events())
	assert.Len(t, got, 294)
	assert.NotContains(t, got, "id-00007")
	assert.Contains(t, got, "id-00009")
	dl := h.dlq.Entries()
	require.Len(t, dl, 6)
	for _, e := range dl {
		assert.Equal(t, "output/es", e.Component)
		assert.Contains(t, e.Reason, "mapper_parsing_exception")
		assert.Contains(t, string(e.Raw), `"poison"`)
	}
}

func TestWholeBatchPermanentAndRetryDeadline(t *testing.T) {
	h := newHarness(t)
	perm := &outputtest.Sink{Fail: func(int, *event.Batch) error {
		return event.Permanent(errors.New("401 invalid token"))
	}}
	stuck := &outputtest.Sink{Fail: func(int, *event.Batch) error { return errors.New("timeout") }}
	retry := fastRetry
	retry.MaxElapsed = 20 * time.Millisecond
	p := h.open("audit", []pipeline.NamedOutput{
		{Name: "perm", Output: perm, Delivery: pipeline.DeliveryConfig{MaxWait: time.Millisecond}},
		{Name: "stuck", Output: stuck, Delivery: pipeline.DeliveryConfig{MaxWait: time.Millisecond, Retry: retry}},
	})
	stop := running(t, p)
	write(t, p, 0, 10, nil)
	require.Eventually(t, func() bool { return len(h.dlq.Entries()) == 20 }, 10*time.Second, time.Millisecond)
	stop()
	byComponent := map[string]int{}
	for _, e := range h.dlq.Entries() {
		byComponent[e.Component]++
		if e.Component == "output/stuck" {
			assert.Contains(t, e.Reason, "gave up after")
			assert.Contains(t, e.Reason, "timeout")
		}
	}
	assert.Equal(t, map[string]int{"output/perm": 10, "output/stuck": 10}, byComponent)
}

func TestInFlightBatchesCommitInOrder(t *testing.T) {
	h := newHarness(t)
	var calls atomic.Int64
	sink := &outputtest.Sink{Fail: func(call int, b *event.Batch) error {
		calls.Add(1)
		time.Sleep(time.Duration(call%4) * time.Millisecond) // later batches often finish first
		if call%7 == 3 {
			return errors.New("transient")
		}
		return nil
	}}
	p := h.open("audit", []pipeline.NamedOutput{{Name: "k", Output: sink,
		Delivery: pipeline.DeliveryConfig{MaxEvents: 10, MaxInFlight: 4, MaxWait: time.Millisecond, Retry: fastRetry}}})
	stop := running(t, p)
	write(t, p, 0, 1000, nil)
	waitFor(t, sink, 1000)
	stop()
	got := ids(sink.Events())
	assert.ElementsMatch(t, want(0, 1000), got, "every event exactly once")

	// Everything was committed: a restart delivers nothing again.
	again := &outputtest.Sink{}
	p = h.open("audit", []pipeline.NamedOutput{{Name: "k", Output: again}})
	stop = running(t, p)
	write(t, p, 1000, 1, nil)
	waitFor(t, again, 1)
	stop()
	assert.Equal(t, []string{"id-01000"}, ids(again.Events()))
}

func dropVerb(verb string) pipeline.Processor {
	return pipeline.ProcessFunc(func(_ context.Context, evs *pipeline.Events) error {
		for i := range evs.Len() {
			if ev := evs.Event(i); string(ev.Verb) == verb {
				evs.Drop(i)
			}
		}
		return nil
	})
}

func TestFanoutToPipelinesWithProcessors(t *testing.T) {
	h := newHarness(t)
	all, some := &outputtest.Sink{}, &outputtest.Sink{}
	pAll := h.open("all", []pipeline.NamedOutput{{Name: "a", Output: all, Delivery: pipeline.DeliveryConfig{MaxWait: time.Millisecond}}})
	pNone := h.open("none", []pipeline.NamedOutput{{Name: "b", Output: some}}, dropVerb("get"))
	stopAll, stopNone := running(t, pAll), running(t, pNone)
	sink := pipeline.Fanout(pAll, pNone)

	var durable atomic.Int32
	evs := []event.Event{testEvent(1, ""), testEvent(2, "")}
	require.NoError(t, sink.Write(context.Background(), evs, func() { durable.Add(1) }))
	require.Eventually(t, func() bool { return durable.Load() == 1 }, 5*time.Second, time.Millisecond,
		"durable fires once, after both buffers, even when one pipeline kept nothing")
	assert.Equal(t, "id-00001", string(evs[0].AuditID), "the caller's events are not modified by processors")
	waitFor(t, all, 2)
	stopAll()
	stopNone()
	assert.Equal(t, want(1, 2), ids(all.Events()))
	assert.Empty(t, some.Events())
	assert.Equal(t, int32(1), durable.Load())
}

func TestShutdownAbandonsInFlightSendAndKeepsItBuffered(t *testing.T) {
	h := newHarness(t)
	sending := make(chan struct{}, 1)
	hang := event.WriteFunc(func(ctx context.Context, _ *event.Batch) error {
		select {
		case sending <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return ctx.Err()
	})
	p := h.open("audit", []pipeline.NamedOutput{{Name: "o", Output: hang, Delivery: pipeline.DeliveryConfig{MaxWait: time.Millisecond}}})
	readCtx, stopReading := context.WithCancel(context.Background())
	sendCtx, abandon := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(readCtx, sendCtx) }()
	write(t, p, 0, 5, nil)
	<-sending
	stopReading()
	select {
	case <-done:
		t.Fatal("Run returned while a send was in flight and the grace period not over")
	case <-time.After(50 * time.Millisecond):
	}
	abandon()
	require.NoError(t, <-done)

	sink := &outputtest.Sink{}
	p = h.open("audit", []pipeline.NamedOutput{{Name: "o", Output: sink, Delivery: pipeline.DeliveryConfig{MaxWait: time.Millisecond}}})
	stop := running(t, p)
	waitFor(t, sink, 5)
	stop()
	assert.Equal(t, want(0, 5), ids(sink.Events()))
	assert.False(t, strings.Contains(h.logs.String(), "level=ERROR"), h.logs.String())
}

func TestEventTooLargeForBufferIsDeadLettered(t *testing.T) {
	h := newHarness(t)
	sink := &outputtest.Sink{}
	p, err := pipeline.New(pipeline.Config{
		Name:       "small",
		Outputs:    []pipeline.NamedOutput{{Name: "o", Output: sink, Delivery: pipeline.DeliveryConfig{MaxWait: time.Millisecond}}},
		Buffer:     buffer.Options{Dir: h.dir, MaxBytes: 256 << 10, Fsync: buffer.FsyncPolicy("never")},
		DeadLetter: h.dlq,
		Logger:     slog.New(slog.NewTextHandler(h.logs, nil)),
		Metrics:    prometheus.NewRegistry(),
	})
	require.NoError(t, err)
	stop := running(t, p)
	big := `,"requestObject":"` + strings.Repeat("x", 300<<10) + `"`
	write(t, p, 0, 3, func(i int) string {
		if i == 1 {
			return big
		}
		return ""
	})
	waitFor(t, sink, 2)
	stop()
	assert.Equal(t, []string{"id-00000", "id-00002"}, ids(sink.Events()))
	dl := h.dlq.Entries()
	require.Len(t, dl, 1)
	assert.Equal(t, "pipeline/small", dl[0].Component)
	assert.Contains(t, dl[0].Reason, "exceeds the buffer's record limit")
	assert.Contains(t, string(dl[0].Raw), "id-00001")
}
