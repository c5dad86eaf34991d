package auditlog

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"sort"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/kubetrail/kubetrail/config"
)

// The estimates of loss.go rest on how lumberjack (v2, as kube-apiserver
// uses it) writes the log:
//   - one Write per event; a Write that would take the active file past
//     MaxSize MiB first rotates it: the file is renamed
//     <name>-<UTC time of the rotation, ms><ext> and a new one is created.
//     So every backup holds at most MaxSize MiB and is within one event of
//     it, and the active file that was rotated grew to that too;
//   - the stamp in a backup's name is when it stopped being the active
//     file, and the next file's first event was written right then: the
//     time a backup was the active file is its stamp minus the previous
//     backup's stamp (or minus its own first event);
//   - pruning (MaxBackups, MaxAge) deletes the oldest backups first, so the
//     backups on disk are consecutive rotations.

// lossRange is an estimate with its range (bytes or files).
type lossRange struct{ est, lo, hi int64 }

// fileModel is what the backups on disk say about lumberjack's files.
type fileModel struct {
	maxFile   int64  // lumberjack's maximum file size; 0 unknown
	maxSource string // where maxFile comes from
	sized     int    // backups whose size is known
	avgSize   float64
	minSize   int64
	timed     int // backups whose time as the active file is known too
	durAvg    time.Duration
	durMin    time.Duration
	durMax    time.Duration
	rate      float64 // bytes per second over the timed backups
	// disk is each timed backup on disk, oldest first.
	disk []pace
}

// pace is a file's bytes and the time it was the active file.
type pace struct {
	stamp string
	bytes int64
	dur   time.Duration
}

// modelLocked measures the backups of the last scan and of the chain.
func (t *tailer) modelLocked() fileModel {
	var m fileModel
	sizes := make(map[string]int64, len(t.st.backupSizes)+len(t.st.chain))
	for s, z := range t.st.backupSizes {
		sizes[s] = z
	}
	first := make(map[string]string)
	activeFirst := ""
	for _, e := range t.st.chain {
		if e.stamp == "" {
			if !e.gone && e.path == t.in.names.active && e.firstTime != "" {
				activeFirst = e.firstTime
			}
			continue
		}
		if len(t.st.backupSizes) == 0 && e.size > 0 {
			// Backups gone from disk are older: measured only when none
			// is left.
			sizes[e.stamp] = e.size
		}
		if e.firstTime != "" {
			first[e.stamp] = e.firstTime
		}
	}
	// A backup was the active file from its first event to the next
	// file's first event; without those, from the previous backup's stamp
	// (its rotation) to its own. The files in the directory are
	// consecutive: lumberjack deletes the oldest first.
	onDisk := make([]string, 0, len(t.stamps))
	for s := range t.stamps {
		onDisk = append(onDisk, s)
	}
	sort.Strings(onDisk)
	var total, timedBytes int64
	var timedDur time.Duration
	largest := int64(0)
	for _, z := range sizes {
		if z <= 0 {
			continue
		}
		m.sized++
		total += z
		largest = max(largest, z)
		if m.minSize == 0 || z < m.minSize {
			m.minSize = z
		}
	}
	for i, s := range onDisk {
		z := sizes[s]
		if z <= 0 {
			continue
		}
		begin, ok := eventTime(first[s])
		if !ok && i > 0 {
			begin, ok = stampTime(onDisk[i-1])
		}
		if !ok {
			continue
		}
		next := activeFirst
		if i+1 < len(onDisk) {
			next = first[onDisk[i+1]]
		}
		end, ok := eventTime(next)
		if !ok {
			if end, ok = stampTime(s); !ok {
				continue
			}
		}
		d := end.Sub(begin)
		if d <= 0 {
			continue
		}
		m.timed++
		m.disk = append(m.disk, pace{s, z, d})
		timedBytes += z
		timedDur += d
		if m.durMin == 0 || d < m.durMin {
			m.durMin = d
		}
		m.durMax = max(m.durMax, d)
	}
	if m.sized > 0 {
		m.avgSize = float64(total) / float64(m.sized)
	}
	if m.timed > 0 {
		m.durAvg = timedDur / time.Duration(m.timed)
		m.rate = float64(timedBytes) / timedDur.Seconds()
	}
	mib := int64(config.MiB)
	inferred := (largest + mib - 1) / mib * mib
	switch conf := t.in.cfg.maxFileBytes(); {
	case conf > 0 && largest <= conf:
		m.maxFile, m.maxSource = conf, "max_size"
	case largest > 0:
		m.maxFile, m.maxSource = inferred, "inferred from the largest backup"
		if conf > 0 {
			m.maxSource = "inferred from the largest backup, which is over max_size"
		}
	}
	if m.sized == 0 && m.maxFile > 0 {
		m.avgSize = float64(m.maxFile)
	}
	return m
}

func eventTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

func stampTime(s string) (time.Time, bool) {
	t, err := time.Parse(backupLayout, s)
	return t, err == nil
}

// firstTimesOutside fills in the first event time of the files of the
// chain that have none (their first line is longer than the prefix a scan
// reads): the gap estimate measures how long each file was written from
// them. It reads the files without holding st.mu.
func (t *tailer) firstTimesOutside() {
	type want struct {
		e    *entry
		path string
	}
	var ws []want
	t.st.mu.Lock()
	for _, e := range t.st.chain {
		if e.firstTime == "" && !e.gone && e.size != 0 {
			ws = append(ws, want{e, e.path})
		}
	}
	t.st.mu.Unlock()
	for _, w := range ws {
		ft := fileFirstEventTime(w.path, int64(t.in.cfg.MaxLineBytes))
		if ft == "" {
			continue
		}
		t.st.mu.Lock()
		if w.e.firstTime == "" {
			w.e.firstTime = ft
			t.st.progressLocked()
		}
		t.st.mu.Unlock()
	}
}

// attrs describes the model for a log line.
func (m fileModel) attrs() []any {
	a := []any{slog.Int("backups_measured", m.sized)}
	if m.maxFile > 0 {
		a = append(a, slog.Int64("max_file_bytes", m.maxFile), slog.String("max_file_bytes_from", m.maxSource))
	}
	if m.sized > 0 {
		a = append(a, slog.Int64("backup_bytes_avg", int64(m.avgSize)), slog.Int64("backup_bytes_min", m.minSize))
	}
	if m.timed > 0 {
		a = append(a, slog.String("file_duration_avg", m.durAvg.Round(time.Millisecond).String()),
			slog.String("file_duration_min", m.durMin.Round(time.Millisecond).String()),
			slog.String("file_duration_max", m.durMax.Round(time.Millisecond).String()))
	}
	return a
}

// rest estimates what a file that was the active file when last seen, at
// size, held past delivered when lumberjack rotated it: at least what was
// seen, at most the maximum size, most likely what the backups hold.
func (m fileModel) rest(size, delivered int64) lossRange {
	lo := max(size-delivered, 0)
	r := lossRange{est: lo, lo: lo, hi: lo}
	if m.maxFile > 0 {
		r.hi = max(m.maxFile-delivered, lo)
	}
	if m.avgSize > 0 {
		r.est = min(max(int64(m.avgSize)-delivered, lo), r.hi)
	}
	return r
}

// Durations of files in the gap may differ from those of the backups on
// disk: the file-count range allows at least this much either way.
const durationSlack = 0.10

// wholeFiles estimates the files rotated between from (when the file before
// the gap stopped being written, before rest of it was written) and to (the
// first event of the file after the gap), a file taking per (the pace near
// the gap) and between the shortest and longest the backups took.
func (m fileModel) wholeFiles(from, to time.Time, rest lossRange, per time.Duration) (files, bytes lossRange, ok bool) {
	if m.timed == 0 || per <= 0 || m.avgSize <= 0 || !to.After(from) {
		return files, bytes, false
	}
	span := to.Sub(from).Seconds()
	avg := per.Seconds()
	rate := m.avgSize / avg
	tau := func(b int64) float64 { return float64(b) / rate }
	dMin := min(m.durMin.Seconds(), avg*(1-durationSlack))
	dMax := max(m.durMax.Seconds(), avg*(1+durationSlack))
	count := func(x float64) int64 { return max(int64(math.Round(x)), 0) }
	files.est = count((span - tau(rest.est)) / avg)
	files.lo = min(count((span-tau(rest.hi))/dMax), files.est)
	files.hi = max(count((span-tau(rest.lo))/dMin), files.est)
	return files, m.bytesOf(files), true
}

// nearGap is how many files on each side of a gap set its pace.
const nearGap = 2

// paceNear is the time a file takes near the gap after prev: the median,
// per file of the backups' average size, of the nearGap backups on disk
// after it, of the nearGap rotations before it that the checkpoint knew
// (when they lead up to it: the gap is one the input was stopped through),
// and of the part of prev seen before the gap when it was the active file.
// The rate drifts, so its neighbours say best what it was in the gap; the
// median keeps one odd file (a burst, a pause, another workload) from
// setting it. Files before the gap count at the backups' average size.
func (m fileModel) paceNear(prev *gapStart, past []string) (time.Duration, int) {
	var per []float64 // seconds per average file
	add := func(bytes float64, d time.Duration) {
		if bytes > 0 && d > 0 {
			per = append(per, d.Seconds()*m.avgSize/bytes)
		}
	}
	after := 0
	for _, s := range m.disk {
		if after == nearGap {
			break
		}
		if prev.lo != "" && s.stamp <= prev.lo {
			continue
		}
		add(float64(s.bytes), s.dur)
		after++
	}
	if i := len(past) - 1; prev.lo != "" && i >= 0 && past[i] == prev.lo {
		for k := 0; k < nearGap && i-k-1 >= 0; k++ {
			t1, ok1 := stampTime(past[i-k])
			t0, ok0 := stampTime(past[i-k-1])
			if ok1 && ok0 {
				add(m.avgSize, t1.Sub(t0))
			}
		}
	}
	if prev.skipFirst && prev.seen > 0 {
		t0, ok0 := stampTime(prev.lo)
		t1, ok1 := eventTime(prev.last)
		if ok0 && ok1 {
			add(float64(prev.seen), t1.Sub(t0))
		}
	}
	if len(per) == 0 || m.avgSize <= 0 {
		return m.durAvg, 0
	}
	sort.Float64s(per)
	med := per[len(per)/2]
	if len(per)%2 == 0 {
		med = (per[len(per)/2-1] + med) / 2
	}
	return time.Duration(med * float64(time.Second)), len(per)
}

// bytesOf is what n whole files hold: the backups' average each, between
// the smallest backup and the maximum size.
func (m fileModel) bytesOf(n lossRange) lossRange {
	hi := m.maxFile
	if hi == 0 {
		hi = int64(m.avgSize)
	}
	return lossRange{est: n.est * int64(m.avgSize), lo: n.lo * m.minSize, hi: n.hi * hi}
}

// gapEstimateLocked estimates the whole files, and their bytes, rotated
// and deleted between prev and next, which the input never saw (see the
// top of loss.go). unseen is how many filesystem notifications named. It
// returns the estimates (0 when unknown) and the log attributes.
func (t *tailer) gapEstimateLocked(prev *gapStart, next *entry, unseen int) (files, bytes int64, attrs []any) {
	m := t.modelLocked()
	unknown := func(why string) (int64, int64, []any) {
		a := []any{slog.String("bytes_lost_estimated", "unknown"), slog.String("estimate_missing", why)}
		if unseen > 0 {
			n := int64(unseen)
			b := m.bytesOf(lossRange{n, n, n})
			return n, b.est, []any{slog.Int64("files_lost_estimated", n), slog.Int64("bytes_lost_estimated", b.est),
				slog.Int64("bytes_lost_min", b.lo), slog.Int64("bytes_lost_max", b.hi)}
		}
		return 0, 0, append(a, m.attrs()...)
	}
	to, err := time.Parse(time.RFC3339Nano, next.firstTime)
	if err != nil {
		return unknown("no time for the first event after the gap")
	}
	var from time.Time
	if prev.lo != "" && !prev.skipFirst {
		// The file before the gap was a backup: the gap starts at its
		// rotation.
		from, err = time.Parse(backupLayout, prev.lo)
	} else {
		from, err = time.Parse(time.RFC3339Nano, prev.last)
	}
	if err != nil {
		return unknown("no time for the last event before the gap")
	}
	per, near := m.paceNear(prev, t.st.pastStamps)
	n, b, ok := m.wholeFiles(from, to, prev.rest, per)
	if !ok {
		return unknown("no backup on disk whose size and time as the active file are known")
	}
	if unseen > 0 {
		// Notifications named them: the count is known.
		u := int64(unseen)
		n = lossRange{est: u, lo: u, hi: max(n.hi, u)}
		b = m.bytesOf(n)
	}
	attrs = []any{slog.String("gap", to.Sub(from).Round(time.Millisecond).String()),
		slog.String("file_duration_near_gap", per.Round(time.Millisecond).String()), slog.Int("files_near_gap", near),
		slog.Int64("files_lost_estimated", n.est), slog.Int64("files_lost_min", n.lo), slog.Int64("files_lost_max", n.hi),
		slog.Int64("bytes_lost_estimated", b.est), slog.Int64("bytes_lost_min", b.lo), slog.Int64("bytes_lost_max", b.hi)}
	return n.est, b.est, append(attrs, m.attrs()...)
}

// fileFirstEventTime is the stageTimestamp of the first line of the file at
// path (plain or gzip; tried with .gz when path is gone: lumberjack may have
// compressed it meanwhile), reading at most limit bytes; "" when unknown.
func fileFirstEventTime(path string, limit int64) string {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		f, err = os.Open(path + ".gz")
	}
	if err != nil {
		return ""
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	var r io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return ""
		}
		defer zr.Close()
		r = zr
	}
	line := make([]byte, 0, 64<<10)
	buf := make([]byte, 64<<10)
	for int64(len(line)) <= limit {
		n, err := r.Read(buf)
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			return firstEventTime(append(line, buf[:i+1]...))
		}
		line = append(line, buf[:n]...)
		if err != nil {
			return ""
		}
	}
	return ""
}
