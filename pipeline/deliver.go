package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/pipeline/buffer"
)

// DeliveryConfig is how one output is fed from its pipeline's buffer.
type DeliveryConfig struct {
	MaxEvents   int           // events per batch
	MaxBytes    int           // raw bytes per batch (a single larger event still goes alone)
	MaxWait     time.Duration // how long a batch waits to fill up before it is sent
	MaxInFlight int           // batches sent concurrently; the cursor still advances in order
	Retry       RetryConfig
}

// RetryConfig is a capped exponential backoff with jitter.
type RetryConfig struct {
	InitialInterval time.Duration
	MaxInterval     time.Duration
	Multiplier      float64
	Jitter          float64       // 0.2 = ±20%
	MaxElapsed      time.Duration // 0: retry forever; else dead-letter the batch after this long
}

// DefaultDeliveryConfig is the defaults New fills into a DeliveryConfig's
// zero batch sizes, in-flight count and retry intervals (config.Delivery
// documents the same values for the YAML).
func DefaultDeliveryConfig() DeliveryConfig {
	return DeliveryConfig{
		MaxEvents: 500, MaxBytes: 1 << 20, MaxWait: 200 * time.Millisecond, MaxInFlight: 1,
		Retry: RetryConfig{InitialInterval: 100 * time.Millisecond, MaxInterval: 30 * time.Second, Multiplier: 2, Jitter: 0.2},
	}
}

// cursor is the part of a buffer cursor the delivery loop uses.
type cursor interface {
	Next(ctx context.Context, maxRecords, maxBytes int) ([]buffer.Record, error)
	Commit(pos buffer.Position) error
}

// delivery feeds one output from its cursor: it builds batches, sends them
// with retries, dead-letters what the sink rejects for good and commits the
// cursor, in order, past every batch that is done.
type delivery struct {
	pipeline, name string
	out            event.Output
	cur            cursor
	cfg            DeliveryConfig
	dlq            DeadLetterWriter
	log            *slog.Logger
	m              *outputMetrics
	sleep          func(ctx context.Context, d time.Duration) error
}

// pending is a batch on its way through the delivery loop.
type pending struct {
	seq    uint64
	events []event.Event
	bytes  int
	end    buffer.Position
}

// run delivers until readCtx ends (no new batches are started) and the
// batches in flight are done, or sendCtx ends (in-flight sends are
// abandoned; their events stay in the buffer for the next start). It
// returns early with an error when the cursor cannot be committed or a
// record cannot be decoded: the agent must stop rather than run on without
// making progress.
//
// At most MaxInFlight+1 batches exist between the cursor's committed
// position and its read position (MaxInFlight being sent, one being
// filled), so a batch stuck in retries holds back the others instead of
// letting the reader run ahead, and a crash re-sends at most MaxInFlight
// batches.
func (d *delivery) run(readCtx, sendCtx context.Context) error {
	readCtx, stopReading := context.WithCancel(readCtx)
	defer stopReading()
	jobs := make(chan *pending)
	done := make(chan *pending, d.cfg.MaxInFlight)
	window := make(chan struct{}, d.cfg.MaxInFlight+1)
	var senders sync.WaitGroup
	for range d.cfg.MaxInFlight {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for p := range jobs {
				if err := d.send(sendCtx, p); err != nil {
					return // sendCtx ended; p stays uncommitted
				}
				done <- p
			}
		}()
	}
	commitErr := make(chan error, 1)
	go func() { commitErr <- d.commitInOrder(done, window, stopReading) }()

	readErr := d.read(readCtx, jobs, window)
	close(jobs)
	senders.Wait()
	close(done)
	if err := <-commitErr; err != nil {
		return err
	}
	if readErr != nil && !errors.Is(readErr, context.Canceled) {
		return readErr
	}
	return nil
}

// read turns buffer records into batches until ctx ends, taking a slot of
// window for each batch.
func (d *delivery) read(ctx context.Context, jobs chan<- *pending, window chan<- struct{}) error {
	var seq uint64
	for {
		select {
		case window <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		p, err := d.nextBatch(ctx, seq)
		if err != nil {
			return err
		}
		select {
		case jobs <- p:
			seq++
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// nextBatch waits for at least one record, then up to MaxWait for the batch
// to fill up to MaxEvents / MaxBytes.
func (d *delivery) nextBatch(ctx context.Context, seq uint64) (*pending, error) {
	p := &pending{seq: seq}
	recs, err := d.cur.Next(ctx, d.cfg.MaxEvents, d.cfg.MaxBytes)
	if err != nil {
		return nil, err
	}
	if err := p.add(recs); err != nil {
		return nil, err
	}
	if len(p.events) < d.cfg.MaxEvents && p.bytes < d.cfg.MaxBytes && d.cfg.MaxWait > 0 {
		waitCtx, cancel := context.WithTimeout(ctx, d.cfg.MaxWait)
		defer cancel()
		for len(p.events) < d.cfg.MaxEvents && p.bytes < d.cfg.MaxBytes {
			recs, err := d.cur.Next(waitCtx, d.cfg.MaxEvents-len(p.events), d.cfg.MaxBytes-p.bytes)
			if err != nil {
				break // MaxWait elapsed or shutting down: send what we have
			}
			if err := p.add(recs); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

func (p *pending) add(recs []buffer.Record) error {
	p.events = slices.Grow(p.events, len(recs))
	for _, r := range recs {
		p.events = append(p.events, event.Event{})
		if err := DecodeRecord(r.Data, &p.events[len(p.events)-1]); err != nil {
			// The record's CRC matched, so this is a bug or a format change,
			// not disk corruption: stop rather than skip events.
			return fmt.Errorf("decode buffer record ending at %d: %w", r.End, err)
		}
		p.bytes += len(p.events[len(p.events)-1].Raw)
		p.end = r.End
	}
	return nil
}

// commitInOrder commits the cursor past each batch once it and every batch
// before it are done, freeing a slot of window per batch. After a failed
// commit it calls fail (which stops the reader), commits nothing more and
// keeps draining done so the senders can finish.
func (d *delivery) commitInOrder(done <-chan *pending, window <-chan struct{}, fail func()) error {
	var next uint64
	waiting := map[uint64]*pending{}
	var firstErr error
	for p := range done {
		waiting[p.seq] = p
		for {
			q, ok := waiting[next]
			if !ok {
				break
			}
			delete(waiting, next)
			next++
			if firstErr != nil {
				continue
			}
			if err := d.cur.Commit(q.end); err != nil {
				firstErr = fmt.Errorf("commit cursor of output %s: %w", d.name, err)
				d.log.Error("cannot commit output cursor; stopping this pipeline (events stay buffered)", "output", d.name, "error", err)
				fail()
				continue
			}
			<-window
		}
	}
	return firstErr
}

// send delivers one batch: retryable failures are retried with backoff
// (only the events still failing), permanent ones are dead-lettered. It
// returns an error only when ctx ended before the batch was done.
func (d *delivery) send(ctx context.Context, p *pending) error {
	events, bytes := p.events, p.bytes
	start := time.Now()
	backoff := d.cfg.Retry.InitialInterval
	for attempt := 1; ; attempt++ {
		batch := &event.Batch{Events: events, Bytes: bytes}
		t0 := time.Now()
		err := d.out.Write(ctx, batch)
		d.m.sendSeconds.Observe(time.Since(t0).Seconds())
		if err == nil {
			d.m.sentEvents.Add(float64(len(events)))
			d.m.sentBytes.Add(float64(batch.Bytes))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d.m.failedBatches.Inc()
		var retry []event.Event
		var partial *event.PartialError
		switch {
		case errors.As(err, &partial):
			for i, ev := range events {
				evErr, failed := partial.Failed[i]
				switch {
				case !failed:
					d.m.sentEvents.Inc()
					d.m.sentBytes.Add(float64(len(ev.Raw)))
				case event.IsPermanent(evErr):
					if d.deadLetter(ev, evErr) != nil {
						retry = append(retry, ev)
					}
				default:
					retry = append(retry, ev)
				}
			}
		case event.IsPermanent(err):
			for _, ev := range events {
				if d.deadLetter(ev, err) != nil {
					retry = append(retry, ev)
				}
			}
		default:
			retry = events
		}
		if len(retry) == 0 {
			return nil
		}
		if d.cfg.Retry.MaxElapsed > 0 && time.Since(start) >= d.cfg.Retry.MaxElapsed {
			reason := fmt.Errorf("gave up after %d attempts in %s: %w", attempt, time.Since(start).Round(time.Millisecond), err)
			var kept []event.Event
			for _, ev := range retry {
				if d.deadLetter(ev, reason) != nil {
					kept = append(kept, ev)
				}
			}
			if len(kept) == 0 {
				return nil
			}
			retry = kept
		}
		wait := jitter(backoff, d.cfg.Retry.Jitter)
		if after, ok := event.RetryAfter(err); ok && after > wait {
			wait = after
		}
		d.log.Warn("output write failed, retrying", "output", d.name, "attempt", attempt,
			"events", len(retry), "retry_in", wait.Round(time.Millisecond), "error", err)
		d.m.retriedEvents.Add(float64(len(retry)))
		if err := d.sleep(ctx, wait); err != nil {
			return err
		}
		backoff = min(time.Duration(float64(backoff)*d.cfg.Retry.Multiplier), d.cfg.Retry.MaxInterval)
		events, bytes = retry, rawBytes(retry)
	}
}

// deadLetter records an event the sink rejected for good. When even that
// fails the event is kept for retry: losing it is not an option.
func (d *delivery) deadLetter(ev event.Event, reason error) error {
	err := d.dlq.WriteDeadLetter(DeadLetter{
		Component: "output/" + d.name,
		Reason:    reason.Error(),
		Source:    "pipeline/" + d.pipeline,
		Raw:       ev.Raw,
	})
	if err != nil {
		d.log.Error("event rejected by output and dead-letter write failed; keeping it for retry",
			"output", d.name, "auditID", string(ev.AuditID), "stage", string(ev.Stage),
			"reason", reason, "error", err)
		return err
	}
	d.m.deadLettered.Inc()
	return nil
}

func rawBytes(events []event.Event) int {
	n := 0
	for i := range events {
		n += len(events[i].Raw)
	}
	return n
}

func jitter(d time.Duration, j float64) time.Duration {
	if j <= 0 {
		return d
	}
	return time.Duration(float64(d) * (1 - j + 2*j*rand.Float64()))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
