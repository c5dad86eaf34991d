package config

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Error is one problem found in a configuration file. Load, Parse and Decode
// return every problem they find, joined with errors.Join and sorted by line;
// use errors.As to get the first, or unwrap the join to get them all.
type Error struct {
	File string // the file name as given to Load, Parse or Decode
	Line int    // 1-based; 0 when the problem concerns the whole file
	Path string // dotted path of the field, e.g. "outputs.siem.batch.max_bytes"; "" for the document
	Msg  string // what is wrong; never contains an expanded secret
	// Err is the underlying error when there is one worth inspecting (the
	// *fs.PathError of an unreadable ${file:...}); nil otherwise.
	Err error
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }

// Error renders "file:line: path: msg", leaving out the parts that are empty.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// FieldError is what a Validate method returns to blame one field: Field is
// the field's yaml key relative to the struct being validated, dotted for
// nested blocks and indexed for list items ("batch.max_bytes", "outputs[1]").
// The loader reports it at that key's line, or at the struct's line when the
// key is absent from the file (the default was used).
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string {
	if e.Err == nil {
		return e.Field + ": invalid value"
	}
	return e.Field + ": " + e.Err.Error()
}

func (e *FieldError) Unwrap() error { return e.Err }

// Fieldf returns a *FieldError for field with a formatted message.
func Fieldf(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// Nested re-roots the errors of a nested struct's Validate under prefix, so
// that a parent's Validate can include its children's problems:
//
//	return errors.Join(own, config.Nested("batch", c.Batch.Validate()))
//
// A *FieldError "max_bytes" becomes "batch.max_bytes"; any other error blames
// the field prefix itself. Nested(prefix, nil) is nil. The loader reports a
// problem found twice this way (by the child and by the parent) once.
func Nested(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range flatten(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			out = append(out, &FieldError{Field: joinField(prefix, fe.Field), Err: fe.Err})
		} else {
			out = append(out, &FieldError{Field: prefix, Err: e})
		}
	}
	return errors.Join(out...)
}

func joinField(prefix, field string) string {
	switch {
	case prefix == "":
		return field
	case field == "":
		return prefix
	case strings.HasPrefix(field, "["):
		return prefix + field
	}
	return prefix + "." + field
}

// flatten returns the leaves of err, expanding errors that join several
// (errors.Join, fmt.Errorf with several %w).
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// problems collects the *Error values of one file.
type problems struct {
	file  string
	list  []*Error
	paths map[string]int // path -> index in list of its first problem
}

func (p *problems) add(line int, path, format string, args ...any) {
	if p.paths == nil {
		p.paths = make(map[string]int)
	}
	if _, ok := p.paths[path]; !ok {
		p.paths[path] = len(p.list)
	}
	p.list = append(p.list, &Error{File: p.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// addErr adds a problem whose message is err's and which wraps err.
func (p *problems) addErr(line int, path string, err error) {
	p.add(line, path, "%s", err.Error())
	p.list[len(p.list)-1].Err = err
}

// reportedBefore reports whether a problem at path was added before the
// first n problems were.
func (p *problems) reportedBefore(path string, n int) bool {
	i, ok := p.paths[path]
	return ok && i < n
}

// err sorts the problems by line, drops exact repeats, scrubs secrets from
// the messages and joins them; nil when there are none.
func (p *problems) err(scrub func(string) string) error {
	if len(p.list) == 0 {
		return nil
	}
	sort.SliceStable(p.list, func(i, j int) bool { return p.list[i].Line < p.list[j].Line })
	type key struct {
		line      int
		path, msg string
	}
	seen := make(map[key]bool, len(p.list))
	out := make([]error, 0, len(p.list))
	for _, e := range p.list {
		if scrub != nil {
			e.Msg = scrub(e.Msg)
		}
		k := key{e.Line, e.Path, e.Msg}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, e)
	}
	return errors.Join(out...)
}

// hint suggests the known name closest to got, or lists the known names.
func hint(got string, known []string) string {
	if len(known) == 0 {
		return " (no fields are accepted here)"
	}
	if s, ok := closest(got, known); ok {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return " (known: " + strings.Join(sorted(known), ", ") + ")"
}

// closest returns the candidate with the smallest edit distance to s when it
// is close enough to be a plausible typo.
func closest(s string, candidates []string) (string, bool) {
	best, bestDist := "", -1
	for _, c := range sorted(candidates) {
		d := editDistance(strings.ToLower(s), strings.ToLower(c))
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := max(1, len(s)/3)
	return best, bestDist >= 0 && bestDist <= limit
}

// editDistance is the optimal-string-alignment distance between a and b, in
// bytes: insertions, deletions, substitutions and swaps of neighbours
// ("nmae" for "name") cost one each.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
