package auditlog

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/natefinch/lumberjack.v2"
)

// writeWithRotations writes lines through l, rotating at random points
// (about every 50-250 lines), and returns how many rotations it did.
func writeWithRotations(t *testing.T, l *lumberjack.Logger, lines [][]byte, seed uint64) int {
	rng := rand.New(rand.NewPCG(seed, 1))
	rotations := 0
	next := 50 + rng.IntN(200)
	for i, line := range lines {
		if i == next {
			rotate(t, l)
			rotations++
			next += 50 + rng.IntN(200)
		}
		writeLines(t, l, lines[i:i+1])
		_ = line
	}
	return rotations
}

// Every line written while the active file is rotated many times is read
// exactly once, in order.
func TestRotationExactlyOnce(t *testing.T) {
	for _, tc := range []struct {
		name     string
		compress bool
		delay    time.Duration // sink latency: makes the input fall behind
		batch    int
	}{
		{name: "plain"},
		{name: "plain-behind", delay: time.Millisecond, batch: 20},
		{name: "gzip", compress: true},
		{name: "gzip-behind", compress: true, delay: time.Millisecond, batch: 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.mkdir()
			sink := &recSink{delay: tc.delay}
			r := h.start(sink, func(c *Config) {
				if tc.batch > 0 {
					c.BatchEvents = tc.batch
				}
			})
			lines := genLines(t, 6000, 1)
			l := h.logger(tc.compress, 0)
			rot := writeWithRotations(t, l, lines, 7)
			eventually(t, 60*time.Second, func() bool { return sink.count() >= len(lines) }, "all %d events (got %d)", len(lines), sink.count())
			settle()
			requireLines(t, lines, sink.all())
			require.NoError(t, r.stop(t))
			assert.Equal(t, float64(len(lines)), r.metric("kubetrail_input_events_total"))
			assert.Equal(t, float64(rot), r.metric("kubetrail_input_rotations_total"), "rotations")
			assert.Zero(t, r.metric("kubetrail_input_lost_files_total"))
			assert.Empty(t, h.dl.Entries())
			if tc.compress && tc.delay > 0 {
				// Behind a slow sink, some backups were gzipped before they
				// were read: they were read through the decompressor.
				assert.NotEmpty(t, h.logs.find(-4, "reading file", ".log.gz"), "no .gz was read")
			}
		})
	}
}

// The real corpus, replayed through lumberjack file by file while the input
// runs, comes out whole and in order.
func TestCorpusReplay(t *testing.T) {
	const corpus = "../../testdata/corpus-run1"
	var files []string
	old, err := filepath.Glob(filepath.Join(corpus, "pruned-by-maxbackup", "audit-*.log"))
	require.NoError(t, err)
	kept, err := filepath.Glob(filepath.Join(corpus, "audit-*.log"))
	require.NoError(t, err)
	files = append(append(files, old...), kept...)
	files = append(files, filepath.Join(corpus, "audit.log"))
	require.Len(t, files, 10)

	h := newHarness(t)
	h.mkdir()
	sink := &recSink{}
	r := h.start(sink)
	l := &lumberjack.Logger{Filename: h.path, MaxSize: 2, MaxBackups: 3, Compress: true}
	t.Cleanup(func() { l.Close(); h.millDone() })
	var want [][]byte
	for i, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		if i > 0 {
			rotate(t, l)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := bytes.Clone(sc.Bytes())
			want = append(want, line)
			writeLines(t, l, [][]byte{line})
		}
		require.NoError(t, sc.Err())
	}
	require.Len(t, want, 6791)
	eventually(t, 60*time.Second, func() bool { return sink.count() >= len(want) }, "all events (got %d)", sink.count())
	settle()
	requireLines(t, want, sink.all())
	require.NoError(t, r.stop(t))
	assert.Equal(t, float64(9474576), r.metric("kubetrail_input_bytes_total"))
	assert.Empty(t, h.dl.Entries())
	for _, rec := range h.logs.all() {
		assert.False(t, strings.Contains(rec, " ERROR "), rec)
	}
}
