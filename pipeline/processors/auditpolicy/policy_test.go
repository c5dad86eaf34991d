package auditpolicy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	auditapi "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
)

// typedAttributes builds the attributes from the event decoded into the
// apiserver's own audit/v1 Event type: an independent route to what
// Attributes derives from the extracted fields.
func typedAttributes(t *testing.T, raw []byte) (authorizer.AttributesRecord, *auditv1.Event) {
	t.Helper()
	var ev auditv1.Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	a := authorizer.AttributesRecord{User: &user.DefaultInfo{Name: ev.User.Username, Groups: ev.User.Groups}, Verb: ev.Verb}
	if ev.ObjectRef != nil {
		a.ResourceRequest = true
		a.Namespace, a.APIGroup, a.APIVersion = ev.ObjectRef.Namespace, ev.ObjectRef.APIGroup, ev.ObjectRef.APIVersion
		a.Resource, a.Subresource, a.Name = ev.ObjectRef.Resource, ev.ObjectRef.Subresource, ev.ObjectRef.Name
	}
	a.Path, _, _ = strings.Cut(ev.RequestURI, "?")
	return a, &ev
}

func testPolicy(t *testing.T, name string) *auditapi.Policy {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.LoadPolicyFromBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPolicyMatchesApiserverEvaluator(t *testing.T) {
	lines := testcorpus.Load(t)
	// A RequestResponse-everything log, where the policy has every body to strip.
	data, err := os.ReadFile("../../../testdata/leaky-run/requestresponse.log")
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		lines = append(lines, testcorpus.Line{Where: fmt.Sprintf("requestresponse.log:%d", i+1), Raw: l})
	}
	for _, name := range []string{"basic.yaml", "compliance.yaml"} {
		t.Run(name, func(t *testing.T) {
			e := New(testPolicy(t, name))
			ref := policy.NewPolicyRuleEvaluator(testPolicy(t, name))
			counts := map[string]int{}
			for _, l := range lines {
				ev, err := event.New(l.Raw)
				if err != nil {
					t.Fatal(err)
				}
				attrs, typed := typedAttributes(t, l.Raw)
				if got := Attributes(&ev); !sameAttrs(got, attrs) {
					t.Fatalf("%s: attributes\n got %+v\nwant %+v", l.Where, got, attrs)
				}
				rc := ref.EvaluatePolicyRule(attrs)
				wantDrop := rc.Level == auditapi.LevelNone || slices.Contains(rc.OmitStages, auditapi.Stage(typed.Stage))
				v := e.Evaluate(&ev)
				if v.Drop != wantDrop {
					t.Fatalf("%s: drop %v, want %v (rule level %s)", l.Where, v.Drop, wantDrop, rc.Level)
				}
				if wantDrop {
					counts["dropped"]++
					continue
				}
				out, _, err := Apply(&ev, v)
				if err != nil {
					t.Fatal(err)
				}
				var got auditv1.Event
				if err := json.Unmarshal(out, &got); err != nil {
					t.Fatalf("%s: output not an audit event: %v", l.Where, err)
				}
				wantLevel := auditapi.Level(rc.Level)
				if auditapi.Level(typed.Level).Less(wantLevel) {
					wantLevel = auditapi.Level(typed.Level) // cannot add data
				}
				if string(got.Level) != string(wantLevel) {
					t.Fatalf("%s: level %s, want %s", l.Where, got.Level, wantLevel)
				}
				wantReq := typed.RequestObject != nil && !wantLevel.Less(auditapi.LevelRequest)
				wantResp := typed.ResponseObject != nil && wantLevel == auditapi.LevelRequestResponse
				if (got.RequestObject != nil) != wantReq || (got.ResponseObject != nil) != wantResp {
					t.Fatalf("%s: level %s: requestObject %v (want %v), responseObject %v (want %v)", l.Where,
						wantLevel, got.RequestObject != nil, wantReq, got.ResponseObject != nil, wantResp)
				}
				if got.AuditID != typed.AuditID || got.Stage != typed.Stage || got.StageTimestamp != typed.StageTimestamp ||
					got.User.Username != typed.User.Username {
					t.Fatalf("%s: identity fields changed", l.Where)
				}
				counts[string(wantLevel)]++
				if string(out) != string(l.Raw) {
					counts["rewritten"]++
				}
			}
			t.Logf("%s over %d events: %v", name, len(lines), counts)
			if counts["dropped"] == 0 || counts["rewritten"] == 0 {
				t.Errorf("policy %s neither dropped nor rewrote anything: the test does not discriminate", name)
			}
		})
	}
}

func sameAttrs(a, b authorizer.AttributesRecord) bool {
	return a.User.GetName() == b.User.GetName() && slices.Equal(a.User.GetGroups(), b.User.GetGroups()) &&
		a.Verb == b.Verb && a.ResourceRequest == b.ResourceRequest && a.Namespace == b.Namespace &&
		a.APIGroup == b.APIGroup && a.APIVersion == b.APIVersion && a.Resource == b.Resource &&
		a.Subresource == b.Subresource && a.Name == b.Name && a.Path == b.Path
}

func TestOmitManagedFieldsAndLevelCannotAddData(t *testing.T) {
	data, err := os.ReadFile("../../../testdata/leaky-run/requestresponse.log")
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.LoadPolicyFromBytes([]byte(`{"apiVersion":"audit.k8s.io/v1","kind":"Policy","omitManagedFields":true,"rules":[{"level":"RequestResponse"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	e := New(p)
	stripped := 0
	for _, l := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		ev, err := event.New(l)
		if err != nil {
			t.Fatal(err)
		}
		out, changed, err := Apply(&ev, e.Evaluate(&ev))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(out, []byte(`"managedFields"`)) && string(ev.Verb) != "patch" {
			t.Fatalf("managedFields kept: %.300s", out)
		}
		if changed {
			stripped++
		}
	}
	if stripped == 0 {
		t.Fatal("no event had managed fields: the test does not discriminate")
	}

	// A Metadata event under a RequestResponse rule stays Metadata, without bodies.
	meta := []byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/x/pods","verb":"list","user":{"username":"u"},"objectRef":{"resource":"pods","namespace":"x","apiVersion":"v1"},"responseStatus":{"code":200},"stageTimestamp":"2026-11-22T02:24:19.373066Z"}`)
	ev, _ := event.New(meta)
	v := e.Evaluate(&ev)
	if v.Level != "Metadata" || v.Drop {
		t.Fatalf("verdict %+v, want Metadata", v)
	}
	if out, changed, _ := Apply(&ev, v); changed || !bytes.Equal(out, meta) {
		t.Fatalf("a level above the logged one changed the event: %s", out)
	}
}
