package kafka

import (
	"io"

	kpgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go/compress"
	ksnappy "github.com/segmentio/kafka-go/compress/snappy"

	"github.com/kubetrail/kubetrail/outputs/internal/freelist"
)

// kafka-go picks a record batch's codec from its process-wide table
// (compress.Codecs, indexed by the batch's compression code); a Writer
// cannot carry its own. The entries are replaced here by faster settings
// of the same libraries, measured on the real corpus by
// BenchmarkCompression (compress_bench_test.go) and end to end with `make
// bench-kafka` (README, Performance):
//
//   - snappy: s2.EncodeSnappy (klauspost/compress) instead of kafka-go's
//     default s2.EncodeSnappyBetter: the codec's own cost halves (about
//     0.75 to 0.37 CPU-s per GiB of events) for a 2% larger batch (ratio
//     3.08 instead of 3.15). Same xerial framing, plain snappy blocks.
//   - gzip: klauspost/compress level 1 (as the splunk_hec and elasticsearch
//     outputs use) instead of its default level 5: 1.27 instead of 1.74
//     CPU-s/GiB, ratio 4.0 instead of 4.4. Who wants the ratio picks zstd.
//   - zstd: klauspost/compress at the same level (3), with a 1 MiB window
//     instead of 8 MiB (a batch is at most max_message_bytes, 1 MiB by
//     default) and one EncodeAll per batch on a long-lived encoder. kafka-go
//     keeps streaming encoders in a sync.Pool; each holds a 16 MiB history,
//     and the agent's soft memory limit makes collections frequent, each
//     empties the pool, so the next batch allocated a new encoder, which
//     brought the next collection sooner: 20.8 CPU-s/GiB end to end on the
//     real mix, against about 1 for the codec alone. Same ratio.
//   - lz4: pierrec/lz4 (klauspost/compress has no lz4 encoder) with 64 KiB
//     blocks, as the Java client writes them, instead of 4 MiB ones taken
//     from a sync.Pool per batch and zeroed whenever a collection emptied it.
//
// Compressors are kept in free lists (outputs/internal/freelist), not
// sync.Pools, for the same reason. Decoding is kafka-go's, unchanged.
// TestCompressions has the broker (which decompresses every batch to
// validate it) take each codec; TestCodecsRoundTrip reads concurrent
// encodings back with kafka-go.
func init() {
	compress.Codecs[compress.Snappy] = &ksnappy.Codec{Compression: ksnappy.FasterCompression}
	compress.Codecs[compress.Gzip] = newGzipCodec(compress.Codecs[compress.Gzip])
	compress.Codecs[compress.Lz4] = newLz4Codec(compress.Codecs[compress.Lz4])
	compress.Codecs[compress.Zstd] = newZstdCodec(compress.Codecs[compress.Zstd])
}

// zstdCodec compresses a record batch with one EncodeAll call. The encoder
// keeps its state for the process's life (batches of several partitions
// take turns); the batch is gathered in a reused buffer.
type zstdCodec struct {
	decode compress.Codec // kafka-go's, for reading
	enc    *zstd.Encoder
	bufs   *freelist.List[[]byte]
}

// maxKeptBuf bounds the buffers kept for reuse: a batch is at most
// max_message_bytes (1 MiB by default); a larger one is not kept.
const maxKeptBuf = 8 << 20

func newZstdCodec(decode compress.Codec) *zstdCodec {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedDefault), // kafka-go's default, level 3
		// A batch is at most max_message_bytes (1 MiB by default): a
		// larger window finds nothing more, and the encoder's history is
		// twice the window (16 MiB at the level's default 8 MiB, a quarter
		// of the agent's memory).
		zstd.WithWindowSize(1<<20),
		zstd.WithEncoderConcurrency(1),
		zstd.WithZeroFrames(true))
	if err != nil {
		panic(err) // constant options
	}
	keep := freelist.Keep(func(b []byte) bool { return cap(b) <= maxKeptBuf })
	return &zstdCodec{decode: decode, enc: enc, bufs: freelist.New(4, keep)}
}

func (c *zstdCodec) Code() int8                          { return int8(compress.Zstd) }
func (c *zstdCodec) Name() string                        { return "zstd" }
func (c *zstdCodec) NewReader(r io.Reader) io.ReadCloser { return c.decode.NewReader(r) }
func (c *zstdCodec) NewWriter(w io.Writer) io.WriteCloser {
	buf, _ := c.bufs.Get()
	return &zstdWriter{c: c, w: w, in: buf[:0]}
}

type zstdWriter struct {
	c  *zstdCodec
	w  io.Writer
	in []byte
}

func (z *zstdWriter) Write(p []byte) (int, error) {
	if z.c == nil {
		return 0, io.ErrClosedPipe
	}
	z.in = append(z.in, p...)
	return len(p), nil
}

func (z *zstdWriter) Close() error {
	c := z.c
	if c == nil {
		return nil
	}
	z.c = nil
	out, _ := c.bufs.Get()
	out = c.enc.EncodeAll(z.in, out[:0])
	_, err := z.w.Write(out)
	c.bufs.Put(z.in)
	c.bufs.Put(out)
	z.in, z.w = nil, nil
	return err
}

// streamCodec writes a compressed stream with writers kept in a free list
// (gzip: klauspost/compress at level 1; lz4: pierrec/lz4 in 64 KiB
// blocks); it reads with kafka-go's own codec.
type streamCodec[W resettable] struct {
	decode  compress.Codec // kafka-go's, for reading
	code    compress.Compression
	writers *freelist.List[W]
	newW    func(io.Writer) W // a new writer, when the list has none
}

func newGzipCodec(decode compress.Codec) *streamCodec[*kpgzip.Writer] {
	return &streamCodec[*kpgzip.Writer]{decode: decode, code: compress.Gzip, writers: freelist.New[*kpgzip.Writer](4),
		newW: func(w io.Writer) *kpgzip.Writer {
			z, _ := kpgzip.NewWriterLevel(w, kpgzip.BestSpeed) // valid level
			return z
		}}
}

func newLz4Codec(decode compress.Codec) *streamCodec[*lz4.Writer] {
	return &streamCodec[*lz4.Writer]{decode: decode, code: compress.Lz4, writers: freelist.New[*lz4.Writer](4),
		newW: func(w io.Writer) *lz4.Writer {
			z := lz4.NewWriter(w)
			_ = z.Apply(lz4.BlockSizeOption(lz4.Block64Kb)) // valid option on a new writer
			return z
		}}
}

func (c *streamCodec[W]) Code() int8                          { return int8(c.code) }
func (c *streamCodec[W]) Name() string                        { return c.decode.Name() }
func (c *streamCodec[W]) NewReader(r io.Reader) io.ReadCloser { return c.decode.NewReader(r) }
func (c *streamCodec[W]) NewWriter(w io.Writer) io.WriteCloser {
	z, ok := c.writers.Get()
	if !ok {
		z = c.newW(w)
	} else {
		z.Reset(w)
	}
	return &pooledWriter[W]{list: c.writers, z: z, ok: true}
}

// resettable is a compressing writer that can be pointed at another
// destination and used again.
type resettable interface {
	io.WriteCloser
	Reset(io.Writer)
}

// pooledWriter is one use of a compressor taken from a free list: Close
// flushes it and puts it back.
type pooledWriter[W resettable] struct {
	list *freelist.List[W]
	z    W
	ok   bool // false once closed
}

func (w *pooledWriter[W]) Write(p []byte) (int, error) {
	if !w.ok {
		return 0, io.ErrClosedPipe
	}
	return w.z.Write(p)
}

func (w *pooledWriter[W]) Close() error {
	if !w.ok {
		return nil
	}
	w.ok = false
	err := w.z.Close()
	w.z.Reset(nil)
	w.list.Put(w.z)
	return err
}
