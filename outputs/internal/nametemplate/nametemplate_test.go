package nametemplate

import (
	"strings"
	"testing"
	"time"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
)

func kafkaValid(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

func TestRender(t *testing.T) {
	ev, err := event.New([]byte(testcorpus.MetadataEvent))
	if err != nil {
		t.Fatal(err)
	}
	noNS := ev
	noNS.ObjectRef.Namespace = nil
	noTS := ev
	noTS.StageTimestamp = []byte("2026-11-22T05:04:03.5+03:00")
	badTS := ev
	badTS.StageTimestamp = nil
	for _, tc := range []struct {
		tmpl string
		opts Options
		ev   *event.Event
		want string
	}{
		{"audit", Options{}, &ev, "audit"},
		{"audit-{objectRef.namespace|cluster}", Options{Valid: kafkaValid}, &ev, "audit-kube-system"},
		{"audit-{objectRef.namespace|cluster}", Options{Valid: kafkaValid}, &noNS, "audit-cluster"},
		{"audit-{objectRef.namespace}", Options{}, &noNS, "audit-"},
		{"{user.username}", Options{Valid: kafkaValid}, &ev, "system_apiserver"},
		{"{user.username}", Options{Valid: kafkaValid, Replacement: '-'}, &ev, "system-apiserver"},
		{"{verb}.{stage}.{level}.{responseStatus.code}", Options{}, &ev, "watch.ResponseComplete.Metadata.200"},
		{"{stage}", Options{Lower: true}, &ev, "responsecomplete"},
		{"{objectRef.apiGroup}/{objectRef.resource}/{objectRef.name|-}/{objectRef.subresource|-}", Options{}, &ev, "coordination.k8s.io/leases/-/-"},
		{"{auditID}", Options{}, &ev, "b6cbc2b9-28db-4ed8-a6fc-c5e81889e379"},
		{"k-{date:YYYY.MM.DD}", Options{Valid: kafkaValid}, &ev, "k-2026.11.22"},
		{"k-{date:YYYY-MM-DDTHH}", Options{}, &ev, "k-2026-11-22T02"},
		{"k-{date:YYYY.MM.DD.HH}", Options{}, &noTS, "k-2026.11.22.02"},
		{"k-{date:YYYY.MM|none}", Options{}, &badTS, "k-none"},
		{"k-{date:YYYY}", Options{}, &badTS, "k-1999"},
		// A date layout is checked as what it renders (digits), so a
		// lowercase-only sink (Elasticsearch) takes YYYY.MM.DD.
		{"i-{date:YYYY.MM.DD}", Options{Valid: lowerValid}, &ev, "i-2026.11.22"},
	} {
		tm, err := Parse(tc.tmpl, tc.opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.tmpl, err)
		}
		tm.now = func() time.Time { return time.Date(1999, 1, 2, 3, 4, 5, 0, time.UTC) }
		if got := string(tm.Append(nil, &tc.ev.Meta)); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.tmpl, got, tc.want)
		}
		if tm.String() != tc.tmpl {
			t.Errorf("String() = %q", tm.String())
		}
	}
}

func TestStatic(t *testing.T) {
	for tmpl, want := range map[string]bool{"audit": true, "a-{verb}": false, "{date:YYYY}": false} {
		tm, err := Parse(tmpl, Options{})
		if err != nil || tm.Static() != want {
			t.Errorf("%s: Static() = %v, %v", tmpl, tm.Static(), err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for tmpl, want := range map[string]string{
		"":                     "empty",
		"a{verb":               "unterminated",
		"a}":                   "unmatched",
		"{nope}":               "unknown field",
		"{objectRef.namspace}": "unknown field",
		"{verb|}":              "empty fallback",
		"{date:xx}":            "none of YYYY",
		"bad topic":            "not allowed",
		"{verb|a b}":           "not allowed",
		"{date:YYYY MM}":       "not allowed",
		"{a{verb}}":            "nested",
	} {
		_, err := Parse(tmpl, Options{Valid: kafkaValid})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", tmpl, err, want)
		}
	}
}

func TestAppendNoAlloc(t *testing.T) {
	ev, _ := event.New([]byte(testcorpus.MetadataEvent))
	tm, err := Parse("audit-{objectRef.namespace|x}-{date:YYYY.MM.DD}", Options{Valid: kafkaValid})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 128)
	if n := testing.AllocsPerRun(100, func() { buf = tm.Append(buf[:0], &ev.Meta) }); n != 0 {
		t.Errorf("%v allocations per Append", n)
	}
}

func lowerValid(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.'
}

// What a date layout renders is checked against the sink's characters, not
// the layout's own letters: a separator the sink refuses is an error.
func TestDateLayoutCheckedAsRendered(t *testing.T) {
	_, err := Parse("i-{date:YYYY/MM}", Options{Valid: lowerValid})
	if err == nil {
		t.Fatal("a '/' in the rendered date is not allowed in this name")
	}
	_, err = Parse("I-{date:YYYY}", Options{Valid: lowerValid})
	if err == nil {
		t.Fatal("uppercase literal text is not allowed in this name")
	}
}
