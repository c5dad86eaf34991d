package splunkhec

import (
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs/internal/nametemplate"
)

// envelope renders HEC event envelopes:
//
//	{"time":1764127637.144351,"host":"…","source":"…","sourcetype":"…","index":"…","fields":{…},"event":<raw>}
//
// The constant members are JSON-encoded once; per event only the time and
// the templated fields are rendered, and the raw event is copied as is.
type envelope struct {
	constant []byte // ,"host":…,"index":… (after time, before fields)
	fields   []field
	scratch  []byte
}

type field struct {
	key  []byte // "name":
	tmpl *nametemplate.Template
}

func newEnvelope(host, source, sourcetype, index string, fields map[string]*nametemplate.Template) *envelope {
	e := &envelope{}
	for _, kv := range [][2]string{{"host", host}, {"source", source}, {"sourcetype", sourcetype}, {"index", index}} {
		if kv[1] == "" {
			continue
		}
		if len(e.constant) > 0 {
			e.constant = append(e.constant, ',')
		}
		e.constant = appendJSONString(e.constant, kv[0])
		e.constant = append(e.constant, ':')
		e.constant = appendJSONString(e.constant, kv[1])
	}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		key := append(appendJSONString(nil, k), ':')
		e.fields = append(e.fields, field{key: key, tmpl: fields[k]})
	}
	return e
}

// append appends ev's envelope to dst; an event without a parseable
// stageTimestamp gets no time (HEC then uses its arrival time). Not safe for
// concurrent use (scratch).
func (e *envelope) append(dst []byte, ev *event.Event) []byte {
	dst = append(dst, '{')
	more := false // a member was written: the next needs a comma
	if t, ok := epoch(ev.Meta.StageTimestamp); ok {
		dst = append(dst, `"time":`...)
		dst = t.appendTo(dst)
		more = true
	}
	if len(e.constant) > 0 {
		if more {
			dst = append(dst, ',')
		}
		dst = append(dst, e.constant...)
		more = true
	}
	open := false
	for i := range e.fields {
		f := &e.fields[i]
		e.scratch = f.tmpl.Append(e.scratch[:0], &ev.Meta)
		if len(e.scratch) == 0 {
			continue
		}
		switch {
		case open:
			dst = append(dst, ',')
		case more:
			dst = append(dst, `,"fields":{`...)
		default:
			dst = append(dst, `"fields":{`...)
		}
		open, more = true, true
		dst = append(dst, f.key...)
		dst = appendJSONBytes(dst, e.scratch)
	}
	if open {
		dst = append(dst, '}')
	}
	if more {
		dst = append(dst, ',')
	}
	dst = append(dst, `"event":`...)
	dst = append(dst, ev.Raw...)
	return append(dst, '}')
}

// overhead is an upper estimate of an envelope's size less the event, for
// the factory's Limits.
const overhead = 256

type epochTime struct{ sec, usec int64 }

func epochOf(t time.Time) epochTime { return epochTime{t.Unix(), int64(t.Nanosecond() / 1000)} }

func (t epochTime) appendTo(dst []byte) []byte {
	dst = strconv.AppendInt(dst, t.sec, 10)
	dst = append(dst, '.')
	u := strconv.AppendInt(make([]byte, 0, 8), t.usec, 10)
	for range 6 - len(u) {
		dst = append(dst, '0')
	}
	return append(dst, u...)
}

// epoch converts an RFC 3339 stageTimestamp to seconds and microseconds.
func epoch(ts []byte) (epochTime, bool) {
	if len(ts) == 0 {
		return epochTime{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return epochTime{}, false
	}
	return epochOf(t), true
}

const hex = "0123456789abcdef"

func appendJSONString(dst []byte, s string) []byte { return appendJSONBytes(dst, []byte(s)) }

// appendJSONBytes appends s as a JSON string (invalid UTF-8 becomes U+FFFD).
func appendJSONBytes(dst, s []byte) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return append(dst, '"')
}
