package auditlog

import (
	"log/slog"
	"slices"
	"time"
)

// reconcile matches the chain against a directory listing: known files get
// their new path and stamp, files that disappeared before they were read are
// reported lost, and files not seen before whose stamp is not history join
// the chain (whatever their stamp: a clock stepped back stamps new backups
// before old ones). The entry being read (st.cur) cannot be lost: its file
// is open. While some .gz cannot be identified yet, nothing is declared
// lost. The caller holds scanMu.
func (t *tailer) reconcile(l *listing) {
	st := t.st
	st.mu.Lock()
	defer st.mu.Unlock()
	t.stamps = l.stamps
	clear(st.backupSizes)
	for _, g := range l.groups {
		if c := g.best(); c != nil && c.usize > 0 {
			st.backupSizes[g.stamp] = c.usize
		}
	}
	cur := st.cur
	waiting, changed := false, false
	// A .gz that stays truncated or corrupt for too long is left out, so
	// that the files it might have been are reported lost instead of being
	// waited for forever.
	present := make(map[string]bool)
	for _, g := range l.groups {
		if c := g.gz; c != nil && (c.pending() || c.gzErr != nil) {
			present[c.path] = true
			if t.gzipStalled(c) {
				g.gz = nil
			}
		}
	}
	for k := range t.gzWatch {
		if !present[k] {
			delete(t.gzWatch, k)
		}
	}
	used := make(map[*candidate]bool)
	if cur != nil {
		// The open file may have been rewritten in place (copytruncate):
		// whatever it holds now, the reader deals with it, not discovery.
		for _, c := range l.all() {
			if !c.gz && c.dev == st.curDev && c.ino == st.curIno {
				used[c] = true
			}
		}
	}
	seen := make(map[*entry]bool)
	undet := make(map[*entry]bool)
	var missing []*entry
	for _, e := range st.chain {
		c, res := bestMatch(e, l)
		e.gone = res == noMatch && e != cur
		switch res {
		case isMatch:
			if t.update(e, c) {
				changed = true
			}
			used[c] = true
			seen[e] = true
		case undetermined:
			waiting = true
			seen[e] = true
			undet[e] = true
		default:
			if e != cur && !e.readDone && !e.finished {
				missing = append(missing, e)
			}
		}
	}
	for _, g := range l.groups {
		if (g.plain != nil && used[g.plain]) || (g.gz != nil && used[g.gz]) {
			if g.plain != nil {
				used[g.plain] = true
			}
			if g.gz != nil {
				used[g.gz] = true
			}
		}
	}
	if st.history == nil {
		// A checkpoint of an older agent: backups up to its cutoff that are
		// not in the chain are history.
		horizon := st.horizonLocked()
		st.history = make(map[string]bool)
		for _, g := range l.groups {
			if g.stamp <= horizon && !used[g.best()] {
				st.history[g.stamp] = true
			}
		}
		for stamp := range l.stamps {
			if stamp <= horizon && byStamp(l, stamp) == nil {
				st.history[stamp] = true // skipped by the scan: below the cutoff
			}
		}
		changed = true
	}
	if l.stable {
		for stamp := range st.history {
			if !l.stamps[stamp] {
				delete(st.history, stamp) // deleted by lumberjack: forget it
				changed = true
			}
		}
	}
	// Unknown files. Pending .gz files block conclusions until they can be
	// identified (or stalled long enough to be called corrupt).
	var fresh []*candidate
	for _, g := range l.groups {
		c := g.best()
		if c == nil || used[c] {
			continue
		}
		if st.history[g.stamp] {
			continue // read already, or there before the first start
		}
		if c.gz && (c.pending() || c.gzErr != nil) {
			waiting = true
			continue
		}
		if len(c.prefix) == 0 && c.usize == 0 {
			continue // an empty backup: nothing to read
		}
		fresh = append(fresh, c)
	}
	if a := l.active; a != nil && !used[a] && newIdentity(a.dev, a.ino, a.prefix).strong() {
		// A new active file joins once it holds a whole line: an empty file
		// could not be recognised after lumberjack gzips it.
		fresh = append(fresh, a)
	}
	var added []*entry
	for _, c := range fresh {
		e := &entry{id: newIdentity(c.dev, c.ino, c.prefix), path: c.path, stamp: c.stamp, size: c.usize,
			firstTime: firstEventTime(c.prefix), mtime: c.mtime}
		if c.stamp == "" {
			e.after = l.newest
		} else if !t.history {
			t.in.met.rotations.Inc() // rotated before the input saw it as the active file
		}
		t.log.Debug("new file", slog.String("path", c.path), slog.String("identity", e.id.String()))
		st.addLocked(e)
		seen[e] = true
		added = append(added, e)
		changed = true
	}
	if len(added) > 0 {
		st.sortLocked()
		if st.resumeAt != nil {
			if e := st.resumeNewLocked(added); e != nil {
				t.log.Info("reading resumes after what the last run handed to the pipeline, in a file found since its last checkpoint",
					slog.String("path", e.path), slog.Int64("offset", e.committed))
			}
		}
		// A new file whose predecessor in the chain is gone may have had
		// more predecessors that lumberjack deleted before the input saw
		// them (it deletes the oldest first).
		for i, e := range st.chain {
			if i > 0 && slices.Contains(added, e) {
				switch p := st.chain[i-1]; {
				case !seen[p]:
					e.gapBefore = true
				case undet[p]:
					e.gapMaybe = true
				}
			}
		}
	}
	if l.stable && !waiting {
		for _, e := range missing {
			t.lostLocked(e)
			changed = true
		}
	}
	if changed {
		st.sortLocked()
		st.pruneLocked()
		st.changedLocked()
	}
}

func byStamp(l *listing, stamp string) *group {
	for _, g := range l.groups {
		if g.stamp == stamp {
			return g
		}
	}
	return nil
}

// bestMatch finds e's file in the listing: the plain file with its inode
// first, then a plain file with its content, then a .gz of it.
func bestMatch(e *entry, l *listing) (*candidate, matchResult) {
	var content, gz *candidate
	res := noMatch
	try := func(c *candidate) bool {
		if c == nil {
			return false
		}
		switch e.id.match(c) {
		case isMatch:
			if !c.gz && c.dev == e.id.Dev && c.ino == e.id.Ino {
				return true
			}
			if c.gz {
				if gz == nil {
					gz = c
				}
			} else if content == nil {
				content = c
			}
		case undetermined:
			res = undetermined
		}
		return false
	}
	if try(l.active) {
		return l.active, isMatch
	}
	for _, g := range l.groups {
		if try(g.plain) {
			return g.plain, isMatch
		}
		try(g.gz)
	}
	switch {
	case content != nil:
		return content, isMatch
	case gz != nil:
		return gz, isMatch
	}
	return nil, res
}

// update records where e's file is now; it reports whether anything
// persisted changed.
func (t *tailer) update(e *entry, c *candidate) bool {
	before := *e
	e.path = c.path
	if c.stamp != "" && e.stamp == "" {
		e.stamp = c.stamp
		t.in.met.rotations.Inc()
		t.log.Debug("file rotated", slog.String("path", c.path), slog.String("identity", e.id.String()))
	}
	if !c.gz {
		e.size = c.size
		if e.id.Dev == c.dev && e.id.Ino == c.ino && len(c.prefix) > e.id.FPLen {
			e.id = e.id.extend(c.prefix)
		}
	} else if e.size < 0 && c.usize >= 0 {
		e.size = c.usize
	}
	if e.firstTime == "" {
		e.firstTime = firstEventTime(c.prefix)
	}
	e.mtime = c.mtime
	return e.path != before.path || e.stamp != before.stamp || e.size != before.size || e.id != before.id
}

// lostLocked reports a file that disappeared before it was read to its end,
// and drops it from the chain.
func (t *tailer) lostLocked(e *entry) {
	t.reportLostLocked(e, e.committed, "audit log file disappeared before it was read to its end (deleted by lumberjack's maxbackup/maxage while the input was behind, stalled or stopped)")
	for i, x := range t.st.chain {
		if x == e {
			t.st.dropLocked(i)
			break
		}
	}
}

// gzipStalled reports a .gz that stays truncated or corrupt for longer than
// gzStall: it is then ignored (with an error logged once), so that one broken
// file does not stop the input for good.
func (t *tailer) gzipStalled(c *candidate) bool {
	k := c.path
	s, ok := t.gzWatch[k]
	now := time.Now()
	if !ok || s.size != c.size || !s.mtime.Equal(c.mtime) {
		t.gzWatch[k] = gzStall{size: c.size, mtime: c.mtime, since: now}
		if !ok {
			t.log.Debug("waiting for a .gz backup being written", slog.String("path", c.path), slog.Int64("size", c.size))
		}
		return false
	}
	if now.Sub(s.since) < t.in.gzStall {
		return false
	}
	if !s.reported {
		s.reported = true
		t.gzWatch[k] = s
		reason := "truncated"
		if c.gzErr != nil {
			reason = c.gzErr.Error()
		}
		t.in.met.lostFiles.Inc() // none of it is read; its size is not known
		t.log.Error("ignoring a gzipped backup that is incomplete or corrupt and has not changed for a while; its lines are lost",
			slog.String("path", c.path), slog.String("problem", reason), slog.Duration("unchanged_for", now.Sub(s.since)),
			slog.Int64("bytes_lost", 0), slog.String("bytes_lost_bound", boundLower), slog.String("events_from", orUnknown(firstEventTime(c.prefix))))
	}
	return true
}

type gzStall struct {
	size     int64
	mtime    time.Time
	since    time.Time
	reported bool
}
