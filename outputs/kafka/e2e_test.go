package kafka

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/kubetrail/kubetrail/internal/agentbin"
	"github.com/kubetrail/kubetrail/internal/syncbuf"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/internal/peertest"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
)

// buildAgent is the agent binary, built once per test process.
var buildAgent = agentbin.Build

// peerScript returns test/peers/kafka/<name>.
func peerScript(name string) string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "..", "..", "test", "peers", "kafka", name)
}

// TestAgentEndToEnd runs the agent binary on the real corpus (6,791
// events, up to 640 KB each) written to an audit log while the broker is
// SIGKILLed and restarted, and then the agent is SIGKILLed and restarted:
// a consumer must read back every (auditID, stage), byte for byte.
// Duplicates are allowed (at-least-once) and reported.
func TestAgentEndToEnd(t *testing.T) {
	addr := broker(t)
	kdir := peertest.Require(t, "kafka", "KAFKA_DIR")
	if testing.Short() {
		t.Skip("end-to-end: kills and restarts the broker and the agent")
	}
	bin, err := buildAgent()
	if err != nil {
		t.Fatal(err)
	}
	topic := topicName("e2e")
	createTopic(t, addr, topic, 3)
	dir := t.TempDir()
	auditDir := filepath.Join(dir, "audit")
	if err := os.MkdirAll(auditDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "agent.yaml")
	agentLog := &syncbuf.Buffer{} // every run's output, for a failure
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
agent:
  state_dir: %s/state
  http_listen: ""
  shutdown_timeout: 10s
inputs:
  apiserver:
    type: auditlog
    path: %s/audit.log
    poll_interval: 20ms
outputs:
  kafka:
    type: kafka
    brokers: [%s]
    topic: %s
    batch: {max_events: 200, max_wait: 20ms}
    retry: {initial_interval: 50ms, max_interval: 1s}
pipelines:
  audit:
    inputs: [apiserver]
    outputs: [kafka]
    buffer: {max_bytes: 256MiB, segment_bytes: 4MiB}
`, dir, auditDir, addr, topic)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent log (last 4 KiB):\n%s", agentLog.Tail(4096))
		}
	})

	corpus := testcorpus.Load(t)
	want := map[string][]byte{}
	for _, l := range corpus {
		ev, err := event.New(l.Raw)
		if err != nil {
			t.Fatal(err)
		}
		want[string(ev.ID(nil))] = l.Raw
	}
	if len(want) != len(corpus) {
		t.Fatalf("corpus has %d distinct (auditID, stage) for %d events", len(want), len(corpus))
	}
	audit, err := os.OpenFile(filepath.Join(auditDir, "audit.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer audit.Close()
	next := 0
	// writeLines appends n corpus lines, 50 per write, like the apiserver.
	writeLines := func(n int, pause time.Duration) {
		for end := min(next+n, len(corpus)); next < end; {
			var b bytes.Buffer
			for stop := min(next+50, end); next < stop; next++ {
				b.Write(corpus[next].Raw)
				b.WriteByte('\n')
			}
			if _, err := audit.Write(b.Bytes()); err != nil {
				t.Fatal(err)
			}
			time.Sleep(pause)
		}
	}
	count := func() int {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		recs, err := readTopic(ctx, addr, topic)
		if err != nil {
			return -1
		}
		return len(recs)
	}
	waitCount := func(n int, within time.Duration) {
		deadline := time.Now().Add(within)
		for c := count(); c < n; c = count() {
			if time.Now().After(deadline) {
				t.Fatalf("the topic holds %d records after %s, want at least %d", c, within, n)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	ag := agentbin.Run(t, bin, cfg, agentbin.Options{Log: agentLog})
	third := len(corpus) / 3
	writeLines(third, 5*time.Millisecond)
	waitCount(third/2, time.Minute)

	// The broker dies mid-stream (SIGKILL) while the apiserver keeps writing.
	stop := exec.Command(peerScript("stop.sh"), kdir)
	stop.Env = append(os.Environ(), "KAFKA_STOP_SIGNAL=KILL")
	if out, err := stop.CombinedOutput(); err != nil {
		t.Fatalf("stop.sh: %v\n%s", err, out)
	}
	t.Logf("broker SIGKILLed after %d events written", next)
	writeLines(third, 5*time.Millisecond)
	start := exec.Command(peerScript("start.sh"))
	start.Env = append(os.Environ(), "KAFKA_DIR="+kdir)
	if out, err := start.Output(); err != nil {
		t.Fatalf("start.sh: %v\n%s", err, out)
	}
	t.Logf("broker restarted")
	waitCount(2*third, 2*time.Minute)
	dupsAfterBroker := duplicateCount(t, addr, topic)
	t.Logf("after the broker's restart: %d duplicates", dupsAfterBroker)

	// Now the agent dies mid-stream (SIGKILL) and is restarted.
	writeLines(third/2, 5*time.Millisecond)
	ag.Kill(t)
	t.Logf("agent SIGKILLed after %d events written", next)
	writeLines(100, 0)
	ag = agentbin.Run(t, bin, cfg, agentbin.Options{Log: agentLog})
	writeLines(len(corpus), 5*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var missing []string
	var recs []record
	for {
		recs, err = readTopic(ctx, addr, topic)
		if err == nil {
			have := map[string]bool{}
			for _, r := range recs {
				ev, err := event.New(r.Value)
				if err != nil {
					t.Fatalf("malformed record at %d/%d: %v", r.Partition, r.Offset, err)
				}
				id := string(ev.ID(nil))
				if !bytes.Equal(r.Value, want[id]) {
					t.Fatalf("record %s differs from the corpus event (%d vs %d bytes)", id, len(r.Value), len(want[id]))
				}
				have[id] = true
			}
			missing = missing[:0]
			for id := range want {
				if !have[id] {
					missing = append(missing, id)
				}
			}
			if len(missing) == 0 {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("after 3 minutes %d of %d events are missing, e.g. %v (read error: %v)", len(missing), len(want), missing[:min(3, len(missing))], err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("all %d events read back; %d records, %d duplicates (%.2f%%)",
		len(want), len(recs), len(recs)-len(want), 100*float64(len(recs)-len(want))/float64(len(want)))

	ag.Stop(t, 30*time.Second)
}

// duplicateCount reads the topic and counts records whose (auditID, stage)
// came before.
func duplicateCount(t *testing.T, addr, topic string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs, err := readTopic(ctx, addr, topic)
	if err != nil {
		t.Logf("count duplicates: %v", err)
		return -1
	}
	seen := map[string]bool{}
	d := 0
	for _, r := range recs {
		ev, err := event.New(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		id := string(ev.ID(nil))
		if seen[id] {
			d++
		}
		seen[id] = true
	}
	return d
}
