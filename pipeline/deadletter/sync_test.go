package deadletter

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/pipeline"
)

// Sync fsyncs the file the records went to (through its path: lumberjack
// hides its descriptor), including across a rotation.
func TestSyncReachesTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dead-letter.ndjson")
	w, err := New(Options{Path: path, MaxSizeMB: 1})
	require.NoError(t, err)
	defer w.Close()
	require.NoError(t, w.Sync(), "nothing written, nothing to sync")

	big := []byte(`{"pad":"` + strings.Repeat("x", 300<<10) + `"}`)
	for range 5 { // rotates once past 1 MiB
		require.NoError(t, w.WriteDeadLetter(pipeline.DeadLetter{Component: "output/o", Reason: "r", Raw: big}))
		require.NoError(t, w.Sync())
	}
	files, err := filepath.Glob(filepath.Join(dir, "dead-letter*"))
	require.NoError(t, err)
	assert.Len(t, files, 2, "rotated once")

	// Sync goes to the path: a file removed under it is an error, not a
	// silent success.
	require.NoError(t, w.WriteDeadLetter(pipeline.DeadLetter{Component: "output/o", Reason: "r", Raw: []byte(`{}`)}))
	require.NoError(t, os.Remove(path))
	assert.Error(t, w.Sync())
}
