package kafka

import (
	"bytes"
	stdgzip "compress/gzip"
	"io"
	"testing"
	"time"

	"github.com/segmentio/kafka-go/compress"
	kgzip "github.com/segmentio/kafka-go/compress/gzip"
	ksnappy "github.com/segmentio/kafka-go/compress/snappy"
	kzstd "github.com/segmentio/kafka-go/compress/zstd"
	"github.com/segmentio/kafka-go/protocol"

	"github.com/pierrec/lz4/v4"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
	"github.com/kubetrail/kubetrail/outputs/internal/codecbench"
)

// BenchmarkCompression encodes the real corpus into Kafka record batches
// the way the writer does (kafka-go's own protocol.RecordSet encoder, v2
// batches of the default 500 events or 1 MiB, key auditID, headers stage
// and verb, one codec stream per batch) with each codec candidate swapped
// into kafka-go's codec table, and reports cpu-s/GiB of event bytes and
// the ratio (event bytes / encoded batch bytes). "none" is the record
// encoding alone: a codec's own cost is its figure minus none's. Every
// candidate's batch is read back with kafka-go's default decoders (what a
// consumer does). The output installs the candidates named kubetrail,
// snappy/s2-EncodeSnappy and gzip/klauspost-1 (codecs.go) from these
// figures (README, Performance). GOGC=5 shows them when collections are
// frequent, as under the agent's soft memory limit:
//
//	go test -run '^$' -bench Compression -benchtime 20x ./outputs/kafka/
func BenchmarkCompression(b *testing.B) {
	const maxEvents, maxBytes = 500, 1 << 20
	var batches [][]protocol.Record
	var batch []protocol.Record
	size, total := 0, 0
	for _, l := range testcorpus.Load(b) {
		ev, err := event.New(l.Raw)
		if err != nil {
			b.Fatalf("%s: %v", l.Where, err)
		}
		if len(batch) == maxEvents || (size+len(l.Raw) > maxBytes && len(batch) > 0) {
			batches, batch, size = append(batches, batch), nil, 0
		}
		batch = append(batch, protocol.Record{
			Time:  time.Now(),
			Key:   protocol.NewBytes([]byte(ev.Meta.AuditID)),
			Value: protocol.NewBytes(l.Raw),
			Headers: []protocol.Header{
				{Key: "stage", Value: []byte(ev.Meta.Stage)},
				{Key: "verb", Value: []byte(ev.Meta.Verb)},
			},
		})
		size += len(l.Raw)
		total += len(l.Raw)
	}
	batches = append(batches, batch)

	for _, c := range codecCandidates() {
		b.Run(c.name, func(b *testing.B) {
			defer swapCodec(c.code, c.codec)()
			var out bytes.Buffer
			codecbench.Measure(b, total, func() int {
				n := 0
				for _, recs := range batches {
					out.Reset()
					if _, err := recordSet(c.code, recs).WriteTo(&out); err != nil {
						b.Fatal(err)
					}
					n += out.Len()
				}
				return n
			})
			out.Reset()
			if _, err := recordSet(c.code, batches[0]).WriteTo(&out); err != nil {
				b.Fatal(err)
			}
			swapCodec(c.code, nil)() // decode with kafka-go's defaults
			checkRecordSet(b, out.Bytes(), c.code, batches[0])
		})
	}
}

type codecCandidate struct {
	name  string
	code  compress.Compression
	codec compress.Codec // nil: kafka-go's default
}

func codecCandidates() []codecCandidate {
	return []codecCandidate{
		{name: "none", code: compress.None},
		{name: "gzip/kafka-go-default(klauspost-5)", code: compress.Gzip},
		{name: "gzip/klauspost-1", code: compress.Gzip, codec: &kgzip.Codec{Level: 1}},
		{name: "gzip/kubetrail(klauspost-1-kept)", code: compress.Gzip, codec: newGzipCodec(defaults[compress.Gzip])},
		{name: "gzip/klauspost-2", code: compress.Gzip, codec: &kgzip.Codec{Level: 2}},
		{name: "gzip/klauspost-3", code: compress.Gzip, codec: &kgzip.Codec{Level: 3}},
		{name: "gzip/stdlib-1", code: compress.Gzip, codec: &stdGzipCodec{level: 1}},
		{name: "gzip/stdlib-6", code: compress.Gzip, codec: &stdGzipCodec{level: 6}},
		{name: "snappy/kafka-go-default(s2-EncodeSnappyBetter)", code: compress.Snappy},
		{name: "snappy/s2-EncodeSnappy", code: compress.Snappy, codec: &ksnappy.Codec{Compression: ksnappy.FasterCompression}},
		{name: "lz4/kafka-go-default(pierrec-4MB-blocks)", code: compress.Lz4},
		{name: "lz4/pierrec-256KB-blocks", code: compress.Lz4, codec: &lz4OptsCodec{opts: []lz4.Option{lz4.BlockSizeOption(lz4.Block256Kb)}}},
		{name: "lz4/kubetrail(pierrec-64KB-blocks-kept)", code: compress.Lz4, codec: newLz4Codec(defaults[compress.Lz4])},
		{name: "zstd/kafka-go-default(klauspost-SpeedDefault-stream)", code: compress.Zstd},
		{name: "zstd/klauspost-SpeedFastest-stream", code: compress.Zstd, codec: &kzstd.Codec{Level: 1}},
		{name: "zstd/kubetrail(klauspost-SpeedDefault-EncodeAll)", code: compress.Zstd, codec: newZstdCodec(defaults[compress.Zstd])},
	}
}

// defaults is kafka-go's codec table as it ships (package variables are
// initialized before codecs.go's init replaces entries).
var defaults = compress.Codecs

// swapCodec installs codec (kafka-go's default when nil) for code and
// returns the function that puts back what was there.
func swapCodec(code compress.Compression, codec compress.Codec) func() {
	old := compress.Codecs[code]
	if codec == nil {
		codec = defaults[code]
	}
	compress.Codecs[code] = codec
	return func() { compress.Codecs[code] = old }
}

func recordSet(code compress.Compression, recs []protocol.Record) *protocol.RecordSet {
	for i := range recs { // the readers are consumed by each encoding
		recs[i].Key.(interface {
			Seek(int64, int) (int64, error)
		}).Seek(0, io.SeekStart)
		recs[i].Value.(interface {
			Seek(int64, int) (int64, error)
		}).Seek(0, io.SeekStart)
	}
	return &protocol.RecordSet{Version: 2, Attributes: protocol.Attributes(code), Records: protocol.NewRecordReader(recs...)}
}

// checkRecordSet decodes an encoded record set and compares it with recs.
func checkRecordSet(b testing.TB, enc []byte, code compress.Compression, recs []protocol.Record) {
	b.Helper()
	var rs protocol.RecordSet
	if _, err := rs.ReadFrom(bytes.NewReader(enc)); err != nil {
		b.Fatal(err)
	}
	if rs.Attributes.Compression() != code {
		b.Fatalf("read compression %v, want %v", rs.Attributes.Compression(), code)
	}
	for i := 0; ; i++ {
		r, err := rs.Records.ReadRecord()
		if err == io.EOF {
			if i != len(recs) {
				b.Fatalf("read %d records, want %d", i, len(recs))
			}
			return
		}
		if err != nil {
			b.Fatal(err)
		}
		got, _ := protocol.ReadAll(r.Value)
		recs[i].Value.(interface {
			Seek(int64, int) (int64, error)
		}).Seek(0, io.SeekStart)
		want, _ := protocol.ReadAll(recs[i].Value)
		if !bytes.Equal(got, want) {
			b.Fatalf("record %d differs", i)
		}
	}
}

// stdGzipCodec is a kafka-go codec on the standard library's gzip, pooled
// like kafka-go's own.
type stdGzipCodec struct {
	level int
	pool  []*stdgzip.Writer
}

func (c *stdGzipCodec) Code() int8   { return int8(compress.Gzip) }
func (c *stdGzipCodec) Name() string { return "gzip" }
func (c *stdGzipCodec) NewReader(r io.Reader) io.ReadCloser {
	return defaults[compress.Gzip].NewReader(r)
}
func (c *stdGzipCodec) NewWriter(w io.Writer) io.WriteCloser {
	if n := len(c.pool); n > 0 {
		z := c.pool[n-1]
		c.pool = c.pool[:n-1]
		z.Reset(w)
		return &stdGzipWriter{z, c}
	}
	z, _ := stdgzip.NewWriterLevel(w, c.level)
	return &stdGzipWriter{z, c}
}

type stdGzipWriter struct {
	*stdgzip.Writer
	c *stdGzipCodec
}

func (w *stdGzipWriter) Close() error {
	err := w.Writer.Close()
	w.c.pool = append(w.c.pool, w.Writer)
	return err
}

// lz4OptsCodec is kafka-go's lz4 codec (pierrec/lz4 frames, pooled writers)
// with writer options.
type lz4OptsCodec struct {
	opts []lz4.Option
	pool []*lz4.Writer
}

func (c *lz4OptsCodec) Code() int8   { return int8(compress.Lz4) }
func (c *lz4OptsCodec) Name() string { return "lz4" }
func (c *lz4OptsCodec) NewReader(r io.Reader) io.ReadCloser {
	return defaults[compress.Lz4].NewReader(r)
}
func (c *lz4OptsCodec) NewWriter(w io.Writer) io.WriteCloser {
	if n := len(c.pool); n > 0 {
		z := c.pool[n-1]
		c.pool = c.pool[:n-1]
		z.Reset(w)
		return &lz4OptsWriter{z, c}
	}
	z := lz4.NewWriter(w)
	_ = z.Apply(c.opts...)
	return &lz4OptsWriter{z, c}
}

type lz4OptsWriter struct {
	*lz4.Writer
	c *lz4OptsCodec
}

func (w *lz4OptsWriter) Close() error {
	err := w.Writer.Close()
	w.c.pool = append(w.c.pool, w.Writer)
	return err
}
