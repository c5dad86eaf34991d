package auditlog

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/kubetrail/kubetrail/config"
)

// lossFigures sums the estimates of loss report lines (ERROR for a file,
// WARN for a gap): bytes and files, each as estimate, min and max.
type lossFigures struct {
	bytes, files lossRange
	lines        int
}

var reLossAttr = regexp.MustCompile(` (bytes|files)_lost_(estimated|min|max)=(\d+)`)

func parseLossFigures(lines []string) lossFigures {
	var f lossFigures
	for _, l := range lines {
		if !strings.Contains(l, "_lost_estimated=") {
			continue
		}
		f.lines++
		for _, m := range reLossAttr.FindAllStringSubmatch(l, -1) {
			v, _ := strconv.ParseInt(m[3], 10, 64)
			r := &f.bytes
			if m[1] == "files" {
				r = &f.files
			}
			switch m[2] {
			case "estimated":
				r.est += v
			case "min":
				r.lo += v
			case "max":
				r.hi += v
			}
		}
	}
	return f
}

// estRig writes real audit events with lumberjack as kube-apiserver
// configures it (--audit-log-maxsize=1, compress) and knows which file each
// one went to (lumberjack's rule: a write that would take the file past
// MaxSize rotates it first). It writes at about a steady pace so that the
// input keeps up, but the events' times are exactly steady (t0 + i*pace,
// whatever the machine's load): the estimate works from event times, so
// the test checks its arithmetic against lumberjack's real rotations
// without depending on the scheduler (the end-to-end test has real
// times).
type estRig struct {
	t      *testing.T
	h      *harness
	l      *lumberjack.Logger
	lines  [][]byte
	fileOf []int // file index of each line written
	size   int64 // of the current file
	file   int
	pace   time.Duration // per line
	start  time.Time     // of the real-time schedule
	t0     time.Time     // of the events' times
	mu     sync.Mutex
}

const estMaxSize = 1 << 20 // lumberjack MaxSize 1 (MiB)

func newEstRig(t *testing.T, maxBackups int) *estRig {
	h := newHarness(t)
	h.mkdir()
	r := &estRig{t: t, h: h, lines: genLines(t, 40000, 91),
		l: &lumberjack.Logger{Filename: h.path, MaxSize: 1, MaxBackups: maxBackups, Compress: true},
		// About 900 corpus events per MiB: a file every ~0.45 s.
		pace: 500 * time.Microsecond}
	t.Cleanup(func() {
		r.l.Close()
		h.millDone()
	})
	return r
}

// write writes n more events at the pace.
func (r *estRig) write(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.start.IsZero() {
		r.start = time.Now()
		r.t0 = r.start
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
		copy(line[j:j+27], r.t0.Add(time.Duration(i)*r.pace).UTC().Format("2006-01-02T15:04:05.000000Z"))
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

// lossEstimateScenario: the input reads while lumberjack writes at a
// steady pace, and is stopped in the middle of it; lumberjack rotates
// rotations times more (keeping 2 backups) while it is down, then a new run
// reads what is left. The bytes lost (the rest of the file the input was
// reading, and wholeFiles files created and deleted while it was down) must
// lie in the reported range, the estimate within 10% of them, and
// lost_bytes_total at most them.
func lossEstimateScenario(t *testing.T, rotations, wholeFiles int, maxSize *int) {
	r := newEstRig(t, 2)
	mods := func(c *Config) {
		c.MaxBackups = new(int)
		*c.MaxBackups = 2
		c.MaxSize = maxSize
	}
	sink := &recSink{}
	r.write(300)
	run := r.h.start(sink, mods)
	stopWriting := make(chan struct{})
	written := r.background(stopWriting)
	eventually(t, 30*time.Second, func() bool { return r.fileNow() >= 2 }, "two rotations")
	time.Sleep(150 * time.Millisecond) // into the third file
	require.NoError(t, run.stop(t))
	target := r.fileNow() + rotations
	eventually(t, 60*time.Second, func() bool { return r.fileNow() >= target }, "rotations while the input is stopped")
	time.Sleep(50 * time.Millisecond) // into the next file
	close(stopWriting)
	<-written
	r.l.Close()
	r.h.millDone()
	eventually(t, 10*time.Second, func() bool {
		b, _ := filepath.Glob(filepath.Join(r.h.dir, "audit-*"))
		return len(b) == 2
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
	require.Equal(t, wholeFiles, whole, "files the rig wrote and lumberjack deleted while the input was down")
	require.Equal(t, 1, partial, "the file being read at the stop is lost in part")
	var reports []string
	reports = append(reports, r.h.logs.find(slog.LevelError, "bytes_lost=")...)
	reports = append(reports, r.h.logs.find(slog.LevelWarn, "files rotated in between")...)
	f := parseLossFigures(reports)
	known := run.metric("kubetrail_input_lost_bytes_total")
	est := run.metric("kubetrail_input_lost_bytes_estimated_total")
	estFiles := run.metric("kubetrail_input_lost_files_estimated_total")
	t.Logf("truth %d bytes (%d whole files + the rest of the active one); reported: known %.0f, estimated %d [%d, %d] (%+.1f%%), whole files %d [%d, %d]",
		lost, whole, known, f.bytes.est, f.bytes.lo, f.bytes.hi, 100*(float64(f.bytes.est)/float64(lost)-1), f.files.est, f.files.lo, f.files.hi)
	for _, l := range reports {
		t.Log(l)
	}
	require.Equal(t, 2, f.lines, "one report for the active file, one for the gap after it")
	assert.LessOrEqual(t, known, float64(lost), "lost_bytes_total never counts more than was lost")
	assert.Equal(t, float64(f.bytes.est), est, "lost_bytes_estimated_total is the sum of the reported estimates")
	assert.Equal(t, float64(1+f.files.est), estFiles, "lost_files_estimated_total: the active file and the gap's files")
	assert.LessOrEqual(t, f.bytes.lo, lost, "the truth is in the reported range")
	assert.GreaterOrEqual(t, f.bytes.hi, lost, "the truth is in the reported range")
	assert.LessOrEqual(t, f.files.lo, int64(whole), "the whole files lost are in the reported range")
	assert.GreaterOrEqual(t, f.files.hi, int64(whole), "the whole files lost are in the reported range")
	assert.InEpsilon(t, float64(lost), float64(f.bytes.est), 0.10, "the estimate is within 10%% of the truth")
}

// Lumberjack rotates three times while the input is stopped, keeping 2
// backups: only the file that was active at the stop is deleted.
func TestLossEstimateActiveFileOnly(t *testing.T) {
	one := 1
	lossEstimateScenario(t, 3, 0, &one)
}

// Six rotations: the active file at the stop and the three after it are
// deleted; max_size unset, inferred from the backups.
func TestLossEstimateWholeFiles(t *testing.T) {
	lossEstimateScenario(t, 6, 3, nil)
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
