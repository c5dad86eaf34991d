// Package deadletter owns the dead-letter file: NDJSON records of events the
// agent gave up on (malformed lines, oversized lines, permanent rejections by
// a sink), each with the reason, the component and the event itself, so that
// nothing leaves the agent silently. The file is rotated with lumberjack.
package deadletter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/kubetrail/kubetrail/pipeline"
)

// Options configures a Writer.
type Options struct {
	Path       string
	MaxSizeMB  int  // rotate after this many megabytes (lumberjack's unit); default 100
	MaxBackups int  // rotated files to keep; default 10
	Compress   bool // gzip rotated files
	Metrics    prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Writer appends dead-letter records to a rotated NDJSON file. It is safe for
// concurrent use.
type Writer struct {
	maxLine int // lumberjack refuses a write larger than its max size
	torn    bool
	mu      sync.Mutex
	file    *lumberjack.Logger
	size    int64 // of the active file as far as we wrote it; -1: not known yet
	dirty   bool  // written since the last Sync
	// inherited: the first Sync has not run yet, and the file may hold a
	// previous run's records that were never synced.
	inherited bool
	line      bytes.Buffer
	now       func() time.Time
	count     *prometheus.CounterVec
}

var _ pipeline.DeadLetterWriter = (*Writer)(nil)

// New opens (lazily: on the first record) the dead-letter file at opts.Path.
func New(opts Options) (*Writer, error) {
	if opts.Path == "" {
		return nil, fmt.Errorf("dead-letter file: path is empty")
	}
	if opts.MaxSizeMB <= 0 {
		opts.MaxSizeMB = 100
	}
	if opts.MaxBackups <= 0 {
		opts.MaxBackups = 10
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	w := &Writer{
		maxLine: opts.MaxSizeMB << 20,
		file:    &lumberjack.Logger{Filename: opts.Path, MaxSize: opts.MaxSizeMB, MaxBackups: opts.MaxBackups, Compress: opts.Compress},
		now:     opts.Now,
		size:    -1,
		// A process killed before its last Sync left records in the page
		// cache only; an input resuming past them (auditlog's handed
		// record) relies on the first Sync making them durable.
		inherited: true,
		count: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubetrail_dead_letter_events_total",
			Help: "Events written to the dead-letter file, by the component that gave up on them.",
		}, []string{"component"}),
	}
	if opts.Metrics != nil {
		if err := opts.Metrics.Register(w.count); err != nil {
			return nil, fmt.Errorf("register dead-letter metrics: %w", err)
		}
	}
	return w, nil
}

// record is one line of the dead-letter file. Event holds the event when it
// is valid JSON; otherwise Raw holds it as a string (or RawBase64 when it is
// not valid UTF-8), so the file stays one JSON object per line.
type record struct {
	Time      string          `json:"time"`
	Component string          `json:"component"`
	Reason    string          `json:"reason"`
	Source    string          `json:"source,omitempty"`
	Size      int64           `json:"size"`
	Truncated bool            `json:"truncated,omitempty"`
	Event     json.RawMessage `json:"event,omitempty"`
	Raw       string          `json:"raw,omitempty"`
	RawBase64 []byte          `json:"raw_base64,omitempty"`
}

// WriteDeadLetter appends one record and counts it.
func (w *Writer) WriteDeadLetter(d pipeline.DeadLetter) error {
	r := record{
		Time:      w.now().UTC().Format(time.RFC3339Nano),
		Component: d.Component,
		Reason:    d.Reason,
		Source:    d.Source,
		Size:      int64(len(d.Raw)),
	}
	if d.Size > int64(len(d.Raw)) {
		r.Size, r.Truncated = d.Size, true
	}
	// Keep the record within what the rotating file accepts: a prefix of
	// the event, with its full size, beats a record that never gets written.
	if limit := w.maxLine / 2; len(d.Raw) > limit {
		d.Raw = d.Raw[:limit]
		r.Truncated = true
	}
	switch {
	case !r.Truncated && json.Valid(d.Raw):
		r.Event = d.Raw
	case utf8.Valid(d.Raw):
		r.Raw = string(d.Raw)
	default:
		r.RawBase64 = d.Raw
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.line.Reset()
	if w.torn {
		w.line.WriteByte('\n') // end the fragment a failed write left
	}
	// No HTML escaping: "<", ">" and "&" stay as the apiserver wrote them,
	// and the record stays within the size computed above.
	enc := json.NewEncoder(&w.line)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil { // Encode ends the line with '\n'
		return fmt.Errorf("encode dead-letter record: %w", err)
	}
	if w.size < 0 {
		w.size = 0
		if fi, err := os.Stat(w.file.Filename); err == nil {
			w.size = fi.Size() // lumberjack appends to an existing file
		}
	}
	if w.dirty && w.size+int64(w.line.Len()) > int64(w.maxLine) {
		// This write rotates the file and lumberjack closes it without
		// fsync: sync what it holds first.
		if err := w.syncLocked(); err != nil {
			return err
		}
		w.size = 0
	}
	n, err := w.file.Write(w.line.Bytes())
	w.size += int64(n)
	w.dirty = w.dirty || n > 0
	if err != nil {
		w.torn = w.torn || n > 0
		return fmt.Errorf("write dead-letter file %s: %w", w.file.Filename, err)
	}
	w.torn = false
	w.count.WithLabelValues(d.Component).Inc()
	return nil
}

// Sync makes every record written so far durable: it fsyncs the file (and
// its directory, which may hold a new file after a rotation).
func (w *Writer) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.syncLocked()
}

func (w *Writer) syncLocked() error {
	if !w.dirty && !w.inherited {
		return nil
	}
	// lumberjack does not expose its file; fsync is per file, not per
	// descriptor, so another descriptor does.
	for _, path := range []string{w.file.Filename, filepath.Dir(w.file.Filename)} {
		f, err := os.Open(path)
		if !w.dirty && errors.Is(err, fs.ErrNotExist) {
			continue // no previous run's file to sync
		}
		if err != nil {
			return fmt.Errorf("sync dead-letter file: %w", err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("sync dead-letter file: %s: %w", path, err)
		}
	}
	w.dirty, w.inherited = false, false
	return nil
}

// Close closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.file.Close()
}
