package jsonobject

import (
	"testing"

	"github.com/kubetrail/kubetrail/internal/testcorpus"
)

func TestRoundTripKeepsBytes(t *testing.T) {
	for _, l := range testcorpus.Load(t) {
		ms, err := Members(l.Raw)
		if err != nil {
			t.Fatalf("%s: %v", l.Where, err)
		}
		if out := Append(nil, ms); string(out) != string(l.Raw) {
			t.Fatalf("%s: round trip changed the event", l.Where)
		}
	}
}

func TestSetAnnotation(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1}`:                    `{"a":1,"annotations":{"k":"v<&>"}}`,
		`{"annotations":null,"b":2}`: `{"annotations":{"k":"v<&>"},"b":2}`,
		`{"annotations":{"z":"1","k":"old"},"b":2}`: `{"annotations":{"z":"1","k":"v<&>"},"b":2}`,
	} {
		ms, err := Members([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if ms, err = SetAnnotation(ms, "k", "v<&>"); err != nil {
			t.Fatal(err)
		}
		if got := string(Append(nil, ms)); got != want {
			t.Errorf("%s: got %s, want %s", in, got, want)
		}
	}
	for _, bad := range []string{`[1]`, `{"a":1} x`, `{"a":`, `{"annotations":[1]}`} {
		ms, err := Members([]byte(bad))
		if err == nil {
			_, err = SetAnnotation(ms, "k", "v")
		}
		if err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
