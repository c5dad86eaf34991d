package elasticsearch

// TODO(shared pieces): replace with outputs/internal/nametemplate when it is
// on main; this is the subset the index name needs.

import (
	"fmt"
	"strings"
	"time"

	"github.com/kubetrail/kubetrail/event"
)

// nameTemplate renders an index or data stream name from an event's Meta:
// literal text, {field} or {field|fallback} for a Meta field, and
// {stageTimestamp:LAYOUT} for the event's time in UTC with a Go layout
// (e.g. {stageTimestamp:2006.01.02}). Rendered names are lowercased and
// characters an index name may not hold become '_'.
type nameTemplate struct {
	parts []namePart
}

type namePart struct {
	lit      string
	field    func(*event.Meta) []byte // nil: literal
	fallback string
	layout   string // for stageTimestamp
}

var nameFields = map[string]func(*event.Meta) []byte{
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
	"stageTimestamp":        func(m *event.Meta) []byte { return m.StageTimestamp },
}

func parseName(s string) (*nameTemplate, error) {
	if s == "" {
		return nil, fmt.Errorf("is empty")
	}
	orig := s
	t := &nameTemplate{}
	for s != "" {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			t.parts = append(t.parts, namePart{lit: s})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, namePart{lit: s[:i]})
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("%q: unclosed {", s)
		}
		ref := s[i+1 : i+j]
		s = s[i+j+1:]
		var p namePart
		if name, layout, ok := strings.Cut(ref, ":"); ok {
			if name != "stageTimestamp" {
				return nil, fmt.Errorf("{%s}: only stageTimestamp takes a date layout", ref)
			}
			if layout == "" {
				return nil, fmt.Errorf("{%s}: empty date layout", ref)
			}
			p.layout = layout
			ref = name
		}
		name, fallback, _ := strings.Cut(ref, "|")
		f, ok := nameFields[name]
		if !ok {
			return nil, fmt.Errorf("{%s}: unknown field %q", ref, name)
		}
		p.field, p.fallback = f, fallback
		t.parts = append(t.parts, p)
	}
	for _, p := range t.parts {
		if strings.ContainsAny(p.lit, `\/*?"<>| ,#:`) || strings.ToLower(p.lit) != p.lit {
			return nil, fmt.Errorf("%q: an index name is lowercase and may not hold \\ / * ? \" < > | space , # :", orig)
		}
	}
	return t, nil
}

// constant reports whether the template has no field references.
func (t *nameTemplate) constant() bool {
	for _, p := range t.parts {
		if p.field != nil {
			return false
		}
	}
	return true
}

// pattern is the index pattern matching every name the template renders.
func (t *nameTemplate) pattern() string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.field == nil {
			b.WriteString(p.lit)
		} else if !strings.HasSuffix(b.String(), "*") {
			b.WriteByte('*')
		}
	}
	return strings.ToLower(b.String())
}

// render appends m's name to dst.
func (t *nameTemplate) render(dst []byte, m *event.Meta) []byte {
	for _, p := range t.parts {
		if p.field == nil {
			dst = append(dst, p.lit...)
			continue
		}
		v := p.field(m)
		if p.layout != "" {
			ts, err := time.Parse(time.RFC3339Nano, string(v))
			if err != nil {
				dst = append(dst, p.fallback...)
				continue
			}
			dst = ts.UTC().AppendFormat(dst, p.layout)
			continue
		}
		if len(v) == 0 {
			dst = append(dst, p.fallback...)
			continue
		}
		for _, c := range v {
			switch {
			case c >= 'A' && c <= 'Z':
				c += 'a' - 'A'
			case c < 0x20 || c >= 0x7f || strings.IndexByte(`\/*?"<>| ,#:`, c) >= 0:
				c = '_'
			}
			dst = append(dst, c)
		}
	}
	return dst
}
