package auditlog

import (
	"bytes"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/kubetrail/kubetrail/event/auditfields"
)

// Loss accounting. A file of the chain that vanishes before it was read to
// its end is reported once, with:
//   - the bytes lost: its size at last sight minus what the pipeline has of
//     it (the committed offset, or further when a killed run had handed more
//     to the buffers, see handed.go). The figure is exact when the input had
//     seen the file as a backup (lumberjack writes nothing more to it), and a
//     lower bound when it was still the active file at last sight: lumberjack
//     went on writing to it until the next event did not fit, so its final
//     size is within one event of lumberjack's maximum size (max_size, or
//     inferred from the backups). The report adds an estimate (the average
//     size of the backups on disk, which all ended the same way) and its
//     range [size at last sight, maximum size], both minus the offset;
//   - the time range of the lost events: from the last event the pipeline
//     has of it to the first event of the next file still on disk.
//
// Files that lumberjack created and deleted while the input could not see
// them (stopped, stalled, far behind) leave no name behind: the input
// reports the gap they leave when it comes to the file after it, with the
// number of whole files estimated from the gap's time span (from the last
// event the pipeline has, plus the time the rest of that file took, to the
// first event of the file after the gap) divided by the time a file took
// near the gap: the median of the two backups on disk after it, the two
// rotations before it that the checkpoint knew, and the part of the file
// before it that was seen (the rate drifts: its neighbours say best what it
// was in the gap; the median keeps one odd file from setting it, see
// paceNear). The count is rounded to whole files, with a
// range from the shortest and longest time a backup on disk took (at least
// 10% either way); their bytes are that count times the backups' average
// size (range: the smallest backup to the maximum size). Filesystem
// notifications that named them (a stalled input) give the count exactly.
//
// Metrics: kubetrail_input_lost_files_total and _lost_bytes_total move by
// what is known (exact figures and lower bounds: never above the truth);
// _lost_bytes_estimated_total and _lost_files_estimated_total by the best
// estimates of everything lost, the known part included; the log lines
// carry each estimate's range.

// bound says how a reported byte count relates to the truth.
const (
	boundExact = "exact"
	boundLower = "lower_bound"
)

// reportLostLocked logs and counts what is lost of e beyond offset off.
func (t *tailer) reportLostLocked(e *entry, off int64, why string) {
	delivered, last := off, e.lastTime
	if e.delivered > delivered {
		delivered, last = e.delivered, e.deliveredTime
	}
	attrs := []any{slog.String("path", e.path), slog.String("identity", e.id.String()),
		slog.Int64("committed_offset", off), slog.Int64("size_at_last_sight", e.size)}
	if delivered > off {
		attrs = append(attrs, slog.Int64("delivered_offset", delivered))
	}
	if e.deliveredAll {
		// Read to its end and handed over by a run that was then killed,
		// before the checkpoint said so: nothing of it is lost.
		t.log.Info(why+"; it had been read to its end and handed to the pipeline before the last stop, nothing of it is lost", attrs...)
		return
	}
	exact := e.stamp != "" && e.size >= 0
	lost := int64(0)
	if e.size >= 0 {
		lost = max(e.size-delivered, 0)
	}
	if exact && lost == 0 {
		t.log.Info(why+"; it had been read to its end, nothing of it is lost", attrs...)
		return
	}
	bound := boundExact
	est := lossRange{est: lost, lo: lost, hi: lost}
	var model fileModel
	if !exact {
		bound = boundLower
		model = t.modelLocked()
		size := e.size
		if size < 0 {
			size = delivered
		}
		est = model.rest(size, delivered)
	}
	if last == "" && delivered == 0 {
		last = e.firstTime
	}
	next := t.nextLocked(e)
	to := ""
	if next != nil {
		to = next.firstTime
	}
	attrs = append(attrs, slog.Int64("bytes_lost", lost), slog.String("bytes_lost_bound", bound),
		slog.Int64("bytes_lost_estimated", est.est), slog.Int64("bytes_lost_min", est.lo), slog.Int64("bytes_lost_max", est.hi),
		slog.String("events_from", orUnknown(last)), slog.String("events_to", orUnknown(to)))
	msg := why + ": its unread lines are lost"
	if !exact {
		msg += " (it was the active file when last seen: bytes_lost counts what was seen; lumberjack wrote to it up to its maximum size, so bytes_lost_estimated and its range [bytes_lost_min, bytes_lost_max] count that too)"
		attrs = append(attrs, model.attrs()...)
	}
	if next != nil && next.gapMaybe && !next.readDone && next.committed == 0 && next != t.st.cur {
		// Discovered while e could not be told present or gone: e is gone.
		next.gapBefore = true
	}
	if next != nil && next.gapBefore {
		msg += "; files rotated after it may have been deleted unseen too (reported when the input reads on)"
		// The reader reports the gap after it when it comes to next, once
		// the filesystem notifications of the meantime have arrived.
		next.gapAfter = gapStartOf(e, last)
		if !exact {
			next.gapAfter.rest, next.gapAfter.seen = est, delivered
		}
	}
	t.in.met.lostFiles.Inc()
	t.in.met.lostBytes.Add(float64(lost))
	t.in.met.lostFilesEst.Inc()
	t.in.met.lostBytesEst.Add(float64(est.est))
	t.log.Error(msg, attrs...)
}

// reportGap runs when the reader comes to a file whose predecessor was gone
// when the file was discovered: files between them may have been deleted
// unseen. prev is the file before the gap.
func (t *tailer) reportGap(e *entry, prev *gapStart) {
	t.st.mu.Lock()
	pending := e.gapBefore
	t.st.mu.Unlock()
	if !pending {
		return
	}
	// The gap ends at e's first event, and the estimate measures how long
	// each file was written from their first events: the 1 KiB prefix a
	// scan reads holds one only when it is short (stageTimestamp comes
	// after the bodies).
	t.firstTimesOutside()
	t.st.mu.Lock()
	defer t.st.mu.Unlock()
	if !e.gapBefore {
		return
	}
	e.gapBefore = false
	attrs := []any{slog.String("after", orUnknown(prev.path)), slog.String("before", e.path),
		slog.String("events_from", orUnknown(prev.last)), slog.String("events_to", orUnknown(e.firstTime))}
	unseen, unseenAttrs := t.deletedUnseenLocked(prev, e)
	files, bytes, estAttrs := t.gapEstimateLocked(prev, e, unseen)
	attrs = append(attrs, estAttrs...)
	attrs = append(attrs, unseenAttrs...)
	t.in.met.gaps.Inc()
	t.in.met.lostFilesEst.Add(float64(files))
	t.in.met.lostBytesEst.Add(float64(bytes))
	t.log.Warn("the file before this one was already gone when this one was found: files rotated in between may have been deleted by lumberjack before the input saw them, and their events lost (files_lost_estimated and bytes_lost_estimated, with their ranges, estimate them from the time span and the backups on disk; files_deleted_unseen, when present, counts them by the filesystem's notifications; the estimate is counted in kubetrail_input_lost_bytes_estimated_total, not in lost_bytes_total)", attrs...)
}

// deletedUnseenLocked names the backups between prev and next that
// filesystem notifications saw created and that are gone without the input
// having known them (the input stalled, or fell behind by more than a scan).
// Without notifications for that time (the agent was not running) it says
// nothing.
func (t *tailer) deletedUnseenLocked(prev *gapStart, next *entry) (int, []any) {
	lo, hi := prev.lo, next.stamp
	if hi == "" {
		hi = "~" // after every stamp
	}
	known := make(map[string]bool, len(t.st.chain))
	for _, e := range t.st.chain {
		known[e.stamp] = true
	}
	stamps := t.wt.deletedUnseen(lo, hi, func(s string) bool { return t.stamps[s] || known[s] })
	if prev.skipFirst && len(stamps) > 0 {
		// The first backup stamped after prev became the active file is
		// prev itself, renamed.
		stamps = stamps[1:]
	}
	if len(stamps) == 0 {
		return 0, nil
	}
	return len(stamps), []any{slog.Int("files_deleted_unseen", len(stamps)), slog.String("first_deleted_unseen", t.in.names.prefix+stamps[0]+t.in.names.ext),
		slog.String("last_deleted_unseen", t.in.names.prefix+stamps[len(stamps)-1]+t.in.names.ext)}
}

// nextLocked is the entry after e in the chain, other than e.
func (t *tailer) nextLocked(e *entry) *entry {
	for i, x := range t.st.chain {
		if x == e && i+1 < len(t.st.chain) {
			return t.st.chain[i+1]
		}
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// firstEventTime is the stageTimestamp of the first line of prefix (the
// first bytes of a file), or "" when it holds no whole line.
func firstEventTime(prefix []byte) string {
	i := bytes.IndexByte(prefix, '\n')
	if i < 0 {
		return ""
	}
	var m auditfields.Meta
	if err := auditfields.Extract(prefix[:i], &m); err != nil {
		return ""
	}
	return string(m.StageTimestamp)
}

// oldestUnreadLocked is the oldest file not read to its end that is not
// open: the next one lumberjack can take away. It returns nil when every
// file but the open one was read.
func (t *tailer) oldestUnreadLocked() *entry {
	for _, e := range t.st.chain {
		if !e.readDone && !e.finished && e != t.st.cur {
			return e
		}
	}
	return nil
}

// atRiskLocked fills the closeness-to-loss gauges.
func (t *tailer) atRiskLocked(stamps map[string]bool) {
	m := t.in.met
	e := t.oldestUnreadLocked()
	if e == nil {
		m.riskBytes.Set(0)
		m.riskAge.Set(0)
		if m.riskRotations != nil {
			m.riskRotations.Set(math.Inf(1))
		}
		return
	}
	m.riskBytes.Set(float64(max(e.size-e.committed, 0)))
	age := 0.0
	since := e.lastTime
	if since == "" || e.committed == 0 {
		since = e.firstTime
	}
	if ts, err := time.Parse(time.RFC3339Nano, since); err == nil {
		age = time.Since(ts).Seconds()
	} else if !e.mtime.IsZero() {
		age = time.Since(e.mtime).Seconds()
	}
	m.riskAge.Set(max(age, 0))
	if m.riskRotations == nil || stamps == nil {
		return
	}
	// Lumberjack keeps the max_backups newest backups: the file at rank r
	// (1 = newest) goes at the (max_backups-r+1)th rotation from now.
	rank := 0 // not a backup yet: the next rotation makes it rank 1
	if e.stamp != "" {
		for s := range stamps {
			if s >= e.stamp {
				rank++
			}
		}
	}
	m.riskRotations.Set(float64(max(*t.in.cfg.MaxBackups-rank, 0)))
}

func (e *entry) String() string { return fmt.Sprintf("%s@%d", e.path, e.committed) }
