package bench

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/event/auditfields"
)

// Workload is a generated workload cached on disk: the audit log's bytes
// (one event per line, exactly as the replay writes them, but for the
// stageTimestamp values) and, per event, its line length and where its
// stageTimestamp is.
type Workload struct {
	Mix    Mix
	Seed   uint64
	Path   string     // the cached NDJSON
	Events []EventPos // in file order
	Bytes  int64      // sum of the line lengths (newlines included)
	target int64      // the size the cache was generated for
}

// EventPos locates one event in a Workload's file.
type EventPos struct {
	Len uint32 // line length, newline included
	TS  uint32 // offset of the stageTimestamp value in the line
}

// idxMagic starts an index file; the version follows.
const idxMagic = "KTBIDX02"

// cacheName is the base name of a workload's cache files.
func cacheName(mix Mix, seed uint64) string {
	return fmt.Sprintf("%s-seed%d-gen%d", mix, seed, genVersion)
}

// Prepare returns the workload of mix holding the first size bytes of
// events (whole events, at most size bytes), generating and caching it
// under dir when no cache at least that large exists. corpusDir is the real
// corpus (for MixReal and MixBigLines).
func Prepare(dir string, mix Mix, size int64, seed uint64, corpusDir string) (*Workload, error) {
	base := filepath.Join(dir, cacheName(mix, seed))
	w, err := loadWorkload(base)
	if err == nil && w.target >= size {
		w.Mix, w.Seed = mix, seed
		return w.Prefix(size), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	// Caches of older generator versions are stale for good.
	if old, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("%s-seed%d-gen*", mix, seed))); len(old) > 0 {
		for _, f := range old {
			if !strings.HasPrefix(filepath.Base(f), cacheName(mix, seed)+".") {
				_ = os.Remove(f)
			}
		}
	}
	if err := generate(base, mix, size, seed, corpusDir); err != nil {
		return nil, err
	}
	w, err = loadWorkload(base)
	if err != nil {
		return nil, err
	}
	w.Mix, w.Seed = mix, seed
	return w.Prefix(size), nil
}

// Prefix returns the workload's first events, as many as fit in size bytes.
func (w *Workload) Prefix(size int64) *Workload {
	p := *w
	p.Bytes = 0
	for i, e := range w.Events {
		if p.Bytes+int64(e.Len) > size {
			p.Events = w.Events[:i]
			return &p
		}
		p.Bytes += int64(e.Len)
	}
	return &p
}

// generate writes base.ndjson and base.idx (via temporary files renamed at
// the end, so an interrupted run leaves no half cache).
func generate(base string, mix Mix, size int64, seed uint64, corpusDir string) (err error) {
	g, err := newGenerator(mix, seed, corpusDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return fmt.Errorf("create cache dir: %w", err)
	}
	data, err := os.Create(base + ".ndjson.tmp")
	if err != nil {
		return fmt.Errorf("create cache: %w", err)
	}
	defer func() {
		data.Close()
		if err != nil {
			os.Remove(data.Name())
		}
	}()
	bw := bufio.NewWriterSize(data, 4<<20)
	var idx []byte
	var total int64
	var line []byte
	for {
		var ts int
		line, ts, err = g.next(line[:0])
		if err != nil {
			return fmt.Errorf("generate %s: %w", mix, err)
		}
		line = append(line, '\n')
		if total+int64(len(line)) > size {
			break
		}
		if _, err := bw.Write(line); err != nil {
			return fmt.Errorf("write cache: %w", err)
		}
		idx = binary.LittleEndian.AppendUint32(idx, uint32(len(line)))
		idx = binary.LittleEndian.AppendUint32(idx, uint32(ts))
		total += int64(len(line))
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write cache: %w", err)
	}
	if err := data.Close(); err != nil {
		return fmt.Errorf("close cache: %w", err)
	}
	hdr := append([]byte(idxMagic), binary.LittleEndian.AppendUint64(nil, uint64(total))...)
	hdr = binary.LittleEndian.AppendUint64(hdr, uint64(size))
	if err := os.WriteFile(base+".idx.tmp", append(hdr, idx...), 0o644); err != nil {
		return fmt.Errorf("write cache index: %w", err)
	}
	// The data first: an index names a complete data file.
	if err := os.Rename(data.Name(), base+".ndjson"); err != nil {
		return fmt.Errorf("install cache: %w", err)
	}
	if err := os.Rename(base+".idx.tmp", base+".idx"); err != nil {
		return fmt.Errorf("install cache index: %w", err)
	}
	return nil
}

// loadWorkload reads the index of the cache at base and checks it against
// the data file.
func loadWorkload(base string) (*Workload, error) {
	raw, err := os.ReadFile(base + ".idx")
	if err != nil {
		return nil, fmt.Errorf("read cache index: %w", err)
	}
	const hdrLen = len(idxMagic) + 16
	if len(raw) < hdrLen || string(raw[:len(idxMagic)]) != idxMagic || (len(raw)-hdrLen)%8 != 0 {
		return nil, fmt.Errorf("cache index %s.idx is corrupt; delete it", base)
	}
	want := int64(binary.LittleEndian.Uint64(raw[len(idxMagic):]))
	target := int64(binary.LittleEndian.Uint64(raw[len(idxMagic)+8:]))
	raw = raw[hdrLen:]
	w := &Workload{Path: base + ".ndjson", Events: make([]EventPos, len(raw)/8), target: target}
	for i := range w.Events {
		w.Events[i] = EventPos{Len: binary.LittleEndian.Uint32(raw[8*i:]), TS: binary.LittleEndian.Uint32(raw[8*i+4:])}
		w.Bytes += int64(w.Events[i].Len)
	}
	fi, err := os.Stat(w.Path)
	if err != nil {
		return nil, fmt.Errorf("cache data: %w", err)
	}
	if w.Bytes != want || fi.Size() != want {
		return nil, fmt.Errorf("cache %s: index says %d bytes, data has %d; delete it", base, want, fi.Size())
	}
	return w, nil
}

// reader reads a workload's events in order and stamps them.
type reader struct {
	w   *Workload
	f   *os.File
	r   *bufio.Reader
	i   int // next event
	buf []byte
}

func (w *Workload) open() (*reader, error) {
	f, err := os.Open(w.Path)
	if err != nil {
		return nil, fmt.Errorf("open workload: %w", err)
	}
	return &reader{w: w, f: f, r: bufio.NewReaderSize(f, 4<<20)}, nil
}

func (r *reader) close() { r.f.Close() }

// done reports whether every event was read.
func (r *reader) done() bool { return r.i >= len(r.w.Events) }

// take reads events while their total stays within maxBytes (at least one)
// and at most maxEvents of them. It returns the lines and their count; the
// slice is valid until the next call.
func (r *reader) take(maxEvents int, maxBytes int) ([]byte, int, error) {
	n, size := 0, 0
	for r.i+n < len(r.w.Events) && n < maxEvents {
		l := int(r.w.Events[r.i+n].Len)
		if n > 0 && size+l > maxBytes {
			break
		}
		n++
		size += l
	}
	if cap(r.buf) < size {
		r.buf = make([]byte, size)
	}
	buf := r.buf[:size]
	if _, err := io.ReadFull(r.r, buf); err != nil {
		return nil, 0, fmt.Errorf("read workload %s: %w", r.w.Path, err)
	}
	return buf, n, nil
}

// stamp writes ts into the stageTimestamp of the n events take just
// returned (their lines are buf) and moves past them.
func (r *reader) stamp(buf []byte, n int, ts []byte) {
	off := 0
	for _, e := range r.w.Events[r.i : r.i+n] {
		copy(buf[off+int(e.TS):], ts)
		off += int(e.Len)
	}
	r.i += n
}

// Class is one group of a workload's events in Describe.
type Class struct {
	Name          string
	Events, Bytes int64
}

// Describe groups the workload's events: Metadata-level events, other
// events under 100 KB, events of 100 KB or more.
func (w *Workload) Describe() ([]Class, error) {
	r, err := w.open()
	if err != nil {
		return nil, err
	}
	defer r.close()
	cs := []Class{{Name: "Metadata level"}, {Name: "with objects, < 100 KB"}, {Name: ">= 100 KB"}}
	var m event.Meta
	for !r.done() {
		buf, n, err := r.take(1, 0)
		if err != nil {
			return nil, err
		}
		r.i += n
		c := 1
		switch {
		case len(buf) >= 100<<10:
			c = 2
		case auditfields.Extract(buf[:len(buf)-1], &m) == nil && string(m.Level) == "Metadata":
			c = 0
		}
		cs[c].Events++
		cs[c].Bytes += int64(len(buf))
	}
	return cs, nil
}
