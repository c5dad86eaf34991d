// Package stdout implements the "stdout" output: events as NDJSON on the
// agent's standard output, for trying the agent out and for log collectors
// that read container output.
package stdout

import (
	"context"
	"io"
	"os"
	"sync"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs"
	"github.com/kubetrail/kubetrail/outputs/internal/ndjson"
	"github.com/kubetrail/kubetrail/pipeline"
)

// Config is the stdout output's configuration; it has no keys of its own.
type Config struct{}

func init() {
	outputs.Register("stdout", outputs.Factory{
		NewConfig: func() any { return &Config{} },
		New: func(any, pipeline.Settings) (event.Output, error) {
			return New(os.Stdout), nil
		},
	})
}

// Stdout writes NDJSON to a writer, os.Stdout in the agent.
type Stdout struct {
	mu  sync.Mutex
	enc ndjson.Encoder
}

var _ event.Output = (*Stdout)(nil)

// New returns an output writing to w.
func New(w io.Writer) *Stdout {
	return &Stdout{enc: ndjson.Encoder{W: w, MaxChunk: 1 << 20}}
}

// Start implements event.Output.
func (s *Stdout) Start(context.Context) error { return nil }

// Write implements event.Output.
func (s *Stdout) Write(_ context.Context, b *event.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.enc.Encode(b)
}

// Close implements event.Output; standard output stays open.
func (s *Stdout) Close(context.Context) error { return nil }
