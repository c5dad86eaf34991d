package cloudwatch

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
	"github.com/kubetrail/kubetrail/outputs/outputtest"
)

// corpusShift moves the corpus' stageTimestamps (November 2026) into moto's
// accepted window (the last 14 days), keeping their order.
func corpusShift(t *testing.T) time.Duration {
	t.Helper()
	var latest time.Time
	for _, l := range testcorpus.Load(t) {
		ev, err := event.New(l.Raw)
		require.NoError(t, err)
		if ts, err := time.Parse(time.RFC3339Nano, string(ev.StageTimestamp)); err == nil && ts.After(latest) {
			latest = ts
		}
	}
	return time.Since(latest) - time.Minute
}

func TestConformance(t *testing.T) {
	endpoint := moto(t)
	p := newFaultProxy(t, endpoint)
	// The suite sends the corpus as it is; the proxy moves the timestamps
	// (not the messages) into moto's window.
	p.setShift(corpusShift(t))
	var streamSeq atomic.Int32
	faultOn := func(f fault) func(t *testing.T) func() {
		return func(t *testing.T) func() {
			p.setFault(onPut(f))
			return func() { p.setFault(nil) }
		}
	}
	outputtest.Run(t, outputtest.Harness{
		New: func(t *testing.T, o outputtest.Options) (event.Output, outputtest.ReadBack) {
			stream := fmt.Sprintf("conformance-%d", streamSeq.Add(1))
			cfg := testConfig(p.URL())
			cfg.LogStream = stream
			cfg.Timeout = config.Duration(2 * time.Second)
			if o.MaxEventBytes > 0 {
				cfg.MaxEventBytes = config.Size(o.MaxEventBytes)
			}
			if o.Oversize != "" {
				cfg.Oversize = o.Oversize
			}
			require.NoError(t, cfg.Validate())
			out, err := New(context.Background(), cfg, nil)
			require.NoError(t, err)
			return out, func(ctx context.Context) ([][]byte, error) {
				events, err := tryReadStream(endpoint, testGroup, stream)
				if isCode(err, codeNotFound) {
					return nil, nil
				}
				raws := make([][]byte, len(events))
				for i, e := range events {
					raws[i] = []byte(e.Message)
				}
				return raws, err
			}
		},
		// CloudWatch Logs orders a stream by event timestamp, not by
		// arrival: PutLogEvents requires each request sorted by timestamp
		// and GetLogEvents returns timestamp order. The stages of an auditID
		// come back in stageTimestamp order, which differs from the
		// suite's sending order where it sends a later file of the corpus
		// before an older one (TestChronologicalOrderWithinRequest checks
		// the order this output does keep).
		Ordered: false,
		Faults: []outputtest.Fault{
			{Name: "Throttling", Break: faultOn(fault{status: 400, code: "ThrottlingException"})},
			{Name: "ServiceUnavailable", Break: faultOn(fault{status: 503, code: "ServiceUnavailableException"})},
			{Name: "ConnectionsCut", Break: faultOn(fault{cut: true})},
			{Name: "Unreachable", Break: func(t *testing.T) func() { p.down(); return p.up }},
			{Name: "AccessDenied", Break: faultOn(fault{status: 400, code: "AccessDeniedException"}), Unready: true},
		},
	})
}
