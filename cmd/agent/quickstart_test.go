package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/internal/agentbin"
)

// The README's quick start, as a new user runs it (from a copy of the
// repository's files, so the test writes nothing into the checkout): every
// line of the sample log reaches ./out/audit.ndjson, the planted Secret
// values and tokens do not, and Ctrl-C stops the agent with exit 0.
func TestQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the agent binary")
	}
	bin, err := buildAgent()
	require.NoError(t, err)
	dir := t.TempDir()
	cfg, err := os.ReadFile("../../config/examples/quickstart.yaml")
	require.NoError(t, err)
	// /metrics on a port of its own: 9108 may be taken on this machine.
	cfg = bytes.Replace(cfg, []byte("http_listen: 127.0.0.1:9108"), []byte(`http_listen: "127.0.0.1:0"`), 1)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "config", "examples"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config", "examples", "quickstart.yaml"), cfg, 0o600))
	log, err := os.ReadFile("../../testdata/quickstart/audit.log")
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "testdata", "quickstart"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "testdata", "quickstart", "audit.log"), log, 0o600))

	p := agentbin.Start(t, bin, agentbin.Options{Dir: dir}, "run", "-c", "config/examples/quickstart.yaml")
	want := bytes.Count(log, []byte("\n"))
	out := filepath.Join(dir, "out", "audit.ndjson")
	var got []byte
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if got, _ = os.ReadFile(out); bytes.Count(got, []byte("\n")) >= want {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, p.Signal(os.Interrupt)) // Ctrl-C
	select {
	case <-p.Done():
		require.NoError(t, p.Err(), "Ctrl-C exits 0:\n%s", p.Tail())
	case <-time.After(30 * time.Second):
		t.Fatalf("the agent did not stop on Ctrl-C:\n%s", p.Tail())
	}
	got, err = os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, want, bytes.Count(got, []byte("\n")), "every line of the sample log shipped")
	assert.Contains(t, p.Output(), "kubetrail agent stopped cleanly")
	require.Contains(t, string(log), "PLANTED-", "the sample holds planted Secret values")
	assert.NotContains(t, string(got), "PLANTED-", "a planted Secret value reached the output")
	assert.Contains(t, string(got), "[REDACTED]")
	assert.Contains(t, string(got), "kubetrail.io/redacted")
}
