package buffer

import "github.com/prometheus/client_golang/prometheus"

// collector exports a buffer's Stats at scrape time.
type collector struct {
	b                                                          *Buffer
	bytes, events, dropped, corrupt, fsyncs, lagBytes, lagEvts *prometheus.Desc
	fullBlocks, fullBlocked                                    *prometheus.Desc
}

func newCollector(b *Buffer, labels prometheus.Labels) *collector {
	d := func(name, help string, vars ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, vars, labels)
	}
	return &collector{
		b:       b,
		bytes:   d("kubetrail_buffer_bytes", "Bytes of buffer segment files on disk."),
		events:  d("kubetrail_buffer_events", "Records (events) in the buffer on disk."),
		dropped: d("kubetrail_buffer_dropped_events_total", "Records deleted from a full buffer (drop_oldest) before every output committed them."),
		corrupt: d("kubetrail_buffer_corrupt_records_total", "Corrupt regions of buffer segments skipped (each counted as one record)."),
		fsyncs:  d("kubetrail_buffer_fsyncs_total", "Fsyncs of buffer segment files."),
		fullBlocks: d("kubetrail_buffer_full_blocks_total",
			"Appends that waited because the buffer was full (when_full: block); each holds back the input and every pipeline it feeds."),
		fullBlocked: d("kubetrail_buffer_full_blocked_seconds_total",
			"Time appends waited because the buffer was full (when_full: block), the wait in progress included."),
		lagBytes: d("kubetrail_output_cursor_lag_bytes", "Buffer bytes appended but not yet committed by the output.", "output"),
		lagEvts:  d("kubetrail_output_cursor_lag_events", "Buffer records appended but not yet committed by the output.", "output"),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.bytes, c.events, c.dropped, c.corrupt, c.fsyncs, c.fullBlocks, c.fullBlocked, c.lagBytes, c.lagEvts} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.b.Stats()
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(c.events, prometheus.GaugeValue, float64(st.Records))
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(st.Dropped))
	ch <- prometheus.MustNewConstMetric(c.corrupt, prometheus.CounterValue, float64(st.Corrupt))
	ch <- prometheus.MustNewConstMetric(c.fsyncs, prometheus.CounterValue, float64(st.Fsyncs))
	ch <- prometheus.MustNewConstMetric(c.fullBlocks, prometheus.CounterValue, float64(st.FullBlocks))
	ch <- prometheus.MustNewConstMetric(c.fullBlocked, prometheus.CounterValue, st.FullBlocked.Seconds())
	for name, cs := range st.Cursors {
		ch <- prometheus.MustNewConstMetric(c.lagBytes, prometheus.GaugeValue, float64(cs.LagBytes), name)
		ch <- prometheus.MustNewConstMetric(c.lagEvts, prometheus.GaugeValue, float64(cs.LagRecords), name)
	}
}
