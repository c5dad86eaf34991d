package cloudwatch

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/kubetrail/kubetrail/event"
)

// TODO(shared): replace this template with outputs/internal/nametemplate once
// it is on main; the syntax below is the one it specifies.

// streamTemplate renders a log stream name from an event: literal text and
// {field} or {field|fallback} references to the event's extracted fields.
type streamTemplate struct {
	parts []streamPart
}

type streamPart struct {
	literal  string
	field    func(m *event.Meta) []byte // nil for a literal
	fallback string
}

var streamFields = map[string]func(m *event.Meta) []byte{
	"auditID":               func(m *event.Meta) []byte { return m.AuditID },
	"stage":                 func(m *event.Meta) []byte { return m.Stage },
	"level":                 func(m *event.Meta) []byte { return m.Level },
	"verb":                  func(m *event.Meta) []byte { return m.Verb },
	"user.username":         func(m *event.Meta) []byte { return m.Username },
	"objectRef.resource":    func(m *event.Meta) []byte { return m.ObjectRef.Resource },
	"objectRef.subresource": func(m *event.Meta) []byte { return m.ObjectRef.Subresource },
	"objectRef.namespace":   func(m *event.Meta) []byte { return m.ObjectRef.Namespace },
	"objectRef.name":        func(m *event.Meta) []byte { return m.ObjectRef.Name },
	"objectRef.apiGroup":    func(m *event.Meta) []byte { return m.ObjectRef.APIGroup },
}

// parseStreamTemplate parses s; "" is a valid template that renders "".
func parseStreamTemplate(s string) (*streamTemplate, error) {
	t := &streamTemplate{}
	for s != "" {
		open := strings.IndexByte(s, '{')
		if open < 0 {
			t.parts = append(t.parts, streamPart{literal: s})
			break
		}
		if open > 0 {
			t.parts = append(t.parts, streamPart{literal: s[:open]})
		}
		end := strings.IndexByte(s[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("%q: unclosed {", s)
		}
		ref := s[open+1 : open+end]
		name, fallback, _ := strings.Cut(ref, "|")
		f, ok := streamFields[name]
		if !ok {
			return nil, fmt.Errorf("{%s}: unknown field %q (known: auditID, stage, level, verb, user.username, objectRef.resource, objectRef.subresource, objectRef.namespace, objectRef.name, objectRef.apiGroup)", ref, name)
		}
		t.parts = append(t.parts, streamPart{field: f, fallback: fallback})
		s = s[open+end+1:]
	}
	for _, p := range t.parts {
		if strings.ContainsAny(p.literal+p.fallback, ":*") {
			return nil, fmt.Errorf("%q: log stream names cannot contain ':' or '*'", p.literal+p.fallback)
		}
	}
	return t, nil
}

// constant reports whether the template has no field reference, and its
// text.
func (t *streamTemplate) constant() (string, bool) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.field != nil {
			return "", false
		}
		b.WriteString(p.literal)
	}
	return b.String(), true
}

// render appends the stream name of m to dst. Characters CloudWatch Logs
// does not allow in stream names (':' and '*', which usernames such as
// system:serviceaccount:... hold) become '_'; names are cut to 512 bytes.
func (t *streamTemplate) render(dst []byte, m *event.Meta) []byte {
	start := len(dst)
	for _, p := range t.parts {
		if p.field == nil {
			dst = append(dst, p.literal...)
			continue
		}
		v := p.field(m)
		if len(v) == 0 {
			dst = append(dst, p.fallback...)
			continue
		}
		dst = append(dst, v...)
	}
	name := dst[start:]
	for i, c := range name {
		if c == ':' || c == '*' {
			name[i] = '_'
		}
	}
	if len(name) > maxStreamName {
		dst = dst[:start+maxStreamName]
	}
	if len(dst) == start {
		dst = append(dst, "unknown"...)
	}
	return dst
}

const maxStreamName = 512

// sanitizeStream applies render's rules to a fixed name.
func sanitizeStream(s string) string {
	b := []byte(s)
	b = bytes.Map(func(r rune) rune {
		if r == ':' || r == '*' {
			return '_'
		}
		return r
	}, b)
	if len(b) > maxStreamName {
		b = b[:maxStreamName]
	}
	if len(b) == 0 {
		return "unknown"
	}
	return string(b)
}
