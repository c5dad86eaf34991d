package buffer

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testOptions are small limits so that tests cross many segments.
func testOptions(dir string, cursors ...string) Options {
	return Options{Dir: dir, MaxBytes: 8 << 20, SegmentBytes: 64 << 10, Fsync: FsyncNever, Cursors: cursors}
}

func mustOpen(t *testing.T, opts Options) *Buffer {
	t.Helper()
	b, err := Open(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func mustCursor(t *testing.T, b *Buffer, name string) *Cursor {
	t.Helper()
	c, err := b.Cursor(name)
	require.NoError(t, err)
	return c
}

// payload returns the deterministic record number i: its number, then
// filler bytes; 24 to ~420 bytes long.
func payload(i int) []byte {
	p := make([]byte, 24+(i*7919)%400)
	binary.LittleEndian.PutUint64(p, uint64(i))
	for j := 8; j < len(p); j++ {
		p[j] = byte(i + j)
	}
	return p
}

func numberOf(t *testing.T, data []byte) int {
	t.Helper()
	require.GreaterOrEqual(t, len(data), 8)
	i := int(binary.LittleEndian.Uint64(data))
	p := payload(i)
	ok := len(data) >= len(p) && bytes.Equal(p, data[:len(p)]) && allZero(data[len(p):])
	require.True(t, ok, "record %d has wrong content", i)
	return i
}

// appendRange appends records [from, to) in groups of group.
func appendRange(t *testing.T, b *Buffer, from, to, group int) {
	t.Helper()
	for i := from; i < to; i += group {
		var recs [][]byte
		for j := i; j < min(i+group, to); j++ {
			recs = append(recs, payload(j))
		}
		require.NoError(t, b.Append(context.Background(), recs, nil))
	}
}

// readN reads exactly n records (the timeout only guards against a hang).
func readN(t *testing.T, c *Cursor, n, maxRecords, maxBytes int) []Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []Record
	for len(out) < n {
		recs, err := c.Next(ctx, min(maxRecords, n-len(out)), maxBytes)
		require.NoError(t, err, "after %d of %d records", len(out), n)
		require.NotEmpty(t, recs)
		out = append(out, recs...)
	}
	return out
}

// numbers returns the record numbers of recs.
func numbers(t *testing.T, recs []Record) []int {
	t.Helper()
	out := make([]int, len(recs))
	for i, r := range recs {
		out[i] = numberOf(t, r.Data)
	}
	return out
}

func seq(from, to int) []int {
	out := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// segFiles lists the segment files of dir, oldest first.
func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	require.NoError(t, err)
	sort.Strings(m)
	return m
}

// assertNoMore checks that Next has nothing to return right now.
func assertNoMore(t *testing.T, c *Cursor) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	recs, err := c.Next(ctx, 1, 0)
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, recs)
}

// logRecorder captures log records for assertions.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool { s += " " + a.String(); return true })
	l.msgs = append(l.msgs, s)
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }
func (l *logRecorder) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.msgs...)
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	return st.Size()
}

func newLogger(h slog.Handler) *slog.Logger { return slog.New(h) }
