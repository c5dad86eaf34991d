package splunkhec

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
	"github.com/kubetrail/kubetrail/outputs/internal/nametemplate"
	"github.com/kubetrail/kubetrail/pipeline"
)

func mustEvent(t *testing.T, raw string) event.Event {
	t.Helper()
	ev, err := event.New([]byte(raw))
	require.NoError(t, err)
	return ev
}

func TestEnvelope(t *testing.T) {
	tmpl := func(s string) *nametemplate.Template {
		tt, err := nametemplate.Parse(s, nametemplate.Options{})
		require.NoError(t, err)
		return tt
	}
	env := newEnvelope("node-1", "kube-apiserver", DefaultSourcetype, "", map[string]*nametemplate.Template{
		"verb": tmpl("{verb}"), "namespace": tmpl("{objectRef.namespace}"), "user": tmpl(`{user.username}`), "cluster": tmpl("prod"),
	})
	ev := mustEvent(t, testcorpus.MetadataEvent)
	out := env.append(nil, &ev)
	require.True(t, json.Valid(out), "%s", out)
	want := `{"time":1795314437.144351,"host":"node-1","source":"kube-apiserver","sourcetype":"kube:apiserver-audit",` +
		`"fields":{"cluster":"prod","namespace":"kube-system","user":"system:apiserver","verb":"watch"},"event":` + testcorpus.MetadataEvent + `}`
	require.Equal(t, want, string(out))

	// No stageTimestamp, no constant members, a field rendering empty and
	// one needing escapes.
	bare := newEnvelope("", "", "", "", map[string]*nametemplate.Template{"ns": tmpl("{objectRef.namespace}"), "u": tmpl("{user.username}")})
	ev = mustEvent(t, `{"auditID":"a","stage":"ResponseComplete","user":{"username":"eve \"\\\u0001\""}}`)
	out = bare.append(nil, &ev)
	require.True(t, json.Valid(out), "%s", out)
	var got struct {
		Time   *float64
		Fields map[string]string
		Event  json.RawMessage
	}
	require.NoError(t, json.Unmarshal(out, &got))
	assert.Nil(t, got.Time)
	assert.Equal(t, map[string]string{"u": "eve \"\\\x01\""}, got.Fields)
	assert.Equal(t, string(ev.Raw), string(got.Event))

	ev = mustEvent(t, `{"auditID":"a","stage":"ResponseComplete"}`)
	require.Equal(t, `{"event":{"auditID":"a","stage":"ResponseComplete"}}`, string(bare.append(nil, &ev)))
}

func TestEpoch(t *testing.T) {
	for ts, want := range map[string]string{
		"2026-11-22T02:27:17.144351Z":      "1795314437.144351",
		"2026-11-22T02:27:17Z":             "1795314437.000000",
		"2026-11-22T02:27:17.1Z":           "1795314437.100000",
		"2026-11-22T03:27:17.000042+01:00": "1795314437.000042",
	} {
		e, ok := epoch([]byte(ts))
		require.True(t, ok, ts)
		assert.Equal(t, want, string(e.appendTo(nil)), ts)
	}
	_, ok := epoch([]byte("yesterday"))
	assert.False(t, ok)
}

func TestURLs(t *testing.T) {
	for in, want := range map[string]string{
		"https://splunk:8088":                           "https://splunk:8088/services/collector/event",
		"https://splunk:8088/":                          "https://splunk:8088/services/collector/event",
		"https://splunk:8088/services/collector":        "https://splunk:8088/services/collector/event",
		"https://splunk:8088/services/collector/event/": "https://splunk:8088/services/collector/event",
		"http://lb/splunk":                              "http://lb/splunk/services/collector/event",
	} {
		c := &Config{Endpoint: in}
		ev, ack, err := c.urls()
		require.NoError(t, err, in)
		assert.Equal(t, want, ev, in)
		assert.Equal(t, strings.TrimSuffix(want, "/event")+"/ack", ack, in)
	}
	for _, bad := range []string{"", "splunk:8088", "ftp://splunk", "https://user:pw@splunk:8088", "https://splunk:8088?token=x"} {
		_, _, err := (&Config{Endpoint: bad}).urls()
		assert.Error(t, err, bad)
	}
}

func TestValidate(t *testing.T) {
	ok := func() *Config { c := defaultConfig(); c.Endpoint = "https://splunk:8088"; c.Token = "t"; return c }
	require.NoError(t, ok().Validate())
	for name, tc := range map[string]struct {
		mod   func(*Config)
		field string
	}{
		"no endpoint":     {func(c *Config) { c.Endpoint = "" }, "endpoint"},
		"no token":        {func(c *Config) { c.Token = "" }, "token"},
		"small max_bytes": {func(c *Config) { c.MaxBytes = 1000 }, "max_bytes"},
		"event > request": {func(c *Config) { c.MaxEventBytes = c.MaxBytes }, "max_event_bytes"},
		"oversize":        {func(c *Config) { c.Oversize = "drop" }, "oversize"},
		"compression":     {func(c *Config) { c.Compression = "zstd" }, "compression"},
		"ack_timeout":     {func(c *Config) { c.AckTimeout = 0 }, "ack_timeout"},
		"channel":         {func(c *Config) { c.Channel = "not-a-guid" }, "channel"},
		"field template":  {func(c *Config) { c.Fields = map[string]string{"x": "{nope}"} }, "fields.x"},
		"tls":             {func(c *Config) { c.TLS.CertFile = "/x.pem" }, "tls.key_file"},
	} {
		c := ok()
		tc.mod(c)
		err := c.Validate()
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), tc.field+":", name)
	}
	c := ok()
	assert.Equal(t, mib-envelopeReserve, c.maxEventBytes())
}

// The loader decodes the keys (and the delivery keys) over the defaults;
// the token stays out of every rendering of the config.
func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("s3cr3t-token\n"), 0o600))
	comps := config.Factories{
		config.KindInput: {"auditlog": func() any {
			return &struct {
				Path string `yaml:"path"`
			}{}
		}},
		config.KindOutput: {"splunk_hec": func() any { return defaultConfig() }},
	}
	cfg, err := config.Parse("agent.yaml", []byte(`
inputs:
  apiserver: {type: auditlog, path: /var/log/audit.log}
outputs:
  siem:
    type: splunk_hec
    endpoint: https://splunk.example:8088
    token: ${file:`+tokenFile+`}
    index: k8s
    fields: {verb: "{verb}", cluster: prod}
    compression: none
    max_bytes: 512KiB
    ack: true
    ack_timeout: 2m
    max_in_flight: 4
pipelines:
  audit: {inputs: [apiserver], outputs: [siem]}
`), comps)
	require.NoError(t, err)
	c := cfg.Outputs["siem"].Config.(*Config)
	assert.Equal(t, "s3cr3t-token", c.Token.Value())
	assert.Equal(t, None, c.Compression)
	assert.Equal(t, 512*config.KiB, c.MaxBytes)
	assert.Equal(t, 2*time.Minute, c.AckTimeout.Std())
	assert.Equal(t, DefaultSourcetype, c.Sourcetype)
	assert.Equal(t, 4, cfg.Outputs["siem"].Delivery.MaxInFlight)
	js, _ := json.Marshal(c)
	assert.NotContains(t, string(js), "s3cr3t")
}

func TestClassify(t *testing.T) {
	code := func(n int) *int { return &n }
	for name, tc := range map[string]struct {
		a         answer
		kind      kind
		unready   bool
		throttled bool
		invalid   int
	}{
		"200":                      {answer{status: 200}, accepted, false, false, -1},
		"400 code 6 event number":  {answer{status: 400, reply: &hecReply{Text: "Invalid data format", Code: code(6), InvalidEvent: code(3)}, text: "Invalid data format"}, badData, false, false, 3},
		"400 code 12":              {answer{status: 400, reply: &hecReply{Code: code(12)}, text: "Event field is required"}, badData, false, false, -1},
		"400 plain text":           {answer{status: 400, text: "Failed to unmarshal message body"}, badData, false, false, -1},
		"400 code 7 index":         {answer{status: 400, reply: &hecReply{Code: code(7)}, text: "Incorrect index"}, failed, true, false, -1},
		"400 code 14 ack disabled": {answer{status: 400, reply: &hecReply{Code: code(14)}, text: "ACK is disabled"}, failed, true, false, -1},
		"401 json code 2":          {answer{status: 401, reply: &hecReply{Code: code(2)}, text: "Token is required"}, failed, true, false, -1},
		"401 plain text":           {answer{status: 401, text: "scheme or token does not match"}, failed, true, false, -1},
		"403 code 4":               {answer{status: 403, reply: &hecReply{Code: code(4)}, text: "Invalid token"}, failed, true, false, -1},
		"404":                      {answer{status: 404, text: "not found"}, failed, true, false, -1},
		"413":                      {answer{status: 413, text: "Content-Length of 2000000 too large"}, tooLarge, false, false, -1},
		"429 retry-after":          {answer{status: 429, retryAfter: 5 * time.Second, hasRetry: true}, failed, false, true, -1},
		"503 code 9":               {answer{status: 503, reply: &hecReply{Code: code(9)}, text: "Server is busy"}, failed, false, false, -1},
		"500":                      {answer{status: 500, text: "Internal Server Error"}, failed, false, false, -1},
	} {
		r := classify(tc.a)
		assert.Equal(t, tc.kind, r.kind, name)
		assert.Equal(t, tc.invalid, r.invalidEvent, name)
		if tc.kind == accepted {
			assert.NoError(t, r.err, name)
			continue
		}
		require.Error(t, r.err, name)
		assert.Equal(t, tc.unready, event.IsUnready(r.err), name)
		assert.False(t, event.IsPermanent(r.err), name)
		d, ok := event.RetryAfter(r.err)
		assert.Equal(t, tc.throttled, ok, name)
		if ok {
			assert.Equal(t, 5*time.Second, d)
		}
		if tc.a.text != "" {
			assert.Contains(t, r.err.Error(), tc.a.text, name)
		}
	}
}

func TestSplit(t *testing.T) {
	idx := []int{10, 11, 12, 13, 14}
	assert.Equal(t, [][]int{{10, 11}, {12, 13, 14}}, split(idx, -1))
	assert.Equal(t, [][]int{{10, 11, 12}, {13}, {14}}, split(idx, 3))
	assert.Equal(t, [][]int{{}, {10}, {11, 12, 13, 14}}, split(idx, 0))
	assert.Equal(t, [][]int{{10, 11}, {12, 13, 14}}, split(idx, 9))
}

// fakeSplunk answers like Splunk does where the contrib receiver differs:
// 413 over a size, 400 with invalid-event-number, JSON 401/403.
type fakeSplunk struct {
	mu       sync.Mutex
	maxBody  int
	badWord  string
	status   int // forced status when non-zero
	body     string
	header   map[string]string
	got      []string // events accepted
	requests int
}

func (f *fakeSplunk) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		rd = zr
	}
	body, _ := io.ReadAll(rd)
	for k, v := range f.header {
		w.Header().Set(k, v)
	}
	if f.status != 0 {
		w.WriteHeader(f.status)
		io.WriteString(w, f.body)
		return
	}
	if f.maxBody > 0 && len(body) > f.maxBody {
		w.WriteHeader(413)
		io.WriteString(w, `{"text":"Content too large","code":27}`)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var evs []string
	for n := 0; dec.More(); n++ {
		var env struct{ Event struct{ AuditID string } }
		if err := dec.Decode(&env); err != nil {
			w.WriteHeader(400)
			io.WriteString(w, `{"text":"Invalid data format","code":6,"invalid-event-number":`+itoa(n)+`}`)
			return
		}
		if f.badWord != "" && strings.Contains(env.Event.AuditID, f.badWord) {
			w.WriteHeader(400)
			io.WriteString(w, `{"text":"Event field is required","code":12,"invalid-event-number":`+itoa(n)+`}`)
			return
		}
		evs = append(evs, env.Event.AuditID)
	}
	f.got = append(f.got, evs...)
	io.WriteString(w, `{"text":"Success","code":0}`)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func newFakeOutput(t *testing.T, f *fakeSplunk, mod func(*Config)) *HEC {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg := defaultConfig()
	cfg.Endpoint = srv.URL
	cfg.Token = "fake-token-123"
	if mod != nil {
		mod(cfg)
	}
	require.NoError(t, cfg.Validate())
	h, err := New(cfg, pipeline.Settings{Name: "siem", StateDir: t.TempDir(), Metrics: prometheus.NewRegistry()})
	require.NoError(t, err)
	require.NoError(t, h.Start(context.Background()))
	return h
}

func batchOf(t *testing.T, n, pad int) *event.Batch {
	b := &event.Batch{}
	for i := range n {
		raw := `{"auditID":"id-` + itoa(i) + `","stage":"ResponseComplete","stageTimestamp":"2026-11-22T02:27:17.144351Z","x":"` + strings.Repeat("a", pad) + `"}`
		b.Events = append(b.Events, mustEvent(t, raw))
		b.Bytes += len(raw)
	}
	return b
}

// A batch larger than max_bytes goes in several requests; a 413 splits a
// request further; a single event still too large is dead-lettered.
func TestRequestsSplitByMaxBytesAnd413(t *testing.T) {
	f := &fakeSplunk{maxBody: 100 << 10}
	h := newFakeOutput(t, f, func(c *Config) { c.MaxBytes = 256 << 10; c.MaxEventBytes = 200 << 10; c.Oversize = "dead_letter" })
	b := batchOf(t, 40, 10<<10) // ~410KiB: 2 requests by max_bytes, each split by 413
	b.Events = append(b.Events, batchOf(t, 1, 150<<10).Events[0])
	b.Events[40].Meta.AuditID = []byte("big")
	err := h.Write(context.Background(), b)
	var partial *event.PartialError
	require.ErrorAs(t, err, &partial)
	require.Len(t, partial.Failed, 1)
	require.True(t, event.IsPermanent(partial.Failed[40]))
	assert.Contains(t, partial.Failed[40].Error(), "413")
	assert.Len(t, f.got, 40)
	for i, id := range f.got {
		assert.Equal(t, "id-"+itoa(i), id, "order kept")
	}
}

// Splunk's invalid-event-number isolates the bad event: only it fails,
// permanently, with Splunk's text.
func TestBadEventByInvalidEventNumber(t *testing.T) {
	f := &fakeSplunk{badWord: "id-7"}
	h := newFakeOutput(t, f, nil)
	b := batchOf(t, 20, 10)
	err := h.Write(context.Background(), b)
	var partial *event.PartialError
	require.ErrorAs(t, err, &partial)
	require.Len(t, partial.Failed, 1)
	require.True(t, event.IsPermanent(partial.Failed[7]))
	assert.Contains(t, partial.Failed[7].Error(), "Event field is required (code 12)")
	assert.Len(t, f.got, 19)
	assert.LessOrEqual(t, f.requests, 4, "invalid-event-number splits around the event, no bisection")
}

// 401/403 are Unready with the token scrubbed; 429/503 honour Retry-After.
func TestAuthAndThrottle(t *testing.T) {
	f := &fakeSplunk{status: 403, body: `{"text":"Invalid token fake-token-123","code":4}`}
	h := newFakeOutput(t, f, nil)
	err := h.Write(context.Background(), batchOf(t, 3, 10))
	require.True(t, event.IsUnready(err), "%v", err)
	assert.NotContains(t, err.Error(), "fake-token-123")
	assert.Contains(t, err.Error(), "Invalid token [redacted] (code 4)")

	f.status, f.body, f.header = 503, `{"text":"Server is busy","code":9}`, map[string]string{"Retry-After": "7"}
	err = h.Write(context.Background(), batchOf(t, 3, 10))
	d, ok := event.RetryAfter(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, 7*time.Second, d)
	assert.False(t, event.IsUnready(err))
}

// ack: true against a HEC whose token has no indexer acknowledgement (200
// without ackId) is a configuration problem: unready, nothing lost.
func TestAckWithoutAckID(t *testing.T) {
	h := newFakeOutput(t, &fakeSplunk{}, func(c *Config) { c.Ack = true })
	err := h.Write(context.Background(), batchOf(t, 3, 10))
	require.True(t, event.IsUnready(err), "%v", err)
}

// An ackId handed out again (the receiver restarted) marks the older wait
// lost; a poll's "true" goes to whoever holds the id once the in-flight
// sends registered theirs.
func TestAckIDReuse(t *testing.T) {
	a := newAcks()
	tok := a.startSend()
	old := a.endSend(tok, 3, true)

	tok2 := a.startSend()
	// A poll answered while tok2 is in flight waits for it.
	applied := make(chan struct{})
	go func() {
		assert.NoError(t, a.apply(context.Background(), map[uint64]bool{3: true}))
		close(applied)
	}()
	select {
	case <-applied:
		t.Fatal("a poll answer was applied while a send was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	fresh := a.endSend(tok2, 3, true) // the restarted receiver gave id 3 again
	<-applied
	acked, lost := a.state(old)
	assert.False(t, acked)
	assert.True(t, lost)
	acked, lost = a.state(fresh)
	assert.True(t, acked)
	assert.False(t, lost)
}

func TestChannelPersisted(t *testing.T) {
	dir := t.TempDir()
	newOut := func() *HEC {
		cfg := defaultConfig()
		cfg.Endpoint, cfg.Token = "http://127.0.0.1:1", "t"
		h, err := New(cfg, pipeline.Settings{Name: "siem", StateDir: dir, Metrics: prometheus.NewRegistry()})
		require.NoError(t, err)
		return h
	}
	a, b := newOut(), newOut()
	require.NoError(t, a.Start(context.Background()))
	require.NoError(t, b.Start(context.Background()))
	assert.Regexp(t, guidRE, a.channel)
	assert.Equal(t, a.channel, b.channel, "a restart keeps the channel")

	path := filepath.Join(dir, "outputs", "siem", "hec-channel")
	require.NoError(t, os.WriteFile(path, []byte("garbage"), 0o600))
	err := newOut().Start(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "delete it")
}

// An event over max_event_bytes is truncated like kube-apiserver does.
func TestOversizeTruncates(t *testing.T) {
	f := &fakeSplunk{}
	h := newFakeOutput(t, f, func(c *Config) { c.MaxBytes = 64 << 10; c.MaxEventBytes = 8 << 10 })
	raw := `{"auditID":"big","stage":"ResponseComplete","responseObject":{"x":"` + strings.Repeat("a", 20<<10) + `"}}`
	b := &event.Batch{Events: []event.Event{mustEvent(t, raw)}}
	require.NoError(t, h.Write(context.Background(), b))
	assert.Equal(t, []string{"big"}, f.got)
	assert.Less(t, len(b.Events[0].Raw), 8<<10)
}

// BenchmarkWrite is the output's own cost per batch of real events (the
// corpus, 500 per batch) against a server that discards the body: envelope,
// gzip, HTTP. cpu-s/GiB is the process's CPU per GiB of events.
func BenchmarkWrite(b *testing.B) {
	for _, comp := range []Compression{Gzip, None} {
		b.Run(string(comp), func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				io.WriteString(w, `{"text":"Success","code":0}`)
			}))
			defer srv.Close()
			cfg := defaultConfig()
			cfg.Endpoint, cfg.Token, cfg.Compression = srv.URL, "t", comp
			cfg.Fields = map[string]string{"verb": "{verb}", "namespace": "{objectRef.namespace}"}
			h, err := New(cfg, pipeline.Settings{Name: "siem", StateDir: b.TempDir(), Metrics: prometheus.NewRegistry()})
			require.NoError(b, err)
			require.NoError(b, h.Start(context.Background()))
			var batches []*event.Batch
			cur := &event.Batch{}
			total := 0
			for _, l := range testcorpus.Load(b) {
				ev, err := event.New(l.Raw)
				require.NoError(b, err)
				cur.Events = append(cur.Events, ev)
				cur.Bytes += len(l.Raw)
				total += len(l.Raw)
				if len(cur.Events) == 500 {
					batches = append(batches, cur)
					cur = &event.Batch{}
				}
			}
			b.SetBytes(int64(total))
			b.ResetTimer()
			cpu0 := processCPU()
			for range b.N {
				for _, batch := range batches {
					require.NoError(b, h.Write(context.Background(), batch))
				}
			}
			// Whole-process CPU (the discarding server included), so that
			// the figure holds on a loaded machine where wall time does not.
			b.ReportMetric((processCPU()-cpu0).Seconds()/(float64(total)*float64(b.N)/(1<<30)), "cpu-s/GiB")
		})
	}
}

// https: verified against tls.ca_file; a certificate that does not verify
// is a configuration problem (unready), not a transient one.
func TestTLS(t *testing.T) {
	f := &fakeSplunk{}
	srv := httptest.NewTLSServer(f)
	defer srv.Close()
	newOut := func(ca string) *HEC {
		cfg := defaultConfig()
		cfg.Endpoint, cfg.Token, cfg.TLS.CAFile = srv.URL, "t", ca
		require.NoError(t, cfg.Validate())
		h, err := New(cfg, pipeline.Settings{Name: "siem", StateDir: t.TempDir(), Metrics: prometheus.NewRegistry()})
		require.NoError(t, err)
		require.NoError(t, h.Start(context.Background()))
		return h
	}
	err := newOut("").Write(context.Background(), batchOf(t, 2, 10))
	require.True(t, event.IsUnready(err), "%v", err)
	assert.Contains(t, err.Error(), "ca_file")

	ca := filepath.Join(t.TempDir(), "ca.pem")
	var pemBuf bytes.Buffer
	require.NoError(t, pemEncode(&pemBuf, srv.Certificate().Raw))
	require.NoError(t, os.WriteFile(ca, pemBuf.Bytes(), 0o600))
	require.NoError(t, newOut(ca).Write(context.Background(), batchOf(t, 2, 10)))
	assert.Len(t, f.got, 2)
}

func pemEncode(w io.Writer, der []byte) error {
	return pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// sample.yaml is a valid configuration (its token file and CA swapped for
// test ones).
func TestSampleLoads(t *testing.T) {
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(token, []byte("t"), 0o600))
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	srv.Close()
	ca := filepath.Join(dir, "ca.pem")
	var buf bytes.Buffer
	require.NoError(t, pemEncode(&buf, srv.Certificate().Raw))
	require.NoError(t, os.WriteFile(ca, buf.Bytes(), 0o600))
	text := strings.NewReplacer("/etc/kubetrail/hec-token", token, "/etc/kubetrail/splunk-ca.pem", ca).Replace(Sample())
	text += "inputs:\n  apiserver: {type: auditlog, path: /var/log/audit.log}\npipelines:\n  audit: {inputs: [apiserver], outputs: [siem]}\n"
	cfg, err := config.Parse("sample.yaml", []byte(text), config.Factories{
		config.KindInput: {"auditlog": func() any {
			return &struct {
				Path string `yaml:"path"`
			}{}
		}},
		config.KindOutput: {"splunk_hec": func() any { return defaultConfig() }},
	})
	require.NoError(t, err)
	c := cfg.Outputs["siem"].Config.(*Config)
	assert.Equal(t, DefaultSourcetype, c.Sourcetype)
	assert.Equal(t, "{verb}", c.Fields["verb"])
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
