// Package outputtest provides test helpers for outputs and for the delivery
// engine: a recording Sink whose acknowledgements and failures a test
// controls.
package outputtest

import (
	"context"
	"errors"
	"sync"

	"github.com/kubetrail/kubetrail/event"
)

// Sink is a event.Output that records what it acknowledged. Fail, if set,
// decides each Write's outcome before anything is recorded; a PartialError
// records only the events it does not name. Safe for concurrent use.
type Sink struct {
	Fail func(call int, b *event.Batch) error

	mu     sync.Mutex
	calls  int
	events [][]byte
	notify chan struct{}
}

var _ event.Output = (*Sink)(nil)

// Start implements event.Output.
func (s *Sink) Start(context.Context) error { return nil }

// Close implements event.Output.
func (s *Sink) Close(context.Context) error { return nil }

// Write implements event.Output.
func (s *Sink) Write(_ context.Context, b *event.Batch) error {
	s.mu.Lock()
	call := s.calls
	s.calls++
	s.mu.Unlock()
	var err error
	if s.Fail != nil {
		err = s.Fail(call, b)
	}
	var partial *event.PartialError
	isPartial := err != nil && asPartial(err, &partial)
	if err != nil && !isPartial {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, ev := range b.Events {
		if isPartial {
			if _, failed := partial.Failed[i]; failed {
				continue
			}
		}
		s.events = append(s.events, append([]byte(nil), ev.Raw...))
	}
	if s.notify != nil {
		close(s.notify)
		s.notify = nil
	}
	return err
}

// Events returns copies of the raw events acknowledged so far, in order.
func (s *Sink) Events() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.events...)
}

// Calls is the number of Write calls so far.
func (s *Sink) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// WaitFor blocks until at least n events were acknowledged or ctx ends, and
// reports whether they were.
func (s *Sink) WaitFor(ctx context.Context, n int) bool {
	for {
		s.mu.Lock()
		if len(s.events) >= n {
			s.mu.Unlock()
			return true
		}
		if s.notify == nil {
			s.notify = make(chan struct{})
		}
		ch := s.notify
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

func asPartial(err error, target **event.PartialError) bool {
	return errors.As(err, target)
}
