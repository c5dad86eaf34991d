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
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/inputs"
	_ "github.com/kubetrail/kubetrail/inputs/all" // built-in inputs, as in cmd/agent
	"github.com/kubetrail/kubetrail/outputs"
	_ "github.com/kubetrail/kubetrail/outputs/all" // built-in outputs, as in cmd/agent
	"github.com/kubetrail/kubetrail/pipeline"
	"github.com/kubetrail/kubetrail/pipeline/buffer"
	"github.com/kubetrail/kubetrail/pipeline/deadletter"
	"github.com/kubetrail/kubetrail/pipeline/processors"
)

// HarnessLabel is the value of the pprof label "role" on the harness's
// goroutines in an in-process run (the one playing the apiserver, workload
// generation in the benchmark): `go tool pprof -tagignore role=harness`
// leaves them out.
const HarnessLabel = "harness"

// components shows the config loader every registered component type, like
// cmd/agent's registries.
func components() config.Factories {
	f := config.Factories{config.KindInput: {}, config.KindProcessor: {}, config.KindOutput: {}}
	for _, t := range inputs.Types() {
		fac, _ := inputs.Lookup(t)
		f[config.KindInput][t] = fac.NewConfig
	}
	for _, t := range processors.Types() {
		fac, _ := processors.Lookup(t)
		f[config.KindProcessor][t] = fac.NewConfig
	}
	for _, t := range outputs.Types() {
		fac, _ := outputs.Lookup(t)
		f[config.KindOutput][t] = fac.NewConfig
	}
	return f
}

// counted wraps an output and counts the events it acknowledged.
type counted struct {
	pipeline.Output
	events atomic.Int64
}

func (c *counted) Write(ctx context.Context, b *pipeline.Batch) error {
	err := c.Output.Write(ctx, b)
	if err == nil {
		c.events.Add(int64(len(b.Events)))
	}
	return err
}

// inProcess is the benchmark configuration built in this process the way
// cmd/agent builds it (cmd/agent is package main and cannot be imported):
// the auditlog input, a pipeline with its disk buffer and the file output,
// metrics registered on a registry nobody scrapes.
type inProcess struct {
	in   inputs.Input
	p    *pipeline.Pipeline
	out  *counted
	dlq  *deadletter.Writer
	dirs RunDirs
}

func buildInProcess(d RunDirs, logw io.Writer) (*inProcess, error) {
	file := filepath.Join(d.Root, "agent.yaml")
	text := agentConfig(d, "", "100MiB", "")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		return nil, fmt.Errorf("write config: %w", err)
	}
	cfg, err := config.Parse(file, []byte(text), components())
	if err != nil {
		return nil, fmt.Errorf("benchmark config: %w", err)
	}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelInfo}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	dl := cfg.Agent.DeadLetter
	dlq, err := deadletter.New(deadletter.Options{
		Path: dl.Path, MaxSizeMB: int(max(1, int64(dl.MaxSize)>>20)), MaxBackups: dl.MaxBackups,
		Compress: dl.Compress, Metrics: reg,
	})
	if err != nil {
		return nil, fmt.Errorf("dead-letter file: %w", err)
	}
	settings := func(kind, name string) pipeline.Settings {
		return pipeline.Settings{Name: name, StateDir: cfg.Agent.StateDir, DeadLetter: dlq, Metrics: reg, Logger: log.With(kind, name)}
	}
	const pname, iname, oname = "audit", "apiserver", "local"
	pc := cfg.Pipelines[pname]
	oc := cfg.Outputs[oname]
	ofac, _ := outputs.Lookup(oc.Type)
	out, err := ofac.New(oc.Config, settings("output", oname))
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	co := &counted{Output: out}
	dc := oc.Delivery
	b := pc.Buffer
	p, err := pipeline.New(pipeline.Config{
		Name: pname, DeadLetter: dlq, Logger: log.With("pipeline", pname), Metrics: reg,
		Outputs: []pipeline.NamedOutput{{Name: oname, Output: co, Delivery: pipeline.DeliveryConfig{
			MaxEvents: dc.Batch.MaxEvents, MaxBytes: int(dc.Batch.MaxBytes), MaxWait: dc.Batch.MaxWait.Std(),
			MaxInFlight: dc.MaxInFlight,
			Retry: pipeline.RetryConfig{
				InitialInterval: dc.Retry.InitialInterval.Std(), MaxInterval: dc.Retry.MaxInterval.Std(),
				Multiplier: dc.Retry.Multiplier, Jitter: dc.Retry.Jitter, MaxElapsed: dc.Retry.MaxElapsed.Std(),
			},
		}}},
		Buffer: buffer.Options{
			Dir:      filepath.Join(cfg.Agent.StateDir, "buffers", pname),
			MaxBytes: int64(b.MaxBytes), SegmentBytes: int64(b.SegmentBytes),
			Fsync: buffer.FsyncPolicy(b.Fsync), FsyncInterval: b.FsyncInterval.Std(),
			WhenFull: buffer.FullPolicy(b.WhenFull),
		},
	})
	if err != nil {
		dlq.Close()
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	ic := cfg.Inputs[iname]
	ifac, _ := inputs.Lookup(ic.Type)
	in, err := ifac.New(ic.Config, settings("input", iname))
	if err != nil {
		p.Close()
		dlq.Close()
		return nil, fmt.Errorf("input: %w", err)
	}
	return &inProcess{in: in, p: p, out: co, dlq: dlq, dirs: d}, nil
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
	inCtx, stopInput := context.WithCancel(ctx)
	defer stopInput()
	readCtx, stopReading := context.WithCancel(context.Background())
	defer stopReading()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := a.p.Run(readCtx, context.Background()); err != nil {
			errs <- fmt.Errorf("pipeline: %w", err)
		}
	}()
	inDone := make(chan struct{})
	go func() {
		defer wg.Done()
		defer close(inDone)
		if err := a.in.Run(inCtx, a.p); err != nil {
			errs <- fmt.Errorf("input: %w", err)
		}
	}()
	stop := func() error {
		stopInput()
		<-inDone
		stopReading()
		wg.Wait()
		close(errs)
		var all []error
		for err := range errs {
			all = append(all, err)
		}
		if err := a.dlq.Close(); err != nil {
			all = append(all, err)
		}
		return errors.Join(all...)
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
	for a.out.events.Load() < int64(len(w.Events)) {
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
