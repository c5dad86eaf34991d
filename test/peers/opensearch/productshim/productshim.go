// Package productshim is a test-only reverse proxy that lets the official
// Elasticsearch Go client (github.com/elastic/go-elasticsearch/v8) talk to an
// OpenSearch node: the v8 client refuses its first 2xx response unless it
// carries "X-Elastic-Product: Elasticsearch", which OpenSearch never sends.
// The client checks nothing else (no GET /, no version), so the shim adds that
// one header to every response and forwards everything else untouched.
//
// Never put this in front of a production cluster.
package productshim

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
)

// New returns a handler that forwards every request to target (e.g.
// "http://127.0.0.1:9201") and adds the product header to every response.
func New(target string) (http.Handler, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{
		Proxy:               nil, // the node is on 127.0.0.1: ignore HTTP(S)_PROXY
		MaxIdleConnsPerHost: 64,
	}
	// A node restarting is what some tests do: the client sees the 502,
	// the log does not need every refused dial.
	rp.ErrorLog = log.New(io.Discard, "", 0)
	rp.ModifyResponse = func(res *http.Response) error {
		res.Header.Set("X-Elastic-Product", "Elasticsearch")
		return nil
	}
	return rp, nil
}

// Start serves New(target) on a free 127.0.0.1 port until the test ends and
// returns its URL.
func Start(tb testing.TB, target string) string {
	tb.Helper()
	h, err := New(target)
	if err != nil {
		tb.Fatalf("productshim: %v", err)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv.URL
}
