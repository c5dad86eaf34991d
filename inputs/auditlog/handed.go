package auditlog

import (
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The handed record says how far the reader handed the current file to the
// pipeline: Write returned, so the events are in every buffer's segment
// file (in the page cache at least). The checkpoint only moves on the
// buffers' durable callbacks and is saved at most once a second, so after a
// kill -9 it lags what the buffers hold.
//
// The record is one fixed-size line rewritten in place after every Write
// (one pwrite, no fsync: it only has to survive the process). A clean stop
// removes it, because then the acknowledgements that did not come are not in
// the buffers; a start folds it into the checkpoint and removes it:
//   - when the machine did not reboot since (the record's boot id is the
//     running kernel's), what the killed run wrote is still in the page
//     cache: its buffers hold every event up to the handed offset, and
//     buffer.Open made them durable (it syncs what it recovers). Reading
//     resumes there, not at the lagging checkpoint, so a kill -9 does not
//     ship again the events read in the second before it: duplicates stay
//     within the outputs' in-flight batches (ARCHITECTURE.md, invariant 4).
//   - after a reboot, the page cache the record speaks of may be gone:
//     reading resumes at the checkpoint (what the buffers fsynced), and the
//     record only tells loss accounting what had been delivered: when a
//     file vanishes while the agent is down, the loss is what lies past the
//     handed offset, not past the committed one.
const handedSize = 256

type handedRecord struct {
	id       identity
	off      int64  // handed up to here
	seen     int64  // the reader had read this far: the file was at least this long
	lastTime string // stageTimestamp of the last event handed
	key      string // the file's place in the chain (entry.key)
	boot     string // bootID() of the run that wrote it; "" unknown
}

// handedWriter rewrites the record; only the reading goroutine uses it.
type handedWriter struct {
	path string
	f    *os.File
	buf  []byte
	err  error // the first write error, reported once
}

func newHandedWriter(path string) *handedWriter {
	return &handedWriter{path: path, buf: make([]byte, 0, handedSize)}
}

func (r handedRecord) encode(b []byte) []byte {
	b = append(b, "kubetrail-handed 2 "...)
	if r.boot == "" {
		b = append(b, '-')
	} else {
		b = append(b, r.boot...)
	}
	b = append(b, ' ')
	b = strconv.AppendUint(b, r.id.Dev, 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, r.id.Ino, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(r.id.FPLen), 10)
	b = append(b, ' ')
	b = hex.AppendEncode(b, r.id.FP[:])
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.off, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.seen, 10)
	b = append(b, ' ')
	if r.lastTime == "" || len(r.lastTime) > 40 || strings.ContainsAny(r.lastTime, " \n") {
		b = append(b, '-')
	} else {
		b = append(b, r.lastTime...)
	}
	b = append(b, ' ')
	if r.key == "" {
		b = append(b, '-')
	} else {
		b = append(b, r.key...)
	}
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(crc32.ChecksumIEEE(b)), 16)
	for len(b) < handedSize-1 {
		b = append(b, ' ')
	}
	return append(b, '\n')
}

// write records r. Errors are returned once and then ignored: the record
// only sharpens loss accounting.
func (w *handedWriter) write(r handedRecord) error {
	if w.err != nil {
		return nil
	}
	if w.f == nil {
		if err := os.MkdirAll(filepath.Dir(w.path), 0o750); err != nil {
			w.err = err
			return fmt.Errorf("create %s: %w", filepath.Dir(w.path), err)
		}
		f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			w.err = err
			return fmt.Errorf("open %s: %w", w.path, err)
		}
		w.f = f
	}
	w.buf = r.encode(w.buf[:0])
	if _, err := w.f.WriteAt(w.buf, 0); err != nil {
		w.err = err
		return fmt.Errorf("write %s: %w", w.path, err)
	}
	return nil
}

func (w *handedWriter) close() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}

// remove deletes the record (clean stop, or folded into the checkpoint).
func (w *handedWriter) remove() error {
	w.close()
	if err := os.Remove(w.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", w.path, err)
	}
	return nil
}

// loadHanded reads the record left by a run that did not stop cleanly; ok
// is false when there is none or it is unreadable (torn or foreign).
func loadHanded(path string) (r handedRecord, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil || len(b) != handedSize {
		return r, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 || f[0] != "kubetrail-handed" {
		return r, false
	}
	switch {
	case f[1] == "1" && len(f) == 11: // before the boot id
	case f[1] == "2" && len(f) == 12:
		if f[2] != "-" {
			r.boot = f[2]
		}
		f = append(f[:2], f[3:]...)
	default:
		return r, false
	}
	body := string(b[:strings.LastIndexByte(strings.TrimRight(string(b), " \n"), ' ')+1])
	sum, err := strconv.ParseUint(f[10], 16, 32)
	if err != nil || uint32(sum) != crc32.ChecksumIEEE([]byte(body)) {
		return r, false
	}
	var errs [5]error
	r.id.Dev, errs[0] = strconv.ParseUint(f[2], 10, 64)
	r.id.Ino, errs[1] = strconv.ParseUint(f[3], 10, 64)
	r.id.FPLen, errs[2] = strconv.Atoi(f[4])
	r.off, errs[3] = strconv.ParseInt(f[6], 10, 64)
	r.seen, errs[4] = strconv.ParseInt(f[7], 10, 64)
	fp, err := hex.DecodeString(f[5])
	if errors.Join(errs[:]...) != nil || err != nil || len(fp) != len(r.id.FP) {
		return handedRecord{}, false
	}
	copy(r.id.FP[:], fp)
	if f[8] != "-" {
		r.lastTime = f[8]
	}
	if f[9] != "-" {
		r.key = f[9]
	}
	return r, true
}

// applyHanded folds a killed run's handed record into the loaded chain: the
// file it names was handed over up to its offset, and every unfinished file
// before it in the chain was handed over to its end (the reader reads the
// chain in order). A record whose file is not in the chain names a file
// found after the checkpoint was written (newer than every file in it: all
// of those were handed over to their end) or one that was finished and
// dropped (older: nothing to apply); its key tells which.
//
// With resume (same boot: the buffers hold what was handed), the files
// handed to their end are finished and the named file's committed offset
// moves to the handed one: reading resumes there. Without it, the record
// only marks what was delivered, for loss accounting. It reports whether
// the record applied, and whether reading resumes past the checkpoint.
func (s *state) applyHanded(r handedRecord, resume bool) (applied, resumed bool) {
	idx := s.handedIndexLocked(r, nil, false)
	if resume && idx >= 0 && idx < len(s.chain) && s.handedIndexLocked(r, nil, true) != idx {
		resume = false // not certainly r's file: loss accounting only
	}
	if idx < 0 {
		if r.key == "" {
			return false, false
		}
		for _, e := range s.chain {
			if e.key() >= r.key {
				return false, false
			}
		}
		idx = len(s.chain)
	}
	for _, e := range s.chain[:idx] {
		if !e.finished {
			e.deliveredAll = true
			if resume {
				// Read to its end and handed over: the reader moved on
				// from it only after its end, once it was rotated.
				e.finished, e.readDone = true, true
				e.committed = max(e.committed, e.size)
				resumed = true
			}
		}
	}
	s.changedLocked()
	if idx == len(s.chain) {
		// The start's scan finds the file (resumeNewLocked); if it does
		// not, the file is read from its start and the killed run's
		// events of it are shipped again.
		if resume {
			s.resumeAt = &r
		}
		return true, resumed
	}
	return true, s.applyHandedToLocked(s.chain[idx], r, resume) || resumed
}

// handedIndexLocked is the index of the chain entry that is r's file, among
// only (all entries when nil); -1 when none is. With certain, the match must
// not rest on the inode alone (inodes are reused): the fingerprints must be
// over the same length and equal, and a file just found on disk (among
// only) must be at least as long as the handed offset. Resuming uses certain matches only; a file
// that does not match is read again from the checkpoint (duplicates, never a
// skip).
func (s *state) handedIndexLocked(r handedRecord, only []*entry, certain bool) int {
	idx := -1
	for i, e := range s.chain {
		sameInode := e.id.Dev == r.id.Dev && e.id.Ino == r.id.Ino
		samePrint := e.id.FPLen == r.id.FPLen && e.id.FP == r.id.FP
		// A gzipped backup has another inode: the same content prefix
		// (a strong fingerprint) names the file then.
		sameContent := r.id.strong() && samePrint
		switch {
		case !sameInode && !sameContent:
			continue
		case sameInode && e.id.FPLen == r.id.FPLen && !samePrint:
			continue // the inode was reused
		case certain && !samePrint:
			continue
		case certain && only != nil && e.size >= 0 && e.size < r.off:
			continue // a file just found on disk is shorter than what was handed of it
		}
		if only != nil && !slices.Contains(only, e) {
			continue
		}
		idx = i // the last one: copytruncate makes several entries of one inode
	}
	return idx
}

// applyHandedToLocked applies r to its file e; with resume, reading
// resumes at the handed offset. It reports whether it moved the offset.
func (s *state) applyHandedToLocked(e *entry, r handedRecord, resume bool) bool {
	if r.off > e.delivered {
		e.delivered = r.off
		e.deliveredTime = r.lastTime
	}
	if r.seen > e.size {
		e.size = r.seen
	}
	if !resume || r.off <= e.committed {
		return false
	}
	e.committed = r.off
	if r.lastTime != "" {
		e.lastTime = r.lastTime
	}
	return true
}

// resumeNewLocked applies a same-boot handed record whose file the
// checkpoint did not know (it became the active file, or a backup, after
// the last save) when the start's scan adds it: the files before it were
// handed to their end, the file itself up to the handed offset. It returns
// the file, or nil when it was not among added.
func (s *state) resumeNewLocked(added []*entry) *entry {
	r := s.resumeAt
	idx := s.handedIndexLocked(*r, added, true)
	if idx < 0 {
		return nil
	}
	s.resumeAt = nil
	for _, e := range s.chain[:idx] {
		if !e.finished {
			e.deliveredAll = true
			e.finished, e.readDone = true, true
			e.committed = max(e.committed, e.size)
		}
	}
	s.applyHandedToLocked(s.chain[idx], *r, true)
	return s.chain[idx]
}
