// Package sdk is what a Go output plugin for kubetrail imports: implement
// Output, call Serve from main, build the binary, and point an output of
// type "plugin" at it. The plugin then gets the same delivery guarantees as
// a built-in output: the agent buffers on disk, batches, retries, and moves
// its cursor only past events the plugin acknowledged.
//
// A whole plugin:
//
//	type stdoutOutput struct{}
//
//	func (stdoutOutput) Configure(ctx context.Context, c sdk.Config) error { return nil }
//
//	func (stdoutOutput) Write(ctx context.Context, b *event.Batch) error {
//		for _, ev := range b.Events {
//			if _, err := fmt.Println(string(ev.Raw)); err != nil {
//				return err // retryable: the whole batch comes again
//			}
//		}
//		return nil // every event acknowledged
//	}
//
//	func (stdoutOutput) Close(ctx context.Context) error { return nil }
//
//	func main() { sdk.Serve(stdoutOutput{}) }
//
// Write reports verdicts with the same errors as a built-in output (package
// event): nil acknowledges the batch; event.Permanent(err) dead-letters it;
// &event.PartialError{Failed: ...} gives per-event verdicts;
// event.Throttled(err, d) asks for a retry no sooner than d; event.Unready(err)
// says credentials or permissions are wrong (the output turns unready, the
// events stay buffered); any other error retries the batch with backoff.
//
// The process is run by the agent: stdout belongs to the protocol; log with
// Config.Logger (its lines appear in the agent's log, tagged with the
// output's name).
package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/kubetrail/kubetrail/event"
)

// Output is what a plugin implements. The agent calls Configure once per
// plugin process, then Write any number of times (concurrently, from up to
// the output's max_in_flight goroutines), then Close once after the last
// Write returned. When the process crashes or hangs the agent kills it,
// starts a new one and calls Configure again, then resends the batches that
// were not acknowledged: Write must tolerate seeing an event twice.
type Output interface {
	// Configure checks and applies the output's configuration. An error
	// keeps the output unready (the agent retries later); wrap nothing,
	// just say what is wrong.
	Configure(ctx context.Context, cfg Config) error
	// Write sends the batch and returns once the sink acknowledged it (see
	// the package doc for the verdicts). The batch is valid only until
	// Write returns.
	Write(ctx context.Context, batch *event.Batch) error
	// Close flushes and releases the plugin's resources.
	Close(ctx context.Context) error
}

// HealthChecker is optionally implemented by an Output whose sink can be
// probed. The agent calls Health after Configure and marks the output
// unready, with the error as the reason, until it returns nil.
type HealthChecker interface {
	Health(ctx context.Context) error
}

// Config is what Configure receives.
type Config struct {
	// Name is the output's name in the agent's configuration.
	Name string
	// JSON is the output's `config` block as a JSON object ("{}" when
	// absent). Secrets referenced with ${...} are already expanded: never
	// log it.
	JSON []byte
	// AgentVersion is the version of the agent running the plugin.
	AgentVersion string
	// Logger writes to the agent's log, tagged with the output's name.
	Logger *slog.Logger
}

// Decode unmarshals the config block into v, rejecting unknown keys, so a
// misspelt key is a clear error rather than a silently ignored setting.
func (c Config) Decode(v any) error {
	dec := json.NewDecoder(bytes.NewReader(c.JSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}
