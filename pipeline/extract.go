package pipeline

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

// exSkipValue skips the value at s[i] (not whitespace) and returns the index
// after it. Strings and containers are only checked structurally; numbers and
// literals at this level are checked fully.
func exSkipValue(s []byte, i int) (int, error) {
	switch c := s[i]; c {
	case '"':
		end := exSkipStringBody(s, i+1)
		if end < 0 {
			return 0, exErr(i, "unterminated string")
		}
		return end, nil
	case '{', '[':
		return exSkipContainer(s, i)
	case 't':
		return exLiteral(s, i, "true")
	case 'f':
		return exLiteral(s, i, "false")
	case 'n':
		return exLiteral(s, i, "null")
	default:
		if c == '-' || ('0' <= c && c <= '9') {
			end, _, err := exNumber(s, i)
			return end, err
		}
		return 0, exErr(i, "expected a value")
	}
}

// SWAR helpers: byte-wise comparisons of 8 bytes at once.
const (
	exOnes  = 0x0101010101010101
	exHighs = 0x8080808080808080
	exLow7  = 0x7F7F7F7F7F7F7F7F
)

// exHasByte has the high bit set in the lowest byte of v equal to c, and
// possibly (false positives) in bytes above a match, never below.
func exHasByte(v uint64, c byte) uint64 {
	x := v ^ (exOnes * uint64(c))
	return (x - exOnes) &^ x & exHighs
}

// exStringSpecial flags the lowest byte of v that is '"', '\\', a control
// character or non-ASCII (see exHasByte).
func exStringSpecial(v uint64) uint64 {
	return exHasByte(v, '"') | exHasByte(v, '\\') | exHasLess(v, 0x20) | v&exHighs
}

// exHasLess has the high bit set in the lowest byte of v less than n (n <=
// 0x80), and possibly in bytes above it, never below.
func exHasLess(v uint64, n byte) uint64 {
	return (v - exOnes*uint64(n)) &^ v & exHighs
}

// exNe has the high bit clear in exactly the bytes of v equal to c, set in
// the others.
func exNe(v uint64, c byte) uint64 {
	x := v ^ (exOnes * uint64(c))
	return (x&exLow7 + exLow7 | x) & exHighs
}

// exGather packs the high bits of the 8 bytes of m (other bits zero) into 8
// bits: byte k's high bit becomes bit k.
func exGather(m uint64) uint64 {
	return m * 0x0002040810204081 >> 56
}

// exBlockMasks returns the bitmaps (bit k for blk[k]) of the quotes, the
// backslashes and the brackets of a 64-byte block. The bracket bitmap also
// has Y, _, y and DEL, which JSON never has outside strings: {, }, [, ] and
// those all become 0x7F when or-ed with 0x26.
func exBlockMasks(blk *[64]byte) (quotes, backslashes, brackets uint64) {
	w0 := binary.LittleEndian.Uint64(blk[0:])
	w1 := binary.LittleEndian.Uint64(blk[8:])
	w2 := binary.LittleEndian.Uint64(blk[16:])
	w3 := binary.LittleEndian.Uint64(blk[24:])
	w4 := binary.LittleEndian.Uint64(blk[32:])
	w5 := binary.LittleEndian.Uint64(blk[40:])
	w6 := binary.LittleEndian.Uint64(blk[48:])
	w7 := binary.LittleEndian.Uint64(blk[56:])
	// Gather the "not equal" bits and invert once at the end.
	quotes = exGather(exNe(w0, '"')) | exGather(exNe(w1, '"'))<<8 |
		exGather(exNe(w2, '"'))<<16 | exGather(exNe(w3, '"'))<<24 |
		exGather(exNe(w4, '"'))<<32 | exGather(exNe(w5, '"'))<<40 |
		exGather(exNe(w6, '"'))<<48 | exGather(exNe(w7, '"'))<<56
	backslashes = exGather(exNe(w0, '\\')) | exGather(exNe(w1, '\\'))<<8 |
		exGather(exNe(w2, '\\'))<<16 | exGather(exNe(w3, '\\'))<<24 |
		exGather(exNe(w4, '\\'))<<32 | exGather(exNe(w5, '\\'))<<40 |
		exGather(exNe(w6, '\\'))<<48 | exGather(exNe(w7, '\\'))<<56
	const k = exOnes * 0x26
	brackets = exGather(exNe(w0|k, 0x7F)) | exGather(exNe(w1|k, 0x7F))<<8 |
		exGather(exNe(w2|k, 0x7F))<<16 | exGather(exNe(w3|k, 0x7F))<<24 |
		exGather(exNe(w4|k, 0x7F))<<32 | exGather(exNe(w5|k, 0x7F))<<40 |
		exGather(exNe(w6|k, 0x7F))<<48 | exGather(exNe(w7|k, 0x7F))<<56
	return ^quotes, ^backslashes, ^brackets
}

// exSkipStringBody returns the index just after the closing quote of the
// string whose body starts at s[i], or -1 when it is not terminated. Escapes
// are honoured (a quote preceded by an odd run of backslashes is escaped) but
// not validated.
func exSkipStringBody(s []byte, i int) int {
	start := i
	// Short strings: look at 8 bytes at a time for '"' or '\\'.
	for i+8 <= len(s) {
		v := binary.LittleEndian.Uint64(s[i:])
		m := exHasByte(v, '"') | exHasByte(v, '\\')
		if m == 0 {
			i += 8
			if i-start >= 32 {
				goto long
			}
			continue
		}
		if j := i + bits.TrailingZeros64(m)>>3; s[j] == '"' {
			return j + 1
		}
		goto long // escapes: let the backslash-counting loop handle them
	}
long:
	for {
		j := bytes.IndexByte(s[i:], '"')
		if j < 0 {
			return -1
		}
		j += i
		k := j - 1
		for k >= start && s[k] == '\\' {
			k--
		}
		if (j-1-k)&1 == 0 {
			return j + 1
		}
		i = j + 1
	}
}

// exStructural marks the bytes exSkipContainerSlow stops at.
var exStructural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true}

// exNest is the stack of open containers while skipping: bit d of the stack
// is set when the container at depth d is an array. The first 256 levels
// need no allocation.
type exNest struct {
	depth  int
	inline [4]uint64
	more   []uint64
}

func (n *exNest) word(d int) *uint64 {
	w := d >> 6
	if w < len(n.inline) {
		return &n.inline[w]
	}
	w -= len(n.inline)
	for w >= len(n.more) {
		n.more = append(n.more, 0)
	}
	return &n.more[w]
}

// push records an opening bracket c ('{' or '[').
func (n *exNest) push(c byte) {
	w, bit := n.word(n.depth), uint64(1)<<(n.depth&63)
	if c == '[' {
		*w |= bit
	} else {
		*w &^= bit
	}
	n.depth++
}

// pop records a closing bracket c ('}' or ']'); it reports false when c does
// not match the open container. Depth must be > 0.
func (n *exNest) pop(c byte) bool {
	n.depth--
	isArray := *n.word(n.depth)>>(n.depth&63)&1 != 0
	return isArray == (c == ']')
}

// exSkipContainer skips the object or array starting at s[i] and returns the
// index after its closing bracket. It checks that strings are terminated and
// brackets balanced and of matching kinds, nothing else; backslashes outside
// strings have no meaning.
//
// It scans small containers byte by byte and big ones 64 bytes at a time with
// bitmaps (exSkipBlocks); on any doubt it falls back to the byte-by-byte
// exSkipContainerSlow, which also words the errors.
func exSkipContainer(s []byte, i int) (int, error) {
	var n exNest
	j := i
	// Byte by byte for the first exBlockAfter bytes: most containers in
	// audit events are small.
	limit := min(len(s), i+exBlockAfter)
	for {
		for j < limit && !exStructural[s[j]] {
			j++
		}
		if j >= limit {
			break
		}
		switch c := s[j]; c {
		case '"':
			if j = exSkipStringBody(s, j+1); j < 0 {
				return exSkipContainerSlow(s, i)
			}
			continue
		case '{', '[':
			n.push(c)
		default:
			if !n.pop(c) {
				return exSkipContainerSlow(s, i)
			}
			if n.depth == 0 {
				return j + 1, nil
			}
		}
		j++
	}
	if end, ok := exSkipBlocks(s, j, &n); ok {
		return end, nil
	}
	return exSkipContainerSlow(s, i)
}

// exBlockAfter is how many bytes of a container are scanned byte by byte
// before switching to 64-byte blocks.
const exBlockAfter = 128

// exSkipBlocks continues skipping a container from s[i], where i is outside
// any string and n holds the open containers. It returns the index after the
// closing bracket of the outermost one, or false when the input is malformed
// or has a backslash outside a string (the caller then rescans it byte by
// byte).
//
// Each 64-byte block is turned into bitmaps of quotes, backslashes and
// brackets with SWAR arithmetic; escaped characters follow from the
// backslash runs (simdjson's odd-run trick), the in-string mask from a prefix
// XOR of the unescaped quotes, and only the brackets outside strings are
// visited one by one. A block that lies entirely inside a string hands over
// to bytes.IndexByte until the string ends (long base64 or text values).
func exSkipBlocks(s []byte, i int, n *exNest) (int, bool) {
	const oddBits = 0xAAAAAAAAAAAAAAAA
	var (
		inString uint64 // all ones when the block starts inside a string
		escCarry uint64 // 1 when the block's first byte is escaped
		tail     [64]byte
	)
	for {
		var blk *[64]byte
		switch rest := len(s) - i; {
		case rest >= 64:
			blk = (*[64]byte)(s[i : i+64])
		case rest > 0:
			copy(tail[:], s[i:])
			for k := rest; k < 64; k++ {
				tail[k] = ' '
			}
			blk = &tail
		default:
			return 0, false
		}

		quotes, backslashes, brackets := exBlockMasks(blk)

		// Escaped characters: those after an odd run of backslashes.
		potential := backslashes &^ escCarry
		code := ((potential<<1 | oddBits) - potential) ^ oddBits
		escaped := code ^ (backslashes | escCarry)
		escCarry = (code & backslashes) >> 63

		realQuotes := quotes &^ escaped
		inStr := realQuotes
		inStr ^= inStr << 1
		inStr ^= inStr << 2
		inStr ^= inStr << 4
		inStr ^= inStr << 8
		inStr ^= inStr << 16
		inStr ^= inStr << 32
		inStr ^= inString

		if backslashes&^inStr != 0 {
			return 0, false // a backslash outside a string: not JSON
		}
		for b := brackets &^ inStr; b != 0; b &= b - 1 {
			p := bits.TrailingZeros64(b)
			switch c := blk[p&63]; c {
			case '{', '[':
				n.push(c)
			case '}', ']':
				if !n.pop(c) {
					return 0, false
				}
				if n.depth == 0 {
					return i + p + 1, true
				}
			}
		}
		inString = uint64(int64(inStr) >> 63)
		i += 64

		if inString != 0 && quotes == 0 {
			// The whole block was inside a string, without any quote (a
			// long value, not escaped JSON): jump to the next quote with
			// IndexByte. Counting the backslashes before it from j, an
			// escape boundary, tells whether it ends the string.
			j := i + int(escCarry)
			if j > len(s) {
				return 0, false
			}
			k := bytes.IndexByte(s[j:], '"')
			if k < 0 {
				return 0, false
			}
			k += j
			r := k - 1
			for r >= j && s[r] == '\\' {
				r--
			}
			if (k-1-r)&1 == 0 {
				inString = 0
			} // else an escaped quote: still inside the string
			i, escCarry = k+1, 0
		}
	}
}

// exSkipContainerSlow is exSkipContainer byte by byte; it words the errors.
func exSkipContainerSlow(s []byte, i int) (int, error) {
	var n exNest
	for {
		for i < len(s) && !exStructural[s[i]] {
			i++
		}
		if i >= len(s) {
			return 0, exErr(len(s), "unexpected end of input: unbalanced brackets")
		}
		switch c := s[i]; c {
		case '"':
			end := exSkipStringBody(s, i+1)
			if end < 0 {
				return 0, exErr(i, "unterminated string")
			}
			i = end
			continue
		case '{', '[':
			n.push(c)
		default: // '}', ']'
			if !n.pop(c) {
				return 0, exErr(i, "mismatched bracket")
			}
			if n.depth == 0 {
				return i + 1, nil
			}
		}
		i++
	}
}
