package splunkhec

import (
	"context"
	"sync"
)

// acks tracks the ackIds this output waits for on its channel, shared by
// concurrent Writes.
//
// HEC numbers acks per channel from 1 and a restarted receiver forgets them
// and starts again from 1, so an id polled across a restart may be given to
// a new request. Two rules keep an acknowledgement from being credited to
// the wrong request: an ackId handed out again while an older request still
// waits for it marks the older one lost (it is sent again); and a poll's
// answer is applied only after every event request that was in flight when
// the answer arrived has registered its ackId, so "true" is credited to the
// request that holds the id now.
type acks struct {
	mu      sync.Mutex
	waiting map[uint64]*ackWait
	sends   map[uint64]chan struct{}
	seq     uint64
}

// ackWait is one request's wait for its ackId. Its fields are guarded by
// acks.mu.
type ackWait struct {
	id          uint64
	acked, lost bool
}

func newAcks() *acks {
	return &acks{waiting: map[uint64]*ackWait{}, sends: map[uint64]chan struct{}{}}
}

// startSend registers an event request about to be sent.
func (a *acks) startSend() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq++
	a.sends[a.seq] = make(chan struct{})
	return a.seq
}

// endSend unregisters request tok; when it was given ackID (got), it returns
// the wait for it.
func (a *acks) endSend(tok, ackID uint64, got bool) *ackWait {
	a.mu.Lock()
	defer a.mu.Unlock()
	close(a.sends[tok])
	delete(a.sends, tok)
	if !got {
		return nil
	}
	if old := a.waiting[ackID]; old != nil {
		old.lost = true // the receiver restarted and reused the id
	}
	w := &ackWait{id: ackID}
	a.waiting[ackID] = w
	return w
}

// apply credits a poll's answer (see the type's comment).
func (a *acks) apply(ctx context.Context, acked map[uint64]bool) error {
	a.mu.Lock()
	inflight := make([]chan struct{}, 0, len(a.sends))
	for _, ch := range a.sends {
		inflight = append(inflight, ch)
	}
	a.mu.Unlock()
	for _, ch := range inflight {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, ok := range acked {
		if w := a.waiting[id]; ok && w != nil {
			w.acked = true
			delete(a.waiting, id)
		}
	}
	return nil
}

// state reports w's state.
func (a *acks) state(w *ackWait) (acked, lost bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return w.acked, w.lost
}

// forget stops waiting for w.
func (a *acks) forget(w *ackWait) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.waiting[w.id] == w {
		delete(a.waiting, w.id)
	}
}
