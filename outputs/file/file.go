// Package file implements the "file" output: events as NDJSON (each event's
// raw JSON, one per line) in a local file rotated with lumberjack, the same
// rotation kube-apiserver uses for its own audit log.
package file

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs"
	"github.com/kubetrail/kubetrail/outputs/internal/ndjson"
	"github.com/kubetrail/kubetrail/pipeline"
)

//go:embed sample.yaml
var sample string

// Sample is a commented example configuration of this output.
func Sample() string { return sample }

const mib = 1 << 20

// Config is the file output's configuration.
type Config struct {
	// Path of the active file; backups go beside it. Required.
	Path string `yaml:"path"`
	// MaxSize rotates the file before it would grow past this size; lumberjack
	// counts in whole MiB, so this is rounded down to MiB. Default 100MiB.
	MaxSize config.Size `yaml:"max_size"`
	// MaxBackups is how many rotated files to keep; 0 keeps all. Default 5.
	MaxBackups int `yaml:"max_backups"`
	// MaxAge deletes rotated files older than this; 0 keeps them. Default 0.
	MaxAge config.Duration `yaml:"max_age"`
	// Compress gzips rotated files. Default false.
	Compress bool `yaml:"compress"`
}

func defaultConfig() *Config {
	return &Config{MaxSize: 100 * mib, MaxBackups: 5}
}

// Validate implements the loader's validation hook.
func (c *Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Path) == "" {
		errs = append(errs, &config.FieldError{Field: "path", Err: errors.New("is required")})
	}
	if c.MaxSize < mib {
		errs = append(errs, &config.FieldError{Field: "max_size", Err: fmt.Errorf("%s is below 1MiB (lumberjack rotates in whole MiB)", c.MaxSize)})
	}
	if c.MaxBackups < 0 {
		errs = append(errs, &config.FieldError{Field: "max_backups", Err: errors.New("must not be negative")})
	}
	if c.MaxAge < 0 {
		errs = append(errs, &config.FieldError{Field: "max_age", Err: errors.New("must not be negative")})
	}
	return errors.Join(errs...)
}

// Files implements config.FileUser: the output writes path.
func (c *Config) Files() (reads, writes []config.FileRef) {
	return nil, []config.FileRef{{Field: "path", Path: c.Path}}
}

func init() {
	outputs.Register("file", outputs.Factory{
		NewConfig: func() any { return defaultConfig() },
		New: func(cfg any, set pipeline.Settings) (event.Output, error) {
			f := New(cfg.(*Config))
			f.logger = set.Logger
			return f, nil
		},
	})
}

// File is the file output.
type File struct {
	mu     sync.Mutex
	log    *lumberjack.Logger
	enc    ndjson.Encoder
	logger *slog.Logger // may be nil
}

var _ event.Output = (*File)(nil)

// New returns a file output; the file is opened on the first Write.
func New(cfg *Config) *File {
	maxSize := int(cfg.MaxSize / mib)
	l := &lumberjack.Logger{
		Filename:   cfg.Path,
		MaxSize:    maxSize,
		MaxBackups: cfg.MaxBackups,
		MaxAge:     max(0, int((cfg.MaxAge.Std()+86399e9)/86400e9)), // lumberjack counts whole days
		Compress:   cfg.Compress,
	}
	limit := maxSize * mib
	return &File{log: l, enc: ndjson.Encoder{
		W:        l,
		MaxChunk: min(limit, mib),
		TooLarge: func(n int) bool { return n > limit },
	}}
}

// Start implements event.Output. A file whose last line is torn (the agent
// was killed in the middle of a Write) is cut back to its last newline:
// that batch was never acknowledged and will be written again, and
// appending to the fragment would glue half an event to the next one.
func (f *File) Start(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	cut, err := cutTornTail(f.log.Filename)
	if err != nil {
		return fmt.Errorf("file output: %w", err)
	}
	if cut > 0 && f.logger != nil {
		f.logger.Warn("cut a torn last line left by a crash (its batch will be written again)",
			"path", f.log.Filename, "bytes", cut)
	}
	return nil
}

// cutTornTail truncates the file at path after its last newline when it
// does not end with one, and returns how many bytes it cut. A missing file
// is fine.
func cutTornTail(path string) (int64, error) {
	fh, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	buf := make([]byte, 64<<10)
	end := size
	for end > 0 {
		n := min(end, int64(len(buf)))
		chunk := buf[:n]
		if _, err := fh.ReadAt(chunk, end-n); err != nil {
			return 0, fmt.Errorf("read the end of %s: %w", path, err)
		}
		if end == size && chunk[n-1] == '\n' {
			return 0, nil // whole lines
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			end = end - n + int64(i) + 1
			break
		}
		end -= n
	}
	if err := fh.Truncate(end); err != nil {
		return 0, fmt.Errorf("cut the torn last line of %s: %w", path, err)
	}
	if err := fh.Sync(); err != nil {
		return 0, fmt.Errorf("cut the torn last line of %s: %w", path, err)
	}
	return size - end, nil
}

// Write appends the batch. It returns once the lines are written to the file
// (in the page cache: they survive the agent's crash, not the machine's).
func (f *File) Write(_ context.Context, b *event.Batch) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.enc.Encode(b)
}

// Close closes the file.
func (f *File) Close(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.log.Close()
}
