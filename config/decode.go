package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Decode decodes the YAML document data into out (a non-nil pointer) with
// the same rules as Load: unknown keys are errors, ${...} references are
// expanded, Validate methods are called, and every problem is reported as an
// *Error naming file, line and field. out should hold its defaults already.
// Component packages can use it to test their config structs.
func Decode(file string, data []byte, out any) error {
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("config: Decode needs a non-nil pointer, got %T", out)
	}
	d := newDecoder(file, newExpander(file))
	root, ok := d.parse(data)
	if ok && root != nil {
		d.decode(root, 0, "", rv.Elem())
	}
	return d.err()
}

// decoder turns a yaml.Node tree into Go values by reflection, collecting
// every problem instead of stopping at the first.
type decoder struct {
	problems
	exp    *expander
	fields map[reflect.Type]*structInfo
	active map[*yaml.Node]bool // anchored nodes being decoded (alias cycles)
	budget int                 // nodes left to decode (alias bombs)
}

func newDecoder(file string, exp *expander) *decoder {
	return &decoder{
		problems: problems{file: file},
		exp:      exp,
		fields:   make(map[reflect.Type]*structInfo),
		active:   make(map[*yaml.Node]bool),
		budget:   100_000,
	}
}

func (d *decoder) err() error { return d.problems.err(d.exp.scrub) }

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parse reads the single YAML document in data. It returns a nil node for
// an empty document, and false when the YAML itself is broken.
func (d *decoder) parse(data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, true
		}
		d.yamlError(err)
		return nil, false
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		d.add(next.Line, "", "a second YAML document; the configuration is a single document")
		return nil, false
	case !errors.Is(err, io.EOF):
		d.yamlError(err)
		return nil, false
	}
	if root.Kind == 0 || (root.Kind == yaml.DocumentNode && len(root.Content) == 0) {
		return nil, true
	}
	return &root, true
}

func (d *decoder) yamlError(err error) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		d.add(line, "", "invalid YAML: %s", m[2])
		return
	}
	d.add(0, "", "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

var (
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	durationType        = reflect.TypeFor[time.Duration]()
	nodeType            = reflect.TypeFor[yaml.Node]()
	sizeType            = reflect.TypeFor[Size]()
	configDurationType  = reflect.TypeFor[Duration]()
)

type validator interface{ Validate() error }

// decode decodes n into v, which must be settable. at is the line naming
// the value (its key's line, or the list item's), path its dotted path.
// Decoding replaces scalars and lists, adds to maps, and sets only the keys
// present on structs, so defaults in v survive.
func (d *decoder) decode(n *yaml.Node, at int, path string, v reflect.Value) {
	if d.budget--; d.budget == 0 {
		d.add(n.Line, path, "document too large (too many aliased nodes)")
	}
	if d.budget <= 0 {
		return
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) > 0 {
			d.decode(n.Content[0], at, path, v)
		}
		return
	case yaml.AliasNode:
		d.decode(n.Alias, at, path, v)
		return
	}
	if n.Anchor != "" {
		if d.active[n] {
			d.add(n.Line, path, "alias *%s refers to a node that contains it", n.Anchor)
			return
		}
		d.active[n] = true
		defer delete(d.active, n)
	}
	t := v.Type()
	if t == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	if t.Kind() == reflect.Pointer {
		if isNull(n) {
			v.SetZero()
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.decode(n, at, path, v.Elem())
		return
	}
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		d.decodeText(n, path, v)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, at, path, v)
	case reflect.Map:
		d.decodeMap(n, path, v)
	case reflect.Slice:
		d.decodeSlice(n, path, v)
	case reflect.Interface:
		if t.NumMethod() != 0 {
			d.add(n.Line, path, "cannot decode into Go type %s", t)
			return
		}
		if g := d.generic(n, path); g != nil {
			v.Set(reflect.ValueOf(g))
		} else {
			v.SetZero()
		}
	default:
		d.decodeScalar(n, path, v)
	}
}

// scalarValue is a scalar's text after expansion.
type scalarValue struct {
	text   string // expanded
	src    string // as written
	secret bool   // text came (partly) from ${...}
}

// show quotes the value for a message without revealing a secret.
func (s scalarValue) show() string {
	if s.secret {
		return "the value of " + strconv.Quote(s.src)
	}
	return strconv.Quote(s.text)
}

// scalar returns the expanded text of scalar n, reporting a non-scalar (as
// "expected <want>, got ...") or a failed expansion.
func (d *decoder) scalar(n *yaml.Node, path, want string) (scalarValue, bool) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		d.add(n.Line, path, "expected %s, got %s", want, describeNode(n))
		return scalarValue{}, false
	}
	text, secret, err := d.exp.expand(n.Value)
	if err != nil {
		d.addErr(n.Line, path, err)
		return scalarValue{}, false
	}
	return scalarValue{text: text, src: n.Value, secret: secret}, true
}

func (d *decoder) decodeText(n *yaml.Node, path string, v reflect.Value) {
	if isNull(n) {
		v.SetZero()
		return
	}
	s, ok := d.scalar(n, path, describeType(v.Type()))
	if !ok {
		return
	}
	u := v.Addr().Interface().(encoding.TextUnmarshaler)
	if err := u.UnmarshalText([]byte(s.text)); err != nil {
		msg := err.Error()
		if s.secret {
			msg = redact(msg, s.text, s.src)
		}
		d.add(n.Line, path, "%s", msg)
	}
}

func (d *decoder) decodeScalar(n *yaml.Node, path string, v reflect.Value) {
	t := v.Type()
	if isNull(n) {
		v.SetZero()
		return
	}
	want := describeType(t)
	s, ok := d.scalar(n, path, want)
	if !ok {
		return
	}
	line, text := deref(n).Line, strings.TrimSpace(s.text)
	if t == durationType {
		dur, err := time.ParseDuration(text)
		if err != nil {
			d.add(line, path, "%s is not a duration (use e.g. 500ms, 5s, 1h30m)", s.show())
			return
		}
		v.SetInt(int64(dur))
		return
	}
	switch t.Kind() {
	case reflect.String:
		v.SetString(s.text)
	case reflect.Bool:
		switch strings.ToLower(text) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			d.add(line, path, "expected true or false, got %s", s.show())
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(text, intBase(text), t.Bits())
		if err != nil {
			d.numError(line, path, s, want, t, err)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u, err := strconv.ParseUint(text, intBase(text), t.Bits())
		if err != nil {
			d.numError(line, path, s, want, t, err)
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := parseFloat(text, t.Bits())
		if err != nil {
			d.numError(line, path, s, want, t, err)
			return
		}
		v.SetFloat(f)
	default:
		d.add(line, path, "cannot decode into Go type %s", t)
	}
}

func (d *decoder) numError(line int, path string, s scalarValue, want string, t reflect.Type, err error) {
	if errors.Is(err, strconv.ErrRange) {
		d.add(line, path, "%s is out of range for %s", s.show(), t.Kind())
		return
	}
	d.add(line, path, "expected %s, got %s", want, s.show())
}

// intBase is 0 (Go prefixes) for 0x, 0o and 0b numbers, else 10: a YAML
// "010" is ten, not eight.
func intBase(s string) int {
	u := strings.ToLower(strings.TrimLeft(s, "+-"))
	if strings.HasPrefix(u, "0x") || strings.HasPrefix(u, "0o") || strings.HasPrefix(u, "0b") {
		return 0
	}
	return 10
}

func parseFloat(s string, bits int) (float64, error) {
	switch strings.ToLower(s) {
	case ".inf", "+.inf":
		return math.Inf(1), nil
	case "-.inf":
		return math.Inf(-1), nil
	case ".nan":
		return math.NaN(), nil
	}
	return strconv.ParseFloat(s, bits)
}

// describeType names what a Go type expects, for "expected X" messages.
func describeType(t reflect.Type) string {
	switch t {
	case sizeType:
		return "a size"
	case durationType, configDurationType:
		return "a duration"
	}
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return "a string"
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Pointer:
		return describeType(t.Elem())
	}
	return "a value"
}

func (d *decoder) decodeMap(n *yaml.Node, path string, v reflect.Value) {
	t := v.Type()
	if isNull(n) {
		v.SetZero()
		return
	}
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		d.add(n.Line, path, "expected a mapping, got %s", describeNode(n))
		return
	}
	if t.Key().Kind() != reflect.String {
		d.add(n.Line, path, "cannot decode into Go type %s (keys must be strings)", t)
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(t))
	}
	for _, p := range pairs(n, path, &d.problems, true) {
		key := reflect.New(t.Key()).Elem()
		key.SetString(p.key.Value)
		elem := reflect.New(t.Elem()).Elem()
		if old := v.MapIndex(key); old.IsValid() {
			elem.Set(old)
		}
		d.decode(p.val, p.key.Line, joinPath(path, p.key.Value), elem)
		v.SetMapIndex(key, elem)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, path string, v reflect.Value) {
	if isNull(n) {
		v.SetZero()
		return
	}
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		d.add(n.Line, path, "expected a list, got %s", describeNode(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, deref(item).Line, indexPath(path, i), s.Index(i))
	}
	v.Set(s)
}

// generic decodes n for an interface{} target: map[string]any, []any, or
// the scalar's YAML type (a scalar with a ${...} reference stays a string).
func (d *decoder) generic(n *yaml.Node, path string) any {
	n = deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any)
		for _, p := range pairs(n, path, &d.problems, true) {
			m[p.key.Value] = d.decodeAny(p.val, p.key.Line, joinPath(path, p.key.Value))
		}
		return m
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, item := range n.Content {
			s[i] = d.decodeAny(item, deref(item).Line, indexPath(path, i))
		}
		return s
	}
	if isNull(n) {
		return nil
	}
	s, ok := d.scalar(n, path, "a scalar")
	if !ok || s.secret || s.text != n.Value {
		return s.text
	}
	var out any
	if err := n.Decode(&out); err != nil {
		return s.text
	}
	return out
}

// decodeAny runs decode into a fresh interface value, so that aliases,
// cycles and the budget are handled in one place.
func (d *decoder) decodeAny(n *yaml.Node, at int, path string) any {
	var out any
	d.decode(n, at, path, reflect.ValueOf(&out).Elem())
	return out
}
