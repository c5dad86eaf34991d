package ndjson

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/event"
)

// limitWriter refuses writes over max, like lumberjack, and records each call.
type limitWriter struct {
	max    int
	writes []string
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if len(p) > w.max {
		return 0, errors.New("write length exceeds maximum file size")
	}
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

func batch(raws ...string) *event.Batch {
	b := &event.Batch{}
	for _, r := range raws {
		b.Events = append(b.Events, event.Event{Raw: []byte(r)})
	}
	return b
}

func TestEncodeChunksAtEventBoundaries(t *testing.T) {
	w := &limitWriter{max: 100}
	e := &Encoder{W: w, MaxChunk: 10}
	require.NoError(t, e.Encode(batch("aaaa", "bbbb", "cccc", "dddddddddddd", "e")))
	assert.Equal(t, []string{"aaaa\nbbbb\n", "cccc\n", "dddddddddddd\n", "e\n"}, w.writes)
}

func TestEncodeTooLargeEventIsPermanentOthersWritten(t *testing.T) {
	w := &limitWriter{max: 10}
	e := &Encoder{W: w, MaxChunk: 10, TooLarge: func(n int) bool { return n > 10 }}
	err := e.Encode(batch("a", "0123456789abc", "b"))
	var pe *event.PartialError
	require.ErrorAs(t, err, &pe)
	require.Len(t, pe.Failed, 1)
	assert.True(t, event.IsPermanent(pe.Failed[1]))
	assert.Equal(t, []string{"a\n", "b\n"}, w.writes)
}

type failAfter struct {
	bytes.Buffer
	left int
}

func (f *failAfter) Write(p []byte) (int, error) {
	if f.left == 0 {
		return 0, errors.New("disk full")
	}
	f.left--
	return f.Buffer.Write(p)
}

func TestEncodeFailureMarksRestRetryable(t *testing.T) {
	w := &failAfter{left: 1}
	e := &Encoder{W: w, MaxChunk: 6}
	err := e.Encode(batch("aa", "bb", "cc", "dd"))
	var pe *event.PartialError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "aa\nbb\n", w.String())
	require.Len(t, pe.Failed, 2)
	for _, i := range []int{2, 3} {
		require.Contains(t, pe.Failed, i)
		assert.False(t, event.IsPermanent(pe.Failed[i]))
	}
}

// shortWriter accepts room bytes, then fails, reporting the short count as
// os.File does on ENOSPC.
type shortWriter struct {
	bytes.Buffer
	room int
}

func (w *shortWriter) Write(p []byte) (int, error) {
	if len(p) <= w.room {
		w.room -= len(p)
		return w.Buffer.Write(p)
	}
	n := w.room
	w.room = 0
	w.Buffer.Write(p[:n])
	return n, errors.New("no space left on device")
}

func TestShortWriteAcksWholeEventsAndKeepsRetriedLinesWhole(t *testing.T) {
	w := &shortWriter{room: 11} // `{"a":1}\n` (8 bytes) and 3 bytes of the next
	e := &Encoder{W: w, MaxChunk: 1 << 20}
	err := e.Encode(batch(`{"a":1}`, `{"b":2}`, `{"c":3}`))
	var pe *event.PartialError
	require.ErrorAs(t, err, &pe)
	assert.Len(t, pe.Failed, 2, "the whole first event was written and is acknowledged")
	assert.NotContains(t, pe.Failed, 0)

	w.room = 1 << 20
	require.NoError(t, e.Encode(batch(`{"b":2}`, `{"c":3}`)))
	require.NoError(t, e.Encode(batch(`{"d":4}`)))
	assert.Equal(t, "{\"a\":1}\n{\"b\n{\"b\":2}\n{\"c\":3}\n{\"d\":4}\n", w.String(),
		"the retried events start on a line of their own; the fragment is one bad line")
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkEncode is the file and stdout outputs' per-batch cost: 500
// events of 1.4 KB (the real corpus's mean) into a writer that takes all.
func BenchmarkEncode(b *testing.B) {
	raw := bytes.Repeat([]byte("x"), 1400)
	batch := &event.Batch{}
	for range 500 {
		batch.Events = append(batch.Events, event.Event{Raw: raw})
		batch.Bytes += len(raw)
	}
	e := &Encoder{W: discard{}, MaxChunk: 1 << 20}
	b.SetBytes(int64(batch.Bytes))
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Encode(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(batch.Events))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
