package pipeline

import (
	"context"
	"errors"

	"github.com/kubetrail/kubetrail/event"
)

// Processor changes, drops or keeps events on their way from the inputs to a
// pipeline's buffer (filter, strip, redact, enrich).
//
// Call order: Start once (before the first Process, with the pipeline's
// context), Process any number of times, from one goroutine at a time per
// pipeline, then Close once with a context bounded by the pipeline's
// CloseTimeout.
//
// Process gives each event of the batch a verdict through *Events: keep
// (the default), change (Events.SetRaw), drop on purpose (Events.Drop: a
// filter) or give up on it (Events.DeadLetter: it goes to the dead-letter
// file with the reason, e.g. a redaction rule that cannot parse it). One bad
// event never stops the agent. Process returns an error only when the
// processor itself cannot work (a bug, a lost resource): the pipeline's
// write fails and the agent stops.
//
// A processor never sees an *event.Event it could change in place: Events
// hands out copies and takes changes only through SetRaw, which re-extracts
// Meta, so an event's bytes and its extracted fields (the output's key,
// the dead-letter reason's auditID) can never disagree. The bytes of the
// events are shared with the other pipelines reading the same input: never
// write into Raw; SetRaw a newly allocated slice.
type Processor interface {
	Start(ctx context.Context) error
	Process(ctx context.Context, events *Events) error
	Close(ctx context.Context) error
}

// NamedProcessor is a processor with its name in the configuration, which
// dead-letter entries and metrics carry.
type NamedProcessor struct {
	Name      string
	Processor Processor
}

// ProcessFunc adapts a function to Processor, for tests and tiny stages.
// Start and Close do nothing.
type ProcessFunc func(ctx context.Context, events *Events) error

var _ Processor = ProcessFunc(nil)

// Start implements Processor.
func (ProcessFunc) Start(context.Context) error { return nil }

// Process implements Processor.
func (f ProcessFunc) Process(ctx context.Context, events *Events) error { return f(ctx, events) }

// Close implements Processor.
func (ProcessFunc) Close(context.Context) error { return nil }

// Verdict is what a processor decided for one event.
type Verdict uint8

const (
	// Keep passes the event on (changed or not).
	Keep Verdict = iota
	// Drop removes the event on purpose (a filter); it is counted, not
	// dead-lettered.
	Drop
	// DeadLettered removes the event and writes it to the dead-letter file
	// with the reason.
	DeadLettered
)

// Events is the batch one Process call works on. Indexes run from 0 to
// Len()-1 and stay stable during the call; events dropped by an earlier
// processor are not in it.
type Events struct {
	evs      []event.Event
	verdicts []Verdict
	reasons  map[int]error
	decided  int // events not Keep
}

// NewEvents returns a batch of evs (the slice is copied; the events' bytes
// are not), for running a processor outside a pipeline, as tests do.
func NewEvents(evs []event.Event) *Events {
	e := &Events{}
	e.reset(evs)
	return e
}

func (e *Events) reset(evs []event.Event) {
	e.evs = append(e.evs[:0], evs...)
	e.verdicts = append(e.verdicts[:0], make([]Verdict, len(evs))...)
	clear(e.reasons)
	e.decided = 0
}

// Len is the number of events in the batch.
func (e *Events) Len() int { return len(e.evs) }

// Event returns a copy of event i: changing the copy changes nothing (use
// SetRaw). Its Raw and Meta views must not be written to.
func (e *Events) Event(i int) event.Event { return e.evs[i] }

// SetRaw replaces event i's JSON with raw (newly allocated, not a change in
// place of the old bytes) and re-extracts its Meta. On error (raw is not
// an audit event) the event is left unchanged.
func (e *Events) SetRaw(i int, raw []byte) error { return e.evs[i].SetRaw(raw) }

// Drop removes event i on purpose (a filter's decision).
func (e *Events) Drop(i int) { e.decide(i, Drop, nil) }

// DeadLetter removes event i and writes it to the dead-letter file with
// reason (which must not contain a secret). A nil reason is reported as
// "dead-lettered by processor".
func (e *Events) DeadLetter(i int, reason error) {
	if reason == nil {
		reason = errors.New("dead-lettered by processor")
	}
	e.decide(i, DeadLettered, reason)
}

func (e *Events) decide(i int, v Verdict, reason error) {
	_ = e.evs[i] // bounds check
	if e.verdicts[i] == Keep {
		e.decided++
	}
	e.verdicts[i] = v
	if reason != nil {
		if e.reasons == nil {
			e.reasons = map[int]error{}
		}
		e.reasons[i] = reason
	} else {
		delete(e.reasons, i)
	}
}

// Verdict returns the verdict given to event i so far, and the reason of a
// DeadLettered one.
func (e *Events) Verdict(i int) (Verdict, error) { return e.verdicts[i], e.reasons[i] }

// Kept returns the events whose verdict is Keep, in order, with their
// changes. The slice is the batch's own: valid until the next Process.
func (e *Events) Kept() []event.Event {
	if e.decided == 0 {
		return e.evs
	}
	kept := make([]event.Event, 0, len(e.evs)-e.decided)
	for i, v := range e.verdicts {
		if v == Keep {
			kept = append(kept, e.evs[i])
		}
	}
	return kept
}

// compact removes the events that are not kept, in place, and resets the
// verdicts for the next processor.
func (e *Events) compact() {
	if e.decided == 0 {
		return
	}
	n := 0
	for i, v := range e.verdicts {
		if v == Keep {
			e.evs[n] = e.evs[i]
			n++
		}
	}
	clear(e.evs[n:])
	e.evs = e.evs[:n]
	e.verdicts = e.verdicts[:n]
	clear(e.verdicts)
	clear(e.reasons)
	e.decided = 0
}
