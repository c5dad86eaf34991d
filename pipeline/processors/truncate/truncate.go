// Package truncate implements the "truncate" processor: kube-apiserver's own
// truncation (--audit-log-truncate-enabled) applied before the buffer. An
// event larger than max_event_bytes loses requestObject and responseObject
// and gains the annotation audit.k8s.io/truncated: "true"; one still too
// large goes to the dead-letter file. The rewrite is event/truncate's, the
// one the outputs' `oversize: truncate` uses.
package truncate

import (
	"context"
	_ "embed"
	"errors"
	"fmt"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event/truncate"
	"github.com/kubetrail/kubetrail/pipeline"
	"github.com/kubetrail/kubetrail/pipeline/processors"
)

//go:embed sample.yaml
var sample string

// Sample is a commented example configuration of this processor.
func Sample() string { return sample }

// Config is the truncate processor's configuration.
type Config struct {
	// MaxEventBytes is the largest event passed whole. Default 100KiB,
	// kube-apiserver's --audit-log-truncate-max-event-size.
	MaxEventBytes config.Size `yaml:"max_event_bytes"`
}

// Validate implements the loader's validation hook.
func (c *Config) Validate() error {
	if c.MaxEventBytes < 1024 {
		return &config.FieldError{Field: "max_event_bytes", Err: errors.New("must be at least 1KiB: smaller than an event's metadata")}
	}
	return nil
}

func init() {
	processors.Register("truncate", processors.Factory{
		NewConfig: func() any { return &Config{MaxEventBytes: 100 << 10} },
		New: func(cfg any, _ pipeline.Settings) (pipeline.Processor, error) {
			return processor{max: int(cfg.(*Config).MaxEventBytes)}, nil
		},
	})
}

type processor struct{ max int }

func (processor) Start(context.Context) error { return nil }
func (processor) Close(context.Context) error { return nil }

// Process truncates the events over the limit.
func (p processor) Process(_ context.Context, evs *pipeline.Events) error {
	for i := range evs.Len() {
		ev := evs.Event(i)
		if len(ev.Raw) <= p.max {
			continue
		}
		out, err := truncate.Truncate(ev.Raw, p.max)
		if err == nil {
			err = evs.SetRaw(i, out)
		}
		if err != nil {
			evs.DeadLetter(i, fmt.Errorf("truncate: %w", err))
		}
	}
	return nil
}
