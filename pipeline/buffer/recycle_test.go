package buffer

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// segInfo is what a test needs to know about a segment file.
type segInfo struct {
	h     segHeader
	size  int64 // of the file
	end   int64 // file offset after its last record of its epoch
	count int   // records of its epoch
}

func inspectSegment(t *testing.T, path string) segInfo {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	h, err := decodeSegHeader(data)
	require.NoError(t, err)
	starts := recordStarts(t, path)
	end := h.size()
	if len(starts) > 0 {
		last := starts[len(starts)-1]
		end = last + h.framing().hdr + int64(le32(data[last:]))
	}
	return segInfo{h: h, size: int64(len(data)), end: end, count: len(starts)}
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func spareFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+spareSuffix))
	require.NoError(t, err)
	return m
}

// fillRecycled appends and commits (cursor "a") records from next until the
// active segment is a recycled file with at least minStale bytes of stale
// records after its own; it returns the next record number.
func fillRecycled(t *testing.T, b *Buffer, c *Cursor, next, minStale int) int {
	t.Helper()
	for range 2000 {
		appendRange(t, b, next, next+5, 5)
		recs := readN(t, c, 5, 100, 0)
		require.Equal(t, seq(next, next+5), numbers(t, recs))
		require.NoError(t, c.Commit(recs[4].End))
		next += 5
		segs := segFiles(t, b.opts.Dir)
		in := inspectSegment(t, segs[len(segs)-1])
		if in.h.flags&segFlagRecycled != 0 && in.count > 3 && in.size-in.end >= int64(minStale) {
			return next
		}
	}
	t.Fatal("the active segment never became a recycled file")
	return 0
}

func TestSegmentsAreRecycled(t *testing.T) {
	dir := t.TempDir()
	b := mustOpen(t, testOptions(dir, "a"))
	c := mustCursor(t, b, "a")
	created := map[string]bool{} // names of the segment files seen
	next := 0
	for range 30 {
		appendRange(t, b, next, next+300, 20)
		recs := readN(t, c, 300, 64, 0)
		require.Equal(t, seq(next, next+300), numbers(t, recs))
		require.NoError(t, c.Commit(recs[299].End))
		next += 300
		for _, f := range segFiles(t, dir) {
			created[f] = true
		}
	}
	st := b.Stats()
	spares := spareFiles(t, dir)
	assert.Len(t, spares, st.Spares)
	assert.GreaterOrEqual(t, st.Spares, 1)
	assert.LessOrEqual(t, st.Spares, maxSpares)
	var sum int64
	for _, f := range spares {
		sum += fileSize(t, f)
	}
	assert.Equal(t, sum, st.SpareBytes)

	// Almost every segment after the first few reused a file: the epochs
	// grow, and recycled segments say so in their header.
	segs := segFiles(t, dir)
	in := inspectSegment(t, segs[len(segs)-1])
	assert.NotZero(t, in.h.flags&segFlagRecycled, "the active segment is a recycled file")
	assert.Greater(t, len(created), 25, "many segments were used")
	assert.GreaterOrEqual(t, in.h.epoch, uint32(len(created)), "one epoch per segment started")
	assert.Equal(t, b.epoch, in.h.epoch)
	assert.LessOrEqual(t, len(segFiles(t, dir))+len(spares), 2+maxSpares, "files are reused, not created")

	// A second cursor-less restart reads on from the same place.
	require.NoError(t, b.Close())
	b = mustOpen(t, testOptions(dir, "a"))
	assert.Zero(t, b.Stats().Corrupt)
	appendRange(t, b, next, next+10, 10)
	assert.Equal(t, seq(next, next+10), numbers(t, readN(t, mustCursor(t, b, "a"), 10, 100, 0)))
}

// TestSparesCountAgainstMaxBytes: a buffer at its limit deletes its spare
// files before it blocks or drops records.
func TestSparesCountAgainstMaxBytes(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(dir, "a")
	opts.MaxBytes = MinMaxBytes // four 64 KiB segments
	b := mustOpen(t, opts)
	c := mustCursor(t, b, "a")
	next := fillRecycled(t, b, c, 0, 1)
	require.Positive(t, b.Stats().Spares)
	// Fill the buffer without committing: the spares make room first.
	for b.Stats().Spares > 0 {
		appendRange(t, b, next, next+10, 10)
		next += 10
		st := b.Stats()
		require.LessOrEqual(t, st.Bytes+st.SpareBytes, opts.MaxBytes)
	}
	assert.Empty(t, spareFiles(t, dir))
}

func TestRecycledSegmentStaleTail(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(dir, "a")
	b, err := Open(opts)
	require.NoError(t, err)
	c := mustCursorNoCleanup(t, b, "a")
	next := fillRecycled(t, b, c, 0, 2000)
	appendRange(t, b, next, next+3, 3) // read by nobody yet
	next += 3
	require.NoError(t, b.Close())

	segs := segFiles(t, dir)
	active := segs[len(segs)-1]
	before := inspectSegment(t, active)
	require.Greater(t, before.size-before.end, int64(2000), "stale records after the active segment's own")

	rec := &logRecorder{}
	opts.Logger = newLogger(rec)
	b = mustOpen(t, opts)
	assert.Zero(t, b.Stats().Corrupt)
	assert.NotContains(t, joined(rec), "torn tail")
	assert.NotContains(t, joined(rec), "corrupt")
	assert.Equal(t, before.end, fileSize(t, active), "cut after its last record")
	c = mustCursor(t, b, "a")
	assert.Equal(t, seq(next-3, next), numbers(t, readN(t, c, 3, 100, 0)))
	appendRange(t, b, next, next+20, 7)
	assert.Equal(t, seq(next, next+20), numbers(t, readN(t, c, 20, 100, 0)))
	assertNoMore(t, c)
}

// TestRecoveryAcrossTheEpochBoundary damages a recycled active segment
// where its own records end and the stale ones of its earlier epoch begin.
func TestRecoveryAcrossTheEpochBoundary(t *testing.T) {
	tests := []struct {
		name string
		// damage works on the file's bytes; end is where the segment's own
		// records end, last where its last record starts. It returns how
		// many of the segment's records must survive.
		damage func(t *testing.T, data []byte, h segHeader, starts []int64, end int64) int
	}{
		{"torn record over stale records", func(t *testing.T, data []byte, h segHeader, starts []int64, end int64) int {
			// The next record's header and half its payload were written
			// over the stale bytes, the rest never was.
			p := payload(99999)
			rec := appendRecord(nil, p, h.epoch)
			copy(data[end:], rec[:recHeaderSize+len(p)/2])
			return len(starts)
		}},
		{"torn record header", func(t *testing.T, data []byte, h segHeader, starts []int64, end int64) int {
			rec := appendRecord(nil, payload(99999), h.epoch)
			copy(data[end:], rec[:6])
			return len(starts)
		}},
		{"last record torn in the middle", func(t *testing.T, data []byte, h segHeader, starts []int64, end int64) int {
			// Its second half still holds the stale bytes.
			last := starts[len(starts)-1]
			mid := last + (end-last)/2
			for i := mid; i < end; i++ {
				data[i] ^= 0x55
			}
			return len(starts) - 1
		}},
		{"stale record before records of this epoch", func(t *testing.T, data []byte, h segHeader, starts []int64, end int64) int {
			// Pages written back out of order before a power loss: record
			// k still holds a record of the previous epoch (same length),
			// records after it are this epoch's. Recovery stops at k.
			k := len(starts) - 2
			n := le32(data[starts[k]:])
			stale := appendRecord(nil, make([]byte, n), h.epoch-1)
			copy(data[starts[k]:], stale)
			return k
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := testOptions(dir, "a")
			b, err := Open(opts)
			require.NoError(t, err)
			c := mustCursorNoCleanup(t, b, "a")
			next := fillRecycled(t, b, c, 0, 2000)
			committed := next
			appendRange(t, b, next, next+4, 4)
			next += 4
			require.NoError(t, b.Close())

			segs := segFiles(t, dir)
			active := segs[len(segs)-1]
			in := inspectSegment(t, active)
			starts := recordStarts(t, active)
			data, err := os.ReadFile(active)
			require.NoError(t, err)
			keep := tt.damage(t, data, in.h, starts, in.end)
			require.NoError(t, os.WriteFile(active, data, 0o600))
			first := next - len(starts) // number of the active segment's first record
			lost := len(starts) - keep

			rec := &logRecorder{}
			opts.Logger = newLogger(rec)
			b = mustOpen(t, opts)
			assert.Zero(t, b.Stats().Corrupt, "nothing counted as corrupt")
			cut := in.end
			if keep < len(starts) {
				cut = starts[keep]
			}
			assert.Equal(t, cut, fileSize(t, active), "cut after the last record of this epoch")
			c = mustCursor(t, b, "a")
			if committed < next-lost {
				assert.Equal(t, seq(committed, next-lost), numbers(t, readN(t, c, next-lost-committed, 100, 0)))
			}
			assertNoMore(t, c)
			_ = first
			// The records are written again (the input re-sends them) and
			// the buffer goes on, across a restart.
			appendRange(t, b, next-lost, next+30, 6)
			recs := readN(t, c, next+30-max(committed, next-lost), 100, 0)
			assert.Equal(t, seq(max(committed, next-lost), next+30), numbers(t, recs))
			require.NoError(t, c.Commit(recs[len(recs)-1].End))
			require.NoError(t, b.Close())
			b = mustOpen(t, opts)
			appendRange(t, b, next+30, next+40, 10)
			assert.Equal(t, seq(next+30, next+40), numbers(t, readN(t, mustCursor(t, b, "a"), 10, 100, 0)))
			assert.Zero(t, b.Stats().Corrupt)
		})
	}
}

// TestUpgradeFromVersion1 opens a buffer directory written by the agent
// before segment format 2 (testdata/mkv1): its records are all delivered,
// cursors resume where they were, and new records go to version 2
// segments; the old files are deleted once every output is done with them.
func TestUpgradeFromVersion1(t *testing.T) {
	dir := t.TempDir()
	untar(t, "testdata/v1-buffer.tar.gz", dir)
	for _, f := range segFiles(t, dir) {
		require.Equal(t, uint32(segVersion1), inspectSegment(t, f).h.version)
	}
	opts := testOptions(dir, "a", "b")
	rec := &logRecorder{}
	opts.Logger = newLogger(rec)
	b := mustOpen(t, opts)
	st := b.Stats()
	assert.EqualValues(t, 500, st.Records)
	assert.EqualValues(t, 500-120, st.Cursors["a"].LagRecords)
	assert.Contains(t, joined(rec), "upgraded to segment format version 2")
	assert.NotContains(t, joined(rec), "torn")
	segs := segFiles(t, dir)
	require.Len(t, segs, 3)
	assert.Equal(t, uint32(segVersion), inspectSegment(t, segs[2]).h.version, "new records go to a version 2 segment")

	appendRange(t, b, 500, 1500, 10)
	a, bc := mustCursor(t, b, "a"), mustCursor(t, b, "b")
	ra := readN(t, a, 1380, 100, 0)
	assert.Equal(t, seq(120, 1500), numbers(t, ra))
	rb := readN(t, bc, 1500, 100, 0)
	assert.Equal(t, seq(0, 1500), numbers(t, rb))
	require.NoError(t, a.Commit(ra[len(ra)-1].End))
	require.NoError(t, bc.Commit(rb[len(rb)-1].End))
	assert.NotEmpty(t, spareFiles(t, dir), "segment files are kept for reuse")
	for _, f := range spareFiles(t, dir) {
		assert.Equal(t, uint32(segVersion), inspectSegment(t, f).h.version, "version 1 files are deleted, not reused")
	}
	for _, f := range segs[:2] {
		assert.NoFileExists(t, f)
	}

	for i := 1500; i < 4000; i += 100 {
		appendRange(t, b, i, i+100, 20)
		ra = readN(t, a, 100, 100, 0)
		rb = readN(t, bc, 100, 100, 0)
		assert.Equal(t, seq(i, i+100), numbers(t, ra))
		assert.Equal(t, seq(i, i+100), numbers(t, rb))
		require.NoError(t, a.Commit(ra[99].End))
		require.NoError(t, bc.Commit(rb[99].End))
	}
	appendRange(t, b, 4000, 4010, 10)
	require.NoError(t, b.Close())
	b = mustOpen(t, opts)
	assert.Equal(t, seq(4000, 4010), numbers(t, readN(t, mustCursor(t, b, "a"), 10, 100, 0)))
	assert.Zero(t, b.Stats().Corrupt)
	for _, f := range segFiles(t, dir) {
		assert.Equal(t, uint32(segVersion), inspectSegment(t, f).h.version)
	}
}

// TestUpgradeFromVersion1EmptyActive: the old active segment holds no
// record, so the first version 2 segment takes its base (and file name).
func TestUpgradeFromVersion1EmptyActive(t *testing.T) {
	dir := t.TempDir()
	untar(t, "testdata/v1-buffer.tar.gz", dir)
	segs := segFiles(t, dir)
	require.Len(t, segs, 2)
	sealed := inspectSegment(t, segs[0]).count
	require.NoError(t, os.Truncate(segs[1], segHeader1Size))
	b := mustOpen(t, testOptions(dir, "a", "b"))
	assert.EqualValues(t, sealed, b.Stats().Records)
	after := segFiles(t, dir)
	require.Len(t, after, 2)
	assert.Equal(t, segs[1], after[1])
	assert.Equal(t, uint32(segVersion), inspectSegment(t, after[1]).h.version)
	appendRange(t, b, sealed, sealed+10, 10)
	assert.Equal(t, seq(0, sealed+10), numbers(t, readN(t, mustCursor(t, b, "b"), sealed+10, 100, 0)))
}

func untar(t *testing.T, archive, dir string) {
	t.Helper()
	f, err := os.Open(archive)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		require.NoError(t, err)
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(h.Name)), data, 0o600))
	}
}

// TestViewsStayValidUntilCommit reads like the delivery loop (a batch in
// flight while the next one is read) and checks every record's bytes right
// before its batch is committed. Released chunks are poisoned in tests
// (poisonReleased), so a chunk reused or released too early shows up as
// wrong bytes; the last check proves the poisoning is on.
func TestViewsStayValidUntilCommit(t *testing.T) {
	require.True(t, poisonReleased, "tests poison released chunks")
	opts := testOptions(t.TempDir(), "a")
	opts.MaxBytes, opts.SegmentBytes = 32<<20, 2<<20
	b := mustOpen(t, opts)
	c := mustCursor(t, b, "a")
	ctx := context.Background()
	// Records of every size, some larger than a read chunk.
	var want [][]byte
	for i := range 3000 {
		p := payload(i)
		if i%700 == 5 {
			p = append(p, make([]byte, chunkBytes/2*(1+i%3))...) // zero filler: numberOf accepts it
		}
		want = append(want, p)
	}
	for i := 0; i < len(want); i += 50 {
		require.NoError(t, b.Append(ctx, want[i:i+50], nil))
	}
	check := func(recs []Record) {
		t.Helper()
		for _, r := range recs {
			n := numberOf(t, r.Data)
			require.Equal(t, want[n], r.Data, "record %d changed before its commit", n)
		}
	}
	var inFlight, abandoned [][]Record
	next, rewound := 0, false
	var first Record
	for next < len(want) {
		recs, err := c.Next(ctx, 37, 96<<10)
		require.NoError(t, err)
		require.Equal(t, next, numberOf(t, recs[0].Data))
		if next == 0 {
			first = recs[0]
		}
		next += len(recs)
		for _, bt := range abandoned {
			check(bt) // still valid: not committed yet
		}
		abandoned = nil
		inFlight = append(inFlight, recs)
		if len(inFlight) > 2 { // max_in_flight 1 plus the batch filling
			check(inFlight[0])
			require.NoError(t, c.Commit(inFlight[0][len(inFlight[0])-1].End))
			inFlight = inFlight[1:]
		}
		if next > 1500 && !rewound {
			// The batches in flight are abandoned (a failed send) and
			// read again.
			rewound = true
			abandoned, inFlight = inFlight, nil
			next = numberOf(t, abandoned[0][0].Data)
			c.Rewind()
		}
	}
	for _, bt := range inFlight {
		check(bt)
	}
	last := inFlight[len(inFlight)-1]
	require.NoError(t, c.Commit(last[len(last)-1].End))
	assert.NotEqual(t, want[0], first.Data, "a view released long ago reads poison (or other records)")
}
