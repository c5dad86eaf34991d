package pipeline

// Processor changes, drops or keeps events on their way from the inputs to a
// pipeline's buffer. Process is called from one goroutine at a time per
// pipeline; it returns the events to keep, which may alias in (filtering in
// place is fine) and may carry a new Raw when the processor changed an event
// (re-extract Meta with Extract then).
type Processor interface {
	Process(in []Event) ([]Event, error)
}
