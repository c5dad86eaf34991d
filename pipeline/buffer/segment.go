package buffer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// segment is one segment file. base, baseSeq, path, hdr, fr and recycled
// never change; end and disk are guarded by Buffer.mu (end is the position
// after the last written record: the head for the active segment). The
// file is opened lazily for sealed segments and closed when the last
// reference goes: the Buffer's list holds one, and so do a cursor reading
// it and the syncer while it fsyncs it. A segment taken off the list is
// marked dead; when its last reference goes its file is recycled as a
// spare (or deleted), so a reader never sees the file reused under it.
type segment struct {
	base     Position
	baseSeq  uint64
	path     string
	hdr      int64   // header bytes: segHeaderSize, or segHeader1Size for version 1
	fr       framing // how its records are framed
	recycled bool    // the file held records of earlier epochs

	end  Position
	disk int64 // bytes the file takes, counted in Buffer.diskBytes (>= size())

	owner *Buffer
	dead  atomic.Bool
	refs  atomic.Int32
	fmu   sync.Mutex
	f     *os.File
}

func (s *segment) size() int64 { return int64(s.end-s.base) + s.hdr }

// fileOff converts a position in s to an offset in its file.
func (s *segment) fileOff(p Position) int64 { return int64(p-s.base) + s.hdr }

// posAt converts an offset in s's file to a position.
func (s *segment) posAt(off int64) Position { return s.base + Position(off-s.hdr) }

func (s *segment) acquire() { s.refs.Add(1) }

func (s *segment) release() {
	if s.refs.Add(-1) != 0 {
		return
	}
	s.fmu.Lock()
	if s.f != nil {
		_ = s.f.Close()
		s.f = nil
	}
	s.fmu.Unlock()
	if s.dead.Load() {
		s.owner.recycle(s)
	}
}

// file returns the open file, opening it read-only if needed. The caller
// holds a reference.
func (s *segment) file() (*os.File, error) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	if s.f == nil {
		f, err := os.Open(s.path)
		if err != nil {
			return nil, fmt.Errorf("open segment: %w", err)
		}
		s.f = f
	}
	return s.f, nil
}

func newSegment(b *Buffer, path string, h segHeader) *segment {
	s := &segment{base: h.base, baseSeq: h.baseSeq, path: path, hdr: h.size(), fr: h.framing(),
		recycled: h.flags&segFlagRecycled != 0, end: h.base, owner: b}
	s.disk = s.hdr
	return s
}

// createSegment creates a segment file holding only its header. With
// durable set, the file and the directory are fsynced before it is used, so
// a power loss never leaves a segment without its header.
func createSegment(b *Buffer, h segHeader, durable bool) (*segment, error) {
	dir := b.opts.Dir
	s := newSegment(b, filepath.Join(dir, segName(h.base)), h)
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	if _, err := f.WriteAt(encodeSegHeader(h), 0); err != nil {
		_ = f.Close()
		_ = os.Remove(s.path)
		return nil, fmt.Errorf("write header of segment %s: %w", s.path, err)
	}
	if durable {
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("fsync segment %s: %w", s.path, err)
		}
		if err := syncDir(dir); err != nil {
			_ = f.Close()
			return nil, err
		}
	}
	s.f = f
	s.refs.Store(1)
	return s, nil
}

// reuseSpare turns the spare file at path into a segment with header h
// (h.flags has segFlagRecycled): the new header is written (and fsynced
// when durable) before the file is renamed to its segment name, so a crash
// leaves either a spare or a segment whose records are all stale. The
// file is not truncated: overwriting pages the page cache already holds
// costs the kernel far less than writing fresh ones.
func reuseSpare(b *Buffer, path string, h segHeader, durable bool) (*segment, error) {
	dir := b.opts.Dir
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open spare segment: %w", err)
	}
	st, err := f.Stat()
	if err == nil {
		_, err = f.WriteAt(encodeSegHeader(h), 0)
	}
	if err == nil && durable {
		err = f.Sync()
	}
	s := newSegment(b, filepath.Join(dir, segName(h.base)), h)
	if err == nil {
		b.opts.hook("reuse:header")
		err = os.Rename(path, s.path)
	}
	if err == nil {
		b.opts.hook("reuse:renamed")
		if durable {
			err = syncDir(dir)
		}
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("reuse spare segment %s: %w", path, err)
	}
	s.disk = max(st.Size(), s.hdr)
	s.f = f
	s.refs.Store(1)
	return s, nil
}

// errTornHeader marks a last segment whose header was never completely
// written (crash right after the file was created).
var errTornHeader = errors.New("torn segment header")

// readSegHeader reads and decodes the header of an open segment file and
// returns it with the file's size.
func readSegHeader(f *os.File) (segHeader, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return segHeader{}, 0, fmt.Errorf("stat: %w", err)
	}
	hdr := make([]byte, segHeaderSize)
	n, err := f.ReadAt(hdr, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return segHeader{}, 0, fmt.Errorf("read header: %w", err)
	}
	if n < segHeader1Size || allZero(hdr[:n]) {
		return segHeader{}, 0, errTornHeader
	}
	if n < segHeaderSize && string(hdr[:8]) == segMagic && binary.LittleEndian.Uint32(hdr[8:]) == segVersion {
		return segHeader{}, 0, errTornHeader
	}
	h, err := decodeSegHeader(hdr[:n])
	return h, st.Size(), err
}

// openSegment reads the header of an existing segment file. The file stays
// open (read-write) only if writable is set.
func openSegment(b *Buffer, path string, base Position, writable bool) (*segment, error) {
	flag := os.O_RDONLY
	if writable {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, fmt.Errorf("open segment: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			_ = f.Close()
		}
	}()
	h, size, err := readSegHeader(f)
	if err != nil {
		return nil, err
	}
	if h.base != base {
		return nil, fmt.Errorf("header says base offset %d, the file name %d", h.base, base)
	}
	s := newSegment(b, path, h)
	s.end = s.posAt(max(size, s.hdr))
	s.disk = max(size, s.hdr)
	s.refs.Store(1)
	if writable {
		s.f = f
		keep = true
	}
	return s, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory to fsync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}
