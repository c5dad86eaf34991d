package auditfields

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrMalformedEvent is wrapped by every error Extract returns.
var ErrMalformedEvent = errors.New("malformed audit event")

// MalformedEventError says what is wrong with an audit event's JSON and at
// which byte offset of the input. It wraps ErrMalformedEvent.
type MalformedEventError struct {
	Offset int    // byte offset in the input where the problem was detected
	Reason string // e.g. "unterminated string"
}

func (e *MalformedEventError) Error() string {
	return fmt.Sprintf("%v at byte %d: %s", ErrMalformedEvent, e.Offset, e.Reason)
}

// Unwrap returns ErrMalformedEvent.
func (e *MalformedEventError) Unwrap() error { return ErrMalformedEvent }

func exErr(off int, reason string) error {
	return &MalformedEventError{Offset: off, Reason: reason}
}

// Extract fills m from the audit event JSON in raw, a single JSON object with
// optional surrounding whitespace. It resets m first.
//
// Extract is a single-pass scanner: it parses the top-level object and the
// objects under "user", "objectRef" and "responseStatus", and skips every
// other value (requestObject, responseObject, annotations, ...) by tracking
// only strings and brackets, 64 bytes at a time for big values. It does not
// allocate unless an extracted string needs decoding (JSON escapes or invalid
// UTF-8: one allocation per such value), a key longer than 24 bytes has
// escapes, or a skipped value nests deeper than 256 levels.
//
// Semantics, chosen to agree with encoding/json decoding into
// map[string]any:
//   - keys are matched exactly (case-sensitive) after unescaping;
//   - a duplicated key: the last occurrence wins, and for "user",
//     "objectRef" and "responseStatus" the last object replaces the earlier
//     ones entirely (no merging);
//   - a null value counts as absent: the field is left empty (Code 0);
//   - a value of the wrong type (a number for verb, a string for user, a
//     non-integer or out-of-int32-range responseStatus.code) is an error;
//   - extracted strings are decoded like encoding/json does: escapes
//     including surrogate pairs, lone surrogates and invalid UTF-8 bytes
//     become U+FFFD. Absent fields are nil; "" is an empty non-nil slice.
//
// Slices in m are views into raw (with capacity clipped to their length)
// unless the value needed decoding; then they point into a new allocation.
//
// Validation: the top-level object and the three descended objects are
// checked against the JSON grammar (including number and literal syntax of
// values skipped at those levels, string escapes, control characters).
// Inside skipped strings and containers only the structure is checked:
// strings must be terminated and brackets balanced and matching. So Extract
// may accept input that json.Valid rejects only because of grammar inside a
// skipped value: a bad escape or a control character in a skipped string, a
// missing comma or colon, a bad literal or number inside a skipped array or
// object, or nesting deeper than encoding/json's 10000 levels.
//
// Errors are *MalformedEventError (wrapping ErrMalformedEvent) with an
// Offset within [0, len(raw)]; m is reset on error. Extract never panics and
// never reads outside raw.
func Extract(raw []byte, m *Meta) error {
	return extract(raw, m, nil)
}

// exSpan is the [Start, End) byte range of a value Extract skipped; only
// tests collect them.
type exSpan struct{ Start, End int }

// Object kinds Extract descends into.
const (
	exTop = iota
	exUser
	exObjectRef
	exResponseStatus
)

// extract is Extract; when skips is not nil it also records the span of every
// value skipped at a parsed level (for the fuzz test's oracle).
func extract(raw []byte, m *Meta, skips *[]exSpan) error {
	*m = Meta{}
	i := exSkipWS(raw, 0)
	if i >= len(raw) {
		return exErr(i, "empty input")
	}
	if raw[i] != '{' {
		return exErr(i, "not a JSON object")
	}
	i, err := exObject(raw, i, exTop, m, skips)
	if err == nil {
		if i = exSkipWS(raw, i); i != len(raw) {
			err = exErr(i, "garbage after the closing brace")
		}
	}
	if err != nil {
		*m = Meta{}
	}
	return err
}

// exObject parses the object starting at s[i] == '{' of the given kind,
// storing the fields of interest in m, and returns the index just past its
// closing brace.
func exObject(s []byte, i, kind int, m *Meta, skips *[]exSpan) (int, error) {
	i = exSkipWS(s, i+1)
	if i >= len(s) {
		return 0, exErr(i, "unexpected end of input in object")
	}
	if s[i] == '}' {
		return i + 1, nil
	}
	var keyBuf [24]byte
	for {
		if s[i] != '"' {
			return 0, exErr(i, "expected a string key")
		}
		var key []byte
		var next int
		var err error
		// Fast path for plain keys of up to 15 bytes: two words.
		if k := i + 1; k+16 <= len(s) {
			v := binary.LittleEndian.Uint64(s[k:])
			if mk := exStringSpecial(v); mk != 0 {
				if j := k + bits.TrailingZeros64(mk)>>3; s[j] == '"' {
					key, next = s[k:j], j+1
				}
			} else if mk := exStringSpecial(binary.LittleEndian.Uint64(s[k+8:])); mk != 0 {
				if j := k + 8 + bits.TrailingZeros64(mk)>>3; s[j] == '"' {
					key, next = s[k:j], j+1
				}
			}
		}
		if next == 0 {
			if key, next, err = exString(s, i, keyBuf[:0]); err != nil {
				return 0, err
			}
		}
		i = exSkipWS(s, next)
		if i >= len(s) {
			return 0, exErr(i, "unexpected end of input after key")
		}
		if s[i] != ':' {
			return 0, exErr(i, "expected ':' after key")
		}
		i = exSkipWS(s, i+1)
		if i >= len(s) {
			return 0, exErr(i, "unexpected end of input, expected a value")
		}

		var dst *[]byte // string field to fill
		sub := -1       // object kind to descend into
		code := false
		switch kind {
		case exTop:
			switch string(key) {
			case "auditID":
				dst = &m.AuditID
			case "stage":
				dst = &m.Stage
			case "level":
				dst = &m.Level
			case "verb":
				dst = &m.Verb
			case "stageTimestamp":
				dst = &m.StageTimestamp
			case "user":
				sub = exUser
			case "objectRef":
				sub = exObjectRef
			case "responseStatus":
				sub = exResponseStatus
			}
		case exUser:
			if string(key) == "username" {
				dst = &m.Username
			}
		case exObjectRef:
			switch string(key) {
			case "resource":
				dst = &m.ObjectRef.Resource
			case "subresource":
				dst = &m.ObjectRef.Subresource
			case "namespace":
				dst = &m.ObjectRef.Namespace
			case "name":
				dst = &m.ObjectRef.Name
			case "apiGroup":
				dst = &m.ObjectRef.APIGroup
			}
		case exResponseStatus:
			code = string(key) == "code"
		}

		switch {
		case dst != nil:
			switch s[i] {
			case '"':
				*dst, i, err = exString(s, i, nil)
				if err != nil {
					return 0, err
				}
			case 'n':
				if i, err = exLiteral(s, i, "null"); err != nil {
					return 0, err
				}
				*dst = nil
			default:
				return 0, exErr(i, fmt.Sprintf("%q: expected a string", string(key)))
			}
		case sub >= 0:
			switch sub { // the last object replaces earlier ones
			case exUser:
				m.Username = nil
			case exObjectRef:
				m.ObjectRef = ObjectRef{}
			case exResponseStatus:
				m.Code = 0
			}
			switch s[i] {
			case '{':
				if i, err = exObject(s, i, sub, m, skips); err != nil {
					return 0, err
				}
			case 'n':
				if i, err = exLiteral(s, i, "null"); err != nil {
					return 0, err
				}
			default:
				return 0, exErr(i, fmt.Sprintf("%q: expected an object", string(key)))
			}
		case code:
			if s[i] == 'n' {
				if i, err = exLiteral(s, i, "null"); err != nil {
					return 0, err
				}
				m.Code = 0
				break
			}
			if m.Code, i, err = exCode(s, i); err != nil {
				return 0, err
			}
		default:
			start := i
			if i, err = exSkipValue(s, i); err != nil {
				return 0, err
			}
			if skips != nil {
				*skips = append(*skips, exSpan{start, i})
			}
		}

		i = exSkipWS(s, i)
		if i >= len(s) {
			return 0, exErr(i, "unexpected end of input in object")
		}
		switch s[i] {
		case ',':
			i = exSkipWS(s, i+1)
			if i >= len(s) {
				return 0, exErr(i, "unexpected end of input, expected a key")
			}
		case '}':
			return i + 1, nil
		default:
			return 0, exErr(i, "expected ',' or '}' after value")
		}
	}
}

// exSkipWS returns the index of the first non-whitespace byte at or after i.
func exSkipWS(s []byte, i int) int {
	for i < len(s) && s[i] <= ' ' && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t') {
		i++
	}
	return i
}

// exLiteral checks that s[i:] starts with lit and returns the index after it.
func exLiteral(s []byte, i int, lit string) (int, error) {
	if !bytes.HasPrefix(s[i:], []byte(lit)) {
		return 0, exErr(i, "invalid literal")
	}
	return i + len(lit), nil
}

// exString reads the JSON string starting at s[i] == '"' and returns its
// value and the index after the closing quote. The value is a view into s
// unless it needed decoding; then it is appended to buf (nil: a new slice).
func exString(s []byte, i int, buf []byte) ([]byte, int, error) {
	start := i + 1
	j := start
	// 8 bytes at a time: stop at '"', '\\', a control character or non-ASCII.
	for ; j+8 <= len(s); j += 8 {
		v := binary.LittleEndian.Uint64(s[j:])
		if m := exStringSpecial(v); m != 0 {
			j += bits.TrailingZeros64(m) >> 3
			if s[j] == '"' {
				return s[start:j:j], j + 1, nil
			}
			return exStringSlow(s, i, buf)
		}
	}
	for ; j < len(s); j++ {
		c := s[j]
		if c == '"' {
			return s[start:j:j], j + 1, nil
		}
		if c == '\\' || c < 0x20 || c >= 0x80 {
			return exStringSlow(s, i, buf)
		}
	}
	return nil, 0, exErr(i, "unterminated string")
}

// exStringSlow is exString for strings with escapes, control characters or
// non-ASCII bytes.
func exStringSlow(s []byte, i int, buf []byte) ([]byte, int, error) {
	start := i + 1
	end := exSkipStringBody(s, start)
	if end < 0 {
		return nil, 0, exErr(i, "unterminated string")
	}
	body := s[start : end-1 : end-1]
	plain := true
	for _, c := range body {
		if c == '\\' || c < 0x20 {
			plain = false
			break
		}
	}
	if plain && utf8.Valid(body) {
		return body, end, nil
	}
	if buf == nil {
		buf = make([]byte, 0, len(body)+8)
	}
	v, err := exAppendUnquote(buf, body, start)
	if err != nil {
		return nil, 0, err
	}
	return v, end, nil
}

// exAppendUnquote appends the decoded form of the JSON string body (without
// quotes; it starts at byte off of the input) to dst, like encoding/json:
// invalid UTF-8 and lone surrogates become U+FFFD.
func exAppendUnquote(dst, body []byte, off int) ([]byte, error) {
	for r := 0; r < len(body); {
		c := body[r]
		switch {
		case c == '\\':
			if r+1 >= len(body) {
				return nil, exErr(off+r, "invalid escape")
			}
			switch body[r+1] {
			case '"', '\\', '/':
				dst = append(dst, body[r+1])
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				rr := exHex4(body[r:])
				if rr < 0 {
					return nil, exErr(off+r, "invalid \\u escape")
				}
				r += 6
				if utf16.IsSurrogate(rr) {
					if rr1 := exHex4(body[r:]); rr1 >= 0 {
						if dec := utf16.DecodeRune(rr, rr1); dec != utf8.RuneError {
							dst = utf8.AppendRune(dst, dec)
							r += 6
							continue
						}
					}
					rr = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			default:
				return nil, exErr(off+r, "invalid escape")
			}
			r += 2
		case c < 0x20:
			return nil, exErr(off+r, "control character in string")
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			r++
		default:
			rr, size := utf8.DecodeRune(body[r:])
			dst = utf8.AppendRune(dst, rr)
			r += size
		}
	}
	return dst, nil
}

// exHex4 decodes a \uXXXX escape at the start of b, or returns -1.
func exHex4(b []byte) rune {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range b[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// exNumber checks the JSON number starting at s[i] and returns the index
// after it and whether it is an integer (no fraction, no exponent).
func exNumber(s []byte, i int) (end int, integer bool, err error) {
	start := i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i++; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
		}
	default:
		return 0, false, exErr(start, "invalid number")
	}
	integer = true
	if i < len(s) && s[i] == '.' {
		integer = false
		i++
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return 0, false, exErr(start, "invalid number")
		}
		for ; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		integer = false
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return 0, false, exErr(start, "invalid number")
		}
		for ; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
		}
	}
	return i, integer, nil
}

// exCode parses responseStatus.code at s[i]: a JSON integer within int32.
func exCode(s []byte, i int) (int32, int, error) {
	c := s[i]
	if c != '-' && (c < '0' || c > '9') {
		return 0, 0, exErr(i, "responseStatus.code is not an integer")
	}
	end, integer, err := exNumber(s, i)
	if err != nil {
		return 0, 0, err
	}
	if !integer {
		return 0, 0, exErr(i, "responseStatus.code is not an integer")
	}
	neg := s[i] == '-'
	j := i
	if neg {
		j++
	}
	var v int64
	for ; j < end; j++ {
		v = v*10 + int64(s[j]-'0')
		if v > 1<<31 {
			return 0, 0, exErr(i, "responseStatus.code out of int32 range")
		}
	}
	if neg {
		v = -v
	}
	if v > 1<<31-1 {
		return 0, 0, exErr(i, "responseStatus.code out of int32 range")
	}
	return int32(v), end, nil
}
