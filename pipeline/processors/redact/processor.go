package redact

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubetrail/kubetrail/pipeline"
	"github.com/kubetrail/kubetrail/pipeline/processors"
)

//go:embed sample.yaml
var sample string

// Sample is a commented example configuration of this processor.
func Sample() string { return sample }

func init() {
	processors.Register("redact", processors.Factory{
		NewConfig: func() any { return defaultConfig() },
		New: func(cfg any, set pipeline.Settings) (pipeline.Processor, error) {
			return newProcessor(cfg.(*Config), set)
		},
	})
}

// processor runs the Redactor over each batch.
type processor struct {
	r        *Redactor
	redacted prometheus.Counter
}

func newProcessor(c *Config, set pipeline.Settings) (*processor, error) {
	p := &processor{
		r: c.redactor(),
		redacted: prometheus.NewCounter(prometheus.CounterOpts{Name: "kubetrail_processor_redacted_events_total",
			Help: "Events in which the redact processor replaced at least one value."}),
	}
	if err := set.Metrics.Register(p.redacted); err != nil {
		return nil, fmt.Errorf("redact: metrics: %w", err)
	}
	return p, nil
}

func (p *processor) Start(context.Context) error { return nil }
func (p *processor) Close(context.Context) error { return nil }

// Process redacts every event that needs it. An event it cannot rewrite is
// dead-lettered: it never passes unredacted.
func (p *processor) Process(_ context.Context, evs *pipeline.Events) error {
	for i := range evs.Len() {
		ev := evs.Event(i)
		out, changed, err := p.r.Redact(ev.Raw, &ev.Meta)
		if err != nil {
			evs.DeadLetter(i, err)
			continue
		}
		if !changed {
			continue
		}
		if err := evs.SetRaw(i, out); err != nil {
			evs.DeadLetter(i, fmt.Errorf("redact: rewritten event is not an audit event: %w", err))
			continue
		}
		p.redacted.Inc()
	}
	return nil
}
