package splunkhec

import (
	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs"
	"github.com/kubetrail/kubetrail/pipeline"
)

func init() {
	outputs.Register("splunk_hec", outputs.Factory{
		NewConfig: func() any { return defaultConfig() },
		New: func(cfg any, set pipeline.Settings) (event.Output, error) {
			return New(cfg.(*Config), set)
		},
		// Requests are cut at max_bytes by the output itself (it is a
		// per-output key); the loop only needs the envelope's cost.
		Limits: event.Limits{PerEventOverhead: overhead},
		// With ack on, a Write waits for the indexers (seconds on a busy
		// Splunk): four batches in flight keep requests flowing meanwhile.
		// The cursor still advances in order.
		Delivery: func(d *config.Delivery) { d.MaxInFlight = 4 },
	})
}
