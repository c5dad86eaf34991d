package filter

import (
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/pipeline"
	"github.com/kubetrail/kubetrail/pipeline/processors"
)

//go:embed sample.yaml
var sample string

// Sample is a commented example configuration of this processor.
func Sample() string { return sample }

// Config is the filter processor's configuration: exactly one of Drop and
// Keep, a CEL expression over `event`.
type Config struct {
	// Drop removes the events for which the expression is true.
	Drop string `yaml:"drop"`
	// Keep passes only the events for which the expression is true.
	Keep string `yaml:"keep"`

	prg *Program
}

// Validate compiles and type-checks the expression, so `agent check`
// reports a bad one with its line and CEL's message.
func (c *Config) Validate() error {
	field, expr := "drop", c.Drop
	switch {
	case c.Drop == "" && c.Keep == "":
		return config.Fieldf("drop", "set drop or keep to a CEL expression")
	case c.Drop != "" && c.Keep != "":
		return config.Fieldf("keep", "set either drop or keep, not both")
	case c.Keep != "":
		field, expr = "keep", c.Keep
	}
	prg, err := Compile(expr)
	if err != nil {
		return &config.FieldError{Field: field, Err: err}
	}
	c.prg = prg
	return nil
}

func init() {
	processors.Register("filter", processors.Factory{
		NewConfig: func() any { return &Config{} },
		New: func(cfg any, set pipeline.Settings) (pipeline.Processor, error) {
			c := cfg.(*Config)
			if c.prg == nil {
				if err := c.Validate(); err != nil {
					return nil, err
				}
			}
			p := &processor{prg: c.prg, drop: c.Drop != "", log: set.Logger,
				errs: prometheus.NewCounter(prometheus.CounterOpts{Name: "kubetrail_processor_filter_errors_total",
					Help: "Events on which the filter expression failed to evaluate; they are kept."})}
			if err := set.Metrics.Register(p.errs); err != nil {
				return nil, fmt.Errorf("filter: metrics: %w", err)
			}
			return p, nil
		},
	})
}

type processor struct {
	prg     *Program
	drop    bool // true: drop on match; false: keep on match
	log     *slog.Logger
	errs    prometheus.Counter
	lastLog atomic.Int64 // unix nanos of the last error logged
}

func (p *processor) Start(context.Context) error { return nil }
func (p *processor) Close(context.Context) error { return nil }

// Process drops the events the expression rejects. An event on which the
// expression fails (a field it lacks: use has()) is kept, counted and
// logged at most once a minute: an expression error never loses audit data.
func (p *processor) Process(_ context.Context, evs *pipeline.Events) error {
	for i := range evs.Len() {
		ev := evs.Event(i)
		match, err := p.prg.Match(&ev)
		if err != nil {
			p.errs.Inc()
			if now := time.Now().UnixNano(); now-p.lastLog.Load() > int64(time.Minute) {
				p.lastLog.Store(now)
				p.log.Warn("filter expression failed; the event is kept (guard optional fields with has())",
					"expr", p.prg.expr, "auditID", string(ev.AuditID), "err", err)
			}
			continue
		}
		if match == p.drop {
			evs.Drop(i)
		}
	}
	return nil
}
