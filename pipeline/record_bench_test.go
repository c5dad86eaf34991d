package pipeline

import (
	"testing"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/event/auditfields"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
)

// corpusEvents returns the real corpus as extracted Events.
func corpusEvents(b *testing.B) []event.Event {
	var events []event.Event
	for _, l := range testcorpus.Load(b) {
		e := event.Event{Raw: l.Raw}
		if err := auditfields.Extract(l.Raw, &e.Meta); err != nil {
			b.Fatal(err)
		}
		events = append(events, e)
	}
	return events
}

func BenchmarkAppendRecord(b *testing.B) {
	events := corpusEvents(b)
	total := 0
	for _, e := range events {
		total += len(e.Raw)
	}
	b.SetBytes(int64(total / len(events)))
	b.ReportAllocs()
	buf := make([]byte, 0, 1<<20)
	k := 0
	for b.Loop() {
		buf = AppendRecord(buf[:0], &events[k])
		if k++; k == len(events) {
			k = 0
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkDecodeRecord(b *testing.B) {
	events := corpusEvents(b)
	recs := make([][]byte, len(events))
	total := 0
	for i := range events {
		recs[i] = AppendRecord(nil, &events[i])
		total += len(recs[i])
	}
	b.SetBytes(int64(total / len(recs)))
	b.ReportAllocs()
	var e event.Event
	k := 0
	for b.Loop() {
		if err := DecodeRecord(recs[k], &e); err != nil {
			b.Fatal(err)
		}
		if k++; k == len(recs) {
			k = 0
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
