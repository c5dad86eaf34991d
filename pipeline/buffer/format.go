package buffer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// Position is a logical byte offset across the whole log (see the package
// documentation). Positions only grow; a restarted buffer continues them.
type Position uint64

const (
	segMagic      = "KTRLWAL\x00"
	segVersion    = 1
	segHeaderSize = 32
	recHeaderSize = 8
	segSuffix     = ".seg"
	segNameDigits = 20

	curMagic      = "KTRLCUR\x00"
	curVersion    = 1
	curHeaderSize = 34 // magic, version, crc, pos, seq, name length
	cursorPrefix  = "cursor-"
	cursorSuffix  = ".pos"
	tmpSuffix     = ".tmp"
	lockName      = "LOCK"

	readAhead = 1 << 20
)

// castagnoli is hardware accelerated on amd64 (SSE4.2) and arm64.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// segHeader is the decoded header of a segment file.
type segHeader struct {
	base    Position
	baseSeq uint64
}

func encodeSegHeader(h segHeader) []byte {
	b := make([]byte, segHeaderSize)
	copy(b, segMagic)
	binary.LittleEndian.PutUint32(b[8:], segVersion)
	binary.LittleEndian.PutUint64(b[16:], uint64(h.base))
	binary.LittleEndian.PutUint64(b[24:], h.baseSeq)
	binary.LittleEndian.PutUint32(b[12:], segHeaderSum(b))
	return b
}

func segHeaderSum(b []byte) uint32 {
	return crc32.Update(checksum(b[:12]), castagnoli, b[16:segHeaderSize])
}

func decodeSegHeader(b []byte) (segHeader, error) {
	if len(b) < segHeaderSize {
		return segHeader{}, fmt.Errorf("header is %d bytes, want %d", len(b), segHeaderSize)
	}
	if string(b[:8]) != segMagic {
		return segHeader{}, errors.New("not a kubetrail buffer segment (bad magic)")
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != segVersion {
		return segHeader{}, fmt.Errorf("unsupported segment version %d (this agent reads version %d)", v, segVersion)
	}
	if binary.LittleEndian.Uint32(b[12:]) != segHeaderSum(b) {
		return segHeader{}, errors.New("segment header checksum mismatch")
	}
	return segHeader{
		base:    Position(binary.LittleEndian.Uint64(b[16:])),
		baseSeq: binary.LittleEndian.Uint64(b[24:]),
	}, nil
}

func segName(base Position) string {
	return fmt.Sprintf("%0*d%s", segNameDigits, uint64(base), segSuffix)
}

func parseSegName(name string) (Position, bool) {
	digits, ok := strings.CutSuffix(name, segSuffix)
	if !ok || len(digits) != segNameDigits {
		return 0, false
	}
	v, err := strconv.ParseUint(digits, 10, 64)
	return Position(v), err == nil
}

// appendRecord appends the framed record to dst.
func appendRecord(dst, payload []byte) []byte {
	var h [recHeaderSize]byte
	binary.LittleEndian.PutUint32(h[:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:], checksum(payload))
	dst = append(dst, h[:]...)
	return append(dst, payload...)
}

// cursorState is the content of a cursor file.
type cursorState struct {
	name string
	pos  Position
	seq  uint64
}

func cursorFileName(name string) string {
	return cursorPrefix + url.PathEscape(name) + cursorSuffix
}

func parseCursorFileName(file string) (string, bool) {
	s, ok := strings.CutPrefix(file, cursorPrefix)
	if !ok {
		return "", false
	}
	if s, ok = strings.CutSuffix(s, cursorSuffix); !ok {
		return "", false
	}
	name, err := url.PathUnescape(s)
	return name, err == nil
}

func encodeCursor(c cursorState) []byte {
	b := make([]byte, curHeaderSize+len(c.name))
	copy(b, curMagic)
	binary.LittleEndian.PutUint32(b[8:], curVersion)
	binary.LittleEndian.PutUint64(b[16:], uint64(c.pos))
	binary.LittleEndian.PutUint64(b[24:], c.seq)
	binary.LittleEndian.PutUint16(b[32:], uint16(len(c.name)))
	copy(b[curHeaderSize:], c.name)
	binary.LittleEndian.PutUint32(b[12:], cursorSum(b))
	return b
}

func cursorSum(b []byte) uint32 {
	return crc32.Update(checksum(b[:12]), castagnoli, b[16:])
}

func decodeCursor(b []byte) (cursorState, error) {
	if len(b) < curHeaderSize || string(b[:8]) != curMagic {
		return cursorState{}, errors.New("not a kubetrail cursor file (bad magic or too short)")
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != curVersion {
		return cursorState{}, fmt.Errorf("unsupported cursor file version %d", v)
	}
	if n := int(binary.LittleEndian.Uint16(b[32:])); curHeaderSize+n != len(b) {
		return cursorState{}, fmt.Errorf("cursor file is %d bytes, its header says %d", len(b), curHeaderSize+n)
	}
	if binary.LittleEndian.Uint32(b[12:]) != cursorSum(b) {
		return cursorState{}, errors.New("cursor file checksum mismatch")
	}
	return cursorState{
		name: string(b[curHeaderSize:]),
		pos:  Position(binary.LittleEndian.Uint64(b[16:])),
		seq:  binary.LittleEndian.Uint64(b[24:]),
	}, nil
}

var errWindowFull = errors.New("read window full")

// window is a read-ahead buffer over one file: buf[:n] holds the bytes at
// file offsets [off, off+n). Reads are large preads bounded by a limit, so
// bytes past a segment's published end are never read.
type window struct {
	f   *os.File
	buf []byte
	off int64
	n   int
}

func (w *window) reset(f *os.File) {
	w.f, w.off, w.n = f, 0, 0
}

// ensure returns the file bytes [from, to), to <= limit. Bytes at offsets >=
// keep (keep <= from) stay in the window; those before keep may be dropped.
// When [keep, to) does not fit, the window grows if grow is set, else
// ensure returns errWindowFull. A file shorter than to gives
// io.ErrUnexpectedEOF.
func (w *window) ensure(keep, from, to, limit int64, grow bool) ([]byte, error) {
	if from >= w.off && to <= w.off+int64(w.n) {
		return w.buf[from-w.off : to-w.off], nil
	}
	switch {
	case keep < w.off || keep >= w.off+int64(w.n):
		w.off, w.n = keep, 0
	case keep > w.off:
		k := int(keep - w.off)
		w.n = copy(w.buf[:cap(w.buf)], w.buf[k:w.n])
		w.off = keep
	}
	if need := to - w.off; need > int64(cap(w.buf)) {
		if !grow {
			return nil, errWindowFull
		}
		nb := make([]byte, need+readAhead)
		copy(nb, w.buf[:w.n])
		w.buf = nb
	}
	w.buf = w.buf[:cap(w.buf)]
	end := min(w.off+int64(len(w.buf)), limit)
	for w.off+int64(w.n) < to {
		m, err := w.f.ReadAt(w.buf[w.n:end-w.off], w.off+int64(w.n))
		w.n += m
		if err != nil {
			if errors.Is(err, io.EOF) {
				if w.off+int64(w.n) >= to {
					break
				}
				return nil, io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("read %s at %d: %w", w.f.Name(), w.off+int64(w.n), err)
		}
	}
	return w.buf[from-w.off : to-w.off], nil
}

// recordAt reports whether a valid record starts at file offset o, with the
// data ending at limit, and returns its payload length. Errors are I/O
// errors, io.ErrUnexpectedEOF (file shorter than limit) and errWindowFull.
func recordAt(w *window, keep, o, limit int64) (int64, bool, error) {
	if limit-o <= recHeaderSize {
		return 0, false, nil
	}
	grow := keep == o
	h, err := w.ensure(keep, o, o+recHeaderSize, limit, grow)
	if err != nil {
		return 0, false, err
	}
	n := int64(binary.LittleEndian.Uint32(h))
	sum := binary.LittleEndian.Uint32(h[4:])
	if n == 0 || n > limit-o-recHeaderSize {
		return 0, false, nil
	}
	p, err := w.ensure(keep, o+recHeaderSize, o+recHeaderSize+n, limit, grow)
	if err != nil {
		return 0, false, err
	}
	return n, checksum(p) == sum, nil
}

// resync returns the offset of the first valid record after from and before
// limit, or limit when there is none.
func resync(w *window, from, limit int64) (int64, error) {
	for o := from + 1; o+recHeaderSize < limit; o++ {
		_, ok, err := recordAt(w, o, o, limit)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return limit, nil
		}
		if err != nil {
			return 0, err
		}
		if ok {
			return o, nil
		}
	}
	return limit, nil
}
