package splunkhec

import (
	"testing"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
	"github.com/kubetrail/kubetrail/outputs/internal/codecbench"
)

// BenchmarkCompression gzips the real corpus as this output sends it (HEC
// event envelopes with the default host and sourcetype, batches of the
// default 500 events, requests of at most the default 1 MiB) with each gzip
// candidate of codecbench (compress/gzip and klauspost/compress/gzip at
// several levels), reporting cpu-s/GiB of request body and the ratio. HEC
// accepts any standard gzip stream. The output's choice (klauspost level 1)
// comes from these figures (README, Performance):
//
//	go test -run '^$' -bench Compression -benchtime 20x ./outputs/splunkhec/
func BenchmarkCompression(b *testing.B) {
	corpus := testcorpus.Load(b)
	env := newEnvelope("node-1", "", "kube:apiserver-audit", "", nil)
	const maxEvents, maxBytes = 500, 1 << 20
	var bodies [][]byte
	var body []byte
	for i, l := range corpus {
		ev, err := event.New(l.Raw)
		if err != nil {
			b.Fatalf("%s: %v", l.Where, err)
		}
		mark := len(body)
		body = env.append(body, &ev)
		if len(body) > maxBytes && mark > 0 {
			bodies = append(bodies, body[:mark:mark])
			body = append([]byte(nil), body[mark:]...)
		}
		if (i+1)%maxEvents == 0 {
			bodies = append(bodies, body)
			body = nil
		}
	}
	if len(body) > 0 {
		bodies = append(bodies, body)
	}
	codecbench.RunGzip(b, bodies)
}
