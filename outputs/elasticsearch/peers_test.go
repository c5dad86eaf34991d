package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/internal/peertest"
	"github.com/kubetrail/kubetrail/pipeline"
	"github.com/kubetrail/kubetrail/test/peers/opensearch/productshim"
)

// engine is one real search engine the integration tests run against,
// started by the scripts of test/peers/ (which .ci/run uses).
type engine struct {
	name string
	// url is the node itself; clientURL is what the output talks to (the
	// product-header shim for OpenSearch).
	url, clientURL string
	peer           string // test/peers/<peer>
	dirEnv         string // env var naming the node dir, for restarts
	dir            string
}

// engines runs f once per engine, each in its own subtest that skips (or
// fails under CI) when that engine is not running.
func engines(t *testing.T, f func(t *testing.T, e *engine)) {
	t.Run("opensearch", func(t *testing.T) {
		url := peertest.Require(t, "opensearch", "OPENSEARCH_URL")
		f(t, &engine{name: "opensearch", url: url, clientURL: productshim.Start(t, url),
			peer: "opensearch", dirEnv: "OPENSEARCH_DIR", dir: os.Getenv("OPENSEARCH_DIR")})
	})
	t.Run("elasticsearch", func(t *testing.T) {
		url := peertest.Require(t, "elasticsearch", "ELASTICSEARCH_URL")
		f(t, &engine{name: "elasticsearch", url: url, clientURL: url,
			peer: "elasticsearch", dirEnv: "ELASTICSEARCH_DIR", dir: os.Getenv("ELASTICSEARCH_DIR")})
	})
}

// repoRoot is the repository's root directory.
func repoRoot() string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "..", "..")
}

// script runs test/peers/<peer>/<name> with extra environment and returns
// its stdout.
func (e *engine) script(t *testing.T, name string, env ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(repoRoot(), "test", "peers", e.peer, name))
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Run(), "%s %s: %s", e.peer, name, errb.String())
	return out.String()
}

// restart stops the node and starts it again on its data (same port).
func (e *engine) restart(t *testing.T) {
	t.Helper()
	require.NotEmpty(t, e.dir, "%s is unset: cannot restart the node", e.dirEnv)
	env := e.dirEnv + "=" + e.dir
	pid := e.pid(t)
	e.script(t, "stop.sh", env)
	out := e.script(t, "start.sh", env, strings.ToUpper(e.peer)+"_KEEP_DATA=1")
	require.Contains(t, out, e.url, "the node came back on another address")
	require.NotEqual(t, pid, e.pid(t), "the node was not restarted")
}

// pid is the node's process id, from its start script's PID file.
func (e *engine) pid(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join(e.dir, e.peer+".pid"))
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}

// do sends a request to the node and decodes its JSON answer into v.
func (e *engine) do(t *testing.T, method, path, body string, v any) int {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	if v != nil {
		require.NoError(t, json.Unmarshal(b, v), "%s %s: %s", method, path, b)
	}
	return res.StatusCode
}

// count refreshes index (a name or pattern) and counts its documents with a
// search; -1 when the node refuses (a circuit breaker under load: 429).
func (e *engine) count(t *testing.T, index string) int {
	t.Helper()
	e.do(t, "POST", "/"+index+"/_refresh?ignore_unavailable=true&allow_no_indices=true", "", nil)
	var r struct {
		Count int `json:"count"`
	}
	if st := e.do(t, "POST", "/"+index+"/_count?ignore_unavailable=true&allow_no_indices=true", `{"query":{"match_all":{}}}`, &r); st != 200 {
		return -1
	}
	return r.Count
}

var seq atomic.Int64

// writeAgentConfig writes dir/agent.yaml: the auditlog input on
// dir/audit/audit.log, one elasticsearch output named out with the given
// extra keys (indented YAML lines), and returns its path.
func (e *engine) writeAgentConfig(t *testing.T, dir, out, keys string) string {
	t.Helper()
	cfg := filepath.Join(dir, "agent.yaml")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, `
agent:
  state_dir: %[1]s/state
  http_listen: ""
  log: {level: warn}
inputs:
  apiserver:
    type: auditlog
    path: %[1]s/audit/audit.log
    start_at: beginning
outputs:
  %[3]s:
    type: elasticsearch
    addresses: [%[2]s]
%[4]s
pipelines:
  audit:
    inputs: [apiserver]
    outputs: [%[3]s]
`, dir, e.clientURL, out, keys), 0o600))
	return cfg
}

// uniqueName is a fresh lowercase index or data stream name part.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e9, seq.Add(1))
}

// cleanup deletes the test's indices (a name or pattern), data streams and
// templates at the end. Elasticsearch refuses wildcard deletes, so a pattern
// is resolved to names first.
func (e *engine) cleanup(t *testing.T, pattern string, templates ...string) {
	t.Cleanup(func() {
		e.do(t, "DELETE", "/_data_stream/"+pattern, "", nil)
		var rows []struct {
			Index string `json:"index"`
		}
		var raw json.RawMessage
		if e.do(t, "GET", "/_cat/indices/"+pattern+"?format=json&h=index&expand_wildcards=all", "", &raw) == 200 {
			require.NoError(t, json.Unmarshal(raw, &rows))
		}
		for _, r := range rows {
			e.do(t, "DELETE", "/"+r.Index, "", nil)
		}
		for _, n := range templates {
			e.do(t, "DELETE", "/_index_template/"+n, "", nil)
		}
	})
}

// newOutput builds and starts an output to the engine.
func (e *engine) newOutput(t *testing.T, name string, edit func(*Config)) *Output {
	t.Helper()
	cfg := defaultConfig()
	cfg.Addresses = []string{e.clientURL}
	edit(cfg)
	o, err := New(cfg, pipeline.Settings{Name: name, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, o.Start(ctx))
	t.Cleanup(func() { o.Close(context.Background()) })
	return o
}

// restartWith restarts the node on its data with extra node settings
// (key: value), and restarts it without them when the test ends.
func (e *engine) restartWith(t *testing.T, settings map[string]string) {
	t.Helper()
	require.NotEmpty(t, e.dir, "%s is unset: cannot restart the node", e.dirEnv)
	up := strings.ToUpper(e.peer)
	var lines []string
	for k, v := range settings {
		if e.peer == "opensearch" {
			lines = append(lines, k+": "+v)
		} else {
			lines = append(lines, k+"="+v)
		}
	}
	dir := e.dirEnv + "=" + e.dir
	start := func(settings string) {
		pid := e.pid(t)
		e.script(t, "stop.sh", dir)
		out := e.script(t, "start.sh", dir, up+"_KEEP_DATA=1", up+"_SETTINGS="+settings)
		require.Contains(t, out, e.url, "the node came back on another address")
		require.NotEqual(t, pid, e.pid(t), "the node was not restarted")
	}
	start(strings.Join(lines, "\n"))
	t.Cleanup(func() { start("") })
}
