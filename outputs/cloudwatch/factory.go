package cloudwatch

import (
	"context"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs"
	"github.com/kubetrail/kubetrail/pipeline"
)

func init() {
	outputs.Register("cloudwatch", outputs.Factory{
		NewConfig: func() any { return defaultConfig() },
		New: func(cfg any, set pipeline.Settings) (event.Output, error) {
			return New(context.Background(), cfg.(*Config), set.Logger)
		},
		// The output also splits a batch past them itself (by stream and
		// by 24-hour span it has to anyway).
		Limits: event.Limits{MaxEvents: MaxRequestEvents, MaxBytes: MaxRequestBytes, PerEventOverhead: EventOverhead},
		Delivery: func(d *config.Delivery) {
			// Full requests: PutLogEvents is throttled per call, not per byte.
			d.Batch.MaxEvents = MaxRequestEvents
			d.Batch.MaxBytes = MaxRequestBytes
		},
	})
}
