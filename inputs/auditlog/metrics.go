package auditlog

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Dead-letter reasons, as the metric's reason label (the log and the
// dead-letter entry carry the detailed reason).
const (
	reasonTooLong   = "line_too_long"
	reasonMalformed = "malformed_json"
	reasonNoNewline = "no_trailing_newline"
)

// metrics are the input's collectors, curried with input=<name>.
type metrics struct {
	events    prometheus.Counter
	bytes     prometheus.Counter
	rotations prometheus.Counter
	lostBytes prometheus.Counter
	lostFiles prometheus.Counter
	// The best estimate of everything lost, the known part included (see
	// loss.go): never below lostBytes/lostFiles.
	lostBytesEst prometheus.Counter
	lostFilesEst prometheus.Counter
	gaps         prometheus.Counter
	deadLetter   *prometheus.CounterVec // reason
	lag          prometheus.Gauge
	// Closeness to loss: the oldest file not read yet (other than the open
	// one), its unread bytes and age, and with max_backups the rotations
	// lumberjack can still do before it deletes it (nil without).
	riskBytes, riskAge, riskRotations prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, name string, maxBackups bool) (*metrics, error) {
	l := prometheus.Labels{"input": name}
	counter := func(n, help string) (prometheus.Counter, error) {
		v, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: n, Help: help}, []string{"input"}))
		if err != nil {
			return nil, err
		}
		cv, ok := v.(*prometheus.CounterVec)
		if !ok {
			return nil, fmt.Errorf("metric %s is already registered as a %T", n, v)
		}
		return cv.With(l), nil
	}
	var m metrics
	var err error
	if m.events, err = counter("kubetrail_input_events_total", "Events read and handed to the pipeline."); err != nil {
		return nil, err
	}
	if m.bytes, err = counter("kubetrail_input_bytes_total", "Bytes read from the input's files (uncompressed, newlines included, dead-lettered lines included)."); err != nil {
		return nil, err
	}
	if m.rotations, err = counter("kubetrail_input_rotations_total", "Rotations of the active file the input followed."); err != nil {
		return nil, err
	}
	if m.lostBytes, err = counter("kubetrail_input_lost_bytes_total", "Bytes of files that disappeared before they were read (as far as known)."); err != nil {
		return nil, err
	}
	if m.lostFiles, err = counter("kubetrail_input_lost_files_total", "Files that disappeared before they were fully read."); err != nil {
		return nil, err
	}
	if m.lostBytesEst, err = counter("kubetrail_input_lost_bytes_estimated_total", "Best estimate of the bytes lost, the known part (kubetrail_input_lost_bytes_total) included: what the active file held when lumberjack rotated it, and whole files rotated and deleted before the input saw them (the log lines give each estimate's range)."); err != nil {
		return nil, err
	}
	if m.lostFilesEst, err = counter("kubetrail_input_lost_files_estimated_total", "Best estimate of the files lost, those of kubetrail_input_lost_files_total included, plus the files rotated and deleted before the input saw them."); err != nil {
		return nil, err
	}
	if m.gaps, err = counter("kubetrail_input_loss_gaps_total", "Places in the chain where files may have been deleted before the input saw them (the log line has the time range and an estimate of the bytes)."); err != nil {
		return nil, err
	}
	dl, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubetrail_input_dead_letter_events_total",
		Help: "Lines sent to the dead-letter file instead of the pipeline, by reason.",
	}, []string{"input", "reason"}))
	if err != nil {
		return nil, err
	}
	dlv, ok := dl.(*prometheus.CounterVec)
	if !ok {
		return nil, fmt.Errorf("metric kubetrail_input_dead_letter_events_total is already registered as a %T", dl)
	}
	if m.deadLetter, err = dlv.CurryWith(l); err != nil {
		return nil, fmt.Errorf("metric kubetrail_input_dead_letter_events_total: %w", err)
	}
	lag, err := register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kubetrail_input_lag_bytes",
		Help: "Bytes written to the input's files but not read yet (estimate, refreshed at end of file and on rescans).",
	}, []string{"input"}))
	if err != nil {
		return nil, err
	}
	lv, ok := lag.(*prometheus.GaugeVec)
	if !ok {
		return nil, fmt.Errorf("metric kubetrail_input_lag_bytes is already registered as a %T", lag)
	}
	m.lag = lv.With(l)
	gauge := func(n, help string) (prometheus.Gauge, error) {
		v, err := register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: n, Help: help}, []string{"input"}))
		if err != nil {
			return nil, err
		}
		gv, ok := v.(*prometheus.GaugeVec)
		if !ok {
			return nil, fmt.Errorf("metric %s is already registered as a %T", n, v)
		}
		return gv.With(l), nil
	}
	if m.riskBytes, err = gauge("kubetrail_input_oldest_unread_bytes", "Unread bytes of the oldest file not read yet (other than the one open), the next one lumberjack can delete; 0 when the input is caught up."); err != nil {
		return nil, err
	}
	if m.riskAge, err = gauge("kubetrail_input_oldest_unread_age_seconds", "Age of the first unread event of the oldest file not read yet (other than the one open); 0 when the input is caught up."); err != nil {
		return nil, err
	}
	if maxBackups {
		if m.riskRotations, err = gauge("kubetrail_input_rotations_before_loss", "Rotations lumberjack can still do before it deletes the oldest file not read yet (from max_backups; 0: the next rotation loses data; +Inf when caught up)."); err != nil {
			return nil, err
		}
	}
	return &m, nil
}

// register registers c, or returns the collector already registered under
// the same description (several inputs share one vector, told apart by the
// input label).
func register(reg prometheus.Registerer, c prometheus.Collector) (prometheus.Collector, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			return are.ExistingCollector, nil
		}
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	return c, nil
}
