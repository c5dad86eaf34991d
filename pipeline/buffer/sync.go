package buffer

import (
	"errors"
	"fmt"
	"time"
)

// syncLoop is the buffer's goroutine: it fsyncs per the policy and calls
// the onDurable callbacks, in order, outside every lock Append needs.
func (b *Buffer) syncLoop() {
	defer close(b.syncerDone)
	// Interval policy: the timer runs only once something was appended or
	// a cursor file written (b.wake), so an idle buffer never wakes up;
	// while data flows, it fsyncs every interval as before.
	var timer *time.Timer
	if b.opts.Fsync == FsyncInterval {
		timer = time.NewTimer(b.opts.FsyncInterval)
		timer.Stop()
		defer timer.Stop()
	}
	var synced Position
	var fns []func()
	var cursorsSynced time.Time
	for {
		final := false
		select {
		case <-b.wake:
		case <-b.stopSync:
			final = true
		}
		if timer != nil && !final {
			timer.Reset(b.opts.FsyncInterval)
			select {
			case <-timer.C:
			case <-b.stopSync:
				final = true
			}
		}
		synced, fns = b.syncOnce(synced, fns)
		if b.opts.Fsync == FsyncInterval {
			if now := time.Now(); final || now.Sub(cursorsSynced) >= cursorSyncEvery {
				if b.syncCursorFiles() {
					cursorsSynced = now
				}
			} else if b.cursorsUnsynced() {
				b.ringSyncer() // a later round syncs them
			}
		}
		if final {
			return
		}
	}
}

// ringSyncer tells the sync goroutine there is something to make durable.
func (b *Buffer) ringSyncer() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// syncOnce makes everything written so far durable (per policy) and fires
// the callbacks it covers.
func (b *Buffer) syncOnce(synced Position, fns []func()) (Position, []func()) {
	b.mu.Lock()
	target := b.head
	active := b.segs[len(b.segs)-1]
	active.acquire()
	failed := b.failErr
	b.mu.Unlock()
	defer active.release()
	if failed != nil {
		return synced, fns
	}
	if target > synced && b.opts.Fsync != FsyncNever {
		// Sealed segments were fsynced when they were sealed.
		if err := b.opts.fsyncHook(active.f); err != nil {
			b.fail(fmt.Errorf("fsync segment %s: %w", active.path, err))
			return synced, fns
		}
		b.fsyncs.Add(1)
	}
	synced = target

	b.durMu.Lock()
	n := 0
	for n < len(b.durQ) && b.durQ[n].pos <= target {
		fns = append(fns, b.durQ[n].fn)
		n++
	}
	rest := copy(b.durQ, b.durQ[n:])
	clear(b.durQ[rest:])
	b.durQ = b.durQ[:rest]
	b.durMu.Unlock()
	for i, fn := range fns {
		fn()
		fns[i] = nil
	}
	return synced, fns[:0]
}

// cursorSyncEvery: under the interval policy, cursor files are fsynced at
// most once a second. A cursor file only saves re-sending what its output
// already acknowledged: after a power loss, an older cursor means
// duplicates, never a loss. While events flow, an output commits a few
// times a second (each batch), and a second fsync per interval was a large
// part of the agent's CPU at a steady 500 events/s.
const cursorSyncEvery = time.Second

// cursorsUnsynced reports whether a cursor file was written since it was
// last fsynced.
func (b *Buffer) cursorsUnsynced() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.cursors {
		if c.needSync.Load() || c.dirDirty.Load() {
			return true
		}
	}
	return false
}

// syncCursorFiles fsyncs the cursor files written since the last call
// (interval policy: Commit writes them without fsync), and the directory
// when one of them was created. It reports whether there was any.
func (b *Buffer) syncCursorFiles() bool {
	b.mu.Lock()
	var dirty []*Cursor
	dirDirty := false
	for _, name := range b.names {
		c := b.cursors[name]
		if c.needSync.Swap(false) {
			dirty = append(dirty, c)
		}
		dirDirty = c.dirDirty.Swap(false) || dirDirty
	}
	b.mu.Unlock()
	if len(dirty) == 0 && !dirDirty {
		return false
	}
	for _, c := range dirty {
		if err := c.syncFile(); err != nil {
			b.log.Warn("buffer: fsync cursor file", "cursor", c.name, "err", err)
			c.needSync.Store(true)
			b.ringSyncer() // retried after the next interval, as with the ticker
		}
	}
	if dirDirty {
		if err := syncDir(b.opts.Dir); err != nil {
			b.log.Warn("buffer: fsync directory", "err", err)
		}
	}
	return true
}

// Close stops the buffer: it waits for the Append in progress, fsyncs
// (unless the policy is never), calls the remaining onDurable callbacks,
// persists every cursor (fsynced unless the policy is never) and releases the files and the directory lock. Blocked Append, Next and
// later calls return ErrClosed. Close is idempotent; later calls return the
// first call's result.
func (b *Buffer) Close() error {
	b.closeOnce.Do(func() { b.closeErr = b.close() })
	return b.closeErr
}

func (b *Buffer) close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	close(b.done)
	b.appendSem <- struct{}{} // no Append is writing any more
	close(b.stopSync)
	<-b.syncerDone

	var errs []error
	durableFS := b.opts.Fsync != FsyncNever
	b.mu.Lock()
	failErr := b.failErr
	b.mu.Unlock()
	for _, name := range b.names {
		c := b.cursors[name]
		c.nextMu.Lock()
		if c.wseg != nil {
			c.wseg.release()
			c.wseg = nil
			c.win = window{}
		}
		c.nextMu.Unlock()
		if err := c.persist(durableFS); err != nil {
			errs = append(errs, err)
		}
		if err := c.closeFile(); err != nil {
			errs = append(errs, fmt.Errorf("close cursor file %s: %w", c.path, err))
		}
	}
	if durableFS && len(b.names) > 0 {
		if err := syncDir(b.opts.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	b.mu.Lock()
	segs := b.segs
	b.segs = nil
	b.mu.Unlock()
	for _, s := range segs {
		s.release()
	}
	if err := b.lockFile.Close(); err != nil {
		errs = append(errs, fmt.Errorf("release buffer lock: %w", err))
	}
	if b.collector != nil {
		b.opts.Metrics.Unregister(b.collector)
	}
	if failErr != nil {
		errs = append(errs, failErr)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close buffer %s: %w", b.opts.Dir, err)
	}
	return nil
}

// Stats is a snapshot of the buffer's state.
type Stats struct {
	Bytes    int64  // bytes of segment files on disk, headers included
	Records  uint64 // records on disk (as written; corrupt ones included)
	Segments int
	// Spares are segment files kept for reuse; SpareBytes (their size)
	// counts against Options.MaxBytes with Bytes.
	Spares     int
	SpareBytes int64
	Oldest     Position // position of the oldest record on disk
	Head       Position // position after the newest record
	// Counters since Open.
	Dropped, Corrupt, Fsyncs uint64
	// FullBlocks counts Appends that waited for space (when_full: block);
	// FullBlocked is the time they waited, the wait in progress included.
	FullBlocks  uint64
	FullBlocked time.Duration
	Cursors     map[string]CursorStats
}

// CursorStats is one cursor's part of Stats. Lags are measured from the
// committed position to the head.
type CursorStats struct {
	Committed, Read Position
	LagBytes        uint64
	LagRecords      uint64
}

// Stats returns a snapshot; it is cheap (no I/O).
func (b *Buffer) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := Stats{
		Bytes: b.diskBytes, Segments: len(b.segs), Head: b.head, Oldest: b.head,
		Spares: len(b.spares), SpareBytes: b.spareBytes,
		Dropped: b.dropped.Load(), Corrupt: b.corruptCount.Load(), Fsyncs: b.fsyncs.Load(),
		Cursors: make(map[string]CursorStats, len(b.cursors)),
	}
	b.fullMu.Lock()
	st.FullBlocks, st.FullBlocked = b.fullBlocks, b.fullBlocked
	if !b.fullSince.IsZero() {
		st.FullBlocked += time.Since(b.fullSince)
	}
	b.fullMu.Unlock()
	if len(b.segs) > 0 {
		st.Oldest = b.segs[0].base
		st.Records = b.headSeq - b.segs[0].baseSeq
	}
	for name, c := range b.cursors {
		cs := CursorStats{Committed: c.committed, Read: c.read, LagBytes: uint64(b.head - c.committed)}
		if b.headSeq > c.committedSeq {
			cs.LagRecords = b.headSeq - c.committedSeq
		}
		st.Cursors[name] = cs
	}
	return st
}
