package auditlog

import (
	_ "embed"
	"fmt"
	"path/filepath"
	"time"

	"github.com/kubetrail/kubetrail/event/auditfields"
	"github.com/kubetrail/kubetrail/inputs"
	"github.com/kubetrail/kubetrail/pipeline"
)

//go:embed sample.yaml
var sample string

// Sample is a commented example configuration of this input.
func Sample() string { return sample }

func init() {
	inputs.Register("auditlog", inputs.Factory{
		NewConfig: func() any { return NewConfig() },
		New: func(cfg any, set pipeline.Settings) (inputs.Input, error) {
			c, ok := cfg.(*Config)
			if !ok {
				return nil, fmt.Errorf("auditlog: config is %T, want *auditlog.Config", cfg)
			}
			return New(c, set)
		},
	})
}

var _ inputs.Input = (*Input)(nil)

// New builds an auditlog input. The configuration is validated again here so
// that a hand-made Config cannot bypass Validate.
func New(cfg *Config, set pipeline.Settings) (*Input, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("auditlog %q: %w", set.Name, err)
	}
	if set.Name == "" || set.StateDir == "" || set.Logger == nil || set.Metrics == nil || set.DeadLetter == nil {
		return nil, fmt.Errorf("auditlog %q: incomplete settings (name, state dir, logger, metrics and dead-letter are required)", set.Name)
	}
	path, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("auditlog %q: path %s: %w", set.Name, cfg.Path, err)
	}
	m, err := newMetrics(set.Metrics, set.Name, cfg.MaxBackups != nil && *cfg.MaxBackups > 0)
	if err != nil {
		return nil, fmt.Errorf("auditlog %q: %w", set.Name, err)
	}
	c := *cfg
	c.Path = path
	in := &Input{
		cfg:       c,
		set:       set,
		log:       set.Logger,
		met:       m,
		names:     newNamer(path),
		ckptPath:  filepath.Join(set.StateDir, "inputs", set.Name, "checkpoint.json"),
		handPath:  filepath.Join(set.StateDir, "inputs", set.Name, "handed"),
		extract:   auditfields.Extract,
		boot:      bootID,
		ckptEvery: defaultCheckpointEvery,
		gzStall:   time.Duration(c.GzipStallTimeout),
	}
	return in, nil
}
