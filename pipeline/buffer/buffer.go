package buffer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Errors returned by the buffer; test with errors.Is.
var (
	// ErrRecordTooLarge: a record's payload exceeds MaxRecordBytes.
	ErrRecordTooLarge = errors.New("record too large for the buffer")
	// ErrEmptyRecord: records must not be empty.
	ErrEmptyRecord = errors.New("empty record")
	// ErrClosed: the buffer was closed.
	ErrClosed = errors.New("buffer closed")
	// ErrUnknownCursor: the name is not in Options.Cursors.
	ErrUnknownCursor = errors.New("unknown cursor")
	// ErrCursorInUse: Cursor was already called with that name.
	ErrCursorInUse = errors.New("cursor already in use")
	// ErrInvalidPosition: Commit of a position the cursor did not return.
	ErrInvalidPosition = errors.New("invalid position")
)

// Buffer is a disk-backed write-ahead log of records with one cursor per
// output. All methods are safe for concurrent use.
type Buffer struct {
	opts      Options
	log       *slog.Logger
	maxRecord int64
	lockFile  *os.File

	// appendSem serialises appenders (a channel so waiting honours ctx);
	// it guards wbuf and the writing of the active segment.
	appendSem chan struct{}
	wbuf      []byte
	hdr       [recHeaderSize]byte // a record header written on its own; guarded by appendSem
	epoch     uint32              // of the newest segment; guarded by appendSem (and Open)

	mu         sync.Mutex
	segs       []*segment // by base; the last one is active
	head       Position
	headSeq    uint64
	diskBytes  int64
	spares     []spareFile // recycled segment files waiting for reuse, oldest first
	spareBytes int64
	cursors    map[string]*Cursor
	names      []string      // cursor names, sorted
	notify     chan struct{} // closed when records were appended
	notifyUsed bool          // someone waits on notify
	space      chan struct{} // closed when segments were deleted
	closed     bool
	failErr    error
	corrupt    map[corruptKey]struct{}

	durMu sync.Mutex
	durQ  []durable

	wake       chan struct{} // cap 1: appended, the syncer has work
	done       chan struct{} // closed by Close: wakes every waiter
	stopSync   chan struct{} // closed by Close once appenders are out
	syncerDone chan struct{}

	dropped, corruptCount, fsyncs atomic.Uint64
	// Appends that waited for space (when_full: block), the time they
	// waited, and when the wait in progress began (zero: none).
	fullMu      sync.Mutex
	fullBlocks  uint64
	fullBlocked time.Duration
	fullSince   time.Time
	fullLogged  time.Time // of the last "buffer full" warning

	collector prometheus.Collector
	closeOnce sync.Once
	closeErr  error
}

// spareFile is a segment file every cursor was done with, kept (renamed
// to <base>.free) to be reused as a later segment.
type spareFile struct {
	path  string
	bytes int64
}

// maxSpares is how many spare segment files a buffer keeps. One is enough
// while the outputs keep up (each roll reuses the segment the previous
// roll freed); the second absorbs outputs committing in bursts.
const maxSpares = 2

type corruptKey struct {
	seg Position
	off int64
}

// durable is an onDurable callback waiting for the records before pos.
type durable struct {
	pos Position
	fn  func()
}

// MaxRecordBytes is the largest payload Append accepts: SegmentBytes - 52.
func (b *Buffer) MaxRecordBytes() int { return int(b.maxRecord) }

// Append writes records, in order, as one group: one write syscall when they
// fit in the active segment (groups are split at segment boundaries and
// every 4 MiB). Records are copied; the caller may reuse them on return.
//
// Every record is checked first: an empty one returns ErrEmptyRecord and
// one larger than MaxRecordBytes returns ErrRecordTooLarge, and nothing is
// written. When the buffer is full, Append blocks until cursors commit and
// segments are deleted, or ctx ends ("block"), or deletes the oldest
// segments even if not every cursor committed them ("drop_oldest"). A group
// larger than MaxBytes/2 waits for space in chunks.
//
// onDurable (may be nil) is called exactly once per successful Append, in
// Append order, from the buffer's syncer goroutine, once the records are
// durable per the fsync policy: always, after an fsync covering them (one
// fsync covers every append made before it started); interval, after the
// next periodic fsync; never, right after the write. It must be quick and
// must not call Append. When Append returns an error, onDurable is never
// called, and a prefix of the group may have been written (it will be
// delivered: at-least-once).
func (b *Buffer) Append(ctx context.Context, records [][]byte, onDurable func()) error {
	var total int64
	for i, r := range records {
		if len(r) == 0 {
			return fmt.Errorf("append record %d: %w", i, ErrEmptyRecord)
		}
		if int64(len(r)) > b.maxRecord {
			return fmt.Errorf("append record %d of %d bytes (limit %d): %w", i, len(r), b.maxRecord, ErrRecordTooLarge)
		}
		total += recHeaderSize + int64(len(r))
	}
	select {
	case b.appendSem <- struct{}{}:
	default:
		select {
		case b.appendSem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		case <-b.done:
			return ErrClosed
		}
	}
	defer func() { <-b.appendSem }()
	b.mu.Lock()
	err := b.usableLocked()
	b.mu.Unlock()
	if err != nil {
		return err
	}

	maxChunk := b.opts.MaxBytes / 2
	for i := 0; i < len(records); {
		j, chunk := i, int64(0)
		if total <= maxChunk {
			j, chunk = len(records), total
		} else {
			for j < len(records) && (j == i || chunk+recHeaderSize+int64(len(records[j])) <= maxChunk) {
				chunk += recHeaderSize + int64(len(records[j]))
				j++
			}
		}
		if err := b.reserve(ctx, chunk); err != nil {
			return err
		}
		if err := b.write(records[i:j]); err != nil {
			return err
		}
		i = j
	}
	if onDurable != nil {
		b.mu.Lock()
		pos := b.head
		b.mu.Unlock()
		b.durMu.Lock()
		b.durQ = append(b.durQ, durable{pos: pos, fn: onDurable})
		b.durMu.Unlock()
	}
	b.ringSyncer()
	return nil
}

// reserve waits until chunk bytes of records fit under MaxBytes, dropping
// the oldest segments under "drop_oldest". The caller holds appendSem.
func (b *Buffer) reserve(ctx context.Context, chunk int64) error {
	// Room for the headers of the segments the chunk may open.
	need := chunk + segHeaderSize*(2+chunk/(b.opts.SegmentBytes/2))
	for {
		b.mu.Lock()
		if err := b.usableLocked(); err != nil {
			b.mu.Unlock()
			return err
		}
		if b.diskBytes+b.spareBytes+need <= b.opts.MaxBytes || len(b.segs) == 1 && len(b.spares) == 0 {
			b.mu.Unlock()
			return nil
		}
		if len(b.spares) > 0 {
			// Spare files go first: they hold nothing.
			sp := b.spares[0]
			b.spares = b.spares[1:]
			b.spareBytes -= sp.bytes
			b.mu.Unlock()
			b.removeFile(sp.path)
			continue
		}
		if b.opts.WhenFull == FullDropOldest {
			dead := b.dropOldestLocked()
			b.mu.Unlock()
			b.removeSegments(dead)
			continue
		}
		ch := b.space
		b.mu.Unlock()
		if err := b.waitForSpace(ctx, ch); err != nil {
			return err
		}
	}
}

// fullLogInterval is how often a buffer that keeps blocking is logged.
const fullLogInterval = time.Minute

// waitForSpace waits for ch (segments deleted), counting the wait: a
// blocked Append holds back the input and every other pipeline it feeds.
func (b *Buffer) waitForSpace(ctx context.Context, ch <-chan struct{}) error {
	start := time.Now()
	b.fullMu.Lock()
	b.fullBlocks++
	b.fullSince = start
	logIt := start.Sub(b.fullLogged) >= fullLogInterval
	if logIt {
		b.fullLogged = start
	}
	b.fullMu.Unlock()
	if logIt {
		b.log.Warn("buffer full: holding back the input (when_full: block) until the outputs catch up; every pipeline fed by the same input waits too (when_full: drop_oldest avoids it)",
			"dir", b.opts.Dir, "max_bytes", b.opts.MaxBytes)
	}
	defer func() {
		b.fullMu.Lock()
		b.fullBlocked += time.Since(start)
		b.fullSince = time.Time{}
		b.fullMu.Unlock()
	}()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-b.done:
		return ErrClosed
	}
}

func (b *Buffer) usableLocked() error {
	if b.closed {
		return ErrClosed
	}
	if b.failErr != nil {
		return fmt.Errorf("buffer failed earlier: %w", b.failErr)
	}
	return nil
}

// maxKeptWriteBuf is the largest write buffer kept between appends. It
// holds no record of directRecordBytes or more, and is flushed at 4 MiB.
const maxKeptWriteBuf = 8 << 20

// write frames records into wbuf and writes them to the active segment,
// rolling to a new segment when the active one would pass SegmentBytes.
// The caller holds appendSem.
func (b *Buffer) write(records [][]byte) error {
	b.mu.Lock()
	active := b.segs[len(b.segs)-1]
	size := active.size()
	b.mu.Unlock()
	buf := b.wbuf[:0]
	count := 0
	for _, r := range records {
		rl := int64(recHeaderSize + len(r))
		full := size+int64(len(buf))+rl > b.opts.SegmentBytes && size+int64(len(buf)) > active.hdr
		if full || len(buf) >= 4<<20 {
			if err := b.flush(active, size, buf, count); err != nil {
				return err
			}
			size += int64(len(buf))
			buf, count = buf[:0], 0
		}
		if full {
			var err error
			if active, err = b.roll(active); err != nil {
				return err
			}
			size = active.hdr
		}
		if len(r) >= directRecordBytes {
			// Written from the caller's slice, not copied into wbuf.
			if err := b.flush(active, size, buf, count); err != nil {
				return err
			}
			size += int64(len(buf))
			buf, count = buf[:0], 0
			putRecordHeader(b.hdr[:], r, active.fr.epoch)
			if err := b.flush(active, size, b.hdr[:], 1, r); err != nil {
				return err
			}
			size += rl
			continue
		}
		buf = appendRecord(buf, r, active.fr.epoch)
		count++
	}
	err := b.flush(active, size, buf, count)
	if cap(buf) <= maxKeptWriteBuf {
		b.wbuf = buf[:0]
	}
	return err
}

// directRecordBytes is the size from which a record is written from the
// caller's slice (a second pwrite) instead of being copied into wbuf.
const directRecordBytes = 128 << 10

// flush writes buf and then more (at most one more slice; count records in
// all) at offset off of the active segment and publishes the new head. A
// failed write is cut off again; if even that fails the buffer is marked
// failed.
func (b *Buffer) flush(active *segment, off int64, buf []byte, count int, more ...[]byte) error {
	if len(buf) == 0 {
		return nil
	}
	n := int64(0)
	parts := [2][]byte{buf}
	copy(parts[1:], more)
	for _, p := range parts[:1+len(more)] {
		if _, err := active.f.WriteAt(p, off+n); err != nil {
			err = fmt.Errorf("write %d bytes to segment %s at offset %d: %w", len(p), active.path, off+n, err)
			if terr := active.f.Truncate(off); terr != nil {
				b.fail(errors.Join(err, fmt.Errorf("truncate segment %s back to %d: %w", active.path, off, terr)))
			}
			return err
		}
		n += int64(len(p))
	}
	b.mu.Lock()
	active.end += Position(n)
	b.head = active.end
	b.headSeq += uint64(count)
	if grown := off + n - active.disk; grown > 0 {
		active.disk += grown
		b.diskBytes += grown
	}
	if b.notifyUsed {
		close(b.notify)
		b.notify = make(chan struct{})
		b.notifyUsed = false
	}
	b.mu.Unlock()
	return nil
}

// roll seals the active segment (fsynced unless the policy is never) and
// starts a new one at the head. The caller holds appendSem.
func (b *Buffer) roll(old *segment) (*segment, error) {
	durableFS := b.opts.Fsync != FsyncNever
	if durableFS {
		if err := b.opts.fsyncHook(old.f); err != nil {
			err = fmt.Errorf("fsync segment %s: %w", old.path, err)
			b.fail(err)
			return nil, err
		}
		b.fsyncs.Add(1)
	}
	b.mu.Lock()
	head, headSeq := b.head, b.headSeq
	b.mu.Unlock()
	s, err := b.startSegment(head, headSeq)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.segs = append(b.segs, s)
	b.diskBytes += s.disk
	dead := b.collectLocked()
	b.mu.Unlock()
	b.removeSegments(dead)
	return s, nil
}

// startSegment starts a segment at base with the next epoch, in a spare
// file when there is one, else in a new file. The caller holds appendSem
// (or is Open); the segment is not on the list yet.
func (b *Buffer) startSegment(base Position, baseSeq uint64) (*segment, error) {
	durableFS := b.opts.Fsync != FsyncNever
	b.epoch++
	h := segHeader{version: segVersion, base: base, baseSeq: baseSeq, epoch: b.epoch}
	b.mu.Lock()
	var sp *spareFile
	if n := len(b.spares); n > 0 {
		sp = &b.spares[n-1]
		b.spares = b.spares[:n-1]
		b.spareBytes -= sp.bytes
	}
	b.mu.Unlock()
	if sp != nil && sp.bytes > b.opts.SegmentBytes {
		// Grown under a larger segment_bytes than today's: reused, it
		// would count its old length against max_bytes.
		b.removeFile(sp.path)
		sp = nil
	}
	if sp != nil {
		h.flags = segFlagRecycled
		s, err := reuseSpare(b, sp.path, h, durableFS)
		if err == nil {
			return s, nil
		}
		b.log.Warn("buffer: cannot reuse a spare segment file; deleting it and creating a new one", "err", err)
		b.removeFile(sp.path)
		h.flags = 0
	}
	return createSegment(b, h, durableFS)
}

// recycle keeps the file of a dead segment, its last reference gone, as a
// spare (renamed to <base>.free) or deletes it when there are enough.
func (b *Buffer) recycle(s *segment) {
	b.mu.Lock()
	// Version 1 files are not reused: their stale records are not framed
	// like version 2 ones, so recovery could not stop at the first of them.
	room := len(b.spares) < maxSpares && b.failErr == nil && !s.fr.legacy
	b.mu.Unlock()
	path := s.path
	if room {
		sp := filepath.Join(b.opts.Dir, strings.TrimSuffix(filepath.Base(s.path), segSuffix)+spareSuffix)
		if err := os.Rename(s.path, sp); err != nil {
			b.log.Warn("buffer: cannot keep a segment file for reuse; deleting it", "segment", s.path, "err", err)
		} else {
			path = sp
			b.mu.Lock()
			if len(b.spares) < maxSpares {
				b.spares = append(b.spares, spareFile{path: sp, bytes: s.disk})
				b.spareBytes += s.disk
				b.mu.Unlock()
				return
			}
			b.mu.Unlock()
		}
	}
	b.removeFile(path)
}

func (b *Buffer) removeFile(path string) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		b.log.Error("delete buffer segment", "segment", path, "err", err)
	}
}

// fail makes every later Append fail with err: after a failed fsync or an
// unrepairable write, what is on disk is unknown.
func (b *Buffer) fail(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failErr == nil {
		b.failErr = err
		b.log.Error("buffer failed; appends are refused until restart", "dir", b.opts.Dir, "err", err)
		close(b.space)
		b.space = make(chan struct{})
	}
}

// minCommittedLocked returns the lowest committed position (and its
// sequence number) over all cursors, or the head when there are none.
func (b *Buffer) minCommittedLocked() (Position, uint64) {
	pos, seq := b.head, b.headSeq
	for _, c := range b.cursors {
		if c.committed < pos {
			pos, seq = c.committed, c.committedSeq
		}
	}
	return pos, seq
}

// collectLocked removes from the list the sealed segments every cursor
// committed past and returns them for removeSegments.
func (b *Buffer) collectLocked() []*segment {
	if b.closed {
		return nil
	}
	minPos, _ := b.minCommittedLocked()
	n := 0
	for n < len(b.segs)-1 && b.segs[n].end <= minPos {
		n++
	}
	return b.cutLocked(n)
}

// cutLocked removes the n oldest segments from the list.
func (b *Buffer) cutLocked(n int) []*segment {
	if n == 0 {
		return nil
	}
	dead := make([]*segment, n)
	copy(dead, b.segs[:n])
	b.segs = append(b.segs[:0], b.segs[n:]...)
	for _, s := range dead {
		b.diskBytes -= s.disk
	}
	close(b.space)
	b.space = make(chan struct{})
	return dead
}

// dropOldestLocked removes the oldest segment although cursors did not
// commit it: they move to the next segment, and the records the slowest
// cursor had not committed are counted as dropped.
func (b *Buffer) dropOldestLocked() []*segment {
	s, next := b.segs[0], b.segs[1]
	minPos, minSeq := b.minCommittedLocked()
	var dropped uint64
	if minPos < s.end && next.baseSeq > max(minSeq, s.baseSeq) {
		dropped = next.baseSeq - max(minSeq, s.baseSeq)
	}
	var moved []string
	for _, name := range b.names {
		c := b.cursors[name]
		if c.committed < next.base {
			c.moveToLocked(next.base, next.baseSeq)
			moved = append(moved, name)
		}
	}
	b.dropped.Add(dropped)
	b.log.Warn("buffer full: dropped the oldest segment before every output read it",
		"segment", s.path, "records", dropped, "bytes", s.size(), "outputs", moved)
	return b.cutLocked(1)
}

// removeSegments lets go of segments taken off the list: each file is
// recycled or deleted once its last reader is done with it.
func (b *Buffer) removeSegments(dead []*segment) {
	for _, s := range dead {
		s.dead.Store(true)
		s.release()
	}
}

// segmentForLocked returns the first segment ending after pos.
func (b *Buffer) segmentForLocked(pos Position) *segment {
	i := sort.Search(len(b.segs), func(i int) bool { return b.segs[i].end > pos })
	if i == len(b.segs) {
		return nil
	}
	return b.segs[i]
}

// reportCorrupt counts and logs a corrupt region of a segment once per process.
func (b *Buffer) reportCorrupt(s *segment, from, to int64, where string) {
	b.mu.Lock()
	k := corruptKey{seg: s.base, off: from}
	_, seen := b.corrupt[k]
	if !seen {
		b.corrupt[k] = struct{}{}
	}
	b.mu.Unlock()
	if seen {
		return
	}
	b.corruptCount.Add(1)
	b.log.Warn("buffer: skipped corrupt records", "segment", s.path, "from_byte", from, "to_byte", to,
		"found_by", where)
}
