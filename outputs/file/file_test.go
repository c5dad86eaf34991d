package file

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event"
)

func batchOf(sizes ...int) *event.Batch {
	b := &event.Batch{}
	for i, n := range sizes {
		raw := []byte(`{"auditID":"` + strings.Repeat("a", 4) + string(rune('a'+i%26)) + `","pad":"` + strings.Repeat("x", n) + `"}`)
		b.Events = append(b.Events, event.Event{Raw: raw})
		b.Bytes += len(raw)
	}
	return b
}

func readLines(t *testing.T, dir string) (lines int, files int) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		require.True(t, len(data) == 0 || data[len(data)-1] == '\n', "%s ends with a whole line", e.Name())
		lines += bytes.Count(data, []byte("\n"))
		files++
	}
	return lines, files
}

func TestWritesNDJSONAndRotatesAtEventBoundaries(t *testing.T) {
	dir := t.TempDir()
	f := New(&Config{Path: filepath.Join(dir, "audit.ndjson"), MaxSize: config.Size(mib), MaxBackups: 0})
	require.NoError(t, f.Start(context.Background()))
	// 3 batches of 100 events of ~10 KB: about 3 MiB, so at least 2 rotations.
	for range 3 {
		require.NoError(t, f.Write(context.Background(), batchOf(sizes(100, 10_000)...)))
	}
	require.NoError(t, f.Close(context.Background()))
	lines, files := readLines(t, dir)
	assert.Equal(t, 300, lines)
	assert.GreaterOrEqual(t, files, 3)
}

func TestEventLargerThanMaxSizeIsRejectedPermanently(t *testing.T) {
	dir := t.TempDir()
	f := New(&Config{Path: filepath.Join(dir, "audit.ndjson"), MaxSize: config.Size(mib)})
	err := f.Write(context.Background(), batchOf(10, mib+1, 10))
	var partial *event.PartialError
	require.ErrorAs(t, err, &partial)
	require.Len(t, partial.Failed, 1)
	assert.True(t, event.IsPermanent(partial.Failed[1]), "%v", partial.Failed[1])
	require.NoError(t, f.Close(context.Background()))
	lines, _ := readLines(t, dir)
	assert.Equal(t, 2, lines, "the events around the oversized one are written")
}

func TestValidate(t *testing.T) {
	c := defaultConfig()
	err := c.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is required")
	c.Path, c.MaxSize = "/tmp/x", 512*1024
	assert.ErrorContains(t, c.Validate(), "below 1MiB")
	c.MaxSize = 2 * mib
	assert.NoError(t, c.Validate())
}

func sizes(n, size int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = size
	}
	return s
}

// After a kill -9 in the middle of a Write the file ends with half an
// event; on open the output cuts it back to the last whole line instead of
// gluing the next event to it.
func TestTornLastLineIsCutOnStart(t *testing.T) {
	for name, tc := range map[string]struct{ before, want string }{
		"torn":           {"{\"a\":1}\n{\"b\":2}\n{\"c\":", "{\"a\":1}\n{\"b\":2}\n"},
		"whole":          {"{\"a\":1}\n", "{\"a\":1}\n"},
		"only a torn":    {"{\"c\":", ""},
		"long torn line": {"{\"a\":1}\n" + strings.Repeat("x", 200<<10), "{\"a\":1}\n"},
		"empty":          {"", ""},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.ndjson")
			require.NoError(t, os.WriteFile(path, []byte(tc.before), 0o600))
			f := New(&Config{Path: path, MaxSize: config.Size(100 * mib)})
			require.NoError(t, f.Start(context.Background()))
			require.NoError(t, f.Write(context.Background(), &event.Batch{Events: []event.Event{{Raw: []byte(`{"d":4}`)}}, Bytes: 7}))
			require.NoError(t, f.Close(context.Background()))
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, tc.want+"{\"d\":4}\n", string(data))
		})
	}
	// No file yet: nothing to cut.
	f := New(&Config{Path: filepath.Join(t.TempDir(), "new.ndjson"), MaxSize: config.Size(100 * mib)})
	require.NoError(t, f.Start(context.Background()))
}
