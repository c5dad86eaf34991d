package host_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/internal/peertest"
	"github.com/kubetrail/kubetrail/plugins/host"
)

// pythonExample returns an executable that runs the Python example plugin
// with the Python that test/peers/python-plugin/start.sh prepared (a venv
// with the example's requirements.txt).
func pythonExample(t *testing.T) string {
	t.Helper()
	py := peertest.Require(t, "python-plugin", "KUBETRAIL_PLUGIN_PYTHON")
	script, err := filepath.Abs(filepath.Join("..", "examples", "python-webhook", "kubetrail-webhook"))
	require.NoError(t, err)
	trackSources(t, filepath.Dir(script), "kubetrail-webhook", "kubetrail_plugin/*.py")
	wrapper := filepath.Join(t.TempDir(), "kubetrail-webhook")
	require.NoError(t, os.WriteFile(wrapper, fmt.Appendf(nil, "#!/bin/sh\nexec %q %q \"$@\"\n", py, script), 0o755))
	return wrapper
}

// webhook is the plugin's sink: an HTTP server on 127.0.0.1 that keeps the
// NDJSON lines of the requests it answered with 2xx, less those its
// answer rejected. respond, when set, decides each answer.
type webhook struct {
	srv     *httptest.Server
	mu      sync.Mutex
	stored  map[string]int
	calls   int
	respond func(call int, lines [][]byte, w http.ResponseWriter) (rejected map[int]bool)
}

func newWebhook(t *testing.T) *webhook {
	h := &webhook{stored: map[string]int{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var lines [][]byte
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(nil, 8<<20)
		for sc.Scan() {
			lines = append(lines, bytes.Clone(sc.Bytes()))
		}
		h.mu.Lock()
		call := h.calls
		h.calls++
		respond := h.respond
		h.mu.Unlock()
		var rejected map[int]bool
		if respond != nil {
			rec := httptest.NewRecorder()
			rejected = respond(call, lines, rec)
			if rec.Code/100 != 2 {
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				_, _ = w.Write(rec.Body.Bytes())
				return
			}
		}
		h.mu.Lock()
		type rej struct {
			Index  int    `json:"index"`
			Reason string `json:"reason"`
		}
		var rs []rej
		for i, l := range lines {
			if rejected[i] {
				rs = append(rs, rej{i, "no thanks"})
				continue
			}
			h.stored[string(l)]++
		}
		h.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"rejected": rs})
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *webhook) read() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]int, len(h.stored))
	for k, v := range h.stored {
		out[k] = v
	}
	return out
}

func pyConfig(t *testing.T, url string) *host.Config {
	return &host.Config{
		Path:                   pythonExample(t),
		Config:                 map[string]any{"url": url, "headers": map[string]any{"Authorization": "Bearer s3cr3t"}},
		StartTimeout:           config.Duration(30 * time.Second),
		WriteTimeout:           config.Duration(3 * time.Second),
		RestartInitialInterval: config.Duration(50 * time.Millisecond),
		RestartMaxInterval:     config.Duration(500 * time.Millisecond),
	}
}

// The Python plugin, SIGKILLed mid-stream twice, is restarted and every
// event reaches the webhook; its log lines are in the agent's log, its
// secret header is not.
func TestPythonPluginKilledMidStream(t *testing.T) {
	wh := newWebhook(t)
	r := newRig(t, pyConfig(t, wh.srv.URL), fast)
	all := corpus(t, 2050)
	evs, tail := all[:2000], all[2000:]
	go r.feed(evs)
	kills := 0
	for _, at := range []int{300, 1200} {
		require.Eventually(t, func() bool { return len(wh.read()) >= at }, time.Minute, time.Millisecond)
		if pid := r.out.PID(); pid != 0 {
			require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
			kills++
		}
	}
	r.waitAccounted(wh.read, evs, nil)
	r.feed(tail) // a plugin killed after its last batch is found dead by the next Write
	r.waitAccounted(wh.read, all, nil)
	assert.GreaterOrEqual(t, r.restarts(), float64(kills))
	logs := r.logs.String()
	assert.Contains(t, logs, "msg=configured output=archive plugin=kubetrail-webhook url="+wh.srv.URL)
	assert.NotContains(t, logs, "s3cr3t")
}

// Every verdict the Python plugin can give, from a webhook that throttles,
// rejects credentials, rejects single events and hangs: each event is
// delivered or dead-lettered as its verdict said, none is lost.
func TestPythonPluginVerdicts(t *testing.T) {
	wh := newWebhook(t)
	var mu sync.Mutex
	bad := map[string]bool{} // events the webhook rejects for good
	evs := corpus(t, 1500)
	for i, ev := range evs {
		if i%97 == 5 {
			bad[string(ev.Raw)] = true
		}
	}
	hung := make(chan struct{})
	wh.respond = func(call int, lines [][]byte, w http.ResponseWriter) map[int]bool {
		switch {
		case call < 2:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return nil
		case call < 4:
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte("bad token"))
			return nil
		case call == 6:
			<-hung // longer than write_timeout: the plugin hangs in Write
			w.WriteHeader(http.StatusServiceUnavailable)
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		rej := map[int]bool{}
		for i, l := range lines {
			if bad[string(l)] {
				rej[i] = true
			}
		}
		return rej
	}
	r := newRig(t, pyConfig(t, wh.srv.URL), fast)
	r.feed(evs)
	go func() {
		time.Sleep(5 * time.Second)
		close(hung)
	}()
	r.waitAccounted(wh.read, evs, func(ev event.Event) bool { return bad[string(ev.Raw)] })
	for _, e := range r.dlq.Entries() {
		assert.Equal(t, "permanent: plugin archive: no thanks", e.Reason)
	}
	logs := r.logs.String()
	assert.Contains(t, logs, "HTTP 503", "throttled")
	assert.Contains(t, logs, "unready: plugin archive: POST "+wh.srv.URL+": HTTP 401: bad token")
	assert.Contains(t, logs, "did not answer Write within write_timeout")
	assert.GreaterOrEqual(t, r.restarts(), float64(1), "the hung plugin was restarted")
	assert.True(t, strings.Count(logs, "plugin started") >= 2)
}
