package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs/outputtest"
	"github.com/kubetrail/kubetrail/pipeline"
)

// lifecycle is a Sink whose Start fails while startErr returns an error and
// whose Close records the context it got.
type lifecycle struct {
	outputtest.Sink
	startErr func(attempt int) error
	starts   atomic.Int32

	mu          sync.Mutex
	closes      int
	closeErr    error // ctx.Err() when Close was called
	hasDeadline bool
}

func (l *lifecycle) Start(context.Context) error {
	n := l.starts.Add(1)
	if l.startErr != nil {
		return l.startErr(int(n))
	}
	return nil
}

func (l *lifecycle) Close(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closes++
	l.closeErr = ctx.Err()
	_, l.hasDeadline = ctx.Deadline()
	return nil
}

// A sink down at boot: Start is retried with backoff while the output is
// unready, the pipeline does not fail, and once Start succeeds every event
// is delivered.
func TestStartFailureRetriesWhileUnready(t *testing.T) {
	h := newHarness(t)
	var up atomic.Bool
	out := &lifecycle{startErr: func(int) error {
		if up.Load() {
			return nil
		}
		return errors.New("dial tcp 127.0.0.1:9092: connection refused")
	}}
	health := &pipeline.Health{}
	p := h.open("audit", []pipeline.NamedOutput{{Name: "k", Output: out, Health: health.Component("output/k"),
		Delivery: pipeline.DeliveryConfig{MaxWait: time.Millisecond, Retry: fastRetry}}})
	stop := running(t, p) // fails the test if Run returns an error
	write(t, p, 0, 20, nil)
	require.Eventually(t, func() bool { return out.starts.Load() >= 5 }, 10*time.Second, time.Millisecond)
	ready, comps := health.Status()
	assert.False(t, ready)
	assert.Contains(t, comps[0].Reason, "start: dial tcp 127.0.0.1:9092: connection refused")
	assert.Empty(t, out.Events())

	up.Store(true)
	waitFor(t, &out.Sink, 20)
	ready, _ = health.Status()
	assert.True(t, ready)
	stop()
	assert.Equal(t, want(0, 20), ids(out.Events()))
	assert.Equal(t, 1, strings.Count(h.logs.String(), "output cannot start"), "logged once per interval:\n%s", h.logs.String())
}

// Shutting down while Start still fails returns cleanly; the output that
// never started is not closed.
func TestShutdownWhileStartFails(t *testing.T) {
	h := newHarness(t)
	out := &lifecycle{startErr: func(int) error { return errors.New("connection refused") }}
	p := h.open("audit", []pipeline.NamedOutput{{Name: "k", Output: out,
		Delivery: pipeline.DeliveryConfig{MaxWait: time.Millisecond, Retry: fastRetry}}})
	stop := running(t, p)
	require.Eventually(t, func() bool { return out.starts.Load() >= 3 }, 10*time.Second, time.Millisecond)
	stop()
	out.mu.Lock()
	defer out.mu.Unlock()
	assert.Zero(t, out.closes)
}

// Close gets a live context with a deadline, even when the send context
// has already ended (the grace period is over), so a flush can still work.
func TestCloseGetsBoundedLiveContext(t *testing.T) {
	h := newHarness(t)
	out := &lifecycle{}
	p, err := pipeline.New(pipeline.Config{Name: "audit", Outputs: []pipeline.NamedOutput{{Name: "k", Output: out,
		Delivery: pipeline.DeliveryConfig{MaxWait: time.Millisecond}}},
		Buffer: h.bufferOptions("audit"), DeadLetter: h.dlq, Logger: h.logger(), Metrics: h.registry()})
	require.NoError(t, err)
	readCtx, stopReading := context.WithCancel(context.Background())
	sendCtx, abandon := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(readCtx, sendCtx) }()
	write(t, p, 0, 5, nil)
	waitFor(t, &out.Sink, 5)
	abandon()
	stopReading()
	require.NoError(t, <-done)
	out.mu.Lock()
	defer out.mu.Unlock()
	assert.Equal(t, 1, out.closes)
	assert.NoError(t, out.closeErr, "Close's context is not the ended send context")
	assert.True(t, out.hasDeadline, "Close's context is bounded")
}

// A sink's Retry-After is capped at retry.max_interval: an hour would
// stall the output.
func TestRetryAfterIsCapped(t *testing.T) {
	h := newHarness(t)
	sink := &outputtest.Sink{Fail: func(call int, _ *event.Batch) error {
		if call == 0 {
			return event.Throttled(errors.New("429 Too Many Requests"), time.Hour)
		}
		return nil
	}}
	p := h.open("audit", []pipeline.NamedOutput{{Name: "o", Output: sink,
		Delivery: pipeline.DeliveryConfig{MaxWait: time.Millisecond, Retry: fastRetry}}})
	stop := running(t, p)
	write(t, p, 0, 10, nil)
	waitFor(t, sink, 10)
	stop()
	assert.Equal(t, want(0, 10), ids(sink.Events()))
}
