package kafka

import (
	"bytes"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/kubetrail/kubetrail/internal/testcorpus"
)

// BenchmarkCompression compresses the real corpus the way the writer does
// (record batches of up to 1 MiB of events, one codec stream per batch) with
// each codec kafka-go offers at its default level, and reports the ratio.
// The default compression was picked from these figures:
//
//	go test -run '^$' -bench Compression -benchtime 20x ./outputs/kafka/
func BenchmarkCompression(b *testing.B) {
	corpus := testcorpus.Load(b)
	var batches [][]byte
	var cur bytes.Buffer
	total := 0
	for _, l := range corpus {
		if cur.Len()+len(l.Raw) > 1<<20 && cur.Len() > 0 {
			batches = append(batches, bytes.Clone(cur.Bytes()))
			cur.Reset()
		}
		cur.Write(l.Raw)
		total += len(l.Raw)
	}
	batches = append(batches, bytes.Clone(cur.Bytes()))
	for _, c := range compressions[1:] {
		b.Run(string(c), func(b *testing.B) {
			codec := codec(c).Codec()
			var out bytes.Buffer
			b.SetBytes(int64(total))
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				out.Reset()
				for _, batch := range batches {
					w := codec.NewWriter(&out)
					if _, err := w.Write(batch); err != nil {
						b.Fatal(err)
					}
					if err := w.Close(); err != nil {
						b.Fatal(err)
					}
				}
			}
			cpu := (cpuTime() - cpu0).Seconds()
			b.ReportMetric(cpu/(float64(b.N)*float64(total)/(1<<30)), "cpu-s/GiB")
			b.ReportMetric(float64(total)/float64(out.Len()), "ratio")
			// The last batch's stream must decompress to the batch.
			var last bytes.Buffer
			w := codec.NewWriter(&last)
			_, _ = w.Write(batches[len(batches)-1])
			_ = w.Close()
			r := codec.NewReader(&last)
			back, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(back, batches[len(batches)-1]) {
				b.Fatalf("round trip: %v", err)
			}
		})
	}
}

// cpuTime is the process's user + system CPU time (all threads: the codecs
// may compress on several goroutines).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
