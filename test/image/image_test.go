// Package image tests what the Dockerfile's build stage does to the agent
// binary, without a container engine: build it as the Dockerfile does, give
// it the file capability CAP_DAC_READ_SEARCH with setcap, and run it as the
// image's non-root user (65532) with every other capability dropped from its
// bounding set, against an audit log that is 0600 root:root in a 0700
// directory, as kube-apiserver leaves it on a control-plane node.
package image

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/internal/peertest"
	"github.com/kubetrail/kubetrail/internal/syncbuf"
)

const uid = 65532 // the distroless image's nonroot user (Dockerfile: USER 65532:65532)

// need skips (or fails under CI) when the test cannot run here.
func need(t *testing.T, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if peertest.InCI() {
		t.Fatal("CI=true: " + why)
	}
	t.Skip(why)
}

func TestNonRootWithOnlyDacReadSearch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the agent binary")
	}
	need(t, os.Geteuid() == 0, "needs root (setcap, root-owned files, setpriv)")
	for _, tool := range []string{"setcap", "getcap", "setpriv"} {
		_, err := exec.LookPath(tool)
		need(t, err == nil, tool+" not found (Debian: apt-get install libcap2-bin util-linux)")
	}
	dir, err := os.MkdirTemp("", "kubetrail-image-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))

	// The Dockerfile's build stage.
	bin := filepath.Join(dir, "bin", "agent")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=image-test", "-o", bin, "github.com/kubetrail/kubetrail/cmd/agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	plain := filepath.Join(dir, "bin", "agent-nocap")
	data, err := os.ReadFile(bin)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(plain, data, 0o755))
	out, err = exec.Command("setcap", "cap_dac_read_search=+ep", bin).CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command("getcap", bin).CombinedOutput()
	require.NoError(t, err)
	assert.Contains(t, string(out), "cap_dac_read_search=ep")
	require.NoError(t, os.Chmod(filepath.Join(dir, "bin"), 0o755))

	// kube-apiserver's audit directory and log: root only.
	audit := filepath.Join(dir, "audit")
	require.NoError(t, os.Mkdir(audit, 0o700))
	lines := corpus(t, 200)
	require.NoError(t, os.WriteFile(filepath.Join(audit, "audit.log"), bytes.Join(lines, nil), 0o600))

	run := func(t *testing.T, agent string) (delivered int, log string) {
		work := filepath.Join(dir, filepath.Base(agent))
		require.NoError(t, os.Mkdir(work, 0o700))
		require.NoError(t, os.Chown(work, uid, uid))
		cfg := filepath.Join(work, "agent.yaml")
		require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`
agent:
  state_dir: %[1]s/state
  http_listen: ""
  shutdown_timeout: 5s
inputs:
  apiserver:
    type: auditlog
    path: %[2]s/audit.log
    poll_interval: 50ms
outputs:
  local:
    type: file
    path: %[1]s/out/audit.ndjson
pipelines:
  audit:
    inputs: [apiserver]
    outputs: [local]
`, work, audit)), 0o644))
		// Non-root, no supplementary groups, nothing inherited, and only
		// CAP_DAC_READ_SEARCH left in the bounding set: what the DaemonSet's
		// securityContext allows (drop ALL, add DAC_READ_SEARCH).
		cmd := exec.Command("setpriv", fmt.Sprintf("--reuid=%d", uid), fmt.Sprintf("--regid=%d", uid), "--clear-groups",
			"--inh-caps=-all", "--bounding-set=-all,+dac_read_search", "--", agent, "run", "-c", cfg)
		var stderr syncbuf.Buffer // written by os/exec's copying goroutine
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		outFile := filepath.Join(work, "out", "audit.ndjson")
		deadline := time.Now().Add(20 * time.Second)
		capEff := ""
		for time.Now().Before(deadline) {
			if capEff == "" {
				capEff = procCapEff(cmd.Process.Pid)
			}
			b, _ := os.ReadFile(outFile)
			delivered = bytes.Count(b, []byte("\n"))
			if delivered >= len(lines) || strings.Contains(stderr.String(), "permission denied") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			require.NotEqual(t, bin, agent, "the agent exited early; log:\n%s", stderr.String())
		}
		select {
		case err := <-done:
			if agent == bin {
				require.NoError(t, err, "exit 0 on SIGTERM; log:\n%s", stderr.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no exit after SIGTERM; log:\n%s", stderr.String())
		}
		if agent == bin {
			// Effective capabilities of the running agent: CAP_DAC_READ_SEARCH
			// (bit 2) only.
			assert.Equal(t, "0000000000000004", capEff, "CapEff of the agent process")
		}
		return delivered, stderr.String()
	}

	t.Run("with the file capability", func(t *testing.T) {
		n, log := run(t, bin)
		assert.Equal(t, len(lines), n, "every event of the 0600 root-owned log delivered; log:\n%s", log)
	})
	t.Run("control: without it", func(t *testing.T) {
		n, log := run(t, plain)
		assert.Zero(t, n, "uid %d without CAP_DAC_READ_SEARCH cannot read the log", uid)
		assert.Contains(t, log, "permission denied")
	})
}

// procCapEff returns the CapEff line of /proc/PID/status once the process
// runs the agent (not setpriv), or "".
func procCapEff(pid int) string {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || !strings.HasPrefix(string(comm), "agent") {
		return ""
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// corpus returns n real audit lines (newline included) from the repo's corpus.
func corpus(t *testing.T, n int) [][]byte {
	data, err := os.ReadFile("../../testdata/corpus-run1/audit.log")
	require.NoError(t, err)
	var out [][]byte
	for _, l := range bytes.SplitAfter(data, []byte("\n")) {
		if len(l) > 1 && len(l) < 64<<10 {
			out = append(out, l)
		}
		if len(out) == n {
			break
		}
	}
	require.Len(t, out, n)
	return out
}
