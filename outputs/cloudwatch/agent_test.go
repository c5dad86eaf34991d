package cloudwatch

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubetrail/kubetrail/internal/agentbin"

	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
)

// buildAgent is the agent binary, built once per test process.
var buildAgent = agentbin.Build

// startAgentBin runs the agent binary on cfg; awsTestEnv set the AWS_
// variables, the stream name comes from NODE_NAME.
func startAgentBin(t *testing.T, bin, cfg string) *agentbin.Process {
	t.Helper()
	return agentbin.Run(t, bin, cfg, agentbin.Options{Env: []string{"NODE_NAME=node-1"}})
}

// restampedCorpus returns the corpus with stageTimestamps moved to the last
// minutes (CloudWatch rejects events older than 14 days), order kept.
func restampedCorpus(t *testing.T) [][]byte {
	t.Helper()
	lines := testcorpus.Load(t)
	var latest time.Time
	stamps := make([]time.Time, len(lines))
	for i, l := range lines {
		ev, err := event.New(l.Raw)
		require.NoError(t, err)
		ts, err := time.Parse(time.RFC3339Nano, string(ev.StageTimestamp))
		require.NoError(t, err, "%s", l.Where)
		stamps[i] = ts
		if ts.After(latest) {
			latest = ts
		}
	}
	shift := time.Until(latest.Add(time.Minute))
	out := make([][]byte, len(lines))
	for i, l := range lines {
		out[i] = stamp(l.Raw, stamps[i].Add(-shift))
	}
	return out
}

type eventKey struct{ auditID, stage string }

func keyOf(t *testing.T, raw []byte) eventKey {
	t.Helper()
	var k struct{ AuditID, Stage string }
	require.NoError(t, json.Unmarshal(raw, &k))
	return eventKey{k.AuditID, k.Stage}
}

// The agent ships the whole corpus to CloudWatch Logs through an endpoint
// outage and a SIGKILL, both mid-run: every (auditID, stage) is read back
// with GetLogEvents, none is dead-lettered.
func TestAgentDeliversCorpusThroughOutageAndKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the agent")
	}
	endpoint := moto(t)
	p := newFaultProxy(t, endpoint)
	bin, err := buildAgent()
	require.NoError(t, err)

	dir := t.TempDir()
	auditLog := filepath.Join(dir, "audit.log")
	cfg := filepath.Join(dir, "agent.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`
agent:
  state_dir: %[1]s/state
  http_listen: ""
  shutdown_timeout: 10s
  dead_letter: {path: %[1]s/dead-letter.ndjson}
inputs:
  apiserver:
    type: auditlog
    path: %[2]s
    poll_interval: 20ms
outputs:
  cloudwatch:
    type: cloudwatch
    log_group: %[3]s
    endpoint: %[4]s
    timeout: 2s
    batch: {max_events: 100, max_wait: 20ms}
    retry: {initial_interval: 50ms, max_interval: 500ms}
pipelines:
  audit:
    inputs: [apiserver]
    outputs: [cloudwatch]
`, dir, auditLog, testGroup, p.URL())), 0o600))

	corpus := restampedCorpus(t)
	want := map[eventKey]bool{}
	for _, raw := range corpus {
		want[keyOf(t, raw)] = true
	}
	f, err := os.OpenFile(auditLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	require.NoError(t, err)
	defer f.Close()
	write := func(lines [][]byte) {
		for _, l := range lines {
			_, err := f.Write(append(l, '\n'))
			require.NoError(t, err)
		}
	}
	stored := func() int {
		events, err := tryReadStream(endpoint, testGroup, "node-1")
		if err != nil && !isCode(err, codeNotFound) {
			t.Fatal(err)
		}
		return len(events)
	}
	waitStored := func(a *agentbin.Process, n int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for stored() < n {
			if time.Now().After(deadline) {
				t.Fatalf("only %d of %d events stored after 60s; agent stderr:\n%s", stored(), n, a.Tail())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	third := len(corpus) / 3

	// 1. Running: a third of the corpus goes through.
	a := startAgentBin(t, bin, cfg)
	write(corpus[:third])
	waitStored(a, third/2)

	// 2. The endpoint goes unreachable mid-run (moto keeps its state, the
	// proxy refuses connections); the agent keeps buffering and retrying.
	p.down()
	write(corpus[third : 2*third])
	time.Sleep(1500 * time.Millisecond)
	before := stored()
	time.Sleep(500 * time.Millisecond)
	require.Equal(t, before, stored(), "nothing gets through while the endpoint is down")
	p.up()
	waitStored(a, 2*third-100)

	// 3. SIGKILL mid-run, while the last third is being delivered and
	// right after CloudWatch stored a request the agent never heard back
	// about (the worst case for duplicates); then a restart from the
	// committed positions.
	var puts atomic.Int32
	p.setFault(func(op string) fault {
		if op == "PutLogEvents" && puts.Add(1) > 5 {
			return fault{swallow: true}
		}
		return fault{}
	})
	write(corpus[2*third:])
	select {
	case <-p.swallowed:
	case <-time.After(60 * time.Second):
		t.Fatalf("the agent did not send the last third; stderr:\n%s", a.Tail())
	}
	a.Kill(t)
	killedAt := stored()
	require.Less(t, killedAt, len(corpus), "the kill must land mid-stream")
	p.setFault(nil)

	a = startAgentBin(t, bin, cfg)
	waitStored(a, len(corpus))
	a.Stop(t, 20*time.Second)

	got := map[eventKey]int{}
	total := 0
	for _, e := range readStream(t, endpoint, testGroup, "node-1") {
		got[keyOf(t, []byte(e.Message))]++
		total++
	}
	missing := 0
	for k := range want {
		if got[k] == 0 {
			missing++
		}
	}
	t.Logf("%d corpus events, %d stored (%d duplicates), killed at %d stored", len(want), total, total-len(got), killedAt)
	require.Zero(t, missing, "events lost")
	require.Len(t, got, len(want), "no event that was not written")
	dl, err := os.ReadFile(filepath.Join(dir, "dead-letter.ndjson"))
	if err == nil {
		require.Empty(t, strings.TrimSpace(string(dl)), "nothing dead-lettered")
	}
}
