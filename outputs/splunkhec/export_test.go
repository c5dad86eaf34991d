package splunkhec

// Test hooks for the external test package (bench_test.go, which imports
// test/bench and so, through the agent, this package).
var (
	StartReceiver = startReceiver
	CountRecords  = countRecords
)

func (r *receiver) Endpoint() string { return r.endpoint() }
func (r *receiver) File() string     { return r.file() }

var (
	WaitReceived = waitReceived
	CorpusRaws   = corpusRaws
)
