package auditlog

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/natefinch/lumberjack.v2"
)

// history writes, before any input runs, gzPlain[0] backups that
// lumberjack gzips, then gzPlain[1] plain backups, then the active file,
// perFile lines each (all through lumberjack). It returns the lines in the
// order they were written.
func (h *harness) history(t *testing.T, gzPlain [2]int, perFile, salt int) [][]byte {
	t.Helper()
	n := (gzPlain[0] + gzPlain[1] + 1) * perFile
	lines := genLines(t, n, salt)
	gz := &lumberjack.Logger{Filename: h.path, MaxSize: 100, Compress: true}
	i := 0
	for range gzPlain[0] {
		writeLines(t, gz, lines[i:i+perFile])
		i += perFile
		rotate(t, gz)
	}
	require.NoError(t, gz.Close())
	h.millDone()
	eventually(t, 10*time.Second, func() bool {
		plain, _ := filepath.Glob(filepath.Join(h.dir, "audit-*.log"))
		return len(plain) == 0
	}, "lumberjack gzipped the backups")
	plain := h.logger(false, 0)
	for range gzPlain[1] {
		writeLines(t, plain, lines[i:i+perFile])
		i += perFile
		rotate(t, plain)
	}
	writeLines(t, plain, lines[i:])
	gzs, _ := filepath.Glob(filepath.Join(h.dir, "audit-*.log.gz"))
	plains, _ := filepath.Glob(filepath.Join(h.dir, "audit-*.log"))
	require.Len(t, gzs, gzPlain[0])
	require.Len(t, plains, gzPlain[1])
	return lines
}

// A first start with start_at beginning (the default) reads every retained
// backup, .gz and plain, oldest first, then the active file: every line
// exactly once and in order. It says at start what it will read.
func TestFirstStartReadsRetainedHistory(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	lines := h.history(t, [2]int{3, 2}, 300, 50)
	var total int64
	ents, err := os.ReadDir(h.dir)
	require.NoError(t, err)
	require.Len(t, ents, 6)
	sink := &recSink{}
	r := h.start(sink)
	eventually(t, 30*time.Second, func() bool { return sink.count() >= len(lines) }, "every line (got %d)", sink.count())
	settle()
	requireLines(t, lines, sink.all())
	require.NoError(t, r.stop(t))
	assert.Zero(t, r.metric("kubetrail_input_lost_files_total"))
	assert.Zero(t, r.metric("kubetrail_input_rotations_total"), "history read is not rotations followed")
	total = size(lines)
	assert.Equal(t, float64(total), r.metric("kubetrail_input_bytes_total"))

	first := string(firstLineTime(t, lines[0]))
	started := h.logs.find(slog.LevelInfo, "audit log input started", "start_at=beginning", "oldest_event="+first)
	require.Len(t, started, 1)
	// Files by their current names, oldest first; total bytes (the .gz
	// by their uncompressed size from the gzip trailer).
	assert.Contains(t, started[0], "bytes_to_read="+itoa(total))
	gzs, _ := filepath.Glob(filepath.Join(h.dir, "audit-*.log.gz"))
	plains, _ := filepath.Glob(filepath.Join(h.dir, "audit-*.log"))
	want := append(append(gzs, plains...), h.path)
	pos := 0
	for _, f := range want {
		i := strings.Index(started[0][pos:], f+"@0")
		require.GreaterOrEqual(t, i, 0, "%s in order in %s", f, started[0])
		pos += i
	}
}

func firstLineTime(t *testing.T, line []byte) []byte {
	t.Helper()
	key := []byte(`"stageTimestamp":"`)
	i := bytes.Index(line, key)
	require.GreaterOrEqual(t, i, 0)
	rest := line[i+len(key):]
	return rest[:bytes.IndexByte(rest, '"')]
}

// A first start stopped midway through the history resumes where it was:
// the backups it finished are not read again.
func TestFirstStartResumesMidHistory(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	lines := h.history(t, [2]int{3, 2}, 300, 51)
	sink1 := &recSink{delay: 2 * time.Millisecond}
	r1 := h.start(sink1, func(c *Config) { c.BatchEvents = 20 })
	eventually(t, 30*time.Second, func() bool { return sink1.count() >= 700 }, "into the third backup")
	require.NoError(t, r1.stop(t))
	n := sink1.count()
	require.Less(t, n, 1200, "stopped within the history")
	requireLines(t, lines[:n], sink1.all())

	sink2 := &recSink{}
	r2 := h.start(sink2)
	eventually(t, 30*time.Second, func() bool { return sink2.count() >= len(lines)-n }, "the rest")
	settle()
	requireLines(t, lines[n:], sink2.all())
	require.NoError(t, r2.stop(t))
	assert.Zero(t, r2.metric("kubetrail_input_lost_files_total"))
	assert.Empty(t, h.logs.find(slog.LevelError))
}

// start_at end (and active_file) still leave the history alone.
func TestFirstStartEndSkipsHistory(t *testing.T) {
	for _, tc := range []struct {
		at   StartAt
		from int // first line read, of the 1800 written before the start
	}{{StartEnd, 1800}, {StartActiveFile, 1500}} {
		t.Run(string(tc.at), func(t *testing.T) {
			h := newHarness(t)
			h.mkdir()
			lines := h.history(t, [2]int{3, 2}, 300, 52)
			more := genLines(t, 100, 53)
			sink := &recSink{}
			r := h.start(sink, func(c *Config) { c.StartAt = tc.at })
			l := &lumberjack.Logger{Filename: h.path, MaxSize: 100}
			t.Cleanup(func() { l.Close() })
			writeLines(t, l, more[:50])
			rotate(t, l)
			writeLines(t, l, more[50:])
			want := append(append([][]byte(nil), lines[tc.from:]...), more...)
			eventually(t, 30*time.Second, func() bool { return sink.count() >= len(want) }, "new lines")
			settle()
			requireLines(t, want, sink.all())
			require.NoError(t, r.stop(t))
		})
	}
}

// The clock stepped back while the input was stopped: lumberjack stamps the
// next backups earlier than those the input already read. They are new
// files, read in stamp order, not taken for history.
func TestClockSteppedBack(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	lines := genLines(t, 800, 54)
	l := h.logger(false, 0)
	sink1 := &recSink{}
	r1 := h.start(sink1)
	writeLines(t, l, lines[:200])
	rotate(t, l)
	writeLines(t, l, lines[200:400])
	eventually(t, 10*time.Second, func() bool { return sink1.count() >= 400 }, "first run")
	require.NoError(t, r1.stop(t))

	// While stopped: the active file rotates with a stamp an hour back,
	// and so does the next one (lumberjack renames the file it closed).
	backups, _ := filepath.Glob(filepath.Join(h.dir, "audit-*.log"))
	require.Len(t, backups, 1)
	first := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(backups[0]), "audit-"), ".log")
	t0, err := time.Parse(backupLayout, first)
	require.NoError(t, err)
	stepBack := func(d time.Duration) {
		require.NoError(t, l.Close())
		require.NoError(t, os.Rename(h.path, filepath.Join(h.dir, "audit-"+t0.Add(d).Format(backupLayout)+".log")))
	}
	writeLines(t, l, lines[400:500])
	stepBack(-time.Hour)
	writeLines(t, l, lines[500:600])
	stepBack(-time.Hour + time.Second)
	writeLines(t, l, lines[600:700])

	sink2 := &recSink{}
	r2 := h.start(sink2)
	writeLines(t, l, lines[700:])
	eventually(t, 10*time.Second, func() bool { return sink2.count() >= 400 }, "second run (got %d)", sink2.count())
	settle()
	requireLines(t, lines[400:], sink2.all())

	// And while running: the next rotation also goes back in time.
	more := genLines(t, 200, 55)
	stepBack(-2 * time.Hour)
	writeLines(t, l, more[:100])
	stepBack(-2*time.Hour + time.Second)
	writeLines(t, l, more[100:])
	eventually(t, 10*time.Second, func() bool { return sink2.count() >= 600 }, "while running (got %d)", sink2.count())
	settle()
	requireLines(t, append(append([][]byte(nil), lines[400:]...), more...), sink2.all())
	require.NoError(t, r2.stop(t))
	assert.Zero(t, r2.metric("kubetrail_input_lost_files_total"))
}

// The start log names files where they are now, and says it waits for the
// active file while it does not exist.
func TestStartLogs(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	sink1 := &recSink{}
	r1 := h.start(sink1)
	assert.Len(t, h.logs.find(slog.LevelInfo, "waiting for "+h.path), 1)
	lines := genLines(t, 300, 56)
	l := h.logger(false, 0)
	writeLines(t, l, lines[:100])
	eventually(t, 10*time.Second, func() bool { return sink1.count() == 100 }, "first lines")
	assert.Len(t, h.logs.find(slog.LevelInfo, "the active audit log appeared", h.path), 1)
	require.NoError(t, r1.stop(t))

	writeLines(t, l, lines[100:200])
	rotate(t, l)
	writeLines(t, l, lines[200:])
	backups, _ := filepath.Glob(filepath.Join(h.dir, "audit-*.log"))
	require.Len(t, backups, 1)
	sink2 := &recSink{}
	r2 := h.start(sink2)
	eventually(t, 10*time.Second, func() bool { return sink2.count() == 200 }, "the rest")
	require.NoError(t, r2.stop(t))
	started := h.logs.find(slog.LevelInfo, "audit log input started", "checkpoint=true")
	require.Len(t, started, 1)
	assert.Contains(t, started[0], "files=["+backups[0]+"@"+itoa(size(lines[:100]))+" "+h.path+"@0]")
	assert.Contains(t, started[0], "bytes_to_read="+itoa(size(lines[100:])))
}
