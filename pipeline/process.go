package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubetrail/kubetrail/event"
)

// processorStage is one processor of a pipeline with its counters.
type processorStage struct {
	NamedProcessor
	m *processorMetrics
}

// procState is where a pipeline's processors are in their life; guarded by
// Pipeline.mu.
type procState uint8

const (
	procsNew procState = iota
	procsStarted
	procsClosed
)

// errPipelineClosed is returned by a Write after the pipeline's processors
// were closed.
var errPipelineClosed = errors.New("pipeline closed")

// startProcessors starts the processors once, from the first Write or Run.
// The caller holds p.mu.
func (p *Pipeline) startProcessors(ctx context.Context) error {
	switch p.procState {
	case procsStarted:
		return nil
	case procsClosed:
		return fmt.Errorf("pipeline %s: %w", p.name, errPipelineClosed)
	}
	for i, st := range p.processors {
		if err := st.Processor.Start(ctx); err != nil {
			p.closeProcessorsLocked(p.processors[:i])
			return fmt.Errorf("pipeline %s: start processor %s: %w", p.name, st.Name, err)
		}
	}
	p.procState = procsStarted
	return nil
}

// closeProcessors closes the processors (if they started) once; later
// Writes fail.
func (p *Pipeline) closeProcessors() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	started := p.procState == procsStarted
	p.procState = procsClosed
	if !started {
		return nil
	}
	return p.closeProcessorsLocked(p.processors)
}

func (p *Pipeline) closeProcessorsLocked(stages []*processorStage) error {
	var errs []error
	for _, st := range stages {
		ctx, cancel := context.WithTimeout(context.Background(), p.closeTimeout)
		if err := st.Processor.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close processor %s: %w", st.Name, err))
		}
		cancel()
	}
	return errors.Join(errs...)
}

// process runs events through the processors, dead-lettering the events
// they give up on. It never changes the caller's slice. The caller holds
// p.mu.
func (p *Pipeline) process(ctx context.Context, in []event.Event) ([]event.Event, error) {
	if err := p.startProcessors(ctx); err != nil {
		return nil, err
	}
	evs := &p.procEvents
	evs.reset(in)
	for _, st := range p.processors {
		if evs.Len() == 0 {
			break
		}
		if err := st.Processor.Process(ctx, evs); err != nil {
			return nil, fmt.Errorf("pipeline %s: processor %s: %w", p.name, st.Name, err)
		}
		if evs.decided == 0 {
			continue
		}
		for i, v := range evs.verdicts {
			switch v {
			case Drop:
				st.m.dropped.Inc()
			case DeadLettered:
				ev := &evs.evs[i]
				err := p.dlq.WriteDeadLetter(DeadLetter{
					Component: "processor/" + st.Name, Reason: evs.reasons[i].Error(),
					Source: "pipeline/" + p.name, Raw: ev.Raw,
				})
				if err != nil {
					// Losing the event is not an option: fail the write,
					// the input will not commit past it.
					return nil, fmt.Errorf("pipeline %s: processor %s: dead-letter an event: %w", p.name, st.Name, err)
				}
				st.m.deadLettered.Inc()
				p.deadLettered = true
				p.log.Warn("event dead-lettered by processor", "processor", st.Name,
					"auditID", string(ev.AuditID), "stage", string(ev.Stage), "reason", evs.reasons[i])
			}
		}
		evs.compact()
	}
	return evs.evs, nil
}

// processorMetrics are one processor's verdict counters.
type processorMetrics struct {
	dropped      prometheus.Counter
	deadLettered prometheus.Counter
}

func newProcessorMetrics(reg prometheus.Registerer, pipeline, name string) (*processorMetrics, error) {
	labels := prometheus.Labels{"pipeline": pipeline, "processor": name}
	m := &processorMetrics{
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "kubetrail_processor_dropped_events_total",
			Help: "Events a processor dropped on purpose (a filter).", ConstLabels: labels}),
		deadLettered: prometheus.NewCounter(prometheus.CounterOpts{Name: "kubetrail_processor_dead_letter_events_total",
			Help: "Events a processor gave up on, written to the dead-letter file.", ConstLabels: labels}),
	}
	for _, c := range []*prometheus.Counter{&m.dropped, &m.deadLettered} {
		got, err := registerOrReuse(reg, *c)
		if err != nil {
			return nil, err
		}
		*c = got.(prometheus.Counter)
	}
	return m, nil
}
