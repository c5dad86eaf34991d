package auditlog

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/pipeline"
)

// deadLetterPrefix is how much of an over-long line is kept for the
// dead-letter file.
const deadLetterPrefix = 64 << 10

// lines is the hot path: it reads big chunks into one buffer, cuts lines
// with bytes.IndexByte and hands them to the sink as views into the buffer,
// copying nothing but the unfinished line at the end of the buffer when it
// has to make room. Only the reading goroutine uses it.
type lines struct {
	buf        []byte
	start, end int   // unhandled bytes: buf[start:end]
	pos        int64 // file offset (uncompressed) of buf[end]
	consumed   int64 // offset after the last handled line: the commit position
	marked     int64 // consumed as of the last mark pushed
	counted    int64 // consumed as of the last bytes metric update

	// An over-long line being skipped.
	skipping  bool
	skipStart int64
	skipLen   int64
	skipBuf   []byte // its first deadLetterPrefix bytes

	events   []event.Event
	evBytes  int
	readSize int
	maxLine  int
	baseSize int // the buffer's size when no long line is in it
}

func newLines(readSize, batchBytes, maxLine int) *lines {
	return &lines{
		buf:      make([]byte, batchBytes+readSize),
		baseSize: batchBytes + readSize,
		readSize: readSize,
		maxLine:  maxLine,
		skipBuf:  make([]byte, 0, deadLetterPrefix),
	}
}

// reset prepares for reading a file from offset off.
func (l *lines) reset(off int64) {
	l.start, l.end = 0, 0
	l.pos, l.consumed, l.marked, l.counted = off, off, off, off
	l.skipping = false
	l.skipBuf = l.skipBuf[:0]
}

// offsetOf is the file offset of buf[i].
func (l *lines) offsetOf(i int) int64 { return l.pos - int64(l.end-i) }

// room makes space for one read at buf[end:], flushing the batch first when
// the unfinished line has to move (the batch's events point into buf).
func (t *tailer) room(ctx context.Context, src *source) error {
	l := t.lines
	if l.start == l.end && len(l.events) == 0 {
		l.start, l.end = 0, 0
	}
	if len(l.buf)-l.end >= l.readSize {
		return nil
	}
	if err := t.flush(ctx, src); err != nil {
		return err
	}
	n := copy(l.buf, l.buf[l.start:l.end])
	l.start, l.end = 0, n
	if len(l.buf) > 2*l.baseSize && l.end+l.readSize <= l.baseSize {
		// A long line has passed: give its memory back rather than keep
		// max_line_bytes for good.
		nb := make([]byte, l.baseSize)
		copy(nb, l.buf[:l.end])
		l.buf = nb
	}
	if len(l.buf)-l.end < l.readSize {
		// The unfinished line is at most maxLine long (longer ones are
		// skipped), so the buffer never needs more than maxLine+readSize.
		nb := make([]byte, max(min(2*len(l.buf), l.maxLine+l.readSize), l.end+l.readSize))
		copy(nb, l.buf[:l.end])
		l.buf = nb
	}
	return nil
}

// fill reads once from src into the buffer.
func (t *tailer) fill(ctx context.Context, src *source) (int, error) {
	if err := t.room(ctx, src); err != nil {
		return 0, err
	}
	l := t.lines
	n, err := src.r.Read(l.buf[l.end : l.end+l.readSize])
	l.end += n
	l.pos += int64(n)
	t.readBytes += int64(n)
	return n, err
}

// process handles every complete line in the buffer, flushing full batches.
func (t *tailer) process(ctx context.Context, src *source) error {
	l := t.lines
	for l.start < l.end {
		data := l.buf[l.start:l.end]
		i := bytes.IndexByte(data, '\n')
		switch {
		case l.skipping:
			if i < 0 {
				l.skipAppend(data)
				l.start = l.end
				return nil
			}
			l.skipAppend(data[:i])
			l.start += i + 1
			l.consumed = l.offsetOf(l.start)
			t.deadLetterLong(src, "")
			continue
		case i < 0:
			if len(data) > l.maxLine {
				// Too long to hold: keep a prefix for the dead-letter file
				// and discard the rest up to its newline.
				if err := t.flush(ctx, src); err != nil {
					return err
				}
				l.skipping, l.skipStart, l.skipLen = true, l.consumed, 0
				l.skipBuf = l.skipBuf[:0]
				l.skipAppend(data)
				l.start = l.end
			}
			return nil
		}
		line := data[:i]
		off := l.consumed
		l.start += i + 1
		l.consumed += int64(i + 1)
		if len(line) > l.maxLine {
			l.skipStart, l.skipLen = off, 0
			l.skipBuf = l.skipBuf[:0]
			l.skipAppend(line)
			t.deadLetterLong(src, "")
			continue
		}
		n := len(l.events)
		if n < cap(l.events) {
			l.events = l.events[:n+1]
		} else {
			l.events = append(l.events, event.Event{})
		}
		ev := &l.events[n]
		ev.Raw = line
		if err := t.in.extract(line, &ev.Meta); err != nil {
			l.events = l.events[:n]
			t.deadLetter(src, off, line, 0, reasonMalformed, fmt.Sprintf("malformed JSON: %v", err))
			continue
		}
		l.evBytes += len(line)
		if len(l.events) >= t.in.cfg.BatchEvents || int64(l.evBytes) >= t.in.cfg.BatchBytes.Bytes() {
			if err := t.flush(ctx, src); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *lines) skipAppend(p []byte) {
	l.skipLen += int64(len(p))
	if room := deadLetterPrefix - len(l.skipBuf); room > 0 {
		l.skipBuf = append(l.skipBuf, p[:min(room, len(p))]...)
	}
}

// deadLetterLong sends the skipped over-long line to the dead-letter file.
func (t *tailer) deadLetterLong(src *source, more string) {
	l := t.lines
	reason := fmt.Sprintf("line exceeds max_line_bytes (%d bytes)", l.skipLen) + more
	t.deadLetter(src, l.skipStart, l.skipBuf, l.skipLen, reasonTooLong, reason)
	l.skipping = false
	l.skipBuf = l.skipBuf[:0]
}

// deadLetter records one line the input gives up on. Its offset is
// committed with the next mark, like any handled line.
func (t *tailer) deadLetter(src *source, off int64, raw []byte, size int64, label, reason string) {
	source := fmt.Sprintf("%s:%d", t.pathOf(src.e), off) // where the file is now
	if kept, cut := withoutBodies(raw); cut {
		// The line never reached the processors: its bodies may hold
		// Secret values nobody redacted. Keep what identifies the event.
		raw = kept
		reason += "; requestObject and responseObject left out (not redacted)"
	}
	t.log.Warn("line sent to the dead-letter file", slog.String("source", source), slog.String("reason", reason))
	err := t.in.set.DeadLetter.WriteDeadLetter(pipeline.DeadLetter{
		Component: "input/" + t.in.set.Name,
		Reason:    reason,
		Source:    source,
		Raw:       bytes.Clone(raw),
		Size:      size,
	})
	if err != nil {
		t.in.met.lostBytes.Add(float64(max(size, int64(len(raw)))))
		t.log.Error("could not write to the dead-letter file; the line is lost", slog.String("source", source), slog.Any("error", err))
		return
	}
	t.dlqDirty.Store(true)
	t.in.met.deadLetter.WithLabelValues(label).Inc()
}

// recordHanded rewrites the handed record after a hand-over.
func (t *tailer) recordHanded(src *source) {
	t.st.mu.Lock()
	r := handedRecord{id: src.e.id, off: t.lines.consumed, seen: t.lines.pos, lastTime: t.lastTime, key: src.e.key(), boot: t.boot}
	t.st.mu.Unlock()
	t.lastPath = src.path
	if err := t.handed.write(r); err != nil {
		t.log.Warn("cannot record how far the pipeline has the events; loss accounting after a crash may count delivered bytes", slog.Any("error", err))
	}
}

// flush hands the batch to the sink and queues its commit mark; with no
// events, it queues a ready mark when lines were handled (dead-lettered)
// since the last one.
func (t *tailer) flush(ctx context.Context, src *source) error {
	l := t.lines
	if d := l.consumed - l.counted; d > 0 {
		t.in.met.bytes.Add(float64(d))
		l.counted = l.consumed
	}
	if len(l.events) == 0 {
		if l.consumed != l.marked {
			t.st.push(&mark{e: src.e, off: l.consumed, ready: true})
			l.marked = l.consumed
			t.recordHanded(src)
		}
		return nil
	}
	last := string(l.events[len(l.events)-1].Meta.StageTimestamp)
	m := &mark{e: src.e, off: l.consumed, last: last}
	t.st.push(m)
	if err := t.sink.Write(ctx, l.events, func() { t.st.ack(m) }); err != nil {
		t.st.abandon(m)
		return fmt.Errorf("hand %d events to the pipeline: %w", len(l.events), err)
	}
	t.lastTime = last
	t.recordHanded(src)
	t.in.met.events.Add(float64(len(l.events)))
	l.marked = l.consumed
	l.events = l.events[:0]
	l.evBytes = 0
	return nil
}

// withoutBodies cuts a line the input gives up on before its first
// requestObject or responseObject member: the apiserver writes them after
// the fields that identify the event (auditID, verb, user, objectRef,
// responseStatus), and they are where Secret values and tokens are.
func withoutBodies(raw []byte) ([]byte, bool) {
	cut := len(raw)
	for _, key := range [][]byte{[]byte(`"requestObject"`), []byte(`"responseObject"`)} {
		if i := bytes.Index(raw, key); i >= 0 && i < cut {
			cut = i
		}
	}
	return raw[:cut], cut < len(raw)
}
