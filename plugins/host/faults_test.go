package host_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/pipeline"
	"github.com/kubetrail/kubetrail/plugins/host"
)

// A plugin that stops answering (SIGSTOP: alive, connection open, no
// reply) is killed after write_timeout and restarted; its batch is retried.
func TestGoPluginHangs(t *testing.T) {
	sink := t.TempDir()
	cfg := goConfig(t, sink, nil)
	cfg.WriteTimeout = config.Duration(2 * time.Second)
	r := newRig(t, cfg, fast)
	evs := corpus(t, 1000)
	file := filepath.Join(sink, outName+".ndjson")
	r.feed(evs[:500])
	require.Eventually(t, func() bool { return len(lines(t, file)) >= 500 }, time.Minute, time.Millisecond)
	pid := r.out.PID()
	require.NotZero(t, pid)
	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	t0 := time.Now()
	r.feed(evs[500:])
	r.waitAccounted(func() map[string]int { return lines(t, file) }, evs, nil)
	assert.GreaterOrEqual(t, time.Since(t0), cfg.WriteTimeout.Std(), "delivery waited for the timeout")
	assert.NotEqual(t, pid, r.out.PID(), "a new process serves")
	assert.GreaterOrEqual(t, r.restarts(), float64(1))
	assert.Contains(t, r.logs.String(), "did not answer Write within write_timeout")
	// The stopped process was killed, not left behind.
	require.Eventually(t, func() bool { return syscall.Kill(pid, 0) != nil }, 10*time.Second, 10*time.Millisecond, "hung plugin %d still exists", pid)
}

// Permanent per-event verdicts dead-letter exactly those events with the
// plugin's reason; the others are delivered.
func TestGoPluginPermanentVerdicts(t *testing.T) {
	sink := t.TempDir()
	const limit = 3000
	r := newRig(t, goConfig(t, sink, map[string]any{"max_event_bytes": limit, "oversize": "dead_letter"}), fast)
	evs := corpus(t, 1500)
	big := 0
	for _, ev := range evs {
		if len(ev.Raw) > limit {
			big++
		}
	}
	require.NotZero(t, big)
	require.Less(t, big, len(evs))
	r.feed(evs)
	r.waitAccounted(func() map[string]int { return lines(t, filepath.Join(sink, outName+".ndjson")) },
		evs, func(ev event.Event) bool { return len(ev.Raw) > limit })
	for _, e := range r.dlq.Entries() {
		assert.Equal(t, "output/"+outName, e.Component)
		assert.Contains(t, e.Reason, "exceeds max_event_bytes 3000 (oversize: dead_letter)")
		assert.Contains(t, e.Reason, "plugin "+outName+": ", "the reason says it came from the plugin")
	}
	assert.Len(t, r.dlq.Entries(), big)
	assert.Zero(t, r.restarts(), "verdicts are not faults")
}

// The plugin's log lines land in the agent's log, with the output's name,
// the plugin's and their own attributes.
func TestGoPluginLogsForwarded(t *testing.T) {
	sink := t.TempDir()
	r := newRig(t, goConfig(t, sink, nil), fast)
	r.feed(corpus(t, 10))
	want := fmt.Sprintf(`level=INFO msg=configured output=%s plugin=kubetrail-ndjson-dir file=%s`, outName, filepath.Join(sink, outName+".ndjson"))
	require.Eventually(t, func() bool { return strings.Contains(r.logs.String(), want) }, 20*time.Second, 10*time.Millisecond, "log:\n%s", r.logs.String())
}

func sum(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	require.NoError(t, err)
	return hex.EncodeToString(h.Sum(nil))
}

func settings() pipeline.Settings {
	return pipeline.Settings{Name: outName, Logger: slog.New(slog.DiscardHandler), Metrics: prometheus.NewRegistry()}
}

// A binary whose SHA-256 is not the configured one is refused before
// anything runs, with a message naming the file and both sums.
func TestWrongChecksumRefusesToStart(t *testing.T) {
	cfg := goConfig(t, t.TempDir(), nil)
	got := sum(t, cfg.Path)
	cfg.SHA256 = strings.Repeat("ab", 32)
	_, err := host.New(cfg, settings())
	require.Error(t, err)
	var ce *host.ChecksumError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "plugin "+cfg.Path+" has sha256 "+got+" but the configuration expects "+cfg.SHA256+
		": refusing to run it (replace the binary, or update sha256 if the new one is trusted)", err.Error())

	// The right sum runs, and a binary swapped after the agent started is
	// refused at the next (re)start, as unready, with the same message.
	dir := t.TempDir()
	bin := filepath.Join(dir, "plugin")
	copyFile(t, cfg.Path, bin)
	cfg.Path, cfg.SHA256 = bin, got
	out, err := host.New(cfg, settings())
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, out.Start(ctx))
	pid := out.PID()
	// Replaced as a package upgrade does: a new file renamed over it.
	require.NoError(t, os.WriteFile(bin+".new", []byte("#!/bin/sh\necho 1|1|tcp|127.0.0.1:1|grpc\n"), 0o755))
	require.NoError(t, os.Rename(bin+".new", bin))
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	var werr error
	require.Eventually(t, func() bool {
		werr = out.Write(ctx, &event.Batch{Events: corpus(t, 1)})
		return event.IsUnready(werr)
	}, 20*time.Second, 20*time.Millisecond, "last: %v", werr)
	assert.ErrorAs(t, werr, &ce)
	assert.Contains(t, werr.Error(), "plugin "+bin+" has sha256 ")
	require.NoError(t, out.Close(ctx))
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, b, 0o755))
}

// A plugin that cannot start (binary missing, configuration rejected)
// makes the output unready, with the reason, and comes up once fixed.
func TestPluginThatCannotStartIsUnready(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bin := filepath.Join(dir, "plugin")
	sink := t.TempDir()
	cfg := goConfig(t, sink, nil)
	real := cfg.Path
	cfg.Path = bin
	cfg.RestartInitialInterval = 1e6 // 1ms

	out, err := host.New(cfg, settings())
	require.NoError(t, err, "a missing binary is not a configuration error")
	err = out.Start(ctx)
	require.True(t, event.IsUnready(err), "got %v", err)
	assert.Contains(t, err.Error(), bin)

	// Installed, but its configuration is rejected.
	copyFile(t, real, bin)
	delete(cfg.Config, "dir")
	out, err = host.New(cfg, settings())
	require.NoError(t, err)
	err = out.Start(ctx)
	require.True(t, event.IsUnready(err), "got %v", err)
	assert.Contains(t, err.Error(), "rejected its configuration: dir is required (InvalidArgument)")

	// Fixed: the next attempt starts it and delivers.
	cfg.Config["dir"] = sink
	out, err = host.New(cfg, settings())
	require.NoError(t, err)
	require.NoError(t, out.Start(ctx))
	evs := corpus(t, 5)
	require.NoError(t, out.Write(ctx, &event.Batch{Events: evs}))
	require.NoError(t, out.Close(ctx))
	assert.Len(t, lines(t, filepath.Join(sink, outName+".ndjson")), 5)
}

// In a running pipeline, a plugin that is not installed yet keeps the
// output unready (with the reason) while events wait in the buffer; once
// installed, it starts and everything is delivered.
func TestMissingPluginLeavesOutputUnreadyUntilInstalled(t *testing.T) {
	sink := t.TempDir()
	cfg := goConfig(t, sink, nil)
	real := cfg.Path
	cfg.Path = filepath.Join(t.TempDir(), "not-yet-installed")
	r := newRig(t, cfg, fast)
	evs := corpus(t, 300)
	r.feed(evs)
	require.Eventually(t, func() bool {
		_, seen := r.health.state()
		return len(seen) > 0
	}, 20*time.Second, 10*time.Millisecond)
	ready, seen := r.health.state()
	assert.False(t, ready)
	assert.Contains(t, seen[0], cfg.Path)
	assert.Empty(t, lines(t, filepath.Join(sink, outName+".ndjson")))

	copyFile(t, real, cfg.Path+".tmp")
	require.NoError(t, os.Rename(cfg.Path+".tmp", cfg.Path))
	r.waitAccounted(func() map[string]int { return lines(t, filepath.Join(sink, outName+".ndjson")) }, evs, nil)
	require.Eventually(t, func() bool { ready, _ := r.health.state(); return ready }, 10*time.Second, 10*time.Millisecond)
}

// Close after the plugin died on its own is not an error: it acknowledged
// nothing it had not stored.
func TestCloseAfterPluginDied(t *testing.T) {
	ctx := context.Background()
	out, err := host.New(goConfig(t, t.TempDir(), nil), settings())
	require.NoError(t, err)
	require.NoError(t, out.Start(ctx))
	pid := out.PID()
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	require.Eventually(t, func() bool { return syscall.Kill(pid, 0) != nil }, 5*time.Second, time.Millisecond)
	assert.NoError(t, out.Close(ctx))
}
