package pipeline

import (
	"slices"
	"sync"
	"time"
)

// HealthReporter is how a component says whether it can do its work. The
// delivery loop reports for each output (unready while Start fails or the
// sink returns event.Unready errors, ready after the next success); a
// component may report for itself too, on the reporter in its Settings.
// Safe for concurrent use.
type HealthReporter interface {
	// Ready reports that the component works.
	Ready()
	// Unready reports that it cannot work, and why. /readyz shows the
	// reason: it must not contain a secret.
	Unready(reason error)
}

type nopHealth struct{}

func (nopHealth) Ready()        {}
func (nopHealth) Unready(error) {}

// Health collects the health of every component of an agent, for /readyz.
// The zero value is ready to use.
type Health struct {
	mu    sync.Mutex
	comps []*ComponentHealth
}

// Component returns the reporter of the component named name (e.g.
// "output/siem"), registering it as ready.
func (h *Health) Component(name string) *ComponentHealth {
	c := &ComponentHealth{name: name, ready: true}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.comps = append(h.comps, c)
	return c
}

// ComponentStatus is one component's health at a point in time.
type ComponentStatus struct {
	Name   string
	Ready  bool
	Reason string    // why it is unready; empty when ready
	Since  time.Time // when it last changed state
}

// Status returns every component's health, sorted by name, and whether all
// of them are ready.
func (h *Health) Status() (ready bool, comps []ComponentStatus) {
	h.mu.Lock()
	all := slices.Clone(h.comps)
	h.mu.Unlock()
	ready = true
	for _, c := range all {
		st := c.status()
		ready = ready && st.Ready
		comps = append(comps, st)
	}
	slices.SortFunc(comps, func(a, b ComponentStatus) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return ready, comps
}

// ComponentHealth is one component's HealthReporter.
type ComponentHealth struct {
	name   string
	mu     sync.Mutex
	ready  bool
	reason string
	since  time.Time
}

var _ HealthReporter = (*ComponentHealth)(nil)

// Ready implements HealthReporter.
func (c *ComponentHealth) Ready() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ready {
		c.ready, c.reason, c.since = true, "", time.Now()
	}
}

// Unready implements HealthReporter.
func (c *ComponentHealth) Unready(reason error) {
	msg := "unknown reason"
	if reason != nil {
		msg = reason.Error()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ready {
		c.since = time.Now()
	}
	c.ready, c.reason = false, msg
}

func (c *ComponentHealth) status() ComponentStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ComponentStatus{Name: c.name, Ready: c.ready, Reason: c.reason, Since: c.since}
}
