package outputtest

import (
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubetrail/kubetrail/outputs"
	"github.com/kubetrail/kubetrail/pipeline"
)

// NewSettings returns the Settings the agent would build an output named
// name of factory f with, for a test: a fresh metrics registry, in-memory
// DeadLetters, its own Health, and f's resolved delivery defaults (its
// Delivery over the agent's, clamped to its Limits). Read them back through
// the returned Settings' fields (Metrics is a *prometheus.Registry,
// DeadLetter a *DeadLetters).
func NewSettings(t testing.TB, name string, f outputs.Factory) pipeline.Settings {
	t.Helper()
	health := &pipeline.Health{}
	return pipeline.Settings{
		Name:       name,
		Pipeline:   "test",
		StateDir:   t.TempDir(),
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics:    prometheus.NewRegistry(),
		DeadLetter: &DeadLetters{},
		Health:     health.Component("output/" + name),
		Delivery:   pipeline.ResolveDelivery(pipeline.DeliveryFromConfig(f.DefaultDelivery()), f.Limits),
	}
}
