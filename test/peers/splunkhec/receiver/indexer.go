package main

import (
	"context"
	"fmt"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/ackextension"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
)

// indexerConfig configures the "indexer" extension.
type indexerConfig struct {
	// IndexDelay is how long after the 200 a request's records are written
	// to the file and its ackId is acknowledged. Default 0.
	IndexDelay time.Duration `mapstructure:"index_delay"`
}

func newIndexerFactory() extension.Factory {
	return extension.NewFactory(component.MustNewType("indexer"),
		func() component.Config { return &indexerConfig{} },
		createIndexer, component.StabilityLevelDevelopment)
}

// indexer implements ackextension.AckExtension over the contrib ack
// extension: the receiver asks it for an ackId and reports the request done
// (Ack) before answering 200; the indexer writes the request's held records
// and passes the Ack on only IndexDelay later.
type indexer struct {
	inner ackextension.AckExtension
	comp  component.Component
	delay time.Duration
}

var _ ackextension.AckExtension = (*indexer)(nil)

func createIndexer(ctx context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	f := ackextension.NewFactory()
	inner, err := f.Create(ctx, extension.Settings{ID: component.NewID(f.Type()), TelemetrySettings: set.TelemetrySettings, BuildInfo: set.BuildInfo}, f.CreateDefaultConfig())
	if err != nil {
		return nil, fmt.Errorf("ack extension: %w", err)
	}
	x := &indexer{inner: inner.(ackextension.AckExtension), comp: inner, delay: cfg.(*indexerConfig).IndexDelay}
	theStore.holdChanneled(true)
	return x, nil
}

func (x *indexer) Start(ctx context.Context, host component.Host) error {
	return x.comp.Start(ctx, host)
}
func (x *indexer) Shutdown(ctx context.Context) error { return x.comp.Shutdown(ctx) }

// ProcessEvent is called right before the receiver answers 200.
func (x *indexer) ProcessEvent(channel string) uint64 {
	id := x.inner.ProcessEvent(channel)
	theStore.journal("answered", channel, id)
	return id
}

// Ack writes what is held, then acknowledges, IndexDelay later.
func (x *indexer) Ack(channel string, id uint64) {
	done := func() {
		theStore.flushHeld()
		theStore.journal("indexed", channel, id)
		x.inner.Ack(channel, id)
	}
	if x.delay <= 0 {
		done()
		return
	}
	time.AfterFunc(x.delay, done)
}

// QueryAcks answers a poll; the journal's "polled" line proves the client
// got the 200 and its ackId.
func (x *indexer) QueryAcks(channel string, ids []uint64) map[uint64]bool {
	for _, id := range ids {
		theStore.journal("polled", channel, id)
	}
	return x.inner.QueryAcks(channel, ids)
}
