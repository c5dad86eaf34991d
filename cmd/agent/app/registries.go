package app

import (
	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/inputs"
	_ "github.com/kubetrail/kubetrail/inputs/all" // built-in inputs
	"github.com/kubetrail/kubetrail/outputs"
	_ "github.com/kubetrail/kubetrail/outputs/all" // built-in outputs
	"github.com/kubetrail/kubetrail/pipeline/processors"
	_ "github.com/kubetrail/kubetrail/pipeline/processors/all" // built-in processors
)

// Registries shows the component registries (every built-in input,
// processor and output linked in) to the config loader.
type Registries struct{}

var (
	_ config.Components        = Registries{}
	_ config.DeliveryDefaulter = Registries{}
)

// DefaultDelivery implements config.DeliveryDefaulter: the output type's
// factory's delivery defaults.
func (Registries) DefaultDelivery(outputType string) config.Delivery {
	if f, ok := outputs.Lookup(outputType); ok {
		return f.DefaultDelivery()
	}
	return config.DefaultDelivery()
}

// NewConfig implements config.Components.
func (Registries) NewConfig(kind config.Kind, typ string) (any, bool) {
	switch kind {
	case config.KindInput:
		if f, ok := inputs.Lookup(typ); ok {
			return f.NewConfig(), true
		}
	case config.KindProcessor:
		if f, ok := processors.Lookup(typ); ok {
			return f.NewConfig(), true
		}
	case config.KindOutput:
		if f, ok := outputs.Lookup(typ); ok {
			return f.NewConfig(), true
		}
	}
	return nil, false
}

// Types implements config.Components.
func (Registries) Types(kind config.Kind) []string {
	switch kind {
	case config.KindInput:
		return inputs.Types()
	case config.KindProcessor:
		return processors.Types()
	case config.KindOutput:
		return outputs.Types()
	}
	return nil
}
