package freelist

import (
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestGetPut(t *testing.T) {
	l := New[int](2)
	if _, ok := l.Get(); ok {
		t.Fatal("Get on an empty list returned a value")
	}
	for i, want := range []bool{true, true, false} {
		if got := l.Put(i + 1); got != want {
			t.Fatalf("Put(%d) = %v, want %v", i+1, got, want)
		}
	}
	// A collection empties a sync.Pool; a List keeps its values.
	runtime.GC()
	runtime.GC()
	for _, want := range []int{2, 1} {
		v, ok := l.Get()
		if !ok || v != want {
			t.Fatalf("Get = %d, %v; want %d, true", v, ok, want)
		}
	}
	if _, ok := l.Get(); ok {
		t.Fatal("Get returned more values than were kept")
	}
}

func TestKeep(t *testing.T) {
	l := New(4, Keep(func(b []byte) bool { return cap(b) <= 1024 }))
	if !l.Put(make([]byte, 0, 1024)) {
		t.Fatal("a buffer within the cap was refused")
	}
	if l.Put(make([]byte, 0, 1025)) {
		t.Fatal("a buffer over the cap was kept")
	}
	if n := l.Len(); n != 1 {
		t.Fatalf("Len = %d, want 1", n)
	}
}

func TestIdleDropsValues(t *testing.T) {
	const idle = 20 * time.Millisecond
	l := New(4, Idle[*int](idle))
	v := new(int)
	l.Put(v)
	// Used more often than idle: values stay.
	for range 5 {
		time.Sleep(idle / 4)
		got, ok := l.Get()
		if !ok || got != v {
			t.Fatal("an in-use list lost its value")
		}
		l.Put(got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for l.Len() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("an idle list still holds its values after 5s")
		}
		time.Sleep(idle)
	}
	// And it keeps values again after a trim.
	l.Put(v)
	if got, ok := l.Get(); !ok || got != v {
		t.Fatal("a trimmed list does not keep values")
	}
}

// TestConcurrent has goroutines take and give back values: no value is
// ever held by two at once, and no more than max are kept. Run with -race.
func TestConcurrent(t *testing.T) {
	type item struct{ inUse atomic.Bool }
	const maxKept = 3
	l := New(maxKept, Idle[*item](time.Millisecond))
	var made atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 {
				it, ok := l.Get()
				if !ok {
					it = new(item)
					made.Add(1)
				}
				if !it.inUse.CompareAndSwap(false, true) {
					t.Error("a value was handed out twice")
					return
				}
				runtime.Gosched()
				it.inUse.Store(false)
				l.Put(it)
			}
		}()
	}
	wg.Wait()
	if n := l.Len(); n > maxKept {
		t.Fatalf("Len = %d, over max %d", n, maxKept)
	}
	if made.Load() >= 8*2000 {
		t.Fatalf("made %d values for %d uses: nothing was reused", made.Load(), 8*2000)
	}
}

// A Body gives its buffer back once, at the first Close, after the reader
// was drained (what the transport does).
func TestBodyReleasesOnceOnClose(t *testing.T) {
	released := 0
	b := NewBody([]byte("bulk"), func() { released++ })
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "bulk" {
		t.Fatalf("read %q, %v", got, err)
	}
	if released != 0 {
		t.Fatal("released before Close")
	}
	_ = b.Close()
	_ = b.Close()
	if released != 1 {
		t.Fatalf("released %d times, want 1", released)
	}
}
