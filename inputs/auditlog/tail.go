package auditlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"math/bits"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/pipeline"
)

const (
	// defaultCheckpointEvery: the checkpoint is written (temporary file,
	// fsync, rename, fsync of the directory) at most once a second. It
	// only ever holds offsets the pipeline made durable, so a later save
	// means more lines read again after a crash, never a lost one; a clean
	// stop saves the last position. At 10 ms it was a fifth of the agent's
	// CPU at 5,000 events/s (two fsyncs per save, dirtied by every ack).
	defaultCheckpointEvery = time.Second
	// scanEveryPolls: the discovery goroutine rescans the directory at
	// least every this many poll intervals, for notifications that got lost.
	scanEveryPolls = 4
)

// Input tails one kube-apiserver audit log and its lumberjack backups. Run
// is called once at a time: the checkpoint belongs to one reader.
type Input struct {
	cfg      Config
	set      pipeline.Settings
	log      *slog.Logger
	met      *metrics
	names    namer
	ckptPath string
	handPath string // the handed record (handed.go)

	// Swappable in tests and benchmarks.
	extract   func([]byte, *event.Meta) error
	boot      func() string // bootID
	ckptEvery time.Duration
	gzStall   time.Duration
	onStarted func(*tailer) // test hook: each Run's reading state, once started
}

// Run reads until ctx ends, then persists the committed positions and
// returns nil. It returns an error when the checkpoint is unusable or cannot
// be written, or when the sink fails for another reason than ctx.
func (in *Input) Run(ctx context.Context, sink pipeline.EventSink) error {
	st, had, err := loadCheckpoint(in.ckptPath, in.cfg.Path)
	if err != nil {
		return fmt.Errorf("auditlog %q: %w", in.set.Name, err)
	}
	resumed := false
	if r, ok := loadHanded(in.handPath); ok && had {
		// The last run was killed: what it had handed to the pipeline is
		// in the buffers even where the checkpoint lags (handed.go).
		boot := in.boot()
		resume := r.boot != "" && r.boot == boot
		st.mu.Lock()
		applied, res := st.applyHanded(r, resume)
		st.mu.Unlock()
		resumed = res
		switch {
		case resumed:
			in.log.Info("the last run did not stop cleanly; its buffers hold the events it read past the checkpoint (same boot), reading resumes after them",
				slog.Int64("handed_offset", r.off))
		case applied && !resume:
			in.log.Info("the last run did not stop cleanly and the machine restarted since (or its boot is unknown): reading resumes at the checkpoint, events read after it are shipped again",
				slog.Int64("handed_offset", r.off), slog.String("handed_boot", orUnknown(r.boot)), slog.String("boot", orUnknown(boot)))
		}
	}
	poll := time.Duration(in.cfg.PollInterval)
	waited, err := waitDir(ctx, in.names.dir, poll, in.log)
	if err != nil {
		return nil // stopped while waiting
	}
	wt := newWatcher(in.names, in.log)
	defer wt.close()

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	t := newTailer(in, st, sink, wt)
	if resumed {
		// The dead letters of the lines skipped are in the page cache
		// too: synced before the checkpoint that passes them.
		t.dlqDirty.Store(true)
	}
	cp := &checkpointer{path: in.ckptPath, active: in.cfg.Path, st: st, every: in.ckptEvery,
		dlq: in.set.DeadLetter, dlqDirty: &t.dlqDirty}
	defer t.tick.Stop()
	defer t.handed.close()

	// A directory created after the start holds nothing from before it:
	// with no checkpoint, all of it is read (start_at has nothing to skip).
	err = t.start(runCtx, had, waited)
	if err == nil {
		// The first position is durable before anything is read: a crash
		// right after must not apply start_at again.
		err = cp.save()
	}
	if err == nil {
		// The last run's handed record is in the checkpoint now.
		if rmErr := t.handed.remove(); rmErr != nil {
			in.log.Warn("cannot remove the handed record", slog.Any("error", rmErr))
		}
	}
	if err == nil && in.onStarted != nil {
		in.onStarted(t)
	}
	if err == nil {
		stop := make(chan struct{})
		cpDone := make(chan error, 1)
		go func() {
			err := cp.run(stop)
			if err != nil {
				cancel(err)
			}
			cpDone <- err
		}()
		err = t.run(runCtx)
		close(stop)
		if cpErr := <-cpDone; cpErr != nil {
			return fmt.Errorf("auditlog %q: %w", in.set.Name, cpErr)
		}
	}
	// The pipeline's buffers are still running: their durable callbacks
	// for what was handed over last come within one fsync interval.
	if !st.waitAcked(finalAckWait) {
		in.log.Warn("stopping before the buffer made the last events durable; they will be read again at the next start")
	}
	if saveErr := cp.save(); saveErr != nil {
		return fmt.Errorf("auditlog %q: %w", in.set.Name, saveErr)
	}
	// A clean stop: the checkpoint says what the buffers made durable, and
	// acknowledgements that did not come mean the events are not there.
	if rmErr := t.handed.remove(); rmErr != nil {
		in.log.Warn("cannot remove the handed record", slog.Any("error", rmErr))
	}
	if err != nil && ctx.Err() == nil && !errors.Is(err, errStopped) {
		return fmt.Errorf("auditlog %q: %w", in.set.Name, err)
	}
	return nil
}

// finalAckWait bounds how long Run waits at shutdown for the durable
// callbacks of events already handed to the pipeline.
const finalAckWait = 2 * time.Second

// tailer is one Run's reading state. The reading goroutine owns lines and
// the open file; scans (directory listing and reconciliation) run on the
// discovery goroutine and on the reader at file transitions, one at a time
// (scanMu); st is shared with the commit path.
type tailer struct {
	in    *Input
	st    *state
	sink  pipeline.EventSink
	wt    *watcher
	log   *slog.Logger
	lines *lines
	// tick is the reader's poll timer; idlePolls counts the polls in a row
	// that found nothing (see pollWait).
	tick      *time.Timer
	idlePolls int
	fpBuf     []byte
	// handed records how far the current file was handed to the pipeline;
	// lastTime is the stageTimestamp of the last event handed over.
	handed   *handedWriter
	boot     string // written into the handed record (handed.go)
	lastTime string
	lastPath string // the file lastTime comes from
	// curPos is the reader's position in the open file, for the lag gauge.
	curPos atomic.Int64
	// readBytes counts the bytes read from files; paced and pacedAt are
	// readBytes and the time when the coalescing pause was last set.
	readBytes int64
	paced     int64
	pacedAt   time.Time
	// dlqDirty: lines were dead-lettered since the last checkpoint save.
	dlqDirty atomic.Bool
	// stamps are the backup stamps of the last scan (guarded by st.mu).
	stamps map[string]bool

	scanMu     sync.Mutex // guards the fields below
	sc         *scanner
	gzWatch    map[string]gzStall
	noDirLog   bool
	waitActive bool // "waiting for" the active file was logged
	history    bool // the first scan of a first start
}

func newTailer(in *Input, st *state, sink pipeline.EventSink, wt *watcher) *tailer {
	return &tailer{
		in: in, st: st, sink: sink, wt: wt, log: in.log,
		sc:      newScanner(in.names),
		lines:   newLines(int(in.cfg.ReadBuffer), int(in.cfg.BatchBytes), int(in.cfg.MaxLineBytes)),
		tick:    stoppedTimer(),
		gzWatch: make(map[string]gzStall),
		fpBuf:   make([]byte, fpMax),
		handed:  newHandedWriter(in.handPath),
		boot:    in.boot(),
	}
}

// start resolves the checkpoint against the directory, or, on the very
// first start, picks the active file and where to start in it. fresh says
// the directory did not exist when Run started.
func (t *tailer) start(ctx context.Context, had, fresh bool) error {
	if !had {
		t.st.mu.Lock()
		t.st.history = make(map[string]bool)
		t.st.mu.Unlock()
	}
	if !had && !fresh && t.in.cfg.StartAt != StartBeginning {
		t.scanMu.Lock()
		l, err := t.sc.list(func(string) bool { return true }) // the names only
		t.scanMu.Unlock()
		if err != nil && !errors.Is(err, errNoDir) {
			return err
		}
		if l != nil {
			t.st.mu.Lock()
			t.st.cutoff = l.newest // backups already there are history
			for stamp := range l.stamps {
				t.st.history[stamp] = true
			}
			t.st.mu.Unlock()
			if l.newest != "" {
				t.log.Info("no checkpoint: backups already on disk are history and are not read (start_at "+string(t.in.cfg.StartAt)+"; beginning would read them)",
					slog.Int("backups", len(l.stamps)), slog.String("history_through", l.newest))
			}
		}
	}
	t.history = !had // backups found now are history to read, not rotations followed
	err := t.scan(ctx)
	t.history = false
	if err != nil {
		return err
	}
	t.st.mu.Lock()
	defer t.st.mu.Unlock()
	t.st.resumeAt = nil // applied by the scan, or its file is not there
	if !had {
		for _, e := range t.st.chain {
			if e.path != t.in.names.active {
				continue
			}
			if t.in.cfg.StartAt == StartEnd && !fresh {
				off, err := lastLineEnd(e.path, e.size, e.id)
				if errors.Is(err, errRotatedMeanwhile) {
					// The file was rotated since the scan: start at the
					// size it had then (at worst one line is dead-lettered).
					t.log.Warn("the active file rotated while starting; starting at its size when scanned", slog.String("path", e.path), slog.Int64("offset", e.size))
					off, err = e.size, nil
				}
				if err != nil {
					return err
				}
				e.committed = off
			}
		}
	}
	// What will be read, by current paths.
	var files []string
	var total int64
	oldest := ""
	for _, e := range t.st.chain {
		if e.finished || e.readDone {
			continue
		}
		files = append(files, fmt.Sprintf("%s@%d", e.path, e.committed))
		if e.size > e.committed {
			total += e.size - e.committed
		}
		if oldest == "" {
			oldest = e.firstTime
			if e.committed > 0 && e.lastTime != "" {
				oldest = e.lastTime
			}
		}
	}
	attrs := []any{slog.String("path", t.in.names.active), slog.Bool("checkpoint", had), slog.Any("files", files),
		slog.Int64("bytes_to_read", total), slog.String("oldest_event", orUnknown(oldest))}
	if !had {
		attrs = append(attrs, slog.String("start_at", string(t.in.cfg.StartAt)))
	}
	t.log.Info("audit log input started", attrs...)
	if _, err := os.Stat(t.in.names.active); errors.Is(err, fs.ErrNotExist) {
		t.log.Info("waiting for "+t.in.names.active+" (the active audit log does not exist yet)", slog.String("path", t.in.names.active))
		t.scanMu.Lock()
		t.waitActive = true
		t.scanMu.Unlock()
	}
	t.st.changedLocked()
	return nil
}

// errRotatedMeanwhile: the path holds another file than the one scanned.
var errRotatedMeanwhile = errors.New("file rotated since it was scanned")

// lastLineEnd returns the offset just after the last newline in the first
// size bytes of the file at path (0 if none): where start_at end starts, so
// that a line being written is read whole.
func lastLineEnd(path string, size int64, id identity) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	if dev, ino := devIno(fi); (dev != id.Dev || ino != id.Ino) || fi.Size() < size {
		return 0, errRotatedMeanwhile
	}
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		n := min(int64(len(buf)), end)
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return 0, fmt.Errorf("read %s: %w", path, err)
		}
		for i := n - 1; i >= 0; i-- {
			if buf[i] == '\n' {
				return end - n + i + 1, nil
			}
		}
		end -= n
	}
	return 0, nil
}

// run reads the chain's files in order until ctx ends, with the discovery
// goroutine keeping the chain up to date meanwhile.
func (t *tailer) run(ctx context.Context) error {
	dctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t.discover(dctx)
	}()
	defer func() {
		stop()
		wg.Wait()
	}()
	for {
		if ctx.Err() != nil {
			return errStopped
		}
		e := t.next()
		if e == nil {
			if err := t.wait(ctx); err != nil {
				return err
			}
			if err := t.scan(ctx); err != nil {
				return err
			}
			continue
		}
		path := t.pathOf(e)
		err := t.read(ctx, e)
		if errors.Is(err, errNotThere) {
			// Moved since the last scan: find it again, or learn it is lost.
			if err := t.scan(ctx); err != nil {
				return err
			}
			if t.next() == e && t.pathOf(e) == path {
				if err := t.wait(ctx); err != nil {
					return err
				}
			}
			continue
		}
		if err != nil {
			return err
		}
	}
}

// discover rescans the directory when notifications say files appeared,
// moved or vanished, and every few polls regardless, so that files are
// known (and their loss noticed) even while the reader is blocked on a slow
// pipeline.
func (t *tailer) discover(ctx context.Context) {
	tick := stoppedTimer()
	defer tick.Stop()
	idle := 0
	for {
		tick.Reset(t.pollWait(scanEveryPolls*time.Duration(t.in.cfg.PollInterval), idle))
		select {
		case <-ctx.Done():
			return
		case <-t.wt.scan:
			idle = 0
		case <-tick.C:
			idle++
			t.wt.rewatch(t.in.names.dir, t.log)
		}
		tick.Stop()
		if err := t.scan(ctx); err != nil {
			t.log.Warn("directory scan failed", slog.Any("error", err))
		}
	}
}

// next is the first file of the chain not read to its end.
func (t *tailer) next() *entry {
	t.st.mu.Lock()
	defer t.st.mu.Unlock()
	for _, e := range t.st.chain {
		if !e.readDone && !e.finished {
			return e
		}
	}
	return nil
}

// pathOf reads e.path under the lock.
func (t *tailer) pathOf(e *entry) string {
	t.st.mu.Lock()
	defer t.st.mu.Unlock()
	return e.path
}

// maxPollBackoff bounds how far the safety-net polls back off while
// notifications work and nothing happens: the reader polls every
// poll_interval, doubling after each poll that found nothing up to this many
// poll intervals (2 s by default); the discovery goroutine likewise from
// scanEveryPolls intervals. Any notification or new data brings them back
// to poll_interval. Idle, the agent then wakes a few times a second at most
// instead of five; a notification lost (the kernel's queue overflowed, which
// fsnotify reports and which rings both doorbells) is noticed within 2 s.
const maxPollBackoff = 8

// pollWait is the next poll's delay after idle polls in a row that found
// nothing; without notifications, always base.
func (t *tailer) pollWait(base time.Duration, idle int) time.Duration {
	if t.wt.w == nil {
		return base
	}
	return base << min(idle, bits.Len(maxPollBackoff)-1)
}

func stoppedTimer() *time.Timer {
	tm := time.NewTimer(time.Hour)
	tm.Stop()
	return tm
}

// wait blocks until a notification, a poll tick or the end of ctx.
func (t *tailer) wait(ctx context.Context) error {
	t.tick.Reset(t.pollWait(time.Duration(t.in.cfg.PollInterval), t.idlePolls))
	defer t.tick.Stop()
	t.wt.waiting.Store(true)
	defer func() {
		t.wt.woke.Store(time.Now().UnixNano())
		t.wt.waiting.Store(false)
	}()
	select {
	case <-ctx.Done():
		return errStopped
	case <-t.wt.wake:
		t.idlePolls = 0
	case <-t.tick.C:
		t.idlePolls++
	}
	return nil
}

// scan lists the directory and reconciles the chain with it.
func (t *tailer) scan(ctx context.Context) error {
	t.scanMu.Lock()
	defer t.scanMu.Unlock()
	t.st.mu.Lock()
	var skip func(string) bool
	if t.st.history != nil {
		known := maps.Clone(t.st.history)
		skip = func(stamp string) bool { return known[stamp] }
	} else {
		cutoff := t.st.horizonLocked()
		skip = func(stamp string) bool { return stamp < cutoff }
	}
	t.st.mu.Unlock()
	for attempt := 0; ; attempt++ {
		l, err := t.sc.list(skip)
		if errors.Is(err, errNoDir) {
			if !t.noDirLog {
				t.log.Warn("audit log directory disappeared; waiting for it", slog.String("dir", t.in.names.dir))
				t.noDirLog = true
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("scan %s: %w", t.in.names.dir, err)
		}
		t.noDirLog = false
		if !l.stable && attempt < 5 && ctx.Err() == nil {
			continue
		}
		if t.waitActive && l.active != nil {
			t.log.Info("the active audit log appeared", slog.String("path", l.active.path))
			t.waitActive = false
		}
		t.reconcile(l)
		t.updateLag()
		return nil
	}
}

// updateLag refreshes the lag gauge: bytes known to be written but not read.
func (t *tailer) updateLag() {
	var lag int64
	pos := t.curPos.Load()
	t.st.mu.Lock()
	for _, e := range t.st.chain {
		switch {
		case e.readDone || e.finished || e.size <= 0:
		case e == t.st.cur:
			lag += max(e.size-pos, 0)
		default:
			lag += max(e.size-e.committed, 0)
		}
	}
	t.atRiskLocked(t.stamps)
	t.st.mu.Unlock()
	t.in.met.lag.Set(float64(lag))
}

var (
	// errNotThere: the file of an entry is not at its last known path.
	errNotThere = errors.New("file not where it was last seen")
	// errStopped: ctx ended; Run returns nil.
	errStopped = errors.New("stopped")
)

// source is the open file being read.
type source struct {
	e        *entry
	path     string
	f        *os.File
	zr       *gzip.Reader
	r        io.Reader
	gz       bool
	active   bool // opened through the active path: it may grow, rotate or be truncated
	dev, ino uint64
	size     int64 // when opened
	mtime    time.Time
}

func (s *source) close() {
	if s != nil && s.f != nil {
		s.f.Close()
	}
}

// open opens e's file and positions it at off, checking it is still e.
func (t *tailer) open(e *entry, off int64) (*source, error) {
	t.st.mu.Lock()
	path, id := e.path, e.id
	t.st.mu.Unlock()
	src := &source{e: e, path: path, gz: strings.HasSuffix(path, gzSuffix), active: path == t.in.names.active}
	f, err := os.Open(src.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNotThere
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", src.path, err)
	}
	src.f = f
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s: %w", src.path, err)
	}
	src.dev, src.ino = devIno(fi)
	src.size, src.mtime = fi.Size(), fi.ModTime()
	c := &candidate{path: src.path, gz: src.gz, dev: src.dev, ino: src.ino, complete: true}
	if src.gz {
		c.prefix, c.complete, err = gzipPrefix(f)
		if err != nil && isCorruptGzip(err) {
			f.Close() // read gives up on it at once, instead of waiting for it to change
			return nil, fmt.Errorf("read %s: %w", src.path, err)
		}
	} else {
		c.prefix, err = readPrefix(f, t.fpBuf)
		if err != nil {
			f.Close()
			return nil, err
		}
	}
	if id.match(c) != isMatch {
		f.Close()
		return nil, errNotThere
	}
	if err := src.seek(off); err != nil {
		f.Close()
		return nil, err
	}
	return src, nil
}

// seek positions the source at uncompressed offset off (decompressing and
// discarding for a .gz). A .gz cut short before off yields
// io.ErrUnexpectedEOF.
func (s *source) seek(off int64) error {
	if !s.gz {
		if _, err := s.f.Seek(off, io.SeekStart); err != nil {
			return fmt.Errorf("seek %s to %d: %w", s.path, off, err)
		}
		s.r = s.f
		return nil
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("seek %s: %w", s.path, err)
	}
	var err error
	if s.zr == nil {
		s.zr, err = gzip.NewReader(s.f)
	} else {
		err = s.zr.Reset(s.f)
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("gzip %s: %w", s.path, err)
	}
	s.zr.Multistream(false)
	s.r = s.zr
	if n, err := io.CopyN(io.Discard, s.zr, off); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s holds %d bytes, fewer than the committed offset %d: %w", s.path, n, off, errShort)
		}
		return fmt.Errorf("skip to offset %d in %s: %w", off, s.path, err)
	}
	return nil
}

var errShort = errors.New("file shorter than the committed offset")
