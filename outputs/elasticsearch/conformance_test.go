package elasticsearch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs/outputtest"
	"github.com/kubetrail/kubetrail/pipeline"
)

// faultGate sits between an output and the real node so a conformance
// fault can break the path: refuse the credentials as the cluster's
// security would (401), or drop every connection (a node gone).
type faultGate struct {
	mode atomic.Int32 // 0 pass, 1 refuse (401), 2 drop connections
}

func (g *faultGate) start(t *testing.T, target string) string {
	u, err := url.Parse(target)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0) // a broken path is the point
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch g.mode.Load() {
		case 1:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":{"type":"security_exception","reason":"unable to authenticate user [kubetrail] for REST request [` + r.URL.Path + `]"},"status":401}`)) //nolint:errcheck
		case 2:
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				c.Close()
			}
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestConformance(t *testing.T) {
	engines(t, func(t *testing.T, e *engine) {
		var gate *faultGate // the gate of the output New made last
		h := outputtest.Harness{
			New: func(t *testing.T, o outputtest.Options) (event.Output, outputtest.ReadBack) {
				gate = &faultGate{}
				idx := uniqueName("kt-conformance")
				e.cleanup(t, idx, "kubetrail-"+idx)
				cfg := defaultConfig()
				cfg.Addresses, cfg.Index = []string{gate.start(t, e.clientURL)}, idx
				if o.Oversize != "" {
					cfg.Oversize = o.Oversize
				}
				out, err := New(cfg, pipeline.Settings{Name: idx})
				require.NoError(t, err)
				if o.MaxEventBytes > 0 {
					out.maxEvent = o.MaxEventBytes
				}
				return out, func(ctx context.Context) ([][]byte, error) { return e.readBack(ctx, idx) }
			},
			Faults: []outputtest.Fault{
				{Name: "CredentialsRefused", Unready: true, Break: func(t *testing.T) func() {
					gate.mode.Store(1)
					return func() { gate.mode.Store(0) }
				}},
				{Name: "NodeUnreachable", Break: func(t *testing.T) func() {
					gate.mode.Store(2)
					return func() { gate.mode.Store(0) }
				}},
			},
		}
		outputtest.Run(t, h)
	})
}

// readBack returns every document of idx as the event it was made from
// (without the @timestamp the output adds).
func (e *engine) readBack(ctx context.Context, idx string) ([][]byte, error) {
	do := func(method, path, body string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, method, e.url+path, bytes.NewReader([]byte(body)))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		var b bytes.Buffer
		_, err = b.ReadFrom(bufio.NewReader(res.Body))
		if err == nil && res.StatusCode != 200 {
			err = fmt.Errorf("%s %s: HTTP %d: %.300s", method, path, res.StatusCode, b.Bytes())
		}
		return b.Bytes(), err
	}
	if _, err := do("POST", "/"+idx+"/_refresh?ignore_unavailable=true&allow_no_indices=true", ""); err != nil {
		return nil, err
	}
	body, err := do("POST", "/"+idx+"/_search?ignore_unavailable=true&allow_no_indices=true", `{"size":10000,"query":{"match_all":{}}}`)
	if err != nil {
		return nil, err
	}
	var r struct {
		Hits struct {
			Hits []struct {
				Source json.RawMessage `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	out := make([][]byte, 0, len(r.Hits.Hits))
	for _, h := range r.Hits.Hits {
		dec := json.NewDecoder(bytes.NewReader(h.Source))
		dec.UseNumber()
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			return nil, err
		}
		if _, ok := doc["@timestamp"]; !ok {
			return nil, fmt.Errorf("a document without @timestamp: %.200s", h.Source)
		}
		delete(doc, "@timestamp")
		raw, err := json.Marshal(doc)
		if err != nil {
			return nil, err
		}
		out = append(out, raw)
	}
	return out, nil
}
