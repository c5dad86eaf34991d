// Package nametemplate owns the one syntax for names an output derives from
// an event (Kafka topic, Elasticsearch index, CloudWatch log stream, ...):
// literal text with {field} references to the fields the pipeline already
// extracted (event.Meta; the event is never fully decoded), an optional
// fallback per reference, and dates from stageTimestamp.
//
//	audit-{objectRef.namespace|cluster-scoped}     one topic per namespace
//	kubetrail-{date:YYYY.MM.DD}                    a daily index (UTC)
//	{user.username}/{verb}
//
// A reference is {FIELD} or {FIELD|FALLBACK}. FIELD is one of auditID,
// stage, level, verb, user.username, objectRef.resource,
// objectRef.subresource, objectRef.namespace, objectRef.name,
// objectRef.apiGroup, responseStatus.code, or date:LAYOUT, where LAYOUT is
// text with YYYY, MM, DD and HH replaced by stageTimestamp's UTC year,
// month, day and hour. An absent or empty field renders as its FALLBACK (or
// nothing); a date without a parseable stageTimestamp renders as its
// FALLBACK, or from the current time when there is none. Braces cannot
// appear literally.
//
// Templates are parsed at config load (Parse's errors are config errors)
// and rendered by appending to a []byte (no allocation once dst has room).
package nametemplate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kubetrail/kubetrail/event"
)

// Options adapt a template to the names one sink accepts.
type Options struct {
	// Valid reports whether a byte may appear in a name. Literal text and
	// fallbacks must be valid (else Parse fails); bytes of field values that
	// are not are replaced by Replacement. nil accepts every byte.
	Valid func(c byte) bool
	// Replacement replaces invalid bytes of field values; default '_'.
	Replacement byte
	// Lower lowercases field values (Elasticsearch index names).
	Lower bool
}

// Fields lists the field names a template may reference (besides date:).
var Fields = []string{
	"auditID", "stage", "level", "verb", "user.username",
	"objectRef.resource", "objectRef.subresource", "objectRef.namespace",
	"objectRef.name", "objectRef.apiGroup", "responseStatus.code",
}

type kind uint8

const (
	literal kind = iota
	field
	date
	code
)

type part struct {
	kind     kind
	text     string                   // literal text; date layout
	get      func(*event.Meta) []byte // field
	fallback string
}

// Template is a parsed name template. It is immutable and safe for
// concurrent use.
type Template struct {
	text  string
	parts []part
	opts  Options
	now   func() time.Time
}

// Parse parses text. Its errors name the offending reference.
func Parse(text string, opts Options) (*Template, error) {
	if opts.Replacement == 0 {
		opts.Replacement = '_'
	}
	t := &Template{text: text, opts: opts, now: time.Now}
	if text == "" {
		return nil, errors.New("is empty")
	}
	rest := text
	for rest != "" {
		open := strings.IndexAny(rest, "{}")
		if open < 0 {
			open = len(rest)
		}
		if open > 0 {
			if err := t.checkLiteral(rest[:open]); err != nil {
				return nil, err
			}
			t.parts = append(t.parts, part{kind: literal, text: rest[:open]})
			rest = rest[open:]
			continue
		}
		if rest[0] == '}' {
			return nil, fmt.Errorf("%q: unmatched }", text)
		}
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			return nil, fmt.Errorf("%q: unterminated {", text)
		}
		ref := rest[1:end]
		rest = rest[end+1:]
		if strings.ContainsRune(ref, '{') {
			return nil, fmt.Errorf("%q: nested {", text)
		}
		p, err := t.parseRef(ref)
		if err != nil {
			return nil, fmt.Errorf("{%s}: %w", ref, err)
		}
		t.parts = append(t.parts, p)
	}
	return t, nil
}

// dateTokens turns a date layout into the shape of what it renders.
var dateTokens = strings.NewReplacer("YYYY", "0000", "MM", "00", "DD", "00", "HH", "00")

func (t *Template) checkLiteral(s string) error {
	if t.opts.Valid == nil {
		return nil
	}
	for i := 0; i < len(s); i++ {
		if !t.opts.Valid(s[i]) {
			return fmt.Errorf("%q: character %q is not allowed in this name", t.text, s[i])
		}
	}
	return nil
}

func (t *Template) parseRef(ref string) (part, error) {
	name, fallback, hasFallback := strings.Cut(ref, "|")
	if hasFallback {
		if fallback == "" {
			return part{}, errors.New("empty fallback after |")
		}
		if err := t.checkLiteral(fallback); err != nil {
			return part{}, err
		}
	}
	if layout, ok := strings.CutPrefix(name, "date:"); ok {
		if !strings.Contains(layout, "YYYY") && !strings.Contains(layout, "MM") &&
			!strings.Contains(layout, "DD") && !strings.Contains(layout, "HH") {
			return part{}, errors.New("date layout has none of YYYY, MM, DD, HH")
		}
		// What the layout renders to must be valid: its tokens are digits.
		if err := t.checkLiteral(dateTokens.Replace(layout)); err != nil {
			return part{}, err
		}
		return part{kind: date, text: layout, fallback: fallback}, nil
	}
	if name == "responseStatus.code" {
		return part{kind: code, fallback: fallback}, nil
	}
	get := getter(name)
	if get == nil {
		return part{}, fmt.Errorf("unknown field %q (use one of %s, or date:LAYOUT)", name, strings.Join(Fields, ", "))
	}
	return part{kind: field, get: get, fallback: fallback}, nil
}

func getter(name string) func(*event.Meta) []byte {
	switch name {
	case "auditID":
		return func(m *event.Meta) []byte { return m.AuditID }
	case "stage":
		return func(m *event.Meta) []byte { return m.Stage }
	case "level":
		return func(m *event.Meta) []byte { return m.Level }
	case "verb":
		return func(m *event.Meta) []byte { return m.Verb }
	case "user.username":
		return func(m *event.Meta) []byte { return m.Username }
	case "objectRef.resource":
		return func(m *event.Meta) []byte { return m.ObjectRef.Resource }
	case "objectRef.subresource":
		return func(m *event.Meta) []byte { return m.ObjectRef.Subresource }
	case "objectRef.namespace":
		return func(m *event.Meta) []byte { return m.ObjectRef.Namespace }
	case "objectRef.name":
		return func(m *event.Meta) []byte { return m.ObjectRef.Name }
	case "objectRef.apiGroup":
		return func(m *event.Meta) []byte { return m.ObjectRef.APIGroup }
	}
	return nil
}

// String returns the template as written.
func (t *Template) String() string { return t.text }

// Static reports whether the template references no field, so every event
// renders the same name (then Append ignores its Meta).
func (t *Template) Static() bool {
	for _, p := range t.parts {
		if p.kind != literal {
			return false
		}
	}
	return true
}

// Append appends the name m renders to dst.
func (t *Template) Append(dst []byte, m *event.Meta) []byte {
	for i := range t.parts {
		p := &t.parts[i]
		switch p.kind {
		case literal:
			dst = append(dst, p.text...)
		case field:
			v := p.get(m)
			if len(v) == 0 {
				dst = append(dst, p.fallback...)
				continue
			}
			dst = t.appendValue(dst, v)
		case code:
			if m.Code == 0 {
				dst = append(dst, p.fallback...)
				continue
			}
			dst = strconv.AppendInt(dst, int64(m.Code), 10)
		case date:
			dst = t.appendDate(dst, p, m.StageTimestamp)
		}
	}
	return dst
}

func (t *Template) appendValue(dst, v []byte) []byte {
	for _, c := range v {
		if t.opts.Lower && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if t.opts.Valid != nil && !t.opts.Valid(c) {
			c = t.opts.Replacement
		}
		dst = append(dst, c)
	}
	return dst
}

// appendDate renders p's layout from ts, an RFC 3339 timestamp. The
// apiserver writes UTC ("...Z"), read without parsing; anything else is
// parsed and converted to UTC.
func (t *Template) appendDate(dst []byte, p *part, ts []byte) []byte {
	var y, mo, d, h []byte
	if len(ts) >= 20 && ts[len(ts)-1] == 'Z' && ts[4] == '-' && ts[7] == '-' && ts[10] == 'T' && digits(ts[0:4], ts[5:7], ts[8:10], ts[11:13]) {
		y, mo, d, h = ts[0:4], ts[5:7], ts[8:10], ts[11:13]
	} else {
		tm, err := time.Parse(time.RFC3339Nano, string(ts))
		if err != nil {
			if p.fallback != "" {
				return append(dst, p.fallback...)
			}
			tm = t.now()
		}
		s := tm.UTC().Format("2006010215")
		y, mo, d, h = []byte(s[0:4]), []byte(s[4:6]), []byte(s[6:8]), []byte(s[8:10])
	}
	l := p.text
	for len(l) > 0 {
		switch {
		case strings.HasPrefix(l, "YYYY"):
			dst, l = append(dst, y...), l[4:]
		case strings.HasPrefix(l, "MM"):
			dst, l = append(dst, mo...), l[2:]
		case strings.HasPrefix(l, "DD"):
			dst, l = append(dst, d...), l[2:]
		case strings.HasPrefix(l, "HH"):
			dst, l = append(dst, h...), l[2:]
		default:
			dst, l = append(dst, l[0]), l[1:]
		}
	}
	return dst
}

func digits(bs ...[]byte) bool {
	for _, b := range bs {
		for _, c := range b {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}
