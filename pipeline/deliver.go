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

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/pipeline/buffer"
)

// DeliveryConfig is how one output is fed from its pipeline's buffer. Its
// defaults are config.DefaultDelivery's (the one place that holds them; an
// output type may change them on its factory), converted by
// DeliveryFromConfig.
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
	// MaxInterval caps the backoff and also a sink's Retry-After.
	MaxInterval time.Duration
	Multiplier  float64
	Jitter      float64       // 0.2 = ±20%
	MaxElapsed  time.Duration // 0: retry forever; else dead-letter the batch after this long
}

// DeliveryFromConfig converts the YAML delivery settings of an output.
func DeliveryFromConfig(d config.Delivery) DeliveryConfig {
	return DeliveryConfig{
		MaxEvents:   d.Batch.MaxEvents,
		MaxBytes:    int(d.Batch.MaxBytes),
		MaxWait:     d.Batch.MaxWait.Std(),
		MaxInFlight: d.MaxInFlight,
		Retry: RetryConfig{
			InitialInterval: d.Retry.InitialInterval.Std(),
			MaxInterval:     d.Retry.MaxInterval.Std(),
			Multiplier:      d.Retry.Multiplier,
			Jitter:          d.Retry.Jitter,
			MaxElapsed:      d.Retry.MaxElapsed.Std(),
		},
	}
}

// DefaultDeliveryConfig is config.DefaultDelivery as a DeliveryConfig: what
// ResolveDelivery fills into zero batch sizes, in-flight count and retry
// intervals.
func DefaultDeliveryConfig() DeliveryConfig {
	return DeliveryFromConfig(config.DefaultDelivery())
}

// ResolveDelivery returns c with its zero batch sizes, in-flight count and
// retry intervals set to the defaults, and its batch bounds clamped to what
// one request to the sink may carry. It is what the delivery loop runs with
// and what the output receives in Settings.Delivery.
func ResolveDelivery(c DeliveryConfig, l event.Limits) DeliveryConfig {
	def := DefaultDeliveryConfig()
	if c.MaxEvents <= 0 {
		c.MaxEvents = def.MaxEvents
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = def.MaxBytes
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = def.MaxInFlight
	}
	if c.Retry.InitialInterval <= 0 {
		c.Retry.InitialInterval = def.Retry.InitialInterval
	}
	if c.Retry.MaxInterval <= 0 {
		c.Retry.MaxInterval = def.Retry.MaxInterval
	}
	if c.Retry.Multiplier < 1 {
		c.Retry.Multiplier = def.Retry.Multiplier
	}
	if l.MaxEvents > 0 {
		c.MaxEvents = min(c.MaxEvents, l.MaxEvents)
	}
	if l.MaxBytes > 0 {
		c.MaxBytes = min(c.MaxBytes, max(1, l.MaxBytes-l.PerEventOverhead))
	}
	return c
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
	cfg            DeliveryConfig // resolved: defaults filled in, clamped to limits
	limits         event.Limits
	carry          []carried // read past the last batch's limits; owned by the reader
	dlq            DeadLetterWriter
	health         HealthReporter
	healthMu       sync.Mutex
	unready        bool      // reported unready to health
	unreadySince   time.Time // when it turned unready
	unreadyLogged  time.Time // when that was last logged
	log            *slog.Logger
	m              *outputMetrics
	sleep          func(ctx context.Context, d time.Duration) error

	// free holds the event slices of committed batches for the reader to
	// fill again (cleared: no stale event keeps a buffer block alive).
	free chan []event.Event
}

// pending is a batch on its way through the delivery loop.
type pending struct {
	seq    uint64
	events []event.Event
	bytes  int // sum of len(Raw)
	wire   int // bytes plus PerEventOverhead per event
	end    buffer.Position
	// deadLettered is set when an event of the batch was dead-lettered:
	// the dead-letter file is synced before the cursor passes it.
	deadLettered bool
}

// run delivers until readCtx ends (no new batches are started) and the
// batches in flight are done, or sendCtx ends (in-flight sends are
// abandoned; their events stay in the buffer for the next start). It
// returns early with an error when the cursor cannot be committed or a
// record cannot be decoded: the agent must stop rather than run on without
// making progress. Sends in flight are then abandoned at once (their
// events stay buffered), so a batch stuck in retries cannot hide the error.
//
// At most MaxInFlight+1 batches exist between the cursor's committed
// position and its read position (MaxInFlight being sent, one being
// filled), so a batch stuck in retries holds back the others instead of
// letting the reader run ahead, and a crash re-sends at most MaxInFlight
// batches.
func (d *delivery) run(readCtx, sendCtx context.Context) error {
	readCtx, stopReading := context.WithCancel(readCtx)
	defer stopReading()
	// A fatal error abandons the sends in flight (their batches stay
	// buffered): waiting for a batch stuck in retries would hide the error.
	sendCtx, abandonSends := context.WithCancel(sendCtx)
	defer abandonSends()
	fail := func() {
		stopReading()
		abandonSends()
	}
	jobs := make(chan *pending)
	done := make(chan *pending, d.cfg.MaxInFlight)
	d.free = make(chan []event.Event, d.cfg.MaxInFlight+1)
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
	go func() { commitErr <- d.commitInOrder(done, window, fail) }()

	readErr := d.read(readCtx, jobs, window)
	if readErr != nil && !errors.Is(readErr, context.Canceled) {
		abandonSends()
	}
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

// start starts the output, retrying with backoff while Start fails; the
// output is unready meanwhile. It returns false when readCtx or sendCtx
// ended before the output started (it is then not closed: a failed Start
// releases what it took).
func (d *delivery) start(readCtx, sendCtx context.Context) bool {
	ctx, cancel := context.WithCancel(sendCtx)
	defer cancel()
	defer context.AfterFunc(readCtx, cancel)()
	backoff := d.cfg.Retry.InitialInterval
	for attempt := 1; ; attempt++ {
		err := d.out.Start(ctx)
		if err == nil {
			d.markReady()
			if attempt > 1 {
				d.log.Info("output started", "output", d.name, "attempts", attempt)
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		wait := jitter(backoff, d.cfg.Retry.Jitter)
		d.markUnready(fmt.Errorf("start: %w", err), "output cannot start; retrying, events stay buffered",
			"attempt", attempt, "retry_in", wait.Round(time.Millisecond))
		if d.sleep(ctx, wait) != nil {
			return false
		}
		backoff = min(time.Duration(float64(backoff)*d.cfg.Retry.Multiplier), d.cfg.Retry.MaxInterval)
	}
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
// to fill up to MaxEvents / MaxBytes and the output's Limits. Records read
// past the Limits (each event's PerEventOverhead is only known to fit once
// the event is read) are carried over to the next batch.
func (d *delivery) nextBatch(ctx context.Context, seq uint64) (*pending, error) {
	p := &pending{seq: seq}
	select {
	case p.events = <-d.free:
	default:
	}
	if len(d.carry) > 0 {
		carry := d.carry
		d.carry = nil
		for i, c := range carry {
			if !d.fits(p, len(c.ev.Raw)) {
				d.carry = append(d.carry[:0:0], carry[i:]...)
				break
			}
			p.push(c.ev, c.end, d.limits.PerEventOverhead)
		}
	} else {
		recs, err := d.cur.Next(ctx, d.cfg.MaxEvents, d.cfg.MaxBytes)
		if err != nil {
			return nil, err
		}
		if err := d.add(p, recs); err != nil {
			return nil, err
		}
	}
	if !d.full(p) && d.cfg.MaxWait > 0 {
		waitCtx, cancel := context.WithTimeout(ctx, d.cfg.MaxWait)
		defer cancel()
		for !d.full(p) {
			recs, err := d.cur.Next(waitCtx, d.cfg.MaxEvents-len(p.events), d.cfg.MaxBytes-p.bytes)
			if err != nil {
				break // MaxWait elapsed or shutting down: send what we have
			}
			if err := d.add(p, recs); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

// carried is an event read from the cursor that did not fit its batch.
type carried struct {
	ev  event.Event
	end buffer.Position
}

// full reports whether p can take no more events.
func (d *delivery) full(p *pending) bool {
	return len(d.carry) > 0 || len(p.events) >= d.cfg.MaxEvents || p.bytes >= d.cfg.MaxBytes ||
		(d.limits.MaxBytes > 0 && p.wire >= d.limits.MaxBytes)
}

// fits reports whether an event of size raw bytes may join p: always when p
// is empty (a larger event goes alone), else within every bound.
func (d *delivery) fits(p *pending, raw int) bool {
	if len(p.events) == 0 {
		return true
	}
	if len(p.events) >= d.cfg.MaxEvents || p.bytes+raw > d.cfg.MaxBytes {
		return false
	}
	return d.limits.MaxBytes <= 0 || p.wire+raw+d.limits.PerEventOverhead <= d.limits.MaxBytes
}

// add decodes recs into p, carrying over the ones that do not fit. Each
// record is decoded in place, in the batch's next slot (no copy of the
// event on the hot path).
func (d *delivery) add(p *pending, recs []buffer.Record) error {
	p.events = slices.Grow(p.events, len(recs))
	for _, r := range recs {
		p.events = append(p.events, event.Event{})
		ev := &p.events[len(p.events)-1]
		if err := DecodeRecord(r.Data, ev); err != nil {
			// The record's CRC matched, so this is a bug or a format change,
			// not disk corruption: stop rather than skip events.
			return fmt.Errorf("decode buffer record ending at %d: %w", r.End, err)
		}
		p.events = p.events[:len(p.events)-1]
		if len(d.carry) > 0 || !d.fits(p, len(ev.Raw)) {
			d.carry = append(d.carry, carried{ev: *ev, end: r.End})
			continue
		}
		p.events = p.events[:len(p.events)+1] // the slot decoded into
		p.bytes += len(ev.Raw)
		p.wire += len(ev.Raw) + d.limits.PerEventOverhead
		p.end = r.End
	}
	return nil
}

// recycle hands the event slice of a committed batch back to the reader:
// one allocation of MaxEvents events per batch is most of what the
// delivery loop allocates. The output is done with the events (they are
// valid only until its Write returns).
func (d *delivery) recycle(q *pending) {
	ev := q.events[:cap(q.events)] // add may have decoded past len
	q.events = nil
	clear(ev)
	select {
	case d.free <- ev[:0]:
	default:
	}
}

func (p *pending) push(ev event.Event, end buffer.Position, overhead int) {
	p.events = append(p.events, ev)
	p.bytes += len(ev.Raw)
	p.wire += len(ev.Raw) + overhead
	p.end = end
}

// commitInOrder commits the cursor past each batch once it and every batch
// before it are done, freeing a slot of window per batch. After a failed
// commit it calls fail (which stops the reader and abandons the sends),
// commits nothing more and keeps draining done so the senders can finish.
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
			if q.deadLettered {
				if err := d.dlq.Sync(); err != nil {
					firstErr = fmt.Errorf("sync the dead-letter file before committing the cursor of output %s: %w", d.name, err)
					d.log.Error("cannot sync the dead-letter file; stopping this pipeline (events stay buffered)", "output", d.name, "error", err)
					fail()
					continue
				}
			}
			if err := d.cur.Commit(q.end); err != nil {
				firstErr = fmt.Errorf("commit cursor of output %s: %w", d.name, err)
				d.log.Error("cannot commit output cursor; stopping this pipeline (events stay buffered)", "output", d.name, "error", err)
				fail()
				continue
			}
			d.recycle(q)
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
			d.markReady()
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
					if d.deadLetter(p, ev, evErr) != nil {
						retry = append(retry, ev)
					}
				default:
					retry = append(retry, ev)
				}
			}
		case event.IsPermanent(err):
			for _, ev := range events {
				if d.deadLetter(p, ev, err) != nil {
					retry = append(retry, ev)
				}
			}
		default:
			retry = events
		}
		if len(retry) == 0 {
			return nil
		}
		// max_elapsed gives up on a sink that keeps failing, never on one
		// that refuses the agent's credentials: those events wait.
		if d.cfg.Retry.MaxElapsed > 0 && time.Since(start) >= d.cfg.Retry.MaxElapsed && !event.IsUnready(err) {
			reason := fmt.Errorf("gave up after %d attempts in %s: %w", attempt, time.Since(start).Round(time.Millisecond), err)
			var kept []event.Event
			for _, ev := range retry {
				if d.deadLetter(p, ev, reason) != nil {
					kept = append(kept, ev)
				}
			}
			if len(kept) == 0 {
				return nil
			}
			retry = kept
		}
		wait := jitter(backoff, d.cfg.Retry.Jitter)
		if after, ok := event.RetryAfter(err); ok {
			// A sink's Retry-After is honoured up to MaxInterval: a bogus
			// hour must not stall the output.
			wait = max(wait, min(after, d.cfg.Retry.MaxInterval))
		}
		if event.IsUnready(err) {
			d.markUnready(err, "output unready: the sink refuses the agent (credentials, permissions or its configuration); retrying, events stay buffered",
				"events", len(retry), "retry_in", wait.Round(time.Millisecond))
		} else {
			d.log.Warn("output write failed, retrying", "output", d.name, "attempt", attempt,
				"events", len(retry), "retry_in", wait.Round(time.Millisecond), "error", err)
		}
		d.m.retriedEvents.Add(float64(len(retry)))
		if err := d.sleep(ctx, wait); err != nil {
			return err
		}
		backoff = min(time.Duration(float64(backoff)*d.cfg.Retry.Multiplier), d.cfg.Retry.MaxInterval)
		events, bytes = retry, rawBytes(retry)
	}
}

// unreadyLogInterval is how often a still-unready output is logged again.
var unreadyLogInterval = time.Minute

// markUnready turns the output unready with err as the reason, logging
// msg when it turns so and then at most once per unreadyLogInterval.
func (d *delivery) markUnready(err error, msg string, args ...any) {
	d.health.Unready(err)
	d.healthMu.Lock()
	now := time.Now()
	logIt := !d.unready || now.Sub(d.unreadyLogged) >= unreadyLogInterval
	if !d.unready {
		d.unreadySince = now
	}
	d.unready = true
	if logIt {
		d.unreadyLogged = now
	}
	since := d.unreadySince
	d.healthMu.Unlock()
	if logIt {
		args = append([]any{"output", d.name, "unready_for", now.Sub(since).Round(time.Second)}, args...)
		d.log.Warn(msg, append(args, "error", err)...)
	}
}

// markReady turns the output ready (also when the output itself had
// reported it unready: a Write succeeded), logging it when the loop had
// turned it unready.
func (d *delivery) markReady() {
	d.health.Ready()
	d.healthMu.Lock()
	was := d.unready
	since := d.unreadySince
	d.unready = false
	d.healthMu.Unlock()
	if was {
		d.log.Info("output ready again", "output", d.name, "unready_for", time.Since(since).Round(time.Millisecond))
	}
}

// deadLetter records an event the sink rejected for good. When even that
// fails the event is kept for retry: losing it is not an option.
func (d *delivery) deadLetter(p *pending, ev event.Event, reason error) error {
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
	p.deadLettered = true
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
