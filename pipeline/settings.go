package pipeline

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Settings is what the agent hands every component it builds.
type Settings struct {
	// Name is the component's name in the configuration (e.g. "apiserver").
	Name string
	// StateDir is the agent's state directory; a component keeps its state in
	// a sub-directory named after its kind and Name.
	StateDir string
	// Pipeline is the pipeline an output or processor belongs to; empty for
	// an input, which may feed several.
	Pipeline string
	// Logger is already scoped to the component.
	Logger *slog.Logger
	// Metrics registers the component's collectors; never nil. For outputs
	// and processors it is already labelled pipeline=<Pipeline> and
	// output=<Name> (processor=<Name>), so two components of one type never
	// collide: use metric names without those labels. Inputs get it
	// unlabelled and add input=<Name> themselves.
	Metrics prometheus.Registerer
	// DeadLetter receives what the component cannot deliver; never nil.
	DeadLetter DeadLetterWriter
	// Health reports whether the component can do its work; /readyz
	// serves it per component with the reason. Never nil. For an output
	// the delivery loop reports on it too (see HealthReporter).
	Health HealthReporter
	// Delivery is, for an output, the delivery settings the loop feeding it
	// runs with: the user's keys over the factory's defaults over the
	// agent's, clamped to the factory's Limits (see ResolveDelivery). An
	// output needing them (a request timeout, a connection pool sized to
	// MaxInFlight) reads them here; it never batches or retries itself.
	// Zero for inputs and processors.
	Delivery DeliveryConfig
}

// DeadLetterWriter records an event the agent gave up on, with the reason.
// Implementations are safe for concurrent use.
//
// A written entry may sit in the page cache; Sync makes every entry written
// before it durable. The pipeline calls Sync before it lets anything commit
// past a dead-lettered event (an output cursor, an input position), once
// per batch that dead-lettered something, so that with fsync: always a
// power loss cannot lose an event that is in neither the buffer nor the
// dead-letter file.
type DeadLetterWriter interface {
	WriteDeadLetter(e DeadLetter) error
	Sync() error
}

// DeadLetter is one entry of the dead-letter file.
type DeadLetter struct {
	// Component is who gave up on the event: "input/apiserver", "output/siem".
	Component string
	// Reason says why, e.g. "malformed JSON: unexpected end of input".
	Reason string
	// Source locates the event where it came from, e.g. "/var/log/audit.log:1234".
	Source string
	// Raw is the event as read (possibly a prefix, see Size).
	Raw []byte
	// Size is the event's full size in bytes when Raw holds only a prefix of it;
	// 0 when Raw is complete.
	Size int64
}
