// Package codecbench measures request-body compression for the network
// outputs' benchmarks (each output's compress_bench_test.go, `make
// bench-codecs`): the CPU a codec costs per GiB of input, from getrusage
// (user + system time of the whole process, so garbage collection and any
// goroutine a codec starts are counted), and the compression ratio. It also
// holds the gzip candidates the HTTP outputs (splunk_hec, elasticsearch)
// choose from. It is imported by tests only.
package codecbench

import (
	"bytes"
	stdgzip "compress/gzip"
	"io"
	"syscall"
	"testing"
	"time"

	kgzip "github.com/klauspost/compress/gzip"
)

// CPUTime is the process's user + system CPU time.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Measure runs encode (which compresses every request body of the workload
// once and returns the compressed size) b.N times and reports cpu-s/GiB of
// input (inputBytes per call) and the ratio input/compressed.
func Measure(b *testing.B, inputBytes int, encode func() int) {
	b.Helper()
	b.SetBytes(int64(inputBytes))
	b.ReportAllocs()
	n, out := 0, 0
	cpu0 := CPUTime()
	for b.Loop() {
		out = encode()
		n++
	}
	cpu := (CPUTime() - cpu0).Seconds()
	b.ReportMetric(cpu/(float64(n)*float64(inputBytes)/(1<<30)), "cpu-s/GiB")
	if out > 0 {
		b.ReportMetric(float64(inputBytes)/float64(out), "ratio")
	}
}

// Gzip is one gzip implementation at one level, with pooled writers the way
// an output keeps them (a writer per request is a large allocation: ~800 KB
// for compress/gzip, ~1 MB for klauspost's at level 1).
type Gzip struct {
	Name string
	newW func(w io.Writer) (gzipWriter, error)
	free []gzipWriter
}

type gzipWriter interface {
	io.WriteCloser
	Reset(io.Writer)
}

// GzipCandidates are the gzip encoders compared for HTTP request bodies:
// the standard library's and klauspost/compress's, at the levels an agent
// would pick for speed (1, 2 and klauspost's stateless mode) and at their
// defaults.
func GzipCandidates() []*Gzip {
	std := func(level int) func(io.Writer) (gzipWriter, error) {
		return func(w io.Writer) (gzipWriter, error) { return stdgzip.NewWriterLevel(w, level) }
	}
	kp := func(level int) func(io.Writer) (gzipWriter, error) {
		return func(w io.Writer) (gzipWriter, error) { return kgzip.NewWriterLevel(w, level) }
	}
	return []*Gzip{
		{Name: "stdlib-gzip-1", newW: std(stdgzip.BestSpeed)},
		{Name: "stdlib-gzip-6", newW: std(stdgzip.DefaultCompression)},
		{Name: "klauspost-gzip-stateless", newW: kp(kgzip.StatelessCompression)},
		{Name: "klauspost-gzip-1", newW: kp(kgzip.BestSpeed)},
		{Name: "klauspost-gzip-2", newW: kp(2)},
		{Name: "klauspost-gzip-5", newW: kp(kgzip.DefaultCompression)},
	}
}

// Compress writes body's gzip stream into dst (reset first) with a pooled
// writer.
func (g *Gzip) Compress(dst *bytes.Buffer, body []byte) error {
	dst.Reset()
	var zw gzipWriter
	if n := len(g.free); n > 0 {
		zw = g.free[n-1]
		g.free = g.free[:n-1]
		zw.Reset(dst)
	} else {
		var err error
		if zw, err = g.newW(dst); err != nil {
			return err
		}
	}
	defer func() { g.free = append(g.free, zw) }()
	if _, err := zw.Write(body); err != nil {
		return err
	}
	return zw.Close()
}

// Gunzip decompresses a gzip stream with the standard library (what a
// receiver does), for round-trip checks.
func Gunzip(z []byte) ([]byte, error) {
	r, err := stdgzip.NewReader(bytes.NewReader(z))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// RunGzip benchmarks every gzip candidate over the request bodies and
// checks that each decompresses to its body.
func RunGzip(b *testing.B, bodies [][]byte) {
	total := 0
	for _, body := range bodies {
		total += len(body)
	}
	for _, g := range GzipCandidates() {
		b.Run(g.Name, func(b *testing.B) {
			var out bytes.Buffer
			Measure(b, total, func() int {
				n := 0
				for _, body := range bodies {
					if err := g.Compress(&out, body); err != nil {
						b.Fatal(err)
					}
					n += out.Len()
				}
				return n
			})
			last := bodies[len(bodies)-1]
			if err := g.Compress(&out, last); err != nil {
				b.Fatal(err)
			}
			if back, err := Gunzip(out.Bytes()); err != nil || !bytes.Equal(back, last) {
				b.Fatalf("round trip: %v", err)
			}
		})
	}
}
