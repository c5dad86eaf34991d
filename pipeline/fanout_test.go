package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs/outputtest"
	"github.com/kubetrail/kubetrail/pipeline"
	"github.com/kubetrail/kubetrail/pipeline/buffer"
)

// A full buffer under when_full: block holds back the input and so every
// other pipeline it feeds (documented on Fanout); the metric shows which
// pipeline blocks and for how long.
func TestFullBlockingBufferHoldsBackFanoutAndIsCounted(t *testing.T) {
	h := newHarness(t)
	reg := prometheus.NewRegistry()
	open := func(name string, out event.Output, opts buffer.Options) *pipeline.Pipeline {
		p, err := pipeline.New(pipeline.Config{Name: name, Buffer: opts, DeadLetter: h.dlq, Logger: h.logger(), Metrics: reg,
			Outputs: []pipeline.NamedOutput{{Name: name + "-out", Output: out,
				Delivery: pipeline.DeliveryConfig{MaxWait: time.Millisecond, Retry: fastRetry}}}})
		require.NoError(t, err)
		return p
	}
	dead := &outputtest.Sink{Fail: func(int, *event.Batch) error { return errors.New("503") }}
	live := &outputtest.Sink{}
	small := h.bufferOptions("small")
	small.MaxBytes, small.SegmentBytes = 256<<10, 64<<10
	pSmall := open("small", dead, small)
	pBig := open("big", live, h.bufferOptions("big"))
	stopSmall, stopBig := running(t, pSmall), running(t, pBig)
	sink := pipeline.Fanout(pSmall, pBig)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		n := 0
		defer func() { done <- n }()
		for i := 0; ; i += 100 {
			var evs []event.Event
			for j := i; j < i+100; j++ {
				evs = append(evs, testEvent(j, `,"pad":"`+strings.Repeat("x", 200)+`"`))
			}
			if sink.Write(ctx, evs, nil) != nil {
				return
			}
			n += 100
		}
	}()
	blocked := func(p string) float64 {
		return testutil.ToFloat64(metricWithPipeline(t, reg, "kubetrail_buffer_full_blocked_seconds_total", p))
	}
	require.Eventually(t, func() bool { return blocked("small") > 0.2 }, 20*time.Second, 10*time.Millisecond)
	got := len(live.Events())
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, got, len(live.Events()), "the other pipeline gets nothing new while one buffer blocks the input")
	assert.Zero(t, blocked("big"))
	assert.GreaterOrEqual(t, testutil.ToFloat64(metricWithPipeline(t, reg, "kubetrail_buffer_full_blocks_total", "small")), 1.0)
	cancel()
	<-done
	stopSmall()
	stopBig()
}

// metricWithPipeline returns the collector of one series of a gathered
// metric, by its pipeline label.
func metricWithPipeline(t *testing.T, reg *prometheus.Registry, name, p string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "pipeline" && l.GetValue() == p {
					return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x"}, func() float64 {
						if m.Counter != nil {
							return m.Counter.GetValue()
						}
						return m.Gauge.GetValue()
					})
				}
			}
		}
	}
	t.Fatalf("no %s{pipeline=%q}", name, p)
	return nil
}
