package redact

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/event/jsonobject"
)

// Annotation is added to every event the redactor changed; its value lists
// the redacted fields, comma-separated, list indexes shown as "*".
const Annotation = "kubetrail.io/redacted"

// DefaultMarker replaces a redacted value when no HMAC key is configured.
const DefaultMarker = "[REDACTED]"

// Redactor finds and replaces credential values in audit events. It is safe
// for concurrent use.
type Redactor struct {
	targets []*target
	marker  string
	key     []byte // HMAC-SHA256 key; nil: the fixed marker
}

// NewRedactor builds a redactor for the built-in targets (when secrets is
// true) and the user's rules. With a non-empty key, values are replaced by
// "hmac-sha256:<hex>" of the value instead of the marker.
func NewRedactor(secrets bool, rules []Rule, marker string, key []byte) *Redactor {
	r := &Redactor{marker: marker, key: key}
	if r.marker == "" {
		r.marker = DefaultMarker
	}
	if secrets {
		r.targets = builtinTargets()
	}
	for _, rule := range rules {
		r.targets = append(r.targets, rule.target())
	}
	return r
}

// match returns the target the event's objectRef names, if any. It reads
// only the extracted fields: events of other resources are never decoded.
func (r *Redactor) match(m *event.Meta) *target {
	ref := &m.ObjectRef
	for _, t := range r.targets {
		if string(ref.Resource) == t.resource && string(ref.APIGroup) == t.group &&
			(t.subresource == "" || string(ref.Subresource) == t.subresource) {
			return t
		}
	}
	return nil
}

// Redact returns the event's JSON with every credential value replaced and
// the annotation added, or raw itself and false when the event's resource
// carries no credentials or its objects hold none. It fails closed: an
// object that cannot be parsed (a malformed patch body) is replaced whole.
// The error is returned only for an event whose top level is not a JSON
// object; the caller must not pass such an event on.
func (r *Redactor) Redact(raw []byte, m *event.Meta) ([]byte, bool, error) {
	t := r.match(m)
	if t == nil {
		return raw, false, nil
	}
	if !bytes.Contains(raw, []byte(`"requestObject"`)) && !bytes.Contains(raw, []byte(`"responseObject"`)) {
		return raw, false, nil // Metadata level: no body to redact
	}
	fields, err := jsonobject.Members(raw)
	if err != nil {
		return nil, false, fmt.Errorf("redact: %w", err)
	}
	st := &walk{r: r, t: t, patch: string(m.Verb) == "patch"}
	for i := range fields {
		if k := fields[i].Key; k == "requestObject" || k == "responseObject" {
			st.top = k
			fields[i].Value = st.object(fields[i].Value, st.patch && k == "requestObject")
		}
	}
	if len(st.redacted) == 0 {
		return raw, false, nil
	}
	slices.Sort(st.redacted)
	st.redacted = slices.Compact(st.redacted)
	if fields, err = jsonobject.SetAnnotation(fields, Annotation, strings.Join(st.redacted, ",")); err != nil {
		return nil, false, fmt.Errorf("redact: annotations: %w", err)
	}
	return jsonobject.Append(make([]byte, 0, len(raw)+64), fields), true, nil
}

// walk is one event's redaction.
type walk struct {
	r        *Redactor
	t        *target
	patch    bool
	top      string   // "requestObject" or "responseObject"
	redacted []string // paths redacted, for the annotation
}

// object redacts one of the event's objects. A patch request body may be a
// JSON patch (an array of operations); anything else must be a JSON object.
func (w *walk) object(raw json.RawMessage, maybeJSONPatch bool) json.RawMessage {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return raw
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return w.whole(raw)
	}
	changed := false
	switch obj := v.(type) {
	case map[string]any:
		changed = w.inObject(obj, w.top)
	case []any:
		if !maybeJSONPatch {
			return w.whole(raw)
		}
		var ok bool
		changed, ok = w.jsonPatch(obj)
		if !ok {
			return w.whole(raw)
		}
	default:
		return w.whole(raw)
	}
	if !changed {
		return raw
	}
	out, err := jsonobject.Marshal(v)
	if err != nil {
		return w.whole(raw)
	}
	return out
}

// whole replaces an object that could not be parsed: fail closed.
func (w *walk) whole(raw json.RawMessage) json.RawMessage {
	w.redacted = append(w.redacted, w.top)
	out, _ := json.Marshal(w.replacement(raw, false))
	return out
}

// inObject redacts the target's paths in an object, in each item of a list
// (SecretList) and inside the last-applied-configuration annotation.
func (w *walk) inObject(obj map[string]any, at string) bool {
	changed := false
	if items, ok := obj["items"].([]any); ok {
		for _, it := range items {
			if m, ok := it.(map[string]any); ok {
				changed = w.inObject(m, at+".items[*]") || changed
			}
		}
	}
	for _, p := range w.t.paths {
		changed = w.path(obj, p, at, w.t.base64Paths[p[0]]) || changed
	}
	if w.t.lastApplied {
		changed = w.lastApplied(obj, at) || changed
	}
	return changed
}

// path redacts the value at p under v.
func (w *walk) path(v any, p []string, at string, b64 bool) bool {
	if len(p) == 0 {
		return false
	}
	seg, rest := p[0], p[1:]
	switch c := v.(type) {
	case map[string]any:
		if seg == "*" {
			changed := false
			for k := range c {
				changed = w.at(c, k, rest, at+".*", b64) || changed
			}
			return changed
		}
		if _, ok := c[seg]; !ok {
			return false
		}
		return w.at(c, seg, rest, at+"."+seg, b64)
	case []any:
		if seg != "*" {
			return false
		}
		changed := false
		for i := range c {
			if len(rest) == 0 {
				if nv, ch := w.value(c[i], b64); ch {
					c[i] = nv
					changed = true
					w.redacted = append(w.redacted, at+"[*]")
				}
				continue
			}
			changed = w.path(c[i], rest, at+"[*]", b64) || changed
		}
		return changed
	}
	return false
}

// at redacts m[k] when rest is empty, else descends.
func (w *walk) at(m map[string]any, k string, rest []string, where string, b64 bool) bool {
	if len(rest) > 0 {
		return w.path(m[k], rest, where, b64)
	}
	nv, changed := w.value(m[k], b64)
	if changed {
		m[k] = nv
		w.redacted = append(w.redacted, where)
	}
	return changed
}

// value redacts a value whole: every value of a map (keys stay), every item
// of a list, a scalar itself. null stays null.
func (w *walk) value(v any, b64 bool) (any, bool) {
	switch c := v.(type) {
	case nil:
		return nil, false
	case map[string]any:
		changed := false
		for k, x := range c {
			if nv, ch := w.value(x, b64); ch {
				c[k] = nv
				changed = true
			}
		}
		return c, changed
	case []any:
		changed := false
		for i, x := range c {
			if nv, ch := w.value(x, b64); ch {
				c[i] = nv
				changed = true
			}
		}
		return c, changed
	case string:
		return w.replacement([]byte(c), b64), true
	case json.Number:
		return w.replacement([]byte(c), false), true
	case bool:
		return w.replacement([]byte(strconv.FormatBool(c)), false), true
	}
	return w.replacement([]byte(fmt.Sprint(v)), false), true
}

// replacement is what a redacted value becomes: the marker, or the HMAC of
// the value (of the decoded bytes for base64 values).
func (w *walk) replacement(val []byte, b64 bool) string {
	if w.r.key == nil {
		return w.r.marker
	}
	if b64 {
		if d, err := base64.StdEncoding.DecodeString(string(val)); err == nil {
			val = d
		}
	}
	mac := hmac.New(sha256.New, w.r.key)
	mac.Write(val)
	return "hmac-sha256:" + hex.EncodeToString(mac.Sum(nil))
}

// lastApplied redacts the target's paths inside the JSON string of the
// last-applied-configuration annotation; a value that does not parse is
// replaced whole.
func (w *walk) lastApplied(obj map[string]any, at string) bool {
	md, _ := obj["metadata"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	s, ok := ann[lastApplied].(string)
	if !ok {
		return false
	}
	where := at + ".metadata.annotations." + lastApplied
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var inner map[string]any
	if err := dec.Decode(&inner); err != nil || inner == nil {
		ann[lastApplied] = w.replacement([]byte(s), false)
		w.redacted = append(w.redacted, where)
		return true
	}
	sub := &walk{r: w.r, t: w.t}
	changed := false
	for _, p := range w.t.paths {
		changed = sub.path(inner, p, where, w.t.base64Paths[p[0]]) || changed
	}
	if !changed {
		return false
	}
	out, err := jsonobject.Marshal(inner)
	if err != nil {
		ann[lastApplied] = w.replacement([]byte(s), false)
	} else {
		ann[lastApplied] = string(bytes.TrimSpace(out))
	}
	w.redacted = append(w.redacted, sub.redacted...)
	return true
}

// jsonPatch redacts the values of JSON patch operations (RFC 6902) that
// write under one of the target's paths, or write a parent of one (then the
// rest of the path is redacted inside the value). ok is false when the
// array is not a JSON patch: the caller then fails closed.
func (w *walk) jsonPatch(ops []any) (changed, ok bool) {
	for i, o := range ops {
		op, isMap := o.(map[string]any)
		if !isMap {
			return false, false
		}
		path, isStr := op["path"].(string)
		if !isStr {
			return false, false
		}
		if _, has := op["value"]; !has {
			continue // remove, move, copy: no value
		}
		segs := pointer(path)
		where := fmt.Sprintf("%s[%d].value", w.top, i)
		for _, p := range w.t.paths {
			if hasPrefix(segs, p) { // writes at or under a secret field
				if nv, ch := w.value(op["value"], w.t.base64Paths[p[0]]); ch {
					op["value"] = nv
					changed = true
					w.redacted = append(w.redacted, where)
				}
				break
			}
			if hasPrefix(p, segs) { // writes a parent object holding it
				changed = w.path(op["value"], p[len(segs):], where, w.t.base64Paths[p[0]]) || changed
				if len(segs) == 0 {
					if m, isObj := op["value"].(map[string]any); isObj && w.t.lastApplied {
						changed = w.lastApplied(m, where) || changed
					}
				}
			}
		}
		if w.t.lastApplied {
			changed = w.patchLastApplied(op, segs, where) || changed
		}
	}
	return changed, true
}

// patchLastApplied handles JSON patch operations that write the
// last-applied-configuration annotation or the annotations map holding it.
func (w *walk) patchLastApplied(op map[string]any, segs []string, where string) bool {
	switch {
	case slices.Equal(segs, []string{"metadata", "annotations", lastApplied}):
		s, _ := op["value"].(string)
		holder := map[string]any{"metadata": map[string]any{"annotations": map[string]any{lastApplied: s}}}
		if _, isStr := op["value"].(string); !isStr {
			op["value"] = w.replacement(nil, false)
			w.redacted = append(w.redacted, where)
			return true
		}
		if !w.lastApplied(holder, where) {
			return false
		}
		op["value"] = holder["metadata"].(map[string]any)["annotations"].(map[string]any)[lastApplied]
		return true
	case slices.Equal(segs, []string{"metadata", "annotations"}):
		holder := map[string]any{"metadata": map[string]any{"annotations": op["value"]}}
		return w.lastApplied(holder, where)
	case slices.Equal(segs, []string{"metadata"}):
		holder := map[string]any{"metadata": op["value"]}
		return w.lastApplied(holder, where)
	}
	return false
}

// pointer splits a JSON pointer (RFC 6901) into unescaped segments; list
// indexes and "-" become "*" so they match wildcard paths.
func pointer(p string) []string {
	if p == "" || p == "/" {
		return nil
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range parts {
		s = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
		if _, err := strconv.Atoi(s); err == nil || s == "-" {
			s = "*"
		}
		parts[i] = s
	}
	return parts
}

// hasPrefix reports whether path starts with prefix, "*" matching any segment.
func hasPrefix(path, prefix []string) bool {
	if len(prefix) > len(path) {
		return false
	}
	for i, s := range prefix {
		if s != path[i] && s != "*" && path[i] != "*" {
			return false
		}
	}
	return true
}
