package auditlog

import (
	"sort"
	"sync"
	"time"
)

// entry is one file of the log's chain (the active file or a backup) that
// the input knows. All fields are guarded by state.mu: the reading
// goroutine, the discovery goroutine (scans) and the commit path (committed,
// finished) all change them.
type entry struct {
	id   identity
	path string // where it was last seen
	// stamp is its backup stamp once it was seen as a backup; "" before.
	stamp string
	// after is the newest backup stamp in the directory when the file was
	// first seen as the active file: it is newer than all of those and older
	// than any backup stamped later (other than its own).
	after     string
	size      int64 // uncompressed size at last sight; -1 unknown
	committed int64 // offset up to which the pipeline has the events durably
	finished  bool  // read to its end after rotation, and that end committed
	seq       uint64

	// firstTime is the stageTimestamp of its first event, lastTime that of
	// the last committed one ("" when unknown).
	firstTime, lastTime string
	// delivered: a run killed before its checkpoint caught up had handed
	// the events up to here to the pipeline (see handed.go); deliveredAll:
	// all of it. Loss accounting uses them; reading resumes there only
	// when the machine did not reboot since (then committed moved too).
	delivered     int64
	deliveredTime string
	deliveredAll  bool

	readDone bool // read to its end by the reader; the finishing mark is queued
	// gapBefore: when this file was discovered, the file before it in the
	// chain was gone already, so files between the two may have been
	// deleted before the input saw them.
	gapBefore bool
	// gapMaybe: when this file was discovered, whether the file before it
	// was still there could not be told yet (a .gz being written could
	// have been it); if that file is then found lost, gapBefore applies.
	gapMaybe bool
	// gapAfter describes the file before the gap when it was reported lost
	// (and dropped from the chain) before the reader came to this one.
	gapAfter *gapStart
	mtime    time.Time // at last sight, for the age gauge
	gone     bool      // not found in the last scan
}

// key orders entries and backups in time: a backup's stamp, or for a file
// not yet seen as a backup, just after the newest stamp older than it.
func (e *entry) key() string {
	if e.stamp != "" {
		return e.stamp
	}
	return e.after + "+" // '+' sorts before every digit: after < key < any later stamp
}

// horizon is the newest backup stamp that is certainly not newer than e.
func (e *entry) horizon() string {
	if e.stamp != "" {
		return e.stamp
	}
	return e.after
}

// gapStart is the file before a gap: its path, the last event of it the
// pipeline has, and the backup stamps after which the gap starts (its own
// stamp, or, when it was never seen as a backup, the newest stamp when it
// became the active file: the first backup after that is the file itself).
type gapStart struct {
	path, last string
	lo         string
	skipFirst  bool
	// rest is the estimate of what the file before the gap held after
	// last, when it was lost while it was the active file (it went on
	// growing up to lumberjack's maximum size): the gap's whole files start
	// after it. Zero otherwise.
	rest lossRange
	// seen is how far the file before the gap was delivered, and lo its
	// start then (skipFirst): its pace before the gap.
	seen int64
}

func gapStartOf(e *entry, last string) *gapStart {
	g := &gapStart{path: e.path, last: last, lo: e.stamp}
	if g.lo == "" {
		g.lo, g.skipFirst = e.after, true
	}
	return g
}

// mark is one commit position in the ordered acknowledgement queue: the
// offset of e up to which everything was handed over (events written to the
// sink, or dead-lettered). A mark for a sink write becomes ready when the
// sink's durable callback fires; a mark without events is ready at once but
// applies only after every earlier mark did.
type mark struct {
	e        *entry
	off      int64
	finished bool
	ready    bool
	last     string // stageTimestamp of the last event before off, if any
}

// state is the chain of known files and the commit queue.
type state struct {
	mu    sync.Mutex
	chain []*entry // in key order
	// cutoff: backups stamped <= cutoff are history, in checkpoints written
	// before history (below) existed; kept up to date for older agents.
	cutoff string
	// history is the stamps of the backups in the directory that are read
	// or were there before the first start (start_at end or active_file):
	// a backup not in the chain is new unless its stamp is here, whatever
	// its stamp (a clock stepped back gives new backups older stamps). nil
	// until the first scan of a checkpoint that predates it (cutoff applies).
	history map[string]bool
	// resumeAt: a killed run's handed record (same boot) naming a file
	// the checkpoint did not know; the start's scan applies it when it
	// adds that file (resumeNewLocked), and then it is dropped.
	resumeAt *handedRecord
	seq      uint64
	version  uint64 // bumped whenever anything persisted changed
	marks    []*mark
	dirty    chan struct{} // capacity 1: the checkpoint writer's doorbell
	// urgent (capacity 1) rings with dirty for a change of the chain's
	// structure (files found, finished, truncated): saved at once, while
	// progress within a file (acknowledged offsets, sizes) waits for the
	// checkpoint interval.
	urgent chan struct{}
	cur    *entry // the entry whose file the reader has open
	// backupSizes is the uncompressed size of each backup of the last
	// scan that was looked at (history skipped), by stamp, for the loss
	// estimates (loss.go).
	backupSizes map[string]int64
	// pastStamps are the backup stamps the checkpoint knew at start
	// (history and chain), in order: the rotations before a gap left while
	// the input was stopped, whose pace the gap estimate interpolates with
	// the backups after it (loss.go).
	pastStamps []string
	// curDev, curIno identify the open file (while cur != nil): a file with
	// them is cur's, even if rewritten in place (the reader handles that).
	curDev, curIno uint64
}

func newState() *state {
	return &state{dirty: make(chan struct{}, 1), urgent: make(chan struct{}, 1), backupSizes: make(map[string]int64)}
}

// changedLocked records a change to persist at once.
func (s *state) changedLocked() {
	s.progressLocked()
	select {
	case s.urgent <- struct{}{}:
	default:
	}
}

// progressLocked records a change to persist within the checkpoint
// interval: positions moved within files the checkpoint already knows.
func (s *state) progressLocked() {
	s.version++
	select {
	case s.dirty <- struct{}{}:
	default:
	}
}

// push appends m to the commit queue.
func (s *state) push(m *mark) {
	s.mu.Lock()
	s.marks = append(s.marks, m)
	if m.ready {
		s.applyLocked()
	}
	s.mu.Unlock()
}

// ack makes m ready (the sink's durable callback).
func (s *state) ack(m *mark) {
	s.mu.Lock()
	m.ready = true
	s.applyLocked()
	s.mu.Unlock()
}

// abandon removes m, whose events never reached the sink, from the queue:
// its durable callback will never come. m is the newest mark.
func (s *state) abandon(m *mark) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.marks); n > 0 && s.marks[n-1] == m {
		s.marks = s.marks[:n-1]
	}
}

// waitAcked waits, at most timeout, until the durable callbacks of every
// queued mark came, so that a clean shutdown saves a checkpoint that
// includes them instead of re-reading them at the next start.
func (s *state) waitAcked(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		n := len(s.marks)
		s.mu.Unlock()
		if n == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// applyLocked commits the ready prefix of the queue.
func (s *state) applyLocked() {
	n := 0
	for n < len(s.marks) && s.marks[n].ready {
		m := s.marks[n]
		m.e.committed = m.off
		if m.last != "" {
			m.e.lastTime = m.last
		}
		if m.finished {
			m.e.finished = true
		}
		s.marks[n] = nil
		n++
	}
	if n == 0 {
		return
	}
	s.marks = s.marks[n:]
	s.pruneLocked()
	s.progressLocked()
}

// pruneLocked drops finished files from the chain, keeping the newest
// finished one as the anchor of the chain's history. A file is kept until
// its backup stamp is known (or it is gone), so that its backup, when it
// shows up, is recognised as read rather than taken for a new file.
func (s *state) pruneLocked() {
	for i := 0; i+1 < len(s.chain); {
		e := s.chain[i]
		if e.finished && s.chain[i+1].finished && (e.stamp != "" || e.gone) {
			s.dropLocked(i)
			continue
		}
		if !e.finished {
			break
		}
		i++
	}
}

// dropLocked removes chain[i], moving the history cutoff past it when it
// was the oldest.
func (s *state) dropLocked(i int) {
	e := s.chain[i]
	if i == 0 {
		if h := e.horizon(); h > s.cutoff {
			s.cutoff = h
		}
	}
	if e.stamp != "" && s.history != nil {
		s.history[e.stamp] = true
	}
	s.chain = append(s.chain[:i], s.chain[i+1:]...)
}

// horizonLocked is the newest stamp of backups that are history: older
// than, or equal to, the oldest file of the chain.
func (s *state) horizonLocked() string {
	h := s.cutoff
	if len(s.chain) > 0 && s.chain[0].horizon() > h {
		h = s.chain[0].horizon()
	}
	return h
}

// addLocked inserts e in key order (after entries of equal key).
func (s *state) addLocked(e *entry) {
	s.seq++
	e.seq = s.seq
	s.chain = append(s.chain, e)
	s.sortLocked()
}

func (s *state) sortLocked() {
	sort.SliceStable(s.chain, func(i, j int) bool {
		a, b := s.chain[i], s.chain[j]
		if ka, kb := a.key(), b.key(); ka != kb {
			return ka < kb
		}
		return a.seq < b.seq
	})
}
