package buffer

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGroupCommitAlways: appends made while an fsync runs share the next one.
func TestGroupCommitAlways(t *testing.T) {
	opts := testOptions(t.TempDir(), "a")
	opts.Fsync = FsyncAlways
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	opts.fsyncHook = func(f *os.File) error {
		if calls.Add(1) == 1 {
			close(entered)
			<-release
		}
		return f.Sync()
	}
	b := mustOpen(t, opts)
	type fired struct{ i, fsyncs int }
	got := make(chan fired, 11)
	cb := func(i int) func() { return func() { got <- fired{i, int(calls.Load())} } }

	require.NoError(t, b.Append(context.Background(), [][]byte{payload(0)}, cb(0)))
	<-entered // the first fsync is running
	for i := 1; i <= 10; i++ {
		require.NoError(t, b.Append(context.Background(), [][]byte{payload(i)}, cb(i)))
	}
	select {
	case f := <-got:
		t.Fatalf("callback %d fired before its fsync completed", f.i)
	default:
	}
	close(release)
	for i := 0; i <= 10; i++ {
		f := <-got
		assert.Equal(t, i, f.i, "callbacks in Append order")
		if i == 0 {
			assert.Equal(t, 1, f.fsyncs)
		} else {
			assert.Equal(t, 2, f.fsyncs, "appends 1..10 share the second fsync")
		}
	}
	assert.EqualValues(t, 2, calls.Load())
	assert.EqualValues(t, 2, b.Stats().Fsyncs)
}

// TestOnDurablePolicies checks when each policy fires the callbacks.
func TestOnDurablePolicies(t *testing.T) {
	tests := []struct {
		policy   FsyncPolicy
		interval time.Duration
		// fsyncs seen by the callbacks before Close: exact, or -1 for >= 1.
		beforeClose int
	}{
		{FsyncNever, 0, 0},
		{FsyncAlways, 0, -1},
		{FsyncInterval, 5 * time.Millisecond, -1},
	}
	for _, tt := range tests {
		t.Run(string(tt.policy), func(t *testing.T) {
			opts := testOptions(t.TempDir(), "a")
			opts.Fsync, opts.FsyncInterval = tt.policy, tt.interval
			var calls atomic.Int32
			opts.fsyncHook = func(f *os.File) error { calls.Add(1); return f.Sync() }
			b := mustOpen(t, opts)
			const n = 200
			var mu sync.Mutex
			var order []int
			done := make(chan struct{})
			for i := range n {
				i := i
				require.NoError(t, b.Append(context.Background(), [][]byte{payload(i)}, func() {
					if tt.beforeClose == 0 {
						assert.Zero(t, calls.Load())
					} else {
						assert.Positive(t, calls.Load())
					}
					mu.Lock()
					order = append(order, i)
					if len(order) == n {
						close(done)
					}
					mu.Unlock()
				}))
			}
			<-done
			assert.Equal(t, seq(0, n), order)
			if tt.policy == FsyncAlways {
				assert.LessOrEqual(t, calls.Load(), int32(n))
			}
		})
	}
}

// TestIntervalWaitsForTick: under "interval" callbacks wait for the periodic
// fsync (here: the final one of Close, the period being an hour).
func TestIntervalWaitsForTick(t *testing.T) {
	opts := testOptions(t.TempDir(), "a")
	opts.Fsync, opts.FsyncInterval = FsyncInterval, time.Hour
	var calls atomic.Int32
	opts.fsyncHook = func(f *os.File) error { calls.Add(1); return f.Sync() }
	b, err := Open(opts)
	require.NoError(t, err)
	var fired []int
	for i := range 5 {
		require.NoError(t, b.Append(context.Background(), [][]byte{payload(i)}, func() { fired = append(fired, i) }))
	}
	// Readers see the records before they are durable.
	assert.Equal(t, seq(0, 5), numbers(t, readN(t, mustCursor(t, b, "a"), 5, 10, 0)))
	require.NoError(t, b.Close())
	assert.Equal(t, seq(0, 5), fired, "fired by Close's final fsync")
	assert.EqualValues(t, 1, calls.Load())
}

// TestOnDurableConcurrentAppendOrder: with concurrent appenders the
// callbacks fire in the order the records are in the log.
func TestOnDurableConcurrentAppendOrder(t *testing.T) {
	for _, policy := range []FsyncPolicy{FsyncAlways, FsyncNever} {
		t.Run(string(policy), func(t *testing.T) {
			opts := testOptions(t.TempDir(), "a")
			opts.Fsync = policy
			b := mustOpen(t, opts)
			var mu sync.Mutex
			var order []int
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 50 {
						id := w*50 + i
						assert.NoError(t, b.Append(context.Background(), [][]byte{payload(id)}, func() {
							mu.Lock()
							order = append(order, id)
							mu.Unlock()
						}))
					}
				}()
			}
			wg.Wait()
			require.NoError(t, b.Close())
			b = mustOpen(t, opts)
			assert.Equal(t, numbers(t, readN(t, mustCursor(t, b, "a"), 400, 1000, 0)), order)
		})
	}
}

// fill appends records of about 1 KB until the buffer is full and returns
// how many it appended.
func fill(t *testing.T, b *Buffer, from int) int {
	t.Helper()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for i := from; ; i++ {
		err := b.Append(canceled, [][]byte{bigPayload(i)}, nil)
		if err != nil {
			require.ErrorIs(t, err, context.Canceled)
			return i - from
		}
	}
}

func bigPayload(i int) []byte {
	p := payload(i)
	return append(p, make([]byte, 1000-len(p))...)
}

func TestFullBlock(t *testing.T) {
	opts := testOptions(t.TempDir(), "slow")
	opts.MaxBytes = 256 << 10
	b := mustOpen(t, opts)
	n := fill(t, b, 0)
	require.Greater(t, n, 100)
	st := b.Stats()
	assert.LessOrEqual(t, st.Bytes, opts.MaxBytes)
	assert.EqualValues(t, n, st.Records, "the refused append wrote nothing")

	var committed atomic.Bool
	returned := make(chan bool)
	go func() {
		assert.NoError(t, b.Append(context.Background(), [][]byte{bigPayload(n)}, nil))
		returned <- committed.Load()
	}()
	time.Sleep(20 * time.Millisecond) // let it block (not needed for correctness)
	c := mustCursor(t, b, "slow")
	recs := readN(t, c, n, 0, 0)
	assert.Equal(t, seq(0, n), numbers(t, recs))
	committed.Store(true)
	require.NoError(t, c.Commit(recs[n-1].End))
	assert.True(t, <-returned, "Append returned only after the commit freed space")
	assert.Equal(t, []int{n}, numbers(t, readN(t, c, 1, 0, 0)))
	assert.Zero(t, b.Stats().Dropped)
}

func TestFullDropOldest(t *testing.T) {
	opts := testOptions(t.TempDir(), "slow", "fast")
	opts.MaxBytes = 256 << 10
	opts.WhenFull = FullDropOldest
	rec := &logRecorder{}
	opts.Logger = newLogger(rec)
	b := mustOpen(t, opts)
	slow, fast := mustCursor(t, b, "slow"), mustCursor(t, b, "fast")
	const n = 1500 // ~1.5 MB through a 256 KiB buffer
	for i := range n {
		if i == 5 {
			assert.Equal(t, seq(0, 5), numbers(t, readN(t, slow, 5, 5, 0)), "slow reads a little, then stalls")
		}
		require.NoError(t, b.Append(context.Background(), [][]byte{bigPayload(i)}, nil))
		recs := readN(t, fast, 1, 0, 0)
		require.Equal(t, i, numberOf(t, recs[0].Data))
		require.NoError(t, fast.Commit(recs[0].End))
		require.LessOrEqual(t, b.Stats().Bytes, opts.MaxBytes)
	}
	recs := readN(t, slow, 1, 1, 0)
	first := numberOf(t, recs[0].Data)
	require.Greater(t, first, 5)
	st := b.Stats()
	assert.EqualValues(t, first, st.Dropped, "every record the slow cursor skipped is counted")
	assert.Equal(t, seq(first+1, n), numbers(t, readN(t, slow, n-first-1, 0, 0)))
	assert.Zero(t, st.Cursors["fast"].LagRecords)
	assert.Contains(t, rec.all()[0], "dropped the oldest segment")
	assert.Contains(t, rec.all()[0], "outputs=[slow]")
}

func TestFullBlockContextEnds(t *testing.T) {
	opts := testOptions(t.TempDir(), "slow")
	opts.MaxBytes = 256 << 10
	b := mustOpen(t, opts)
	n := fill(t, b, 0)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() {
		errc <- b.Append(ctx, [][]byte{bigPayload(n)}, func() { t.Error("onDurable of a failed append") })
	}()
	cancel()
	assert.ErrorIs(t, <-errc, context.Canceled)
	assert.EqualValues(t, n, b.Stats().Records)
}

// TestFsyncFailure: after a failed fsync nothing is reported durable and
// appends are refused (what reached the disk is unknown).
func TestFsyncFailure(t *testing.T) {
	opts := testOptions(t.TempDir(), "a")
	opts.Fsync = FsyncAlways
	failed := make(chan struct{})
	opts.fsyncHook = func(*os.File) error {
		defer close(failed)
		return os.ErrInvalid
	}
	b, err := Open(opts)
	require.NoError(t, err)
	require.NoError(t, b.Append(context.Background(), [][]byte{payload(1)}, func() { t.Error("onDurable after a failed fsync") }))
	<-failed
	require.Eventually(t, func() bool {
		return b.Append(context.Background(), [][]byte{payload(2)}, nil) != nil
	}, 10*time.Second, time.Millisecond)
	err = b.Append(context.Background(), [][]byte{payload(2)}, nil)
	assert.ErrorIs(t, err, os.ErrInvalid)
	assert.ErrorIs(t, b.Close(), os.ErrInvalid)
}
