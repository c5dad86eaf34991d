package event

import "context"

// Output ships batches of events to one destination. The delivery loop
// (package pipeline) owns the buffer cursor, batching, retries,
// dead-lettering and the output's health; an output only sends one batch
// and returns a verdict.
//
// Call order: Start, then Write any number of times (concurrently from up
// to max_in_flight goroutines), then Close once, after the last Write
// returned.
//
// Start connects (or checks the sink) and returns an error when it cannot:
// the loop keeps the output unready (with the error as the reason) and
// calls Start again after a backoff, until it succeeds or the agent stops,
// so a sink down at boot never crash-loops the agent. A Start that fails
// releases what it took; Close is only called after a Start succeeded.
//
// Write sends every event of the batch and returns nil only once the sink has
// acknowledged all of them (durably, as far as the sink offers it). The batch
// and its events are valid only until Write returns: copy what you keep.
// Write may be called again with the same events after an error. A batch
// never exceeds the Limits declared on the output's factory (only a single
// event larger than Limits.MaxBytes comes alone), so Write never splits a
// batch for size.
//
// Errors decide what happens next:
//   - nil: every event was acknowledged; the cursor moves past the batch
//     and the output is ready;
//   - Permanent(err): no event of the batch will ever be accepted; all go to
//     the dead-letter file with err as the reason;
//   - *PartialError: per-event verdicts; accepted events are done, permanent
//     ones are dead-lettered, retryable ones are sent again;
//   - Throttled(err, d): retry after at least d (capped at the retry's
//     max_interval);
//   - Unready(err): authentication or authorization refused (HTTP 401/403,
//     SASL failure, AccessDenied, an expired token) or a sink-side
//     configuration the agent cannot fix: retryable, never Permanent (a bad
//     token must never dead-letter the stream); the output turns unready in
//     /readyz with err as the reason, logged once per interval rather than
//     per retry, until a Write succeeds;
//   - any other error: retryable; the whole batch is sent again after a
//     capped exponential backoff with jitter.
//
// No error may carry a secret (a token, a password, an Authorization
// header): it is logged and shown by /readyz.
//
// Close flushes and releases the connection. Its context has a deadline of
// its own (a few seconds), live even when shutdown cancelled the sends.
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
