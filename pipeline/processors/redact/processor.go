package redact

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubetrail/kubetrail/event"
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
			// Never dead-letter bytes that may hold an unredacted value:
			// keep only the fields that identify the event.
			if skel, serr := skeleton(&ev); serr == nil {
				_ = evs.SetRaw(i, skel)
			}
			evs.DeadLetter(i, fmt.Errorf("%w (requestObject and responseObject left out)", err))
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

// skeleton is an audit event made of the extracted fields only: what
// identifies an event the redactor could not parse, without its bodies.
func skeleton(ev *event.Event) ([]byte, error) {
	m := &ev.Meta
	return json.Marshal(map[string]any{
		"kind": "Event", "apiVersion": "audit.k8s.io/v1",
		"auditID": string(m.AuditID), "stage": string(m.Stage), "level": string(m.Level),
		"verb": string(m.Verb), "user": map[string]string{"username": string(m.Username)},
		"objectRef": map[string]string{"resource": string(m.ObjectRef.Resource), "subresource": string(m.ObjectRef.Subresource),
			"namespace": string(m.ObjectRef.Namespace), "name": string(m.ObjectRef.Name), "apiGroup": string(m.ObjectRef.APIGroup)},
		"stageTimestamp": string(m.StageTimestamp),
	})
}
