package buffer

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Under the interval policy a committed cursor file is fsynced at most
// once per cursorSyncEvery, and a commit made in between is fsynced later
// without any further activity.
func TestIntervalCursorSyncAtMostEverySecond(t *testing.T) {
	opts := testOptions(t.TempDir(), "a")
	opts.Fsync, opts.FsyncInterval = FsyncInterval, 10*time.Millisecond
	b := mustOpen(t, opts)
	for i := range 3 {
		require.NoError(t, b.Append(context.Background(), [][]byte{payload(i)}, nil))
	}
	c := mustCursor(t, b, "a")
	recs := readN(t, c, 3, 10, 0)
	synced := func() bool { return !c.needSync.Load() && !c.dirDirty.Load() }

	require.NoError(t, c.Commit(recs[0].End))
	require.Eventually(t, synced, 5*time.Second, time.Millisecond, "the first commit is fsynced within an interval")
	first := time.Now()
	require.NoError(t, c.Commit(recs[1].End))
	time.Sleep(20 * opts.FsyncInterval)
	if time.Since(first) < 800*time.Millisecond { // else the machine was too slow to tell
		assert.False(t, synced(), "a second commit within %s of the last cursor fsync is not fsynced yet", cursorSyncEvery)
	}
	require.Eventually(t, synced, cursorSyncEvery+5*time.Second, 5*time.Millisecond, "the second commit is fsynced without more activity")
}
