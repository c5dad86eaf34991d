package cloudwatch

import (
	"context"

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
	})
}

// Limits are what one PutLogEvents request may carry.
var Limits = event.Limits{MaxEvents: MaxRequestEvents, MaxBytes: MaxRequestBytes, PerEventOverhead: EventOverhead}
