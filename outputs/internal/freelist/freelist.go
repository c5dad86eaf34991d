// Package freelist owns the reuse of the network outputs' per-request
// memory (compressors, request bodies) across garbage collections.
//
// Why not sync.Pool: the agent runs with a small soft memory limit (40 MiB
// by default), so the collector runs often, and every collection empties
// every sync.Pool (a pooled value survives at most one more in the victim
// cache). A pooled compressor or request buffer was then rebuilt for
// nearly every request: a klauspost gzip.Writer allocates about 820 KB, a
// zstd encoder 16 MiB of history, and each rebuild brings the next
// collection sooner. In the Kafka output, free lists instead of pools took
// zstd from 21.8 to 6.1 agent CPU-s/GiB (README, Performance).
//
// A List keeps at most Max values, so what it holds is bounded by the
// outputs' concurrency (typically max_in_flight+1), and a keep function can
// refuse values too large to hold on to (a body grown by one huge batch).
// With Idle set, a list unused for that long drops what it holds, so an
// idle agent does not keep megabytes of request buffers.
package freelist

import (
	"sync"
	"time"
)

// List keeps up to Max values for reuse. Its zero value keeps nothing;
// build it with New. It is safe for concurrent use.
type List[T any] struct {
	mu    sync.Mutex
	items []T
	max   int
	keep  func(T) bool

	idle    time.Duration
	lastGet time.Time
	timer   *time.Timer // armed while items are held and idle > 0
}

// Option configures a List.
type Option[T any] func(*List[T])

// Keep makes Put drop the values for which keep returns false (e.g.
// buffers whose capacity grew past what is worth holding).
func Keep[T any](keep func(T) bool) Option[T] {
	return func(l *List[T]) { l.keep = keep }
}

// Idle makes the list drop every value it holds once no Get happened for
// d, so the memory goes back to the collector when the output is idle.
func Idle[T any](d time.Duration) Option[T] {
	return func(l *List[T]) { l.idle = d }
}

// New returns a list that keeps at most max values.
func New[T any](max int, opts ...Option[T]) *List[T] {
	l := &List[T]{max: max}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Get takes a kept value; ok is false when there is none (the caller
// makes a new one).
func (l *List[T]) Get() (v T, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.idle > 0 {
		l.lastGet = time.Now()
	}
	if n := len(l.items); n > 0 {
		v, l.items[n-1] = l.items[n-1], v
		l.items = l.items[:n-1]
		return v, true
	}
	return v, false
}

// Put keeps v for a later Get, unless the list is full or the keep
// function refuses it; it reports whether v was kept. A value must not be
// used after it was put.
func (l *List[T]) Put(v T) bool {
	if l.keep != nil && !l.keep(v) {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.items) >= l.max {
		return false
	}
	l.items = append(l.items, v)
	if l.idle > 0 && l.timer == nil {
		l.timer = time.AfterFunc(l.idle, l.trim)
	}
	return true
}

// Len is the number of values held.
func (l *List[T]) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.items)
}

// trim drops the held values when no Get happened for idle, else looks
// again when that much time will have passed since the last Get.
func (l *List[T]) trim() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if wait := l.idle - time.Since(l.lastGet); wait > 0 && len(l.items) > 0 {
		l.timer.Reset(wait)
		return
	}
	clear(l.items)
	l.items = l.items[:0:0]
	l.timer = nil
}
