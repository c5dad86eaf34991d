package auditlog

import (
	"errors"
	"path/filepath"
	"time"

	"github.com/kubetrail/kubetrail/config"
)

// StartAt says where to start reading when the input has no checkpoint.
type StartAt string

// Values of StartAt.
const (
	// StartBeginning reads everything still on disk: every retained backup
	// (plain and .gz, oldest first by the lumberjack time stamp in its name),
	// then the active file from its first byte.
	StartBeginning StartAt = "beginning"
	// StartActiveFile reads the active file from its first byte; backups
	// present at the very first start are history and are not read.
	StartActiveFile StartAt = "active_file"
	// StartEnd skips what the active file and the backups hold at the very
	// first start.
	StartEnd StartAt = "end"
)

// UnmarshalText implements encoding.TextUnmarshaler; it rejects unknown values.
func (s *StartAt) UnmarshalText(b []byte) error {
	return config.ParseEnum(s, b, StartBeginning, StartActiveFile, StartEnd)
}

// Config configures an auditlog input.
type Config struct {
	// Path of the active audit log, as given to kube-apiserver's
	// --audit-log-path. Required; "-" (stdout) is not a file.
	Path string `yaml:"path"`
	// StartAt applies only when no checkpoint exists: beginning (every
	// retained backup, then the active file), active_file (the active file
	// from its first byte) or end. Default beginning.
	StartAt StartAt `yaml:"start_at"`
	// MaxLineBytes is the longest line accepted; longer lines go to the
	// dead-letter file (their first 64 KiB and their size). Default 4MiB.
	MaxLineBytes config.Size `yaml:"max_line_bytes"`
	// PollInterval is the safety net next to filesystem notifications: how
	// often the input looks for new data and rotations when it heard
	// nothing. While notifications work and nothing changes, the polls
	// back off to 8 times this (2 s by default); any notification or new
	// data resets them. Default 250ms.
	PollInterval config.Duration `yaml:"poll_interval"`
	// BatchEvents is the most events handed to the pipeline in one write.
	// Default 1000.
	BatchEvents int `yaml:"batch_events"`
	// BatchBytes is the most bytes of events handed to the pipeline in one
	// write (a single larger event still makes a batch). Default 1MiB.
	BatchBytes config.Size `yaml:"batch_bytes"`
	// ReadBuffer is the size of one read from the file. Default 256KiB.
	ReadBuffer config.Size `yaml:"read_buffer"`
	// GzipStallTimeout is how long a .gz backup that stays truncated or
	// corrupt (lumberjack died while compressing it) is waited for before
	// its unread part is counted lost and the input moves on. Default 1m.
	GzipStallTimeout config.Duration `yaml:"gzip_stall_timeout"`
	// MaxBackups mirrors kube-apiserver's --audit-log-maxbackup: how many
	// backups lumberjack keeps (0: all). Optional; when set, the gauge
	// kubetrail_input_rotations_before_loss says how many more rotations
	// lumberjack can do before it deletes the oldest file not read yet.
	MaxBackups *int `yaml:"max_backups"`
	// MaxSize mirrors kube-apiserver's --audit-log-maxsize: the size in MB
	// (lumberjack's megabytes are MiB) at which lumberjack rotates the
	// active file (0: lumberjack's default, 100). Optional; it bounds what
	// the loss estimate counts for a file that was the active file when the
	// input last saw it and was deleted unread (it grew up to this size),
	// and for files rotated and deleted while the input was stopped. Unset,
	// it is inferred from the backups on disk: each one is within one event
	// of the maximum, so the largest, rounded up to a whole MiB.
	MaxSize *int `yaml:"max_size"`
}

// Defaults.
const (
	defaultMaxLineBytes = 4 * config.MiB
	defaultPoll         = 250 * time.Millisecond
	defaultBatchEvents  = 1000
	defaultBatchBytes   = 1 * config.MiB
	defaultReadBuffer   = 256 * config.KiB
	defaultGzipStall    = time.Minute
)

// NewConfig returns a Config with every default filled in.
func NewConfig() *Config {
	return &Config{
		StartAt:      StartBeginning,
		MaxLineBytes: defaultMaxLineBytes,
		PollInterval: config.Duration(defaultPoll),
		BatchEvents:  defaultBatchEvents,
		BatchBytes:   defaultBatchBytes,
		ReadBuffer:   defaultReadBuffer,

		GzipStallTimeout: config.Duration(defaultGzipStall),
	}
}

// Files implements config.FileUser: the input reads path (and its backups).
func (c *Config) Files() (reads, writes []config.FileRef) {
	return []config.FileRef{{Field: "path", Path: c.Path}}, nil
}

// MaxEventBytes is the longest event the input hands over
// (max_line_bytes); the agent sizes its default memory limit from it.
func (c *Config) MaxEventBytes() int64 { return int64(c.MaxLineBytes) }

// Validate reports every invalid field, naming its yaml key.
func (c *Config) Validate() error {
	var errs []error
	switch {
	case c.Path == "":
		errs = append(errs, config.Fieldf("path", "is required"))
	case c.Path == "-":
		errs = append(errs, config.Fieldf("path", `"-" means stdout, which is not a file; give the file kube-apiserver writes (--audit-log-path)`))
	default:
		base := filepath.Base(filepath.Clean(c.Path))
		if base == "." || base == ".." || base == string(filepath.Separator) || c.Path[len(c.Path)-1] == '/' {
			errs = append(errs, config.Fieldf("path", "%q is not a file path", c.Path))
		}
	}
	if err := config.OneOf(c.StartAt, StartBeginning, StartActiveFile, StartEnd); err != nil {
		errs = append(errs, &config.FieldError{Field: "start_at", Err: err})
	}
	if c.MaxLineBytes < 1*config.KiB || c.MaxLineBytes > 1*config.GiB {
		errs = append(errs, config.Fieldf("max_line_bytes", "must be between 1KiB and 1GiB, got %s", c.MaxLineBytes))
	}
	if p := time.Duration(c.PollInterval); p < 10*time.Millisecond || p > time.Minute {
		errs = append(errs, config.Fieldf("poll_interval", "must be between 10ms and 1m, got %s", p))
	}
	if c.BatchEvents < 1 {
		errs = append(errs, config.Fieldf("batch_events", "must be at least 1, got %d", c.BatchEvents))
	}
	if c.BatchBytes < 1 || c.BatchBytes > 1*config.GiB {
		errs = append(errs, config.Fieldf("batch_bytes", "must be between 1B and 1GiB, got %s", c.BatchBytes))
	}
	if c.ReadBuffer < 4*config.KiB || c.ReadBuffer > 64*config.MiB {
		errs = append(errs, config.Fieldf("read_buffer", "must be between 4KiB and 64MiB, got %s", c.ReadBuffer))
	}
	if g := time.Duration(c.GzipStallTimeout); g < 100*time.Millisecond || g > 24*time.Hour {
		errs = append(errs, config.Fieldf("gzip_stall_timeout", "must be between 100ms and 24h, got %s", g))
	}
	if c.MaxBackups != nil && *c.MaxBackups < 0 {
		errs = append(errs, config.Fieldf("max_backups", "must be 0 (lumberjack keeps every backup) or more, got %d", *c.MaxBackups))
	}
	if c.MaxSize != nil && (*c.MaxSize < 0 || *c.MaxSize > 1<<20) {
		errs = append(errs, config.Fieldf("max_size", "must be between 0 (lumberjack's default, 100) and 1048576 (MB, as --audit-log-maxsize), got %d", *c.MaxSize))
	}
	return errors.Join(errs...)
}

// lumberjackDefaultMaxSize is lumberjack's MaxSize when it is 0, in MiB.
const lumberjackDefaultMaxSize = 100

// maxFileBytes is the configured maximum file size in bytes, 0 when unset.
func (c *Config) maxFileBytes() int64 {
	if c.MaxSize == nil {
		return 0
	}
	if *c.MaxSize == 0 {
		return lumberjackDefaultMaxSize * int64(config.MiB)
	}
	return int64(*c.MaxSize) * int64(config.MiB)
}
