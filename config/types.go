package config

import (
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Size is a number of bytes. In YAML it is written as an integer (1024) or a
// number with a unit: B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB,
// TiB (powers of 1024; Ki, Mi, Gi, Ti as in Kubernetes also work). Units are
// case-insensitive and fractions are fine when the result is a whole number
// of bytes: 512KiB, 10MB, 1.5GiB.
type Size int64

// Units for Size values.
const (
	Byte Size = 1
	KB   Size = 1000
	MB        = 1000 * KB
	GB        = 1000 * MB
	TB        = 1000 * GB
	KiB  Size = 1024
	MiB       = 1024 * KiB
	GiB       = 1024 * MiB
	TiB       = 1024 * GiB
)

var sizeUnits = map[string]Size{
	"": Byte, "b": Byte,
	"kb": KB, "mb": MB, "gb": GB, "tb": TB,
	"kib": KiB, "mib": MiB, "gib": GiB, "tib": TiB,
	"ki": KiB, "mi": MiB, "gi": GiB, "ti": TiB,
}

// ParseSize parses a size as written in the configuration.
func ParseSize(s string) (Size, error) {
	text := strings.TrimSpace(s)
	i := 0
	for i < len(text) && (text[i] >= '0' && text[i] <= '9' || text[i] == '.') {
		i++
	}
	num, unit := text[:i], strings.ToLower(strings.TrimSpace(text[i:]))
	mult, ok := sizeUnits[unit]
	r, okNum := new(big.Rat).SetString(num)
	if !ok || !okNum || num == "" || strings.HasPrefix(num, ".") || strings.HasSuffix(num, ".") {
		return 0, fmt.Errorf("%q is not a size (use e.g. 512KiB, 10MB, 2GiB)", s)
	}
	r.Mul(r, new(big.Rat).SetInt64(int64(mult)))
	if !r.IsInt() {
		return 0, fmt.Errorf("%q is not a whole number of bytes", s)
	}
	if !r.Num().IsInt64() {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return Size(r.Num().Int64()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalText implements encoding.TextMarshaler; it writes String.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// String renders s in the unit that gives the smallest whole number, binary
// units winning ties: 1KiB, 10MB, 1536MiB, 1023B. ParseSize reads it back.
func (s Size) String() string {
	if s < 0 {
		return "-" + (-s).String()
	}
	best, bestN := "B", int64(s)
	for _, u := range []struct {
		name string
		size Size
	}{{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}, {"TB", TB}, {"GB", GB}, {"MB", MB}, {"KB", KB}} {
		if s != 0 && s%u.size == 0 && int64(s/u.size) < bestN {
			best, bestN = u.name, int64(s/u.size)
		}
	}
	return strconv.FormatInt(bestN, 10) + best
}

// Bytes returns s as an int64.
func (s Size) Bytes() int64 { return int64(s) }

// Duration is a time.Duration written as Go writes durations: 500ms, 5s,
// 1h30m; a bare 0 is also accepted.
type Duration time.Duration

// ParseDuration parses a duration as written in the configuration.
func ParseDuration(s string) (Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (use e.g. 500ms, 5s, 1h30m)", s)
	}
	return Duration(d), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// String renders d like time.Duration does (1h30m0s).
func (d Duration) String() string { return time.Duration(d).String() }

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// OneOf checks that v is one of allowed, for enum types:
//
//	func (m *Mode) UnmarshalText(b []byte) error { return config.ParseEnum(m, b, ModeA, ModeB) }
//	func (c *Config) Validate() error { ... config.OneOf(c.Mode, ModeA, ModeB) ... }
func OneOf[T ~string](v T, allowed ...T) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return fmt.Errorf("%q is not one of %s", string(v), strings.Join(names, ", "))
}

// ParseEnum sets *dst to the allowed value equal to text, ignoring case, or
// returns an error listing the allowed values.
func ParseEnum[T ~string](dst *T, text []byte, allowed ...T) error {
	for _, a := range allowed {
		if strings.EqualFold(string(text), string(a)) {
			*dst = a
			return nil
		}
	}
	return OneOf(T(text), allowed...)
}

// LogLevel is the agent's log level: debug, info, warn or error.
type LogLevel string

// Log levels.
const (
	LogDebug LogLevel = "debug"
	LogInfo  LogLevel = "info"
	LogWarn  LogLevel = "warn"
	LogError LogLevel = "error"
)

var logLevels = []LogLevel{LogDebug, LogInfo, LogWarn, LogError}

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *LogLevel) UnmarshalText(b []byte) error { return ParseEnum(l, b, logLevels...) }

// Slog returns the slog level; an unknown level maps to info.
func (l LogLevel) Slog() slog.Level {
	switch l {
	case LogDebug:
		return slog.LevelDebug
	case LogWarn:
		return slog.LevelWarn
	case LogError:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// LogFormat is how the agent writes its logs: text or json.
type LogFormat string

// Log formats.
const (
	LogText LogFormat = "text"
	LogJSON LogFormat = "json"
)

var logFormats = []LogFormat{LogText, LogJSON}

// UnmarshalText implements encoding.TextUnmarshaler.
func (f *LogFormat) UnmarshalText(b []byte) error { return ParseEnum(f, b, logFormats...) }

// FsyncMode says when a pipeline's buffer fsyncs what it appended.
type FsyncMode string

// Fsync modes.
const (
	// FsyncAlways fsyncs before acknowledging every append (group commit
	// still batches concurrent appends into one fsync).
	FsyncAlways FsyncMode = "always"
	// FsyncInterval fsyncs every fsync_interval; inputs commit their
	// positions only after the fsync that covers them.
	FsyncInterval FsyncMode = "interval"
	// FsyncNever leaves flushing to the OS: a crash of the machine (not
	// just the agent) can lose buffered events.
	FsyncNever FsyncMode = "never"
)

var fsyncModes = []FsyncMode{FsyncAlways, FsyncInterval, FsyncNever}

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *FsyncMode) UnmarshalText(b []byte) error { return ParseEnum(m, b, fsyncModes...) }

// WhenFull says what a pipeline does when its buffer reached max_bytes.
type WhenFull string

// WhenFull policies.
const (
	// WhenFullBlock applies back-pressure to the inputs (no loss while the
	// source keeps its data).
	WhenFullBlock WhenFull = "block"
	// WhenFullDropOldest deletes the oldest segment, even if outputs have not
	// read it; the loss is logged and counted.
	WhenFullDropOldest WhenFull = "drop_oldest"
)

var whenFulls = []WhenFull{WhenFullBlock, WhenFullDropOldest}

// UnmarshalText implements encoding.TextUnmarshaler.
func (w *WhenFull) UnmarshalText(b []byte) error { return ParseEnum(w, b, whenFulls...) }
