package auditfields

// Fast skipping of the values Extract does not need (requestObject,
// responseObject, annotations: up to hundreds of KB per event). Strings and
// containers are checked structurally only; big containers are scanned 64
// bytes at a time with SWAR bit masks, and a byte-by-byte reference scan
// (exSkipContainerSlow) re-runs whenever the fast path is unsure.

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

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
