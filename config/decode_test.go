package config

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

type scalars struct {
	S     string        `yaml:"s"`
	B     bool          `yaml:"b"`
	I     int           `yaml:"i"`
	I8    int8          `yaml:"i8"`
	U16   uint16        `yaml:"u16"`
	F     float64       `yaml:"f"`
	F32   float32       `yaml:"f32"`
	D     time.Duration `yaml:"d"`
	CD    Duration      `yaml:"cd"`
	Sz    Size          `yaml:"sz"`
	Addr  netip.Addr    `yaml:"addr"`
	P     *int          `yaml:"p"`
	Any   any           `yaml:"any"`
	Skip  string        `yaml:"-"`
	NoTag string
}

func TestDecodeScalars(t *testing.T) {
	got := scalars{S: "default", Skip: "kept"}
	err := Decode("t.yaml", []byte(`
s: 123
b: TRUE
i: 0x1F
i8: -128
u16: 65535
f: 1e3
f32: .inf
d: 1h30m
cd: 0
sz: 1.5GiB
addr: 10.0.0.1
p: 7
any: [1, two, {three: 3.0}]
notag: yes
`), &got)
	require.NoError(t, err)
	seven := 7
	assert.Equal(t, scalars{
		S: "123", B: true, I: 31, I8: -128, U16: 65535, F: 1000, F32: float32(math.Inf(1)),
		D: 90 * time.Minute, CD: 0, Sz: 1536 * MiB, Addr: netip.MustParseAddr("10.0.0.1"),
		P: &seven, Any: []any{1, "two", map[string]any{"three": 3.0}}, Skip: "kept", NoTag: "yes",
	}, got)
}

func TestDecodeDecimalNotOctal(t *testing.T) {
	var got struct {
		N int `yaml:"n"`
	}
	require.NoError(t, Decode("t.yaml", []byte("n: 010\n"), &got))
	assert.Equal(t, 10, got.N)
}

func TestDecodeNullResetsButKeepsBlocks(t *testing.T) {
	type block struct {
		A int `yaml:"a"`
	}
	got := struct {
		S     string         `yaml:"s"`
		L     []string       `yaml:"l"`
		M     map[string]int `yaml:"m"`
		P     *block         `yaml:"p"`
		Block block          `yaml:"block"`
	}{S: "x", L: []string{"a"}, M: map[string]int{"a": 1}, P: &block{1}, Block: block{A: 5}}
	require.NoError(t, Decode("t.yaml", []byte("s:\nl: ~\nm: null\np:\nblock:\n"), &got))
	assert.Empty(t, got.S)
	assert.Nil(t, got.L)
	assert.Nil(t, got.M)
	assert.Nil(t, got.P)
	assert.Equal(t, block{A: 5}, got.Block, "an empty block keeps its defaults")
}

func TestDecodeMapsMergeIntoDefaults(t *testing.T) {
	type limit struct {
		Max int `yaml:"max"`
		Min int `yaml:"min"`
	}
	got := map[string]limit{"a": {Max: 10, Min: 1}, "b": {Max: 20}}
	require.NoError(t, Decode("t.yaml", []byte("a: {max: 11}\nc: {min: 3}\n"), &got))
	assert.Equal(t, map[string]limit{"a": {Max: 11, Min: 1}, "b": {Max: 20}, "c": {Min: 3}}, got)
}

func TestDecodeListsReplaceDefaults(t *testing.T) {
	got := struct {
		L []int `yaml:"l"`
	}{L: []int{1, 2, 3}}
	require.NoError(t, Decode("t.yaml", []byte("l: [9]\n"), &got))
	assert.Equal(t, []int{9}, got.L)
}

func TestDecodeInline(t *testing.T) {
	type Common struct {
		Name string `yaml:"name"`
	}
	type outer struct {
		Common `yaml:",inline"`
		Size   int `yaml:"size"`
	}
	var got outer
	require.NoError(t, Decode("t.yaml", []byte("name: n\nsize: 2\n"), &got))
	assert.Equal(t, outer{Common: Common{Name: "n"}, Size: 2}, got)

	err := Decode("t.yaml", []byte("name: n\nnmae: m\n"), &got)
	assert.Equal(t, []string{`t.yaml:2: unknown field "nmae" (did you mean "name"?)`}, messages(t, err))
}

func TestDecodeRawNode(t *testing.T) {
	var got struct {
		Raw yaml.Node `yaml:"raw"`
	}
	require.NoError(t, Decode("t.yaml", []byte("raw:\n  anything: [goes]\n"), &got))
	assert.Equal(t, yaml.MappingNode, got.Raw.Kind)
	assert.Equal(t, 2, got.Raw.Line)
}

func TestDecodeProblems(t *testing.T) {
	type inner struct {
		Port uint16 `yaml:"port"`
	}
	type target struct {
		I     int8              `yaml:"i"`
		U     uint              `yaml:"u"`
		F     float64           `yaml:"f"`
		B     bool              `yaml:"b"`
		D     time.Duration     `yaml:"d"`
		Addr  netip.Addr        `yaml:"addr"`
		In    inner             `yaml:"in"`
		List  []inner           `yaml:"list"`
		M     map[string]string `yaml:"m"`
		Empty struct{}          `yaml:"empty"`
	}
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"overflow", "i: 300", []string{`t.yaml:1: i: "300" is out of range for int8`}},
		{"negative uint", "u: -1", []string{`t.yaml:1: u: expected a non-negative integer, got "-1"`}},
		{"float", "f: 1,5", []string{`t.yaml:1: f: expected a number, got "1,5"`}},
		{"bool", "b: on", []string{`t.yaml:1: b: expected true or false, got "on"`}},
		{"time.Duration", "d: 10", []string{`t.yaml:1: d: "10" is not a duration (use e.g. 500ms, 5s, 1h30m)`}},
		{"text unmarshaler", "addr: 300.1.1.1", []string{`t.yaml:1: addr: ParseAddr("300.1.1.1"): IPv4 field has value >255`}},
		{"text unmarshaler gets a list", "addr: [a]", []string{`t.yaml:1: addr: expected a string, got a list`}},
		{"nested", "in:\n  port: 70000", []string{`t.yaml:2: in.port: "70000" is out of range for uint16`}},
		{"list item", "list:\n  - port: 1\n  - prot: 2", []string{`t.yaml:3: list[1]: unknown field "prot" (did you mean "port"?)`}},
		{"list item type", "list: [{port: x}]", []string{`t.yaml:1: list[0].port: expected a non-negative integer, got "x"`}},
		{"map value", "m: {a: [1]}", []string{`t.yaml:1: m.a: expected a string, got a list`}},
		{"odd map key", "m: {a.b: [1]}", []string{`t.yaml:1: m["a.b"]: expected a string, got a list`}},
		{"map key twice", "m:\n  a: x\n  a: y", []string{`t.yaml:3: m.a: defined twice (first at line 2)`}},
		{"no fields", "empty: {x: 1}", []string{`t.yaml:1: empty: unknown field "x" (no fields are accepted here)`}},
		{"non-string key", "? [a]\n: 1", []string{`t.yaml:1: a key must be a string, got a list`}},
		{"alias cycle", "m: &x {a: *x}", []string{`t.yaml:1: m.a: alias *x refers to a node that contains it`}},
		{"all reported", "i: x\nu: y\nin: 3\nzzz: 1", []string{
			`t.yaml:1: i: expected an integer, got "x"`,
			`t.yaml:2: u: expected a non-negative integer, got "y"`,
			`t.yaml:3: in: expected a mapping, got an integer`,
			`t.yaml:4: unknown field "zzz" (known: addr, b, d, empty, f, i, in, list, m, u)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got target
			err := Decode("t.yaml", []byte(tt.doc+"\n"), &got)
			assert.Equal(t, tt.want, messages(t, err))
		})
	}
}

func TestDecodeAliasCycleInAny(t *testing.T) {
	var got any
	err := Decode("t.yaml", []byte("a: &x [1, *x]\n"), &got)
	assert.Equal(t, []string{`t.yaml:1: a[1]: alias *x refers to a node that contains it`}, messages(t, err))
}

func TestDecodeAliasBomb(t *testing.T) {
	doc := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 'b'; i <= 'h'; i++ {
		doc += fmt.Sprintf("%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	var got any
	err := Decode("t.yaml", []byte(doc), &got)
	assert.Contains(t, err.Error(), "document too large (too many aliased nodes)")
}

func TestDecodeBadTags(t *testing.T) {
	type bad struct {
		A chan int `yaml:"a"`
	}
	err := Decode("t.yaml", []byte("a: 1\n"), &bad{})
	assert.Equal(t, []string{`t.yaml:1: a: cannot decode into Go type chan int`}, messages(t, err))

	type badInline struct {
		A int `yaml:",inline"`
	}
	err = Decode("t.yaml", []byte("a: 1\n"), &badInline{})
	assert.Equal(t, []string{`t.yaml:1: config type config.badInline: field A: ,inline needs a struct, not int`}, messages(t, err))

	assert.EqualError(t, Decode("t.yaml", nil, badInline{}), "config: Decode needs a non-nil pointer, got config.badInline")
}

// validated blames fields in the ways Validate methods do.
type validated struct {
	Name  string   `yaml:"name"`
	Items []string `yaml:"items"`
	Sub   struct {
		Level int `yaml:"level"`
	} `yaml:"sub"`
}

func (v *validated) Validate() error {
	var fields, others []error
	if v.Name == "" {
		fields = append(fields, Fieldf("name", "is required"))
	}
	for i, it := range v.Items {
		if it == "bad" {
			fields = append(fields, Fieldf(fmt.Sprintf("items[%d]", i), "%q is not allowed", it))
		}
	}
	if v.Sub.Level > 3 {
		fields = append(fields, fmt.Errorf("wrapped: %w", Fieldf("sub.level", "must be at most 3")))
	}
	if len(v.Items) > 2 {
		others = append(others, errors.New("too many items"))
	}
	if len(fields)+len(others) == 0 {
		return nil
	}
	// Several %w: flattened through Unwrap() []error like errors.Join.
	return fmt.Errorf("fields: %w; others: %w", errors.Join(fields...), errors.Join(others...))
}

func TestDecodeValidateMapping(t *testing.T) {
	var got validated
	err := Decode("v.yaml", []byte(`# comment
items:
  - good
  - bad
  - fine
sub:
  level: 5
`), &got)
	assert.Equal(t, []string{
		`v.yaml:2: name: is required`, // absent: at the struct's line
		`v.yaml:2: too many items`,    // not a FieldError: at the struct's line
		`v.yaml:4: items[1]: "bad" is not allowed`,
		`v.yaml:7: sub.level: must be at most 3`, // found through %w
	}, messages(t, err))
}

func TestDecodeValidateNested(t *testing.T) {
	var got struct {
		Outer struct {
			V validated `yaml:"v"`
		} `yaml:"outer"`
	}
	err := Decode("v.yaml", []byte("outer:\n  v:\n    name: x\n    items: [a, b, bad]\n"), &got)
	assert.Equal(t, []string{
		`v.yaml:2: outer.v: too many items`, // at the line naming the block
		`v.yaml:4: outer.v.items[2]: "bad" is not allowed`,
	}, messages(t, err))
}
