package elasticsearch

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubetrail/kubetrail/internal/agentbin"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// buildAgent is the agent binary, built once per test process.
var buildAgent = agentbin.Build

// The agent binary ships the real corpus to a data stream (the default
// target); it is killed with SIGKILL a quarter of the way and started again,
// and the node is restarted half way. Every (auditID, stage) of the corpus
// ends up indexed exactly once, counted by a search: the batches the agent
// resent after the kill were answered 409 and made no second document.
func TestAgentKillAndNodeRestartIndexEachEventOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the agent, restarts the node")
	}
	engines(t, func(t *testing.T, e *engine) {
		bin, err := buildAgent()
		require.NoError(t, err)
		evs, distinct := corpus(t)
		dir := t.TempDir()
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "audit"), 0o755))
		var log bytes.Buffer
		for _, ev := range evs {
			log.Write(ev.Raw)
			log.WriteByte('\n')
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, "audit", "audit.log"), log.Bytes(), 0o600))
		n := time.Now().UnixNano() % 1e9
		ds := fmt.Sprintf("logs-kt.e2e%d-default", n)
		out := fmt.Sprintf("es%d", n) // the template is named after the output
		e.cleanup(t, ds, "kubetrail-"+out)
		cfg := e.writeAgentConfig(t, dir, out, fmt.Sprintf(`    data_stream: %s
    batch: {max_events: 50, max_wait: 10ms}
    max_in_flight: 2
    retry: {initial_interval: 50ms, max_interval: 1s}`, ds))

		run := func() *agentbin.Process { return agentbin.Run(t, bin, cfg, agentbin.Options{}) }
		waitCount := func(n int) int {
			var c int
			require.Eventually(t, func() bool { c = e.count(t, ds); return c >= n }, 3*time.Minute, 20*time.Millisecond, "count stuck at %d of %d", c, n)
			return c
		}

		agent := run()
		atKill := waitCount(distinct / 4)
		agent.Kill(t)
		require.Less(t, atKill, distinct, "killed too late")

		agent = run()
		waitCount(distinct / 2)
		e.restart(t)
		waitCount(distinct)
		time.Sleep(2 * time.Second) // anything still in flight lands now
		assert.Equal(t, distinct, e.count(t, ds), "documents")
		dl, _ := os.ReadFile(filepath.Join(dir, "state", "dead-letter.ndjson"))
		assert.Empty(t, string(dl), "dead letters")
		t.Logf("%s: %d distinct events, %d documents when killed", e.name, distinct, atKill)
		if t.Failed() {
			t.Logf("agent log after the kill:\n%s", agent.Output())
		}
	})
}
