package filter

import (
	"context"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/pipeline"
	"github.com/kubetrail/kubetrail/pipeline/processors"
)

func TestFilterProcessorDropKeepAndErrors(t *testing.T) {
	mk := func(verb, user string) event.Event {
		u := `{}`
		if user != "" {
			u = `{"username":"` + user + `"}`
		}
		ev, err := event.New([]byte(`{"kind":"Event","auditID":"a","stage":"ResponseComplete","verb":"` + verb + `","user":` + u + `}`))
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	evs := []event.Event{mk("get", "system:node"), mk("create", "system:node"), mk("get", "alice"), mk("get", "")}
	f, _ := processors.Lookup("filter")
	for _, tc := range []struct {
		cfg  Config
		kept []bool
		errs float64
	}{
		// Without has(), the event without a username fails and is kept.
		{Config{Drop: `event.verb == "get" && event.user.username.startsWith("system:")`}, []bool{false, true, true, true}, 1},
		{Config{Keep: `event.verb == "get" && has(event.user.username) && event.user.username == "alice"`}, []bool{false, false, true, false}, 0},
	} {
		cfg := tc.cfg
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		p, err := f.New(&cfg, pipeline.Settings{Logger: slog.New(slog.DiscardHandler), Metrics: reg})
		if err != nil {
			t.Fatal(err)
		}
		batch := pipeline.NewEvents(evs)
		if err := p.Process(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		for i, want := range tc.kept {
			if v, _ := batch.Verdict(i); (v == pipeline.Keep) != want {
				t.Errorf("%+v: event %d kept=%v, want %v", tc.cfg, i, v == pipeline.Keep, want)
			}
		}
		if n := testutil.ToFloat64(p.(*processor).errs); n != tc.errs {
			t.Errorf("%+v: %v evaluation errors counted, want %v", tc.cfg, n, tc.errs)
		}
	}
}
