package splunkhec_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubetrail/kubetrail/internal/agentbin"

	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/outputs/splunkhec"
)

// buildAgent builds the agent binary into dir.
func buildAgent(tb testing.TB) string {
	tb.Helper()
	bin, err := agentbin.Build()
	if err != nil {
		tb.Fatal(err)
	}
	return bin
}

// The agent binary (auditlog input, disk buffer, splunk_hec with acks)
// killed with SIGKILL again and again while it ships the corpus: every
// event reaches the receiver.
func TestAgentBinarySIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the agent binary")
	}
	r := splunkhec.StartReceiver(t, "agent-token", 0)
	dir := t.TempDir()
	agent := buildAgent(t)
	raws := splunkhec.CorpusRaws(t)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "audit"), 0o750))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "audit", "audit.log"), append(bytes.Join(raws, []byte("\n")), '\n'), 0o600))
	cfg := filepath.Join(dir, "agent.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`agent:
  state_dir: %s
  http_listen: "127.0.0.1:0"
inputs:
  apiserver: {type: auditlog, path: %s}
outputs:
  siem:
    type: splunk_hec
    endpoint: %s
    token: agent-token
    ack: true
    ack_timeout: 5s
    # Small batches, one at a time (each waits for its ack): the run lasts
    # long enough to be killed many times.
    batch: {max_events: 100}
    max_in_flight: 1
pipelines:
  audit: {inputs: [apiserver], outputs: [siem]}
`, filepath.Join(dir, "state"), filepath.Join(dir, "audit", "audit.log"), r.Endpoint())), 0o600))

	rng := rand.New(rand.NewPCG(3, uint64(time.Now().UnixNano())))
	kills, midStream := 0, 0
	for {
		p := agentbin.Run(t, agent, cfg, agentbin.Options{})
		if splunkhec.CountRecords(r.File()) >= len(raws)*8/10 || kills >= 30 {
			splunkhec.WaitReceived(t, r.File(), raws, 2*time.Minute)
			p.Stop(t, 30*time.Second)
			break
		}
		time.Sleep(time.Duration(200+rng.IntN(400)) * time.Millisecond)
		p.Kill(t)
		if splunkhec.CountRecords(r.File()) < len(raws) {
			midStream++
		}
		kills++
	}
	t.Logf("%d events, %d kills (%d mid-stream), %d records", len(raws), kills, midStream, splunkhec.CountRecords(r.File()))
	require.GreaterOrEqual(t, midStream, 3, "the agent must be killed mid-stream")
}
