package elasticsearch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
	"github.com/kubetrail/kubetrail/outputs/outputtest"
	"github.com/kubetrail/kubetrail/pipeline"
	"github.com/kubetrail/kubetrail/pipeline/buffer"
)

// corpus returns the real audit corpus as events and the number of distinct
// (auditID, stage) pairs in it: the documents it must make.
func corpus(t *testing.T) (evs []event.Event, distinct int) {
	seen := map[string]bool{}
	for _, l := range testcorpus.Load(t) {
		ev, err := event.New(l.Raw)
		require.NoError(t, err, l.Where)
		evs = append(evs, ev)
		seen[string(ev.ID(nil))] = true
	}
	return evs, len(seen)
}

// recorder wraps the real output and counts what the delivery loop made it
// send and what the engine answered, so a test can tell which events were
// sent again.
type recorder struct {
	*Output
	sent          atomic.Int64 // events passed to Write, resends included
	itemRetryable atomic.Int64 // items answered 429/5xx
	itemPermanent atomic.Int64
	wholeThrottle atomic.Int64 // events of requests answered 429/503 as a whole
	otherErr      atomic.Int64 // events of requests that failed otherwise
	firstOther    atomic.Value // error
}

func (r *recorder) Write(ctx context.Context, b *event.Batch) error {
	r.sent.Add(int64(len(b.Events)))
	err := r.Output.Write(ctx, b)
	var pe *event.PartialError
	switch {
	case err == nil:
	case errors.As(err, &pe):
		for _, ferr := range pe.Failed {
			if event.IsPermanent(ferr) {
				r.itemPermanent.Add(1)
			} else {
				r.itemRetryable.Add(1)
			}
		}
	default:
		if _, ok := event.RetryAfter(err); ok {
			r.wholeThrottle.Add(int64(len(b.Events)))
		} else {
			r.otherErr.Add(int64(len(b.Events)))
			r.firstOther.CompareAndSwap(nil, err)
		}
	}
	return err
}

// deliver puts evs in a real pipeline (disk buffer in a temp dir, recording
// dead-letter) feeding out, runs it until done says so, and returns the
// dead letters.
func deliver(t *testing.T, out event.Output, evs []event.Event, dc pipeline.DeliveryConfig, done func() bool) []pipeline.DeadLetter {
	t.Helper()
	dlq := &outputtest.DeadLetters{}
	p, err := pipeline.New(pipeline.Config{
		Name:       "audit",
		Outputs:    []pipeline.NamedOutput{{Name: "es", Output: out, Delivery: dc}},
		Buffer:     buffer.Options{Dir: filepath.Join(t.TempDir(), "buffer"), Fsync: buffer.FsyncPolicy("never")},
		DeadLetter: dlq,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics:    prometheus.NewRegistry(),
	})
	require.NoError(t, err)
	defer p.Close()
	var durable atomic.Int64
	batches := 0
	for i := 0; i < len(evs); i += 500 {
		require.NoError(t, p.Write(context.Background(), evs[i:min(i+500, len(evs))], func() { durable.Add(1) }))
		batches++
	}
	require.Eventually(t, func() bool { return durable.Load() == int64(batches) }, 10*time.Second, time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx, ctx) }()
	require.Eventually(t, done, 3*time.Minute, 200*time.Millisecond)
	cancel()
	if err := <-errc; err != nil {
		require.ErrorIs(t, err, context.Canceled)
	}
	return dlq.Entries()
}

// withRaw returns ev with its JSON changed by replacing old with new once.
func withRaw(t *testing.T, ev event.Event, old, new string) event.Event {
	raw := strings.Replace(string(ev.Raw), old, new, 1)
	require.NotEqual(t, string(ev.Raw), raw, "%q not in the event", old)
	require.NoError(t, ev.SetRaw([]byte(raw)))
	return ev
}

// One document whose field type conflicts with the mapping is dead-lettered
// with the engine's reason; the rest of its bulk is indexed, and the bulk is
// not sent again.
func TestFieldTypeConflictDeadLettersOnlyThatEvent(t *testing.T) {
	engines(t, func(t *testing.T, e *engine) {
		idx := uniqueName("kt-conflict")
		e.cleanup(t, idx, "kubetrail-"+idx)
		rec := &recorder{Output: e.newOutput(t, idx, func(c *Config) { c.Index = idx })}
		all, _ := corpus(t)
		evs := append([]event.Event(nil), all[:200]...)
		bad := -1
		for i, ev := range evs {
			if i > 50 && bytes.Contains(ev.Raw, []byte(`"userAgent":"`)) {
				// userAgent is a keyword: an object there is a field-type conflict.
				evs[i], bad = withRaw(t, ev, `"userAgent":"`, `"userAgent":{"conflict":true},"userAgentWas":"`), i
				break
			}
		}
		require.GreaterOrEqual(t, bad, 0)
		dl := deliver(t, rec, evs, pipeline.DeliveryConfig{MaxEvents: 500, MaxWait: time.Millisecond}, func() bool {
			return rec.itemPermanent.Load() == 1 && e.count(t, idx) == len(evs)-1
		})
		require.Len(t, dl, 1)
		assert.Equal(t, string(evs[bad].Raw), string(dl[0].Raw))
		assert.Contains(t, dl[0].Reason, "status 400")
		assert.Contains(t, dl[0].Reason, "userAgent")
		assert.Equal(t, int64(len(evs)), rec.sent.Load(), "only the one bulk was sent")
		time.Sleep(300 * time.Millisecond)
		assert.Equal(t, len(evs)-1, e.count(t, idx))
	})
}
