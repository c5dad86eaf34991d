package auditlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
)

// read reads e's file from its committed offset to its end: for a backup or
// a .gz, the end of the file; for the active file, until it was rotated or
// replaced and then drained (lumberjack writes nothing to a file after
// renaming it). It returns errNotThere when the file is not where it was
// last seen, nil when e was read to its end.
func (t *tailer) read(ctx context.Context, e *entry) error {
	t.st.mu.Lock()
	start := e.committed
	t.st.mu.Unlock()
	src, err := t.open(e, start)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		t.log.Debug("gzipped backup still being written; waiting", slog.String("path", e.path))
		return errNotThere
	case errors.Is(err, errShort):
		t.log.Error("file is shorter than its committed offset; nothing more to read in it", slog.String("path", e.path), slog.Any("error", err))
		t.lines.reset(start)
		return t.finish(ctx, &source{e: e, path: e.path})
	case err != nil:
		return err
	}
	defer func() { src.close() }()
	l := t.lines
	l.reset(start)
	t.log.Debug("reading file", slog.String("path", src.path), slog.Int64("offset", start), slog.Bool("active", src.active))
	draining := false
	for {
		n, err := t.fill(ctx, src)
		if n > 0 {
			if perr := t.process(ctx, src); perr != nil {
				return perr
			}
			if err == nil {
				if serr := t.maybeScan(ctx, src.e); serr != nil {
					return serr
				}
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
				if src, err = t.reopenGzip(ctx, src.e); err != nil {
					return err
				}
				continue
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
		switch size := fi.Size(); {
		case size < l.pos:
			if err := t.truncated(ctx, src, size); err != nil {
				return err
			}
			continue
		case size > l.pos:
			continue
		}
		if t.moved(src) {
			draining = true // read once more to the end: it holds all it will ever hold
			continue
		}
		if err := t.idle(ctx, src); err != nil {
			return err
		}
	}
}

// reopenGzip waits, then reopens a .gz at the committed position of what was
// handed over, until it can be read further.
func (t *tailer) reopenGzip(ctx context.Context, e *entry) (*source, error) {
	for {
		if err := t.wait(ctx); err != nil {
			return &source{}, err
		}
		src, err := t.open(e, t.lines.consumed)
		switch {
		case err == nil:
			t.lines.reset(t.lines.consumed)
			return src, nil
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, errNotThere):
			if serr := t.maybeScan(ctx, e); serr != nil {
				return &source{}, serr
			}
			continue
		default:
			return &source{}, err
		}
	}
}

// finish closes the book on a file read to its end: a last line without a
// newline is dead-lettered (lumberjack never leaves one), and a ready mark
// commits the end once everything before it is durable.
func (t *tailer) finish(ctx context.Context, src *source) error {
	l := t.lines
	switch {
	case l.skipping:
		t.deadLetterLong(src, ", and the file ended without a newline")
	case l.start < l.end:
		frag := l.buf[l.start:l.end]
		var size int64
		if len(frag) > deadLetterPrefix {
			size, frag = int64(len(frag)), frag[:deadLetterPrefix]
		}
		t.deadLetter(src, l.consumed, frag, size, reasonNoNewline, "the file ended without a newline after its last line (it was rotated or is complete)")
	}
	l.start, l.end = 0, 0
	l.consumed = l.pos
	if err := t.flush(ctx, src); err != nil {
		return err
	}
	e := src.e
	t.st.push(&mark{e: e, off: l.consumed, finished: true, ready: true})
	e.readDone = true
	t.log.Debug("file read to its end", slog.String("path", src.path), slog.Int64("offset", l.consumed))
	if err := t.scan(ctx, nil); err != nil {
		return err
	}
	if src.active && e.stamp == "" {
		t.log.Info("the active file was replaced or removed without a lumberjack rename; continuing with the next file",
			slog.String("path", src.path), slog.Int64("offset", l.consumed))
	}
	return nil
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
	// cut: gone with the old content.
	l.skipping = false
	l.start, l.end = 0, 0
	t.st.push(&mark{e: old, off: l.consumed, finished: true, ready: true})
	old.readDone = true
	prefix, err := readPrefix(src.f, make([]byte, fpMax))
	if err != nil {
		return err
	}
	ne := &entry{id: newIdentity(src.dev, src.ino, prefix), path: src.path, after: old.after, size: size}
	t.st.mu.Lock()
	t.st.addLocked(ne)
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

// idle runs at the end of the active file: it refreshes the fingerprint and
// the gauges, waits for news, and checks for a rewrite before reading on.
func (t *tailer) idle(ctx context.Context, src *source) error {
	e := src.e
	pos := t.lines.pos
	check := e.id.FPLen < fpMax && pos > int64(e.id.FPLen)
	if check || e.size != pos {
		if check {
			ok, err := t.refreshFingerprint(src)
			if err != nil {
				return err
			}
			if !ok {
				return t.truncated(ctx, src, pos)
			}
		}
		t.st.mu.Lock()
		e.size = pos
		t.st.changedLocked()
		t.st.mu.Unlock()
	}
	t.updateLag(src, e)
	if err := t.wait(ctx); err != nil {
		return err
	}
	// Woken up: before reading on, make sure the file was not rewritten
	// from the start meanwhile (copytruncate followed by new writes).
	t.ticked = false
	{
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
	}
	return t.maybeScan(ctx, e)
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
	if e.id.match(c) != isMatch {
		return false, nil
	}
	if len(prefix) > e.id.FPLen {
		t.st.mu.Lock()
		e.id = e.id.extend(prefix)
		t.st.changedLocked()
		t.st.mu.Unlock()
	}
	return true, nil
}
