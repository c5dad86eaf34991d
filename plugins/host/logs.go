package host

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// maxLogLine caps one forwarded log line; the rest is dropped.
const maxLogLine = 16 << 10

// logWriter forwards a plugin's stderr into the agent's log, one record per
// line. JSON lines in hclog's format ("@level", "@message", attributes; what
// sdk.NewLogHandler writes) keep their level and attributes; other lines
// are logged as they are, at info, or at error from a panic or traceback on.
type logWriter struct {
	log *slog.Logger

	mu      sync.Mutex
	buf     []byte
	inPanic bool
}

func newLogWriter(log *slog.Logger, path string) *logWriter {
	return &logWriter{log: log.With("plugin", filepath.Base(path))}
}

// stream returns a writer for what a Go plugin wrote to its os.Stdout or
// os.Stderr (go-plugin's stdio sync), logged as plain lines.
func (w *logWriter) stream(name string) *logWriter {
	return &logWriter{log: w.log.With("stream", name)}
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if room := maxLogLine - len(w.buf); room > 0 {
				w.buf = append(w.buf, p[:min(room, len(p))]...)
			}
			break
		}
		if room := maxLogLine - len(w.buf); room > 0 {
			w.buf = append(w.buf, p[:min(room, i)]...)
		}
		w.line(w.buf)
		w.buf = w.buf[:0]
		p = p[i+1:]
	}
	return n, nil
}

func (w *logWriter) line(line []byte) {
	line = bytes.TrimRight(line, "\r")
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	if line[0] == '{' {
		var m map[string]any
		if json.Unmarshal(line, &m) == nil {
			w.structured(m)
			return
		}
	}
	s := string(line)
	level := slog.LevelInfo
	switch {
	case strings.HasPrefix(s, "panic: "), strings.HasPrefix(s, "fatal error: "), strings.HasPrefix(s, "Traceback "):
		w.inPanic = true
		level = slog.LevelError
	case w.inPanic:
		level = slog.LevelError
	case strings.HasPrefix(s, "[ERROR]"):
		level = slog.LevelError
	case strings.HasPrefix(s, "[WARN]"):
		level = slog.LevelWarn
	case strings.HasPrefix(s, "[DEBUG]"), strings.HasPrefix(s, "[TRACE]"):
		level = slog.LevelDebug
	}
	w.log.Log(context.Background(), level, s)
}

func (w *logWriter) structured(m map[string]any) {
	msg, _ := m["@message"].(string)
	lv, _ := m["@level"].(string)
	delete(m, "@message")
	delete(m, "@level")
	delete(m, "@timestamp")
	delete(m, "@module")
	delete(m, "@caller")
	level := slog.LevelInfo
	switch strings.ToLower(lv) {
	case "trace", "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error", "critical", "fatal":
		level = slog.LevelError
	}
	attrs := make([]slog.Attr, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		attrs = append(attrs, slog.Any(k, m[k]))
	}
	if msg == "" && len(attrs) == 0 {
		return
	}
	if msg == "" {
		msg = "(plugin log line without @message)"
	}
	w.log.LogAttrs(context.Background(), level, msg, attrs...)
}
