package event

import "context"

// Output ships batches of events to one destination. The delivery loop
// (deliver.go) owns the buffer cursor, batching, retries and dead-lettering; an
// output only sends.
//
// Call order: Start once, then Write any number of times (concurrently from
// up to max_in_flight goroutines), then Close once, after the last Write
// returned.
//
// Write sends every event of the batch and returns nil only once the sink has
// acknowledged all of them (durably, as far as the sink offers it). The batch
// and its events are valid only until Write returns: copy what you keep.
// Write may be called again with the same events after an error.
//
// Errors decide what happens next:
//   - nil: every event was acknowledged; the cursor moves past the batch;
//   - Permanent(err): no event of the batch will ever be accepted; all go to
//     the dead-letter file with err as the reason;
//   - *PartialError: per-event verdicts; accepted events are done, permanent
//     ones are dead-lettered, retryable ones are sent again;
//   - Throttled(err, d): retry after at least d;
//   - any other error: retryable; the whole batch is sent again after a
//     capped exponential backoff with jitter.
type Output interface {
	Start(ctx context.Context) error
	Write(ctx context.Context, batch *Batch) error
	Close(ctx context.Context) error
}

// Batch is a group of events sent in one Write.
type Batch struct {
	Events []Event
	// Bytes is the sum of len(Raw) over Events.
	Bytes int
}

// WriteFunc adapts a function to the Output interface, for tests and tiny
// sinks. Start and Close do nothing.
type WriteFunc func(ctx context.Context, batch *Batch) error

var _ Output = WriteFunc(nil)

// Start implements Output.
func (WriteFunc) Start(context.Context) error { return nil }

// Write implements Output.
func (f WriteFunc) Write(ctx context.Context, b *Batch) error { return f(ctx, b) }

// Close implements Output.
func (WriteFunc) Close(context.Context) error { return nil }

// Limits are what one request to a sink may carry. An output type declares
// them on its factory; the delivery loop never builds a batch past them
// (the user's batch settings are clamped to them), so Write never has to
// split a batch for size. A zero field means no limit.
type Limits struct {
	// MaxEvents is the most events one Write may carry (CloudWatch: 10,000).
	MaxEvents int
	// MaxBytes is the most bytes one Write may carry, counting
	// PerEventOverhead for each event (CloudWatch: 1,048,576).
	MaxBytes int
	// PerEventOverhead is what each event costs on the wire beyond len(Raw)
	// (CloudWatch: 26 bytes; a HEC envelope: about 150).
	PerEventOverhead int
}
