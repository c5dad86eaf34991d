package buffer

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// FsyncPolicy says when appended records are made durable with fsync.
type FsyncPolicy string

const (
	// FsyncAlways fsyncs after every append; concurrent and consecutive
	// appends share one fsync (group commit).
	FsyncAlways FsyncPolicy = "always"
	// FsyncInterval fsyncs every Options.FsyncInterval when something was
	// appended. The default.
	FsyncInterval FsyncPolicy = "interval"
	// FsyncNever leaves flushing to the kernel: records survive a crash of
	// the process (kill -9) but not a power loss.
	FsyncNever FsyncPolicy = "never"
)

// UnmarshalText implements encoding.TextUnmarshaler; unknown values are errors.
func (p *FsyncPolicy) UnmarshalText(text []byte) error {
	switch v := FsyncPolicy(text); v {
	case FsyncAlways, FsyncInterval, FsyncNever:
		*p = v
		return nil
	}
	return fmt.Errorf("unknown fsync policy %q (want always, interval or never)", text)
}

// FullPolicy says what Append does when the buffer reached Options.MaxBytes.
type FullPolicy string

const (
	// FullBlock makes Append wait until cursors commit and segments are
	// deleted (back-pressure on the inputs). The default.
	FullBlock FullPolicy = "block"
	// FullDropOldest deletes the oldest segments even if some cursors did not
	// commit them, moves those cursors forward and counts the dropped records.
	FullDropOldest FullPolicy = "drop_oldest"
)

// UnmarshalText implements encoding.TextUnmarshaler; unknown values are errors.
func (p *FullPolicy) UnmarshalText(text []byte) error {
	switch v := FullPolicy(text); v {
	case FullBlock, FullDropOldest:
		*p = v
		return nil
	}
	return fmt.Errorf("unknown full policy %q (want block or drop_oldest)", text)
}

// Defaults and limits of Options.
const (
	DefaultMaxBytes      int64 = 1 << 30
	DefaultSegmentBytes  int64 = 64 << 20
	MinSegmentBytes      int64 = 64 << 10
	MinMaxBytes                = 4 * MinSegmentBytes
	DefaultFsyncInterval       = 200 * time.Millisecond
)

// Options configure a Buffer. The zero value of every field but Dir is valid.
type Options struct {
	// Dir holds the buffer's files; created (0700) if missing. Required.
	Dir string
	// MaxBytes caps the bytes of segment files on disk. Default 1 GiB;
	// at least 256 KiB.
	MaxBytes int64
	// SegmentBytes is the target size of one segment file. Default 64 MiB,
	// clamped to [64 KiB, MaxBytes/4]. It also bounds a record: a record's
	// payload may take at most SegmentBytes-40 bytes (see MaxRecordBytes).
	SegmentBytes int64
	// Fsync is when appends are made durable. Default "interval".
	Fsync FsyncPolicy
	// FsyncInterval is the period of the "interval" policy. Default 200ms: it
	// delays only the onDurable callbacks (the inputs' checkpoints), never
	// the outputs, which read records as soon as they are written.
	FsyncInterval time.Duration
	// WhenFull is what Append does when MaxBytes is reached. Default "block".
	WhenFull FullPolicy
	// Cursors names the readers, one per output. Cursor files of other names
	// are deleted by Open; a name without a file starts at the oldest record.
	// With no cursors, segments are deleted as soon as they are sealed.
	Cursors []string
	// Logger receives recovery warnings and errors. Default: discard.
	Logger *slog.Logger
	// Metrics registers the buffer's collector (unregistered by Close).
	// Default: no metrics.
	Metrics prometheus.Registerer
	// MetricLabels are constant labels on every metric, e.g.
	// {"pipeline": "audit"}. Buffers registering on one Registerer need
	// distinct values. "output" is reserved for the per-cursor metrics.
	MetricLabels prometheus.Labels

	// fsyncHook replaces (*os.File).Sync for data files in tests.
	fsyncHook func(*os.File) error
	// crashHook, in tests, is called at named points of multi-step file
	// operations (to kill the process there).
	crashHook func(point string)
}

func (o *Options) hook(point string) {
	if o.crashHook != nil {
		o.crashHook(point)
	}
}

// withDefaults returns o with defaults filled in and validated.
func (o Options) withDefaults() (Options, error) {
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.SegmentBytes > o.MaxBytes/4 {
		o.SegmentBytes = o.MaxBytes / 4
	}
	if o.SegmentBytes < MinSegmentBytes {
		o.SegmentBytes = MinSegmentBytes
	}
	if o.Fsync == "" {
		o.Fsync = FsyncInterval
	}
	if o.FsyncInterval == 0 {
		o.FsyncInterval = DefaultFsyncInterval
	}
	if o.WhenFull == "" {
		o.WhenFull = FullBlock
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.fsyncHook == nil {
		o.fsyncHook = (*os.File).Sync
	}
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("dir: required"))
	}
	if o.MaxBytes < MinMaxBytes {
		errs = append(errs, fmt.Errorf("max_bytes: %d is below the minimum of %d", o.MaxBytes, MinMaxBytes))
	}
	if err := o.Fsync.UnmarshalText([]byte(o.Fsync)); err != nil {
		errs = append(errs, fmt.Errorf("fsync: %w", err))
	}
	if o.FsyncInterval < 0 {
		errs = append(errs, fmt.Errorf("fsync_interval: %s is negative", o.FsyncInterval))
	}
	if err := o.WhenFull.UnmarshalText([]byte(o.WhenFull)); err != nil {
		errs = append(errs, fmt.Errorf("when_full: %w", err))
	}
	seen := make(map[string]bool, len(o.Cursors))
	for _, n := range o.Cursors {
		switch {
		case n == "":
			errs = append(errs, errors.New("cursors: empty name"))
		case len(cursorFileName(n)) > 255:
			errs = append(errs, fmt.Errorf("cursors: name %.20q... is too long for a file name", n))
		case seen[n]:
			errs = append(errs, fmt.Errorf("cursors: %q listed twice", n))
		}
		seen[n] = true
	}
	if _, ok := o.MetricLabels["output"]; ok {
		errs = append(errs, errors.New(`metric_labels: "output" is reserved`))
	}
	return o, errors.Join(errs...)
}
