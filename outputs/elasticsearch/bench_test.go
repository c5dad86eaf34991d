package elasticsearch

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestMeasureAgentToNode measures the agent binary shipping a workload of
// test/bench (KUBETRAIL_ES_BENCH=heavy or real; KUBETRAIL_ES_BENCH_MIB,
// default 128) to each engine with the default settings of this output
// (index with the managed template, gzip, 2000 events or 5MiB per bulk, 2
// in flight): agent CPU-seconds per GiB of audit log and events per second
// until a search counts every event. A measurement, not a timed test: it
// asserts only that every event arrived. The node shares the machine's
// cores with the agent.
func TestMeasureAgentToNode(t *testing.T) {
	mix := os.Getenv("KUBETRAIL_ES_BENCH")
	if mix == "" {
		t.Skip("set KUBETRAIL_ES_BENCH=heavy or real to measure")
	}
	mib, _ := strconv.Atoi(os.Getenv("KUBETRAIL_ES_BENCH_MIB"))
	if mib <= 0 {
		mib = 128
	}
	engines(t, func(t *testing.T, e *engine) {
		bin, err := buildAgent()
		require.NoError(t, err)
		// The workload generator of test/bench (which imports this package,
		// so it runs as its command).
		work := filepath.Join(os.TempDir(), "kubetrail-es-bench", fmt.Sprintf("%s-%dMiB", mix, mib))
		gen := exec.Command("go", "run", "./test/bench/cmd/kubetrail-bench", "gen", "-mix", mix, "-size", fmt.Sprintf("%dMiB", mib), "-work", work)
		gen.Dir = repoRoot()
		out, err := gen.CombinedOutput()
		require.NoError(t, err, "%s", out)
		m := regexp.MustCompile(` in (\S+\.ndjson)`).FindSubmatch(out)
		require.NotNil(t, m, "%s", out)
		data, err := os.ReadFile(string(m[1]))
		require.NoError(t, err)
		w := struct{ Events, Bytes int }{bytes.Count(data, []byte("\n")), len(data)}
		dir := t.TempDir()
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "audit"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "audit", "audit.log"), data, 0o600))
		data = nil
		idx := uniqueName("kt-bench")
		e.cleanup(t, idx, "kubetrail-"+idx)
		cfg := e.writeAgentConfig(t, dir, idx, "    index: "+idx)
		var stderr bytes.Buffer
		cmd := exec.Command(bin, "run", "-c", cfg)
		cmd.Stderr = &stderr
		start := time.Now()
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() }) //nolint:errcheck
		// Done when every event is indexed or dead-lettered (the heavy mix's
		// synthetic objects hold duplicate JSON keys, which both engines
		// reject with 400).
		deadLetters := func() int {
			b, _ := os.ReadFile(filepath.Join(dir, "state", "dead-letter.ndjson"))
			return bytes.Count(b, []byte("\n"))
		}
		var indexed, dead int
		require.Eventually(t, func() bool {
			indexed, dead = e.count(t, idx), deadLetters()
			return indexed+dead >= w.Events
		}, 20*time.Minute, 250*time.Millisecond)
		wall := time.Since(start)
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		require.NoError(t, cmd.Wait(), stderr.String())
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		gib := float64(w.Bytes) / (1 << 30)
		t.Logf("%s, %s mix: %d events (%d indexed, %d dead-lettered), %.0f MiB in %.1fs: %.0f events/s, %.1f MiB/s; agent CPU %.1fs (user %.1fs sys %.1fs) = %.1f CPU-s/GiB",
			e.name, mix, w.Events, indexed, dead, float64(w.Bytes)/(1<<20), wall.Seconds(), float64(w.Events)/wall.Seconds(),
			float64(w.Bytes)/(1<<20)/wall.Seconds(), cpu.Seconds(), time.Duration(ru.Utime.Nano()).Seconds(), time.Duration(ru.Stime.Nano()).Seconds(), cpu.Seconds()/gib)
	})
}
