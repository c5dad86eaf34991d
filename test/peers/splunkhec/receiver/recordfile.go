package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
)

// recordFileConfig configures the "recordfile" exporter.
type recordFileConfig struct {
	// Path receives one JSON line per log record. Required.
	Path string `mapstructure:"path"`
	// Journal, if set, receives "answered CHANNEL ACKID" when a 200 with an
	// ackId is about to be sent, "polled CHANNEL ACKID" when a client asks
	// for it, and "indexed CHANNEL ACKID" when it is acknowledged.
	Journal string `mapstructure:"journal"`
}

func (c *recordFileConfig) Validate() error {
	if c.Path == "" {
		return errors.New("path is required")
	}
	return nil
}

// Record is one line of the file.
type Record struct {
	Channel    string         `json:"channel,omitempty"`
	Encoding   string         `json:"encoding,omitempty"`
	TimeNanos  int64          `json:"time_ns"`
	Host       string         `json:"host,omitempty"`
	Source     string         `json:"source,omitempty"`
	Sourcetype string         `json:"sourcetype,omitempty"`
	Index      string         `json:"index,omitempty"`
	Fields     map[string]any `json:"fields,omitempty"`
	Event      any            `json:"event"`
}

func newRecordFileFactory() exporter.Factory {
	return exporter.NewFactory(component.MustNewType("recordfile"),
		func() component.Config { return &recordFileConfig{} },
		exporter.WithLogs(createRecordFile, component.StabilityLevelDevelopment))
}

func createRecordFile(_ context.Context, _ exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	return &recordFile{cfg: cfg.(*recordFileConfig)}, nil
}

type recordFile struct{ cfg *recordFileConfig }

func (r *recordFile) Start(context.Context, component.Host) error {
	return theStore.open(r.cfg.Path, r.cfg.Journal)
}

func (r *recordFile) Shutdown(context.Context) error { return theStore.close() }

func (r *recordFile) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

// ConsumeLogs runs inside the receiver's request, before it answers.
func (r *recordFile) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	info := client.FromContext(ctx)
	first := func(k string) string {
		if v := info.Metadata.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	channel := first("X-Splunk-Request-Channel")
	encoding := first("Content-Encoding")
	var buf []byte
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource().Attributes()
		str := func(k string) string {
			if v, ok := res.Get(k); ok {
				return v.AsString()
			}
			return ""
		}
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				rec := Record{
					Channel: channel, Encoding: encoding,
					TimeNanos: int64(lr.Timestamp()),
					Host:      str("host.name"), Source: str("com.splunk.source"),
					Sourcetype: str("com.splunk.sourcetype"), Index: str("com.splunk.index"),
					Event: lr.Body().AsRaw(),
				}
				if lr.Attributes().Len() > 0 {
					rec.Fields = lr.Attributes().AsRaw()
				}
				line, err := json.Marshal(rec)
				if err != nil {
					return fmt.Errorf("recordfile: %w", err)
				}
				buf = append(append(buf, line...), '\n')
			}
		}
	}
	return theStore.add(buf, channel != "")
}

// store is the file both components share (a collector runs one of each).
type store struct {
	mu   sync.Mutex
	refs int
	f, j *os.File
	hold bool // the indexer is configured: hold records that came with a channel
	held []byte
}

var theStore = &store{}

func (s *store) holdChanneled(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold = v
}

func (s *store) open(path, journal string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs++
	if s.f != nil {
		return nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	s.f = f
	if journal != "" {
		if s.j, err = os.OpenFile(journal, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (s *store) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refs--; s.refs > 0 || s.f == nil {
		return nil
	}
	err := s.f.Close()
	if s.j != nil {
		err = errors.Join(err, s.j.Close())
	}
	s.f, s.j = nil, nil
	return err
}

func (s *store) add(lines []byte, channeled bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hold && channeled {
		s.held = append(s.held, lines...)
		return nil
	}
	_, err := s.f.Write(lines)
	return err
}

func (s *store) flushHeld() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.held) == 0 || s.f == nil {
		return
	}
	if _, err := s.f.Write(s.held); err != nil {
		fmt.Fprintln(os.Stderr, "recordfile:", err)
		return
	}
	s.held = s.held[:0]
}

func (s *store) journal(what, channel string, id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.j != nil {
		fmt.Fprintf(s.j, "%s %s %d\n", what, strings.TrimSpace(channel), id)
	}
}
