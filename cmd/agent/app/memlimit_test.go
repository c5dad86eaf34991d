package app

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/config"
)

func loadConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "agent.yaml")
	require.NoError(t, os.WriteFile(file, []byte("agent: {state_dir: "+filepath.Join(dir, "state")+"}\n"+yaml), 0o600))
	cfg, err := config.Load(file, Registries{})
	require.NoError(t, err)
	return cfg
}

// The default soft memory limit grows with the longest line each pipeline's
// inputs accept, and is 40 MiB for the default configuration.
func TestDefaultMemoryLimitFromLineSizes(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name, yaml string
		want       int64
	}{
		{"default max_line_bytes", `
inputs: {a: {type: auditlog, path: /var/log/a.log}}
outputs: {o: {type: file, path: /tmp/o.log}}
pipelines: {p: {inputs: [a], outputs: [o]}}
`, 40 * mib},
		{"smaller lines keep the floor", `
inputs: {a: {type: auditlog, path: /var/log/a.log, max_line_bytes: 64KiB}}
outputs: {o: {type: file, path: /tmp/o.log}}
pipelines: {p: {inputs: [a], outputs: [o]}}
`, 40 * mib},
		{"longest line of the pipeline's inputs, per pipeline", `
inputs:
  a: {type: auditlog, path: /var/log/a.log, max_line_bytes: 16MiB}
  b: {type: auditlog, path: /var/log/b.log}
  c: {type: auditlog, path: /var/log/c.log}
outputs:
  o1: {type: file, path: /tmp/o1.log}
  o2: {type: file, path: /tmp/o2.log}
pipelines:
  p1: {inputs: [a, b], outputs: [o1]}
  p2: {inputs: [c], outputs: [o2]}
`, 32*mib + 2*16*mib + 2*4*mib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want>>20, defaultMemoryLimit(loadConfig(t, tc.yaml))>>20, "MiB")
		})
	}
}
