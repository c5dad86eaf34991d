// Package inputs defines what an input is and keeps the registry of input
// types. Each input lives in its own sub-package and registers itself in
// init(); inputs/all imports them all.
package inputs

import (
	"context"

	"github.com/kubetrail/kubetrail/pipeline"
)

// Input reads events from one source and writes them to sink until ctx ends.
// Run returns nil after a clean stop (ctx cancelled), having committed only
// positions whose events sink reported durable.
type Input interface {
	Run(ctx context.Context, sink pipeline.EventSink) error
}

// Factory builds inputs of one type.
type Factory struct {
	// NewConfig returns a pointer to the type's configuration struct filled
	// with defaults; the loader decodes the YAML over it and validates it.
	NewConfig func() any
	// New builds an input from a config made by NewConfig.
	New func(cfg any, set pipeline.Settings) (Input, error)
}

var registry pipeline.Registry[Factory]

// Register makes an input type available to configurations. It panics when
// the type is registered twice.
func Register(typ string, f Factory) { registry.Register(typ, f) }

// Lookup returns the factory of an input type.
func Lookup(typ string) (Factory, bool) { return registry.Lookup(typ) }

// Types lists the registered input types.
func Types() []string { return registry.Names() }
