// Package truncate owns kube-apiserver's own way of shrinking an audit event
// that is too large for its sink: drop requestObject and responseObject and
// add the annotation "audit.k8s.io/truncated": "true" (k8s.io/apiserver
// plugin/pkg/audit/truncate). Outputs use it for their oversize policy and
// the truncate processor for its size cap.
package truncate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Annotation is the annotation kube-apiserver adds to a truncated event; its
// value is "true".
const Annotation = "audit.k8s.io/truncated"

// ErrTooLarge is wrapped by Truncate's error when the event is still larger
// than the limit after truncation (kube-apiserver then drops the event).
var ErrTooLarge = errors.New("audit event too large even truncated")

// Truncate returns raw itself when len(raw) <= max. Otherwise it returns a
// new JSON object without the top-level requestObject and responseObject
// members and with annotations["audit.k8s.io/truncated"] = "true" (the
// annotations object is created when absent), keeping the other members,
// their order and their bytes as they were. Its error wraps ErrTooLarge when
// the result is still longer than max, and says why when raw is not a JSON
// object.
func Truncate(raw []byte, max int) ([]byte, error) {
	if len(raw) <= max {
		return raw, nil
	}
	out, err := Strip(raw)
	if err != nil {
		return nil, err
	}
	if len(out) > max {
		return nil, fmt.Errorf("%w: %d bytes, %d without requestObject and responseObject, limit %d",
			ErrTooLarge, len(raw), len(out), max)
	}
	return out, nil
}

// Strip truncates raw regardless of its size (see Truncate).
func Strip(raw []byte) ([]byte, error) {
	ms, err := members(raw)
	if err != nil {
		return nil, fmt.Errorf("truncate audit event: %w", err)
	}
	out := make([]byte, 0, len(raw)/2)
	out = append(out, '{')
	n := 0
	annotated := false
	for _, m := range ms {
		switch m.key {
		case "requestObject", "responseObject":
			continue
		case "annotations":
			if m.value, err = annotate(m.value); err != nil {
				return nil, fmt.Errorf("truncate audit event: annotations: %w", err)
			}
			annotated = true
		}
		out = appendMember(out, n, m.key, m.value)
		n++
	}
	if !annotated {
		out = appendMember(out, n, "annotations", []byte(`{"`+Annotation+`":"true"}`))
	}
	return append(out, '}'), nil
}

type member struct {
	key   string
	value json.RawMessage
}

// members returns the members of the JSON object raw, in order, with their
// values' bytes as written.
func members(raw []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	var ms []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		ms = append(ms, member{key, v})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("garbage after the closing brace")
	}
	return ms, nil
}

// annotate sets Annotation to "true" in the annotations object v (null
// counts as empty).
func annotate(v json.RawMessage) (json.RawMessage, error) {
	if string(bytes.TrimSpace(v)) == "null" {
		return json.RawMessage(`{"` + Annotation + `":"true"}`), nil
	}
	ms, err := members(v)
	if err != nil {
		return nil, err
	}
	out := []byte{'{'}
	n := 0
	for _, m := range ms {
		if m.key == Annotation {
			continue
		}
		out = appendMember(out, n, m.key, m.value)
		n++
	}
	out = appendMember(out, n, Annotation, []byte(`"true"`))
	return append(out, '}'), nil
}

func appendMember(out []byte, n int, key string, value []byte) []byte {
	if n > 0 {
		out = append(out, ',')
	}
	out = appendString(out, key)
	out = append(out, ':')
	return append(out, value...)
}

// appendString appends s as a JSON string without HTML escaping.
func appendString(out []byte, s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return append(out, bytes.TrimSuffix(b.Bytes(), []byte{'\n'})...)
}
