package pipeline

import "github.com/kubetrail/kubetrail/event"

// Processor changes, drops or keeps events on their way from the inputs to a
// pipeline's buffer. Process is called from one goroutine at a time per
// pipeline; it returns the events to keep, which may alias in (filtering the
// slice in place is fine).
//
// The bytes of the events (Raw and the Meta views into it) are shared with
// the other pipelines reading the same input and must never be written: a
// processor that changes an event gives it a newly allocated Raw and
// re-extracts its Meta with Extract.
type Processor interface {
	Process(in []event.Event) ([]event.Event, error)
}
