// Package app turns a loaded configuration into a running agent: it builds
// the inputs, processors, pipelines and outputs through their registries,
// serves /metrics, /healthz and /readyz, and runs everything until a clean
// shutdown or a failure. cmd/agent is its command line; benchmarks run it in
// process.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/inputs"
	"github.com/kubetrail/kubetrail/outputs"
	"github.com/kubetrail/kubetrail/pipeline"
	"github.com/kubetrail/kubetrail/pipeline/buffer"
	"github.com/kubetrail/kubetrail/pipeline/deadletter"
	"github.com/kubetrail/kubetrail/pipeline/processors"
)

// ConfigError is a configuration a component refused while being built:
// the command exits 2, as for a load error.
type ConfigError struct{ error }

func (e ConfigError) Unwrap() error { return e.error }

// Agent is everything Build makes from a configuration.
type Agent struct {
	log       *slog.Logger
	metrics   *prometheus.Registry
	dlq       *deadletter.Writer
	pipelines map[string]*pipeline.Pipeline
	inputs    map[string]inputs.Input
	sinks     map[string]pipeline.EventSink
	ready     *readiness
	health    *pipeline.Health
}

// Run builds the agent, logging to logw, and runs it until ctx ends (clean
// shutdown, nil) or a component fails (error).
func Run(ctx context.Context, cfg *config.Config, logw io.Writer, version string) error {
	log := NewLogger(cfg.Agent.Log, logw)
	a, err := Build(cfg, log)
	if err != nil {
		return err
	}
	srv, err := serveHTTP(cfg.Agent.HTTPListen, a.metrics, a.ready, log)
	if err != nil {
		a.Close()
		return err
	}
	defer srv.Close()
	limit, from := setMemoryLimit(cfg)
	log.Info("kubetrail agent started", "version", version, "config", cfg.File,
		"pipelines", len(a.pipelines), "inputs", len(a.inputs), "http", cfg.Agent.HTTPListen,
		"memory_limit_mib", limit>>20, "memory_limit_from", from)
	if n := releaseStartupPages(); n > 0 {
		log.Debug("released the executable's startup pages", "mapped_mib", n>>20)
	}
	err = a.Run(ctx, cfg.Agent.ShutdownTimeout.Std())
	if err != nil {
		log.Error("agent stopped on error", "error", err)
		return err
	}
	log.Info("kubetrail agent stopped cleanly")
	return nil
}

// Soft memory limit of the Go runtime when GOMEMLIMIT is not set:
// memoryLimitBase plus, for each pipeline, twice the longest event its
// inputs accept (an input configuration's MaxEventBytes: max_line_bytes for
// the audit log), at least memoryLimitLine: 40 MiB for the default
// configuration. The steady heap is a few MiB; what grows it is a long
// line held in a handful of places while it passes (the input's line
// buffer, the pipeline's arena, the buffer's write buffer and read window,
// the batch, the output's encoder), and with GOGC=100 the heap then doubles
// before the next collection (67-89 MiB peak RSS with the bench's 3.9 MiB
// lines without a limit). Under the limit the collector runs earlier
// instead. It is soft: a heap that needs more gets more (the runtime caps
// the collector's share of the CPU), it only costs GC work, which is why it
// grows with max_line_bytes. It does not count the executable's resident
// pages (about 13 MiB while running, see releaseStartupPages): peak RSS is
// about 56 MiB with biglines. GOMEMLIMIT (e.g. GOMEMLIMIT=200MiB, or off)
// overrides.
const (
	memoryLimitBase = 32 << 20
	memoryLimitLine = 4 << 20
)

// eventSizer is an input configuration that bounds the size of one event.
type eventSizer interface {
	MaxEventBytes() int64
}

// defaultMemoryLimit is the soft memory limit for cfg when GOMEMLIMIT is
// not set.
func defaultMemoryLimit(cfg *config.Config) int64 {
	limit := int64(memoryLimitBase)
	for _, p := range cfg.Pipelines {
		line := int64(memoryLimitLine)
		for _, name := range p.Inputs {
			if s, ok := cfg.Inputs[name].Config.(eventSizer); ok {
				line = max(line, s.MaxEventBytes())
			}
		}
		limit += 2 * line
	}
	if len(cfg.Pipelines) == 0 {
		limit += 2 * memoryLimitLine
	}
	return limit
}

// setMemoryLimit applies the default soft memory limit unless GOMEMLIMIT is
// set, and returns the limit in force and where it comes from.
func setMemoryLimit(cfg *config.Config) (int64, string) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1), "GOMEMLIMIT"
	}
	limit := defaultMemoryLimit(cfg)
	debug.SetMemoryLimit(limit)
	return limit, "default"
}

// NewLogger returns the agent's logger as configured in agent.log.
func NewLogger(c config.Log, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.Level.Slog()}
	if c.Format == "json" {
		// slog's JSON handler prints durations as integer nanoseconds
		// ("grace":25000000000); print them as Go duration strings, as
		// the text handler and the configuration do.
		opts.ReplaceAttr = func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindDuration {
				a.Value = slog.StringValue(a.Value.Duration().String())
			}
			return a
		}
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Build makes every component of cfg, opening (and recovering) the
// pipelines' buffers. Nothing runs until Run; Close releases what Build
// opened when Run is not called.
func Build(cfg *config.Config, log *slog.Logger) (_ *Agent, err error) {
	a := &Agent{
		log:       log,
		metrics:   prometheus.NewRegistry(),
		pipelines: map[string]*pipeline.Pipeline{},
		inputs:    map[string]inputs.Input{},
		sinks:     map[string]pipeline.EventSink{},
		health:    &pipeline.Health{},
	}
	a.ready = &readiness{health: a.health}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	a.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newReadyCollector(a.health))
	stateDir := cfg.Agent.StateDir
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state_dir %s: %w", stateDir, err)
	}
	dl := cfg.Agent.DeadLetter
	a.dlq, err = deadletter.New(deadletter.Options{
		Path: dl.Path, MaxSizeMB: int(max(1, int64(dl.MaxSize)>>20)), MaxBackups: dl.MaxBackups,
		Compress: dl.Compress, Metrics: a.metrics,
	})
	if err != nil {
		return nil, err
	}
	// settings labels a component's metrics with its pipeline and name
	// (inputs, which may feed several pipelines, label themselves).
	settings := func(kind, pname, name string) pipeline.Settings {
		var reg prometheus.Registerer = a.metrics
		component := kind + "/" + name
		if pname != "" {
			reg = prometheus.WrapRegistererWith(prometheus.Labels{"pipeline": pname, kind: name}, reg)
			component = "pipeline/" + pname + "/" + component
		}
		return pipeline.Settings{
			Name: name, Pipeline: pname, StateDir: stateDir, DeadLetter: a.dlq, Metrics: reg,
			Logger: log.With(kind, name), Health: a.health.Component(component),
		}
	}
	readers := map[string][]pipeline.EventSink{} // input name -> pipelines reading it
	for _, pname := range sortedKeys(cfg.Pipelines) {
		pc := cfg.Pipelines[pname]
		pcfg := pipeline.Config{Name: pname, DeadLetter: a.dlq, Logger: log.With("pipeline", pname), Metrics: a.metrics}
		for _, name := range pc.Processors {
			c := cfg.Processors[name]
			f, _ := processors.Lookup(c.Type)
			proc, err := f.New(c.Config, settings("processor", pname, name))
			if err != nil {
				return nil, ConfigError{fmt.Errorf("%s:%d: processors.%s: %w", cfg.File, c.Line, name, err)}
			}
			pcfg.Processors = append(pcfg.Processors, pipeline.NamedProcessor{Name: name, Processor: proc})
		}
		for _, name := range pc.Outputs {
			c := cfg.Outputs[name]
			f, _ := outputs.Lookup(c.Type)
			set := settings("output", pname, name)
			set.Delivery = pipeline.ResolveDelivery(pipeline.DeliveryFromConfig(c.Delivery), f.Limits)
			out, err := f.New(c.Config, set)
			if err != nil {
				return nil, ConfigError{fmt.Errorf("%s:%d: outputs.%s: %w", cfg.File, c.Line, name, err)}
			}
			pcfg.Outputs = append(pcfg.Outputs, pipeline.NamedOutput{
				Name: name, Output: out, Delivery: set.Delivery, Limits: f.Limits, Health: set.Health,
			})
		}
		b := pc.Buffer
		pcfg.Buffer = buffer.Options{
			Dir:           filepath.Join(stateDir, "buffers", pname),
			MaxBytes:      int64(b.MaxBytes),
			SegmentBytes:  int64(b.SegmentBytes),
			Fsync:         buffer.FsyncPolicy(b.Fsync),
			FsyncInterval: b.FsyncInterval.Std(),
			WhenFull:      buffer.FullPolicy(b.WhenFull),
		}
		p, err := pipeline.New(pcfg)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: pipelines.%s: %w", cfg.File, pc.Line, pname, err)
		}
		a.pipelines[pname] = p
		for _, in := range pc.Inputs {
			readers[in] = append(readers[in], p)
		}
	}
	for name, sinks := range readers {
		c := cfg.Inputs[name]
		f, _ := inputs.Lookup(c.Type)
		in, err := f.New(c.Config, settings("input", "", name))
		if err != nil {
			return nil, ConfigError{fmt.Errorf("%s:%d: inputs.%s: %w", cfg.File, c.Line, name, err)}
		}
		a.inputs[name] = in
		a.sinks[name] = pipeline.Fanout(sinks...)
	}
	return a, nil
}

// hungComponentWait is how long shutdown waits past the grace period for
// components that ignore cancellation before giving up on them.
const hungComponentWait = 5 * time.Second

// Run runs inputs and pipelines until ctx ends or a component fails.
// Shutdown order: inputs stop (their last
// durable positions committed), then the delivery loops stop taking new
// batches and finish the ones in flight, within grace.
func (a *Agent) Run(ctx context.Context, grace time.Duration) error {
	failed := make(chan error, len(a.inputs)+len(a.pipelines))
	inputCtx, stopInputs := context.WithCancel(ctx)
	defer stopInputs()
	readCtx, stopReading := context.WithCancel(context.Background())
	defer stopReading()
	sendCtx, abandonSends := context.WithCancel(context.Background())
	defer abandonSends()

	var pipes, ins sync.WaitGroup
	for name, p := range a.pipelines {
		pipes.Add(1)
		go func() {
			defer pipes.Done()
			if err := p.Run(readCtx, sendCtx); err != nil {
				failed <- err
			} else if readCtx.Err() == nil {
				failed <- fmt.Errorf("pipeline %s stopped unexpectedly", name)
			}
		}()
	}
	for name, in := range a.inputs {
		ins.Add(1)
		go func() {
			defer ins.Done()
			if err := in.Run(inputCtx, a.sinks[name]); err != nil {
				failed <- fmt.Errorf("input %s: %w", name, err)
			} else if inputCtx.Err() == nil {
				failed <- fmt.Errorf("input %s stopped unexpectedly", name)
			}
		}()
	}
	a.ready.set(true)

	var runErr error
	select {
	case <-ctx.Done():
		a.log.Info("shutting down", "grace", grace)
	case runErr = <-failed:
		a.log.Error("component failed, shutting down", "error", runErr)
	}
	a.ready.set(false)
	deadline := time.AfterFunc(grace, func() {
		a.log.Warn("shutdown grace period over, abandoning in-flight batches (they stay buffered)")
		stopReading()
		abandonSends()
	})
	defer deadline.Stop()
	stopInputs()
	stopped := make(chan struct{})
	go func() {
		ins.Wait()
		stopReading()
		pipes.Wait()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(grace + hungComponentWait):
		// An output blocked in a write that ignores its context (a pipe
		// nobody reads, a hung NFS mount). Everything committed is on disk
		// and the rest stays buffered: exit rather than hang.
		return errors.Join(runErr, fmt.Errorf("components still running %s after the shutdown grace period; exiting anyway (undelivered events stay buffered)", hungComponentWait))
	}
	close(failed)
	errs := []error{runErr}
	for err := range failed {
		errs = append(errs, err)
	}
	if err := a.dlq.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close dead-letter file: %w", err))
	}
	return errors.Join(errs...)
}

// Metrics is the registry every component registers on (what /metrics
// serves).
func (a *Agent) Metrics() *prometheus.Registry { return a.metrics }

// Close releases what Build opened, for an agent that will not Run.
func (a *Agent) Close() {
	for _, p := range a.pipelines {
		_ = p.Close()
	}
	if a.dlq != nil {
		_ = a.dlq.Close()
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
