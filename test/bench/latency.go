package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/event/auditfields"
)

// LatencyResult is one steady-rate run.
type LatencyResult struct {
	Rate     float64 // events per second written
	Events   int
	Duration time.Duration // of the writing
	// Latency of each event: its arrival in the output file (seen by the
	// harness's tailer) minus its stageTimestamp (its write time).
	P50, P99, P999, Max time.Duration
	// CPUPercent is the agent's CPU time per wall-clock time over the steady
	// part of the run (after a 5 s warm-up), in % of one core.
	CPUPercent float64
	// IdleCPUPercent is the agent's CPU per wall-clock time while nothing
	// is written (RunOptions.Idle after the last event arrived and 5 s),
	// in % of one core; 0 without an idle phase.
	IdleCPUPercent float64
	Idle           time.Duration
	Usage          Usage
}

// RunLatency writes the first rate*dur events of w at a steady rate, in the
// agent's default configuration, and measures each event's latency.
func RunLatency(ctx context.Context, w *Workload, rate float64, dur time.Duration, o RunOptions) (res LatencyResult, err error) {
	o.defaults()
	n := int(rate * dur.Seconds())
	res = LatencyResult{Rate: rate, Events: n}
	d, err := newRunDirs(o.Dir)
	if err != nil {
		return res, err
	}
	if !o.Keep {
		defer os.RemoveAll(d.Root)
	}
	// One output file for the whole run: the tailer needs no rotation.
	p, err := o.launch(ctx, d, "4GiB")
	if err != nil {
		return res, err
	}
	defer func() {
		if err != nil {
			p.kill()
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	lat := make([]time.Duration, 0, n)
	tailed := make(chan error, 1)
	go func() { tailed <- tailOutput(ctx, d.OutFile(), n, func(l time.Duration) { lat = append(lat, l) }) }()

	const warmup = 5 * time.Second
	type sample struct {
		at  time.Time
		cpu time.Duration
	}
	warmed := make(chan sample, 1)
	warmTimer := time.AfterFunc(min(warmup, dur/4), func() {
		if c, err := p.cpuNow(); err == nil {
			warmed <- sample{time.Now(), c}
		}
	})
	defer warmTimer.Stop()
	lj := &lumberjack.Logger{Filename: d.AuditLog(), MaxSize: o.MaxSize, MaxBackups: 0}
	st, err := w.ReplayPaced(ctx, lj, rate, n, time.Millisecond)
	cpuEnd, cerr := p.cpuNow()
	endAt := time.Now()
	if err == nil {
		err = lj.Close()
	}
	if err != nil {
		return res, fmt.Errorf("paced replay: %w", err)
	}
	if cerr != nil {
		return res, cerr
	}
	res.Duration = st.Last.Sub(st.First)
	select {
	case warm := <-warmed:
		res.CPUPercent = 100 * (cpuEnd - warm.cpu).Seconds() / endAt.Sub(warm.at).Seconds()
	default:
	}
	o.Log("  writer done: %d events in %d writes, %.1fs", st.Events, st.Writes, res.Duration.Seconds())
	select {
	case err := <-tailed:
		if err != nil {
			return res, err
		}
	case <-time.After(time.Minute):
		cancel()
		<-tailed
		return res, fmt.Errorf("only %d of %d events reached the output a minute after the last write; log:\n%s", len(lat), n, p.logTail())
	}
	if o.Idle > 0 {
		// Let the last acknowledgements, cursor and checkpoint writes pass.
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(5 * time.Second):
		}
		c0, err := p.cpuNow()
		if err != nil {
			return res, err
		}
		t0 := time.Now()
		o.Log("  idle for %s", o.Idle)
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(o.Idle):
		}
		c1, err := p.cpuNow()
		if err != nil {
			return res, err
		}
		res.Idle = time.Since(t0)
		res.IdleCPUPercent = 100 * (c1 - c0).Seconds() / res.Idle.Seconds()
	}
	u, err := p.stop(time.Minute)
	if err != nil {
		return res, err
	}
	res.Usage = u
	slices.Sort(lat)
	q := func(f float64) time.Duration { return lat[min(len(lat)-1, int(f*float64(len(lat))))] }
	res.P50, res.P99, res.P999, res.Max = q(0.50), q(0.99), q(0.999), lat[len(lat)-1]
	return res, nil
}

// tailOutput follows the NDJSON file at path until it has seen want lines,
// calling found with each line's latency: the time its bytes were read
// minus its stageTimestamp. It polls every millisecond at the end of the
// file.
func tailOutput(ctx context.Context, path string, want int, found func(time.Duration)) error {
	var f *os.File
	for f == nil {
		var err error
		if f, err = os.Open(path); err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("open output: %w", err)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("output file never appeared: %w", ctx.Err())
			case <-time.After(time.Millisecond):
			}
		}
	}
	defer f.Close()
	buf := make([]byte, 8<<20)
	start, end, seen := 0, 0, 0
	var m event.Meta
	for seen < want {
		if end == len(buf) {
			if start == 0 {
				buf = append(buf, make([]byte, len(buf))...)
			} else {
				end = copy(buf, buf[start:end])
				start = 0
			}
		}
		k, err := f.Read(buf[end:])
		at := time.Now()
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read output: %w", err)
		}
		if k == 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("%d of %d events reached the output: %w", seen, want, ctx.Err())
			case <-time.After(time.Millisecond):
			}
			continue
		}
		end += k
		for {
			i := bytes.IndexByte(buf[start:end], '\n')
			if i < 0 {
				break
			}
			line := buf[start : start+i]
			start += i + 1
			if err := auditfields.Extract(line, &m); err != nil {
				return fmt.Errorf("output line %d: %w", seen+1, err)
			}
			ts, err := time.Parse(time.RFC3339Nano, string(m.StageTimestamp))
			if err != nil {
				return fmt.Errorf("output line %d: stageTimestamp: %w", seen+1, err)
			}
			found(at.Sub(ts))
			seen++
		}
	}
	return nil
}
