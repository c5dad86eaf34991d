package truncate

import (
	"context"
	"strings"
	"testing"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/pipeline"
)

func TestTruncateProcessor(t *testing.T) {
	mk := func(id, obj, ann string) event.Event {
		ev, err := event.New([]byte(`{"kind":"Event","auditID":"` + id + `","stage":"ResponseComplete","verb":"create","requestObject":{"data":"` + obj + `"},"annotations":{"a":"` + ann + `"}}`))
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	small := mk("small", "x", "")
	big := mk("big", strings.Repeat("x", 4000), "")
	hopeless := mk("hopeless", "x", strings.Repeat("y", 4000))
	evs := pipeline.NewEvents([]event.Event{small, big, hopeless})
	p := processor{max: 2048}
	if err := p.Process(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if v, _ := evs.Verdict(0); v != pipeline.Keep || string(evs.Event(0).Raw) != string(small.Raw) {
		t.Errorf("small event changed")
	}
	got := evs.Event(1)
	if v, _ := evs.Verdict(1); v != pipeline.Keep || strings.Contains(string(got.Raw), "requestObject") ||
		!strings.Contains(string(got.Raw), `"audit.k8s.io/truncated":"true"`) || string(got.AuditID) != "big" {
		t.Errorf("big event not truncated as the apiserver does: %s", got.Raw)
	}
	if v, reason := evs.Verdict(2); v != pipeline.DeadLettered || reason == nil {
		t.Errorf("an event still too large after truncation: verdict %v (%v), want dead-lettered", v, reason)
	}
}
