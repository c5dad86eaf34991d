package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/event/auditfields"
)

func corpusDir(t testing.TB) string {
	t.Helper()
	d := filepath.Join("..", "..", CorpusDir)
	if _, err := os.Stat(d); err != nil {
		t.Fatalf("corpus: %v", err)
	}
	return d
}

// checkWorkload parses every event of w and checks the invariants the
// harness relies on; it returns the data's hash.
func checkWorkload(t *testing.T, w *Workload) [32]byte {
	t.Helper()
	data, err := os.ReadFile(w.Path)
	if err != nil {
		t.Fatal(err)
	}
	data = data[:w.Bytes]
	ids := make(map[string]bool, len(w.Events))
	var m event.Meta
	off := 0
	for i, e := range w.Events {
		line := data[off : off+int(e.Len)]
		off += int(e.Len)
		if line[len(line)-1] != '\n' || bytes.IndexByte(line[:len(line)-1], '\n') >= 0 {
			t.Fatalf("%s event %d: not one line", w.Mix, i)
		}
		line = line[:len(line)-1]
		if !json.Valid(line) {
			t.Fatalf("%s event %d: invalid JSON: %.200s", w.Mix, i, line)
		}
		if err := auditfields.Extract(line, &m); err != nil {
			t.Fatalf("%s event %d: %v", w.Mix, i, err)
		}
		if got := string(line[e.TS : int(e.TS)+tsLen]); got != tsPlaceholder || string(m.StageTimestamp) != tsPlaceholder {
			t.Fatalf("%s event %d: stageTimestamp at %d is %q, Extract says %q", w.Mix, i, e.TS, got, m.StageTimestamp)
		}
		if len(m.AuditID) != 36 || ids[string(m.AuditID)] {
			t.Fatalf("%s event %d: auditID %q not unique or not UUID-shaped", w.Mix, i, m.AuditID)
		}
		ids[string(m.AuditID)] = true
		if !bytes.HasPrefix(line, []byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"`)) {
			t.Fatalf("%s event %d: not in kube-apiserver's key order: %.100s", w.Mix, i, line)
		}
	}
	return sha256.Sum256(data)
}

// TestWorkloads generates every mix twice (deterministic, valid, unique
// auditIDs) and checks a prefix is what a smaller workload holds.
func TestWorkloads(t *testing.T) {
	size := int64(3 << 20)
	for _, mix := range Mixes {
		t.Run(string(mix), func(t *testing.T) {
			w1, err := Prepare(t.TempDir(), mix, size, DefaultSeed, corpusDir(t))
			if err != nil {
				t.Fatal(err)
			}
			w2, err := Prepare(t.TempDir(), mix, size, DefaultSeed, corpusDir(t))
			if err != nil {
				t.Fatal(err)
			}
			if w1.Bytes > size || w1.Bytes < size-700<<10 || len(w1.Events) < 200 {
				t.Fatalf("%d events, %d bytes for a %d-byte workload", len(w1.Events), w1.Bytes, size)
			}
			if h1, h2 := checkWorkload(t, w1), checkWorkload(t, w2); h1 != h2 {
				t.Fatal("same seed, different bytes")
			}
			p := w1.Prefix(size / 2)
			if p.Bytes > size/2 || len(p.Events) >= len(w1.Events) {
				t.Fatalf("prefix of %d bytes holds %d bytes", size/2, p.Bytes)
			}
			checkWorkload(t, p)
		})
	}
}

// TestHeavyShape checks the heavy mix's proportions on 64 MiB (slow under
// -race: set KUBETRAIL_BENCH_SHAPE=1).
func TestHeavyShape(t *testing.T) {
	if os.Getenv("KUBETRAIL_BENCH_SHAPE") == "" {
		t.Skip("set KUBETRAIL_BENCH_SHAPE=1 to check the heavy mix's proportions on 64 MiB")
	}
	w, err := Prepare(t.TempDir(), MixHeavy, 64<<20, DefaultSeed, "")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := w.Describe()
	if err != nil {
		t.Fatal(err)
	}
	mean := float64(w.Bytes) / float64(len(w.Events))
	evPct := func(c Class) float64 { return 100 * float64(c.Events) / float64(len(w.Events)) }
	bPct := func(c Class) float64 { return 100 * float64(c.Bytes) / float64(w.Bytes) }
	t.Logf("mean %.0f B; %+v", mean, cs)
	if mean < 6500 || mean > 8200 || evPct(cs[0]) < 83 || evPct(cs[0]) > 87 || evPct(cs[2]) < 1.5 || evPct(cs[2]) > 2.5 || bPct(cs[2]) < 58 || bPct(cs[2]) > 74 {
		t.Fatalf("heavy mix out of shape: mean %.0f B, %v", mean, cs)
	}
}

func TestBigLines(t *testing.T) {
	w, err := Prepare(t.TempDir(), MixBigLines, 17<<20+bigLine1+bigLine2+2, DefaultSeed, corpusDir(t))
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, e := range w.Events {
		if e.Len > 100<<10 && e.Len-1 != 203235 && e.Len-1 != 202878 && e.Len-1 != 203274 && e.Len-1 != 403503 && e.Len-1 != 643060 {
			sizes = append(sizes, int(e.Len-1))
		}
	}
	if len(sizes) != 2 || sizes[0] != bigLine1 || sizes[1] != bigLine2 {
		t.Fatalf("big lines %v, want [%d %d]", sizes, bigLine1, bigLine2)
	}
	if bigLine2 >= int(4*config.MiB) {
		t.Fatal("the 3.9 MiB line must stay under max_line_bytes")
	}
	checkWorkload(t, w)
}

// TestReplay replays through lumberjack with rotation and checks every
// event arrives whole, stamped, in order.
func TestReplay(t *testing.T) {
	w, err := Prepare(t.TempDir(), MixReal, 3<<20, DefaultSeed, corpusDir(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	lj := &lumberjack.Logger{Filename: filepath.Join(dir, "audit.log"), MaxSize: 1}
	before := time.Now().Add(-time.Second)
	st, err := w.Replay(context.Background(), lj, 256<<10, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	lj.Close()
	if st.Events != len(w.Events) {
		t.Fatalf("replayed %d of %d events", st.Events, len(w.Events))
	}
	files, _ := filepath.Glob(filepath.Join(dir, "audit*.log"))
	if len(files) < 3 {
		t.Fatalf("expected rotations, got files %v", files)
	}
	// Backups sort by name, the active file last.
	var ordered []string
	for _, f := range files {
		if filepath.Base(f) != "audit.log" {
			ordered = append(ordered, f)
		}
	}
	ordered = append(ordered, filepath.Join(dir, "audit.log"))
	var m event.Meta
	n := 0
	for _, f := range ordered {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 8<<20)
		for sc.Scan() {
			if err := auditfields.Extract(sc.Bytes(), &m); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			ts, err := time.Parse(time.RFC3339Nano, string(m.StageTimestamp))
			if err != nil || ts.Before(before) || ts.After(time.Now()) {
				t.Fatalf("event %d: stageTimestamp %q is not the write time (%v)", n, m.StageTimestamp, err)
			}
			n++
		}
		fh.Close()
	}
	if n != len(w.Events) {
		t.Fatalf("%d events in the files, %d written", n, len(w.Events))
	}
}

func TestReplayPaced(t *testing.T) {
	w, err := Prepare(t.TempDir(), MixReal, 1<<20, DefaultSeed, corpusDir(t))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	start := time.Now()
	st, err := w.ReplayPaced(context.Background(), &buf, 1000, 300, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); st.Events != 300 || d < 250*time.Millisecond || d > 3*time.Second {
		t.Fatalf("%d events in %s at 1000/s", st.Events, d)
	}
	if got := bytes.Count(buf.Bytes(), []byte("\n")); got != 300 {
		t.Fatalf("%d lines", got)
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP kubetrail_output_sent_events_total x
# TYPE kubetrail_output_sent_events_total counter
kubetrail_output_sent_events_total{output="a",pipeline="p"} 10
kubetrail_output_sent_events_total{output="b",pipeline="p"} 5
kubetrail_output_sent_events_totalx 99
kubetrail_dead_letter_events_total 1.5e+06
`
	m, err := parseMetrics(strings.NewReader(text), metricSent, metricDeadLetter, "absent")
	if err != nil {
		t.Fatal(err)
	}
	if m[metricSent] != 15 || m[metricDeadLetter] != 1.5e6 || m["absent"] != 0 {
		t.Fatalf("got %v", m)
	}
}

func TestSummaries(t *testing.T) {
	s := summarize([]float64{3, 1, 2})
	if s != (spread{2, 1, 3}) || s.format(1) != "2.0 (1.0–3.0)" {
		t.Fatalf("%+v %q", s, s.format(1))
	}
	if got := summarize([]float64{4, 1, 2, 3}).med; got != 2.5 {
		t.Fatalf("median %v", got)
	}
	if got := fmtNum(1234567.891, 1); got != "1,234,567.9" {
		t.Fatal(got)
	}
}

// TestInProcess runs the agent's pipeline in this process on a small
// workload: the driver the CPU profiles use.
func TestInProcess(t *testing.T) {
	w, err := Prepare(t.TempDir(), MixReal, 2<<20, DefaultSeed, corpusDir(t))
	if err != nil {
		t.Fatal(err)
	}
	delivered := false
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := RunInProcess(ctx, w, InProcessOptions{Dir: filepath.Join(t.TempDir(), "run"), Delivered: func() { delivered = true }})
	if err != nil {
		t.Fatal(err)
	}
	if r.Events != len(w.Events) || !delivered || r.Wall <= 0 {
		t.Fatalf("%+v delivered=%v", r, delivered)
	}
}

// TestAgentBinary runs the real agent binary through a throughput and a
// latency run on tiny workloads. Building the agent takes longer than this
// package's test budget in CI (`go test -race ./...` on a cold build cache),
// so it runs only with KUBETRAIL_BENCH_AGENT set: to a binary, or to
// "build" (`make bench-smoke`).
func TestAgentBinary(t *testing.T) {
	bin := os.Getenv("KUBETRAIL_BENCH_AGENT")
	if bin == "" {
		t.Skip("set KUBETRAIL_BENCH_AGENT=build (or to an agent binary) to run the agent binary")
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
	if bin == "build" {
		bin = filepath.Join(t.TempDir(), "agent")
		if out, err := execGo(t, "build", "-o", bin, "../../cmd/agent"); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	c := &common{work: t.TempDir(), agent: bin, runs: 1, stderr: testWriter{t}, stdout: testWriter{t}, runPrefault: "0"}
	w, err := Prepare(filepath.Join(c.work, "cache"), MixReal, 4<<20, DefaultSeed, corpusDir(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := c.runOptions("smoke")
	o.MaxSize = 1 // rotate the audit log a few times
	r, err := RunThroughput(ctx, w, o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Events != len(w.Events) || r.Usage.CPU() <= 0 || r.Usage.MaxRSS <= 0 || r.Wall <= 0 {
		t.Fatalf("%+v", r)
	}
	l, err := RunLatency(ctx, w, 2000, time.Second, c.runOptions("latency"))
	if err != nil {
		t.Fatal(err)
	}
	if l.Events != 2000 || l.P50 <= 0 || l.P99 < l.P50 || l.Max < l.P99 {
		t.Fatalf("%+v", l)
	}
	t.Logf("throughput: %.1f CPU-s/GiB, %.0f MiB peak RSS; latency p50 %s p99 %s", r.CPUPerGiB(), r.RSSMiB(), ms(l.P50), ms(l.P99))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
