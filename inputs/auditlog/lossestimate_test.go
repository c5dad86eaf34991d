package auditlog

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	_ "unsafe" // go:linkname to lumberjack's clock

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/internal/lossreport"
)

// lumberjackNow is lumberjack's clock (its backup stamps), which it keeps
// in a variable for its tests; the estimate tests run it on the rig's.
//
//go:linkname lumberjackNow gopkg.in/natefinch/lumberjack%2ev2.currentTime
var lumberjackNow func() time.Time

// estRig writes real audit events with lumberjack as kube-apiserver
// configures it (--audit-log-maxsize=1, compress) and knows which file each
// one went to (lumberjack's rule: a write that would take the file past
// MaxSize rotates it first). Time is the rig's: each event is stamped
// vpace(i) after the previous one, and lumberjack's clock (its backup
// stamps) reads the same time, whatever the machine's load; the rig writes
// at about that pace in real time only so that the input keeps up. The
// estimate's arithmetic is checked against lumberjack's real rotations
// without depending on the scheduler (the end-to-end test has real times).
type estRig struct {
	t      *testing.T
	h      *harness
	l      *lumberjack.Logger
	lines  [][]byte
	fileOf []int // file index of each line written
	size   int64 // of the current file
	file   int
	pace   time.Duration // per line, real time
	start  time.Time     // of the real-time schedule
	// vpace is the time between events i-1 and i on the rig's clock, now
	// (unix ns) the time of the last event written.
	vpace func(i int) time.Duration
	now   atomic.Int64
	mu    sync.Mutex
}

const estMaxSize = 1 << 20 // lumberjack MaxSize 1 (MiB)

func newEstRig(t *testing.T, maxBackups int) *estRig {
	h := newHarness(t)
	h.mkdir()
	r := &estRig{t: t, h: h, lines: genLines(t, 40000, 91),
		l: &lumberjack.Logger{Filename: h.path, MaxSize: 1, MaxBackups: maxBackups, Compress: true},
		// About 900 corpus events per MiB: a file every ~0.45 s.
		pace: 500 * time.Microsecond}
	r.vpace = func(int) time.Duration { return r.pace }
	r.now.Store(time.Now().UnixNano())
	real := lumberjackNow
	lumberjackNow = func() time.Time { return time.Unix(0, r.now.Load()).UTC() }
	t.Cleanup(func() {
		r.l.Close()
		h.millDone()
		lumberjackNow = real
	})
	return r
}

// write writes n more events at the pace.
func (r *estRig) write(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.start.IsZero() {
		r.start = time.Now()
	}
	key := []byte(`"stageTimestamp":"`)
	for range n {
		i := len(r.fileOf)
		require.Less(r.t, i, len(r.lines), "the rig ran out of events")
		switch d := time.Until(r.start.Add(time.Duration(i) * r.pace)); {
		case d > time.Millisecond:
			time.Sleep(d)
		case d < -20*time.Millisecond:
			// Behind (the test waited, or the machine is loaded): go on
			// from here at the pace instead of catching up in a burst.
			r.start = time.Now().Add(-time.Duration(i) * r.pace)
		}
		line := r.lines[i]
		j := bytes.Index(line, key) + len(key)
		now := time.Unix(0, r.now.Add(int64(r.vpace(i)))).UTC()
		copy(line[j:j+27], now.Format("2006-01-02T15:04:05.000000Z"))
		n := int64(len(line)) + 1
		if r.size+n > estMaxSize {
			r.file++
			r.size = 0
		}
		r.size += n
		writeLines(r.t, r.l, [][]byte{line})
		r.fileOf = append(r.fileOf, r.file)
	}
}

// fileNow is the index of the file being written.
func (r *estRig) fileNow() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.file
}

// background writes at the pace until stop is closed.
func (r *estRig) background(stop <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			r.write(20)
		}
	}()
	return done
}

// truth is the bytes no run delivered, and the files they were in: how
// many whole ones, and whether part of a file was lost.
func (r *estRig) truth(delivered [][]byte) (lost int64, whole, partial int) {
	got := make(map[string]bool, len(delivered))
	for _, d := range delivered {
		got[auditID(d)] = true
	}
	perFile := map[int][2]int{} // lines lost, lines
	for i, f := range r.fileOf {
		c := perFile[f]
		c[1]++
		if !got[auditID(r.lines[i])] {
			c[0]++
			lost += int64(len(r.lines[i])) + 1
		}
		perFile[f] = c
	}
	for _, c := range perFile {
		switch {
		case c[0] == c[1]:
			whole++
		case c[0] > 0:
			partial++
		}
	}
	return lost, whole, partial
}

// lossEstimateScenario: the input reads while lumberjack writes, and is
// stopped in the middle of it; lumberjack rotates sc.rotations times more
// while it is down, then a new run reads what is left. The bytes lost (the
// rest of the file the input was reading, and sc.whole files created and
// deleted while it was down) must lie in the reported range, the estimate
// within 10% of them, and lost_bytes_total at most them.
func lossEstimateScenario(t *testing.T, sc estScenario) {
	r := newEstRig(t, sc.backups)
	mods := func(c *Config) {
		c.MaxBackups = new(int)
		*c.MaxBackups = sc.backups
		c.MaxSize = sc.maxSize
	}
	stopFile := -1
	if sc.slowFrom > 0 {
		r.vpace = func(int) time.Duration {
			if stopFile >= 0 && r.file >= stopFile+sc.slowFrom {
				return 2 * r.pace
			}
			return r.pace
		}
	}
	sink := &recSink{}
	r.write(300)
	run := r.h.start(sink, mods)
	stopWriting := make(chan struct{})
	written := r.background(stopWriting)
	eventually(t, 30*time.Second, func() bool { return r.fileNow() >= 2 }, "two rotations")
	time.Sleep(150 * time.Millisecond) // into the third file
	// The writer pauses (in real time only: its clock stands still) while
	// the input catches up and stops.
	r.mu.Lock()
	eventually(t, 30*time.Second, func() bool { return sink.count() == len(r.fileOf) }, "caught up")
	require.NoError(t, run.stop(t))
	stopFile = r.file
	target := r.file + sc.rotations
	r.mu.Unlock()
	eventually(t, 60*time.Second, func() bool { return r.fileNow() >= target }, "rotations while the input is stopped")
	time.Sleep(50 * time.Millisecond) // into the next file
	close(stopWriting)
	<-written
	r.l.Close()
	r.h.millDone()
	eventually(t, 10*time.Second, func() bool {
		b, _ := filepath.Glob(filepath.Join(r.h.dir, "audit-*"))
		return len(b) == sc.backups
	}, "lumberjack pruning")

	run = r.h.start(sink, mods)
	// Everything still on disk arrives.
	last := auditID(r.lines[len(r.fileOf)-1])
	eventually(t, 30*time.Second, func() bool {
		all := sink.all()
		return len(all) > 0 && auditID(all[len(all)-1]) == last
	}, "the events still on disk delivered")
	settle()
	require.NoError(t, run.stop(t))

	lost, whole, partial := r.truth(sink.all())
	require.Equal(t, sc.whole, whole, "files the rig wrote and lumberjack deleted while the input was down")
	require.Equal(t, 1, partial, "the file being read at the stop is lost in part")
	var reports []string
	reports = append(reports, r.h.logs.find(slog.LevelError, "bytes_lost=")...)
	reports = append(reports, r.h.logs.find(slog.LevelWarn, "files rotated in between")...)
	f := lossreport.Parse(reports)
	known := run.metric("kubetrail_input_lost_bytes_total")
	est := run.metric("kubetrail_input_lost_bytes_estimated_total")
	estFiles := run.metric("kubetrail_input_lost_files_estimated_total")
	t.Logf("truth %d bytes (%d whole files + the rest of the active one); reported: known %.0f, estimated %d [%d, %d] (%+.1f%%), whole files %d [%d, %d]",
		lost, whole, known, f.Bytes.Est, f.Bytes.Lo, f.Bytes.Hi, 100*(float64(f.Bytes.Est)/float64(lost)-1), f.Files.Est, f.Files.Lo, f.Files.Hi)
	for _, l := range reports {
		t.Log(l)
	}
	require.Len(t, f.Lines, 2, "one report for the active file, one for the gap after it")
	assert.LessOrEqual(t, known, float64(lost), "lost_bytes_total never counts more than was lost")
	assert.Equal(t, float64(f.Bytes.Est), est, "lost_bytes_estimated_total is the sum of the reported estimates")
	assert.Equal(t, float64(1+f.Files.Est), estFiles, "lost_files_estimated_total: the active file and the gap's files")
	assert.LessOrEqual(t, f.Bytes.Lo, lost, "the truth is in the reported range")
	assert.GreaterOrEqual(t, f.Bytes.Hi, lost, "the truth is in the reported range")
	assert.LessOrEqual(t, f.Files.Lo, int64(whole), "the whole files lost are in the reported range")
	assert.GreaterOrEqual(t, f.Files.Hi, int64(whole), "the whole files lost are in the reported range")
	assert.InEpsilon(t, float64(lost), float64(f.Bytes.Est), 0.10, "the estimate is within 10%% of the truth")
}

// estScenario: lumberjack keeps backups backups and rotates rotations
// times while the input is stopped; whole files are then deleted unseen.
// From the slowFrom-th file after the one active at the stop (0: never),
// events come at half the rate.
type estScenario struct {
	backups, rotations, whole int
	maxSize                   *int
	slowFrom                  int
}

// Lumberjack rotates three times while the input is stopped, keeping 2
// backups: only the file that was active at the stop is deleted.
func TestLossEstimateActiveFileOnly(t *testing.T) {
	one := 1
	lossEstimateScenario(t, estScenario{backups: 2, rotations: 3, whole: 0, maxSize: &one})
}

// Six rotations: the active file at the stop and the three after it are
// deleted; max_size unset, inferred from the backups.
func TestLossEstimateWholeFiles(t *testing.T) {
	lossEstimateScenario(t, estScenario{backups: 2, rotations: 6, whole: 3})
}

// The rate halves after the gap, from the third of the four backups kept
// on: their average pace would count one file too few (as the end-to-end
// test saw on a loaded machine); the files next to the gap, on both sides,
// set it.
func TestLossEstimateRateDrift(t *testing.T) {
	lossEstimateScenario(t, estScenario{backups: 4, rotations: 8, whole: 3, slowFrom: 6})
}

func TestMaxSizeConfig(t *testing.T) {
	c := NewConfig()
	c.Path = "/var/log/audit.log"
	require.NoError(t, c.Validate())
	assert.Zero(t, c.maxFileBytes(), "unset")
	for _, tc := range []struct {
		v    int
		want int64
	}{{0, 100 * int64(config.MiB)}, {1, int64(config.MiB)}, {250, 250 * int64(config.MiB)}} {
		c.MaxSize = &tc.v
		require.NoError(t, c.Validate())
		assert.Equal(t, tc.want, c.maxFileBytes(), "max_size %d", tc.v)
	}
	bad := -1
	c.MaxSize = &bad
	require.ErrorContains(t, c.Validate(), "max_size")
}

// The first event of a file whose first line is longer than the prefix a
// scan reads, plain and gzipped.
func TestFileFirstEventTime(t *testing.T) {
	dir := t.TempDir()
	line := genLines(t, 1, 5)[0]
	big := bytes.Replace(line, []byte(`"kind":"Event",`), []byte(`"kind":"Event","pad":"`+strings.Repeat("x", 100000)+`",`), 1)
	want := firstEventTime(append(bytes.Clone(big), '\n'))
	require.NotEmpty(t, want)
	require.Empty(t, firstEventTime(append(bytes.Clone(big[:fpMax]), '\n')[:fpMax]), "not in a scan's prefix")
	plain := filepath.Join(dir, "audit-2026-01-01T00-00-00.000.log")
	require.NoError(t, os.WriteFile(plain, append(append(bytes.Clone(big), '\n'), line...), 0o600))
	assert.Equal(t, want, fileFirstEventTime(plain, 1<<20))
	assert.Empty(t, fileFirstEventTime(plain, 1<<10), "over the limit")
	l := &lumberjack.Logger{Filename: filepath.Join(dir, "b", "audit.log"), MaxSize: 1, Compress: true}
	writeLines(t, l, [][]byte{big, line})
	require.NoError(t, l.Rotate())
	require.NoError(t, l.Close())
	eventually(t, 10*time.Second, func() bool {
		g, _ := filepath.Glob(filepath.Join(dir, "b", "audit-*.log"))
		gz, _ := filepath.Glob(filepath.Join(dir, "b", "audit-*.log.gz"))
		return len(g) == 0 && len(gz) == 1
	}, "compressed")
	gz, _ := filepath.Glob(filepath.Join(dir, "b", "audit-*.log.gz"))
	assert.Equal(t, want, fileFirstEventTime(strings.TrimSuffix(gz[0], ".gz"), 1<<20), "found as .gz")
}
