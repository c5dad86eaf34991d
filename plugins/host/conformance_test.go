package host_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/kubetrail/kubetrail/outputs/outputtest"
	"github.com/kubetrail/kubetrail/plugins/plugintest"
)

// readNDJSON reads every line of an NDJSON file ("" when it is missing).
func readNDJSON(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		out = append(out, bytes.Clone(sc.Bytes()))
	}
	return out, sc.Err()
}

func TestConformanceGoExample(t *testing.T) {
	plugintest.Run(t, plugintest.Harness{
		Path:    buildGoExample(t),
		Ordered: true, // one file, appended in acknowledgement order
		New: func(t *testing.T, o outputtest.Options) (map[string]any, outputtest.ReadBack) {
			dir := t.TempDir()
			cfg := map[string]any{"dir": dir, "max_event_bytes": o.MaxEventBytes, "oversize": string(o.Oversize)}
			return cfg, func(context.Context) ([][]byte, error) { return readNDJSON(filepath.Join(dir, "plugin.ndjson")) }
		},
	})
}

func TestConformancePythonExample(t *testing.T) {
	var cur *webhook // the webhook of the latest output: the faults break it
	plugintest.Run(t, plugintest.Harness{
		Path: pythonExample(t),
		New: func(t *testing.T, o outputtest.Options) (map[string]any, outputtest.ReadBack) {
			wh := newWebhook(t)
			cur = wh
			cfg := map[string]any{"url": wh.srv.URL, "max_event_bytes": o.MaxEventBytes}
			if o.Oversize != "" {
				cfg["oversize"] = string(o.Oversize)
			}
			return cfg, func(context.Context) ([][]byte, error) {
				var out [][]byte
				for l, n := range wh.read() {
					for range n {
						out = append(out, []byte(l))
					}
				}
				return out, nil
			}
		},
		Faults: []outputtest.Fault{
			{Name: "WebhookUnavailable", Break: func(t *testing.T) func() {
				return cur.fail(http.StatusServiceUnavailable)
			}},
			{Name: "TokenRejected", Unready: true, Break: func(t *testing.T) func() {
				return cur.fail(http.StatusUnauthorized)
			}},
		},
	})
}

// fail makes the webhook answer every request with code until heal.
func (h *webhook) fail(code int) (heal func()) {
	h.mu.Lock()
	prev := h.respond
	h.respond = func(_ int, _ [][]byte, w http.ResponseWriter) map[int]bool {
		w.WriteHeader(code)
		return nil
	}
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		h.respond = prev
		h.mu.Unlock()
	}
}
