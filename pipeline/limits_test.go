package pipeline_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs/outputtest"
	"github.com/kubetrail/kubetrail/pipeline"
)

// The delivery loop never builds a batch past the output's Limits, counting
// each event's PerEventOverhead, even when the user's batch settings are
// larger; nothing is lost or reordered by the events carried over.
func TestBatchesClampedToLimits(t *testing.T) {
	h := newHarness(t)
	limits := event.Limits{MaxEvents: 7, MaxBytes: 2000, PerEventOverhead: 150}
	var mu sync.Mutex
	var sizes [][2]int // events, wire bytes per Write
	sink := &outputtest.Sink{Fail: func(_ int, b *event.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		sizes = append(sizes, [2]int{len(b.Events), b.Bytes + len(b.Events)*limits.PerEventOverhead})
		return nil
	}}
	p := h.open("audit", []pipeline.NamedOutput{{Name: "o", Output: sink, Limits: limits,
		Delivery: pipeline.DeliveryConfig{MaxEvents: 500, MaxBytes: 1 << 20, MaxWait: 20 * time.Millisecond}}})
	stop := running(t, p)
	pad := func(i int) string { return `,"pad":"` + strings.Repeat("x", i%97) + `"` }
	write(t, p, 0, 500, pad)
	waitFor(t, sink, 500)
	stop()
	assert.Equal(t, want(0, 500), ids(sink.Events()), "every event, in order")
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, sizes)
	full := 0
	for _, s := range sizes {
		assert.LessOrEqual(t, s[0], limits.MaxEvents)
		assert.LessOrEqual(t, s[1], limits.MaxBytes, "raw bytes plus overhead per event")
		if s[1]+200+limits.PerEventOverhead > limits.MaxBytes || s[0] == limits.MaxEvents {
			full++
		}
	}
	assert.Greater(t, full, len(sizes)/2, "batches are filled up to the limits, not cut short: %v", sizes)
}
