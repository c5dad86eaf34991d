package splunkhec_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubetrail/kubetrail/internal/testcorpus"
	"github.com/kubetrail/kubetrail/outputs/splunkhec"
	"github.com/kubetrail/kubetrail/test/bench"
)

// BenchmarkAgentToReceiver runs the agent binary (auditlog input from the
// beginning of a ready-written audit log, the default disk buffer, the
// splunk_hec output with its defaults: gzip, 1MiB requests) against the HEC
// receiver, for the heavy and real mixes of test/bench, with and without
// indexer acks, and reports the agent's CPU-seconds per GiB (rusage, its
// whole life) and events/s from start to the last event acknowledged.
// The same run to the file output is the baseline.
// The receiver runs on the same machine and is the slower side: events/s
// is the receiver's pace. KUBETRAIL_HEC_BENCH_MIB sets the workload size
// (default 128); workloads are cached in $BENCH_WORK/cache;
// KUBETRAIL_HEC_BENCH_PROFILE names a directory for the agent's profiles,
// KUBETRAIL_HEC_BENCH_LOG a file for its log (e.g. with GODEBUG=gctrace=1).
//
//	go test -run '^$' -bench AgentToReceiver -benchtime 1x ./outputs/splunkhec/
func BenchmarkAgentToReceiver(b *testing.B) {
	if os.Getenv("KUBETRAIL_HEC_RECEIVER_BIN") == "" {
		b.Skip("needs the HEC receiver: eval \"$(test/peers/splunkhec/start.sh)\"")
	}
	size := int64(128)
	if v, err := strconv.Atoi(os.Getenv("KUBETRAIL_HEC_BENCH_MIB")); err == nil && v > 0 {
		size = int64(v)
	}
	work := os.Getenv("BENCH_WORK")
	if work == "" {
		work = filepath.Join(os.TempDir(), "kubetrail-bench")
	}
	agent := buildAgent(b)
	for _, mix := range []bench.Mix{bench.MixHeavy, bench.MixReal} {
		w, err := bench.Prepare(filepath.Join(work, "cache"), mix, size<<20, 1, testcorpus.Dir())
		if err != nil {
			b.Fatal(err)
		}
		for _, out := range []string{"file", "hec", "hec+ack"} {
			b.Run(fmt.Sprintf("%s/%s", mix, out), func(b *testing.B) {
				for range b.N {
					runAgentOnce(b, agent, w, out)
				}
			})
		}
	}
}

// runAgentOnce runs the agent once with output out: "hec", "hec+ack", or
// "file" (the same run to a local file, the baseline on the same machine
// at the same time).
func runAgentOnce(b *testing.B, agent string, w *bench.Workload, out string) {
	b.StopTimer()
	r := splunkhec.StartReceiver(b, "bench-token", 0)
	dir := b.TempDir()
	auditDir := filepath.Join(dir, "audit")
	if err := os.MkdirAll(auditDir, 0o750); err != nil {
		b.Fatal(err)
	}
	src, err := os.Open(w.Path)
	if err != nil {
		b.Fatal(err)
	}
	dst, err := os.Create(filepath.Join(auditDir, "audit.log"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(dst, src, w.Bytes); err != nil {
		b.Fatal(err)
	}
	src.Close()
	if err := dst.Close(); err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	httpAddr := l.Addr().String()
	l.Close()
	output := fmt.Sprintf(`type: splunk_hec
    endpoint: %s
    token: bench-token
    ack: %v`, r.Endpoint(), out == "hec+ack")
	if out == "file" {
		output = "type: file\n    path: " + filepath.Join(dir, "out", "audit.ndjson") + "\n    max_backups: 0"
	}
	cfg := fmt.Sprintf(`agent:
  state_dir: %s
  http_listen: "%s"
  log: {level: warn, format: text}
inputs:
  apiserver: {type: auditlog, path: %s}
outputs:
  siem:
    %s
pipelines:
  audit: {inputs: [apiserver], outputs: [siem]}
`, filepath.Join(dir, "state"), httpAddr, filepath.Join(auditDir, "audit.log"), output)
	cfgPath := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	var logs strings.Builder
	args := []string{"run", "-c", cfgPath}
	if prof := os.Getenv("KUBETRAIL_HEC_BENCH_PROFILE"); prof != "" {
		// A directory for the agent's CPU and heap profiles.
		args = append(args, "-cpuprofile", filepath.Join(prof, "cpu.pprof"), "-memprofile", filepath.Join(prof, "mem.pprof"))
	}
	cmd := exec.Command(agent, args...)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	b.StartTimer()
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	want := float64(len(w.Events))
	for {
		if sent, ok := sentEvents(httpAddr); ok && sent >= want {
			break
		}
		if time.Since(t0) > 20*time.Minute {
			_ = cmd.Process.Kill()
			b.Fatalf("not delivered after 20m:\n%s", logs.String())
		}
		time.Sleep(250 * time.Millisecond)
	}
	wall := time.Since(t0)
	b.StopTimer()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		b.Fatalf("agent: %v\n%s", err, logs.String())
	}
	if path := os.Getenv("KUBETRAIL_HEC_BENCH_LOG"); path != "" {
		_ = os.WriteFile(path, []byte(logs.String()), 0o600)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	gib := float64(w.Bytes) / (1 << 30)
	b.ReportMetric(cpu.Seconds()/gib, "cpu-s/GiB")
	b.ReportMetric(float64(ru.Stime.Nano())/1e9/gib, "sys-s/GiB")
	b.ReportMetric(want/wall.Seconds(), "events/s")
	b.ReportMetric(float64(w.Bytes)/(1<<20)/wall.Seconds(), "MiB/s")
	b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MiB")
	if n := splunkhec.CountRecords(r.File()); out != "file" && float64(n) < want {
		b.Fatalf("receiver holds %d of %.0f events", n, want)
	}
}

// scraper reads /metrics uncompressed, so the agent spends no CPU on gzip
// for the harness.
var scraper = &http.Client{Transport: &http.Transport{DisableCompression: true}}

// sentEvents reads kubetrail_output_sent_events_total from the agent.
func sentEvents(addr string) (float64, bool) {
	resp, err := scraper.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var sum float64
	found := false
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "kubetrail_output_sent_events_total") {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
			found = true
		}
	}
	return sum, found
}
