// Package processors keeps the registry of processor types (filter, redact,
// route, ...). Each processor lives in its own sub-package, implements
// pipeline.Processor (Start, Process with per-event verdicts on
// *pipeline.Events, Close) and registers itself in init().
package processors

import "github.com/kubetrail/kubetrail/pipeline"

// Factory builds processors of one type.
type Factory struct {
	// NewConfig returns a pointer to the type's configuration struct filled
	// with defaults; the loader decodes the YAML over it and validates it.
	NewConfig func() any
	// New builds a processor from a config made by NewConfig.
	New func(cfg any, set pipeline.Settings) (pipeline.Processor, error)
}

var registry pipeline.Registry[Factory]

// Register makes a processor type available to configurations. It panics
// when the type is registered twice.
func Register(typ string, f Factory) { registry.Register(typ, f) }

// Lookup returns the factory of a processor type.
func Lookup(typ string) (Factory, bool) { return registry.Lookup(typ) }

// Types lists the registered processor types.
func Types() []string { return registry.Names() }
