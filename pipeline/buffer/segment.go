package buffer

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// segment is one segment file. base, baseSeq and path never change; end is
// guarded by Buffer.mu (end is the position after the last
// written record: the head for the active segment). The file is opened
// lazily for sealed segments and closed when the last reference goes: the
// Buffer's list holds one, and so do a cursor reading it and the syncer
// while it fsyncs it.
type segment struct {
	base    Position
	baseSeq uint64
	path    string

	end Position

	refs atomic.Int32
	fmu  sync.Mutex
	f    *os.File
}

func (s *segment) size() int64 { return int64(s.end-s.base) + segHeaderSize }

// fileOff converts a position in s to an offset in its file.
func (s *segment) fileOff(p Position) int64 { return int64(p-s.base) + segHeaderSize }

// posAt converts an offset in s's file to a position.
func (s *segment) posAt(off int64) Position { return s.base + Position(off-segHeaderSize) }

func (s *segment) acquire() { s.refs.Add(1) }

func (s *segment) release() {
	if s.refs.Add(-1) == 0 {
		s.fmu.Lock()
		if s.f != nil {
			_ = s.f.Close()
			s.f = nil
		}
		s.fmu.Unlock()
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

// createSegment creates a segment file holding only its header. With
// durable set, the file and the directory are fsynced before it is used, so
// a power loss never leaves a segment without its header.
func createSegment(dir string, base Position, baseSeq uint64, durable bool) (*segment, error) {
	s := &segment{base: base, baseSeq: baseSeq, path: filepath.Join(dir, segName(base)), end: base}
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	if _, err := f.WriteAt(encodeSegHeader(segHeader{base: base, baseSeq: baseSeq}), 0); err != nil {
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

// errTornHeader marks a last segment whose header was never completely
// written (crash right after the file was created).
var errTornHeader = errors.New("torn segment header")

// openSegment reads the header of an existing segment file. The file stays
// open (read-write) only if writable is set.
func openSegment(path string, base Position, writable bool) (*segment, error) {
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
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat segment %s: %w", path, err)
	}
	hdr := make([]byte, segHeaderSize)
	n, err := f.ReadAt(hdr, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read header of segment %s: %w", path, err)
	}
	if n < segHeaderSize || allZero(hdr) {
		return nil, errTornHeader
	}
	h, err := decodeSegHeader(hdr)
	if err != nil {
		return nil, err
	}
	if h.base != base {
		return nil, fmt.Errorf("header says base offset %d, the file name %d", h.base, base)
	}
	s := &segment{base: base, baseSeq: h.baseSeq, path: path, end: base + Position(st.Size()-segHeaderSize)}
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
