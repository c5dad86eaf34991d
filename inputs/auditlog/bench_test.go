package auditlog

import (
	"bufio"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/event/auditfields"
	"github.com/kubetrail/kubetrail/outputs/outputtest"
	"github.com/kubetrail/kubetrail/pipeline"
)

// BenchmarkTail reads a large audit log (real events, ~1.2 KB each) from
// start to end into a sink that acknowledges at once. "split" measures the
// input alone (reading, cutting lines, batching, commits); "extract" adds
// auditfields.Extract, which every event goes through.
func BenchmarkTail(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "audit.log")
	const n = 100_000
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var total int64
	for _, l := range genLines(b, n, 99) {
		w.Write(l)
		w.WriteByte('\n')
		total += int64(len(l)) + 1
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()

	for _, bc := range []struct {
		name    string
		extract func([]byte, *event.Meta) error
	}{
		{"split", func([]byte, *event.Meta) error { return nil }},
		{"extract", auditfields.Extract},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(total)
			b.ReportAllocs()
			var elapsed time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				c := NewConfig()
				c.Path = path
				in, err := New(c, pipeline.Settings{
					Name: "bench", StateDir: b.TempDir(), Logger: slog.New(slog.DiscardHandler),
					Metrics: prometheus.NewRegistry(), DeadLetter: &outputtest.DeadLetters{},
				})
				if err != nil {
					b.Fatal(err)
				}
				in.extract = bc.extract
				var got atomic.Int64
				done := make(chan struct{})
				sink := pipeline.EventSinkFunc(func(_ context.Context, evs []event.Event, durable func()) error {
					durable()
					if got.Add(int64(len(evs))) == n {
						close(done)
					}
					return nil
				})
				ctx, cancel := context.WithCancel(context.Background())
				errc := make(chan error, 1)
				start := time.Now()
				b.StartTimer()
				go func() { errc <- in.Run(ctx, sink) }()
				<-done
				b.StopTimer()
				elapsed += time.Since(start)
				cancel()
				if err := <-errc; err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "lines/s")
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(n*b.N), "ns/line")
		})
	}
}
