package buffer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// benchRecords returns batch records of about size bytes (±10%), random
// printable content like the JSON of audit events.
func benchRecords(batch, size int) [][]byte {
	r := rand.New(rand.NewPCG(1, uint64(size)))
	out := make([][]byte, batch)
	for i := range out {
		p := make([]byte, size-size/10+r.IntN(size/5+1))
		for j := range p {
			p[j] = byte(' ' + r.IntN(95))
		}
		out[i] = p
	}
	return out
}

func totalBytes(recs [][]byte) int64 {
	var n int64
	for _, r := range recs {
		n += int64(len(r))
	}
	return n
}

// BenchmarkAppend: one op is one Append of 500 records. The buffer has no
// cursors, so sealed segments are deleted as the benchmark goes.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{1400, 7000} {
		for _, policy := range []FsyncPolicy{FsyncInterval, FsyncNever} {
			b.Run(fmt.Sprintf("rec=%d/fsync=%s", size, policy), func(b *testing.B) {
				recs := benchRecords(500, size)
				buf, err := Open(Options{Dir: b.TempDir(), Fsync: policy})
				if err != nil {
					b.Fatal(err)
				}
				defer buf.Close()
				onDurable := func() {}
				ctx := context.Background()
				b.SetBytes(totalBytes(recs))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if err := buf.Append(ctx, recs, onDurable); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

// BenchmarkRead: one op is one Next of up to 500 records (and up to 16 MiB)
// from a 128 MiB buffer in the page cache, then a Commit of them, like the
// delivery loop (records are views into read chunks, which a commit
// releases for reuse). Cursor "hold" never commits, so the data stays; after
// each pass the buffer is reopened without cursor "out"'s file (outside the
// timer), which starts it again at the oldest record.
func BenchmarkRead(b *testing.B) {
	for _, size := range []int{1400, 7000} {
		b.Run(fmt.Sprintf("rec=%d", size), func(b *testing.B) {
			recs := benchRecords(500, size)
			opts := Options{Dir: b.TempDir(), Fsync: FsyncNever, Cursors: []string{"out", "hold"}}
			buf, err := Open(opts)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			var total int
			for written := int64(0); written < 128<<20; written += totalBytes(recs) {
				if err := buf.Append(ctx, recs, nil); err != nil {
					b.Fatal(err)
				}
				total += len(recs)
			}
			c, err := buf.Cursor("out")
			if err != nil {
				b.Fatal(err)
			}
			var events, read int
			var bytes int64
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				got, err := c.Next(ctx, 500, 16<<20)
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range got {
					bytes += int64(len(r.Data))
				}
				if err := c.Commit(got[len(got)-1].End); err != nil {
					b.Fatal(err)
				}
				events += len(got)
				if read += len(got); read == total {
					b.StopTimer()
					if err := buf.Close(); err != nil {
						b.Fatal(err)
					}
					if err := os.Remove(filepath.Join(opts.Dir, cursorFileName("out"))); err != nil {
						b.Fatal(err)
					}
					if buf, err = Open(opts); err != nil {
						b.Fatal(err)
					}
					if c, err = buf.Cursor("out"); err != nil {
						b.Fatal(err)
					}
					read = 0
					b.StartTimer()
				}
			}
			b.StopTimer()
			_ = buf.Close()
			b.SetBytes(bytes / int64(b.N))
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(events)/float64(b.N), "events/op")
		})
	}
}
