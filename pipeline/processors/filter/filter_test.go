package filter

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
)

// reference evaluates the same questions with encoding/json, independently
// of the lazy CEL values.
type refEvent struct {
	Verb string `json:"verb"`
	User struct {
		Username string   `json:"username"`
		Groups   []string `json:"groups"`
	} `json:"user"`
	ObjectRef *struct {
		Resource  string `json:"resource"`
		Namespace string `json:"namespace"`
	} `json:"objectRef"`
	ResponseStatus struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	SourceIPs      []string          `json:"sourceIPs"`
	UserAgent      string            `json:"userAgent"`
	Annotations    map[string]string `json:"annotations"`
	RequestObject  any               `json:"requestObject"`
	ResponseObject json.RawMessage   `json:"responseObject"`
}

func TestFilterCorpusAgreesWithDecoding(t *testing.T) {
	cases := []struct {
		expr string
		want func(e *refEvent) bool
	}{
		{`event.verb in ["get", "list", "watch"] && has(event.user.username) && event.user.username.startsWith("system:")`,
			func(e *refEvent) bool {
				return (e.Verb == "get" || e.Verb == "list" || e.Verb == "watch") && strings.HasPrefix(e.User.Username, "system:")
			}},
		{`has(event.objectRef) && event.objectRef.resource == "secrets"`,
			func(e *refEvent) bool { return e.ObjectRef != nil && e.ObjectRef.Resource == "secrets" }},
		{`has(event.responseStatus) && event.responseStatus.code >= 400`, func(e *refEvent) bool { return e.ResponseStatus.Code >= 400 }},
		{`has(event.user.groups) && "system:masters" in event.user.groups`, func(e *refEvent) bool {
			for _, g := range e.User.Groups {
				if g == "system:masters" {
					return true
				}
			}
			return false
		}},
		{`event.sourceIPs.exists(ip, ip == "127.0.0.1") && event.userAgent.contains("kubectl")`,
			func(e *refEvent) bool {
				return len(e.SourceIPs) > 0 && e.SourceIPs[0] == "127.0.0.1" && strings.Contains(e.UserAgent, "kubectl")
			}},
		{`has(event.annotations) && event.annotations["authorization.k8s.io/decision"] == "forbid"`,
			func(e *refEvent) bool { return e.Annotations["authorization.k8s.io/decision"] == "forbid" }},
		{`has(event.requestObject) && type(event.requestObject) == map && has(event.requestObject.metadata) && has(event.requestObject.metadata.labels) && event.requestObject.metadata.labels.exists(k, k == "stage")`,
			func(e *refEvent) bool {
				ro, _ := e.RequestObject.(map[string]any)
				md, _ := ro["metadata"].(map[string]any)
				l, _ := md["labels"].(map[string]any)
				_, ok := l["stage"]
				return ok
			}},
	}
	lines := testcorpus.Load(t)
	for _, c := range cases {
		p, err := Compile(c.expr)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		matched := 0
		for _, l := range lines {
			ev, err := event.New(l.Raw)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Match(&ev)
			if err != nil {
				t.Fatalf("%s on %s: %v", c.expr, l.Where, err)
			}
			var r refEvent
			if err := json.Unmarshal(l.Raw, &r); err != nil {
				t.Fatal(err)
			}
			if want := c.want(&r); got != want {
				t.Fatalf("%s on %s: got %v, want %v", c.expr, l.Where, got, want)
			}
			if got {
				matched++
			}
		}
		if matched == 0 || matched == len(lines) {
			t.Errorf("%s matched %d of %d events: the case does not discriminate", c.expr, matched, len(lines))
		}
		t.Logf("%5d/%d  %s", matched, len(lines), c.expr)
	}
}

func TestCompileErrors(t *testing.T) {
	for expr, want := range map[string]string{
		`event.verbs == "get"`:   `did you mean "verb"`,
		`event.verb == `:         `Syntax error`,
		`event.verb`:             ``, // dyn: accepted, checked at run time
		`1 + 2`:                  `want bool`,
		`event.user.name.size()`: `want bool`,
		`event.user.name.size() > 3 && event.stage == "ResponseComplete"`: ``,
	} {
		_, err := Compile(expr)
		if want == "" {
			if err != nil {
				t.Errorf("%s: unexpected error %v", expr, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to contain %q", expr, err, want)
		}
	}
}
