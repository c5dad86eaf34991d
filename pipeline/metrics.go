package pipeline

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// outputMetrics are one output's delivery counters, labelled with its
// pipeline and name.
type outputMetrics struct {
	sentEvents    prometheus.Counter
	sentBytes     prometheus.Counter
	failedBatches prometheus.Counter
	retriedEvents prometheus.Counter
	deadLettered  prometheus.Counter
	sendSeconds   prometheus.Observer
}

func newOutputMetrics(reg prometheus.Registerer, pipeline, output string) (*outputMetrics, error) {
	labels := prometheus.Labels{"pipeline": pipeline, "output": output}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels})
	}
	hist := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:        "kubetrail_output_send_duration_seconds",
		Help:        "Time of one Write to the sink, successful or not.",
		ConstLabels: labels,
		Buckets:     prometheus.ExponentialBuckets(0.001, 4, 9),
	})
	m := &outputMetrics{
		sentEvents:    counter("kubetrail_output_sent_events_total", "Events the sink acknowledged."),
		sentBytes:     counter("kubetrail_output_sent_bytes_total", "Raw event bytes the sink acknowledged."),
		failedBatches: counter("kubetrail_output_failed_batches_total", "Writes to the sink that failed in whole or in part."),
		retriedEvents: counter("kubetrail_output_retried_events_total", "Events scheduled for another attempt after a failure."),
		deadLettered:  counter("kubetrail_output_dead_letter_events_total", "Events the sink rejected permanently, written to the dead-letter file."),
		sendSeconds:   hist,
	}
	register := func(c prometheus.Collector) (prometheus.Collector, error) { return registerOrReuse(reg, c) }
	for _, c := range []*prometheus.Counter{&m.sentEvents, &m.sentBytes, &m.failedBatches, &m.retriedEvents, &m.deadLettered} {
		got, err := register(*c)
		if err != nil {
			return nil, err
		}
		*c = got.(prometheus.Counter)
	}
	got, err := register(hist)
	if err != nil {
		return nil, err
	}
	m.sendSeconds = got.(prometheus.Histogram)
	return m, nil
}

// registerOrReuse registers c, or returns the collector already registered
// in its place: a pipeline reopened on the same registry (tests, reloads)
// keeps counting on the collectors already exported.
func registerOrReuse(reg prometheus.Registerer, c prometheus.Collector) (prometheus.Collector, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		return are.ExistingCollector, nil
	}
	return c, err
}
