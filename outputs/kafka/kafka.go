package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/event/truncate"
	"github.com/kubetrail/kubetrail/outputs/internal/nametemplate"
	"github.com/kubetrail/kubetrail/outputs/internal/oversize"
	"github.com/kubetrail/kubetrail/pipeline"
)

// maxTopicLen is Kafka's limit on a topic name.
const maxTopicLen = 249

// framing is what a record costs beyond its value, key and headers: the
// record batch header (61 bytes) and the record's own varints and
// attributes, rounded up.
const framing = 128

// maxCachedTopics bounds the interned topic names.
const maxCachedTopics = 10000

// Kafka is the kafka output.
type Kafka struct {
	cfg    *Config
	log    *slog.Logger
	topic  *nametemplate.Template
	key    *nametemplate.Template
	policy oversize.Policy
	max    int

	tr     *kafkago.Transport
	w      *kafkago.Writer
	single *kafkago.Writer

	cluster []byte    // the cluster header's value, nil without one
	bufs    sync.Pool // *writeBuf

	mu     sync.Mutex
	topics map[string]string // interned rendered topic names
}

var _ event.Output = (*Kafka)(nil)

// New returns a kafka output for a validated cfg; set supplies its logger
// and the delivery settings it will be fed with. Nothing connects before
// the first Write.
func New(cfg *Config, set pipeline.Settings) (*Kafka, error) {
	log := set.Logger
	topic, err := nametemplate.Parse(cfg.Topic, topicOptions)
	if err != nil {
		return nil, fmt.Errorf("kafka topic: %w", err)
	}
	key, err := nametemplate.Parse(cfg.Key, nametemplate.Options{})
	if err != nil {
		return nil, fmt.Errorf("kafka key: %w", err)
	}
	tr := &kafkago.Transport{
		// Not kafka-go's shared DefaultTransport: its metadata cache, shared
		// by every writer of the process, hides topics created meanwhile.
		ClientID:    "kubetrail",
		DialTimeout: 5 * time.Second,
		IdleTimeout: 30 * time.Second,
		MetadataTTL: 6 * time.Second,
	}
	if cfg.TLS != nil {
		if tr.TLS, err = cfg.TLS.Load(); err != nil {
			return nil, fmt.Errorf("kafka: %w", err)
		}
	}
	if cfg.SASL != nil {
		if tr.SASL, err = mechanism(cfg.SASL); err != nil {
			return nil, fmt.Errorf("kafka sasl: %w", err)
		}
	}
	max := int(cfg.MaxMessageBytes)
	// kafka-go allocates room for BatchSize messages in every record
	// batch: size it to the most a Write carries.
	batchSize := set.Delivery.MaxEvents
	if batchSize <= 0 {
		batchSize = 500
	}
	w := newWriter(cfg, tr, max, min(batchSize, 10000))
	// single sends records the broker refused in a batch one per batch
	// (see tooLarge); same connections.
	single := newWriter(cfg, tr, max, 1)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	k := &Kafka{cfg: cfg, log: log, topic: topic, key: key, policy: cfg.Oversize, max: max, tr: tr, w: w, single: single, topics: map[string]string{}}
	if cfg.Cluster != "" {
		k.cluster = []byte(cfg.Cluster)
	}
	return k, nil
}

func newWriter(cfg *Config, tr *kafkago.Transport, max, batchSize int) *kafkago.Writer {
	return &kafkago.Writer{
		Addr:      kafkago.TCP(cfg.Brokers...),
		Balancer:  &kafkago.Murmur2Balancer{}, // the Java client's partitioner
		Transport: tr,
		// The delivery loop retries with backoff; a short inner retry
		// bridges a leader election without holding a batch for long
		// when the broker is down (10 attempts blocked ~7.4 s).
		MaxAttempts:     3,
		WriteBackoffMin: 50 * time.Millisecond,
		WriteBackoffMax: 500 * time.Millisecond,
		// Write hands over whole batches and waits: fill record batches up
		// to the message size or batchSize and send at once.
		BatchSize:              batchSize,
		BatchBytes:             int64(max),
		BatchTimeout:           time.Millisecond,
		ReadTimeout:            10 * time.Second,
		WriteTimeout:           10 * time.Second,
		RequiredAcks:           acks(cfg.RequiredAcks),
		Compression:            codec(cfg.Compression),
		AllowAutoTopicCreation: true,
	}
}

func mechanism(s *SASL) (sasl.Mechanism, error) {
	switch s.Mechanism {
	case MechanismPlain:
		return plain.Mechanism{Username: s.Username, Password: s.Password.Value()}, nil
	case MechanismScramSHA256:
		return scram.Mechanism(scram.SHA256, s.Username, s.Password.Value())
	case MechanismScramSHA512:
		return scram.Mechanism(scram.SHA512, s.Username, s.Password.Value())
	}
	return nil, fmt.Errorf("unknown mechanism %q", s.Mechanism)
}

func acks(a Acks) kafkago.RequiredAcks {
	switch a {
	case AcksOne:
		return kafkago.RequireOne
	case AcksNone:
		return kafkago.RequireNone
	}
	return kafkago.RequireAll
}

func codec(c Compression) kafkago.Compression {
	switch c {
	case CompressionGzip:
		return kafkago.Gzip
	case CompressionSnappy:
		return kafkago.Snappy
	case CompressionLz4:
		return kafkago.Lz4
	case CompressionZstd:
		return kafkago.Zstd
	}
	return 0
}

// Start implements event.Output. It does not connect: a broker down at
// start shows as retried Writes, with the events kept buffered.
func (k *Kafka) Start(context.Context) error {
	if k.cfg.RequiredAcks == AcksNone {
		k.log.Warn("kafka required_acks is none: the brokers do not acknowledge records, so events lost on their way are lost for good (at-most-once)")
	}
	return nil
}

// Close implements event.Output: it closes the writer's connections,
// waiting up to ctx's end for requests in flight. Write is synchronous, so
// nothing acknowledged is pending: when ctx ends first, the requests still
// in flight were never acknowledged (their events stay buffered) and Close
// returns nil, leaving the writer to finish in the background.
func (k *Kafka) Close(ctx context.Context) error {
	done := make(chan error, 1)
	go func() {
		err := errors.Join(k.w.Close(), k.single.Close())
		k.tr.CloseIdleConnections()
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("kafka: close: %w", err)
		}
	case <-ctx.Done():
		k.log.Debug("kafka: close did not finish before the shutdown deadline; abandoning unacknowledged requests")
	}
	return nil
}

// Write produces one record per event and returns once the brokers
// acknowledged every record (as required_acks says), or the per-record
// verdicts: see classify.
func (k *Kafka) Write(ctx context.Context, b *event.Batch) error {
	wb, _ := k.bufs.Get().(*writeBuf)
	if wb == nil {
		wb = &writeBuf{}
	}
	defer func() {
		// After a cancelled WriteMessages the writer may still be sending
		// the records: their memory is not reused then. A context once
		// done stays done, so a nil Err means every call ran to the end.
		if ctx.Err() == nil && cap(wb.arena) <= maxKeptArena {
			k.bufs.Put(wb)
		}
	}()
	failed := map[int]error{}
	msgs, idx := k.messages(b, failed, wb)
	err := k.w.WriteMessages(ctx, msgs...)
	if err == nil {
		return partial(failed)
	}
	var werrs kafkago.WriteErrors
	if !errors.As(err, &werrs) || len(werrs) != len(msgs) {
		return whole(err, failed, len(b.Events))
	}
	var tooLarge []int // indexes into msgs
	for m, e := range werrs {
		switch {
		case e == nil:
		case isTooLarge(e):
			tooLarge = append(tooLarge, m)
		default:
			failed[idx[m]] = classify(e)
		}
	}
	if len(tooLarge) > 0 {
		k.tooLarge(ctx, b, msgs, idx, tooLarge, failed)
	}
	return partial(failed)
}

// maxKeptArena is the largest record arena a writeBuf keeps for the next
// Write (batches are 1 MiB by default).
const maxKeptArena = 8 << 20

// writeBuf is the memory of one Write's records, reused by later Writes.
type writeBuf struct {
	arena   []byte // keys, header values and values, copied from the batch
	headers []kafkago.Header
	msgs    []kafkago.Message
	idx     []int
}

// messages builds the records of b in wb, recording in failed the events
// that cannot be sent (oversize). idx maps a record to its event. Keys,
// headers and values are copies in wb: the batch's memory goes back to the
// delivery loop when Write returns, while the writer may still be sending
// (after a cancelled context).
func (k *Kafka) messages(b *event.Batch, failed map[int]error, wb *writeBuf) (msgs []kafkago.Message, idx []int) {
	n := len(b.Events)
	if need := b.Bytes + n*64; cap(wb.arena) < need {
		wb.arena = make([]byte, 0, need)
	}
	if cap(wb.headers) < 3*n {
		wb.headers = make([]kafkago.Header, 0, 3*n)
	}
	arena, headers := wb.arena[:0], wb.headers[:0]
	msgs, idx = wb.msgs[:0], wb.idx[:0]
	var scratch [256]byte
	for i := range b.Events {
		ev := &b.Events[i]
		start := len(arena)
		arena = k.key.Append(arena, &ev.Meta)
		keyEnd := len(arena)
		arena = append(arena, ev.Stage...)
		stageEnd := len(arena)
		arena = append(arena, ev.Verb...)
		verbEnd := len(arena)
		overhead := framing + (verbEnd - start) + len("stage") + len("verb")
		if k.cfg.Cluster != "" {
			overhead += len("cluster") + len(k.cfg.Cluster)
		}
		// Truncation keeps the fields the key and headers were made of.
		if err := oversize.Fit(ev, k.max-overhead, k.policy); err != nil {
			failed[i] = err
			arena = arena[:start]
			continue
		}
		topic, err := k.topicName(k.topic.Append(scratch[:0], &ev.Meta))
		if err != nil {
			failed[i] = err
			arena = arena[:start]
			continue
		}
		valStart := len(arena)
		arena = append(arena, ev.Raw...)
		// An arena that grew moved: slice it only now. Earlier records
		// keep the old array, which holds their bytes.
		h := len(headers)
		headers = append(headers,
			kafkago.Header{Key: "stage", Value: arena[keyEnd:stageEnd:stageEnd]},
			kafkago.Header{Key: "verb", Value: arena[stageEnd:verbEnd:verbEnd]})
		if k.cluster != nil {
			headers = append(headers, kafkago.Header{Key: "cluster", Value: k.cluster})
		}
		msgs = append(msgs, kafkago.Message{
			Topic:   topic,
			Key:     arena[start:keyEnd:keyEnd],
			Value:   arena[valStart:len(arena):len(arena)],
			Headers: headers[h:len(headers):len(headers)], // room for 3 per event: never moves
		})
		idx = append(idx, i)
	}
	wb.arena, wb.headers, wb.msgs, wb.idx = arena, headers, msgs, idx
	return msgs, idx
}

// topicName interns the rendered topic and checks it is a valid name (the
// template's literal text is checked at load; a field can still render an
// empty, "." or too long name).
func (k *Kafka) topicName(b []byte) (string, error) {
	k.mu.Lock()
	t, ok := k.topics[string(b)] // no allocation for the lookup
	k.mu.Unlock()
	if ok {
		return t, nil
	}
	name := string(b)
	switch {
	case name == "" || name == "." || name == "..":
		return "", event.Permanent(fmt.Errorf("kafka topic template %q rendered the invalid topic name %q (add a fallback: {field|default})", k.cfg.Topic, name))
	case len(name) > maxTopicLen:
		return "", event.Permanent(fmt.Errorf("kafka topic template %q rendered a topic name of %d characters, above Kafka's %d", k.cfg.Topic, len(name), maxTopicLen))
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.topics) < maxCachedTopics { // beyond: a runaway template, stop caching
		k.topics[name] = name
	}
	return name, nil
}

// tooLarge handles records the broker refused as too large: the topic's
// max.message.bytes is below max_message_bytes, and the broker refuses a
// whole record batch, so the records that fit are refused with the one that
// does not. They are sent again one record per batch; a record refused
// alone gets the oversize policy: truncated and sent once more, or
// dead-lettered. Verdicts go to failed, by event index.
func (k *Kafka) tooLarge(ctx context.Context, b *event.Batch, msgs []kafkago.Message, idx, which []int, failed map[int]error) {
	alone := make([]kafkago.Message, len(which))
	for j, m := range which {
		alone[j] = msgs[m]
	}
	errs := k.writeAlone(ctx, alone)
	var again []kafkago.Message
	var againIdx []int
	for j, err := range errs {
		i := idx[which[j]]
		if err == nil {
			continue
		}
		if !isTooLarge(err) {
			failed[i] = classify(err)
			continue
		}
		ev := &b.Events[i]
		refused := fmt.Errorf("kafka refused the %d-byte record as too large (is the topic's max.message.bytes below max_message_bytes %d?): %w", len(alone[j].Value), k.max, err)
		if k.policy == oversize.DeadLetter {
			failed[i] = event.Permanent(refused)
			continue
		}
		out, terr := truncate.Strip(ev.Raw)
		if terr == nil && len(out) < len(ev.Raw) {
			terr = ev.SetRaw(out)
		} else if terr == nil {
			terr = errors.New("truncation did not shrink it")
		}
		if terr != nil {
			failed[i] = event.Permanent(errors.Join(refused, terr))
			continue
		}
		m := alone[j]
		m.Value = out
		again = append(again, m)
		againIdx = append(againIdx, i)
	}
	for j, err := range k.writeAlone(ctx, again) {
		switch {
		case err == nil:
		case isTooLarge(err):
			failed[againIdx[j]] = event.Permanent(fmt.Errorf("kafka refused the record as too large even truncated to %d bytes: %w", len(again[j].Value), err))
		default:
			failed[againIdx[j]] = classify(err)
		}
	}
}

// writeAlone sends msgs one record per record batch and returns each one's
// error.
func (k *Kafka) writeAlone(ctx context.Context, msgs []kafkago.Message) []error {
	errs := make([]error, len(msgs))
	if len(msgs) == 0 {
		return errs
	}
	err := k.single.WriteMessages(ctx, msgs...)
	var werrs kafkago.WriteErrors
	switch {
	case err == nil:
	case errors.As(err, &werrs) && len(werrs) == len(msgs):
		copy(errs, werrs)
	default:
		for j := range errs {
			errs[j] = err
		}
	}
	return errs
}

func isTooLarge(err error) bool {
	return errors.Is(err, kafkago.MessageSizeTooLarge) || errors.Is(err, kafkago.RecordListTooLarge)
}

func partial(failed map[int]error) error {
	if len(failed) == 0 {
		return nil
	}
	return &event.PartialError{Failed: failed}
}

// whole turns an error of the whole WriteMessages call (no per-record
// results: metadata, dial, authentication, context) into the batch's
// verdict, keeping the events already judged.
func whole(err error, failed map[int]error, n int) error {
	err = classify(err)
	if len(failed) == 0 {
		return err
	}
	for i := range n {
		if _, ok := failed[i]; !ok {
			failed[i] = err
		}
	}
	return &event.PartialError{Failed: failed}
}
