package buffer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Position is a logical byte offset across the whole log (see the package
// documentation). Positions only grow; a restarted buffer continues them.
type Position uint64

const (
	segMagic = "KTRLWAL\x00"
	// segVersion is the format this agent writes; segVersion1 segments
	// (written before recycled segments existed) are still read.
	segVersion     = 2
	segVersion1    = 1
	segHeaderSize  = 40 // version 2
	segHeader1Size = 32 // version 1
	recHeaderSize  = 12 // version 2: length, epoch, CRC
	recHeader1Size = 8  // version 1: length, CRC
	segSuffix      = ".seg"
	spareSuffix    = ".free"
	segNameDigits  = 20

	// segFlagRecycled marks a segment file that held records of earlier
	// epochs: bytes past its records are stale, not a torn write.
	segFlagRecycled = 1

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
	version uint32
	base    Position
	baseSeq uint64
	epoch   uint32 // 0 for version 1
	flags   uint32
}

// framing is how a segment frames its records.
type framing struct {
	hdr    int64  // header bytes before each payload: recHeaderSize or recHeader1Size
	epoch  uint32 // version 2: the epoch every valid record of the segment carries
	legacy bool   // version 1: no epoch, the CRC covers the payload only
}

func (h segHeader) framing() framing {
	if h.version == segVersion1 {
		return framing{hdr: recHeader1Size, legacy: true}
	}
	return framing{hdr: recHeaderSize, epoch: h.epoch}
}

func (h segHeader) size() int64 {
	if h.version == segVersion1 {
		return segHeader1Size
	}
	return segHeaderSize
}

func encodeSegHeader(h segHeader) []byte {
	b := make([]byte, segHeaderSize)
	copy(b, segMagic)
	binary.LittleEndian.PutUint32(b[8:], segVersion)
	binary.LittleEndian.PutUint64(b[16:], uint64(h.base))
	binary.LittleEndian.PutUint64(b[24:], h.baseSeq)
	binary.LittleEndian.PutUint32(b[32:], h.epoch)
	binary.LittleEndian.PutUint32(b[36:], h.flags)
	binary.LittleEndian.PutUint32(b[12:], segHeaderSum(b))
	return b
}

func segHeaderSum(b []byte) uint32 {
	return crc32.Update(checksum(b[:12]), castagnoli, b[16:])
}

// decodeSegHeader decodes the header at the start of b, which holds at
// least segHeaderSize bytes of the file (or the whole file if shorter).
func decodeSegHeader(b []byte) (segHeader, error) {
	if len(b) < segHeader1Size {
		return segHeader{}, fmt.Errorf("header is %d bytes, want %d", len(b), segHeaderSize)
	}
	if string(b[:8]) != segMagic {
		return segHeader{}, errors.New("not a kubetrail buffer segment (bad magic)")
	}
	h := segHeader{version: binary.LittleEndian.Uint32(b[8:])}
	switch h.version {
	case segVersion1:
		b = b[:segHeader1Size]
	case segVersion:
		if len(b) < segHeaderSize {
			return segHeader{}, fmt.Errorf("header is %d bytes, want %d", len(b), segHeaderSize)
		}
		b = b[:segHeaderSize]
		h.epoch = binary.LittleEndian.Uint32(b[32:])
		h.flags = binary.LittleEndian.Uint32(b[36:])
		if h.epoch == 0 {
			return segHeader{}, errors.New("segment header has epoch 0")
		}
	default:
		return segHeader{}, fmt.Errorf("unsupported segment version %d (this agent reads versions %d and %d; was the buffer written by a newer agent?)", h.version, segVersion1, segVersion)
	}
	if binary.LittleEndian.Uint32(b[12:]) != segHeaderSum(b) {
		return segHeader{}, errors.New("segment header checksum mismatch")
	}
	h.base = Position(binary.LittleEndian.Uint64(b[16:]))
	h.baseSeq = binary.LittleEndian.Uint64(b[24:])
	return h, nil
}

func segName(base Position) string {
	return fmt.Sprintf("%0*d%s", segNameDigits, uint64(base), segSuffix)
}

func parseSegName(name string) (Position, bool) {
	return parseBaseName(name, segSuffix)
}

func parseBaseName(name, suffix string) (Position, bool) {
	digits, ok := strings.CutSuffix(name, suffix)
	if !ok || len(digits) != segNameDigits {
		return 0, false
	}
	v, err := strconv.ParseUint(digits, 10, 64)
	return Position(v), err == nil
}

// appendRecord appends the framed record (version 2, the given epoch) to dst.
func appendRecord(dst, payload []byte, epoch uint32) []byte {
	n := len(dst)
	dst = append(dst, noHeader[:]...)
	putRecordHeader(dst[n:], payload, epoch)
	return append(dst, payload...)
}

var noHeader [recHeaderSize]byte

// putRecordHeader writes the header of a version 2 record into h. (h is
// heap memory: a local array handed to crc32 would escape, one allocation
// per record.)
func putRecordHeader(h, payload []byte, epoch uint32) {
	binary.LittleEndian.PutUint32(h, uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:], epoch)
	binary.LittleEndian.PutUint32(h[8:], recordSum(h[:8], payload))
}

// recordSum is the CRC of a version 2 record: its length and epoch, then
// its payload.
func recordSum(lenEpoch, payload []byte) uint32 {
	return crc32.Update(checksum(lenEpoch), castagnoli, payload)
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
//
// A cursor hands out views into buf (see Record). While views are out
// (pinned > 0), the bytes buf[:pinned] must not change: the window then
// moves to another chunk instead of compacting or refilling this one, and
// the old chunk waits in retired until the cursor is told (release) that
// every record in it was committed. Bytes are only ever appended past n to
// a pinned chunk, which leaves the views alone.
type window struct {
	f   *os.File
	buf []byte
	off int64
	n   int

	pinned  int      // buf[:pinned] holds views handed out; 0: none
	pinEnd  Position // the highest End among them
	retired []chunk  // earlier chunks with views handed out
	free    [][]byte // released chunks of chunkBytes, for reuse
}

// chunk is a retired read buffer and the End of the last record handed out
// from it.
type chunk struct {
	buf []byte
	end Position
}

const (
	// chunkBytes is the size of a cursor's read chunk; a chunk grows only
	// to hold one record larger than that.
	chunkBytes = 1 << 20
	// maxFreeChunks bounds the released chunks a cursor keeps for reuse.
	maxFreeChunks = 2
)

// poisonReleased makes release overwrite a chunk's bytes when it is
// released, so that a view used after its record was committed reads
// garbage instead of silently reading the next records' bytes. It is on in
// every test binary (the pipeline's and the outputs' tests included) and
// off in the agent.
var poisonReleased = testing.Testing()

// poisonByte fills released chunks under poisonReleased.
const poisonByte = 0xDB

func (w *window) reset(f *os.File) {
	if w.pinned > 0 {
		w.retire()
	}
	w.f, w.off, w.n = f, 0, 0
}

// retire moves the pinned current chunk to the retired list; the window
// has no buffer afterwards.
func (w *window) retire() {
	w.retired = append(w.retired, chunk{buf: w.buf, end: w.pinEnd})
	w.buf, w.off, w.n, w.pinned, w.pinEnd = nil, 0, 0, 0, 0
}

// pin records that the bytes up to file offset to were handed out as
// views, the last one ending at position end.
func (w *window) pin(to int64, end Position) {
	w.pinned = max(w.pinned, int(to-w.off))
	w.pinEnd = max(w.pinEnd, end)
}

// release frees the chunks whose views all end at or before acked (the
// highest position a cursor was committed to by its caller).
func (w *window) release(acked Position) {
	if w.pinned > 0 && w.pinEnd <= acked {
		w.pinned, w.pinEnd = 0, 0
	}
	kept := w.retired[:0]
	for _, c := range w.retired {
		if c.end > acked {
			kept = append(kept, c)
			continue
		}
		if poisonReleased {
			poison(c.buf[:cap(c.buf)])
		}
		if cap(c.buf) == chunkBytes && len(w.free) < maxFreeChunks {
			w.free = append(w.free, c.buf[:cap(c.buf)])
		}
	}
	clear(w.retired[len(kept):])
	w.retired = kept
}

// poison overwrites b with poisonByte (with copy, which the race detector
// sees as writes).
func poison(b []byte) {
	for len(b) > 0 {
		b = b[copy(b, poisonSrc):]
	}
}

// poisonSrc is chunkBytes of poisonByte in tests.
var poisonSrc = func() []byte {
	if !poisonReleased {
		return nil
	}
	return bytes.Repeat([]byte{poisonByte}, chunkBytes)
}()

// drop lets go of the current buffer: retired when views into it are out,
// else kept for reuse when it has the standard size.
func (w *window) drop() {
	switch {
	case w.pinned > 0:
		w.retire()
	case cap(w.buf) == chunkBytes && len(w.free) < maxFreeChunks:
		w.free = append(w.free, w.buf[:cap(w.buf)])
	}
	w.buf, w.off, w.n = nil, 0, 0
}

// take returns an empty buffer of at least need bytes (chunkBytes at
// least), reusing a free chunk when one is big enough.
func (w *window) take(need int64) []byte {
	if need <= chunkBytes {
		if k := len(w.free); k > 0 {
			b := w.free[k-1]
			w.free[k-1] = nil
			w.free = w.free[:k-1]
			return b
		}
		return make([]byte, chunkBytes)
	}
	return make([]byte, (need+64<<10-1)&^(64<<10-1)) // one record: no read-ahead
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
	need := to - keep
	if keep < w.off || keep > w.off+int64(w.n) || to-w.off > int64(cap(w.buf)) {
		// The kept bytes [keep, off+n) move to the start of a buffer: this
		// one unless views into it are out or it is too small. (While
		// there is room, reads go on after n: views stay where they are,
		// and nothing is copied.)
		if need > int64(cap(w.buf)) && !grow && w.buf != nil {
			return nil, errWindowFull
		}
		k, kept := 0, 0
		if keep >= w.off && keep < w.off+int64(w.n) {
			k = int(keep - w.off)
			kept = w.n - k
		}
		dst, moved := w.buf[:cap(w.buf)], false
		if w.pinned > 0 || need > int64(cap(w.buf)) {
			dst, moved = w.take(need), true
		}
		kept = copy(dst, w.buf[k:k+kept])
		if moved {
			w.drop()
		}
		w.buf, w.off, w.n = dst, keep, kept
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

// recState is what recordAt found at an offset.
type recState int

const (
	recBad   recState = iota // no valid record
	recValid                 // a record of the segment's epoch
	// recStale is a well-formed record of another epoch: left from an
	// earlier use of a recycled segment file.
	recStale
)

// recordAt reports what starts at file offset o, with the data ending at
// limit, and the payload length of a valid or stale record. Errors are I/O
// errors, io.ErrUnexpectedEOF (file shorter than limit) and errWindowFull.
func recordAt(w *window, fr framing, keep, o, limit int64) (int64, recState, error) {
	if limit-o <= fr.hdr {
		return 0, recBad, nil
	}
	grow := keep == o
	h, err := w.ensure(keep, o, o+fr.hdr, limit, grow)
	if err != nil {
		return 0, recBad, err
	}
	n := int64(binary.LittleEndian.Uint32(h))
	if n == 0 || n > limit-o-fr.hdr {
		return 0, recBad, nil
	}
	// h is a view the next ensure may move: take what is needed first.
	sum := binary.LittleEndian.Uint32(h[fr.hdr-4:])
	epoch := binary.LittleEndian.Uint32(h[4:])
	var crc uint32 // of what the CRC covers before the payload
	if !fr.legacy {
		crc = checksum(h[:8])
	}
	p, err := w.ensure(keep, o+fr.hdr, o+fr.hdr+n, limit, grow)
	if err != nil {
		return 0, recBad, err
	}
	if crc32.Update(crc, castagnoli, p) != sum {
		return 0, recBad, nil
	}
	if !fr.legacy && epoch != fr.epoch {
		return n, recStale, nil
	}
	return n, recValid, nil
}

// resync returns the offset of the first valid record after from and before
// limit, or limit when there is none. With stale set it stops at a stale
// record too, and says which it found.
func resync(w *window, fr framing, from, limit int64, stale bool) (int64, recState, error) {
	for o := from + 1; o+fr.hdr < limit; o++ {
		_, st, err := recordAt(w, fr, o, o, limit)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return limit, recBad, nil
		}
		if err != nil {
			return 0, recBad, err
		}
		if st == recValid || stale && st == recStale {
			return o, st, nil
		}
	}
	return limit, recBad, nil
}
