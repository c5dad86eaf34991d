package host_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubetrail/kubetrail/internal/agentbin"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/internal/testcorpus"
)

// buildAgent is the agent binary, built once per test process.
var buildAgent = agentbin.Build

var auditID = regexp.MustCompile(`"auditID":"[^"]*"`)

// apiserver appends n real audit events (numbered from first) with unique auditIDs to path at
// about rate events/s, as kube-apiserver would, and closes done when all
// are written.
func apiserver(t *testing.T, path string, first, n, rate int) (done chan struct{}) {
	t.Helper()
	corpus := testcorpus.Load(t)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	require.NoError(t, err)
	done = make(chan struct{})
	go func() {
		defer close(done)
		defer f.Close()
		start := time.Now()
		var buf []byte
		for i := range n {
			buf = auditID.ReplaceAll(corpus[(first+i)%len(corpus)].Raw, fmt.Appendf(nil, `"auditID":"plugin-e2e-%06d"`, first+i))
			if _, err := f.Write(append(buf, '\n')); err != nil {
				t.Errorf("apiserver: %v", err)
				return
			}
			if i%50 == 0 && rate > 0 {
				time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))))
			}
		}
	}()
	return done
}

var e2eID = regexp.MustCompile(`plugin-e2e-\d{6}`)

// delivered counts the distinct test events in s.
func delivered(s string) int {
	seen := map[string]bool{}
	for _, m := range e2eID.FindAllString(s, -1) {
		seen[m] = true
	}
	return len(seen)
}

// childPID finds the agent's child process (the plugin).
func childPID(parent int) int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(parent) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(s)))
			return pid
		}
	}
	return 0
}

// The agent binary with a plugin output, for each example: the plugin is
// SIGKILLed twice mid-stream; every event arrives; SIGTERM exits 0; and
// when the agent itself is killed, its plugin dies with it.
func TestAgentRunsPlugins(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the agent binary")
	}
	bin, err := buildAgent()
	require.NoError(t, err)
	t.Run("go", func(t *testing.T) {
		sink := t.TempDir()
		file := filepath.Join(sink, "archive.ndjson")
		agentWithPlugin(t, bin, buildGoExample(t), fmt.Sprintf("{dir: %s}", sink), func() string {
			b, _ := os.ReadFile(file)
			return string(b)
		})
	})
	t.Run("python", func(t *testing.T) {
		wh := newWebhook(t)
		agentWithPlugin(t, bin, pythonExample(t), fmt.Sprintf("{url: %q}", wh.srv.URL), func() string {
			var b strings.Builder
			for l := range wh.read() {
				b.WriteString(l)
			}
			return b.String()
		})
	})
}

func agentWithPlugin(t *testing.T, bin, plugin, pluginConfig string, sink func() string) {
	dir := t.TempDir()
	const events = 4000
	audit := filepath.Join(dir, "audit.log")
	written := apiserver(t, audit, 0, events/2, 1000)
	cfg := filepath.Join(dir, "agent.yaml")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, `
agent:
  state_dir: %[1]s/state
  http_listen: ""
  shutdown_timeout: 10s
inputs:
  apiserver: {type: auditlog, path: %[1]s/audit.log}
outputs:
  archive:
    type: plugin
    path: %[2]s
    config: %[3]s
    write_timeout: 5s
    restart_initial_interval: 50ms
    batch: {max_events: 20, max_wait: 5ms}
pipelines:
  audit: {inputs: [apiserver], outputs: [archive]}
`, dir, plugin, pluginConfig), 0o600))
	agent := agentbin.Run(t, bin, cfg, agentbin.Options{})
	count := func() int { return delivered(sink()) }
	kill := func() {
		t.Helper()
		pid := childPID(agent.PID())
		require.NotZero(t, pid, "stderr:\n%s", agent.Output())
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	}

	// Killed while the first half streams in (most likely mid-batch),
	// then again once it is delivered, before the second half: the next
	// Write finds it dead.
	require.Eventually(t, func() bool { return count() >= events/8 }, time.Minute, 5*time.Millisecond, "stderr:\n%s", agent.Output())
	kill()
	<-written
	require.Eventually(t, func() bool { return count() == events/2 }, 2*time.Minute, 10*time.Millisecond, "events lost; stderr:\n%s", agent.Output())
	require.Eventually(t, func() bool { return childPID(agent.PID()) != 0 }, 30*time.Second, 10*time.Millisecond)
	kill()
	<-apiserver(t, audit, events/2, events/2, 1000)
	require.Eventually(t, func() bool { return count() == events }, 2*time.Minute, 10*time.Millisecond, "events lost; stderr:\n%s", agent.Output())
	assert.Equal(t, 2, strings.Count(agent.Output(), "plugin process failed; restarting it"), "stderr:\n%s", agent.Output())

	// Stopped as systemd stops a service: SIGTERM to every process of
	// it, the plugin included. The plugin waits for the agent to close it.
	plugin0 := childPID(agent.PID())
	require.NotZero(t, plugin0)
	require.NoError(t, syscall.Kill(plugin0, syscall.SIGTERM))
	agent.Stop(t, 30*time.Second)
	assert.Error(t, syscall.Kill(plugin0, 0), "the plugin stopped with the agent")
	assert.NotContains(t, agent.Output(), "plugin was gone before Close", "the plugin outlived the SIGTERM")

	// Killed, the agent takes its plugin with it.
	agent = agentbin.Run(t, bin, cfg, agentbin.Options{})
	var pid int
	require.Eventually(t, func() bool { pid = childPID(agent.PID()); return pid != 0 }, 30*time.Second, 10*time.Millisecond)
	agent.Kill(t)
	require.Eventually(t, func() bool { return syscall.Kill(pid, 0) != nil }, 10*time.Second, 10*time.Millisecond, "plugin %d outlived the agent", pid)
}

// A plugin binary whose SHA-256 is not the configured one: the agent does
// not start, and says which file and both sums.
func TestAgentRefusesWrongChecksum(t *testing.T) {
	bin, err := buildAgent()
	require.NoError(t, err)
	plugin := buildGoExample(t)
	dir := t.TempDir()
	<-apiserver(t, filepath.Join(dir, "audit.log"), 0, 1, 0)
	want := strings.Repeat("0", 64)
	cfg := filepath.Join(dir, "agent.yaml")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, `
agent: {state_dir: %[1]s/state, http_listen: ""}
inputs:
  apiserver: {type: auditlog, path: %[1]s/audit.log}
outputs:
  archive: {type: plugin, path: %[2]s, sha256: %[3]s, config: {dir: %[1]s/out}}
pipelines:
  audit: {inputs: [apiserver], outputs: [archive]}
`, dir, plugin, want), 0o600))
	out, err := exec.Command(bin, "run", "-c", cfg).CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "output:\n%s", out)
	assert.NotZero(t, ee.ExitCode())
	assert.Contains(t, string(out), "plugin "+plugin+" has sha256 "+sum(t, plugin)+" but the configuration expects "+want)
	assert.NoDirExists(t, filepath.Join(dir, "out"), "the plugin never ran")
}
