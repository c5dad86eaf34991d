// Package jsonobject owns the one way kubetrail rewrites an audit event's
// JSON: split the top-level object into its members with their bytes as
// written, change the few members that need it, and join them back, so that
// every member nobody touched passes byte for byte and in order. Truncation,
// redaction and audit-policy stripping all go through it.
package jsonobject

import (
	"bytes"
	"encoding/json"

	"github.com/kubetrail/kubetrail/event/auditfields"
)

// Member is one top-level member of a JSON object: its key and its value's
// bytes as written.
type Member struct {
	Key   string
	Value json.RawMessage
}

// Members returns the members of the JSON object raw, in order. Values are
// views into raw (never written to): a rewrite allocates only what it
// changes. The scan is auditfields' fast one: values are checked
// structurally, as when the event was first read.
func Members(raw []byte) ([]Member, error) {
	ms := make([]Member, 0, 20)
	err := auditfields.EachMember(raw, func(key, value []byte) bool {
		ms = append(ms, Member{Key: string(key), Value: value})
		return true
	})
	if err != nil {
		return nil, err
	}
	return ms, nil
}

// Append appends the object made of ms to out.
func Append(out []byte, ms []Member) []byte {
	out = append(out, '{')
	for i, m := range ms {
		if i > 0 {
			out = append(out, ',')
		}
		out = AppendString(out, m.Key)
		out = append(out, ':')
		out = append(out, m.Value...)
	}
	return append(out, '}')
}

// AppendString appends s as a JSON string, escaped as encoding/json does
// without HTML escaping.
func AppendString(out []byte, s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return append(out, bytes.TrimSuffix(b.Bytes(), []byte{'\n'})...)
}

// SetAnnotation returns the members with annotations[key] = value, adding
// the annotations member when absent (null counts as empty). Other
// annotations keep their order and bytes.
func SetAnnotation(ms []Member, key, value string) ([]Member, error) {
	val := AppendString(nil, value)
	for i := range ms {
		if ms[i].Key != "annotations" {
			continue
		}
		if string(bytes.TrimSpace(ms[i].Value)) == "null" {
			ms[i].Value = Append(nil, []Member{{key, val}})
			return ms, nil
		}
		inner, err := Members(ms[i].Value)
		if err != nil {
			return nil, err
		}
		out := inner[:0]
		for _, m := range inner {
			if m.Key != key {
				out = append(out, m)
			}
		}
		ms[i].Value = Append(nil, append(out, Member{key, val}))
		return ms, nil
	}
	return append(ms, Member{"annotations", Append(nil, []Member{{key, val}})}), nil
}

// Marshal encodes v like kube-apiserver's audit backend (encoding/json, HTML
// escaping on), without a trailing newline.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}
