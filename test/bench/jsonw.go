package bench

import (
	"strconv"
	"unicode/utf8"
)

// jw appends compact JSON to b, inserting commas itself. Keys are written
// as given (they must not need escaping); string values are escaped the way
// kube-apiserver's encoder escapes them (including <, > and & as \u00XX).
type jw struct {
	b     []byte
	comma bool // a value was just completed: the next one needs a comma
}

func (w *jw) sep() {
	if w.comma {
		w.b = append(w.b, ',')
	}
}

// key writes "k": (and the comma before it when needed).
func (w *jw) key(k string) {
	w.sep()
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
	w.comma = false
}

// open starts an object or array value ('{' or '[').
func (w *jw) open(c byte) {
	w.sep()
	w.b = append(w.b, c)
	w.comma = false
}

// close ends an object or array ('}' or ']').
func (w *jw) close(c byte) {
	w.b = append(w.b, c)
	w.comma = true
}

// obj starts the object value of key k.
func (w *jw) obj(k string) { w.key(k); w.open('{') }

// arr starts the array value of key k.
func (w *jw) arr(k string) { w.key(k); w.open('[') }

func (w *jw) str(s string) {
	w.sep()
	w.b = appendJSONString(w.b, s)
	w.comma = true
}

func (w *jw) int(n int64) {
	w.sep()
	w.b = strconv.AppendInt(w.b, n, 10)
	w.comma = true
}

func (w *jw) bool(v bool) {
	w.sep()
	w.b = strconv.AppendBool(w.b, v)
	w.comma = true
}

// raw writes an already encoded JSON value.
func (w *jw) raw(v []byte) {
	w.sep()
	w.b = append(w.b, v...)
	w.comma = true
}

func (w *jw) ks(k, v string)       { w.key(k); w.str(v) }
func (w *jw) ki(k string, v int64) { w.key(k); w.int(v) }
func (w *jw) kb(k string, v bool)  { w.key(k); w.bool(v) }

// empty writes "k":{}.
func (w *jw) empty(k string) { w.key(k); w.open('{'); w.close('}') }

// strs writes "k":[v...].
func (w *jw) strs(k string, vs ...string) {
	w.arr(k)
	for _, v := range vs {
		w.str(v)
	}
	w.close(']')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaping like encoding/json
// with HTML escaping (kube-apiserver's audit backend output).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\t':
				b = append(b, '\\', 't')
			case '\r':
				b = append(b, '\\', 'r')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
