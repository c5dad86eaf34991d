package config

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// expander substitutes ${NAME}, ${NAME:-default}, ${env:NAME}, ${file:PATH}
// and $$ in scalar values, and remembers what it substituted so that error
// messages can be scrubbed of it.
type expander struct {
	dir       string // relative ${file:PATH} are resolved against it
	lookupEnv func(string) (string, bool)
	readFile  func(string) ([]byte, error)
	files     map[string]fileResult
	secrets   map[string]string // substituted value -> the reference it came from
}

type fileResult struct {
	data string
	err  error
}

// newExpander returns an expander over the process environment and file
// system, resolving relative paths against the directory of file.
func newExpander(file string) *expander {
	return &expander{
		dir:       filepath.Dir(file),
		lookupEnv: os.LookupEnv,
		readFile:  os.ReadFile,
		files:     make(map[string]fileResult),
		secrets:   make(map[string]string),
	}
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expand returns s with every reference substituted. substituted reports
// whether a ${...} reference was replaced (so the result may hold a secret);
// a lone "$" not followed by "{" or "$" is kept as is.
func (x *expander) expand(s string) (out string, substituted bool, err error) {
	if !strings.Contains(s, "$") {
		return s, false, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			i++
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i += 2
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", false, fmt.Errorf("unterminated \"${\" (write $$ for a literal $)")
			}
			ref := s[i+2 : i+2+end]
			val, err := x.resolve(ref)
			if err != nil {
				return "", false, err
			}
			b.WriteString(val)
			substituted = true
			i += end + 3
		default:
			b.WriteByte('$')
			i++
		}
	}
	return b.String(), substituted, nil
}

// resolve returns the value of one reference, the text between "${" and "}".
func (x *expander) resolve(ref string) (string, error) {
	if path, ok := strings.CutPrefix(ref, "file:"); ok {
		return x.file(path)
	}
	name, def, hasDef := strings.Cut(strings.TrimPrefix(ref, "env:"), ":-")
	if !envName.MatchString(name) {
		return "", fmt.Errorf("invalid reference \"${%s}\" (use ${NAME}, ${NAME:-default}, ${file:PATH}, or $$ for a literal $)", ref)
	}
	val, ok := x.lookupEnv(name)
	switch {
	case hasDef && (!ok || val == ""):
		return def, nil
	case !ok:
		return "", fmt.Errorf("environment variable %s is not set (write ${%s:-default} to give a default)", name, name)
	}
	x.remember(val, "${"+ref+"}")
	return val, nil
}

// file returns the content of the file at path (relative to x.dir) with one
// trailing newline removed. Its error names the path, never the content.
func (x *expander) file(path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("${file:} needs a path, e.g. ${file:/etc/kubetrail/token}")
	}
	full := path
	if !filepath.IsAbs(full) {
		full = filepath.Join(x.dir, full)
	}
	r, ok := x.files[full]
	if !ok {
		data, err := x.readFile(full)
		s := string(data)
		if s2, ok := strings.CutSuffix(s, "\n"); ok {
			s = strings.TrimSuffix(s2, "\r")
		}
		r = fileResult{data: s, err: err}
		x.files[full] = r
	}
	if r.err != nil {
		return "", fmt.Errorf("cannot read ${file:%s}: %w", path, r.err)
	}
	x.remember(r.data, "${file:"+path+"}")
	return r.data, nil
}

// minScrubLen is the shortest substituted value scrubbed from every message;
// shorter ones ("1", "on") would garble messages and are unlikely secrets.
// A scalar's own error message is also scrubbed of its quoted value ("5"),
// whatever its length.
const minScrubLen = 4

func (x *expander) remember(val, ref string) {
	if val != "" {
		x.secrets[val] = ref
	}
}

// scrub replaces every substituted value found in msg by its reference.
func (x *expander) scrub(msg string) string {
	vals := make([]string, 0, len(x.secrets))
	for v := range x.secrets {
		if len(v) >= minScrubLen {
			vals = append(vals, v)
		}
	}
	// Longest first, so that a value containing another is replaced whole.
	sort.Slice(vals, func(i, j int) bool {
		if len(vals[i]) != len(vals[j]) {
			return len(vals[i]) > len(vals[j])
		}
		return vals[i] < vals[j]
	})
	for _, v := range vals {
		msg = redact(msg, v, x.secrets[v])
	}
	return msg
}

// redact replaces val in msg by ref: quoted occurrences ("val") always, raw
// ones when val is at least minScrubLen long.
func redact(msg, val, ref string) string {
	if val == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, strconv.Quote(val), strconv.Quote(ref))
	if q := strconv.Quote(val); q[1:len(q)-1] != val && len(val) >= minScrubLen {
		msg = strings.ReplaceAll(msg, q[1:len(q)-1], ref)
	}
	if len(val) >= minScrubLen {
		msg = strings.ReplaceAll(msg, val, ref)
	}
	return msg
}
