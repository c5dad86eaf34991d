package cloudwatch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// faultProxy sits between the output and moto and injects what moto cannot:
// AWS error responses (throttling, 503, access denied), connections cut
// mid-request, and the endpoint going unreachable (its listener closed,
// then opened again on the same address).
type faultProxy struct {
	t      *testing.T
	addr   string
	target *url.URL
	proxy  *httputil.ReverseProxy

	mu     sync.Mutex
	ln     net.Listener
	srv    *http.Server
	fault  func(op string) fault // decides per request; nil passes everything
	counts map[string]int        // requests seen per operation
	puts   []putRequest          // the PutLogEvents requests that passed
	keys   map[string]string     // access key ID that signed the last request, per operation
	shift  time.Duration         // added to every PutLogEvents timestamp on its way to moto
	// swallowed receives a value each time a request was swallowed.
	swallowed chan struct{}
}

// putRequest is what the proxy saw of one PutLogEvents request.
type putRequest struct {
	Stream string
	Events int
	Bytes  int // UTF-8 message bytes + 26 per event, as AWS counts
}

// fault is what the proxy does with one request.
type fault struct {
	status  int               // answer with this status and an AWS JSON error...
	code    string            // ...of this __type
	headers map[string]string // extra response headers
	cut     bool              // close the connection without an answer
	delay   time.Duration     // wait this long first (then pass, unless another field is set)
	// swallow passes the request to moto, which stores it, but never
	// answers: the sink took the events, the client never hears of it.
	swallow bool
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err)
	p := &faultProxy{t: t, target: u, proxy: httputil.NewSingleHostReverseProxy(u), counts: map[string]int{}, keys: map[string]string{}, swallowed: make(chan struct{}, 100)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

// URL is the proxy's endpoint.
func (p *faultProxy) URL() string { return "http://" + p.addr }

func (p *faultProxy) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(p.handle)}
	p.mu.Lock()
	p.ln, p.srv = ln, srv
	p.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// down closes the listener and every open connection: the endpoint is
// unreachable (connection refused) until up.
func (p *faultProxy) down() {
	p.mu.Lock()
	srv := p.srv
	p.srv, p.ln = nil, nil
	p.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// up listens again on the same address.
func (p *faultProxy) up() {
	ln, err := net.Listen("tcp", p.addr)
	require.NoError(p.t, err)
	p.serve(ln)
}

// setFault installs f (nil: pass everything).
func (p *faultProxy) setFault(f func(op string) fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = f
}

// count is how many requests of an operation (e.g. "PutLogEvents") the
// proxy saw.
func (p *faultProxy) count(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[op]
}

func (p *faultProxy) handle(w http.ResponseWriter, r *http.Request) {
	// X-Amz-Target: Logs_20140328.PutLogEvents (JSON protocol), or
	// Action=AssumeRole in the form (STS's query protocol).
	target := r.Header.Get("X-Amz-Target")
	op := target[strings.LastIndexByte(target, '.')+1:]
	if target == "" {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		op = form.Get("Action")
	}
	p.mu.Lock()
	p.counts[op]++
	if m := credentialField.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		p.keys[op] = m[1]
	}
	f := p.fault
	p.mu.Unlock()
	var ft fault
	if f != nil {
		ft = f(op)
	}
	if ft.delay > 0 {
		select {
		case <-time.After(ft.delay):
		case <-r.Context().Done():
			return
		}
	}
	switch {
	case ft.cut:
		_, _ = io.Copy(io.Discard, r.Body)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	case ft.status != 0:
		_, _ = io.Copy(io.Discard, r.Body)
		for k, v := range ft.headers {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-Errortype", ft.code)
		w.WriteHeader(ft.status)
		_, _ = io.WriteString(w, `{"__type":"`+ft.code+`","message":"injected by the test proxy"}`)
	default:
		if op == "PutLogEvents" {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				return // the client gave up (its timeout)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			put, problem := checkPut(body)
			if problem != "" {
				// AWS rejects such a request as a whole; moto does not
				// check: fail the test and answer as AWS would.
				p.t.Errorf("PutLogEvents breaks an AWS limit: %s", problem)
				w.Header().Set("X-Amzn-Errortype", "InvalidParameterException")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"__type":"InvalidParameterException","message":"`+problem+`"}`)
				return
			}
			p.mu.Lock()
			p.puts = append(p.puts, put)
			shift := p.shift
			p.mu.Unlock()
			if shift != 0 {
				body = shiftTimestamps(p.t, body, shift)
				r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
			}
		}
		if ft.swallow {
			p.proxy.ServeHTTP(httptest.NewRecorder(), r)
			p.swallowed <- struct{}{}
			<-r.Context().Done()
			return
		}
		p.proxy.ServeHTTP(w, r)
	}
}

// setShift makes the proxy move every event's timestamp by d (for events
// whose stageTimestamp is older than moto's 14-day window).
func (p *faultProxy) setShift(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shift = d
}

// shiftTimestamps re-encodes a PutLogEvents body with every timestamp moved
// by d; messages are unchanged.
func shiftTimestamps(t *testing.T, body []byte, d time.Duration) []byte {
	var in map[string]json.RawMessage
	var events []struct {
		Timestamp int64  `json:"timestamp"`
		Message   string `json:"message"`
	}
	if json.Unmarshal(body, &in) != nil || json.Unmarshal(in["logEvents"], &events) != nil {
		t.Errorf("cannot shift timestamps of %.200s", body)
		return body
	}
	for i := range events {
		events[i].Timestamp += d.Milliseconds()
	}
	in["logEvents"], _ = json.Marshal(events)
	out, _ := json.Marshal(in)
	return out
}

// credentialField is the access key ID in a SigV4 Authorization header.
var credentialField = regexp.MustCompile(`Credential=([^/]+)/`)

// accessKey is the access key ID that signed the last request of op.
func (p *faultProxy) accessKey(op string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[op]
}

// requests returns the PutLogEvents requests passed to moto so far.
func (p *faultProxy) requests() []putRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]putRequest(nil), p.puts...)
}

// checkPut checks a PutLogEvents body against the limits AWS enforces and
// moto does not, and returns what it saw.
func checkPut(body []byte) (putRequest, string) {
	var in struct {
		LogStreamName string
		LogEvents     []struct {
			Timestamp int64  `json:"timestamp"`
			Message   string `json:"message"`
		} `json:"logEvents"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return putRequest{}, "undecodable body: " + err.Error()
	}
	put := putRequest{Stream: in.LogStreamName, Events: len(in.LogEvents)}
	if len(in.LogEvents) == 0 {
		return put, "no events"
	}
	for i, e := range in.LogEvents {
		put.Bytes += len(e.Message) + EventOverhead
		switch {
		case e.Message == "":
			return put, fmt.Sprintf("event %d has an empty message", i)
		case !utf8.ValidString(e.Message):
			return put, fmt.Sprintf("event %d is not UTF-8", i)
		case len(e.Message)+EventOverhead > MaxRequestBytes:
			return put, fmt.Sprintf("event %d is %d bytes", i, len(e.Message))
		case i > 0 && e.Timestamp < in.LogEvents[i-1].Timestamp:
			return put, fmt.Sprintf("event %d is older than event %d", i, i-1)
		}
	}
	if span := in.LogEvents[len(in.LogEvents)-1].Timestamp - in.LogEvents[0].Timestamp; span >= MaxSpan.Milliseconds() {
		return put, fmt.Sprintf("the events span %d ms", span)
	}
	if put.Events > MaxRequestEvents {
		return put, fmt.Sprintf("%d events", put.Events)
	}
	if put.Bytes > MaxRequestBytes {
		return put, fmt.Sprintf("%d bytes", put.Bytes)
	}
	return put, ""
}
