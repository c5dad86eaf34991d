package pipeline_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs/outputtest"
	"github.com/kubetrail/kubetrail/pipeline"
)

func rejectID(id string) func(int, *event.Batch) error {
	return func(_ int, b *event.Batch) error {
		for i, ev := range b.Events {
			if string(ev.AuditID) == id {
				return &event.PartialError{Failed: map[int]error{i: event.Permanent(errors.New("400 bad event"))}}
			}
		}
		return nil
	}
}

// The dead-letter file is synced before the cursor commit that passes a
// dead-lettered event, once per such batch.
func TestDeadLetterSyncedBeforeCommit(t *testing.T) {
	h := newHarness(t)
	sink := &outputtest.Sink{Fail: rejectID("id-00003")}
	p := h.open("audit", []pipeline.NamedOutput{{Name: "o", Output: sink,
		Delivery: pipeline.DeliveryConfig{MaxEvents: 10, MaxWait: time.Millisecond}}})
	stop := running(t, p)
	write(t, p, 0, 100, nil)
	waitFor(t, sink, 99)
	stop()
	require.Len(t, h.dlq.Entries(), 1)
	synced, syncs := h.dlq.Synced()
	assert.Equal(t, 1, synced, "the dead-lettered event was synced")
	assert.Equal(t, 1, syncs, "one sync for the one batch that dead-lettered, none for the others")
}

// When the dead-letter file cannot be synced, the cursor does not pass the
// event: the pipeline stops and a restart sends the batch again.
func TestDeadLetterSyncFailureKeepsEventBuffered(t *testing.T) {
	h := newHarness(t)
	h.dlq.SyncErr = func() error { return errors.New("EIO") }
	sink := &outputtest.Sink{Fail: rejectID("id-00003")}
	p := h.open("audit", []pipeline.NamedOutput{{Name: "o", Output: sink,
		Delivery: pipeline.DeliveryConfig{MaxEvents: 10, MaxWait: 50 * time.Millisecond}}})
	err := runUntilError(t, p, func() { write(t, p, 0, 10, nil) })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "sync the dead-letter file")

	h.dlq.SyncErr = nil
	again := &outputtest.Sink{}
	p = h.open("audit", []pipeline.NamedOutput{{Name: "o", Output: again, Delivery: pipeline.DeliveryConfig{MaxWait: time.Millisecond}}})
	stop := running(t, p)
	waitFor(t, again, 10)
	stop()
	assert.Equal(t, want(0, 10), ids(again.Events()), "nothing was committed past the unsynced dead letter")
}

// A processor's dead letter is synced before the input may commit past it.
func TestProcessorDeadLetterSyncedBeforeDurable(t *testing.T) {
	h := newHarness(t)
	h.dlq.SyncErr = func() error { return errors.New("EIO") }
	reject := pipeline.ProcessFunc(func(_ context.Context, evs *pipeline.Events) error {
		evs.DeadLetter(0, errors.New("cannot redact"))
		return nil
	})
	p := h.open("audit", []pipeline.NamedOutput{{Name: "o", Output: &outputtest.Sink{}}}, reject)
	durable := false
	err := p.Write(context.Background(), []event.Event{testEvent(0, ""), testEvent(1, "")}, func() { durable = true })
	require.ErrorContains(t, err, "sync the dead-letter file")
	assert.False(t, durable)
	require.NoError(t, p.Close())
}
