package truncate

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"testing"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
)

func decode(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	return m
}

// TestCorpus truncates every real event that carries a request or response
// object and checks the result against kube-apiserver's rule, member by
// member, and that the fields the pipeline extracts did not change.
func TestCorpus(t *testing.T) {
	n := 0
	for _, l := range testcorpus.Load(t) {
		if !bytes.Contains(l.Raw, []byte(`"requestObject"`)) && !bytes.Contains(l.Raw, []byte(`"responseObject"`)) {
			continue
		}
		n++
		out, err := Truncate(l.Raw, len(l.Raw)-1)
		if errors.Is(err, ErrTooLarge) {
			continue // tiny objects: dropping them did not save enough
		}
		if err != nil {
			t.Fatalf("%s: %v", l.Where, err)
		}
		want := decode(t, l.Raw)
		delete(want, "requestObject")
		delete(want, "responseObject")
		ann, _ := want["annotations"].(map[string]any)
		ann = maps.Clone(ann)
		if ann == nil {
			ann = map[string]any{}
		}
		ann[Annotation] = "true"
		want["annotations"] = ann
		if got := decode(t, out); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: truncated event differs:\n got %v\nwant %v", l.Where, got, want)
		}
		before, err1 := event.New(l.Raw)
		after, err2 := event.New(out)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v %v", l.Where, err1, err2)
		}
		before.Raw, after.Raw = nil, nil
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("%s: meta changed: %+v -> %+v", l.Where, before.Meta, after.Meta)
		}
	}
	if n < 100 {
		t.Fatalf("only %d corpus events with objects", n)
	}
}

func TestCases(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"no annotations", `{"a":1,"requestObject":{"x":"y"},"b":[1,2]}`, `{"a":1,"b":[1,2],"annotations":{"audit.k8s.io/truncated":"true"}}`},
		{"null annotations", `{"annotations":null,"responseObject":{"big":"xxxxxxxxxxxxxxxxxxxx"}}`, `{"annotations":{"audit.k8s.io/truncated":"true"}}`},
		{"kept order and bytes", `{"z":"<&>\u00e9","annotations":{"k":"v"},"responseObject":{"a":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"},"n":1.50}`, `{"z":"<&>\u00e9","annotations":{"k":"v","audit.k8s.io/truncated":"true"},"n":1.50}`},
		{"already truncated", `{"annotations":{"audit.k8s.io/truncated":"false","k":"v"},"requestObject":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`, `{"annotations":{"k":"v","audit.k8s.io/truncated":"true"}}`},
		{"unicode key", `{"ключ":"значение","requestObject":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`, `{"ключ":"значение","annotations":{"audit.k8s.io/truncated":"true"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Strip([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want {
				t.Errorf("got  %s\nwant %s", out, tc.want)
			}
		})
	}
}

func TestSmallIsUntouched(t *testing.T) {
	raw := []byte(testcorpus.MetadataEvent)
	out, err := Truncate(raw, len(raw))
	if err != nil || &out[0] != &raw[0] || len(out) != len(raw) {
		t.Fatalf("an event at the limit was changed: %v", err)
	}
}

func TestStillTooLarge(t *testing.T) {
	raw := []byte(`{"requestURI":"/` + string(bytes.Repeat([]byte("a"), 200)) + `","requestObject":{}}`)
	_, err := Truncate(raw, 100)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

func TestMalformed(t *testing.T) {
	for _, in := range []string{``, `[1,2]`, `{"a":`, `{"a":1}}`, `{"a":1} x`, `{"annotations":[1],"requestObject":{}}`, `"str"`} {
		_, err := Truncate([]byte(in), -1)
		if err == nil || errors.Is(err, ErrTooLarge) {
			t.Errorf("%q: err = %v, want a malformed-JSON error", in, err)
		}
	}
}
