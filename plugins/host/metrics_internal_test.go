package host

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An output re-created on the same registry (a pipeline reopened) counts on
// the collectors already exported: the restarts counter stays the counter
// and the up gauge the gauge (a Gauge also satisfies prometheus.Counter).
func TestMetricsReuseRegisteredCollectors(t *testing.T) {
	reg := prometheus.NewRegistry()
	first, second := &Output{name: "archive"}, &Output{name: "archive"}
	require.NoError(t, first.registerMetrics(reg))
	require.NoError(t, second.registerMetrics(reg))
	assert.Same(t, first.restarts, second.restarts)
	assert.Same(t, first.up, second.up)
	second.up.Set(1)
	second.restarts.Inc()
	assert.InDelta(t, 1.0, testutil.ToFloat64(first.up), 0)
	assert.InDelta(t, 1.0, testutil.ToFloat64(first.restarts), 0)
}
