// Package ndjson writes batches of events as newline-delimited JSON, the
// format of the file and stdout outputs: each event's raw bytes exactly as
// the apiserver wrote them, then '\n'.
package ndjson

import (
	"fmt"
	"io"

	"github.com/kubetrail/kubetrail/event"
)

// Encoder writes events to W in chunks of at most MaxChunk bytes, always cut
// at event boundaries, so a rotating writer (lumberjack) never splits an
// event across two files. It is not safe for concurrent use.
type Encoder struct {
	W io.Writer
	// MaxChunk bounds one Write call to W; an event larger than MaxChunk is
	// written alone.
	MaxChunk int
	// TooLarge, if set, reports that a line of n bytes can never be written
	// (lumberjack refuses writes larger than its max size): such an event is
	// rejected permanently instead of retried.
	TooLarge func(n int) bool
	buf      []byte
	// torn is set when a failed write left part of a line in W: the next
	// write starts with a newline, so the retried event gets a line of its
	// own (the fragment stays behind as one malformed line).
	torn bool
}

// Encode writes every event of b. It returns nil when all were written, or a
// *event.PartialError naming the events that were not: permanent for a
// lone event TooLarge refuses, retryable for everything from the first
// failed chunk on.
func (e *Encoder) Encode(b *event.Batch) error {
	var failed map[int]error
	first := 0 // index of the first event in e.buf
	e.buf = e.buf[:0]
	for i := 0; i <= len(b.Events); i++ {
		if i < len(b.Events) && (len(e.buf) == 0 || len(e.buf)+len(b.Events[i].Raw)+1 <= e.MaxChunk) {
			e.buf = append(append(e.buf, b.Events[i].Raw...), '\n')
			continue
		}
		if len(e.buf) > 0 {
			if e.torn {
				e.buf = append(e.buf, 0)
				copy(e.buf[1:], e.buf)
				e.buf[0] = '\n'
			}
			n, err := e.W.Write(e.buf)
			if err == nil {
				e.torn = false
			} else {
				if failed == nil {
					failed = make(map[int]error)
				}
				if e.torn {
					n-- // the leading newline
				}
				if n > 0 {
					e.torn = true // part of the chunk is in W
				}
				if i-first == 1 && e.TooLarge != nil && e.TooLarge(len(b.Events[first].Raw)+1) {
					failed[first] = event.Permanent(fmt.Errorf("event of %d bytes: %w", len(b.Events[first].Raw)+1, err))
				} else {
					// A short write (ENOSPC, EIO) may have written whole
					// events: those are acknowledged, the rest retried.
					j := first
					for ; j < len(b.Events) && n >= len(b.Events[j].Raw)+1; j++ {
						n -= len(b.Events[j].Raw) + 1
					}
					if n == 0 && j > first {
						e.torn = false // the write ended on a line boundary
					}
					for ; j < len(b.Events); j++ {
						failed[j] = fmt.Errorf("write: %w", err)
					}
					return &event.PartialError{Failed: failed}
				}
			}
		}
		e.buf, first = e.buf[:0], i
		if i < len(b.Events) {
			i-- // the event that did not fit starts the next chunk
		}
	}
	if cap(e.buf) > 2*e.MaxChunk {
		e.buf = nil // an event larger than a chunk passed: don't keep its size
	}
	if failed != nil {
		return &event.PartialError{Failed: failed}
	}
	return nil
}
