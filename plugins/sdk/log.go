package sdk

import (
	"io"
	"log/slog"
)

// NewLogHandler returns a slog handler writing JSON lines in the format the
// agent parses from a plugin's stderr (hclog's: "@level", "@message",
// "@timestamp", then the attributes), so that each line lands in the agent's
// log at its level. Serve's Config.Logger uses it; a plugin needs it only
// for loggers of its own.
func NewLogHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				a.Key = "@timestamp"
				if t, ok := a.Value.Any().(interface{ Format(string) string }); ok {
					a.Value = slog.StringValue(t.Format("2006-01-02T15:04:05.000000Z07:00"))
				}
			case slog.LevelKey:
				a.Key = "@level"
				switch lv := a.Value.Any().(slog.Level); {
				case lv < slog.LevelInfo:
					a.Value = slog.StringValue("debug")
				case lv < slog.LevelWarn:
					a.Value = slog.StringValue("info")
				case lv < slog.LevelError:
					a.Value = slog.StringValue("warn")
				default:
					a.Value = slog.StringValue("error")
				}
			case slog.MessageKey:
				a.Key = "@message"
			}
			return a
		},
	})
}
