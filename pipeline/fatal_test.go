package pipeline_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs/outputtest"
	"github.com/kubetrail/kubetrail/pipeline"
)

// runUntilError runs p with contexts that never end and returns Run's error,
// failing the test if Run does not return within 10s.
func runUntilError(t *testing.T, p *pipeline.Pipeline, feed func()) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background(), context.Background()) }()
	feed()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not report the fatal error while another send kept retrying")
		return nil
	}
}

// A cursor that cannot be committed in one output is reported at once even
// while a sibling output retries forever: the sibling's sends are
// cancelled and its events stay buffered.
func TestFatalErrorCancelsSiblingSends(t *testing.T) {
	h := newHarness(t)
	var stuckCalls atomic.Int32
	stuck := &outputtest.Sink{Fail: func(int, *event.Batch) error {
		stuckCalls.Add(1)
		return errors.New("503 Service Unavailable")
	}}
	// k succeeds (and then fails to commit) once stuck is in its retries.
	k0 := &outputtest.Sink{Fail: func(int, *event.Batch) error {
		deadline := time.Now().Add(5 * time.Second)
		for stuckCalls.Load() <= 2 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		return nil
	}}
	p := h.open("audit", []pipeline.NamedOutput{
		{Name: "k", Output: k0, Delivery: pipeline.DeliveryConfig{MaxEvents: 10, MaxWait: time.Millisecond}},
		{Name: "stuck", Output: stuck, Delivery: pipeline.DeliveryConfig{MaxWait: time.Millisecond, Retry: fastRetry}},
	})
	require.NoError(t, os.Mkdir(filepath.Join(h.dir, "audit", "cursor-k.pos.tmp"), 0o700))
	err := runUntilError(t, p, func() { write(t, p, 0, 10, nil) })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "commit cursor of output k")
	assert.Greater(t, stuckCalls.Load(), int32(2), "stuck was retrying when k failed")

	// The sibling's events stayed buffered.
	require.NoError(t, os.Remove(filepath.Join(h.dir, "audit", "cursor-k.pos.tmp")))
	again, k := &outputtest.Sink{}, &outputtest.Sink{}
	p = h.open("audit", []pipeline.NamedOutput{
		{Name: "k", Output: k, Delivery: pipeline.DeliveryConfig{MaxWait: time.Millisecond}},
		{Name: "stuck", Output: again, Delivery: pipeline.DeliveryConfig{MaxWait: time.Millisecond}},
	})
	stop := running(t, p)
	waitFor(t, again, 10)
	stop()
	assert.Equal(t, want(0, 10), ids(again.Events()))
}

// The same within one output: a failed commit of one batch is reported at
// once while the other batch in flight is still being retried.
func TestFatalErrorCancelsOtherBatchInFlight(t *testing.T) {
	h := newHarness(t)
	var secondTried atomic.Bool
	sink := &outputtest.Sink{Fail: func(_ int, b *event.Batch) error {
		if string(b.Events[0].AuditID) == "id-00010" {
			secondTried.Store(true)
			return errors.New("503 Service Unavailable")
		}
		// Hold the first batch until the second is in its retries, so its
		// commit fails while the second is in flight.
		deadline := time.Now().Add(5 * time.Second)
		for !secondTried.Load() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		return nil
	}}
	p := h.open("audit", []pipeline.NamedOutput{{Name: "k", Output: sink,
		Delivery: pipeline.DeliveryConfig{MaxEvents: 10, MaxInFlight: 2, MaxWait: 50 * time.Millisecond, Retry: fastRetry}}})
	require.NoError(t, os.Mkdir(filepath.Join(h.dir, "audit", "cursor-k.pos.tmp"), 0o700))
	err := runUntilError(t, p, func() { write(t, p, 0, 20, nil) })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "commit cursor of output k")
	assert.True(t, secondTried.Load(), "the second batch was in flight")
}
