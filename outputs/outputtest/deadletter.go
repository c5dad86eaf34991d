package outputtest

import (
	"sync"

	"github.com/kubetrail/kubetrail/pipeline"
)

// DeadLetters is a pipeline.DeadLetterWriter that keeps entries in memory.
type DeadLetters struct {
	mu      sync.Mutex
	entries []pipeline.DeadLetter
}

var _ pipeline.DeadLetterWriter = (*DeadLetters)(nil)

// WriteDeadLetter implements pipeline.DeadLetterWriter; it copies Raw.
func (d *DeadLetters) WriteDeadLetter(e pipeline.DeadLetter) error {
	e.Raw = append([]byte(nil), e.Raw...)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.entries = append(d.entries, e)
	return nil
}

// Entries returns what was written so far.
func (d *DeadLetters) Entries() []pipeline.DeadLetter {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]pipeline.DeadLetter(nil), d.entries...)
}
