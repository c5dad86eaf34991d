package elasticsearch

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/klauspost/compress/gzip"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs"
	"github.com/kubetrail/kubetrail/outputs/internal/freelist"
	"github.com/kubetrail/kubetrail/outputs/internal/nametemplate"
	"github.com/kubetrail/kubetrail/outputs/internal/oversize"
	"github.com/kubetrail/kubetrail/pipeline"
)

//go:embed sample.yaml
var sample string

// Sample is a commented example configuration of this output.
func Sample() string { return sample }

// maxRequestBytes is what one bulk request may carry: Elasticsearch's and
// OpenSearch's default http.max_content_length (100MiB), less a margin.
const maxRequestBytes = 100<<20 - 64<<10

// perEventOverhead is what a document costs beyond its event's bytes: the
// action line (index name, _id) and the @timestamp member.
const perEventOverhead = 192

func init() {
	outputs.Register("elasticsearch", outputs.Factory{
		NewConfig: func() any { return defaultConfig() },
		New: func(cfg any, set pipeline.Settings) (event.Output, error) {
			return New(cfg.(*Config), set)
		},
		Limits: event.Limits{MaxBytes: maxRequestBytes, PerEventOverhead: perEventOverhead},
		// Bulk requests of a few MiB are what Elasticsearch recommends;
		// two in flight keep a node's write threads busy.
		Delivery: func(d *config.Delivery) {
			d.Batch.MaxEvents = 2000
			d.Batch.MaxBytes = 5 * config.MiB
			d.MaxInFlight = 2
		},
	})
}

// Output is the elasticsearch output.
type Output struct {
	cfg          *Config
	client       *elasticsearch.Client
	transport    *http.Transport
	log          *slog.Logger
	name         *nametemplate.Template
	dataStream   bool
	templateName string
	gzip         bool
	maxEvent     int // an event's limit, for the oversize policy

	tmplMu    sync.Mutex
	tmplReady bool

	// bufs keeps request memory across garbage collections (see
	// outputs/internal/freelist), one per concurrent Write; buffers larger
	// than keepBytes (grown by an unusual batch) are not kept.
	bufs      *freelist.List[*sendBuf]
	keepBytes int
}

// keepIdle is how long an idle output keeps its request memory.
const keepIdle = 30 * time.Second

var _ event.Output = (*Output)(nil)

// sendBuf is the reusable memory of one bulk request.
type sendBuf struct {
	body bytes.Buffer
	gz   bytes.Buffer
	zw   *gzip.Writer
	name []byte
}

// New returns an elasticsearch output; nothing is sent before Start.
func New(cfg *Config, set pipeline.Settings) (*Output, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tmpl, ds := cfg.target()
	name, err := parseName(tmpl)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := cfg.TLS.Load()
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout.Std(),
	}
	client, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses: cfg.Addresses,
		Username:  cfg.Username,
		Password:  cfg.Password.Value(),
		APIKey:    cfg.APIKey.Value(),
		Transport: sizedBodies{tr},
		// The delivery loop retries, with backoff, and knows which events
		// of a bulk to resend: the client must not resend on its own.
		DisableRetry: true,
	})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch client: %w", err)
	}
	log := set.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tn := "kubetrail"
	if set.Name != "" {
		tn += "-" + strings.ToLower(set.Name)
	}
	batchBytes, batchEvents := set.Delivery.MaxBytes, set.Delivery.MaxEvents
	if batchBytes <= 0 {
		batchBytes = 5 << 20
	}
	if batchEvents <= 0 {
		batchEvents = 2000
	}
	return &Output{
		cfg: cfg, client: client, transport: tr, log: log, name: name, dataStream: ds,
		templateName: tn, gzip: cfg.Compression != CompressionNone,
		maxEvent:  maxRequestBytes - perEventOverhead,
		bufs:      freelist.New(max(1, set.Delivery.MaxInFlight), freelist.Idle[*sendBuf](keepIdle)),
		keepBytes: batchBytes + batchEvents*perEventOverhead + 64<<10,
	}, nil
}

// Start installs the index template when manage_template is on. Its
// errors are retryable (the delivery loop retries Start while the output is
// unready); 401/403 are Unready.
func (o *Output) Start(ctx context.Context) error {
	if err := o.ensureTemplate(ctx); err != nil {
		return fmt.Errorf("elasticsearch: %w", err)
	}
	return nil
}

func (o *Output) ensureTemplate(ctx context.Context) error {
	if !o.cfg.ManageTemplate {
		return nil
	}
	o.tmplMu.Lock()
	defer o.tmplMu.Unlock()
	if o.tmplReady {
		return nil
	}
	if err := o.installTemplate(ctx); err != nil {
		return err
	}
	o.tmplReady = true
	return nil
}

// Close releases idle connections.
func (o *Output) Close(context.Context) error {
	o.transport.CloseIdleConnections()
	return nil
}

// docID is the document's _id: a stable hash of auditID and stage, so a
// batch resent after a crash or a lost response never makes a second
// document (the create fails with 409, which counts as delivered).
func docID(dst []byte, ev *event.Event) []byte {
	var scratch [128]byte
	key := append(append(append(scratch[:0], ev.AuditID...), 0), ev.Stage...)
	sum := sha256.Sum256(key)
	return base64.RawURLEncoding.AppendEncode(dst, sum[:16])
}

// appendDoc appends the bulk action line and the document: the event's raw
// JSON with "@timestamp" (stageTimestamp) added in front, nothing decoded.
func (o *Output) appendDoc(b *sendBuf, ev *event.Event) error {
	raw := bytes.TrimSpace(ev.Raw)
	if len(raw) < 2 || raw[0] != '{' {
		return errors.New("event is not a JSON object")
	}
	b.name = o.name.Append(b.name[:0], &ev.Meta)
	w := &b.body
	w.WriteString(`{"create":{"_index":"`)
	w.Write(b.name)
	w.WriteString(`","_id":"`)
	var idb [32]byte
	w.Write(docID(idb[:0], ev))
	w.WriteString("\"}}\n")
	ts := ev.StageTimestamp
	var now [40]byte
	if len(ts) == 0 || bytes.ContainsAny(ts, "\"\\") {
		ts = time.Now().UTC().AppendFormat(now[:0], time.RFC3339Nano)
	}
	w.WriteString(`{"@timestamp":"`)
	w.Write(ts)
	w.WriteByte('"')
	rest := bytes.TrimLeft(raw[1:], " \t\r\n")
	if rest[0] != '}' {
		w.WriteByte(',')
	}
	w.Write(rest)
	w.WriteByte('\n')
	return nil
}

// putBuf keeps b for the next Write, without buffers grown past keepBytes.
func (o *Output) putBuf(b *sendBuf) {
	if b.body.Cap() > o.keepBytes {
		b.body = bytes.Buffer{}
	}
	if b.gz.Cap() > o.keepBytes {
		b.gz = bytes.Buffer{}
	}
	o.bufs.Put(b)
}

// Write sends the batch in one bulk request and turns the response into
// verdicts: every item created (or already there: 409) is delivered; items
// rejected with 429 or 5xx are retried alone; other rejected items (mapping
// conflicts, parse errors) are dead-lettered with the engine's reason.
func (o *Output) Write(ctx context.Context, batch *event.Batch) error {
	if err := o.ensureTemplate(ctx); err != nil {
		return fmt.Errorf("elasticsearch: %w", err)
	}
	b, ok := o.bufs.Get()
	if !ok {
		b = &sendBuf{}
	}
	// Once sent, b goes back when the transport closes the request body
	// (freelist.Body), not when this call returns.
	sent := false
	defer func() {
		if !sent {
			o.putBuf(b)
		}
	}()
	b.body.Reset()
	// Sized once: growing by doubling would copy, and overshoot keepBytes.
	b.body.Grow(batch.Bytes + len(batch.Events)*perEventOverhead)

	// pos[i] is the bulk item of batch.Events[i], -1 when not sent.
	failed := map[int]error{}
	pos := make([]int, len(batch.Events))
	items := 0
	for i := range batch.Events {
		ev := &batch.Events[i]
		if err := oversize.Fit(ev, o.maxEvent, o.cfg.Oversize); err != nil {
			failed[i] = err
			pos[i] = -1
			continue
		}
		if err := o.appendDoc(b, ev); err != nil {
			failed[i] = event.Permanent(err)
			pos[i] = -1
			continue
		}
		pos[i] = items
		items++
	}
	if items == 0 {
		return &event.PartialError{Failed: failed}
	}

	body := b.body.Bytes()
	header := http.Header{}
	if o.gzip {
		b.gz.Reset()
		if b.zw == nil {
			b.zw, _ = gzip.NewWriterLevel(&b.gz, gzip.BestSpeed)
		} else {
			b.zw.Reset(&b.gz)
		}
		b.zw.Write(body) //nolint:errcheck // writes to memory
		b.zw.Close()     //nolint:errcheck
		body = b.gz.Bytes()
		header.Set("Content-Encoding", "gzip")
	}

	ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout.Std())
	defer cancel()
	sent = true
	res, err := esapi.BulkRequest{
		Body:       freelist.NewBody(body, func() { o.putBuf(b) }),
		Header:     header,
		FilterPath: []string{"errors", "items.*.status", "items.*.error"},
	}.Do(ctx, o.client)
	if err != nil {
		return fmt.Errorf("elasticsearch: bulk of %d events: %w", items, err)
	}
	defer res.Body.Close()
	rb, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("elasticsearch: bulk of %d events: reading the response: %w", items, err)
	}
	if res.StatusCode != http.StatusOK {
		err := statusError(fmt.Sprintf("bulk of %d events", items), res, rb)
		if res.StatusCode == http.StatusRequestEntityTooLarge && items == 1 {
			return event.Permanent(err)
		}
		return err
	}

	// Every item created: the filtered answer then starts with this, and
	// decoding one status per event (a tenth of the output's CPU) is not
	// needed. Anything else is decoded in full.
	if bytes.HasPrefix(rb, []byte(`{"errors":false`)) {
		if len(failed) == 0 {
			return nil
		}
		return &event.PartialError{Failed: failed}
	}
	var resp bulkResponse
	if err := json.Unmarshal(rb, &resp); err != nil {
		return fmt.Errorf("elasticsearch: bulk response: %w", err)
	}
	if !resp.Errors && len(failed) == 0 {
		return nil
	}
	if len(resp.Items) != items {
		return fmt.Errorf("elasticsearch: bulk of %d events answered %d items", items, len(resp.Items))
	}
	unready := 0
	for i, p := range pos {
		if p < 0 {
			continue
		}
		it := resp.Items[p].item()
		if it.Status/100 == 2 || it.Status == http.StatusConflict {
			continue
		}
		ierr := fmt.Errorf("elasticsearch: item rejected with status %d: %s", it.Status, it.Error.text())
		switch {
		case it.Status == http.StatusTooManyRequests || it.Status >= 500 || it.Status == http.StatusRequestTimeout:
			failed[i] = ierr
		case it.Status == http.StatusUnauthorized || it.Status == http.StatusForbidden || it.Status == http.StatusNotFound:
			// Permissions, a read-only (flood-stage) index, a missing index
			// that may not be auto-created: fixed outside the agent.
			failed[i] = event.Unready(ierr)
			unready++
		default:
			failed[i] = event.Permanent(ierr)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	if unready == len(batch.Events) {
		return failed[0]
	}
	return &event.PartialError{Failed: failed}
}

// bulkResponse is the bulk API's answer, filtered to what the verdicts need.
type bulkResponse struct {
	Errors bool       `json:"errors"`
	Items  []bulkItem `json:"items"`
}

type bulkResult struct {
	Status int        `json:"status"`
	Error  *bulkError `json:"error"`
}

// bulkItem is one item of the response: {"create": {...}}.
type bulkItem map[string]bulkResult

// item returns the item's one result.
func (m bulkItem) item() bulkResult {
	for _, r := range m {
		return r
	}
	return bulkResult{}
}

// bulkError is an engine's error object.
type bulkError struct {
	Type     string     `json:"type"`
	Reason   string     `json:"reason"`
	CausedBy *bulkError `json:"caused_by"`
}

func (e *bulkError) text() string {
	if e == nil {
		return "no reason given"
	}
	s := e.Type + ": " + e.Reason
	if e.CausedBy != nil {
		s += " (caused by " + e.CausedBy.text() + ")"
	}
	return s
}

// statusError is the error of a whole request the engine answered with a
// status other than 2xx, marked by what the status means: 401/403/404 are
// fixed outside the agent (Unready), 429 and 503 honour Retry-After
// (Throttled), other 4xx are permanent, the rest retryable.
func statusError(what string, res *esapi.Response, body []byte) error {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	reason := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &e) == nil && len(e.Error) > 0 {
		var be bulkError
		if json.Unmarshal(e.Error, &be) == nil && be.Type != "" {
			reason = be.text()
		} else {
			reason = string(e.Error)
		}
	}
	if len(reason) > 512 {
		reason = reason[:512] + "..."
	}
	err := fmt.Errorf("elasticsearch: %s: HTTP %d: %s", what, res.StatusCode, reason)
	switch code := res.StatusCode; {
	case code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusNotFound:
		return event.Unready(err)
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return event.Throttled(err, retryAfter(res.Header.Get("Retry-After")))
	case code == http.StatusRequestTimeout || code == http.StatusRequestEntityTooLarge || code == http.StatusConflict:
		return err
	case code >= 400 && code < 500:
		return event.Permanent(err)
	default:
		return err
	}
}

// retryAfter parses a Retry-After header (seconds or an HTTP date); 0 when
// absent, so the delivery loop's own backoff applies.
func retryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

// sizedBodies gives a freelist.Body request its Content-Length: esapi builds
// the request with http.NewRequest, which knows the length of a
// *bytes.Reader but not of a body that releases its buffer on Close, and
// would send it chunked.
type sizedBodies struct{ http.RoundTripper }

func (t sizedBodies) RoundTrip(req *http.Request) (*http.Response, error) {
	if b, ok := req.Body.(*freelist.Body); ok && req.ContentLength == 0 {
		req.ContentLength = int64(b.Len())
	}
	return t.RoundTripper.RoundTrip(req)
}
