package config

import (
	"fmt"
	"log/slog"
)

// Secret is a configuration string that must never be shown: a password,
// token or API key, usually written as ${file:PATH} or ${ENV}. Its String,
// GoString, Format and MarshalText print "[redacted]", so a Secret logged by
// slog, printed with %v/%s/%q/%#v or marshalled back to YAML or JSON does
// not leak; use Value to get the secret itself, and only to hand it to the
// client library that needs it.
type Secret string

const redacted = "[redacted]"

// Value returns the secret in clear text.
func (s Secret) Value() string { return string(s) }

// String implements fmt.Stringer: "[redacted]", or "" when s is empty (so an
// unset secret is told apart from a set one).
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString implements fmt.GoStringer, for %#v.
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret(%q)", s.String()) }

// Format implements fmt.Formatter so that every verb (%s, %v, %q, %x, %d)
// prints the redacted form.
func (s Secret) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprintf(f, "%q", s.String())
	case 'v':
		if f.Flag('#') {
			fmt.Fprint(f, s.GoString())
			return
		}
		fmt.Fprint(f, s.String())
	default:
		fmt.Fprint(f, s.String())
	}
}

// MarshalText implements encoding.TextMarshaler (YAML, JSON, slog's JSON
// handler): the redacted form.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
