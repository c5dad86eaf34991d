package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event"
)

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	require.NoError(t, err)
	_, err = f.Write(b)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// A last line without its newline is not handed over until the newline is
// written.
func TestPartialLineWaitsForNewline(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	lines := genLines(t, 3, 20)
	appendFile(t, h.path, joinLines(lines[:1]))
	half := len(lines[1]) / 2
	appendFile(t, h.path, lines[1][:half])
	sink := &recSink{}
	r := h.start(sink)
	eventually(t, 10*time.Second, func() bool { return sink.count() >= 1 }, "first line")
	settle()
	require.Equal(t, 1, sink.count(), "a partial line was handed over")

	appendFile(t, h.path, lines[1][half:])
	settle()
	require.Equal(t, 1, sink.count(), "a line without newline was handed over")
	appendFile(t, h.path, append([]byte("\n"), joinLines(lines[2:])...))
	eventually(t, 10*time.Second, func() bool { return sink.count() >= 3 }, "completed line")
	settle()
	requireLines(t, lines, sink.all())
	require.NoError(t, r.stop(t))
	assert.Empty(t, h.dl.Entries())
}

// A line longer than max_line_bytes goes to the dead-letter file (64 KiB
// prefix and its size) without being held in memory; the lines after it are
// read.
func TestLongLineDeadLettered(t *testing.T) {
	for _, tc := range []struct {
		name    string
		oneShot bool // written with one write (may still be read in pieces)
	}{{"one-write", true}, {"trickled", false}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.mkdir()
			var tl *tailer
			h.hook = func(x *tailer) { tl = x }
			lines := genLines(t, 2, 21)
			long := bytes.Repeat([]byte("x"), 10<<20)
			copy(long, `{"kind":"Event","auditID":"long"`)
			appendFile(t, h.path, joinLines(lines[:1]))
			sink := &recSink{}
			r := h.start(sink, func(c *Config) {
				c.ReadBuffer = 4 * config.KiB
				c.BatchBytes = 16 * config.KiB
				c.MaxLineBytes = 1 * config.MiB
			})
			if tc.oneShot {
				appendFile(t, h.path, append(long[:len(long):len(long)], '\n'))
			} else {
				for i := 0; i < len(long); i += 1 << 20 {
					appendFile(t, h.path, long[i:i+1<<20])
					time.Sleep(5 * time.Millisecond)
				}
				appendFile(t, h.path, []byte("\n"))
			}
			appendFile(t, h.path, joinLines(lines[1:]))
			eventually(t, 30*time.Second, func() bool { return sink.count() >= 2 }, "lines around the long one")
			settle()
			require.NoError(t, r.stop(t))
			requireLines(t, lines, sink.all())
			dls := h.dl.Entries()
			require.Len(t, dls, 1)
			dl := dls[0]
			assert.Equal(t, int64(len(long)), dl.Size)
			assert.Equal(t, long[:64<<10], dl.Raw)
			assert.Equal(t, fmt.Sprintf("%s:%d", h.path, len(lines[0])+1), dl.Source)
			assert.Equal(t, "input/apiserver", dl.Component)
			assert.Contains(t, dl.Reason, "max_line_bytes")
			assert.Contains(t, dl.Reason, fmt.Sprint(len(long)))
			assert.Equal(t, 1.0, r.metric("kubetrail_input_dead_letter_events_total", "reason", reasonTooLong))
			assert.Equal(t, float64(size(lines)+int64(len(long))+1), r.metric("kubetrail_input_bytes_total"))
			// The buffer (which only grows) never held the line: it stays
			// within max_line_bytes + read_buffer, far below 10 MiB.
			require.NotNil(t, tl)
			assert.LessOrEqual(t, len(tl.lines.buf), int(1*config.MiB+4*config.KiB))
			t.Logf("read buffer grew to %d bytes", len(tl.lines.buf))
		})
	}
}

// A line that is not JSON goes to the dead-letter file with the parse error
// as reason; its neighbours are read, and its offset is committed.
func TestMalformedLineDeadLettered(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	lines := genLines(t, 3, 22)
	bad1 := []byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":`)
	bad2 := []byte(`not json at all`)
	appendFile(t, h.path, joinLines([][]byte{lines[0], bad1, lines[1], bad2}))
	sink := &recSink{}
	r := h.start(sink)
	eventually(t, 10*time.Second, func() bool { return len(h.dl.Entries()) >= 2 }, "dead letters")
	appendFile(t, h.path, joinLines(lines[2:]))
	eventually(t, 10*time.Second, func() bool { return sink.count() >= 3 }, "good lines")
	settle()
	require.NoError(t, r.stop(t))
	requireLines(t, lines, sink.all())
	dls := h.dl.Entries()
	require.Len(t, dls, 2)
	assert.Equal(t, bad1, dls[0].Raw)
	assert.Zero(t, dls[0].Size)
	assert.True(t, strings.HasPrefix(dls[0].Reason, "malformed JSON: "), dls[0].Reason)
	assert.Equal(t, fmt.Sprintf("%s:%d", h.path, len(lines[0])+1), dls[0].Source)
	assert.Equal(t, bad2, dls[1].Raw)
	assert.Equal(t, 2.0, r.metric("kubetrail_input_dead_letter_events_total", "reason", reasonMalformed))
	cf := readCheckpoint(t, h)
	require.Len(t, cf.Files, 1)
	assert.Equal(t, size(lines)+int64(len(bad1)+len(bad2)+2), cf.Files[0].Offset)
}

// Dead-lettered lines at the end of what was read are committed too, by a
// mark of their own.
func TestDeadLetterOnlyCommitted(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	lines := genLines(t, 1, 23)
	appendFile(t, h.path, joinLines([][]byte{lines[0], []byte("garbage")}))
	sink := &recSink{}
	r := h.start(sink)
	eventually(t, 10*time.Second, func() bool {
		b, err := os.ReadFile(h.ckptPath())
		return err == nil && bytes.Contains(b, []byte(fmt.Sprintf(`"offset": %d`, size(lines)+8)))
	}, "offset after the garbage committed")
	require.NoError(t, r.stop(t))
}

// The directory does not exist at start: the input waits, logs it once, and
// reads what is written once it exists.
func TestDirectoryMissingAtStart(t *testing.T) {
	h := newHarness(t)
	sink := &recSink{}
	r := h.start(sink)
	time.Sleep(100 * time.Millisecond)
	lines := genLines(t, 500, 24)
	l := h.logger(false, 0)
	h.mkdir()
	time.Sleep(50 * time.Millisecond) // let the input see the empty directory sometimes, not always
	writeLines(t, l, lines[:200])
	rotate(t, l)
	writeLines(t, l, lines[200:])
	eventually(t, 10*time.Second, func() bool { return sink.count() >= len(lines) }, "all lines")
	settle()
	require.NoError(t, r.stop(t))
	// Written after the start: none of it is history, not even a backup
	// that existed when the input first saw the directory.
	requireLines(t, lines, sink.all())
	assert.Len(t, h.logs.find(slog.LevelInfo, "waiting for the audit log directory"), 1)
}

// start_at end skips what the active file holds at the first start; a line
// still being written then is read whole.
func TestStartAtEnd(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	lines := genLines(t, 20, 25)
	appendFile(t, h.path, joinLines(lines[:10]))
	half := len(lines[10]) / 2
	appendFile(t, h.path, lines[10][:half])
	sink := &recSink{}
	r := h.start(sink, func(c *Config) { c.StartAt = StartEnd })
	appendFile(t, h.path, append(lines[10][half:len(lines[10]):len(lines[10])], '\n'))
	appendFile(t, h.path, joinLines(lines[11:]))
	eventually(t, 10*time.Second, func() bool { return sink.count() >= 10 }, "new lines")
	settle()
	requireLines(t, lines[10:], sink.all())
	require.NoError(t, r.stop(t))

	// start_at applies only without a checkpoint.
	appendFile(t, h.path, joinLines(lines[:5]))
	sink2 := &recSink{}
	r2 := h.start(sink2, func(c *Config) { c.StartAt = StartEnd })
	eventually(t, 10*time.Second, func() bool { return sink2.count() >= 5 }, "lines written while stopped")
	settle()
	requireLines(t, lines[:5], sink2.all())
	require.NoError(t, r2.stop(t))
}

// copytruncate: the file shrinks under the reader; it warns and restarts
// at offset 0, reading the new lines.
func TestCopyTruncate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		grown bool // rewritten past the old offset before the reader looks
	}{{"shrunk", false}, {"rewritten-longer", true}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.mkdir()
			lines := genLines(t, 300, 26)
			appendFile(t, h.path, joinLines(lines[:100]))
			sink := &recSink{}
			r := h.start(sink)
			eventually(t, 10*time.Second, func() bool { return sink.count() >= 100 }, "first lines")
			settle()
			var next [][]byte
			if tc.grown {
				next = lines[100:300]
				require.Greater(t, size(next), size(lines[:100]))
				require.NoError(t, os.WriteFile(h.path, joinLines(next), 0o600)) // O_TRUNC then write
			} else {
				next = lines[100:150]
				require.NoError(t, os.Truncate(h.path, 0))
				appendFile(t, h.path, joinLines(next))
			}
			eventually(t, 10*time.Second, func() bool { return sink.count() >= 100+len(next) }, "new lines")
			settle()
			require.NoError(t, r.stop(t))
			requireLines(t, append(append([][]byte(nil), lines[:100]...), next...), sink.all())
			assert.NotEmpty(t, h.logs.find(slog.LevelWarn, "truncated", "offset="+itoa(size(lines[:100]))))
			assert.Empty(t, h.dl.Entries())
		})
	}
}

// A file replaced at the path (not renamed to a backup name): the old one
// is drained, the new one read from 0.
func TestFileReplaced(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	lines := genLines(t, 200, 27)
	appendFile(t, h.path, joinLines(lines[:100]))
	sink := &recSink{}
	r := h.start(sink)
	eventually(t, 10*time.Second, func() bool { return sink.count() >= 100 }, "first lines")
	tmp := h.path + ".new"
	require.NoError(t, os.WriteFile(tmp, joinLines(lines[100:]), 0o600))
	require.NoError(t, os.Rename(tmp, h.path))
	eventually(t, 10*time.Second, func() bool { return sink.count() >= 200 }, "new file")
	settle()
	require.NoError(t, r.stop(t))
	requireLines(t, lines, sink.all())
	assert.NotEmpty(t, h.logs.find(slog.LevelInfo, "replaced or removed"))
}

// The lag gauge shows the bytes not read yet while the pipeline blocks, and
// drops to zero once the input caught up.
func TestLagGauge(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	lines := genLines(t, 600, 28)
	release := make(chan struct{})
	sink := &blockingSink{release: release}
	r := h.start(sink)
	appendFile(t, h.path, joinLines(lines))
	eventually(t, 10*time.Second, func() bool { return r.metric("kubetrail_input_lag_bytes") > 0 }, "lag while blocked")
	lag := r.metric("kubetrail_input_lag_bytes")
	assert.LessOrEqual(t, lag, float64(size(lines)))
	close(release)
	eventually(t, 10*time.Second, func() bool { return sink.rec.count() == len(lines) }, "all lines")
	eventually(t, 10*time.Second, func() bool { return r.metric("kubetrail_input_lag_bytes") == 0 }, "no lag once caught up")
	require.NoError(t, r.stop(t))
	requireLines(t, lines, sink.rec.all())
}

// blockingSink blocks every Write until release is closed (back-pressure).
type blockingSink struct {
	release chan struct{}
	rec     recSink
	calls   atomic.Int64 // Writes entered, blocked or not
}

func (s *blockingSink) Write(ctx context.Context, evs []event.Event, durable func()) error {
	s.calls.Add(1)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.release:
	}
	return s.rec.Write(ctx, evs, durable)
}

// With no checkpoint, backups already on disk are history for start_at
// active_file: it reads the active file from its first byte only.
func TestFirstStartSkipsExistingBackups(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	l := h.logger(true, 0)
	lines := genLines(t, 400, 29)
	writeLines(t, l, lines[:100])
	rotate(t, l)
	writeLines(t, l, lines[100:200])
	rotate(t, l)
	writeLines(t, l, lines[200:300])
	sink := &recSink{}
	r := h.start(sink, func(c *Config) { c.StartAt = StartActiveFile })
	writeLines(t, l, lines[300:])
	eventually(t, 10*time.Second, func() bool { return sink.count() >= 200 }, "active file")
	settle()
	require.NoError(t, r.stop(t))
	requireLines(t, lines[200:], sink.all())
	assert.Len(t, h.logs.find(slog.LevelInfo, "are history", "backups=2"), 1, "the skipped backups are said")
}

// An idle input does not rewrite its checkpoint.
func TestIdleKeepsCheckpoint(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	appendFile(t, h.path, joinLines(genLines(t, 10, 30)))
	sink := &recSink{}
	r := h.start(sink)
	eventually(t, 10*time.Second, func() bool { return sink.count() == 10 }, "lines")
	time.Sleep(200 * time.Millisecond)
	before, err := os.Stat(h.ckptPath())
	require.NoError(t, err)
	time.Sleep(500 * time.Millisecond) // 25 polls, several directory scans
	after, err := os.Stat(h.ckptPath())
	require.NoError(t, err)
	assert.True(t, os.SameFile(before, after), "checkpoint rewritten while idle")
	require.NoError(t, r.stop(t))
}

// A rotated file that ends without a newline (lumberjack never does this)
// has its last fragment dead-lettered once it is drained.
func TestRotatedWithoutNewline(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	lines := genLines(t, 3, 31)
	appendFile(t, h.path, joinLines(lines[:1]))
	appendFile(t, h.path, lines[1][:100])
	sink := &recSink{}
	r := h.start(sink)
	eventually(t, 10*time.Second, func() bool { return sink.count() == 1 }, "first line")
	backup := h.dir + "/audit-2026-11-22T02-24-24.135.log"
	require.NoError(t, os.Rename(h.path, backup))
	appendFile(t, h.path, joinLines(lines[2:]))
	eventually(t, 10*time.Second, func() bool { return sink.count() == 2 }, "next file")
	require.NoError(t, r.stop(t))
	requireLines(t, [][]byte{lines[0], lines[2]}, sink.all())
	dls := h.dl.Entries()
	require.Len(t, dls, 1)
	assert.Equal(t, lines[1][:100], dls[0].Raw)
	assert.Equal(t, fmt.Sprintf("%s:%d", backup, len(lines[0])+1), dls[0].Source)
	assert.Contains(t, dls[0].Reason, "without a newline")
	assert.Equal(t, 1.0, r.metric("kubetrail_input_dead_letter_events_total", "reason", reasonNoNewline))
	assert.Equal(t, 1.0, r.metric("kubetrail_input_rotations_total"))
}

// The dead-letter file is synced before a checkpoint passes the lines the
// input dead-lettered, and a failing sync keeps the checkpoint where it was.
func TestDeadLetterSyncedBeforeCommit(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	lines := genLines(t, 1, 57)
	var failSync atomic.Bool
	failSync.Store(true)
	h.dl.SyncErr = func() error {
		if failSync.Load() {
			return errors.New("disk gone")
		}
		return nil
	}
	appendFile(t, h.path, joinLines([][]byte{lines[0], []byte("garbage")}))
	sink := &recSink{}
	r := h.start(sink)
	eventually(t, 10*time.Second, func() bool { return len(h.dl.Entries()) == 1 }, "dead-lettered")
	past := []byte(fmt.Sprintf(`"offset": %d`, size(lines)+8))
	time.Sleep(100 * time.Millisecond)
	b, _ := os.ReadFile(h.ckptPath())
	assert.False(t, bytes.Contains(b, past), "committed past an unsynced dead letter")
	require.Error(t, r.stop(t), "a failing dead-letter sync stops the input")

	failSync.Store(false)
	r2 := h.start(&recSink{})
	eventually(t, 10*time.Second, func() bool {
		b, err := os.ReadFile(h.ckptPath())
		return err == nil && bytes.Contains(b, past)
	}, "committed once synced")
	entries, syncs := h.dl.Synced()
	assert.Equal(t, len(h.dl.Entries()), entries)
	assert.Positive(t, syncs)
	require.NoError(t, r2.stop(t))
}

// A line the input gives up on never reached the redact processor: its
// dead-letter entry keeps what identifies the event and leaves out the
// bodies, where Secret values are.
func TestDeadLetterLeavesOutBodies(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	lines := genLines(t, 2, 23)
	head := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"big-secret","stage":"ResponseComplete","verb":"create","objectRef":{"resource":"secrets","namespace":"a","name":"s"},`
	long := []byte(head + `"requestObject":{"kind":"Secret","stringData":{"password":"PLANTED-long-secret"},"x":"` +
		strings.Repeat("y", 2<<20) + `"}}`)
	malformed := []byte(head + `"responseObject":{"data":{"token":"PLANTED-malformed-secret"`)
	appendFile(t, h.path, joinLines([][]byte{lines[0], long, malformed, lines[1]}))
	sink := &recSink{}
	r := h.start(sink, func(c *Config) { c.MaxLineBytes = 1 * config.MiB })
	eventually(t, 10*time.Second, func() bool { return sink.count() >= 2 && len(h.dl.Entries()) >= 2 }, "lines and dead letters")
	settle()
	require.NoError(t, r.stop(t))
	dls := h.dl.Entries()
	require.Len(t, dls, 2)
	for _, dl := range dls {
		assert.Equal(t, head, string(dl.Raw), "the identifying head is kept, the bodies are not")
		assert.NotContains(t, string(dl.Raw), "PLANTED")
		assert.Contains(t, dl.Reason, "requestObject and responseObject left out")
	}
	assert.Equal(t, int64(len(long)), dls[0].Size)
}
