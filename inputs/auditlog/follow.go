package auditlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
)

// read reads e's file from its committed offset to its end: for a backup or
// a .gz, the end of the file; for the active file, until it was rotated or
// replaced and then drained (lumberjack writes nothing to a file after
// renaming it). It returns errNotThere when the file is not where it was
// last seen, nil when e was read to its end.
func (t *tailer) read(ctx context.Context, e *entry) error {
	t.st.mu.Lock()
	start := e.committed
	t.st.cur = e // from here on, e cannot be declared lost: once open, its file is ours
	t.st.mu.Unlock()
	t.curPos.Store(start)
	defer func() {
		t.st.mu.Lock()
		t.st.cur = nil
		t.st.mu.Unlock()
	}()
	t.gapBefore(ctx, e)
	src, err := t.open(e, start)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		// A .gz that does not reach the committed offset yet.
		t.log.Debug("gzipped backup still being written; waiting", slog.String("path", t.pathOf(e)))
		t.lines.reset(start)
		if src, err = t.reopenGzip(ctx, e, -1, time.Time{}); err == nil && src == nil {
			return t.giveUp(ctx, e, "gzipped backup stays truncated")
		}
	}
	switch {
	case errors.Is(err, errShort):
		t.log.Error("file is shorter than its committed offset; nothing more to read in it", slog.String("path", t.pathOf(e)), slog.Any("error", err))
		t.lines.reset(start)
		return t.finish(ctx, &source{e: e, path: t.pathOf(e)})
	case err != nil && isCorruptGzip(err):
		t.log.Error("gzipped backup is corrupt before the committed offset; giving up on the rest of it",
			slog.String("path", t.pathOf(e)), slog.Int64("offset", start), slog.Any("error", err))
		t.lines.reset(start)
		return t.giveUp(ctx, e, "gzipped backup is corrupt: "+err.Error())
	case err != nil:
		return err
	}
	defer func() { src.close() }()
	t.st.mu.Lock()
	t.st.curDev, t.st.curIno = src.dev, src.ino
	t.st.mu.Unlock()
	l := t.lines
	l.reset(start)
	t.log.Debug("reading file", slog.String("path", src.path), slog.Int64("offset", start), slog.Bool("active", src.active))
	draining := false
	for {
		n, err := t.fill(ctx, src)
		if n > 0 {
			t.curPos.Store(t.lines.pos)
			if perr := t.process(ctx, src); perr != nil {
				return perr
			}
			if err == nil {
				continue
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			if src.gz && errors.Is(err, io.ErrUnexpectedEOF) {
				// A .gz still being written: never treat it as complete.
				// Hand over the whole lines, then reopen and resume.
				if err := t.flush(ctx, src); err != nil {
					return err
				}
				src.close()
				e := src.e
				if src, err = t.reopenGzip(ctx, e, src.size, src.mtime); err != nil {
					return err
				}
				if src == nil { // never completed: give up on the rest
					return t.giveUp(ctx, e, "gzipped backup stays truncated")
				}
				continue
			}
			if src.gz && isCorruptGzip(err) {
				// A corrupt stream (bad checksum, invalid deflate data) will
				// not heal: count the rest as lost and go on with the next
				// file instead of failing the input at every start.
				if err := t.flush(ctx, src); err != nil {
					return err
				}
				src.close()
				t.log.Error("gzipped backup is corrupt; giving up on the rest of it",
					slog.String("path", src.path), slog.Int64("offset", l.consumed), slog.Any("error", err))
				return t.giveUp(ctx, src.e, "gzipped backup is corrupt: "+err.Error())
			}
			return fmt.Errorf("read %s: %w", src.path, err)
		}
		// End of what the file holds now.
		if err := t.flush(ctx, src); err != nil {
			return err
		}
		if src.gz || !src.active || draining {
			return t.finish(ctx, src)
		}
		fi, err := src.f.Stat()
		if err != nil {
			return fmt.Errorf("stat %s: %w", src.path, err)
		}
		size := fi.Size()
		switch {
		case size < l.pos:
			if err := t.truncated(ctx, src, size); err != nil {
				return err
			}
			continue
		case size > l.pos && t.wt.w == nil:
			// Without notifications, read on what came meanwhile.
			continue
		}
		// With notifications, what was written since the read is left for
		// the next wake-up: a write is always followed by a notification
		// that rings the reader, and reading on now would hand the
		// pipeline a second, smaller batch per wake-up (the writes of the
		// last millisecond), with its own append and delivery wake-up.
		if t.moved(src) {
			draining = true // read once more to the end: it holds all it will ever hold
			continue
		}
		if err := t.idle(ctx, src, size); err != nil {
			return err
		}
	}
}

// reopenGzip waits for a .gz that ended before its trailer to change, then
// reopens it at the position after the last whole line handed over. size
// and mtime describe the file as it was when it was found truncated. It
// returns a nil source when the file stays unchanged for gzStall (a .gz that
// will never be completed) or disappears.
func (t *tailer) reopenGzip(ctx context.Context, e *entry, size int64, mtime time.Time) (*source, error) {
	since := time.Now()
	off := t.lines.consumed
	path := t.pathOf(e)
	for {
		if err := t.wait(ctx); err != nil {
			return &source{}, err
		}
		fi, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			t.log.Error("truncated gzipped backup disappeared", slog.String("path", path), slog.Int64("offset", off))
			return nil, nil
		}
		if err != nil || (fi.Size() == size && fi.ModTime().Equal(mtime)) {
			if time.Since(since) >= t.in.gzStall {
				t.log.Error("gzipped backup is truncated and has not changed for a while; giving up on the rest of it",
					slog.String("path", path), slog.Int64("offset", off), slog.Duration("unchanged_for", time.Since(since)))
				return nil, nil
			}
			continue
		}
		size, mtime, since = fi.Size(), fi.ModTime(), time.Now()
		src, err := t.open(e, off)
		switch {
		case err == nil:
			t.lines.reset(off)
			return src, nil
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, errNotThere):
			continue
		case isCorruptGzip(err):
			t.log.Error("gzipped backup is corrupt; giving up on the rest of it", slog.String("path", path), slog.Int64("offset", off), slog.Any("error", err))
			return nil, nil
		default:
			return &source{}, err
		}
	}
}

// giveUp finishes a .gz that stays truncated or is corrupt, reporting the
// rest as lost.
func (t *tailer) giveUp(ctx context.Context, e *entry, why string) error {
	off := t.lines.consumed
	t.lines.reset(off) // the partial line of the broken stream is part of the loss
	t.st.mu.Lock()
	t.reportLostLocked(e, off, why)
	path := e.path
	t.st.mu.Unlock()
	return t.finish(ctx, &source{e: e, path: path})
}

// finish closes the book on a file read to its end: a last line without a
// newline is dead-lettered (lumberjack never leaves one), and a ready mark
// commits the end once everything before it is durable.
func (t *tailer) finish(ctx context.Context, src *source) error {
	// Learn where the file is now (its backup name, for the dead-letter
	// source) and what comes next.
	if err := t.scan(ctx); err != nil {
		return err
	}
	l := t.lines
	t.deadLetterTail(src, ", and the file ended without a newline",
		"the file ended without a newline after its last line (it was rotated or is complete)")
	if err := t.flush(ctx, src); err != nil {
		return err
	}
	e := src.e
	t.st.push(&mark{e: e, off: l.consumed, finished: true, ready: true})
	t.st.mu.Lock()
	e.readDone = true
	stamp := e.stamp
	rotated := false // a backup stamped after e became the active file exists
	for s := range t.stamps {
		if s > e.after {
			rotated = true
		}
	}
	t.st.mu.Unlock()
	t.log.Debug("file read to its end", slog.String("path", src.path), slog.Int64("offset", l.consumed))
	if src.active && stamp == "" {
		if rotated && src.f != nil && src.deleted() {
			t.log.Info("the active file was rotated and its backup deleted before the input saw the backup; it was read to its end through the open file",
				slog.String("path", src.path), slog.Int64("offset", l.consumed))
		} else {
			t.log.Info("the active file was replaced or removed without a lumberjack rename; continuing with the next file",
				slog.String("path", src.path), slog.Int64("offset", l.consumed))
		}
	}
	return nil
}

// deleted reports whether the open file has no name left.
func (s *source) deleted() bool {
	fi, err := s.f.Stat()
	return err == nil && links(fi) == 0
}

// gapBefore reports, when the reader comes to e, that the file before it
// was gone when e was discovered (see reportGap).
func (t *tailer) gapBefore(ctx context.Context, e *entry) {
	t.st.mu.Lock()
	if !e.gapBefore {
		t.st.mu.Unlock()
		return
	}
	prev := e.gapAfter
	if prev == nil {
		// The file before it is still in the chain (read through its open
		// descriptor after its name was deleted, or finished).
		prev = &gapStart{path: t.lastPath, last: t.lastTime}
		for i, x := range t.st.chain {
			if x == e && i > 0 {
				p := t.st.chain[i-1]
				last := p.lastTime
				if p.delivered > p.committed {
					last = p.deliveredTime
				}
				g := gapStartOf(p, last)
				if prev.last != "" {
					g.path, g.last = prev.path, prev.last
				}
				prev = g
			}
		}
	}
	t.st.mu.Unlock()
	// Let notifications queued while the input was stalled arrive: they
	// name the files deleted meanwhile.
	poll := time.Duration(t.in.cfg.PollInterval)
	t.wt.settle(ctx, min(max(100*time.Millisecond, 2*poll), time.Second), 2*time.Second)
	t.reportGap(e, prev)
}

// deadLetterTail dead-letters what is buffered after the last whole line of
// a file that ends here (an over-long line being skipped, or a fragment
// without its newline), then empties the buffer.
func (t *tailer) deadLetterTail(src *source, longWhy, fragWhy string) {
	l := t.lines
	switch {
	case l.skipping:
		t.deadLetterLong(src, longWhy)
	case l.start < l.end:
		frag := l.buf[l.start:l.end]
		var size int64
		if len(frag) > deadLetterPrefix {
			size, frag = int64(len(frag)), frag[:deadLetterPrefix]
		}
		t.deadLetter(src, l.consumed, frag, size, reasonNoNewline, fragWhy)
	}
	l.start, l.end = 0, 0
	l.consumed = l.pos
}

// truncated restarts at offset 0 of a file that shrank under the reader
// (copytruncate, or rewritten in place). The old content is finished; the
// new content is a new file of the chain with the same inode.
func (t *tailer) truncated(ctx context.Context, src *source, size int64) error {
	l := t.lines
	t.log.Warn("file truncated under the reader (copytruncate?); restarting at offset 0 (lines written before the truncation and not read yet are lost)",
		slog.String("path", src.path), slog.Int64("offset", l.pos), slog.Int64("size", size))
	old := src.e
	if err := t.flush(ctx, src); err != nil {
		return err
	}
	// What was buffered after the last whole line belongs to a line that was
	// cut by the truncation: recorded, not dropped silently.
	t.deadLetterTail(src, ", and the file was truncated under it",
		"the file was truncated under the reader in the middle of this line")
	t.st.push(&mark{e: old, off: l.consumed, finished: true, ready: true})
	prefix, err := readPrefix(src.f, t.fpBuf)
	if err != nil {
		return err
	}
	t.st.mu.Lock()
	old.readDone = true
	ne := &entry{id: newIdentity(src.dev, src.ino, prefix), path: src.path, after: old.after, size: size}
	t.st.addLocked(ne)
	t.st.cur = ne
	t.st.changedLocked()
	t.st.mu.Unlock()
	src.e = ne
	if err := src.seek(0); err != nil {
		return err
	}
	l.reset(0)
	return nil
}

// moved reports whether the active path no longer leads to src's file.
func (t *tailer) moved(src *source) bool {
	fi, err := os.Stat(t.in.names.active)
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	if err != nil {
		t.log.Debug("stat active file", slog.Any("error", err))
		return false
	}
	dev, ino := devIno(fi)
	return dev != src.dev || ino != src.ino
}

// idle runs at the end of what was read of the active file, whose size is
// size: it refreshes the fingerprint and the gauges, waits for news, and
// checks for a rewrite before reading on.
func (t *tailer) idle(ctx context.Context, src *source, size int64) error {
	e := src.e
	pos := t.lines.pos
	t.st.mu.Lock()
	grow := e.size != size
	if grow {
		e.size = size
		t.st.progressLocked()
		t.idlePolls = 0 // data came: poll at the base interval again
	}
	full := e.id.FPLen >= fpMax
	t.st.mu.Unlock()
	// A fingerprint already over fpMax bytes cannot grow: the check after
	// the wait below covers a rewrite.
	if grow && !full {
		ok, err := t.refreshFingerprint(src)
		if err != nil {
			return err
		}
		if !ok {
			return t.truncated(ctx, src, pos)
		}
	}
	t.curPos.Store(pos)
	t.updateLag()
	t.pace()
	if err := t.wait(ctx); err != nil {
		return err
	}
	// Woken up: before reading on, make sure the file was not rewritten
	// from the start meanwhile (copytruncate followed by new writes). A
	// file whose size did not change since the read (a poll tick, a
	// notification for another file) is read again without the check: the
	// next change of size brings it.
	if fi, err := src.f.Stat(); err == nil && fi.Size() == pos {
		return nil
	}
	ok, err := t.refreshFingerprint(src)
	if err != nil {
		return err
	}
	if !ok {
		fi, err := src.f.Stat()
		if err != nil {
			return fmt.Errorf("stat %s: %w", src.path, err)
		}
		return t.truncated(ctx, src, fi.Size())
	}
	return nil
}

// pace sets the watcher's coalescing pause from the rate the reader read
// at since it last read something (see coalescePause). Wake-ups that found
// nothing new (a poll, a notification for another file) do not count: the
// rate is measured over the time the data took to come. The pause shrinks
// at once when data comes faster, and grows at most twofold per wake-up: a
// writer that stalls for a moment in a fast stream (the machine is busy)
// does not make the next wake-up wait the longest pause.
func (t *tailer) pace() {
	now := time.Now()
	n := t.readBytes - t.paced
	if n == 0 {
		return
	}
	if !t.pacedAt.IsZero() {
		p := min(coalescePause(n, now.Sub(t.pacedAt)), 2*t.wt.coalesce())
		t.wt.pause.Store(int64(p))
	}
	t.paced, t.pacedAt = t.readBytes, now
}

// refreshFingerprint checks that the file still starts with the bytes of
// its fingerprint, extending the fingerprint if the file grew. It reports
// false when the content changed (rewritten in place).
func (t *tailer) refreshFingerprint(src *source) (bool, error) {
	prefix, err := readPrefix(src.f, t.fpBuf)
	if err != nil {
		return false, err
	}
	e := src.e
	c := &candidate{dev: src.dev, ino: src.ino, prefix: prefix, complete: true}
	t.st.mu.Lock()
	defer t.st.mu.Unlock()
	if e.id.match(c) != isMatch {
		return false, nil
	}
	if len(prefix) > e.id.FPLen {
		e.id = e.id.extend(prefix)
		t.st.changedLocked()
	}
	return true, nil
}

// isCorruptGzip reports a gzip stream that is damaged (as opposed to cut
// short, io.ErrUnexpectedEOF, or an I/O error): it will never read better.
func isCorruptGzip(err error) bool {
	var corrupt flate.CorruptInputError
	return errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.As(err, &corrupt)
}
