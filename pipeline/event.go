package pipeline

// Event is one audit.k8s.io/v1 Event as read from the apiserver's log: the
// raw JSON line (without its trailing newline) and the few fields the agent
// needs, extracted once by Extract.
//
// The byte slices in Meta are views: into Raw when the value had no JSON
// escapes, or into a private copy when it had. An Event does not own Raw
// beyond the call it is passed to unless the receiver's contract says so;
// copy what you keep.
type Event struct {
	// Raw is the event's JSON, exactly as written by the apiserver.
	Raw []byte
	Meta
}

// Meta holds the fields of an audit event the pipeline routes, filters and
// keys on. Absent fields are empty (Code is 0).
type Meta struct {
	AuditID        []byte
	Stage          []byte // RequestReceived, ResponseStarted, ResponseComplete, Panic
	Level          []byte // Metadata, Request, RequestResponse
	Verb           []byte
	Username       []byte // user.username
	StageTimestamp []byte // RFC 3339 with microseconds, as written
	ObjectRef      ObjectRef
	Code           int32 // responseStatus.code; 0 when absent
}

// ObjectRef is the subset of objectRef the pipeline uses.
type ObjectRef struct {
	Resource    []byte
	Subresource []byte
	Namespace   []byte
	Name        []byte
	APIGroup    []byte
}

// ID returns the stable identity of the event for sinks that deduplicate
// (Elasticsearch _id, Kafka key): auditID + "-" + stage. It is appended to dst.
func (e *Event) ID(dst []byte) []byte {
	dst = append(dst, e.AuditID...)
	dst = append(dst, '-')
	return append(dst, e.Stage...)
}
