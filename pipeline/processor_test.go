package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/event/auditfields"
	"github.com/kubetrail/kubetrail/outputs/outputtest"
	"github.com/kubetrail/kubetrail/pipeline"
)

// Processors give per-event verdicts: one bad event is dead-lettered with
// the processor's reason and the rest go on; the agent does not stop.
// Changed events reach the output with Meta re-extracted from their new
// bytes, and a processor changing its copy of an event changes nothing.
func TestProcessorVerdictsAndChanges(t *testing.T) {
	h := newHarness(t)
	var mu sync.Mutex
	var metaUsers, rawUsers []string
	sink := &outputtest.Sink{Fail: func(_ int, b *event.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range b.Events {
			var m event.Meta
			require.NoError(t, auditfields.Extract(ev.Raw, &m))
			metaUsers = append(metaUsers, string(ev.Username))
			rawUsers = append(rawUsers, string(m.Username))
		}
		return nil
	}}
	rejectOdd := pipeline.ProcessFunc(func(_ context.Context, evs *pipeline.Events) error {
		for i := range evs.Len() {
			ev := evs.Event(i)
			if ev.AuditID[len(ev.AuditID)-1]%2 == 1 {
				evs.DeadLetter(i, errors.New("redact: cannot parse requestObject"))
			}
		}
		return nil
	})
	redact := pipeline.ProcessFunc(func(_ context.Context, evs *pipeline.Events) error {
		for i := range evs.Len() {
			ev := evs.Event(i)
			if ev.AuditID[len(ev.AuditID)-1] == '4' {
				// Changing the copy must not reach the output.
				ev.Raw = []byte(`{"auditID":"forged"}`)
				continue
			}
			raw := bytes.Replace(ev.Raw, []byte(`"user":{"username":"alice"}`), []byte(`"user":{"username":"[redacted]"}`), 1)
			require.NoError(t, evs.SetRaw(i, raw))
		}
		return nil
	})
	p := h.open("audit", []pipeline.NamedOutput{{Name: "o", Output: sink, Delivery: pipeline.DeliveryConfig{MaxWait: time.Millisecond}}},
		rejectOdd, redact)
	stop := running(t, p)
	write(t, p, 0, 20, func(int) string { return `,"user":{"username":"alice"}` })
	waitFor(t, sink, 10)
	stop()

	assert.Equal(t, []string{"id-00000", "id-00002", "id-00004", "id-00006", "id-00008", "id-00010", "id-00012", "id-00014", "id-00016", "id-00018"}, ids(sink.Events()))
	mu.Lock()
	assert.Equal(t, rawUsers, metaUsers, "Meta always matches the bytes")
	mu.Unlock()
	assert.Contains(t, rawUsers, "[redacted]")
	assert.Contains(t, rawUsers, "alice", "ids ending in 4 were not changed")
	dl := h.dlq.Entries()
	require.Len(t, dl, 10)
	assert.Equal(t, "processor/p0", dl[0].Component)
	assert.Equal(t, "redact: cannot parse requestObject", dl[0].Reason)
	assert.Contains(t, string(dl[0].Raw), `"auditID":"id-00001"`)
}

// lifecycleProc records its calls.
type lifecycleProc struct {
	mu      sync.Mutex
	calls   []string
	started atomic.Bool
}

func (l *lifecycleProc) record(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, s)
}

func (l *lifecycleProc) Start(ctx context.Context) error {
	if ctx == nil {
		return errors.New("no context")
	}
	l.started.Store(true)
	l.record("start")
	return nil
}

func (l *lifecycleProc) Process(ctx context.Context, evs *pipeline.Events) error {
	if ctx == nil || !l.started.Load() {
		return errors.New("Process before Start")
	}
	l.record("process")
	return nil
}

func (l *lifecycleProc) Close(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		return errors.New("Close without a deadline")
	}
	l.record("close")
	return nil
}

func TestProcessorStartProcessClose(t *testing.T) {
	h := newHarness(t)
	proc := &lifecycleProc{}
	sink := &outputtest.Sink{}
	p := h.open("audit", []pipeline.NamedOutput{{Name: "o", Output: sink, Delivery: pipeline.DeliveryConfig{MaxWait: time.Millisecond}}}, proc)
	stop := running(t, p)
	write(t, p, 0, 5, nil)
	waitFor(t, sink, 5)
	stop()
	proc.mu.Lock()
	defer proc.mu.Unlock()
	assert.Equal(t, []string{"start", "process", "close"}, proc.calls)
	assert.ErrorContains(t, p.Write(context.Background(), []event.Event{testEvent(9, "")}, nil), "pipeline closed")
}
