package auditlog

import (
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The handed record says how far the reader handed the current file to the
// pipeline: Write returned, so the events are in every buffer's segment
// file (in the page cache at least). The checkpoint only moves on the
// buffers' durable callbacks and is written at most every few milliseconds,
// so after a kill -9 it lags what the buffers hold. When a file vanishes
// while the agent is down, the loss is what lies past the handed offset, not
// past the committed one: the buffers deliver what they held.
//
// The record is one fixed-size line rewritten in place after every Write
// (one pwrite, no fsync: it only has to survive the process). A clean stop
// removes it, because then the acknowledgements that did not come are not in
// the buffers; a start folds it into the checkpoint and removes it.
const handedSize = 256

type handedRecord struct {
	id       identity
	off      int64  // handed up to here
	seen     int64  // the reader had read this far: the file was at least this long
	lastTime string // stageTimestamp of the last event handed
	key      string // the file's place in the chain (entry.key)
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
	b = append(b, "kubetrail-handed 1 "...)
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
	if len(f) != 11 || f[0] != "kubetrail-handed" || f[1] != "1" {
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
func (s *state) applyHanded(r handedRecord) bool {
	idx := -1
	for i, e := range s.chain {
		if e.id.Dev != r.id.Dev || e.id.Ino != r.id.Ino {
			continue
		}
		if e.id.FPLen == r.id.FPLen && e.id.FP != r.id.FP {
			continue
		}
		idx = i // the last one: copytruncate makes several entries of one inode
	}
	if idx < 0 {
		if r.key == "" {
			return false
		}
		for _, e := range s.chain {
			if e.key() >= r.key {
				return false
			}
		}
		idx = len(s.chain)
	}
	for _, e := range s.chain[:idx] {
		if !e.finished {
			e.deliveredAll = true
		}
	}
	s.changedLocked()
	if idx == len(s.chain) {
		return true
	}
	e := s.chain[idx]
	if r.off > e.delivered {
		e.delivered = r.off
		e.deliveredTime = r.lastTime
	}
	if r.seen > e.size {
		e.size = r.seen
	}
	return true
}
