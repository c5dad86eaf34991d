package buffer

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordStarts returns the file offsets of the records of an undamaged
// segment (those of its epoch: not the stale ones of a recycled file).
func recordStarts(t *testing.T, path string) []int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	h, err := decodeSegHeader(data)
	require.NoError(t, err)
	fr := h.framing()
	var out []int64
	for o := h.size(); o+fr.hdr <= int64(len(data)); {
		n := int64(binary.LittleEndian.Uint32(data[o:]))
		if n == 0 || o+fr.hdr+n > int64(len(data)) {
			break
		}
		if !fr.legacy && (binary.LittleEndian.Uint32(data[o+4:]) != fr.epoch ||
			recordSum(data[o:o+8], data[o+fr.hdr:o+fr.hdr+n]) != binary.LittleEndian.Uint32(data[o+8:])) {
			break
		}
		out = append(out, o)
		o += fr.hdr + n
	}
	return out
}

func patchFile(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	patchFile(t, path, off, []byte{data[off] ^ 0x5a})
}

func joined(rec *logRecorder) string { return strings.Join(rec.all(), "\n") }

// writeClosed writes n records and closes the buffer; it returns the
// segment files and the record numbers in the last (active) one.
func writeClosed(t *testing.T, opts Options, n int) (segs []string, firstInActive int) {
	t.Helper()
	b, err := Open(opts)
	require.NoError(t, err)
	appendRange(t, b, 0, n, 25)
	require.NoError(t, b.Close())
	segs = segFiles(t, opts.Dir)
	return segs, n - len(recordStarts(t, segs[len(segs)-1]))
}

func TestTornTail(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, path string, last int64) // last: offset of the last record
		lost   int                                         // records lost at the end
	}{
		{"partial payload", func(t *testing.T, path string, last int64) {
			require.NoError(t, os.Truncate(path, fileSize(t, path)-5))
		}, 1},
		{"partial header", func(t *testing.T, path string, last int64) {
			require.NoError(t, os.Truncate(path, last+3))
		}, 1},
		{"bad CRC on the last record", func(t *testing.T, path string, last int64) {
			flipByte(t, path, last+recHeaderSize+2)
		}, 1},
		{"garbage appended", func(t *testing.T, path string, _ int64) {
			g := make([]byte, 777)
			r := rand.New(rand.NewPCG(1, 2))
			for i := range g {
				g[i] = byte(r.IntN(256))
			}
			patchFile(t, path, fileSize(t, path), g)
		}, 0},
		{"zeros appended (power loss)", func(t *testing.T, path string, _ int64) {
			patchFile(t, path, fileSize(t, path), make([]byte, 4096))
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(t.TempDir(), "a")
			const n = 1000
			segs, _ := writeClosed(t, opts, n)
			active := segs[len(segs)-1]
			starts := recordStarts(t, active)
			want := starts[len(starts)-1]
			if tt.lost == 0 {
				want = fileSize(t, active)
			}
			tt.damage(t, active, starts[len(starts)-1])

			rec := &logRecorder{}
			opts.Logger = newLogger(rec)
			b := mustOpen(t, opts)
			assert.Equal(t, want, fileSize(t, active), "truncated to the last good record")
			assert.EqualValues(t, n-tt.lost, b.Stats().Records)
			assert.Contains(t, joined(rec), "truncating torn tail")
			assert.Contains(t, joined(rec), active)
			assert.Zero(t, b.Stats().Corrupt)

			appendRange(t, b, n, n+50, 10)
			c := mustCursor(t, b, "a")
			got := numbers(t, readN(t, c, n-tt.lost+50, 1000, 0))
			assert.Equal(t, append(seq(0, n-tt.lost), seq(n, n+50)...), got)
			assertNoMore(t, c)
		})
	}
}

func TestCorruptMiddleRecord(t *testing.T) {
	type damage func(t *testing.T, path string, off int64)
	payloadByte := func(t *testing.T, path string, off int64) { flipByte(t, path, off+recHeaderSize+3) }
	crcByte := func(t *testing.T, path string, off int64) { flipByte(t, path, off+9) }
	impossibleLen := func(t *testing.T, path string, off int64) {
		patchFile(t, path, off, []byte{0xf0, 0xff, 0xff, 0x7f})
	}
	shorterLen := func(t *testing.T, path string, off int64) {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		n := binary.LittleEndian.Uint32(data[off:])
		patchFile(t, path, off, binary.LittleEndian.AppendUint32(nil, n-9))
	}
	zeroed := func(t *testing.T, path string, off int64) { patchFile(t, path, off, make([]byte, 40)) }
	tests := []struct {
		name   string
		seg    string // "sealed" or "active"
		reopen bool   // damage a closed buffer (else an open one, found by the cursor)
		damage damage
	}{
		{"sealed payload", "sealed", true, payloadByte},
		{"sealed crc", "sealed", true, crcByte},
		{"sealed impossible length", "sealed", true, impossibleLen},
		{"sealed plausible length", "sealed", true, shorterLen},
		{"sealed zeroed", "sealed", true, zeroed},
		{"sealed while open", "sealed", false, payloadByte},
		{"active payload", "active", true, payloadByte},
		{"active impossible length", "active", true, impossibleLen},
		{"active plausible length", "active", true, shorterLen},
		{"active zeroed", "active", true, zeroed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(t.TempDir(), "a")
			rec := &logRecorder{}
			opts.Logger = newLogger(rec)
			const n = 2000
			b, err := Open(opts)
			require.NoError(t, err)
			appendRange(t, b, 0, n, 25)
			segs := segFiles(t, opts.Dir)
			require.Greater(t, len(segs), 3)
			path, first := segs[1], 0
			for _, s := range segs[:1] {
				first += len(recordStarts(t, s))
			}
			if tt.seg == "active" {
				path = segs[len(segs)-1]
				first = n - len(recordStarts(t, path))
			}
			starts := recordStarts(t, path)
			require.Greater(t, len(starts), 4)
			k := len(starts) / 2
			bad := first + k // number of the damaged record
			if tt.reopen {
				require.NoError(t, b.Close())
			}
			tt.damage(t, path, starts[k])
			if tt.reopen {
				b = mustOpen(t, opts)
				if tt.seg == "active" {
					assert.EqualValues(t, 1, b.Stats().Corrupt, "found by Open")
					assert.EqualValues(t, n-1, b.Stats().Records)
				} else {
					assert.Zero(t, b.Stats().Corrupt, "sealed segments are not read at Open")
				}
			} else {
				t.Cleanup(func() { _ = b.Close() })
			}
			c := mustCursor(t, b, "a")
			want := append(seq(0, bad), seq(bad+1, n)...)
			assert.Equal(t, want, numbers(t, readN(t, c, n-1, 100, 0)))
			assertNoMore(t, c)
			assert.EqualValues(t, 1, b.Stats().Corrupt, "counted once")
			assert.Contains(t, joined(rec), "skipped corrupt records")
			assert.Contains(t, joined(rec), "segment="+path)
			assert.NotContains(t, joined(rec), "torn tail")

			// Appends continue after the damage; a new cursor reads the same.
			appendRange(t, b, n, n+10, 10)
			assert.Equal(t, seq(n, n+10), numbers(t, readN(t, c, 10, 100, 0)))
			require.NoError(t, b.Close())
			opts.Cursors = []string{"fresh"}
			b = mustOpen(t, opts)
			assert.Equal(t, append(want, seq(n, n+10)...), numbers(t, readN(t, mustCursor(t, b, "fresh"), n+9, 500, 0)))
		})
	}
}

func TestTwoAdjacentCorruptRecords(t *testing.T) {
	opts := testOptions(t.TempDir(), "a")
	const n = 500
	segs, firstInActive := writeClosed(t, opts, n)
	active := segs[len(segs)-1]
	starts := recordStarts(t, active)
	k := len(starts) / 2
	flipByte(t, active, starts[k]+recHeaderSize)
	flipByte(t, active, starts[k+1]+recHeaderSize)
	b := mustOpen(t, opts)
	bad := firstInActive + k
	want := append(seq(0, bad), seq(bad+2, n)...)
	assert.Equal(t, want, numbers(t, readN(t, mustCursor(t, b, "a"), n-2, 100, 0)))
}

func TestUnusableFiles(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		file   func(dir string) string
	}{
		{"foreign segment", func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, segName(0)), []byte("this is not a segment, it is a note"), 0o600))
		}, func(dir string) string { return filepath.Join(dir, segName(0)) }},
		{"segment of a future version", func(t *testing.T, dir string) {
			h := encodeSegHeader(segHeader{})
			h[8] = 9
			require.NoError(t, os.WriteFile(filepath.Join(dir, segName(0)), h, 0o600))
		}, func(dir string) string { return filepath.Join(dir, segName(0)) }},
		{"segment renamed", func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, segName(77)), encodeSegHeader(segHeader{base: 5}), 0o600))
		}, func(dir string) string { return filepath.Join(dir, segName(77)) }},
		{"corrupt cursor file", func(t *testing.T, dir string) {
			writeClosed(t, testOptions(dir, "a"), 10)
			flipByte(t, filepath.Join(dir, cursorFileName("a")), 17)
		}, func(dir string) string { return filepath.Join(dir, cursorFileName("a")) }},
		{"truncated cursor file", func(t *testing.T, dir string) {
			writeClosed(t, testOptions(dir, "a"), 10)
			require.NoError(t, os.Truncate(filepath.Join(dir, cursorFileName("a")), 3))
		}, func(dir string) string { return filepath.Join(dir, cursorFileName("a")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.damage(t, dir)
			_, err := Open(testOptions(dir, "a"))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.file(dir))
			assert.Contains(t, err.Error(), "delete")
		})
	}
}

func TestTornSegmentHeader(t *testing.T) {
	for _, size := range []int{0, 10, segHeaderSize} {
		opts := testOptions(t.TempDir(), "a")
		const n = 1000
		writeClosed(t, opts, n)
		b, err := Open(opts)
		require.NoError(t, err)
		next := segName(b.Stats().Head)
		require.NoError(t, b.Close())
		// A crash right after the next segment was created.
		require.NoError(t, os.WriteFile(filepath.Join(opts.Dir, next), make([]byte, size), 0o600))
		b = mustOpen(t, opts)
		_, err = os.Stat(filepath.Join(opts.Dir, next))
		assert.ErrorIs(t, err, os.ErrNotExist)
		appendRange(t, b, n, n+10, 5)
		assert.Equal(t, seq(0, n+10), numbers(t, readN(t, mustCursor(t, b, "a"), n+10, 1000, 0)))
	}
}

// TestCursorPastHead: a power loss can lose a tail whose cursor commit
// survived; the cursor moves back and the records written again are read.
func TestCursorPastHead(t *testing.T) {
	opts := testOptions(t.TempDir(), "a")
	opts.SegmentBytes = 1 << 20
	b, err := Open(opts)
	require.NoError(t, err)
	appendRange(t, b, 0, 100, 10)
	c := mustCursor(t, b, "a")
	recs := readN(t, c, 100, 1000, 0)
	require.NoError(t, c.Commit(recs[99].End))
	require.NoError(t, b.Close())
	seg := segFiles(t, opts.Dir)[0]
	require.NoError(t, os.Truncate(seg, recordStarts(t, seg)[50]))

	b = mustOpen(t, opts)
	st := b.Stats()
	assert.Equal(t, recs[49].End, st.Head)
	assert.Equal(t, st.Head, st.Cursors["a"].Committed)
	require.NoError(t, b.Append(context.Background(), [][]byte{payload(50), payload(51)}, nil))
	assert.Equal(t, []int{50, 51}, numbers(t, readN(t, mustCursor(t, b, "a"), 2, 10, 0)))
}
