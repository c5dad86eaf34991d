package pipeline_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs/outputtest"
	"github.com/kubetrail/kubetrail/pipeline"
)

// An output whose sink refuses the agent (a bad token) turns unready with
// the reason, is logged once rather than on every retry, dead-letters
// nothing, and turns ready again after the next successful Write.
func TestUnreadyErrorsTurnOutputUnreadyUntilAWriteSucceeds(t *testing.T) {
	h := newHarness(t)
	var fixed atomic.Bool
	var refused atomic.Int32
	sink := &outputtest.Sink{Fail: func(int, *event.Batch) error {
		if fixed.Load() {
			return nil
		}
		refused.Add(1)
		return event.Unready(errors.New("401 Unauthorized: invalid token"))
	}}
	health := &pipeline.Health{}
	comp := health.Component("pipeline/audit/output/siem")
	p := h.open("audit", []pipeline.NamedOutput{{Name: "siem", Output: sink, Health: comp,
		Delivery: pipeline.DeliveryConfig{MaxWait: time.Millisecond, Retry: fastRetry}}})
	stop := running(t, p)
	write(t, p, 0, 50, nil)

	require.Eventually(t, func() bool { return refused.Load() >= 20 }, 10*time.Second, time.Millisecond)
	ready, comps := health.Status()
	assert.False(t, ready)
	require.Len(t, comps, 1)
	assert.False(t, comps[0].Ready)
	assert.Contains(t, comps[0].Reason, "401 Unauthorized: invalid token")
	fixed.Store(true)
	waitFor(t, sink, 50)
	stop()
	ready, comps = health.Status()
	assert.True(t, ready, "ready again after a successful Write: %+v", comps)
	assert.Empty(t, h.dlq.Entries(), "an auth failure never dead-letters")
	assert.Equal(t, want(0, 50), ids(sink.Events()))
	assert.Contains(t, h.logs.String(), "output ready again")
	assert.Equal(t, 1, strings.Count(h.logs.String(), "output unready"), "logged once, not per retry:\n%s", h.logs.String())
	assert.NotContains(t, h.logs.String(), "output write failed, retrying")
}
