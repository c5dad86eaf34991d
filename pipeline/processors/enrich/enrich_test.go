package enrich

import (
	"context"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
	"github.com/kubetrail/kubetrail/pipeline"
)

func TestEnrichAddsAnnotationsAndKeepsTheRest(t *testing.T) {
	c := &Config{Cluster: "prod-eu-1", Node: "cp-1", AgentVersion: true, Annotations: map[string]string{"example.com/env": "prod"}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	lines := testcorpus.Load(t)[:500]
	evs := make([]event.Event, len(lines))
	for i, l := range lines {
		var err error
		if evs[i], err = event.New(l.Raw); err != nil {
			t.Fatal(err)
		}
	}
	batch := pipeline.NewEvents(evs)
	if err := (processor{pairs: c.pairs()}).Process(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	for i, in := range evs {
		out := batch.Event(i)
		for k, v := range map[string]string{"kubetrail\\.io/cluster": "prod-eu-1", "kubetrail\\.io/node": "cp-1",
			"kubetrail\\.io/agent-version": "dev", "example\\.com/env": "prod"} {
			if got := gjson.GetBytes(out.Raw, "annotations."+k).Str; got != v {
				t.Fatalf("%s: annotation %s = %q, want %q", lines[i].Where, k, got, v)
			}
		}
		// Everything else is as it was, including the apiserver's annotations.
		gjson.ParseBytes(in.Raw).ForEach(func(key, val gjson.Result) bool {
			if key.Str == "annotations" {
				val.ForEach(func(ak, av gjson.Result) bool {
					if gjson.GetBytes(out.Raw, "annotations."+gjsonEscape(ak.Str)).Raw != av.Raw {
						t.Fatalf("%s: annotation %s changed", lines[i].Where, ak.Str)
					}
					return true
				})
				return true
			}
			if gjson.GetBytes(out.Raw, gjsonEscape(key.Str)).Raw != val.Raw {
				t.Fatalf("%s: member %s changed", lines[i].Where, key.Str)
			}
			return true
		})
		if string(out.AuditID) != string(in.AuditID) {
			t.Fatal("meta not re-extracted")
		}
	}
	if err := (&Config{}).Validate(); err == nil {
		t.Error("an empty enrich config is accepted")
	}
}

func gjsonEscape(k string) string {
	out := make([]byte, 0, len(k))
	for i := 0; i < len(k); i++ {
		if k[i] == '.' || k[i] == '*' || k[i] == '?' {
			out = append(out, '\\')
		}
		out = append(out, k[i])
	}
	return string(out)
}
