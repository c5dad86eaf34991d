package splunkhec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs/internal/freelist"
	"github.com/kubetrail/kubetrail/outputs/internal/nametemplate"
	"github.com/kubetrail/kubetrail/outputs/internal/oversize"
	"github.com/kubetrail/kubetrail/pipeline"
)

// HEC is the splunk_hec output.
type HEC struct {
	cfg           *Config
	log           *slog.Logger
	client        *http.Client
	eventURL      string
	ackURL        string
	auth          string // "Splunk <token>"
	token         string // to scrub from what the sink answers
	channel       string
	channelPath   string
	maxBytes      int
	maxEventBytes int
	env           *envelope // constant part; each Write clones the scratch
	acks          *acks
	m             *metrics

	// Request memory, kept across garbage collections (see
	// outputs/internal/freelist): a new gzip.Writer alone is about 820 KB.
	bufs  *freelist.List[[]byte]        // request bodies
	zbufs *freelist.List[*bytes.Buffer] // compressed bodies (copies with no compression)
	gzs   *freelist.List[*gzip.Writer]
	// pollInterval is the first ack poll's delay; it grows to maxPoll.
	pollInterval, maxPoll time.Duration
}

var _ event.Output = (*HEC)(nil)

// New builds the output. It does no I/O: the channel file is read or made
// in Start.
func New(cfg *Config, set pipeline.Settings) (*HEC, error) {
	eventURL, ackURL, err := cfg.urls()
	if err != nil {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = max(2, set.Delivery.MaxInFlight+1)
	if strings.HasPrefix(eventURL, "https:") {
		tc, err := cfg.TLS.Load()
		if err != nil {
			return nil, err
		}
		transport.TLSClientConfig = tc
	}
	host := cfg.Host
	if host == "" {
		host = os.Getenv("NODE_NAME")
	}
	if host == "" {
		host, _ = os.Hostname()
	}
	fields := make(map[string]*nametemplate.Template, len(cfg.Fields))
	for name, text := range cfg.Fields {
		t, err := nametemplate.Parse(text, nametemplate.Options{})
		if err != nil {
			return nil, fmt.Errorf("fields.%s: %w", name, err)
		}
		fields[name] = t
	}
	log := set.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &HEC{
		cfg:           cfg,
		log:           log,
		client:        &http.Client{Transport: transport, CheckRedirect: noRedirect},
		eventURL:      eventURL,
		ackURL:        ackURL,
		auth:          "Splunk " + cfg.Token.Value(),
		token:         cfg.Token.Value(),
		channel:       cfg.Channel,
		maxBytes:      int(cfg.MaxBytes),
		maxEventBytes: cfg.maxEventBytes(),
		env:           newEnvelope(host, cfg.Source, cfg.Sourcetype, cfg.Index, fields),
		acks:          newAcks(),
		m:             newMetrics(set.Metrics),
		pollInterval:  100 * time.Millisecond,
		maxPoll:       time.Second,
	}
	// Each of max_in_flight concurrent Writes holds a body and a gzip
	// writer; a compressed body lives until the transport closed it, after
	// its Write may have started the next one. A body grows past max_bytes
	// by at most one event; a larger buffer (a body split around a bad
	// event) is not kept.
	inFlight := max(1, set.Delivery.MaxInFlight)
	keepBytes := 2*h.maxBytes + 64<<10
	h.bufs = freelist.New(inFlight,
		freelist.Keep(func(b []byte) bool { return cap(b) <= keepBytes }),
		freelist.Idle[[]byte](keepIdle))
	h.zbufs = freelist.New(inFlight+1,
		freelist.Keep(func(b *bytes.Buffer) bool { return b.Cap() <= keepBytes }),
		freelist.Idle[*bytes.Buffer](keepIdle))
	h.gzs = freelist.New(inFlight, freelist.Idle[*gzip.Writer](keepIdle))
	if h.channel == "" {
		h.channelPath = filepath.Join(set.StateDir, "outputs", set.Name, "hec-channel")
	}
	return h, nil
}

// keepIdle is how long an idle output keeps its request memory.
const keepIdle = 30 * time.Second

// noRedirect keeps the token from following a redirect to another host.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Start loads (or makes) the channel GUID.
func (h *HEC) Start(context.Context) error {
	if h.channel != "" {
		return nil
	}
	ch, err := loadChannel(h.channelPath)
	if err != nil {
		return err
	}
	h.channel = ch
	return nil
}

// Close drops idle connections.
func (h *HEC) Close(context.Context) error {
	h.client.CloseIdleConnections()
	return nil
}

// Write sends the batch in requests of at most max_bytes and, with ack,
// waits until the indexers acknowledged every request.
func (h *HEC) Write(ctx context.Context, b *event.Batch) error {
	// The envelope's scratch is per Write (Writes run concurrently).
	w := &write{h: h, evs: b.Events, failed: map[int]error{}, env: envelope{constant: h.env.constant, fields: h.env.fields}}
	idx := make([]int, 0, len(b.Events))
	for i := range b.Events {
		size := len(b.Events[i].Raw)
		if err := oversize.Fit(&b.Events[i], h.maxEventBytes, h.cfg.Oversize); err != nil {
			w.failed[i] = err
			h.m.oversize.WithLabelValues("dead_letter").Inc()
			continue
		}
		if len(b.Events[i].Raw) != size {
			h.m.oversize.WithLabelValues("truncated").Inc()
		}
		idx = append(idx, i)
	}
	err := w.sendAll(ctx, idx)
	if err == nil && len(w.waits) > 0 {
		err = w.waitAcks(ctx)
	}
	return w.verdict(err)
}

// write is the state of one Write.
type write struct {
	h      *HEC
	env    envelope
	evs    []event.Event
	failed map[int]error // events with a verdict other than success
	sent   []int         // events accepted (with ack: acknowledged or awaited)
	waits  []requestWait // requests awaiting their ack
}

type requestWait struct {
	idx  []int
	wait *ackWait
	sent time.Time
}

// sendAll encodes the events of idx into requests of at most max_bytes.
func (w *write) sendAll(ctx context.Context, idx []int) error {
	body := w.h.getBuf()
	defer func() { w.h.bufs.Put(body) }()
	start := 0
	for k, i := range idx {
		mark := len(body)
		body = w.env.append(body, &w.evs[i])
		if len(body) > w.h.maxBytes && k > start {
			if err := w.send(ctx, idx[start:k], body[:mark]); err != nil {
				return err
			}
			body = append(body[:0], body[mark:]...)
			start = k
		}
	}
	if start < len(idx) {
		return w.send(ctx, idx[start:], body)
	}
	return nil
}

// send posts one request holding the events of idx (encoded in body). A
// 400 about the data or a 413 splits it to isolate the events at fault,
// which get a permanent verdict with HEC's reason.
func (w *write) send(ctx context.Context, idx []int, body []byte) error {
	r, err := w.h.post(ctx, body)
	if err != nil {
		return err
	}
	switch r.kind {
	case accepted:
		if r.wait != nil {
			w.waits = append(w.waits, requestWait{idx: idx, wait: r.wait, sent: time.Now()})
		}
		w.sent = append(w.sent, idx...)
		return nil
	case badData, tooLarge:
		if len(idx) == 1 {
			w.failed[idx[0]] = event.Permanent(r.err)
			return nil
		}
		w.h.m.splits.Inc()
		for _, part := range split(idx, r.invalidEvent) {
			if len(part) == 0 {
				continue
			}
			var buf []byte
			for _, i := range part {
				buf = w.env.append(buf, &w.evs[i])
			}
			if err := w.send(ctx, part, buf); err != nil {
				return err
			}
		}
		return nil
	default:
		return r.err
	}
}

// split cuts idx around the event HEC named (invalid-event-number), else in
// halves.
func split(idx []int, bad int) [][]int {
	if bad >= 0 && bad < len(idx) {
		return [][]int{idx[:bad], idx[bad : bad+1], idx[bad+1:]}
	}
	h := len(idx) / 2
	return [][]int{idx[:h], idx[h:]}
}

// waitAcks polls the ack endpoint until every request is acknowledged,
// lost (the receiver restarted) or past ack_timeout; those not acknowledged
// are failed (retryable) so the loop sends them again.
func (w *write) waitAcks(ctx context.Context) error {
	h := w.h
	t0 := time.Now()
	interval := h.pollInterval
	pending := append([]requestWait(nil), w.waits...)
	var lastErr error
	for len(pending) > 0 {
		timer := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			for _, p := range pending {
				h.acks.forget(p.wait)
			}
			return ctx.Err()
		case <-timer.C:
		}
		interval = min(interval*3/2, h.maxPoll)
		ids := make([]uint64, len(pending))
		for i, p := range pending {
			ids[i] = p.wait.id
		}
		acked, err := h.queryAcks(ctx, ids)
		if err != nil {
			if event.IsUnready(err) {
				for _, p := range pending {
					h.acks.forget(p.wait)
				}
				return err
			}
			lastErr = err
		} else if err := h.acks.apply(ctx, acked); err != nil {
			return err
		}
		kept := pending[:0]
		for _, p := range pending {
			acked, lost := h.acks.state(p.wait)
			switch {
			case acked:
			case lost:
				w.retry(p.idx, fmt.Errorf("splunk_hec: ackId %d was lost: the receiver restarted and gave the id to another request", p.wait.id))
			case time.Since(p.sent) >= h.cfg.AckTimeout.Std():
				h.acks.forget(p.wait)
				h.m.ackTimeouts.Inc()
				reason := fmt.Errorf("splunk_hec: ackId %d not acknowledged within ack_timeout %s", p.wait.id, h.cfg.AckTimeout)
				if lastErr != nil {
					reason = fmt.Errorf("%w (last poll error: %w)", reason, lastErr)
				}
				w.retry(p.idx, reason)
			default:
				kept = append(kept, p)
			}
		}
		pending = kept
	}
	h.m.ackWait.Observe(time.Since(t0).Seconds())
	return nil
}

// retry fails the events of idx with a retryable err.
func (w *write) retry(idx []int, err error) {
	for _, i := range idx {
		w.failed[i] = err
	}
}

// verdict turns what happened into Write's result. A failure of every event
// for one retryable reason returns that reason as is, so the loop sees an
// Unready or Throttled error; otherwise the verdicts go per event.
func (w *write) verdict(err error) error {
	if err != nil {
		accepted := make(map[int]bool, len(w.sent))
		for _, i := range w.sent {
			accepted[i] = true
		}
		for _, p := range w.waits {
			if acked, _ := w.h.acks.state(p.wait); acked {
				continue
			}
			for _, i := range p.idx { // not acknowledged: send again
				delete(accepted, i)
			}
			w.h.acks.forget(p.wait)
		}
		for i := range w.evs {
			if _, done := w.failed[i]; !done && !accepted[i] {
				w.failed[i] = err
			}
		}
		if len(accepted) == 0 && !anyPermanent(w.failed) {
			return err
		}
	}
	if len(w.failed) == 0 {
		return nil
	}
	return &event.PartialError{Failed: w.failed}
}

func anyPermanent(m map[int]error) bool {
	for _, err := range m {
		if event.IsPermanent(err) {
			return true
		}
	}
	return false
}

func (h *HEC) getBuf() []byte {
	if b, ok := h.bufs.Get(); ok {
		return b[:0]
	}
	return make([]byte, 0, h.maxBytes+64<<10)
}

// post sends one request body (compressing it) and classifies the answer.
func (h *HEC) post(ctx context.Context, body []byte) (result, error) {
	// The transport may read the body after Do returned (a server that
	// answers before reading it all): the payload is a copy, back in the
	// pool only once the transport closed it.
	zb, ok := h.zbufs.Get()
	if !ok {
		zb = new(bytes.Buffer)
	}
	if h.cfg.Compression == Gzip {
		if err := h.gzip(zb, body); err != nil {
			h.zbufs.Put(zb)
			return result{}, err
		}
	} else {
		zb.Reset()
		zb.Write(body)
	}
	n := zb.Len()
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout.Std())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.eventURL,
		freelist.NewBody(zb.Bytes(), func() { h.zbufs.Put(zb) }))
	if err != nil {
		h.zbufs.Put(zb)
		return result{}, err
	}
	req.ContentLength = int64(n)
	h.headers(req)
	if h.cfg.Compression == Gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	var tok uint64
	if h.cfg.Ack {
		tok = h.acks.startSend()
	}
	a, err := h.do(req)
	h.m.requests.WithLabelValues(statusLabel(a.status, err)).Inc()
	h.m.requestBytes.Add(float64(n))
	if err != nil {
		if h.cfg.Ack {
			h.acks.endSend(tok, 0, false)
		}
		return result{}, fmt.Errorf("splunk_hec: post %s: %w", h.eventURL, err)
	}
	r := classify(a)
	if h.cfg.Ack {
		got := r.kind == accepted && a.reply != nil && a.reply.AckID != nil
		r.wait = h.acks.endSend(tok, derefAck(a.reply), got)
		if r.kind == accepted && !got {
			return result{kind: failed, err: event.Unready(errors.New("splunk_hec: ack is on but HEC answered 200 without an ackId: enable indexer acknowledgement on the HEC token, or set ack: false"))}, nil
		}
	}
	return r, nil
}

func derefAck(r *hecReply) uint64 {
	if r == nil || r.AckID == nil {
		return 0
	}
	return *r.AckID
}

// queryAcks asks which of ids are acknowledged.
func (h *HEC) queryAcks(ctx context.Context, ids []uint64) (map[uint64]bool, error) {
	body, _ := json.Marshal(struct {
		Acks []uint64 `json:"acks"`
	}{ids})
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout.Std())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.ackURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	h.headers(req)
	a, err := h.do(req)
	if err != nil {
		return nil, fmt.Errorf("splunk_hec: poll acks: %w", err)
	}
	if a.status != http.StatusOK || a.reply == nil {
		r := classify(a)
		if r.err == nil {
			r.err = fmt.Errorf("splunk_hec: ack endpoint answered %d without acks", a.status)
		}
		return nil, r.err
	}
	acked := make(map[uint64]bool, len(a.reply.Acks))
	for k, v := range a.reply.Acks {
		if id, err := strconv.ParseUint(k, 10, 64); err == nil {
			acked[id] = v
		}
	}
	return acked, nil
}

func (h *HEC) headers(req *http.Request) {
	req.Header.Set("Authorization", h.auth)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "kubetrail")
	req.Header.Set("X-Splunk-Request-Channel", h.channel)
}

// scrub removes the token from text the sink or the network stack produced
// (the contrib receiver echoes a wrong token in its 401).
func (h *HEC) scrub(s string) string {
	if h.token == "" {
		return s
	}
	return strings.ReplaceAll(s, h.token, "[redacted]")
}

// gzip compresses body into buf (reset first), at the fastest level: the
// agent's CPU is taken from the control plane.
func (h *HEC) gzip(buf *bytes.Buffer, body []byte) error {
	buf.Reset()
	zw, ok := h.gzs.Get()
	if !ok {
		zw, _ = gzip.NewWriterLevel(buf, gzip.BestSpeed) // valid level
	} else {
		zw.Reset(buf)
	}
	defer h.gzs.Put(zw)
	if _, err := zw.Write(body); err != nil {
		return err
	}
	return zw.Close()
}
