package elasticsearch

import (
	"bytes"
	"testing"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
	"github.com/kubetrail/kubetrail/outputs/internal/codecbench"
	"github.com/kubetrail/kubetrail/pipeline"
)

// BenchmarkCompression gzips the real corpus as this output sends it (bulk
// NDJSON built by appendDoc: create action with the data stream and the
// document _id, the event with @timestamp; the default batches of 2,000
// events or 5 MiB) with each gzip candidate of codecbench (compress/gzip,
// which go-elasticsearch's CompressRequestBody uses at level 6, and
// klauspost/compress/gzip at several levels), reporting cpu-s/GiB of bulk
// body and the ratio. The output's choice (klauspost level 1, compressed
// by the output itself) comes from these figures (README, Performance):
//
//	go test -run '^$' -bench Compression -benchtime 20x ./outputs/elasticsearch/
func BenchmarkCompression(b *testing.B) {
	cfg := defaultConfig()
	cfg.Addresses = []string{"http://127.0.0.1:9200"} // never dialled
	o, err := New(cfg, pipeline.Settings{})
	if err != nil {
		b.Fatal(err)
	}
	const maxEvents, maxBytes = 2000, 5 << 20
	var bodies [][]byte
	sb := &sendBuf{}
	n := 0
	flush := func() {
		if sb.body.Len() > 0 {
			bodies = append(bodies, bytes.Clone(sb.body.Bytes()))
		}
		sb.body.Reset()
		n = 0
	}
	for _, l := range testcorpus.Load(b) {
		ev, err := event.New(l.Raw)
		if err != nil {
			b.Fatalf("%s: %v", l.Where, err)
		}
		if n == maxEvents || sb.body.Len()+len(l.Raw) > maxBytes {
			flush()
		}
		if err := o.appendDoc(sb, &ev); err != nil {
			b.Fatalf("%s: %v", l.Where, err)
		}
		n++
	}
	flush()
	codecbench.RunGzip(b, bodies)
}
