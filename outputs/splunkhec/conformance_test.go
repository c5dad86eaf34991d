package splunkhec

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs/outputtest"
	"github.com/kubetrail/kubetrail/pipeline"
)

// The shared output conformance suite, against the real receiver: each
// output gets a receiver of its own; the faults kill it (retryable) and
// make it refuse the token (unready).
func TestConformance(t *testing.T) {
	const token = "conformance-token"
	var mu sync.Mutex
	var last *receiver
	current := func() *receiver {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
	for _, ack := range []bool{false, true} {
		name := "ack=false"
		if ack {
			name = "ack=true"
		}
		t.Run(name, func(t *testing.T) {
			outputtest.Run(t, outputtest.Harness{
				New: func(t *testing.T, o outputtest.Options) (event.Output, outputtest.ReadBack) {
					r := startReceiver(t, token, 0)
					mu.Lock()
					last = r
					mu.Unlock()
					cfg := testConfig(r.endpoint(), token)
					cfg.Ack = ack
					cfg.AckTimeout = config.Duration(5 * time.Second)
					if o.MaxEventBytes > 0 {
						cfg.MaxEventBytes = config.Size(o.MaxEventBytes)
						cfg.MaxBytes = max(cfg.MaxBytes, config.Size(o.MaxEventBytes)+64<<10)
					}
					if o.Oversize != "" {
						cfg.Oversize = o.Oversize
					}
					require.NoError(t, cfg.Validate())
					out, err := New(cfg, pipeline.Settings{Name: "siem", StateDir: t.TempDir(), Metrics: prometheus.NewRegistry()})
					require.NoError(t, err)
					return out, func(context.Context) ([][]byte, error) {
						recs := readRecords(t, r.file())
						raws := make([][]byte, len(recs))
						for i := range recs {
							raws[i] = recs[i].Event
						}
						return raws, nil
					}
				},
				Ordered: true,
				Faults: []outputtest.Fault{
					{Name: "ReceiverDown", Break: func(t *testing.T) func() {
						r := current()
						r.kill()
						return func() { r.start() }
					}},
					{Name: "WrongToken", Unready: true, Break: func(t *testing.T) func() {
						r := current()
						r.restart("another-token", 0)
						return func() { r.restart(token, 0) }
					}},
				},
			})
		})
	}
}
