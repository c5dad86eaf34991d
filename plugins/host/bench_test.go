package host_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs/file"
	"github.com/kubetrail/kubetrail/plugins/host"
)

// BenchmarkNDJSONFile compares the Go example plugin (ndjson-dir, fsync
// off) with the built-in file output doing the same work (each event's raw
// JSON as a line appended to a local file), fed the same batches of real
// audit events (the delivery defaults: up to 500 events or 1 MiB). It
// reports events/s and CPU-seconds per GiB of events: the agent's own
// (this process) and, for the plugin, the plugin process's.
//
//	go test -run '^$' -bench NDJSONFile -benchtime 2000x ./plugins/host/
func BenchmarkNDJSONFile(b *testing.B) {
	batches := benchBatches(b)
	b.Run("builtin-file", func(b *testing.B) {
		cfg := &file.Config{Path: filepath.Join(b.TempDir(), "out.ndjson"), MaxSize: 1 << 40, MaxBackups: 1}
		benchOutput(b, file.New(cfg), batches, nil)
	})
	b.Run("plugin-ndjson-dir", func(b *testing.B) {
		out, err := host.New(&host.Config{
			Path:                   buildGoExample(b),
			Config:                 map[string]any{"dir": b.TempDir(), "fsync": false},
			StartTimeout:           config.Duration(30 * time.Second),
			WriteTimeout:           config.Duration(time.Minute),
			RestartInitialInterval: config.Duration(time.Second),
			RestartMaxInterval:     config.Duration(time.Second),
		}, settings())
		if err != nil {
			b.Fatal(err)
		}
		benchOutput(b, out, batches, out.PID)
	})
}

func benchBatches(b *testing.B) []*event.Batch {
	evs := corpus(b, 6000)
	var batches []*event.Batch
	cur := &event.Batch{}
	for _, ev := range evs {
		if len(cur.Events) == 500 || (cur.Bytes+len(ev.Raw) > 1<<20 && len(cur.Events) > 0) {
			batches = append(batches, cur)
			cur = &event.Batch{}
		}
		cur.Events = append(cur.Events, ev)
		cur.Bytes += len(ev.Raw)
	}
	return append(batches, cur)
}

func benchOutput(b *testing.B, out event.Output, batches []*event.Batch, pid func() int) {
	ctx := context.Background()
	if err := out.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer out.Close(ctx)
	var child int
	if pid != nil {
		child = pid()
	}
	// One untimed round warms up both sides (page cache, plugin's heap).
	for _, bt := range batches {
		if err := out.Write(ctx, bt); err != nil {
			b.Fatal(err)
		}
	}
	self0, child0 := cpuSelf(), cpuOf(child)
	events, bytes := 0, 0
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		bt := batches[i%len(batches)]
		if err := out.Write(ctx, bt); err != nil {
			b.Fatal(err)
		}
		events += len(bt.Events)
		bytes += bt.Bytes
	}
	elapsed := time.Since(start)
	b.StopTimer()
	gib := float64(bytes) / (1 << 30)
	b.ReportMetric(float64(events)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(bytes)/(1<<20)/elapsed.Seconds(), "MiB/s")
	b.ReportMetric((cpuSelf()-self0).Seconds()/gib, "agent-CPU-s/GiB")
	if child != 0 {
		b.ReportMetric((cpuOf(child)-child0).Seconds()/gib, "plugin-CPU-s/GiB")
	}
}

func cpuSelf() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuOf is a process's user+system time from /proc (clock ticks of 10ms).
func cpuOf(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	// after "(comm)": state ppid ... utime is field 14, stime 15 of stat
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
