package splunkhec

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests     *prometheus.CounterVec
	requestBytes prometheus.Counter
	splits       prometheus.Counter
	oversize     *prometheus.CounterVec
	ackTimeouts  prometheus.Counter
	ackWait      prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubetrail_splunkhec_requests_total",
			Help: "Event requests sent to HEC, by HTTP status (\"error\": no answer).",
		}, []string{"status"}),
		requestBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kubetrail_splunkhec_request_bytes_total",
			Help: "Bytes of event request bodies sent to HEC, as sent (compressed).",
		}),
		splits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kubetrail_splunkhec_splits_total",
			Help: "Requests split after HEC refused them (400 about an event, 413).",
		}),
		oversize: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubetrail_splunkhec_oversize_events_total",
			Help: "Events over max_event_bytes, by what happened to them (truncated, dead_letter).",
		}, []string{"action"}),
		ackTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kubetrail_splunkhec_ack_timeouts_total",
			Help: "Requests not acknowledged within ack_timeout (sent again).",
		}),
		ackWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kubetrail_splunkhec_ack_wait_seconds",
			Help:    "Time from the last request of a batch to its last acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.requestBytes, m.splits, m.oversize, m.ackTimeouts, m.ackWait} {
			_ = reg.Register(c)
		}
	}
	return m
}

func statusLabel(status int, err error) string {
	if err != nil || status == 0 {
		return "error"
	}
	return strconv.Itoa(status)
}
