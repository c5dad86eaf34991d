package buffer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRoundTripManySegments(t *testing.T) {
	tests := []struct {
		name                 string
		group                int
		maxRecords, maxBytes int
	}{
		{"one by one", 1, 1, 0},
		{"groups of 500, batches of 100", 500, 100, 0},
		{"groups of 37, batches by bytes", 37, 0, 10 << 10},
		{"maxBytes smaller than records", 64, 1000, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			b := mustOpen(t, testOptions(dir, "a", "b"))
			const n = 4000
			appendRange(t, b, 0, n, tt.group)
			st := b.Stats()
			require.Greater(t, st.Segments, 10)
			assert.EqualValues(t, n, st.Records)
			assert.Len(t, segFiles(t, dir), st.Segments)

			a := mustCursor(t, b, "a")
			recs := readN(t, a, n, tt.maxRecords, tt.maxBytes)
			assert.Equal(t, seq(0, n), numbers(t, recs))
			assert.Equal(t, st.Head, recs[n-1].End)
			assertNoMore(t, a)

			// a committed everything, b nothing: no segment may go.
			require.NoError(t, a.Commit(recs[n-1].End))
			assert.Equal(t, st.Segments, b.Stats().Segments)
			c := mustCursor(t, b, "b")
			recs2 := readN(t, c, n, 300, 0)
			assert.Equal(t, seq(0, n), numbers(t, recs2))
			require.NoError(t, c.Commit(recs2[n-1].End))
			st = b.Stats()
			assert.Equal(t, 1, st.Segments)
			assert.Len(t, segFiles(t, dir), 1)
			assert.Zero(t, st.Cursors["a"].LagBytes)
			assert.Zero(t, st.Cursors["b"].LagRecords)
		})
	}
}

func TestNextDataStaysValid(t *testing.T) {
	b := mustOpen(t, testOptions(t.TempDir(), "a"))
	appendRange(t, b, 0, 3000, 100)
	c := mustCursor(t, b, "a")
	var held [][]Record
	for total := 0; total < 3000; {
		recs := readN(t, c, 1, 50, 0)
		held = append(held, recs)
		total += len(recs)
	}
	want := 0
	for _, recs := range held {
		for _, r := range recs {
			assert.Equal(t, want, numberOf(t, r.Data))
			want++
		}
	}
	// Appending to a returned slice must not clobber the next record.
	r := held[0]
	if len(r) > 1 {
		_ = append(r[0].Data, 0xff)
		assert.Equal(t, 1, numberOf(t, r[1].Data))
	}
}

func TestRestartResumesCommittedPositions(t *testing.T) {
	for _, policy := range []FsyncPolicy{FsyncAlways, FsyncInterval, FsyncNever} {
		t.Run(string(policy), func(t *testing.T) {
			dir := t.TempDir()
			opts := testOptions(dir, "a", "b")
			opts.Fsync = policy
			b, err := Open(opts)
			require.NoError(t, err)
			appendRange(t, b, 0, 2000, 50)
			a, bc := mustCursor(t, b, "a"), mustCursor(t, b, "b")
			ra := readN(t, a, 1200, 100, 0)
			require.NoError(t, a.Commit(ra[999].End)) // 1000..1199 read, not committed
			readN(t, bc, 300, 100, 0)                 // read, never committed
			head := b.Stats().Head
			require.NoError(t, b.Close())
			require.NoError(t, b.Close(), "Close is idempotent")

			b = mustOpen(t, opts)
			st := b.Stats()
			assert.Equal(t, head, st.Head)
			assert.EqualValues(t, 2000, st.Records)
			assert.EqualValues(t, 1000, st.Cursors["a"].LagRecords)
			assert.Equal(t, ra[999].End, st.Cursors["a"].Committed)
			a, bc = mustCursor(t, b, "a"), mustCursor(t, b, "b")
			assert.Equal(t, seq(1000, 2000), numbers(t, readN(t, a, 1000, 1000, 0)))
			assert.Equal(t, seq(0, 2000), numbers(t, readN(t, bc, 2000, 1000, 0)), "uncommitted records are read again")
			// Positions continue after a restart.
			appendRange(t, b, 2000, 2100, 10)
			recs := readN(t, a, 100, 1000, 0)
			assert.Equal(t, seq(2000, 2100), numbers(t, recs))
			assert.Greater(t, recs[0].End, head)
		})
	}
}

func TestRewind(t *testing.T) {
	b := mustOpen(t, testOptions(t.TempDir(), "a"))
	appendRange(t, b, 0, 100, 10)
	c := mustCursor(t, b, "a")
	recs := readN(t, c, 30, 10, 0)
	require.NoError(t, c.Commit(recs[9].End))
	c.Rewind()
	assert.Equal(t, seq(10, 100), numbers(t, readN(t, c, 90, 1000, 0)))
	// Positions read before the rewind can still be committed.
	require.NoError(t, c.Commit(recs[29].End))
	assert.Equal(t, recs[29].End, c.Committed())
}

func TestCommitValidation(t *testing.T) {
	b := mustOpen(t, testOptions(t.TempDir(), "a"))
	appendRange(t, b, 0, 10, 10)
	c := mustCursor(t, b, "a")
	recs := readN(t, c, 5, 5, 0)
	assert.ErrorIs(t, c.Commit(recs[4].End+1), ErrInvalidPosition, "past the read position")
	assert.ErrorIs(t, c.Commit(recs[2].End-1), ErrInvalidPosition, "not a record boundary")
	require.NoError(t, c.Commit(recs[3].End))
	require.NoError(t, c.Commit(recs[1].End), "older commits are no-ops")
	assert.Equal(t, recs[3].End, c.Committed())
}

func TestCursorErrors(t *testing.T) {
	b := mustOpen(t, testOptions(t.TempDir(), "a"))
	_, err := b.Cursor("zzz")
	assert.ErrorIs(t, err, ErrUnknownCursor)
	mustCursor(t, b, "a")
	_, err = b.Cursor("a")
	assert.ErrorIs(t, err, ErrCursorInUse)
}

func TestRecordLimits(t *testing.T) {
	b := mustOpen(t, testOptions(t.TempDir(), "a"))
	maxRec := b.MaxRecordBytes()
	assert.Equal(t, 64<<10-52, maxRec, "a segment header (40) and a record header (12) fit")
	head := b.Stats().Head
	err := b.Append(context.Background(), [][]byte{payload(1), make([]byte, maxRec+1)}, func() { t.Error("onDurable called") })
	assert.ErrorIs(t, err, ErrRecordTooLarge)
	err = b.Append(context.Background(), [][]byte{payload(1), {}}, nil)
	assert.ErrorIs(t, err, ErrEmptyRecord)
	assert.Equal(t, head, b.Stats().Head, "nothing written")

	big := make([]byte, maxRec)
	copy(big, payload(7))
	require.NoError(t, b.Append(context.Background(), [][]byte{payload(0), big, payload(2)}, nil))
	recs := readN(t, mustCursor(t, b, "a"), 3, 10, 100)
	assert.Equal(t, big, recs[1].Data)
	assert.Equal(t, 2, numberOf(t, recs[2].Data))
}

func TestOptionsValidation(t *testing.T) {
	var p FsyncPolicy
	require.NoError(t, p.UnmarshalText([]byte("always")))
	assert.Equal(t, FsyncAlways, p)
	assert.Error(t, p.UnmarshalText([]byte("sometimes")))
	var f FullPolicy
	require.NoError(t, f.UnmarshalText([]byte("drop_oldest")))
	assert.Error(t, f.UnmarshalText([]byte("drop_newest")))

	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no dir", Options{}, "dir: required"},
		{"tiny", Options{Dir: "x", MaxBytes: 1000}, "max_bytes"},
		{"bad fsync", Options{Dir: "x", Fsync: "sometimes"}, "fsync"},
		{"bad full", Options{Dir: "x", WhenFull: "explode"}, "when_full"},
		{"dup cursor", Options{Dir: "x", Cursors: []string{"a", "a"}}, "listed twice"},
		{"empty cursor", Options{Dir: "x", Cursors: []string{""}}, "empty name"},
		{"reserved label", Options{Dir: "x", MetricLabels: prometheus.Labels{"output": "x"}}, "reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(tt.opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	o, err := Options{Dir: "x", MaxBytes: 1 << 20}.withDefaults()
	require.NoError(t, err)
	assert.EqualValues(t, 256<<10, o.SegmentBytes, "clamped to MaxBytes/4")
	o, err = Options{Dir: "x"}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, DefaultSegmentBytes, o.SegmentBytes)
	assert.Equal(t, FsyncInterval, o.Fsync)
	assert.Equal(t, FullBlock, o.WhenFull)
}

func TestStaleCursorRemovedAndNewCursorStartsAtOldest(t *testing.T) {
	dir := t.TempDir()
	b, err := Open(testOptions(dir, "a", "old", "we/ird name%"))
	require.NoError(t, err)
	appendRange(t, b, 0, 3000, 100)
	for _, name := range []string{"a", "old", "we/ird name%"} {
		c := mustCursor(t, b, name)
		recs := readN(t, c, 1000, 1000, 0)
		require.NoError(t, c.Commit(recs[999].End))
	}
	oldest := b.Stats().Oldest
	require.Greater(t, oldest, Position(0), "segments before 1000 were deleted")
	require.NoError(t, b.Close())
	_, err = os.Stat(filepath.Join(dir, cursorFileName("old")))
	require.NoError(t, err)

	b = mustOpen(t, testOptions(dir, "a", "new", "we/ird name%"))
	_, err = os.Stat(filepath.Join(dir, cursorFileName("old")))
	assert.ErrorIs(t, err, os.ErrNotExist, "cursor file of a name not listed is deleted")
	assert.Equal(t, oldest, b.Stats().Oldest, "the new cursor holds every segment left")
	recs := readN(t, mustCursor(t, b, "new"), 1, 1, 0)
	first := numberOf(t, recs[0].Data)
	assert.LessOrEqual(t, first, 1000)
	assert.Greater(t, first, 0)
	assert.Equal(t, oldest, recs[0].End-Position(recHeaderSize+len(recs[0].Data)), "starts at the oldest record")
	assert.Equal(t, seq(1000, 1010), numbers(t, readN(t, mustCursor(t, b, "we/ird name%"), 10, 10, 0)))
}

func TestNoCursorsDeletesSealedSegments(t *testing.T) {
	dir := t.TempDir()
	b := mustOpen(t, testOptions(dir))
	appendRange(t, b, 0, 3000, 100)
	assert.Equal(t, 1, b.Stats().Segments)
	assert.Len(t, segFiles(t, dir), 1)
}

func TestConcurrentAppendersAndReaders(t *testing.T) {
	opts := testOptions(t.TempDir(), "a", "b")
	opts.MaxBytes = 1 << 20 // small: appenders block on the readers
	b := mustOpen(t, opts)
	const writers, perWriter = 4, 1500
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i += 25 {
				var recs [][]byte
				for j := i; j < i+25; j++ {
					recs = append(recs, payload(w*perWriter+j))
				}
				assert.NoError(t, b.Append(context.Background(), recs, nil))
			}
		}()
	}
	for _, name := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := b.Cursor(name)
			if !assert.NoError(t, err) {
				return
			}
			next := make([]int, writers)
			commits := make(chan Position, 16)
			done := make(chan struct{})
			go func() { // Commit from another goroutine than Next.
				defer close(done)
				for p := range commits {
					assert.NoError(t, c.Commit(p))
				}
			}()
			for n := 0; n < writers*perWriter; {
				recs, err := c.Next(context.Background(), 97, 0)
				if !assert.NoError(t, err) {
					break
				}
				for _, r := range recs {
					i := numberOf(t, r.Data)
					w := i / perWriter
					assert.Equal(t, w*perWriter+next[w], i, "per-writer order")
					next[w]++
				}
				n += len(recs)
				commits <- recs[len(recs)-1].End
			}
			close(commits)
			<-done
		}()
	}
	wg.Wait()
	st := b.Stats()
	assert.Zero(t, st.Cursors["a"].LagRecords)
	assert.Zero(t, st.Cursors["b"].LagBytes)
}

func TestMetricsTwoBuffersOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	var bufs []*Buffer
	for _, p := range []string{"audit", "other"} {
		opts := testOptions(t.TempDir(), "siem", "local")
		opts.Metrics = reg
		opts.MetricLabels = prometheus.Labels{"pipeline": p}
		bufs = append(bufs, mustOpen(t, opts))
	}
	appendRange(t, bufs[0], 0, 10, 5)
	c := mustCursor(t, bufs[0], "siem")
	recs := readN(t, c, 4, 4, 0)
	require.NoError(t, c.Commit(recs[3].End))

	mfs, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName() + labelString(m)
			if mf.GetType() == dto.MetricType_COUNTER {
				got[key] = m.GetCounter().GetValue()
			} else {
				got[key] = m.GetGauge().GetValue()
			}
		}
	}
	assert.Equal(t, 10.0, got["kubetrail_buffer_events{pipeline=audit}"])
	assert.Equal(t, 0.0, got["kubetrail_buffer_events{pipeline=other}"])
	assert.Equal(t, 6.0, got["kubetrail_output_cursor_lag_events{output=siem,pipeline=audit}"])
	assert.Equal(t, 10.0, got["kubetrail_output_cursor_lag_events{output=local,pipeline=audit}"])
	assert.Equal(t, float64(bufs[0].Stats().Bytes), got["kubetrail_buffer_bytes{pipeline=audit}"])
	for _, name := range []string{"kubetrail_buffer_dropped_events_total", "kubetrail_buffer_corrupt_records_total", "kubetrail_buffer_fsyncs_total", "kubetrail_output_cursor_lag_bytes"} {
		assert.Contains(t, strings.Join(keys(got), " "), name)
	}

	// Close unregisters, so the same pipeline can open its buffer again.
	require.NoError(t, bufs[1].Close())
	opts := testOptions(t.TempDir())
	opts.Metrics = reg
	opts.MetricLabels = prometheus.Labels{"pipeline": "other"}
	mustOpen(t, opts)
}

func labelString(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func keys(m map[string]float64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestDirectoryLocked(t *testing.T) {
	dir := t.TempDir()
	mustOpen(t, testOptions(dir))
	_, err := Open(testOptions(dir))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "lock")
}

func TestClosedBuffer(t *testing.T) {
	b, err := Open(testOptions(t.TempDir(), "a"))
	require.NoError(t, err)
	c := mustCursor(t, b, "a")
	errc := make(chan error)
	go func() {
		_, err := c.Next(context.Background(), 1, 0)
		errc <- err
	}()
	require.NoError(t, b.Close())
	assert.ErrorIs(t, <-errc, ErrClosed, "a blocked Next returns at Close")
	assert.ErrorIs(t, b.Append(context.Background(), [][]byte{payload(1)}, nil), ErrClosed)
	assert.ErrorIs(t, c.Commit(1), ErrClosed)
}

// TestGroupLargerThanHalfTheBuffer: a group that cannot fit at once is
// written in chunks as the reader frees space.
func TestGroupLargerThanHalfTheBuffer(t *testing.T) {
	opts := testOptions(t.TempDir(), "a")
	opts.MaxBytes = 256 << 10
	b := mustOpen(t, opts)
	const n = 2000 // ~1 MB
	got := make(chan []int)
	go func() {
		c, _ := b.Cursor("a")
		var nums []int
		for len(nums) < n {
			recs, err := c.Next(context.Background(), 100, 0)
			if !assert.NoError(t, err) {
				break
			}
			nums = append(nums, numbers(t, recs)...)
			assert.NoError(t, c.Commit(recs[len(recs)-1].End))
		}
		got <- nums
	}()
	var recs [][]byte
	for i := range n {
		recs = append(recs, bigPayload(i)[:500])
	}
	require.NoError(t, b.Append(context.Background(), recs, nil))
	assert.Equal(t, seq(0, n), <-got)
	assert.LessOrEqual(t, b.Stats().Bytes, opts.MaxBytes)
}
