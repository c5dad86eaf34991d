package auditlog

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watcher turns filesystem notifications on the log's directory into a
// doorbell for the reading goroutine (wake) and one for the discovery
// goroutine (scan) when files appeared, moved or vanished. Polling covers
// whatever notifications miss.
type watcher struct {
	w    *fsnotify.Watcher // nil when notifications are unavailable
	wake chan struct{}     // capacity 1
	scan chan struct{}     // capacity 1
	done chan struct{}

	mu sync.Mutex
	// created is the stamps of the backups that notifications said were
	// created: a backup created and deleted between two scans (the input
	// stalled, or far behind) is still counted by name.
	created map[string]bool
	last    atomic.Int64 // unix nanoseconds of the last event
	// waiting: the reader is caught up and waits for news (tailer.wait);
	// woke is when it last stopped waiting (unix nanoseconds).
	waiting atomic.Bool
	woke    atomic.Int64
	// pause is the coalescing pause in nanoseconds (see coalescePause),
	// set by the reader from the rate it reads at.
	pause atomic.Int64
}

// caughtUp reports whether the reader waits for news or did so within
// the last two pauses: it is following the file, not working through a
// backlog.
func (wt *watcher) caughtUp() bool {
	return wt.waiting.Load() || time.Now().UnixNano()-wt.woke.Load() < int64(2*wt.coalesce())
}

// settle gives the notification goroutine time to catch up with a backlog
// (after a stall, the kernel queued every event of it): it waits at least
// min, then while events keep coming, at most max in all.
func (wt *watcher) settle(ctx context.Context, least, most time.Duration) {
	if wt.w == nil {
		return
	}
	start := time.Now()
	for {
		quiet := time.Since(time.Unix(0, wt.last.Load())) >= 20*time.Millisecond
		if elapsed := time.Since(start); elapsed >= most || (elapsed >= least && quiet) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Write notifications are coalesced: after one, the notification goroutine
// pauses while the reader follows the file. kube-apiserver writes one line
// per event: waking the reader on each write cost a read, stats and a
// buffer append per event. During the pause the kernel merges the write
// events queued meanwhile (identical consecutive inotify events are merged),
// so the reader wakes once per pause while the file grows, and its work per
// wake-up grows with the data. The pause adds at most its length to the
// latency. It is taken only while the reader follows the file (caughtUp): a
// reader behind reads on without notifications, and then creations, renames
// and removals (scans that must see a backup before lumberjack deletes it)
// are not delayed.
//
// The pause adapts to the rate the file grows at (see coalescePause): long
// enough for about coalesceBytes per wake-up, between minCoalesce and
// maxCoalesce. At 5,000 events/s (about 5 MB/s) it stays at minCoalesce; at
// 500 events/s a fixed 25 ms pause meant 40 wake-ups a second of about 12
// events each, and the fixed cost of each (scheduler, timers, syscalls of
// the reader, the buffer and the delivery loop) was most of the agent's CPU.
const (
	minCoalesce   = 25 * time.Millisecond
	maxCoalesce   = 200 * time.Millisecond
	coalesceBytes = 128 << 10
)

// coalescePause is the pause for a file that grew by n bytes over d: the
// time it takes to grow by coalesceBytes, within [minCoalesce, maxCoalesce].
func coalescePause(n int64, d time.Duration) time.Duration {
	if n <= 0 || d <= 0 {
		return maxCoalesce
	}
	p := time.Duration(float64(d) * coalesceBytes / float64(n))
	return min(max(p, minCoalesce), maxCoalesce)
}

// coalesce is the current pause after a write notification.
func (wt *watcher) coalesce() time.Duration { return time.Duration(wt.pause.Load()) }

// maxCreated bounds watcher.created; it is emptied when full.
const maxCreated = 4096

// deletedUnseen counts the backups notified as created with a stamp in
// (lo, hi) for which keep is false.
func (wt *watcher) deletedUnseen(lo, hi string, keep func(stamp string) bool) (stamps []string) {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	for s := range wt.created {
		if s > lo && s < hi && !keep(s) {
			stamps = append(stamps, s)
		}
	}
	sort.Strings(stamps)
	return stamps
}

func newWatcher(n namer, log *slog.Logger) *watcher {
	wt := &watcher{wake: make(chan struct{}, 1), scan: make(chan struct{}, 1), done: make(chan struct{}), created: make(map[string]bool)}
	wt.pause.Store(int64(minCoalesce))
	w, err := fsnotify.NewWatcher()
	if err == nil {
		err = w.Add(n.dir)
		if err != nil {
			w.Close()
		}
	}
	if err != nil {
		log.Warn("filesystem notifications unavailable; relying on polling", slog.String("dir", n.dir), slog.Any("error", err))
		close(wt.done)
		return wt
	}
	wt.w = w
	base := filepath.Base(n.active)
	go func() {
		defer close(wt.done)
		for {
			select {
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				name := filepath.Base(ev.Name)
				if name != base && !strings.HasPrefix(name, n.prefix) && ev.Name != n.dir {
					continue
				}
				if ev.Op&(fsnotify.Create|fsnotify.Rename|fsnotify.Remove) != 0 {
					ring(wt.scan)
				}
				wt.last.Store(time.Now().UnixNano())
				if ev.Op&fsnotify.Create != 0 {
					if stamp, _, ok := n.parse(name); ok {
						wt.mu.Lock()
						if len(wt.created) >= maxCreated {
							clear(wt.created)
						}
						wt.created[stamp] = true
						wt.mu.Unlock()
					}
				}
				ring(wt.wake)
				if ev.Op == fsnotify.Write && wt.caughtUp() {
					// Coalesce: while this goroutine does not read, the
					// kernel merges the writes that follow into one queued
					// event, so the reader wakes once per window for all
					// of them, not once per line the apiserver writes.
					// settle does not take the pause for quiet.
					pause := wt.coalesce()
					wt.last.Store(time.Now().Add(pause).UnixNano())
					time.Sleep(pause)
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				log.Warn("filesystem notification error; rescanning", slog.Any("error", err))
				ring(wt.scan)
				ring(wt.wake)
			}
		}
	}()
	return wt
}

// rewatch adds the directory to the watcher again after it was removed
// and created anew (the watch dies with the directory).
func (wt *watcher) rewatch(dir string, log *slog.Logger) {
	if wt.w == nil || len(wt.w.WatchList()) > 0 {
		return
	}
	if err := wt.w.Add(dir); err == nil {
		log.Info("watching the audit log directory again", slog.String("dir", dir))
		ring(wt.scan)
		ring(wt.wake)
	}
}

func ring(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (wt *watcher) close() {
	if wt.w != nil {
		wt.w.Close()
	}
	<-wt.done
}

// waitDir returns once dir exists, polling every interval; it logs once
// while waiting and reports whether it had to wait. It returns ctx's error
// if ctx ends first.
func waitDir(ctx context.Context, dir string, every time.Duration, log *slog.Logger) (waited bool, err error) {
	logged := false
	for {
		fi, err := os.Stat(dir)
		if err == nil && fi.IsDir() {
			if logged {
				log.Info("audit log directory appeared", slog.String("dir", dir))
			}
			return logged, nil
		}
		if !logged {
			if err == nil {
				err = errors.New("not a directory")
			}
			if errors.Is(err, fs.ErrNotExist) {
				log.Info("waiting for the audit log directory to be created", slog.String("dir", dir))
			} else {
				log.Warn("waiting for the audit log directory", slog.String("dir", dir), slog.Any("error", err))
			}
			logged = true
		}
		select {
		case <-ctx.Done():
			return logged, ctx.Err()
		case <-time.After(every):
		}
	}
}
