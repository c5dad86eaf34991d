package pipeline

import (
	"context"

	"github.com/kubetrail/kubetrail/event"
)

// EventSink is where an input hands its events: the fan-out to every pipeline
// that reads the input.
//
// Write runs the events through each pipeline's processors and appends them
// to its buffer. It may block while a buffer is full (back-pressure); it
// returns an error only when ctx ends or a buffer failed. The events are
// copied before Write returns, so the caller may reuse their memory.
//
// durable, if not nil, is called exactly once per successful Write, in the
// order of the Write calls, after the events (or their absence, when a
// processor dropped them) are durable in every pipeline's buffer. Only then
// may the input commit the position after these events. durable must be
// quick and must not call Write.
type EventSink interface {
	Write(ctx context.Context, events []event.Event, durable func()) error
}

// EventSinkFunc adapts a function to EventSink, for tests.
type EventSinkFunc func(ctx context.Context, events []event.Event, durable func()) error

// Write implements EventSink.
func (f EventSinkFunc) Write(ctx context.Context, events []event.Event, durable func()) error {
	return f(ctx, events, durable)
}
