package auditlog

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/inputs"
	"github.com/kubetrail/kubetrail/outputs/outputtest"
	"github.com/kubetrail/kubetrail/pipeline"
)

func TestConfigDefaults(t *testing.T) {
	c := NewConfig()
	assert.Equal(t, StartBeginning, c.StartAt)
	assert.Equal(t, 4*config.MiB, c.MaxLineBytes)
	assert.Equal(t, config.Duration(250*time.Millisecond), c.PollInterval)
	assert.Equal(t, 1000, c.BatchEvents)
	assert.Equal(t, 1*config.MiB, c.BatchBytes)
	assert.Equal(t, 256*config.KiB, c.ReadBuffer)
	assert.Equal(t, config.Duration(time.Minute), c.GzipStallTimeout)
	assert.Nil(t, c.MaxBackups)
	assert.ErrorContains(t, c.Validate(), "path: is required")
}

func TestConfigDecode(t *testing.T) {
	b, err := os.ReadFile("testdata/config.yaml")
	require.NoError(t, err)
	c := NewConfig()
	require.NoError(t, config.Decode("config.yaml", b, c))
	five := 5
	assert.Equal(t, &Config{
		Path: "/var/log/kubernetes/audit/audit.log", StartAt: StartEnd,
		MaxLineBytes: 8 * config.MiB, PollInterval: config.Duration(500 * time.Millisecond),
		BatchEvents: 500, BatchBytes: 2 * config.MiB, ReadBuffer: 1 * config.MiB,
		GzipStallTimeout: config.Duration(2 * time.Minute), MaxBackups: &five,
	}, c)
}

func TestConfigInvalid(t *testing.T) {
	b, err := os.ReadFile("testdata/config-bad.yaml")
	require.NoError(t, err)
	err = config.Decode("config-bad.yaml", b, NewConfig())
	require.Error(t, err)
	for _, want := range []string{"config-bad.yaml:2: start_at", "max_line_bytes", "poll_interval", "batch_events", "read_buffer", "gzip_stall_timeout", "max_backups"} {
		assert.Contains(t, err.Error(), want)
	}
	c := NewConfig()
	c.Path = "-"
	assert.ErrorContains(t, c.Validate(), "stdout")
	c.Path = "/var/log/audit/"
	assert.ErrorContains(t, c.Validate(), "not a file path")
}

func TestRegistered(t *testing.T) {
	f, ok := inputs.Lookup("auditlog")
	require.True(t, ok)
	c, ok := f.NewConfig().(*Config)
	require.True(t, ok)
	c.Path = filepath.Join(t.TempDir(), "audit.log")
	in, err := f.New(c, pipeline.Settings{Name: "x", StateDir: t.TempDir(), Logger: slog.New(&logCapture{}), Metrics: newRegistry(), DeadLetter: &outputtest.DeadLetters{}})
	require.NoError(t, err)
	require.NotNil(t, in)
	_, err = f.New(NewConfig(), pipeline.Settings{Name: "x"})
	assert.ErrorContains(t, err, "path")
	assert.Contains(t, Sample(), "type: auditlog")

	c.GzipStallTimeout = config.Duration(3 * time.Second)
	in, err = f.New(c, pipeline.Settings{Name: "y", StateDir: t.TempDir(), Logger: slog.New(&logCapture{}), Metrics: newRegistry(), DeadLetter: &outputtest.DeadLetters{}})
	require.NoError(t, err)
	assert.Equal(t, 3*time.Second, in.(*Input).gzStall, "gzip_stall_timeout is the wait for a truncated .gz")
}

func TestBackupNames(t *testing.T) {
	n := newNamer("/var/log/audit/audit.log")
	for _, tc := range []struct {
		name, stamp string
		gz, ok      bool
	}{
		{"audit-2026-11-22T02-24-24.135.log", "2026-11-22T02-24-24.135", false, true},
		{"audit-2026-11-22T02-24-24.135.log.gz", "2026-11-22T02-24-24.135", true, true},
		{"audit.log", "", false, false},
		{"audit-2026-11-22T02-24-24.135.txt", "", false, false},
		{"audit-2026-13-22T02-24-24.135.log", "", false, false},
		{"audit-2026-11-22T02-24-24.log", "", false, false},
		{"other-2026-11-22T02-24-24.135.log", "", false, false},
	} {
		stamp, gz, ok := n.parse(tc.name)
		assert.Equal(t, tc.ok, ok, tc.name)
		assert.Equal(t, tc.stamp, stamp, tc.name)
		assert.Equal(t, tc.gz, gz, tc.name)
	}
	noExt := newNamer("/var/log/audit/audit")
	stamp, gz, ok := noExt.parse("audit-2026-11-22T02-24-24.135.gz")
	assert.True(t, ok)
	assert.True(t, gz)
	assert.Equal(t, "2026-11-22T02-24-24.135", stamp)
}

func TestIdentityMatch(t *testing.T) {
	content := []byte(strings.Repeat("a", 100) + "\n" + strings.Repeat("b", 2000))
	id := newIdentity(1, 2, content[:50]) // a short file: no whole line yet
	assert.False(t, id.strong())
	same := &candidate{dev: 1, ino: 2, prefix: content[:fpMax], complete: true}
	assert.Equal(t, isMatch, id.match(same))
	reused := &candidate{dev: 1, ino: 2, prefix: []byte(strings.Repeat("c", fpMax)), complete: true}
	assert.Equal(t, noMatch, id.match(reused), "inode reuse")
	copied := &candidate{dev: 1, ino: 3, prefix: content[:fpMax], complete: true}
	assert.Equal(t, noMatch, id.match(copied), "a weak fingerprint only matches its inode")

	id = id.extend(content[:fpMax])
	assert.True(t, id.strong())
	assert.Equal(t, fpMax, id.FPLen)
	gz := &candidate{gz: true, dev: 1, ino: 9, prefix: content[:fpMax]}
	assert.Equal(t, isMatch, id.match(gz), "the .gz of the file")
	partial := &candidate{gz: true, dev: 1, ino: 9, prefix: content[:10]}
	assert.Equal(t, undetermined, id.match(partial), ".gz being written")
	partial.complete = true
	assert.Equal(t, noMatch, id.match(partial), "a complete short .gz")
	empty := newIdentity(1, 2, nil)
	assert.Equal(t, isMatch, empty.match(same), "an empty file grew")
	assert.Equal(t, noMatch, empty.match(copied))
}

func TestGzipPrefix(t *testing.T) {
	dir := t.TempDir()
	lines := joinLines(genLines(t, 50, 30))
	gz := gzipBytes(t, lines)
	write := func(b []byte) *os.File {
		p := filepath.Join(dir, "f.gz")
		require.NoError(t, os.WriteFile(p, b, 0o600))
		f, err := os.Open(p)
		require.NoError(t, err)
		t.Cleanup(func() { f.Close() })
		return f
	}
	p, complete, err := gzipPrefix(write(gz))
	require.NoError(t, err)
	assert.Equal(t, lines[:fpMax], p)
	assert.False(t, complete) // only fpMax bytes were read
	small := gzipBytes(t, lines[:300])
	p, complete, err = gzipPrefix(write(small))
	require.NoError(t, err)
	assert.Equal(t, lines[:300], p)
	assert.True(t, complete)
	p, complete, err = gzipPrefix(write(small[:len(small)-4])) // trailer cut
	require.NoError(t, err)
	assert.False(t, complete)
	assert.LessOrEqual(t, len(p), 300)
	p, complete, err = gzipPrefix(write(gz[:5]))
	require.NoError(t, err)
	assert.False(t, complete)
	assert.Empty(t, p)
	_, _, err = gzipPrefix(write([]byte("this is not gzip at all")))
	assert.Error(t, err)
}

func TestCheckpointRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "inputs", "x", "checkpoint.json")
	st := newState()
	st.cutoff = "2026-11-22T02-24-24.135"
	e := &entry{id: newIdentity(7, 8, []byte("hello\n")), path: "/a/audit.log", after: "2026-11-22T02-24-24.135", size: 10, committed: 6}
	st.addLocked(e)
	require.NoError(t, saveCheckpoint(path, st.snapshotLocked("/a/audit.log")))
	got, ok, err := loadCheckpoint(path, "/a/audit.log")
	require.NoError(t, err)
	require.True(t, ok)
	require.Len(t, got.chain, 1)
	g := got.chain[0]
	assert.Equal(t, e.id, g.id)
	assert.Equal(t, e.path, g.path)
	assert.Equal(t, e.after, g.after)
	assert.Equal(t, e.committed, g.committed)
	assert.Equal(t, e.size, g.size)
	assert.Equal(t, st.cutoff, got.cutoff)
	_, err = os.Stat(path + ".tmp")
	assert.True(t, os.IsNotExist(err))

	_, _, err = loadCheckpoint(path, "/b/audit.log")
	assert.ErrorContains(t, err, "written for /a/audit.log")
	_, ok, err = loadCheckpoint(filepath.Join(t.TempDir(), "none.json"), "/a/audit.log")
	require.NoError(t, err)
	assert.False(t, ok)
}

// A corrupt checkpoint stops the input with an error that names the file to
// delete.
func TestCorruptCheckpoint(t *testing.T) {
	for name, content := range map[string]string{
		"not-json":     `{"version": 1, "files": [`,
		"version":      `{"version": 99, "path": "PATH", "files": []}`,
		"bad-offset":   `{"version": 1, "path": "PATH", "files": [{"path": "PATH", "fingerprint": "` + strings.Repeat("0", 64) + `", "offset": -5}]}`,
		"bad-hash":     `{"version": 1, "path": "PATH", "files": [{"path": "PATH", "fingerprint": "xyz"}]}`,
		"bad-backup":   `{"version": 1, "path": "PATH", "files": [{"path": "PATH", "fingerprint": "` + strings.Repeat("0", 64) + `", "backup_time": "yesterday"}]}`,
		"empty-file":   ``,
		"history-time": `{"version": 1, "path": "PATH", "history_through": "x", "files": []}`,
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.mkdir()
			require.NoError(t, os.MkdirAll(filepath.Dir(h.ckptPath()), 0o755))
			require.NoError(t, os.WriteFile(h.ckptPath(), []byte(strings.ReplaceAll(content, "PATH", h.path)), 0o600))
			in, err := New(h.config(), pipeline.Settings{Name: "apiserver", StateDir: h.state, Logger: slog.New(h.logs), Metrics: newRegistry(), DeadLetter: h.dl})
			require.NoError(t, err)
			err = in.Run(context.Background(), &recSink{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), h.ckptPath())
			assert.Contains(t, err.Error(), "delete")
		})
	}
}

// Commit marks apply strictly in order: a ready mark waits for every mark
// before it.
func TestMarksApplyInOrder(t *testing.T) {
	st := newState()
	a, b := &entry{}, &entry{}
	st.addLocked(a)
	st.addLocked(b)
	m1 := &mark{e: a, off: 10}
	st.push(m1)
	st.push(&mark{e: a, off: 20, ready: true}) // dead-lettered lines only
	m3 := &mark{e: a, off: 30, finished: true}
	st.push(m3)
	m4 := &mark{e: b, off: 5}
	st.push(m4)
	assert.Zero(t, a.committed)
	st.ack(m1)
	assert.Equal(t, int64(20), a.committed)
	st.ack(m3)
	assert.Equal(t, int64(30), a.committed)
	assert.True(t, a.finished)
	assert.Zero(t, b.committed)
	st.ack(m4)
	assert.Equal(t, int64(5), b.committed)
}

func TestLastLineEnd(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	body := strings.Repeat("x", 100<<10) + "\n" + strings.Repeat("y", 70<<10)
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	fi, err := os.Stat(p)
	require.NoError(t, err)
	dev, ino := devIno(fi)
	id := newIdentity(dev, ino, []byte(body[:1024]))
	off, err := lastLineEnd(p, int64(len(body)), id)
	require.NoError(t, err)
	assert.Equal(t, int64(100<<10+1), off)
	off, err = lastLineEnd(p, 50, id)
	require.NoError(t, err)
	assert.Zero(t, off)

	// Rotated since the scan: another file at the path, or a shorter one.
	_, err = lastLineEnd(p, int64(len(body))+1, id)
	assert.ErrorIs(t, err, errRotatedMeanwhile)
	require.NoError(t, os.Remove(p))
	require.NoError(t, os.WriteFile(p+".new", []byte(body), 0o600))
	require.NoError(t, os.Rename(p+".new", p))
	if fi2, err := os.Stat(p); err == nil {
		if d2, i2 := devIno(fi2); d2 != dev || i2 != ino {
			_, err = lastLineEnd(p, int64(len(body)), id)
			assert.ErrorIs(t, err, errRotatedMeanwhile)
		}
	}
}

func TestFingerprintIsContentHash(t *testing.T) {
	id := newIdentity(0, 0, []byte("abc"))
	assert.Equal(t, sha256.Sum256([]byte("abc")), id.FP)
}

// The active file rotated and gzipped (plain backup removed) between the
// scanner's look at the active path and its directory listing: the listing
// is unstable, so the .gz is not taken for a new file while the active
// file still matches by inode.
func TestScanActiveGzippedBetweenLooks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	content := joinLines(genLines(t, 20, 61))
	require.NoError(t, os.WriteFile(path, content, 0o600))
	s := newScanner(newNamer(path))
	s.betweenLooks = func() {
		gz := filepath.Join(dir, "audit-2026-11-22T02-24-24.135.log.gz")
		require.NoError(t, os.WriteFile(gz, gzipBytes(t, content), 0o600))
		require.NoError(t, os.Remove(path))
		require.NoError(t, os.WriteFile(path, nil, 0o600)) // the new active file
	}
	l, err := s.list(nil)
	require.NoError(t, err)
	assert.False(t, l.stable)
	assert.Nil(t, l.active)
	s.betweenLooks = nil
	l, err = s.list(nil)
	require.NoError(t, err)
	assert.True(t, l.stable)
	require.NotNil(t, l.active)
	require.Len(t, l.groups, 1)
}
