package auditpolicy

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/kubetrail/kubetrail/pipeline"
	"github.com/kubetrail/kubetrail/pipeline/processors"
)

//go:embed sample.yaml
var sample string

// Sample is a commented example configuration of this processor.
func Sample() string { return sample }

func init() {
	processors.Register("audit_policy", processors.Factory{
		NewConfig: func() any { return defaultConfig() },
		New: func(cfg any, _ pipeline.Settings) (pipeline.Processor, error) {
			c := cfg.(*Config)
			if c.loaded == nil {
				if err := c.Validate(); err != nil {
					return nil, err
				}
			}
			return &processor{e: New(c.loaded)}, nil
		},
	})
}

type processor struct{ e *Evaluator }

func (p *processor) Start(context.Context) error { return nil }
func (p *processor) Close(context.Context) error { return nil }

// Process applies the policy: None and omitted stages drop the event, lower
// levels strip bodies, the level field becomes the level applied.
func (p *processor) Process(_ context.Context, evs *pipeline.Events) error {
	for i := range evs.Len() {
		ev := evs.Event(i)
		v := p.e.Evaluate(&ev)
		if v.Drop {
			evs.Drop(i)
			continue
		}
		out, changed, err := Apply(&ev, v)
		if err == nil && changed {
			err = evs.SetRaw(i, out)
		}
		if err != nil {
			evs.DeadLetter(i, fmt.Errorf("audit_policy: %w", err))
		}
	}
	return nil
}
