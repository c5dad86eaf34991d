package kafka

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go/compress"
	"github.com/segmentio/kafka-go/protocol"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
)

// TestCodecsRoundTrip encodes record batches of the corpus with the codecs
// codecs.go installs, from several goroutines at once and many times (the
// compressors are reused), and reads each back with kafka-go's own
// decoders, record for record.
func TestCodecsRoundTrip(t *testing.T) {
	var batches [][]protocol.Record
	var batch []protocol.Record
	size := 0
	for _, l := range testcorpus.Load(t) {
		ev, err := event.New(l.Raw)
		if err != nil {
			t.Fatalf("%s: %v", l.Where, err)
		}
		if len(batch) == 500 || size+len(l.Raw) > 1<<20 {
			batches, batch, size = append(batches, batch), nil, 0
		}
		batch = append(batch, protocol.Record{Time: time.Now(), Key: protocol.NewBytes([]byte(ev.Meta.AuditID)), Value: protocol.NewBytes(l.Raw)})
		size += len(l.Raw)
	}
	batches = append(batches, batch)
	for _, code := range []compress.Compression{compress.Gzip, compress.Snappy, compress.Lz4, compress.Zstd} {
		t.Run(code.String(), func(t *testing.T) {
			if compress.Codecs[code] == defaults[code] {
				t.Fatalf("%s: kafka-go's codec is still installed", code)
			}
			encoded := make([][]byte, len(batches))
			var wg sync.WaitGroup
			for g := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := g; i < len(batches); i += 3 {
						// The records' readers are shared by nothing else: one
						// goroutine per batch.
						var out bytes.Buffer
						for range 2 { // the second encoding reuses a compressor
							out.Reset()
							if _, err := recordSet(code, batches[i]).WriteTo(&out); err != nil {
								t.Error(err)
								return
							}
						}
						encoded[i] = out.Bytes()
					}
				}()
			}
			wg.Wait()
			restore := swapCodec(code, nil) // decode with kafka-go's defaults
			defer restore()
			for i, enc := range encoded {
				if enc == nil {
					t.Fatalf("batch %d not encoded", i)
				}
				checkRecordSet(t, enc, code, batches[i])
			}
		})
	}
}
