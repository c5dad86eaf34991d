package auditfields

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
