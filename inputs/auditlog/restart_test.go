package auditlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readCheckpoint(t *testing.T, h *harness) checkpointFile {
	t.Helper()
	b, err := os.ReadFile(h.ckptPath())
	require.NoError(t, err)
	var cf checkpointFile
	require.NoError(t, json.Unmarshal(b, &cf))
	return cf
}

func size(lines [][]byte) int64 {
	n := int64(0)
	for _, l := range lines {
		n += int64(len(l)) + 1
	}
	return n
}

// Stopping the input, rotating (some rotations of an empty file) and
// restarting reads every line exactly once when everything was acked.
func TestRestartExactlyOnce(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	l := h.logger(false, 0)
	lines := genLines(t, 3000, 3)

	sink1 := &recSink{}
	r1 := h.start(sink1)
	writeWithRotations(t, l, lines[:1000], 1)
	eventually(t, 30*time.Second, func() bool { return sink1.count() >= 1000 }, "first 1000")
	require.NoError(t, r1.stop(t))

	writeLines(t, l, lines[1000:1500])
	rotate(t, l)
	rotate(t, l) // an empty backup
	writeLines(t, l, lines[1500:2000])
	rotate(t, l)
	writeLines(t, l, lines[2000:2500])

	sink2 := &recSink{}
	r2 := h.start(sink2)
	eventually(t, 30*time.Second, func() bool { return sink2.count() >= 1500 }, "restart: 1500 (got %d)", sink2.count())
	writeWithRotations(t, l, lines[2500:], 2)
	eventually(t, 30*time.Second, func() bool { return sink2.count() >= 2000 }, "restart: 2000 (got %d)", sink2.count())
	settle()
	requireLines(t, lines[:1000], sink1.all())
	requireLines(t, lines[1000:], sink2.all())
	require.NoError(t, r2.stop(t))
	assert.Zero(t, r2.metric("kubetrail_input_lost_files_total"))
}

// A clean stop waits for the durable callbacks of what it handed over, so
// the next start re-reads nothing.
func TestCleanStopWaitsForPendingAcks(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	l := h.logger(false, 0)
	lines := genLines(t, 500, 9)
	sink1 := &recSink{ackAfter: 100 * time.Millisecond}
	r1 := h.start(sink1, func(c *Config) { c.BatchEvents = 50 })
	writeLines(t, l, lines)
	eventually(t, 30*time.Second, func() bool { return sink1.count() >= 500 }, "first run reads all")
	require.NoError(t, r1.stop(t)) // acks still pending for up to 100 ms

	sink2 := &recSink{}
	r2 := h.start(sink2)
	settle()
	require.NoError(t, r2.stop(t))
	requireLines(t, lines, sink1.all())
	assert.Zero(t, sink2.count(), "nothing read twice after a clean stop")
}

// After a crash before the sink made the last batches durable, the restart
// reads them again: duplicates are exactly the unacknowledged batches.
func TestRestartAfterCrashRereadsUnacked(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	l := h.logger(false, 0)
	lines := genLines(t, 1500, 5)

	sink1 := &recSink{ack: func(b int) bool { return b < 7 }}
	r1 := h.start(sink1, func(c *Config) { c.BatchEvents = 50 })
	writeWithRotations(t, l, lines[:1000], 3)
	eventually(t, 30*time.Second, func() bool { return sink1.count() >= 1000 }, "first 1000")
	require.NoError(t, r1.stop(t))
	acked := sink1.acked()
	require.Greater(t, acked, 0)
	require.Less(t, acked, 1000)

	writeLines(t, l, lines[1000:1200])
	rotate(t, l)
	writeLines(t, l, lines[1200:])

	sink2 := &recSink{}
	r2 := h.start(sink2)
	eventually(t, 30*time.Second, func() bool { return sink2.count() >= len(lines)-acked }, "restart")
	settle()
	requireLines(t, lines[:1000], sink1.all())
	requireLines(t, lines[acked:], sink2.all())
	require.NoError(t, r2.stop(t))
}

// A checkpoint older than the last commits (kill -9 before it was
// persisted) resumes inside backups: more duplicates, nothing lost.
func TestRestartFromOlderCheckpoint(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	l := h.logger(false, 0)
	lines := genLines(t, 1500, 6)

	sink1 := &recSink{}
	r1 := h.start(sink1)
	writeWithRotations(t, l, lines[:500], 4)
	eventually(t, 30*time.Second, func() bool { return sink1.count() >= 500 }, "first 500")
	require.NoError(t, r1.stop(t))
	old, err := os.ReadFile(h.ckptPath())
	require.NoError(t, err)

	sink2 := &recSink{}
	r2 := h.start(sink2)
	writeWithRotations(t, l, lines[500:1000], 5)
	eventually(t, 30*time.Second, func() bool { return sink2.count() >= 500 }, "next 500")
	require.NoError(t, r2.stop(t))
	requireLines(t, lines[500:1000], sink2.all())

	require.NoError(t, os.WriteFile(h.ckptPath(), old, 0o600))
	rotate(t, l)
	writeLines(t, l, lines[1000:])
	sink3 := &recSink{}
	r3 := h.start(sink3)
	eventually(t, 30*time.Second, func() bool { return sink3.count() >= 1000 }, "from the old checkpoint")
	settle()
	requireLines(t, lines[500:], sink3.all())
	require.NoError(t, r3.stop(t))
}

func gzipBytes(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// A backup the input had half read was gzipped while it was stopped, and
// the .gz is still being written when it restarts: the input waits for it
// (never treating a truncated stream as complete), then resumes inside it.
func TestRestartWhileGzipHalfWritten(t *testing.T) {
	for _, tc := range []struct {
		name      string
		keepPlain bool
		cut       func(n int) int // how much of the .gz exists at restart
	}{
		{name: "plain-deleted", cut: func(n int) int { return n / 2 }},
		{name: "plain-deleted-header-only", cut: func(int) int { return 12 }},
		{name: "plain-kept", keepPlain: true, cut: func(n int) int { return n / 2 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.mkdir()
			l := h.logger(false, 0)
			lines := genLines(t, 400, 8)
			sink1 := &recSink{ack: func(b int) bool { return b < 2 }}
			r1 := h.start(sink1, func(c *Config) { c.BatchEvents = 50 })
			writeLines(t, l, lines[:300])
			eventually(t, 30*time.Second, func() bool { return sink1.count() >= 300 }, "first 300")
			require.NoError(t, r1.stop(t))
			acked := sink1.acked()
			require.Greater(t, acked, 0)
			require.Less(t, acked, 300)

			rotate(t, l)
			writeLines(t, l, lines[300:])
			backups, err := filepath.Glob(filepath.Join(h.dir, "audit-*.log"))
			require.NoError(t, err)
			require.Len(t, backups, 1)
			plain, err := os.ReadFile(backups[0])
			require.NoError(t, err)
			gz := gzipBytes(t, plain)
			cut := tc.cut(len(gz))
			require.NoError(t, os.WriteFile(backups[0]+".gz", gz[:cut], 0o600))
			if !tc.keepPlain {
				require.NoError(t, os.Remove(backups[0]))
			}

			sink2 := &recSink{}
			r2 := h.start(sink2)
			if !tc.keepPlain {
				time.Sleep(300 * time.Millisecond)
				got := sink2.all()
				require.Less(t, len(got), 200, "the truncated .gz was read as if complete")
				requireLines(t, lines[acked:acked+len(got)], got)
				f, err := os.OpenFile(backups[0]+".gz", os.O_WRONLY|os.O_APPEND, 0)
				require.NoError(t, err)
				_, err = f.Write(gz[cut:])
				require.NoError(t, err)
				require.NoError(t, f.Close())
			}
			eventually(t, 30*time.Second, func() bool { return sink2.count() >= len(lines)-acked }, "all after restart (got %d)", sink2.count())
			settle()
			requireLines(t, lines[acked:], sink2.all())
			require.NoError(t, r2.stop(t))
			assert.Zero(t, r2.metric("kubetrail_input_lost_files_total"))
		})
	}
}

// A .gz that stays truncated is given up on after a while, with the loss
// reported, and the input moves on.
func TestTruncatedGzipGivenUp(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	l := h.logger(false, 0)
	lines := genLines(t, 400, 9)
	sink1 := &recSink{ack: func(b int) bool { return b < 2 }}
	r1 := h.start(sink1, func(c *Config) { c.BatchEvents = 50 })
	writeLines(t, l, lines[:300])
	eventually(t, 30*time.Second, func() bool { return sink1.count() >= 300 }, "first 300")
	require.NoError(t, r1.stop(t))
	rotate(t, l)
	writeLines(t, l, lines[300:])
	backups, _ := filepath.Glob(filepath.Join(h.dir, "audit-*.log"))
	require.Len(t, backups, 1)
	plain, err := os.ReadFile(backups[0])
	require.NoError(t, err)
	gz := gzipBytes(t, plain)
	require.NoError(t, os.WriteFile(backups[0]+".gz", gz[:len(gz)/2], 0o600))
	require.NoError(t, os.Remove(backups[0]))

	sink2 := &recSink{}
	h.tune = func(in *Input) { in.gzStall = 200 * time.Millisecond }
	r2 := h.start(sink2)
	eventually(t, 30*time.Second, func() bool {
		got := sink2.all()
		return len(got) > 0 && bytes.Equal(got[len(got)-1], lines[len(lines)-1])
	}, "the active file after giving up")
	require.NoError(t, r2.stop(t))
	assert.Equal(t, 1.0, r2.metric("kubetrail_input_lost_files_total"))
	assert.NotEmpty(t, h.logs.find(8, "truncated"))
}

// A file reusing the checkpointed file's inode, with other content, is not
// taken for it: it is read from offset 0 and the old one reported gone.
func TestInodeReuse(t *testing.T) {
	t.Run("checkpoint-claims-inode", func(t *testing.T) {
		h := newHarness(t)
		h.mkdir()
		l := h.logger(false, 0)
		lines := genLines(t, 200, 10)
		sink1 := &recSink{ack: func(b int) bool { return b < 1 }}
		r1 := h.start(sink1, func(c *Config) { c.BatchEvents = 50 })
		writeLines(t, l, lines[:150])
		eventually(t, 30*time.Second, func() bool { return sink1.count() >= 150 }, "first 150")
		require.NoError(t, r1.stop(t))

		// The checkpointed file had the same device and inode but another
		// first line: the file at the path is not it.
		cf := readCheckpoint(t, h)
		require.Len(t, cf.Files, 1)
		other := sha256.Sum256(bytes.Repeat([]byte("x"), cf.Files[0].FingerprintBytes))
		cf.Files[0].Fingerprint = hex.EncodeToString(other[:])
		b, err := json.Marshal(cf)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(h.ckptPath(), b, 0o600))

		sink2 := &recSink{}
		r2 := h.start(sink2)
		eventually(t, 30*time.Second, func() bool { return sink2.count() >= 150 }, "re-read from 0")
		settle()
		requireLines(t, lines[:150], sink2.all())
		require.NoError(t, r2.stop(t))
		assert.Equal(t, 1.0, r2.metric("kubetrail_input_lost_files_total"))
		assert.Equal(t, float64(size(lines[:150])-size(lines[:sink1.acked()])), r2.metric("kubetrail_input_lost_bytes_total"))
	})
	t.Run("delete-and-create", func(t *testing.T) {
		h := newHarness(t)
		h.mkdir()
		lines := genLines(t, 200, 11)
		require.NoError(t, os.WriteFile(h.path, joinLines(lines[:100]), 0o600))
		fi, err := os.Stat(h.path)
		require.NoError(t, err)
		sink1 := &recSink{}
		r1 := h.start(sink1)
		eventually(t, 30*time.Second, func() bool { return sink1.count() >= 100 }, "first 100")
		require.NoError(t, r1.stop(t))

		require.NoError(t, os.Remove(h.path))
		require.NoError(t, os.WriteFile(h.path, joinLines(lines[100:]), 0o600))
		fi2, err := os.Stat(h.path)
		require.NoError(t, err)
		t.Logf("inode reused: %v", fi.Sys().(*syscall.Stat_t).Ino == fi2.Sys().(*syscall.Stat_t).Ino)

		sink2 := &recSink{}
		r2 := h.start(sink2)
		eventually(t, 30*time.Second, func() bool { return sink2.count() >= 100 }, "new file")
		settle()
		requireLines(t, lines[100:], sink2.all())
		require.NoError(t, r2.stop(t))
	})
}

func joinLines(lines [][]byte) []byte {
	var b []byte
	for _, l := range lines {
		b = append(append(b, l...), '\n')
	}
	return b
}

// Backups lumberjack deleted (maxbackup) while the input was stopped and
// behind are reported lost, with the bytes known to be lost; the remaining
// files are read.
func TestBackupDeletedBeforeRead(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	l := h.logger(false, 1)
	lines := genLines(t, 900, 12)
	sink1 := &recSink{ack: func(b int) bool { return b < 2 }}
	r1 := h.start(sink1, func(c *Config) { c.BatchEvents = 50 })
	writeLines(t, l, lines[:300])
	eventually(t, 30*time.Second, func() bool { return sink1.count() >= 300 }, "first 300")
	acked := sink1.acked()
	eventually(t, 10*time.Second, func() bool {
		b, err := os.ReadFile(h.ckptPath())
		return err == nil && bytes.Contains(b, []byte(`"size": `+itoa(size(lines[:300]))))
	}, "checkpoint with the file's size")
	require.NoError(t, r1.stop(t))
	cf := readCheckpoint(t, h)
	require.Len(t, cf.Files, 1)
	require.Equal(t, size(lines[:acked]), cf.Files[0].Offset)
	require.Equal(t, size(lines[:300]), cf.Files[0].Size)

	rotate(t, l)
	writeLines(t, l, lines[300:600])
	rotate(t, l) // lumberjack now deletes the first backup (max_backups 1)
	eventually(t, 10*time.Second, func() bool {
		b, _ := filepath.Glob(filepath.Join(h.dir, "audit-*.log"))
		return len(b) == 1
	}, "pruning")
	writeLines(t, l, lines[600:])

	sink2 := &recSink{}
	r2 := h.start(sink2)
	eventually(t, 30*time.Second, func() bool { return sink2.count() >= 600 }, "remaining files")
	settle()
	requireLines(t, lines[300:], sink2.all())
	require.NoError(t, r2.stop(t))
	assert.Equal(t, 1.0, r2.metric("kubetrail_input_lost_files_total"))
	assert.Equal(t, float64(size(lines[acked:300])), r2.metric("kubetrail_input_lost_bytes_total"))
	assert.NotEmpty(t, h.logs.find(8, "disappeared", "bytes_lost="+itoa(size(lines[acked:300]))))
}

// While the input runs behind a slow pipeline, lumberjack deletes backups
// it has not read: the loss is reported while running, and what is read is
// in order without duplicates.
func TestBackupDeletedWhileBehind(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	l := h.logger(false, 1)
	lines := genLines(t, 3000, 13)
	sink := &recSink{delay: 20 * time.Millisecond}
	r := h.start(sink, func(c *Config) { c.BatchEvents = 10 })
	for i := 0; i < len(lines); i += 300 {
		writeLines(t, l, lines[i:i+300])
		rotate(t, l)
		if i == 0 {
			// Let the reader fall behind the slow sink first: a reader
			// that follows the file coalesces write notifications
			// for the coalescing pause (minCoalesce before any rate is
			// measured), and a burst of rotations within that window at the
			// very start would be deleted before it was ever seen (reported
			// as a gap, not as lost files). Not much longer: the reader must
			// still be behind (300 lines take it 600 ms) when the next
			// bursts come.
			eventually(t, 10*time.Second, func() bool { return sink.count() > 0 }, "reading started")
			time.Sleep(4 * minCoalesce)
		}
	}
	eventually(t, 30*time.Second, func() bool { return r.metric("kubetrail_input_lost_files_total") >= 1 }, "loss reported while running")
	eventually(t, 60*time.Second, func() bool {
		got := sink.all()
		return len(got) > 0 && bytes.Equal(got[len(got)-1], lines[len(lines)-1])
	}, "the last line")
	require.NoError(t, r.stop(t))
	got := sink.all()
	idx := make(map[string]int, len(lines))
	for i, l := range lines {
		idx[string(l)] = i
	}
	last := -1
	for _, g := range got {
		i, ok := idx[string(g)]
		require.True(t, ok)
		require.Greater(t, i, last, "out of order or duplicate")
		last = i
	}
	assert.Greater(t, r.metric("kubetrail_input_lost_bytes_total"), 0.0)
	t.Logf("read %d of %d lines; lost files %v, bytes %v", len(got), len(lines),
		r.metric("kubetrail_input_lost_files_total"), r.metric("kubetrail_input_lost_bytes_total"))
}

// A .gz damaged past its first KiB (bad deflate data or checksum) is given
// up on with an error, and the files after it are still read: the input
// must not fail at every start.
func TestCorruptGzipMidStream(t *testing.T) {
	h := newHarness(t)
	h.mkdir()
	l := h.logger(false, 0)
	lines := genLines(t, 400, 21)
	sink1 := &recSink{}
	r1 := h.start(sink1)
	writeLines(t, l, lines[:10])
	eventually(t, 10*time.Second, func() bool { return sink1.count() >= 10 }, "first 10")
	require.NoError(t, r1.stop(t))

	writeLines(t, l, lines[10:300])
	rotate(t, l)
	writeLines(t, l, lines[300:])
	backups, err := filepath.Glob(filepath.Join(h.dir, "audit-*.log"))
	require.NoError(t, err)
	require.Len(t, backups, 1)
	plain, err := os.ReadFile(backups[0])
	require.NoError(t, err)
	gz := gzipBytes(t, plain)
	for i := len(gz) / 2; i < len(gz)/2+64; i++ {
		gz[i] ^= 0x55
	}
	require.NoError(t, os.WriteFile(backups[0]+".gz", gz, 0o600))
	require.NoError(t, os.Remove(backups[0]))

	sink2 := &recSink{}
	r2 := h.start(sink2)
	eventually(t, 20*time.Second, func() bool {
		got := sink2.all()
		return len(got) > 0 && bytes.Equal(got[len(got)-1], lines[len(lines)-1])
	}, "the active file after the corrupt backup is read")
	require.NoError(t, r2.stop(t))
	assert.NotEmpty(t, h.logs.find(slog.LevelError, "gzipped backup is corrupt"), "the corruption is reported")
	assert.NotEmpty(t, h.dl.Entries(), "what decompressed to garbage went to the dead-letter file")
}
