package auditfields

// EachMember calls fn for each member of the JSON object raw, in order,
// with its decoded key and its value's bytes as written (a view into raw),
// using Extract's fast scanner: values are checked structurally only, as
// Extract checks the values it skips. It stops at the first error, which is
// a *MalformedEventError, or when fn returns false.
func EachMember(raw []byte, fn func(key, value []byte) bool) error {
	i := exSkipWS(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return exErr(i, "not a JSON object")
	}
	i = exSkipWS(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return exEnd(raw, i+1)
	}
	for {
		if i >= len(raw) || raw[i] != '"' {
			return exErr(i, "expected a member name")
		}
		key, next, err := exString(raw, i, nil)
		if err != nil {
			return err
		}
		i = exSkipWS(raw, next)
		if i >= len(raw) || raw[i] != ':' {
			return exErr(i, "expected ':'")
		}
		i = exSkipWS(raw, i+1)
		if i >= len(raw) {
			return exErr(i, "expected a value")
		}
		end, err := exSkipValue(raw, i)
		if err != nil {
			return err
		}
		if !fn(key, raw[i:end:end]) {
			return nil
		}
		i = exSkipWS(raw, end)
		switch {
		case i >= len(raw):
			return exErr(i, "unterminated object")
		case raw[i] == ',':
			i = exSkipWS(raw, i+1)
		case raw[i] == '}':
			return exEnd(raw, i+1)
		default:
			return exErr(i, "expected ',' or '}'")
		}
	}
}

// exEnd checks that only whitespace follows the object.
func exEnd(raw []byte, i int) error {
	if i = exSkipWS(raw, i); i != len(raw) {
		return exErr(i, "garbage after the closing brace")
	}
	return nil
}
