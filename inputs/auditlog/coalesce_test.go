package auditlog

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/config"
)

func TestCoalescePause(t *testing.T) {
	for _, c := range []struct {
		n    int64
		d    time.Duration
		want time.Duration
	}{
		{0, time.Second, maxCoalesce},                     // nothing read: no rate
		{1000, 0, maxCoalesce},                            // no time passed
		{550 << 10, time.Second, 128 * time.Second / 550}, // 500 events/s of 1.1 KB: 233 ms, capped
		{coalesceBytes, 100 * time.Millisecond, 100 * time.Millisecond},
		{coalesceBytes, 40 * time.Millisecond, 40 * time.Millisecond},
		{5 << 20, time.Second, minCoalesce}, // 5,000 events/s
		{1 << 30, time.Second, minCoalesce}, // a backlog read flat out
	} {
		want := min(max(c.want, minCoalesce), maxCoalesce)
		assert.Equal(t, want, coalescePause(c.n, c.d), "%d bytes over %s", c.n, c.d)
	}
}

// A file growing slowly is read in few wake-ups, many lines each (the
// coalescing pause grows to maxCoalesce); a fast stream brings the pause
// down again, and every line arrives in order either way.
func TestCoalescingFollowsTheRate(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	l := h.logger(false, 1)
	var tl *tailer
	h.hook = func(t *tailer) { tl = t }
	sink := &recSink{}
	// Polls (the safety net) at a longer interval than maxCoalesce, as
	// by default: a poll reads what is there without waiting.
	r := h.start(sink, func(c *Config) { c.PollInterval = config.Duration(time.Second) })
	pause := func() time.Duration { return tl.wt.coalesce() }
	require.Equal(t, minCoalesce, pause(), "the pause before any data")

	// 50 lines a second, one write each, as kube-apiserver writes them.
	slow := genLines(t, 60, 1)
	for _, line := range slow {
		writeLines(t, l, [][]byte{line})
		time.Sleep(20 * time.Millisecond)
	}
	eventually(t, 10*time.Second, func() bool { return sink.count() == len(slow) }, "the slow lines")
	assert.Equal(t, maxCoalesce, pause(), "the pause at 50 lines a second")
	// With a 25 ms pause nearly every line was a wake-up of its own (and
	// a Write to the sink); at maxCoalesce, about ten lines make one.
	assert.Less(t, sink.writes(), len(slow)/3, "wake-ups (sink writes) for %d lines written 20 ms apart", len(slow))

	// A fast stream: the pause comes down.
	fast := genLines(t, 5000, 2)
	writeLines(t, l, fast)
	eventually(t, 20*time.Second, func() bool { return sink.count() == len(slow)+len(fast) }, "the fast lines")
	assert.Less(t, pause(), maxCoalesce, "the pause after %d lines written at once", len(fast))
	got := sink.all()
	for i, want := range append(slow, fast...) {
		require.True(t, bytes.Equal(want, got[i]), "line %d out of order or changed", i)
	}
	require.NoError(t, r.stop(t))
}

// writes is how many Write calls the sink had.
func (s *recSink) writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.batches)
}
