package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/kubetrail/kubetrail/cmd/agent/app"
	"github.com/kubetrail/kubetrail/config"
)

// HarnessLabel is the value of the pprof label "role" on the harness's
// goroutines in an in-process run (the one playing the apiserver, workload
// generation in the benchmark): `go tool pprof -tagignore role=harness`
// leaves them out.
const HarnessLabel = "harness"

// buildInProcess builds the benchmark configuration in this process with
// the agent's own wiring (cmd/agent/app): the auditlog input, a pipeline
// with its disk buffer and the file output.
func buildInProcess(d RunDirs, logw io.Writer) (*app.Agent, error) {
	file := filepath.Join(d.Root, "agent.yaml")
	text := agentConfig(d, "", "100MiB", "", "")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		return nil, fmt.Errorf("write config: %w", err)
	}
	cfg, err := config.Parse(file, []byte(text), app.Registries{})
	if err != nil {
		return nil, fmt.Errorf("benchmark config: %w", err)
	}
	return app.Build(cfg, slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelInfo})))
}

// delivered reads metricSent from the agent's
// registry.
func delivered(reg prometheus.Gatherer) (int64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == metricSent {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return int64(n), nil
}

// InProcessResult is one in-process run. CPU is the whole process's,
// the writer goroutine (which plays the apiserver) included.
type InProcessResult struct {
	Bytes  int64
	Events int
	Wall   time.Duration
	CPU    time.Duration
}

// InProcessOptions configure RunInProcess.
type InProcessOptions struct {
	Dir string    // the run's directory (emptied first, removed after)
	Log io.Writer // the components' logs; nil discards them
	// Delivered, if set, is called once every event was delivered, before
	// the components stop (e.g. to write a heap profile while the agent's
	// buffers are still live).
	Delivered func()
}

// RunInProcess runs the benchmark configuration in this process (for CPU
// and memory profiles): it replays w through lumberjack as fast as possible
// from a goroutine labelled role=harness and returns once the file output
// acknowledged every event and the pipeline stopped.
func RunInProcess(ctx context.Context, w *Workload, o InProcessOptions) (res InProcessResult, err error) {
	res = InProcessResult{Bytes: w.Bytes, Events: len(w.Events)}
	if o.Log == nil {
		o.Log = io.Discard
	}
	d, err := newRunDirs(o.Dir)
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(d.Root)
	a, err := buildInProcess(d, o.Log)
	if err != nil {
		return res, err
	}
	cpu0 := selfCPU()
	runCtx, stopAgent := context.WithCancel(ctx)
	defer stopAgent()
	ran := make(chan error, 1)
	go func() { ran <- a.Run(runCtx, time.Minute) }()
	stop := func() error {
		stopAgent()
		return <-ran
	}
	for {
		if _, err := os.Stat(d.Checkpoint()); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return res, errors.Join(ctx.Err(), stop())
		case <-time.After(5 * time.Millisecond):
		}
	}
	wrote := make(chan error, 1)
	start := time.Now()
	go pprof.Do(ctx, pprof.Labels("role", HarnessLabel), func(ctx context.Context) {
		lj := &lumberjack.Logger{Filename: d.AuditLog(), MaxSize: 100, MaxBackups: 0}
		_, err := w.Replay(ctx, lj, DefaultChunk, 100<<20)
		if cerr := lj.Close(); err == nil {
			err = cerr
		}
		wrote <- err
	})
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := delivered(a.Metrics())
		if err != nil {
			return res, errors.Join(err, stop())
		}
		if n >= int64(len(w.Events)) {
			break
		}
		select {
		case err := <-wrote:
			if err != nil {
				return res, errors.Join(fmt.Errorf("replay: %w", err), stop())
			}
		case <-ctx.Done():
			return res, errors.Join(ctx.Err(), stop())
		case <-tick.C:
		}
	}
	res.Wall = time.Since(start)
	if o.Delivered != nil {
		o.Delivered()
	}
	if err := stop(); err != nil {
		return res, err
	}
	res.CPU = selfCPU() - cpu0
	return res, nil
}

// selfCPU is this process's user+system time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
