package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/pipeline/buffer"
)

// Pipeline is one configured pipeline: the processors its events pass
// through, its disk buffer, and one delivery loop per output.
type Pipeline struct {
	name         string
	processors   []*processorStage
	buf          *buffer.Buffer
	deliveries   []*delivery
	dlq          DeadLetterWriter
	closeTimeout time.Duration
	log          *slog.Logger

	mu         sync.Mutex // serialises writes from several inputs
	procState  procState
	procEvents Events
	// deadLettered is set when this Write dead-lettered an event: the
	// dead-letter file is synced before the buffer append.
	deadLettered bool
	arena        []byte
	starts       []int
	records      [][]byte
}

// NamedOutput is an output with its name and delivery settings.
type NamedOutput struct {
	Name   string
	Output event.Output
	// Delivery is resolved by ResolveDelivery (zero fields take the
	// defaults, batch bounds are clamped to Limits).
	Delivery DeliveryConfig
	// Limits are what one Write may carry (the output factory's Limits).
	Limits event.Limits
	// Health is where the delivery loop reports the output unready (Start
	// failing, Unready errors) and ready again; nil reports nowhere.
	Health HealthReporter
}

// Config is what New needs to build a pipeline.
type Config struct {
	Name       string
	Processors []NamedProcessor
	Outputs    []NamedOutput
	Buffer     buffer.Options // Cursors is filled in from Outputs
	DeadLetter DeadLetterWriter
	Logger     *slog.Logger
	Metrics    prometheus.Registerer
	// CloseTimeout bounds each output's Close; 0 is DefaultCloseTimeout.
	CloseTimeout time.Duration
}

// New opens the pipeline's buffer (recovering it after a crash) and prepares
// one delivery loop per output. Nothing runs until Run.
func New(cfg Config) (*Pipeline, error) {
	if len(cfg.Outputs) == 0 {
		return nil, fmt.Errorf("pipeline %s: no outputs", cfg.Name)
	}
	bopts := cfg.Buffer
	bopts.Cursors = nil
	for _, o := range cfg.Outputs {
		bopts.Cursors = append(bopts.Cursors, o.Name)
	}
	bopts.Logger = cfg.Logger
	bopts.Metrics = cfg.Metrics
	bopts.MetricLabels = prometheus.Labels{"pipeline": cfg.Name}
	buf, err := buffer.Open(bopts)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: open buffer: %w", cfg.Name, err)
	}
	p := &Pipeline{name: cfg.Name, buf: buf, dlq: cfg.DeadLetter, log: cfg.Logger,
		closeTimeout: cmp.Or(cfg.CloseTimeout, DefaultCloseTimeout)}
	for _, np := range cfg.Processors {
		m, err := newProcessorMetrics(cfg.Metrics, cfg.Name, np.Name)
		if err != nil {
			buf.Close()
			return nil, fmt.Errorf("pipeline %s: metrics of processor %s: %w", cfg.Name, np.Name, err)
		}
		p.processors = append(p.processors, &processorStage{NamedProcessor: np, m: m})
	}
	for _, o := range cfg.Outputs {
		cur, err := buf.Cursor(o.Name)
		if err != nil {
			buf.Close()
			return nil, fmt.Errorf("pipeline %s: cursor of output %s: %w", cfg.Name, o.Name, err)
		}
		m, err := newOutputMetrics(cfg.Metrics, cfg.Name, o.Name)
		if err != nil {
			buf.Close()
			return nil, fmt.Errorf("pipeline %s: metrics of output %s: %w", cfg.Name, o.Name, err)
		}
		health := o.Health
		if health == nil {
			health = nopHealth{}
		}
		p.deliveries = append(p.deliveries, &delivery{
			pipeline: cfg.Name, name: o.Name, out: o.Output, cur: cur,
			cfg: ResolveDelivery(o.Delivery, o.Limits), limits: o.Limits, health: health,
			dlq: cfg.DeadLetter, log: cfg.Logger, m: m, sleep: sleepCtx,
		})
	}
	return p, nil
}

// maxKeptArena is the largest record arena kept between writes; inputs hand
// over batches of about 1MiB.
const maxKeptArena = 4 << 20

// Write implements EventSink for one pipeline: processors, then one append
// to the buffer. durable fires when the buffer made the append durable.
func (p *Pipeline) Write(ctx context.Context, events []event.Event, durable func()) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.processors) > 0 {
		var err error
		if events, err = p.process(ctx, events); err != nil {
			return err
		}
	}
	// Encode every event into one arena, then slice it: the arena may move
	// while it grows, so the slices are taken at the end.
	p.arena, p.starts, p.records = p.arena[:0], p.starts[:0], p.records[:0]
	for i := range events {
		p.starts = append(p.starts, len(p.arena))
		p.arena = AppendRecord(p.arena, &events[i])
	}
	p.starts = append(p.starts, len(p.arena))
	for i := range events {
		rec := p.arena[p.starts[i]:p.starts[i+1]]
		if len(rec) > p.buf.MaxRecordBytes() {
			if err := p.rejectOversized(&events[i], len(rec)); err != nil {
				return err
			}
			continue
		}
		p.records = append(p.records, rec)
	}
	if p.deadLettered {
		// durable lets the input commit past the events dead-lettered
		// here: they must be on disk first.
		if err := p.dlq.Sync(); err != nil {
			return fmt.Errorf("pipeline %s: sync the dead-letter file: %w", p.name, err)
		}
		p.deadLettered = false
	}
	err := p.buf.Append(ctx, p.records, durable)
	if cap(p.arena) > maxKeptArena {
		p.arena = nil // a very large event passed: don't keep its size
	}
	if err != nil {
		return fmt.Errorf("pipeline %s: append to buffer: %w", p.name, err)
	}
	return nil
}

// rejectOversized dead-letters an event too large for the buffer (a
// buffer much smaller than the input's max_line_bytes): keeping it would
// fail every append after it.
func (p *Pipeline) rejectOversized(ev *event.Event, size int) error {
	reason := fmt.Sprintf("event of %d bytes exceeds the buffer's record limit of %d bytes (raise buffer.segment_bytes; the buffer caps it at a quarter of buffer.max_bytes)", size, p.buf.MaxRecordBytes())
	err := p.dlq.WriteDeadLetter(DeadLetter{Component: "pipeline/" + p.name, Reason: reason, Raw: ev.Raw})
	if err != nil {
		return fmt.Errorf("pipeline %s: dead-letter an oversized event: %w", p.name, err)
	}
	p.log.Warn("event too large for the buffer, dead-lettered", "auditID", string(ev.AuditID), "bytes", size)
	p.deadLettered = true
	return nil
}

// DefaultCloseTimeout bounds an output's Close when Config.CloseTimeout is
// zero. It is below the agent's wait for hung components, so a flush on
// shutdown can finish and still be waited for.
const DefaultCloseTimeout = 3 * time.Second

// Run delivers to every output until readCtx ends and in-flight batches
// finish, or sendCtx ends. Each output is started by its delivery loop:
// while Start fails the output is unready and Start is retried with
// backoff (a sink down at boot never stops the agent). An output that
// started is closed at the end with a context of its own, bounded by
// CloseTimeout (so a flush on shutdown can work even when sendCtx ended).
// Then Run closes the buffer.
func (p *Pipeline) Run(readCtx, sendCtx context.Context) error {
	p.mu.Lock()
	err := p.startProcessors(sendCtx)
	p.mu.Unlock()
	if err != nil {
		_ = p.closeProcessors()
		_ = p.buf.Close()
		return err
	}
	// One output failing for good (its cursor cannot be committed) stops
	// the whole pipeline at once, so that the agent stops and says so: the
	// other outputs stop reading and abandon their sends in flight (their
	// events stay buffered) instead of retrying while nobody commits.
	readCtx, stopReading := context.WithCancel(readCtx)
	defer stopReading()
	sendCtx, abandonSends := context.WithCancel(sendCtx)
	defer abandonSends()
	var wg sync.WaitGroup
	var errs []error
	errc := make(chan error, 2*len(p.deliveries))
	for _, d := range p.deliveries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !d.start(readCtx, sendCtx) {
				return // shut down before the output ever started
			}
			if err := d.run(readCtx, sendCtx); err != nil {
				errc <- fmt.Errorf("output %s: %w", d.name, err)
				stopReading()
				abandonSends()
			}
			closeCtx, cancel := context.WithTimeout(context.WithoutCancel(sendCtx), p.closeTimeout)
			defer cancel()
			if err := d.out.Close(closeCtx); err != nil {
				errc <- fmt.Errorf("close output %s: %w", d.name, err)
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		errs = append(errs, err)
	}
	if err := p.closeProcessors(); err != nil {
		errs = append(errs, err)
	}
	if err := p.buf.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close buffer: %w", err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("pipeline %s: %w", p.name, errors.Join(errs...))
	}
	return nil
}

// Fanout returns the EventSink an input writes to when it feeds several
// pipelines: every pipeline gets every event, and durable fires once all of
// them made the events durable.
func Fanout(pipelines ...EventSink) EventSink {
	if len(pipelines) == 1 {
		return pipelines[0]
	}
	return fanout(pipelines)
}

type fanout []EventSink

func (f fanout) Write(ctx context.Context, events []event.Event, durable func()) error {
	var all func()
	if durable != nil {
		left := atomic.Int32{}
		left.Store(int32(len(f)))
		all = func() {
			if left.Add(-1) == 0 {
				durable()
			}
		}
	}
	for _, p := range f {
		if err := p.Write(ctx, events, all); err != nil {
			return err
		}
	}
	return nil
}

// Close releases the buffer of a pipeline that will not Run (Run closes it
// itself).
func (p *Pipeline) Close() error {
	return errors.Join(p.closeProcessors(), p.buf.Close())
}
