package auditpolicy

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/tidwall/gjson"
	auditapi "k8s.io/apiserver/pkg/apis/audit"
	auditinternal "k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/event/auditfields"
	"github.com/kubetrail/kubetrail/event/jsonobject"
)

// Verdict is what the policy does to one event.
type Verdict struct {
	// Drop is true when the rule's level is None or the event's stage is
	// omitted.
	Drop bool
	// Level is the level the event ends up with: the rule's level, or the
	// logged one when that is lower.
	Level auditapi.Level
	// OmitManagedFields is the rule's (or the policy's) omitManagedFields.
	OmitManagedFields bool
}

// Evaluator applies one policy.
type Evaluator struct {
	eval auditinternal.PolicyRuleEvaluator
}

// New builds an evaluator for a policy loaded with LoadPolicyFromBytes.
func New(p *auditapi.Policy) *Evaluator {
	return &Evaluator{eval: policy.NewPolicyRuleEvaluator(p)}
}

// Attributes rebuilds the request attributes the apiserver evaluated its
// policy on from the event: the authenticated user (not the impersonated
// one: the apiserver audits before impersonation), the verb, and the
// objectRef for resource requests or the request path for the others.
func Attributes(ev *event.Event) authorizer.AttributesRecord {
	var userRaw, refRaw, uri []byte
	// One pass over the members that precede the bodies in the apiserver's
	// key order; it stops at the first body.
	_ = auditfields.EachMember(ev.Raw, func(key, value []byte) bool {
		switch string(key) {
		case "user":
			userRaw = value
		case "objectRef":
			refRaw = value
		case "requestURI":
			uri = value
		case "requestObject", "responseObject":
			return userRaw == nil || uri == nil // keep looking only if something is missing
		}
		return true
	})
	u := &user.DefaultInfo{Name: string(ev.Username)}
	for _, g := range gjson.GetBytes(userRaw, "groups").Array() {
		u.Groups = append(u.Groups, g.Str)
	}
	attrs := authorizer.AttributesRecord{User: u, Verb: string(ev.Verb)}
	ref := &ev.ObjectRef
	if len(refRaw) > 0 && refRaw[0] == '{' {
		attrs.ResourceRequest = true
		attrs.Namespace = string(ref.Namespace)
		attrs.APIGroup = string(ref.APIGroup)
		attrs.APIVersion = gjson.GetBytes(refRaw, "apiVersion").Str
		attrs.Resource = string(ref.Resource)
		attrs.Subresource = string(ref.Subresource)
		attrs.Name = string(ref.Name)
	}
	var path string
	if len(uri) > 0 {
		_ = json.Unmarshal(uri, &path)
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	attrs.Path = path
	return attrs
}

// levels in increasing order of detail.
var levels = []auditapi.Level{auditapi.LevelNone, auditapi.LevelMetadata, auditapi.LevelRequest, auditapi.LevelRequestResponse}

func rank(l auditapi.Level) int { return slices.Index(levels, l) }

// Evaluate decides what the policy does to the event.
func (e *Evaluator) Evaluate(ev *event.Event) Verdict {
	rc := e.eval.EvaluatePolicyRule(Attributes(ev))
	if rc.Level == auditapi.LevelNone || slices.Contains(rc.OmitStages, auditapi.Stage(ev.Stage)) {
		return Verdict{Drop: true, Level: auditapi.LevelNone}
	}
	level := rc.Level
	if logged := auditapi.Level(ev.Level); rank(logged) >= 0 && rank(logged) < rank(level) {
		level = logged
	}
	return Verdict{Level: level, OmitManagedFields: rc.OmitManagedFields}
}

// Apply rewrites the event's JSON for the verdict: the level, the bodies the
// level does not keep, managed fields. It returns raw itself and false when
// nothing changes.
func Apply(ev *event.Event, v Verdict) ([]byte, bool, error) {
	keepReq := rank(v.Level) >= rank(auditapi.LevelRequest)
	keepResp := v.Level == auditapi.LevelRequestResponse
	hasBodies := bytes.Contains(ev.Raw, []byte(`"requestObject"`)) || bytes.Contains(ev.Raw, []byte(`"responseObject"`))
	if string(ev.Level) == string(v.Level) && !hasBodies {
		return ev.Raw, false, nil // the common case: a Metadata event kept at Metadata
	}
	fields, err := jsonobject.Members(ev.Raw)
	if err != nil {
		return nil, false, err
	}
	changed := string(ev.Level) != string(v.Level)
	out := fields[:0]
	for _, f := range fields {
		switch f.Key {
		case "level":
			f.Value, _ = json.Marshal(string(v.Level))
		case "requestObject":
			if !keepReq {
				changed = true
				continue
			}
			if v.OmitManagedFields && string(ev.Verb) != "patch" { // a patch body is logged as sent
				f.Value, changed = stripManaged(f.Value, changed)
			}
		case "responseObject":
			if !keepResp {
				changed = true
				continue
			}
			if v.OmitManagedFields {
				f.Value, changed = stripManaged(f.Value, changed)
			}
		}
		out = append(out, f)
	}
	if !changed {
		return ev.Raw, false, nil
	}
	return jsonobject.Append(make([]byte, 0, len(ev.Raw)), out), true, nil
}

// stripManaged drops managed fields from a body that has them.
func stripManaged(body json.RawMessage, changed bool) (json.RawMessage, bool) {
	if !bytes.Contains(body, []byte(`"managedFields"`)) {
		return body, changed
	}
	out := withoutManagedFields(body)
	return out, changed || len(out) != len(body)
}

// withoutManagedFields removes metadata.managedFields from an object, from
// each item of a list and each row object of a Table, as the apiserver's
// copyWithoutManagedFields does. A body that is not an object is unchanged.
func withoutManagedFields(raw json.RawMessage) json.RawMessage {
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return raw
	}
	changed := dropMF(obj)
	if items, ok := obj["items"].([]any); ok {
		for _, it := range items {
			if m, ok := it.(map[string]any); ok {
				changed = dropMF(m) || changed
			}
		}
	}
	if rows, ok := obj["rows"].([]any); ok && obj["kind"] == "Table" {
		for _, r := range rows {
			if row, ok := r.(map[string]any); ok {
				if o, ok := row["object"].(map[string]any); ok {
					changed = dropMF(o) || changed
				}
			}
		}
	}
	if !changed {
		return raw
	}
	out, err := jsonobject.Marshal(obj)
	if err != nil {
		return raw
	}
	return out
}

func dropMF(obj map[string]any) bool {
	md, ok := obj["metadata"].(map[string]any)
	if !ok {
		return false
	}
	if _, ok := md["managedFields"]; !ok {
		return false
	}
	delete(md, "managedFields")
	return true
}
