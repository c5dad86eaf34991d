package buffer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Open opens (creating if needed) the buffer in opts.Dir and recovers it
// after a crash: the active segment's torn tail is truncated, corrupt
// records are skipped, the records found are fsynced (unless the policy is
// never: a killed process's appends may still be only in the page cache), cursors resume at their committed positions (a
// cursor without a file starts at the oldest record), cursor files of names
// not in opts.Cursors are deleted, and segments every cursor committed past
// are deleted. The directory is locked until Close.
func Open(opts Options) (*Buffer, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("buffer options: %w", err)
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create buffer directory: %w", err)
	}
	lock, err := lockDir(o.Dir)
	if err != nil {
		return nil, err
	}
	b := &Buffer{
		opts:       o,
		log:        o.Logger,
		maxRecord:  o.SegmentBytes - segHeaderSize - recHeaderSize,
		lockFile:   lock,
		appendSem:  make(chan struct{}, 1),
		cursors:    make(map[string]*Cursor, len(o.Cursors)),
		notify:     make(chan struct{}),
		space:      make(chan struct{}),
		corrupt:    make(map[corruptKey]struct{}),
		wake:       make(chan struct{}, 1),
		done:       make(chan struct{}),
		stopSync:   make(chan struct{}),
		syncerDone: make(chan struct{}),
	}
	if err := b.load(); err != nil {
		b.releaseFiles()
		return nil, err
	}
	if err := b.syncRecovered(); err != nil {
		b.releaseFiles()
		return nil, err
	}
	if o.Metrics != nil {
		c := newCollector(b, o.MetricLabels)
		if err := o.Metrics.Register(c); err != nil {
			b.releaseFiles()
			return nil, fmt.Errorf("register buffer metrics: %w", err)
		}
		b.collector = c
	}
	go b.syncLoop()
	return b, nil
}

// load reads the directory: segments, then cursors.
func (b *Buffer) load() error {
	dir := b.opts.Dir
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read buffer directory: %w", err)
	}
	var bases []Position
	var spares []string
	cursorFiles := map[string]string{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, tmpSuffix) {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("remove leftover temporary file: %w", err)
			}
			continue
		}
		if base, ok := parseSegName(name); ok {
			bases = append(bases, base)
		} else if _, ok := parseBaseName(name, spareSuffix); ok {
			spares = append(spares, filepath.Join(dir, name))
		} else if cn, ok := parseCursorFileName(name); ok {
			cursorFiles[cn] = filepath.Join(dir, name)
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	if err := b.loadSpares(spares); err != nil {
		return err
	}
	if err := b.loadSegments(bases); err != nil {
		return err
	}
	if err := b.loadCursors(cursorFiles); err != nil {
		return err
	}
	b.removeSegments(b.collectLocked())
	return nil
}

// loadSpares keeps up to maxSpares spare files and raises b.epoch to the
// highest epoch their headers hold: a file's stale records all have an
// epoch at or below its header's, and a new epoch must match none of them.
// A spare whose header cannot be read is deleted.
func (b *Buffer) loadSpares(paths []string) error {
	sort.Strings(paths)
	for _, path := range paths {
		h, size, err := readSpare(path)
		if err != nil || len(b.spares) == maxSpares {
			if err != nil {
				b.log.Info("buffer: deleting a spare segment file whose header cannot be read", "file", path, "err", err)
			}
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("remove spare segment file: %w", err)
			}
			continue
		}
		b.epoch = max(b.epoch, h.epoch)
		b.spares = append(b.spares, spareFile{path: path, bytes: size})
		b.spareBytes += size
	}
	return nil
}

func readSpare(path string) (segHeader, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return segHeader{}, 0, err
	}
	defer f.Close()
	return readSegHeader(f)
}

func (b *Buffer) loadSegments(bases []Position) error {
	dir := b.opts.Dir
	// A crash right after a segment was created can leave it without a
	// complete header: it holds no records, so it is removed.
	for len(bases) > 0 {
		last := bases[len(bases)-1]
		path := filepath.Join(dir, segName(last))
		s, err := openSegment(b, path, last, true)
		if errors.Is(err, errTornHeader) {
			b.log.Warn("buffer: removing segment with a torn header (crash while it was created)", "segment", path)
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("remove torn segment: %w", err)
			}
			bases = bases[:len(bases)-1]
			continue
		}
		if err != nil {
			return unusable(path, err)
		}
		for _, base := range bases[:len(bases)-1] {
			p := filepath.Join(dir, segName(base))
			ss, err := openSegment(b, p, base, false)
			if err != nil {
				s.release()
				for _, o := range b.segs {
					o.release()
				}
				b.segs = nil
				return unusable(p, err)
			}
			b.segs = append(b.segs, ss)
		}
		b.segs = append(b.segs, s)
		break
	}
	for _, s := range b.segs {
		b.epoch = max(b.epoch, s.fr.epoch)
	}
	if len(b.segs) == 0 {
		s, err := b.startSegment(0, 0)
		if err != nil {
			return err
		}
		b.segs = []*segment{s}
	}
	for i := 0; i+1 < len(b.segs); i++ {
		s, next := b.segs[i], b.segs[i+1]
		if s.end > next.base {
			// A recycled file is longer than its records: its end is
			// where the next segment starts.
			if !s.recycled {
				b.log.Warn("buffer: segment overlaps the next one; ignoring its extra bytes",
					"segment", s.path, "end", s.end, "next_base", next.base)
			}
			s.end = next.base
		}
	}
	active := b.segs[len(b.segs)-1]
	count, err := b.recoverActive(active)
	if err != nil {
		return err
	}
	b.head, b.headSeq = active.end, active.baseSeq+count
	if active.fr.legacy {
		// Written by an agent before version 2: its records stay readable
		// where they are, and new ones go to a version 2 segment (in place
		// of the old one when it holds no record: same base, same name).
		old := len(b.segs)
		if active.end == active.base {
			active.release()
			if err := os.Remove(active.path); err != nil {
				return fmt.Errorf("remove empty version 1 segment: %w", err)
			}
			b.segs = b.segs[:len(b.segs)-1]
		}
		s, err := b.startSegment(b.head, b.headSeq)
		if err != nil {
			return err
		}
		b.segs = append(b.segs, s)
		b.log.Info("buffer: upgraded to segment format version 2; older segments are read as they are",
			"dir", b.opts.Dir, "version_1_segments", old)
	}
	for _, s := range b.segs {
		b.diskBytes += s.disk
	}
	return nil
}

func unusable(path string, err error) error {
	return fmt.Errorf("buffer segment %s is unusable: %w; move it away or delete it (its records are lost) and restart", path, err)
}

// recoverActive scans the active segment, skipping corrupt records, and
// cuts it after its last record: a torn tail, or in a recycled file the
// stale records of its earlier epochs. Recovery stops at the first record
// of another epoch: records of this epoch past it (pages written back out
// of order before a power loss) were never fsynced, so the input still
// has them. It returns the number of valid records.
func (b *Buffer) recoverActive(s *segment) (uint64, error) {
	w := &window{}
	w.reset(s.f)
	limit := s.size()
	var count uint64
	for o := s.hdr; o < limit; {
		n, st, err := recordAt(w, s.fr, o, o, limit)
		if err != nil {
			return 0, fmt.Errorf("scan active segment: %w", err)
		}
		if st == recValid {
			o += s.fr.hdr + n
			count++
			continue
		}
		next := o
		if st == recBad {
			if next, st, err = resync(w, s.fr, o, limit, true); err != nil {
				return 0, fmt.Errorf("scan active segment: %w", err)
			}
			if st == recValid {
				b.reportCorrupt(s, o, next, "open")
				o = next
				continue
			}
		}
		if s.recycled && (st == recStale || o == s.hdr) {
			b.log.Debug("buffer: end of the records of a recycled segment", "segment", s.path,
				"from_byte", o, "to_byte", limit, "stale_record_at", next)
		} else {
			b.log.Warn("buffer: truncating torn tail of the active segment", "segment", s.path,
				"from_byte", o, "to_byte", limit)
		}
		if err := s.f.Truncate(o); err != nil {
			return 0, fmt.Errorf("truncate torn tail of segment %s at %d: %w", s.path, o, err)
		}
		if b.opts.Fsync != FsyncNever {
			if err := s.f.Sync(); err != nil {
				return 0, fmt.Errorf("fsync segment %s: %w", s.path, err)
			}
		}
		s.end = s.posAt(o)
		s.disk = o
		break
	}
	return count, nil
}

func (b *Buffer) loadCursors(files map[string]string) error {
	oldest := b.segs[0]
	for _, name := range b.opts.Cursors {
		c := &Cursor{b: b, name: name, path: filepath.Join(b.opts.Dir, cursorFileName(name))}
		c.committed, c.committedSeq = oldest.base, oldest.baseSeq
		if path, ok := files[name]; ok {
			delete(files, name)
			data, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("read cursor file: %w", err)
			}
			st, err := decodeCursor(data)
			if err == nil && st.name != name {
				err = fmt.Errorf("it belongs to cursor %q", st.name)
			}
			if err != nil {
				return fmt.Errorf("cursor file %s is corrupt (%v): delete it to make output %q start again at the oldest buffered record (duplicates, no loss)", path, err, name)
			}
			c.committed, c.committedSeq = b.clampLocked(name, st.pos, st.seq)
			c.persisted = st.pos
		}
		c.read, c.readSeq, c.high = c.committed, c.committedSeq, c.committed
		b.cursors[name] = c
		b.names = append(b.names, name)
	}
	sort.Strings(b.names)
	for name, path := range files {
		b.log.Info("buffer: removing the cursor of an output that is gone", "cursor", name, "file", path)
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("remove stale cursor file: %w", err)
		}
	}
	return nil
}

// clampLocked fits a persisted cursor position into [oldest, head].
func (b *Buffer) clampLocked(name string, pos Position, seq uint64) (Position, uint64) {
	oldest := b.segs[0]
	switch {
	case pos < oldest.base:
		// Segments are deleted once every cursor passed them in memory
		// (after the sink acknowledged), so a crash before the cursor file
		// was written leaves it behind: nothing was lost. The other way
		// here is when_full: drop_oldest, which counts what it dropped.
		b.log.Warn("buffer: cursor file was behind the oldest buffered record; moving it forward (the records between were acknowledged before a crash, or dropped by when_full: drop_oldest and counted in kubetrail_buffer_dropped_events_total)",
			"cursor", name, "position", pos, "oldest", oldest.base)
		return oldest.base, oldest.baseSeq
	case pos > b.head:
		b.log.Warn("buffer: cursor was past the end of the buffer (records lost with a power loss before fsync?); moving it back",
			"cursor", name, "position", pos, "head", b.head)
		return b.head, b.headSeq
	}
	s := b.segmentForLocked(pos)
	if s == nil { // pos == head
		return pos, b.headSeq
	}
	hi := b.headSeq
	for i, x := range b.segs {
		if x == s && i+1 < len(b.segs) {
			hi = b.segs[i+1].baseSeq
		}
	}
	if seq < s.baseSeq || seq > hi {
		seq = s.baseSeq
	}
	return pos, seq
}

// releaseFiles undoes a failed Open.
func (b *Buffer) releaseFiles() {
	for _, s := range b.segs {
		s.release()
	}
	b.segs = nil
	_ = b.lockFile.Close()
}
