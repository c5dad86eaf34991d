// Package outputs keeps the registry of output types. Each output lives in its
// own sub-package, implements event.Output and registers itself in init();
// outputs/all imports them all.
package outputs

import (
	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/pipeline"
)

// Factory builds outputs of one type.
type Factory struct {
	// NewConfig returns a pointer to the type's configuration struct filled
	// with defaults; the loader decodes the YAML over it and validates it.
	NewConfig func() any
	// New builds an output from a config made by NewConfig.
	New func(cfg any, set pipeline.Settings) (event.Output, error)
}

var registry pipeline.Registry[Factory]

// Register makes an output type available to configurations. It panics when
// the type is registered twice.
func Register(typ string, f Factory) { registry.Register(typ, f) }

// Lookup returns the factory of an output type.
func Lookup(typ string) (Factory, bool) { return registry.Lookup(typ) }

// Types lists the registered output types.
func Types() []string { return registry.Names() }
