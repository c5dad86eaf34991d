package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"
)

// Metric names the harness reads from the agent.
const (
	metricSent = "kubetrail_output_sent_events_total"
	// metricProcessorDropped counts events processors dropped on purpose.
	metricProcessorDropped = "kubetrail_processor_dropped_events_total"
	metricDeadLetter       = "kubetrail_dead_letter_events_total"
)

// RunOptions configure one run of the agent binary.
type RunOptions struct {
	Agent   string // the agent binary
	Dir     string // the run's directory (emptied first)
	Keep    bool   // keep the run's files afterwards
	Chunk   int    // bytes per replay write; default DefaultChunk
	MaxSize int    // lumberjack MaxSize (MiB) of the audit log; default 100, like --audit-log-maxsize
	// PipelineYAML is appended to the pipeline's configuration, indented by
	// four spaces (experiments only; the benchmark uses the defaults).
	PipelineYAML string
	// OutputYAML, when set, replaces the file output by this output (the
	// YAML flow mapping of its settings); "%RUN%" in it becomes a token
	// unique to the run (e.g. a Kafka topic name). The run is complete when
	// the sent-events metric counts every event.
	OutputYAML string
	lastPoll   time.Time // of the sent-events metric, with OutputYAML
	lastSent   int64
	// AgentEnv is added to the agent's environment.
	AgentEnv []string
	// CPUProfile, if set, is passed to the agent as -cpuprofile: its pprof
	// CPU profile from start to exit.
	CPUProfile string
	// Prefault bytes are written and deleted right before the agent starts
	// (see Prefault), so that its page-cache writes land on warm memory;
	// negative: 3x the workload (what a run writes: audit log, disk buffer,
	// output).
	Prefault int64
	// Settle is slept before the run, after the previous run's files are
	// gone: with Prefault 0, a way to measure on memory a VM's host took
	// back.
	Settle time.Duration
	// Perf, if set, is where `perf record -g` writes a profile of the agent
	// process over the run (needs perf; for kernel-side detail pprof lacks).
	Perf string
	// Idle, in a latency run, is how long the agent is watched after every
	// event arrived (and a 5 s pause): its CPU then is the idle cost
	// (LatencyResult.IdleCPUPercent). 0: no idle phase.
	Idle time.Duration
	// Timeout bounds the whole run once the agent is ready (default 10m).
	Timeout time.Duration
	// Log, if set, receives progress lines.
	Log func(format string, args ...any)
}

func (o *RunOptions) defaults() {
	if o.Chunk <= 0 {
		o.Chunk = DefaultChunk
	}
	if o.MaxSize <= 0 {
		o.MaxSize = 100
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
}

// Result is one throughput run.
type Result struct {
	Mix        Mix
	Bytes      int64
	Events     int
	Wall       time.Duration // first write to the last event delivered
	WriterWall time.Duration // first to last write
	Usage      Usage         // the agent process, start to exit
	DeadLetter float64       // events the agent dead-lettered (should be 0)
}

// GiB is the input size in GiB.
func (r Result) GiB() float64 { return float64(r.Bytes) / (1 << 30) }

// CPUPerGiB is agent CPU-seconds per GiB of input.
func (r Result) CPUPerGiB() float64 { return r.Usage.CPU().Seconds() / r.GiB() }

// MiBps is input MiB per wall-clock second.
func (r Result) MiBps() float64 { return float64(r.Bytes) / (1 << 20) / r.Wall.Seconds() }

// EventsPerSec is events per wall-clock second.
func (r Result) EventsPerSec() float64 { return float64(r.Events) / r.Wall.Seconds() }

// EventsPerCPUSec is events per agent CPU-second.
func (r Result) EventsPerCPUSec() float64 { return float64(r.Events) / r.Usage.CPU().Seconds() }

// RSSMiB is the agent's peak RSS in MiB.
func (r Result) RSSMiB() float64 { return float64(r.Usage.MaxRSS) / (1 << 20) }

// RunThroughput starts the agent on an empty audit directory, replays w
// through lumberjack as fast as possible, waits until the file output holds
// every event, stops the agent with SIGTERM and reports.
func RunThroughput(ctx context.Context, w *Workload, o RunOptions) (res Result, err error) {
	o.defaults()
	res = Result{Mix: w.Mix, Bytes: w.Bytes, Events: len(w.Events)}
	d, err := newRunDirs(o.Dir)
	if err != nil {
		return res, err
	}
	if !o.Keep {
		defer os.RemoveAll(d.Root)
	}
	// Let the previous run's dirty pages reach the disk before measuring.
	syscall.Sync()
	time.Sleep(o.Settle)
	if o.Prefault < 0 {
		o.Prefault = 3 * w.Bytes
	}
	if err := Prefault(d.Root, o.Prefault); err != nil {
		return res, err
	}
	p, err := o.launch(ctx, d, "100MiB")
	if err != nil {
		return res, err
	}
	defer func() {
		if err != nil {
			p.kill()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if o.Perf != "" {
		stopPerf, err := startPerf(p.cmd.Process.Pid, o.Perf)
		if err != nil {
			return res, err
		}
		defer stopPerf()
	}

	lj := &lumberjack.Logger{Filename: d.AuditLog(), MaxSize: o.MaxSize, MaxBackups: 0}
	type replayed struct {
		st  ReplayStats
		err error
	}
	wrote := make(chan replayed, 1)
	go func() {
		st, err := w.Replay(ctx, lj, o.Chunk, int64(o.MaxSize)<<20)
		if cerr := lj.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close audit log: %w", cerr)
		}
		wrote <- replayed{st, err}
	}()

	first := time.Now() // replaced by the first write's time
	var writer *replayed
	var end time.Time
	lastBytes, lastProgress := int64(-1), time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for end.IsZero() {
		select {
		case r := <-wrote:
			if r.err != nil {
				return res, fmt.Errorf("replay: %w", r.err)
			}
			writer = &r
			first = r.st.First
			o.Log("  writer done: %d events in %d writes, %.1fs", r.st.Events, r.st.Writes, r.st.Last.Sub(r.st.First).Seconds())
			continue
		case <-ctx.Done():
			return res, fmt.Errorf("run: %w; log:\n%s", ctx.Err(), p.logTail())
		case <-p.done:
			return res, fmt.Errorf("agent exited during the run (%v); log:\n%s", p.err, p.logTail())
		case <-tick.C:
		}
		n, err := o.progress(p, d)
		if err != nil {
			return res, err
		}
		now := time.Now()
		if n != lastBytes {
			lastBytes, lastProgress = n, now
		} else if now.Sub(lastProgress) > 2*time.Minute {
			return res, fmt.Errorf("no progress for 2m: output holds %d of %d bytes; log:\n%s", n, w.Bytes, p.logTail())
		}
		if o.OutputYAML == "" && n < w.Bytes || o.OutputYAML != "" && n < int64(len(w.Events)) {
			continue
		}
		m, err := p.metrics(metricSent, metricDeadLetter, metricProcessorDropped)
		if err != nil {
			return res, err
		}
		// A processor that drops events (filter, audit_policy) completes
		// the run with fewer sent.
		if int(m[metricSent]+m[metricProcessorDropped]) >= len(w.Events) {
			end = now
			res.DeadLetter = m[metricDeadLetter]
		}
	}
	if writer == nil {
		r := <-wrote
		if r.err != nil {
			return res, fmt.Errorf("replay: %w", r.err)
		}
		writer = &r
		first = r.st.First
	}
	res.Wall = end.Sub(first)
	res.WriterWall = writer.st.Last.Sub(writer.st.First)
	u, err := p.stop(time.Minute)
	if err != nil {
		return res, err
	}
	res.Usage = u
	if n, _ := outputBytes(d.Out); o.OutputYAML == "" && n != w.Bytes {
		return res, fmt.Errorf("output holds %d bytes, input had %d (duplicates or losses)", n, w.Bytes)
	}
	return res, nil
}

// progress is what the run watches for progress: the file output's bytes,
// or the sent-events metric of another output. The metric is read at most
// every 250ms: serving /metrics (with the process collector and gzip) every
// 10ms cost the agent about 1 CPU-s/GiB, which would be charged to the
// output (completion is then known within 250ms).
func (o *RunOptions) progress(p *agentProc, d RunDirs) (int64, error) {
	if o.OutputYAML == "" {
		return outputBytes(d.Out)
	}
	if time.Since(o.lastPoll) < 250*time.Millisecond {
		return o.lastSent, nil
	}
	m, err := p.metrics(metricSent, metricProcessorDropped)
	if err != nil {
		return 0, err
	}
	// Events a processor dropped on purpose are done too.
	o.lastPoll, o.lastSent = time.Now(), int64(m[metricSent]+m[metricProcessorDropped])
	return o.lastSent, nil
}

// startPerf attaches `perf record -g` to pid; the returned function stops it
// and waits for it to write its file.
func startPerf(pid int, file string) (func(), error) {
	cmd := exec.Command("perf", "record", "-F", "999", "-g", "-p", strconv.Itoa(pid), "-o", file)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start perf (is it installed?): %w", err)
	}
	time.Sleep(200 * time.Millisecond) // let it attach before the replay starts
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}, nil
}

func (o *RunOptions) agentArgs() []string {
	if o.CPUProfile == "" {
		return nil
	}
	return []string{"-cpuprofile", o.CPUProfile}
}

// launch starts the agent on d (its file output rotating at outMaxSize)
// and waits until it is ready, killing it if it does not get there.
func (o *RunOptions) launch(ctx context.Context, d RunDirs, outMaxSize string) (*agentProc, error) {
	output := strings.ReplaceAll(o.OutputYAML, "%RUN%", strconv.FormatInt(time.Now().UnixNano(), 36))
	p, err := startAgent(o.Agent, d, outMaxSize, o.PipelineYAML, output, o.AgentEnv, o.agentArgs())
	if err != nil {
		return nil, err
	}
	if err := p.waitReady(ctx, time.Minute); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}
