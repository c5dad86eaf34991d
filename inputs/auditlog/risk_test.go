package auditlog

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// While the pipeline blocks the reader in the first file, the gauges show
// the next file lumberjack can delete: its unread bytes, its age and, with
// max_backups, how many rotations are left before lumberjack deletes it.
func TestCloseToLossGauges(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	lines := genLines(t, 300, 60)
	release := make(chan struct{})
	sink := &blockingSink{release: release}
	three := 3
	r := h.start(sink, func(c *Config) { c.MaxBackups = &three })
	l := h.logger(false, 0)
	writeLines(t, l, lines[:100])
	// The reader is blocked in file 0 once the sink holds its first batch
	// (the lag gauge alone may read 0: it is refreshed at end of file).
	eventually(t, 10*time.Second, func() bool { return sink.calls.Load() > 0 }, "reader blocked in file 0")
	rotate(t, l)
	writeLines(t, l, lines[100:200])
	rotate(t, l)
	writeLines(t, l, lines[200:])
	// File 1 is the next at risk, as the newest backup (of 3 kept) once
	// the input saw it rotated.
	eventually(t, 10*time.Second, func() bool {
		return r.metric("kubetrail_input_oldest_unread_bytes") == float64(size(lines[100:200])) &&
			r.metric("kubetrail_input_rotations_before_loss") == 2
	}, "file 1 is the next at risk (got %v bytes, %v rotations)", r.metric("kubetrail_input_oldest_unread_bytes"), r.metric("kubetrail_input_rotations_before_loss"))
	// The corpus events are days old.
	assert.Greater(t, r.metric("kubetrail_input_oldest_unread_age_seconds"), 3600.0)

	rotate(t, l) // file 2 becomes a backup too: file 1 is one rotation closer
	eventually(t, 10*time.Second, func() bool { return r.metric("kubetrail_input_rotations_before_loss") == 1 }, "one rotation closer")

	close(release)
	eventually(t, 10*time.Second, func() bool { return sink.rec.count() == len(lines) }, "all lines")
	eventually(t, 10*time.Second, func() bool { return r.metric("kubetrail_input_oldest_unread_bytes") == 0 }, "caught up")
	assert.Zero(t, r.metric("kubetrail_input_oldest_unread_age_seconds"))
	assert.True(t, math.IsInf(r.metric("kubetrail_input_rotations_before_loss"), 1))
	require.NoError(t, r.stop(t))
	requireLines(t, lines, sink.rec.all())
}

// Without max_backups the rotations gauge is not exported.
func TestRotationsGaugeNeedsMaxBackups(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	r := h.start(&recSink{})
	require.NoError(t, r.stop(t))
	mfs, err := r.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		assert.NotEqual(t, "kubetrail_input_rotations_before_loss", mf.GetName())
	}
}
