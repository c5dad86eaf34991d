package buffer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"sync"
	"sync/atomic"
)

// Record is one record returned by Cursor.Next.
type Record struct {
	// Data is the payload: a view into the cursor's read buffer (with its
	// capacity clipped to its length), not a copy. It stays valid, and is
	// not changed by later Next calls, until the cursor is committed at or
	// past End (see the package documentation, "Record lifetime"). It must
	// not be written to.
	Data []byte
	// End is the position right after the record: Commit(End) marks it and
	// every record before it delivered.
	End Position
}

// Cursor is one output's reader. Next is called from one goroutine at a
// time; Commit and Rewind may be called from others.
type Cursor struct {
	b    *Buffer
	name string
	path string

	// Guarded by b.mu.
	committed    Position
	committedSeq uint64 // records before committed
	read         Position
	readSeq      uint64
	high         Position // highest End returned by Next, >= committed
	ring         []posSeq // End and seq of records returned past committed, ascending
	ringHead     int
	gen          uint64 // bumped by Rewind
	taken        bool
	acked        Position // highest position passed to Commit: views before it are released

	// Owned by Next.
	nextMu sync.Mutex
	wseg   *segment // segment the window reads, referenced
	win    window
	spans  []span

	pmu       sync.Mutex // serialises persist
	persisted Position
	file      *os.File    // the cursor file, once this process created it
	needSync  atomic.Bool // written, not fsynced yet (interval policy)
	dirDirty  atomic.Bool // the file was (re)created: its directory entry needs an fsync
}

type posSeq struct {
	pos Position
	seq uint64
}

// span locates a payload in the window (file offset and length).
type span struct{ off, n int64 }

// Cursor returns the reader named name, which must be in Options.Cursors.
// Each name can be taken once per Buffer (ErrCursorInUse otherwise).
func (b *Buffer) Cursor(name string) (*Cursor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	c, ok := b.cursors[name]
	if !ok {
		return nil, fmt.Errorf("cursor %q: %w", name, ErrUnknownCursor)
	}
	if c.taken {
		return nil, fmt.Errorf("cursor %q: %w", name, ErrCursorInUse)
	}
	c.taken = true
	return c, nil
}

// Name returns the cursor's name.
func (c *Cursor) Name() string { return c.name }

// Committed returns the committed position.
func (c *Cursor) Committed() Position {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	return c.committed
}

// Next blocks until at least one record after the read position is
// available, ctx ends (ctx.Err()) or the buffer is closed (ErrClosed). It
// then returns at once with the available records, up to maxRecords and
// maxBytes of payload (values <= 0 mean no limit), but always at least one
// record, even one larger than maxBytes. One call reads from one segment,
// so a batch may end early at a segment boundary. Next advances the read
// position, not the committed one. Corrupt records are skipped (logged and
// counted); Next never returns a record whose CRC does not match.
func (c *Cursor) Next(ctx context.Context, maxRecords, maxBytes int) ([]Record, error) {
	if maxRecords <= 0 {
		maxRecords = math.MaxInt
	}
	if maxBytes <= 0 {
		maxBytes = math.MaxInt
	}
	c.nextMu.Lock()
	defer c.nextMu.Unlock()
	b := c.b
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return nil, ErrClosed
		}
		if c.read < c.committed {
			c.read, c.readSeq = c.committed, c.committedSeq
		}
		if c.read >= b.head {
			b.notifyUsed = true
			ch := b.notify
			b.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-b.done:
				return nil, ErrClosed
			}
		}
		start, gen, acked := c.read, c.gen, c.acked
		pos, seq := c.read, c.readSeq
		s := b.segmentForLocked(pos)
		if pos <= s.base {
			pos, seq = s.base, s.baseSeq
		}
		limit := s.end
		var old *segment
		if s != c.wseg {
			s.acquire()
			old, c.wseg = c.wseg, s
			c.win.f = nil
		}
		b.mu.Unlock()
		if old != nil {
			old.release()
		}
		c.win.release(acked)

		recs, end, endSeq, err := c.readFrom(s, pos, seq, limit, maxRecords, maxBytes)
		if err != nil {
			return nil, err
		}
		b.mu.Lock()
		if c.read == start && c.gen == gen {
			c.read, c.readSeq = end, endSeq
		}
		for i, r := range recs {
			if r.End > c.high {
				c.ring = append(c.ring, posSeq{pos: r.End, seq: endSeq - uint64(len(recs)-1-i)})
				c.high = r.End
			}
		}
		b.mu.Unlock()
		if len(recs) > 0 {
			return recs, nil
		}
	}
}

// readFrom reads records of s from pos up to limit and returns them with
// the position and sequence number after the last one read or skipped.
func (c *Cursor) readFrom(s *segment, pos Position, seq uint64, limit Position, maxRecords, maxBytes int) ([]Record, Position, uint64, error) {
	f, err := s.file()
	if err != nil {
		return nil, 0, 0, fmt.Errorf("cursor %q: %w", c.name, err)
	}
	w := &c.win
	if w.f != f {
		w.reset(f)
	}
	o, lim := s.fileOff(pos), s.fileOff(limit)
	spans := c.spans[:0]
	var total int64
	keep := o
	for len(spans) < maxRecords && o < lim {
		if len(spans) == 0 {
			keep = o
		}
		n, st, err := recordAt(w, s.fr, keep, o, lim)
		if errors.Is(err, errWindowFull) {
			break
		}
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, 0, 0, fmt.Errorf("cursor %q: %w", c.name, err)
		}
		ok := st == recValid // a stale record before limit is corruption
		if ok && len(spans) > 0 && total+n > int64(maxBytes) {
			break
		}
		if !ok {
			if len(spans) > 0 {
				break // return what we have; the next call skips
			}
			next := lim // io.ErrUnexpectedEOF: the file ends early
			if err == nil {
				if next, _, err = resync(w, s.fr, o, lim, false); err != nil {
					return nil, 0, 0, fmt.Errorf("cursor %q: %w", c.name, err)
				}
			}
			c.b.reportCorrupt(s, o, next, "cursor "+c.name)
			o = next
			continue
		}
		spans = append(spans, span{off: o + s.fr.hdr, n: n})
		total += n
		o += s.fr.hdr + n
		seq++
	}
	c.spans = spans
	if len(spans) == 0 {
		return nil, s.posAt(o), seq, nil
	}
	// Views into the window: it keeps these bytes until Commit passes them.
	recs := make([]Record, len(spans))
	for i, sp := range spans {
		from, to := sp.off-w.off, sp.off-w.off+sp.n
		recs[i] = Record{Data: w.buf[from:to:to], End: s.posAt(sp.off + sp.n)}
	}
	last := spans[len(spans)-1]
	w.pin(last.off+last.n, recs[len(recs)-1].End)
	return recs, s.posAt(o), seq, nil
}

// Rewind moves the read position back to the committed position, so that
// Next returns again the records read but not committed (after a failed
// batch was abandoned). A Next running concurrently may return records
// from before the rewind.
func (c *Cursor) Rewind() {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	c.read, c.readSeq = c.committed, c.committedSeq
	c.gen++
}

// Commit records that every record before pos was delivered. pos must be
// the End of a record this cursor returned (ErrInvalidPosition otherwise);
// commits are monotonic (an older pos is a no-op). The position is
// persisted before Commit returns (see writeState): fsynced under "always",
// fsynced by the next periodic sync under "interval", never fsynced under
// "never". Segments every cursor
// has committed past are then deleted, which is what unblocks a full
// buffer. Commit may be called concurrently with Next.
func (c *Cursor) Commit(pos Position) error {
	b := c.b
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	if pos <= c.committed {
		c.acked = max(c.acked, pos)
		b.mu.Unlock()
		return nil
	}
	if pos > c.high {
		b.mu.Unlock()
		return fmt.Errorf("commit %d on cursor %q, past the last record it read (%d): %w", pos, c.name, c.high, ErrInvalidPosition)
	}
	seq, ok := c.seqLocked(pos)
	if !ok {
		b.mu.Unlock()
		return fmt.Errorf("commit %d on cursor %q, not the end of a record it read: %w", pos, c.name, ErrInvalidPosition)
	}
	c.moveToLocked(pos, seq)
	c.acked = max(c.acked, pos)
	b.mu.Unlock()

	always := b.opts.Fsync == FsyncAlways
	if err := c.persist(always); err != nil {
		return err
	}
	if always && c.dirDirty.Swap(false) {
		if err := syncDir(b.opts.Dir); err != nil {
			return fmt.Errorf("commit cursor %q: %w", c.name, err)
		}
	}
	b.mu.Lock()
	dead := b.collectLocked()
	b.mu.Unlock()
	b.removeSegments(dead)
	return nil
}

// seqLocked finds the sequence number of a record end in the ring.
func (c *Cursor) seqLocked(pos Position) (uint64, bool) {
	r := c.ring[c.ringHead:]
	i := sort.Search(len(r), func(i int) bool { return r[i].pos >= pos })
	if i == len(r) || r[i].pos != pos {
		return 0, false
	}
	return r[i].seq, true
}

// moveToLocked sets the committed position (forward only) and drops what
// the ring knows before it.
func (c *Cursor) moveToLocked(pos Position, seq uint64) {
	c.committed, c.committedSeq = pos, seq
	for c.ringHead < len(c.ring) && c.ring[c.ringHead].pos <= pos {
		c.ringHead++
	}
	if c.ringHead == len(c.ring) {
		c.ring, c.ringHead = c.ring[:0], 0
	} else if c.ringHead >= 1024 && c.ringHead*2 >= len(c.ring) {
		n := copy(c.ring, c.ring[c.ringHead:])
		c.ring, c.ringHead = c.ring[:n], 0
	}
	c.high = max(c.high, pos)
	if c.read < pos {
		c.read, c.readSeq = pos, seq
	}
}

// persist writes the committed position to the cursor file (temporary file
// + rename), fsyncing the file first if doSync.
func (c *Cursor) persist(doSync bool) error {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	b := c.b
	b.mu.Lock()
	st := cursorState{name: c.name, pos: c.committed, seq: c.committedSeq}
	b.mu.Unlock()
	if c.file != nil && st.pos == c.persisted && !doSync {
		return nil
	}
	if err := c.writeState(encodeCursor(st), doSync); err != nil {
		return fmt.Errorf("persist cursor %q: %w", c.name, err)
	}
	if !doSync && b.opts.Fsync == FsyncInterval {
		c.needSync.Store(true)
		b.ringSyncer()
	}
	c.persisted = st.pos
	return nil
}

// writeState stores an encoded cursor. The first write of a process
// creates the file atomically (temporary file + rename) and keeps it open;
// later ones overwrite it in place with one pwrite of the same length (the
// name is fixed): a few microseconds instead of a create and a rename per
// batch. The record is under 512 bytes at offset 0, within one sector, so
// a power loss does not tear it in practice; if it ever did, the checksum
// catches it at Open.
func (c *Cursor) writeState(data []byte, doSync bool) error {
	if c.file != nil {
		if _, err := c.file.WriteAt(data, 0); err != nil {
			return fmt.Errorf("write %s: %w", c.path, err)
		}
		if doSync {
			return c.file.Sync()
		}
		return nil
	}
	tmp := c.path + tmpSuffix
	if err := writeFile(tmp, data, doSync); err != nil {
		return err
	}
	if err := os.Rename(tmp, c.path); err != nil {
		return err
	}
	c.dirDirty.Store(true)
	f, err := os.OpenFile(c.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("reopen %s: %w", c.path, err)
	}
	c.file = f
	return nil
}

// closeFile releases the cursor file after the last persist.
func (c *Cursor) closeFile() error {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	if c.file == nil {
		return nil
	}
	err := c.file.Close()
	c.file = nil
	return err
}

// syncFile fsyncs the cursor file (open since its first persist: needSync
// is set only after one).
func (c *Cursor) syncFile() error {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	if c.file == nil {
		return nil
	}
	return c.file.Sync()
}

func writeFile(path string, data []byte, doSync bool) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if doSync {
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return fmt.Errorf("fsync %s: %w", path, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}
