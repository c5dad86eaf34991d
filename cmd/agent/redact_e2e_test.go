package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubetrail/kubetrail/internal/agentbin"
	"github.com/stretchr/testify/require"
)

// TestRedactionLeavesNoSecretOnDisk runs the agent binary with a redact
// pipeline over a real kube-apiserver's RequestResponse log in which Secret
// values were planted through every kind of write (testdata/leaky-run), then
// greps everything the agent wrote (the output, the dead-letter file, the
// buffer segments, checkpoints, its log) for them.
func TestRedactionLeavesNoSecretOnDisk(t *testing.T) {
	bin, err := buildAgent()
	require.NoError(t, err)
	src, err := os.ReadFile("../../testdata/leaky-run/secrets.log")
	require.NoError(t, err)
	// The planted values: plain "PLANTED-..." in stringData, patches and
	// last-applied annotations; base64 of "PLANTED-..." in data.
	needles := []string{"PLANTED", "UExBTlRFRC"}
	for _, n := range needles {
		require.Contains(t, string(src), n, "fixture lost its planted values")
	}

	dir := t.TempDir()
	auditDir := filepath.Join(dir, "audit")
	require.NoError(t, os.MkdirAll(auditDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(auditDir, "audit.log"), src, 0o600))
	cfg := filepath.Join(dir, "agent.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`
agent:
  state_dir: `+dir+`/state
  log: {level: debug}
inputs:
  apiserver:
    type: auditlog
    path: `+auditDir+`/audit.log
processors:
  secrets:
    type: redact
outputs:
  local:
    type: file
    path: `+dir+`/out/audit.ndjson
pipelines:
  audit:
    inputs: [apiserver]
    processors: [secrets]
    outputs: [local]
`), 0o600))

	p := agentbin.Run(t, bin, cfg, agentbin.Options{})
	want := bytes.Count(src, []byte("\n"))
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, n := readOutput(t, filepath.Join(dir, "out"), false); n >= want {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.Stop(t, 20*time.Second)
	seen, n := readOutput(t, filepath.Join(dir, "out"), true)
	require.Equal(t, want, n, "every event delivered")
	require.NotEmpty(t, seen)

	out, err := os.ReadFile(filepath.Join(dir, "out", "audit.ndjson"))
	require.NoError(t, err)
	require.Contains(t, string(out), "VISIBLE-configmap-value-11", "ConfigMap values survive")
	require.Contains(t, string(out), `"kubetrail.io/redacted"`)

	files := 0
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(path, auditDir) {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, n := range needles {
			require.NotContains(t, string(data), n, "a planted secret value in %s", path)
		}
		return nil
	}))
	for _, n := range needles {
		require.NotContains(t, p.Output(), n, "a planted secret value in the agent's log")
	}
	t.Logf("%d events delivered; %d files the agent wrote and its log hold no planted value", n, files)
}
