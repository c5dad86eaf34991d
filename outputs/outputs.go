// Package outputs keeps the registry of output types. Each output lives in its
// own sub-package, implements event.Output and registers itself in init();
// outputs/all imports them all.
//
// A factory declares what the delivery loop must know about its sink
// (Limits: what one request may carry; Delivery: defaults that suit it); the
// loop batches, retries and dead-letters, so an output only sends one batch
// and returns a verdict (see event.Output).
package outputs

import (
	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/pipeline"
)

// Factory builds outputs of one type.
type Factory struct {
	// NewConfig returns a pointer to the type's configuration struct filled
	// with defaults; the loader decodes the YAML over it and validates it.
	NewConfig func() any
	// New builds an output from a config made by NewConfig. set.Delivery
	// holds the resolved delivery settings the loop will feed it with;
	// set.Metrics is already labelled with the pipeline and output name.
	New func(cfg any, set pipeline.Settings) (event.Output, error)
	// Limits are what one Write may carry on this sink (zero: no limit).
	// The delivery loop clamps the user's batch settings to them and never
	// builds a larger batch, counting PerEventOverhead per event; only a
	// single event larger than MaxBytes goes alone (the output applies its
	// oversize policy to it).
	Limits event.Limits
	// Delivery, if set, changes the agent's delivery defaults
	// (config.DefaultDelivery) for this type before the user's keys are
	// decoded over them, e.g. larger batches for a bulk API.
	Delivery func(d *config.Delivery)
}

// DefaultDelivery returns the delivery defaults of outputs made by f: the
// agent's, changed by f.Delivery.
func (f Factory) DefaultDelivery() config.Delivery {
	d := config.DefaultDelivery()
	if f.Delivery != nil {
		f.Delivery(&d)
	}
	return d
}

var registry pipeline.Registry[Factory]

// Register makes an output type available to configurations. It panics when
// the type is registered twice.
func Register(typ string, f Factory) { registry.Register(typ, f) }

// Lookup returns the factory of an output type.
func Lookup(typ string) (Factory, bool) { return registry.Lookup(typ) }

// Types lists the registered output types.
func Types() []string { return registry.Names() }
