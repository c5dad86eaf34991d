package event

import "github.com/kubetrail/kubetrail/event/auditfields"

// Event is one audit.k8s.io/v1 Event as read from the apiserver's log: the
// raw JSON line (without its trailing newline) and the few fields the agent
// needs, extracted once by auditfields.Extract.
//
// The byte slices in Meta are views: into Raw when the value had no JSON
// escapes, or into a private copy when it had. An Event does not own Raw
// beyond the call it is passed to unless the receiver's contract says so;
// copy what you keep.
//
// Raw and Meta must always describe the same event: code that changes an
// event's bytes calls SetRaw, which re-extracts Meta.
type Event struct {
	// Raw is the event's JSON, exactly as written by the apiserver (or as a
	// processor rewrote it through SetRaw).
	Raw []byte
	Meta
}

// Meta holds the fields of an audit event the pipeline routes, filters and
// keys on; see auditfields.Meta.
type Meta = auditfields.Meta

// ObjectRef is the subset of objectRef the pipeline uses; see
// auditfields.ObjectRef.
type ObjectRef = auditfields.ObjectRef

// New returns the event whose JSON is raw, with its Meta extracted. The
// event keeps raw (no copy). The error is an *auditfields.MalformedEventError.
func New(raw []byte) (Event, error) {
	e := Event{Raw: raw}
	err := auditfields.Extract(raw, &e.Meta)
	return e, err
}

// SetRaw replaces the event's JSON with raw and re-extracts Meta from it, so
// the two can never disagree (a redacted event must not keep the old
// username or key). On error the event is left unchanged.
func (e *Event) SetRaw(raw []byte) error {
	var m Meta
	if err := auditfields.Extract(raw, &m); err != nil {
		return err
	}
	e.Raw, e.Meta = raw, m
	return nil
}

// ID returns the stable identity of the event for sinks that deduplicate
// (Elasticsearch _id, Kafka key): auditID + "-" + stage. It is appended to dst.
func (e *Event) ID(dst []byte) []byte {
	dst = append(dst, e.AuditID...)
	dst = append(dst, '-')
	return append(dst, e.Stage...)
}
