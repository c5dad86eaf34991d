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
	// Logger is already scoped to the component.
	Logger *slog.Logger
	// Metrics registers the component's collectors; never nil.
	Metrics prometheus.Registerer
	// DeadLetter receives what the component cannot deliver; never nil.
	DeadLetter DeadLetterWriter
}

// DeadLetterWriter records an event the agent gave up on, with the reason.
// Implementations are safe for concurrent use.
type DeadLetterWriter interface {
	WriteDeadLetter(e DeadLetter) error
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
