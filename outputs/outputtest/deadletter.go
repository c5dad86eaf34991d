package outputtest

import (
	"sync"

	"github.com/kubetrail/kubetrail/pipeline"
)

// DeadLetters is a pipeline.DeadLetterWriter that keeps entries in memory.
// SyncErr, if set, is what Sync returns (a disk that fails).
type DeadLetters struct {
	SyncErr func() error

	mu      sync.Mutex
	entries []pipeline.DeadLetter
	synced  int // entries written before the last successful Sync
	syncs   int
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

// Sync implements pipeline.DeadLetterWriter.
func (d *DeadLetters) Sync() error {
	if d.SyncErr != nil {
		if err := d.SyncErr(); err != nil {
			return err
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.synced = len(d.entries)
	d.syncs++
	return nil
}

// Synced returns how many entries were written before the last successful
// Sync, and how many Syncs there were.
func (d *DeadLetters) Synced() (entries, syncs int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.synced, d.syncs
}
