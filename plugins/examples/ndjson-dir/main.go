// Command kubetrail-ndjson-dir is an example kubetrail output plugin: it
// appends each event as one NDJSON line to <dir>/<output name>.ndjson and
// acknowledges a batch only once it is fsynced.
//
// Its configuration (the output's `config` block):
//
//	dir: /var/lib/audit-archive   # required; created if missing
//	max_event_bytes: 1048576      # larger events go through oversize; 0: no limit
//	oversize: truncate            # truncate (kube-apiserver's way: drop
//	                              # requestObject/responseObject) or
//	                              # dead_letter; what still does not fit is
//	                              # rejected permanently (dead-lettered)
//	fsync: true                   # default true
//
// Build it from this directory with `go build`, then configure an output
// `type: plugin` with `path:` pointing at the binary.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/event/truncate"
	"github.com/kubetrail/kubetrail/plugins/sdk"
)

type config struct {
	Dir           string `json:"dir"`
	MaxEventBytes int    `json:"max_event_bytes"`
	Oversize      string `json:"oversize"`
	Fsync         *bool  `json:"fsync"`
}

type output struct {
	mu   sync.Mutex
	cfg  config
	path string
	f    *os.File
	log  *slog.Logger
	buf  []byte
}

func (o *output) Configure(_ context.Context, c sdk.Config) error {
	var cfg config
	if err := c.Decode(&cfg); err != nil {
		return err
	}
	if cfg.Dir == "" {
		return errors.New("dir is required")
	}
	if cfg.MaxEventBytes < 0 {
		return errors.New("max_event_bytes must not be negative")
	}
	switch cfg.Oversize {
	case "":
		cfg.Oversize = "truncate"
	case "truncate", "dead_letter":
	default:
		return fmt.Errorf("oversize must be truncate or dead_letter, got %q", cfg.Oversize)
	}
	if cfg.Fsync == nil {
		t := true
		cfg.Fsync = &t
	}
	o.cfg, o.log = cfg, c.Logger
	o.path = filepath.Join(cfg.Dir, c.Name+".ndjson")
	o.log.Info("configured", "file", o.path)
	return nil
}

// Health reports whether the directory can be written.
func (o *output) Health(context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.open()
}

func (o *output) open() error {
	if o.f != nil {
		return nil
	}
	if err := os.MkdirAll(o.cfg.Dir, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(o.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	o.f = f
	return nil
}

func (o *output) Write(_ context.Context, b *event.Batch) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.open(); err != nil {
		return err // retryable: the agent keeps the batch and sends it again
	}
	var rejected map[int]error
	o.buf = o.buf[:0]
	for i, ev := range b.Events {
		raw := ev.Raw
		if o.cfg.MaxEventBytes > 0 && len(raw) > o.cfg.MaxEventBytes {
			err := fmt.Errorf("event of %d bytes exceeds max_event_bytes %d (oversize: %s)", len(raw), o.cfg.MaxEventBytes, o.cfg.Oversize)
			if o.cfg.Oversize == "truncate" {
				raw, err = truncate.Truncate(raw, o.cfg.MaxEventBytes)
			}
			if err != nil {
				if rejected == nil {
					rejected = map[int]error{}
				}
				rejected[i] = event.Permanent(err)
				continue
			}
		}
		o.buf = append(o.buf, raw...)
		o.buf = append(o.buf, '\n')
	}
	if _, err := o.f.Write(o.buf); err != nil {
		o.reset()
		return fmt.Errorf("write %s: %w", o.path, err)
	}
	if *o.cfg.Fsync {
		if err := o.f.Sync(); err != nil {
			o.reset()
			return fmt.Errorf("fsync %s: %w", o.path, err)
		}
	}
	if rejected != nil {
		return &event.PartialError{Failed: rejected}
	}
	return nil
}

// reset drops the file after a failed write, so the next Write reopens it.
func (o *output) reset() {
	if o.f != nil {
		_ = o.f.Close()
		o.f = nil
	}
}

func (o *output) Close(context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.f == nil {
		return nil
	}
	err := o.f.Close()
	o.f = nil
	return err
}

func main() { sdk.Serve(&output{}) }
