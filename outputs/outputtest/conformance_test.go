package outputtest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs/internal/oversize"
)

// memSink is an in-memory destination with the verdicts a real output
// returns: per-event oversize verdicts, retryable and unready failures.
type memSink struct {
	mu      sync.Mutex
	stored  [][]byte
	broken  atomic.Pointer[error]
	max     int
	policy  oversize.Policy
	started bool
}

func (m *memSink) Start(context.Context) error { m.started = true; return nil }
func (m *memSink) Close(context.Context) error { return nil }

func (m *memSink) Write(_ context.Context, b *event.Batch) error {
	if err := m.broken.Load(); err != nil {
		return *err
	}
	failed := map[int]error{}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range b.Events {
		if err := oversize.Fit(&b.Events[i], m.max, m.policy); err != nil {
			failed[i] = err
			continue
		}
		m.stored = append(m.stored, bytes.Clone(b.Events[i].Raw))
	}
	if len(failed) > 0 {
		return &event.PartialError{Failed: failed}
	}
	return nil
}

func (m *memSink) read(context.Context) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]byte(nil), m.stored...), nil
}

// TestConformanceReference runs the suite against the in-memory reference
// output, so the suite itself is known to pass a correct output.
func TestConformanceReference(t *testing.T) {
	var current atomic.Pointer[memSink]
	breakWith := func(err error) func(t *testing.T) func() {
		return func(*testing.T) func() {
			s := current.Load()
			s.broken.Store(&err)
			return func() { s.broken.Store(nil) }
		}
	}
	Run(t, Harness{
		New: func(t *testing.T, o Options) (event.Output, ReadBack) {
			s := &memSink{max: o.MaxEventBytes, policy: o.Oversize}
			current.Store(s)
			return s, s.read
		},
		Ordered: true,
		Faults: []Fault{
			{Name: "down", Break: breakWith(errors.New("connection refused"))},
			{Name: "bad credentials", Break: breakWith(event.Unready(errors.New("401"))), Unready: true},
		},
		Events: 300,
	})
}
