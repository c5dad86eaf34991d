package all

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
	"github.com/kubetrail/kubetrail/pipeline"
	"github.com/kubetrail/kubetrail/pipeline/processors"
	"github.com/kubetrail/kubetrail/pipeline/processors/auditpolicy"
	"github.com/kubetrail/kubetrail/pipeline/processors/filter"
	"github.com/kubetrail/kubetrail/pipeline/processors/redact"
	"github.com/kubetrail/kubetrail/pipeline/processors/truncate"
)

// BenchmarkProcessors runs each built-in processor over two real
// kube-apiserver logs: the corpus (mixed levels, like most clusters) and a
// RequestResponse-everything log (every body present: the worst case for
// redaction and policy stripping). It reports events/s and MB/s of input.
//
//	go test -run '^$' -bench Processors ./pipeline/processors/all/
func BenchmarkProcessors(b *testing.B) {
	sets := map[string][]event.Event{"corpus": events(b, corpusRaw(b)), "requestresponse": events(b, leakyRaw(b))}
	procs := []struct {
		name string
		typ  string
		cfg  any
	}{
		{"redact", "redact", mustValid(b, &redact.Config{Secrets: true, Marker: redact.DefaultMarker})},
		{"filter", "filter", mustValid(b, &filter.Config{Drop: `event.verb in ["get", "list", "watch"] && has(event.user.username) && event.user.username.startsWith("system:")`})},
		{"filter-body", "filter", mustValid(b, &filter.Config{Keep: `has(event.requestObject) && type(event.requestObject) == map && has(event.requestObject.metadata)`})},
		{"audit_policy", "audit_policy", mustValid(b, &auditpolicy.Config{PolicyFile: "../auditpolicy/testdata/compliance.yaml"})},
		{"truncate", "truncate", mustValid(b, &truncate.Config{MaxEventBytes: 10 << 10})},
	}
	for _, set := range []string{"corpus", "requestresponse"} {
		evs := sets[set]
		bytesIn := 0
		for _, e := range evs {
			bytesIn += len(e.Raw)
		}
		for _, p := range procs {
			b.Run(set+"/"+p.name, func(b *testing.B) {
				f, _ := processors.Lookup(p.typ)
				proc, err := f.New(p.cfg, pipeline.Settings{Logger: slog.New(slog.DiscardHandler), Metrics: prometheus.NewRegistry()})
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(bytesIn))
				b.ReportAllocs()
				for b.Loop() {
					if err := proc.Process(context.Background(), pipeline.NewEvents(evs)); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

type validator interface{ Validate() error }

func mustValid(b *testing.B, c validator) any {
	if err := c.Validate(); err != nil {
		b.Fatal(err)
	}
	return c
}

func corpusRaw(b *testing.B) [][]byte {
	var out [][]byte
	for _, l := range testcorpus.Load(b) {
		out = append(out, l.Raw)
	}
	return out
}

func leakyRaw(b *testing.B) [][]byte {
	data, err := os.ReadFile("../../../testdata/leaky-run/requestresponse.log")
	if err != nil {
		b.Fatal(err)
	}
	return bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
}

func events(b *testing.B, raws [][]byte) []event.Event {
	out := make([]event.Event, 0, len(raws))
	for _, r := range raws {
		ev, err := event.New(r)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}
