package config

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSize(t *testing.T) {
	good := []struct {
		in   string
		want Size
	}{
		{"0", 0},
		{"1024", 1024},
		{"1024B", 1024},
		{"512KiB", 512 * 1024},
		{"512kib", 512 * 1024},
		{"10MB", 10_000_000},
		{"10mb", 10_000_000},
		{"2GiB", 2 << 30},
		{"1.5GiB", 3 << 29},
		{"1.5KB", 1500},
		{"1TB", 1_000_000_000_000},
		{"1TiB", 1 << 40},
		{"64Mi", 64 << 20},
		{" 4 MiB ", 4 << 20},
		{"8388607TiB", 8388607 << 40}, // 2^63 - 2^40: fits in an int64
	}
	for _, tt := range good {
		got, err := ParseSize(tt.in)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}

	bad := map[string]string{
		"12XB":       `"12XB" is not a size (use e.g. 512KiB, 10MB, 2GiB)`,
		"":           `"" is not a size (use e.g. 512KiB, 10MB, 2GiB)`,
		"MiB":        `"MiB" is not a size (use e.g. 512KiB, 10MB, 2GiB)`,
		"-1":         `"-1" is not a size (use e.g. 512KiB, 10MB, 2GiB)`,
		"1.":         `"1." is not a size (use e.g. 512KiB, 10MB, 2GiB)`,
		".5MiB":      `".5MiB" is not a size (use e.g. 512KiB, 10MB, 2GiB)`,
		"1.2.3MB":    `"1.2.3MB" is not a size (use e.g. 512KiB, 10MB, 2GiB)`,
		"1e6":        `"1e6" is not a size (use e.g. 512KiB, 10MB, 2GiB)`,
		"1K":         `"1K" is not a size (use e.g. 512KiB, 10MB, 2GiB)`,
		"1.5B":       `"1.5B" is not a whole number of bytes`,
		"0.3KiB":     `"0.3KiB" is not a whole number of bytes`,
		"8388608TiB": `"8388608TiB" is too large`, // 2^63
	}
	for in, want := range bad {
		_, err := ParseSize(in)
		assert.EqualError(t, err, want, in)
	}
}

func TestSizeString(t *testing.T) {
	for in, want := range map[Size]string{
		0:          "0B",
		1:          "1B",
		1023:       "1023B",
		1024:       "1KiB",
		1000:       "1KB",
		1536 * MiB: "1536MiB",
		100 * MiB:  "100MiB",
		10 * MB:    "10MB",
		2 * GiB:    "2GiB",
		3 * TiB:    "3TiB",
		1_500_000:  "1500KB",
		-4 * KiB:   "-4KiB",
		1_024_000:  "1000KiB", // = 1024KB: the smaller number wins
	} {
		assert.Equal(t, want, in.String(), int64(in))
		if in >= 0 {
			back, err := ParseSize(in.String())
			require.NoError(t, err)
			assert.Equal(t, in, back, "round trip of %s", in)
		}
	}
	text, err := (2 * GiB).MarshalText()
	require.NoError(t, err)
	assert.Equal(t, "2GiB", string(text))
	assert.Equal(t, int64(2048), (2 * KiB).Bytes())
}

func TestSizeUnmarshalText(t *testing.T) {
	s := Size(7)
	require.NoError(t, s.UnmarshalText([]byte("1MiB")))
	assert.Equal(t, MiB, s)
	assert.Error(t, s.UnmarshalText([]byte("lots")))
	assert.Equal(t, MiB, s, "unchanged on error")
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"0":       0,
		"500ms":   500 * time.Millisecond,
		"5s":      5 * time.Second,
		"1h30m":   90 * time.Minute,
		" 2m ":    2 * time.Minute,
		"1.5s":    1500 * time.Millisecond,
		"-1s":     -time.Second,
		"100us":   100 * time.Microsecond,
		"24h0m0s": 24 * time.Hour,
	} {
		got, err := ParseDuration(in)
		require.NoError(t, err, in)
		assert.Equal(t, Duration(want), got, in)
	}
	for _, in := range []string{"5", "", "1d", "soon", "5 s"} {
		_, err := ParseDuration(in)
		assert.EqualError(t, err, `"`+in+`" is not a duration (use e.g. 500ms, 5s, 1h30m)`)
	}

	var d Duration
	require.NoError(t, d.UnmarshalText([]byte("1h30m")))
	assert.Equal(t, "1h30m0s", d.String())
	assert.Equal(t, 90*time.Minute, d.Std())
	text, err := d.MarshalText()
	require.NoError(t, err)
	back, err := ParseDuration(string(text))
	require.NoError(t, err)
	assert.Equal(t, d, back)
}

func TestEnums(t *testing.T) {
	var l LogLevel
	require.NoError(t, l.UnmarshalText([]byte("WARN")))
	assert.Equal(t, LogWarn, l, "case-insensitive, stored canonical")
	assert.EqualError(t, l.UnmarshalText([]byte("verbose")), `"verbose" is not one of debug, info, warn, error`)
	assert.Equal(t, slog.LevelWarn, l.Slog())
	assert.Equal(t, slog.LevelDebug, LogDebug.Slog())
	assert.Equal(t, slog.LevelError, LogError.Slog())
	assert.Equal(t, slog.LevelInfo, LogInfo.Slog())

	var f LogFormat
	assert.EqualError(t, f.UnmarshalText([]byte("xml")), `"xml" is not one of text, json`)
	var m FsyncMode
	require.NoError(t, m.UnmarshalText([]byte("never")))
	assert.Equal(t, FsyncNever, m)
	var w WhenFull
	assert.EqualError(t, w.UnmarshalText([]byte("drop")), `"drop" is not one of block, drop_oldest`)

	assert.NoError(t, OneOf(WhenFullDropOldest, whenFulls...))
	assert.EqualError(t, OneOf(WhenFull(""), whenFulls...), `"" is not one of block, drop_oldest`)
}

func TestModelValidateDirectly(t *testing.T) {
	// Validate works on structs built in code too, nested blocks included.
	d := DefaultDelivery()
	require.NoError(t, d.Validate())
	d.Batch.MaxEvents = 0
	d.Retry.Jitter = -0.1
	assert.EqualError(t, d.Validate(), "batch.max_events: must be at least 1, got 0\nretry.jitter: must be between 0 and 1, got -0.1")

	a := DefaultAgent()
	require.NoError(t, a.Validate())
	a.Log.Level = ""
	a.StateDir = ""
	assert.EqualError(t, a.Validate(), "state_dir: must not be empty\nlog.level: \"\" is not one of debug, info, warn, error")

	p := DefaultPipeline()
	p.Inputs, p.Outputs = []string{"in"}, []string{"out"}
	require.NoError(t, p.Validate())
	p.Buffer.Fsync = FsyncInterval
	p.Buffer.FsyncInterval = 0
	assert.EqualError(t, p.Validate(), "buffer.fsync_interval: must be positive with fsync: interval, got 0s")
}
