package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tidwall/gjson"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/pipeline"
	"github.com/kubetrail/kubetrail/pipeline/processors"
)

// ConfigTests is a file of configuration unit tests (`agent test`), like
// `vector test`: audit events go through each pipeline's processors, and
// the test asserts what each pipeline would buffer for its outputs.
//
//	tests:
//	  - name: system reads do not reach the SIEM
//	    events:                     # inline audit events, or events_file: NDJSON
//	      - {kind: Event, auditID: a1, stage: ResponseComplete, verb: get,
//	         user: {username: "system:node:n1"}, objectRef: {resource: pods}}
//	    expect:
//	      siem: {count: 0}          # pipeline name: what it keeps
//	      full:
//	        count: 1
//	        fields: {verb: get, "objectRef.resource": pods}
//	        absent: [responseObject]
type ConfigTests struct {
	Tests []ConfigTest `yaml:"tests"`
}

// ConfigTest is one test case.
type ConfigTest struct {
	Name string `yaml:"name"`
	// Events are audit events written inline (YAML or JSON objects).
	Events []any `yaml:"events"`
	// EventsFile is an NDJSON file of audit events (relative to the tests
	// file), e.g. lines copied from an audit log.
	EventsFile string `yaml:"events_file"`
	// Expect maps a pipeline name to what it must keep.
	Expect map[string]Expectation `yaml:"expect"`
}

// Expectation is what one pipeline keeps of a test's events. Every field
// is optional; fields, absent and present apply to every kept event.
type Expectation struct {
	// Count is the number of events kept; unset: not checked.
	Count *int `yaml:"count"`
	// DeadLettered is the number of events a processor dead-lettered.
	DeadLettered int `yaml:"dead_lettered"`
	// Fields maps a dotted path (gjson syntax: "user.username",
	// "annotations.kubetrail\.io/redacted") to its expected value.
	Fields map[string]any `yaml:"fields"`
	// Absent and Present list paths that must not or must exist.
	Absent  []string `yaml:"absent"`
	Present []string `yaml:"present"`
}

// Validate implements the loader's validation hook.
func (t *ConfigTest) Validate() error {
	var errs []error
	if t.Name == "" {
		errs = append(errs, config.Fieldf("name", "is required"))
	}
	if (len(t.Events) == 0) == (t.EventsFile == "") {
		errs = append(errs, config.Fieldf("events", "set events or events_file"))
	}
	if len(t.Expect) == 0 {
		errs = append(errs, config.Fieldf("expect", "name at least one pipeline"))
	}
	return errors.Join(errs...)
}

// RunConfigTests runs the tests in testsFile against cfg and writes a report
// to w. It returns false when a test failed; the error is for a tests file
// that cannot be used.
func RunConfigTests(cfg *config.Config, testsFile string, w io.Writer) (bool, error) {
	data, err := os.ReadFile(testsFile)
	if err != nil {
		return false, err
	}
	var tests ConfigTests
	if err := config.Decode(testsFile, data, &tests); err != nil {
		return false, err
	}
	if len(tests.Tests) == 0 {
		return false, fmt.Errorf("%s: no tests", testsFile)
	}
	passed, failed := 0, 0
	for _, tc := range tests.Tests {
		problems, err := runConfigTest(cfg, filepath.Dir(testsFile), tc)
		if err != nil {
			return false, fmt.Errorf("%s: test %q: %w", testsFile, tc.Name, err)
		}
		if len(problems) == 0 {
			passed++
			fmt.Fprintf(w, "PASS  %s\n", tc.Name)
			continue
		}
		failed++
		fmt.Fprintf(w, "FAIL  %s\n", tc.Name)
		for _, p := range problems {
			fmt.Fprintf(w, "      %s\n", strings.ReplaceAll(p, "\n", "\n      "))
		}
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", passed, failed)
	return failed == 0, nil
}

func runConfigTest(cfg *config.Config, dir string, tc ConfigTest) ([]string, error) {
	evs, err := testEvents(dir, tc)
	if err != nil {
		return nil, err
	}
	var problems []string
	for _, pname := range sortedKeys(tc.Expect) {
		want := tc.Expect[pname]
		pc, ok := cfg.Pipelines[pname]
		if !ok {
			return nil, fmt.Errorf("expect: no pipeline %q in %s (pipelines: %s)", pname, cfg.File, strings.Join(sortedKeys(cfg.Pipelines), ", "))
		}
		batch := pipeline.NewEvents(evs)
		dead := 0
		for _, name := range pc.Processors {
			c := cfg.Processors[name]
			f, _ := processors.Lookup(c.Type)
			proc, err := f.New(c.Config, pipeline.Settings{
				Name: name, Pipeline: pname, StateDir: os.TempDir(), Logger: slog.New(slog.DiscardHandler),
				Metrics: prometheus.NewRegistry(), Health: (&pipeline.Health{}).Component(name),
			})
			if err != nil {
				return nil, fmt.Errorf("processors.%s: %w", name, err)
			}
			ctx := context.Background()
			if err := proc.Start(ctx); err != nil {
				return nil, fmt.Errorf("processors.%s: start: %w", name, err)
			}
			err = proc.Process(ctx, batch)
			_ = proc.Close(ctx)
			if err != nil {
				return nil, fmt.Errorf("processors.%s: %w", name, err)
			}
			for i := range batch.Len() {
				if v, _ := batch.Verdict(i); v == pipeline.DeadLettered {
					dead++
				}
			}
			batch = pipeline.NewEvents(batch.Kept())
		}
		kept := batch.Kept()
		problems = append(problems, checkExpectation(pname, want, kept, dead)...)
	}
	return problems, nil
}

// testEvents parses a test's events and extracts their fields, as the input
// would.
func testEvents(dir string, tc ConfigTest) ([]event.Event, error) {
	var raws [][]byte
	for i, e := range tc.Events {
		raw, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("events[%d]: %w", i, err)
		}
		raws = append(raws, raw)
	}
	if tc.EventsFile != "" {
		path := tc.EventsFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		for _, l := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				raws = append(raws, l)
			}
		}
	}
	evs := make([]event.Event, 0, len(raws))
	for i, raw := range raws {
		ev, err := event.New(raw)
		if err != nil {
			return nil, fmt.Errorf("event %d is not an audit event: %w", i+1, err)
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

func checkExpectation(pname string, want Expectation, kept []event.Event, dead int) []string {
	var p []string
	if want.Count != nil && len(kept) != *want.Count {
		p = append(p, fmt.Sprintf("pipeline %s: kept %d events, want %d%s", pname, len(kept), *want.Count, showEvents(kept)))
	}
	if dead != want.DeadLettered {
		p = append(p, fmt.Sprintf("pipeline %s: %d events dead-lettered, want %d", pname, dead, want.DeadLettered))
	}
	for i, ev := range kept {
		id := fmt.Sprintf("pipeline %s: event %d (auditID %s)", pname, i+1, ev.AuditID)
		paths := make([]string, 0, len(want.Fields))
		for k := range want.Fields {
			paths = append(paths, k)
		}
		sort.Strings(paths)
		for _, path := range paths {
			got := gjson.GetBytes(ev.Raw, path)
			wantJSON, _ := json.Marshal(want.Fields[path])
			if !got.Exists() {
				p = append(p, fmt.Sprintf("%s: %s is absent, want %s", id, path, wantJSON))
				continue
			}
			if !jsonEqual([]byte(got.Raw), wantJSON) {
				p = append(p, fmt.Sprintf("%s: %s is %s, want %s", id, path, got.Raw, wantJSON))
			}
		}
		for _, path := range want.Absent {
			if got := gjson.GetBytes(ev.Raw, path); got.Exists() {
				p = append(p, fmt.Sprintf("%s: %s is present (%.80s), want absent", id, path, got.Raw))
			}
		}
		for _, path := range want.Present {
			if !gjson.GetBytes(ev.Raw, path).Exists() {
				p = append(p, fmt.Sprintf("%s: %s is absent, want present", id, path))
			}
		}
	}
	return p
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func showEvents(evs []event.Event) string {
	var b strings.Builder
	for i, ev := range evs {
		if i == 3 {
			fmt.Fprintf(&b, "\n  ... and %d more", len(evs)-3)
			break
		}
		fmt.Fprintf(&b, "\n  %.300s", ev.Raw)
	}
	return b.String()
}
