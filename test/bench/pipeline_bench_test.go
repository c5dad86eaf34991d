package bench

import (
	"context"
	"os"
	"path/filepath"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/kubetrail/kubetrail/config"
)

// BenchmarkPipeline runs the agent's pipeline in this process (auditlog
// input -> disk buffer -> file output, wired like cmd/agent) on the heavy
// and real mixes, for CPU and memory profiles:
//
//	go test ./test/bench -run '^$' -bench Pipeline/heavy -benchtime 1x -cpuprofile cpu.pprof
//	go tool pprof -top -tagignore role=harness cpu.pprof
//
// KUBETRAIL_BENCH_SIZE sets the workload size (default 256MiB);
// KUBETRAIL_BENCH_WORK the directory of the workload caches. The CPU
// metric covers the whole test process, the goroutine playing the
// apiserver included and the workload's generation (their samples carry the label role=harness).
func BenchmarkPipeline(b *testing.B) {
	size := config.Size(256 << 20)
	if s := os.Getenv("KUBETRAIL_BENCH_SIZE"); s != "" {
		var err error
		if size, err = config.ParseSize(s); err != nil {
			b.Fatalf("KUBETRAIL_BENCH_SIZE: %v", err)
		}
	}
	work := envOr("KUBETRAIL_BENCH_WORK", filepath.Join(os.TempDir(), "kubetrail-bench"))
	for _, mix := range []Mix{MixHeavy, MixReal} {
		b.Run(string(mix), func(b *testing.B) {
			var w *Workload
			var err error
			pprof.Do(context.Background(), pprof.Labels("role", HarnessLabel), func(context.Context) {
				w, err = Prepare(filepath.Join(work, "cache"), mix, size.Bytes(), DefaultSeed, corpusDir(b))
			})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(w.Bytes)
			var cpu time.Duration
			runs := 0
			for b.Loop() {
				r, err := RunInProcess(context.Background(), w, InProcessOptions{Dir: filepath.Join(work, "run-benchmark")})
				if err != nil {
					b.Fatal(err)
				}
				cpu += r.CPU
				runs++
			}
			gib := float64(w.Bytes) / (1 << 30)
			b.ReportMetric(cpu.Seconds()/float64(runs)/gib, "CPU-s/GiB")
			b.ReportMetric(float64(len(w.Events)*runs)/cpu.Seconds(), "events/CPU-s")
		})
	}
}
