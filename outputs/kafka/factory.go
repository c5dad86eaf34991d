package kafka

import (
	_ "embed"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs"
	"github.com/kubetrail/kubetrail/pipeline"
)

//go:embed sample.yaml
var sample string

// Sample is a commented example configuration of this output.
func Sample() string { return sample }

func init() {
	outputs.Register("kafka", outputs.Factory{
		NewConfig: func() any { return defaultConfig() },
		New: func(cfg any, set pipeline.Settings) (event.Output, error) {
			return New(cfg.(*Config), set)
		},
	})
}
