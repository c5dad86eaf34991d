package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// fieldInfo is one yaml key of a struct type.
type fieldInfo struct {
	name  string
	index []int // for reflect.Value.FieldByIndex; inline fields have several
}

// structInfo lists the yaml keys of a struct type, in declaration order.
type structInfo struct {
	byName map[string]fieldInfo
	names  []string
	err    error // a programming error in the type's tags
}

// structFields returns (and caches) the keys of struct type t: the `yaml`
// tag's name, or the lower-cased Go name; "-" skips a field and ",inline"
// merges an embedded struct's keys into its parent's.
func (d *decoder) structFields(t reflect.Type) *structInfo {
	if info, ok := d.fields[t]; ok {
		return info
	}
	info := &structInfo{byName: make(map[string]fieldInfo)}
	d.fields[t] = info
	d.collectFields(t, nil, info)
	return info
}

func (d *decoder) collectFields(t reflect.Type, prefix []int, info *structInfo) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		index := append(append([]int(nil), prefix...), i)
		if inline := containsOpt(opts, "inline"); inline {
			if f.Type.Kind() != reflect.Struct {
				info.err = fmt.Errorf("config type %s: field %s: ,inline needs a struct, not %s", t, f.Name, f.Type)
				continue
			}
			d.collectFields(f.Type, index, info)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if _, dup := info.byName[name]; dup {
			info.err = fmt.Errorf("config type %s: two fields use the key %q", t, name)
			continue
		}
		info.byName[name] = fieldInfo{name: name, index: index}
		info.names = append(info.names, name)
	}
}

func containsOpt(opts, want string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// decodeStruct decodes mapping n into struct v, then validates v.
func (d *decoder) decodeStruct(n *yaml.Node, at int, path string, v reflect.Value) {
	if isNull(n) {
		return // an empty block keeps the defaults
	}
	m := deref(n)
	if m.Kind != yaml.MappingNode {
		d.add(m.Line, path, "expected a mapping, got %s", describeNode(m))
		return
	}
	if at == 0 {
		at = m.Line
	}
	d.decodeFields(m, path, []reflect.Value{v}, nil)
	d.validate(m, at, path, v)
}

// decodeFields decodes the keys of mapping n into the fields of targets
// (addressable structs): each key goes to the first target that has it. Keys
// in skip are left alone; a key no target has is an unknown-field problem.
func (d *decoder) decodeFields(n *yaml.Node, path string, targets []reflect.Value, skip []string) {
	infos := make([]*structInfo, len(targets))
	var known []string
	for i, t := range targets {
		infos[i] = d.structFields(t.Type())
		if infos[i].err != nil {
			d.add(n.Line, path, "%v", infos[i].err)
			return
		}
		known = append(known, infos[i].names...)
	}
	for _, s := range skip {
		if !strings.HasPrefix(s, "x-") {
			known = append(known, s)
		}
	}
next:
	for _, p := range pairs(n, path, &d.problems, true) {
		key := p.key.Value
		if slices.Contains(skip, key) {
			continue
		}
		for i, info := range infos {
			if f, ok := info.byName[key]; ok {
				d.decode(p.val, p.key.Line, joinPath(path, key), targets[i].FieldByIndex(f.index))
				continue next
			}
		}
		d.add(p.key.Line, path, "unknown field %q%s", key, hint(key, known))
	}
}

// validate calls v's Validate method, if it has one, and reports its
// errors: a *FieldError at its field's line and path, anything else at the
// struct's (n is the struct's mapping, at the line naming it).
func (d *decoder) validate(n *yaml.Node, at int, path string, v reflect.Value) {
	if !v.CanAddr() {
		return
	}
	val, ok := v.Addr().Interface().(validator)
	if !ok {
		return
	}
	// A field that failed to decode kept its default; what Validate says
	// about it would only repeat the decoding problem.
	before := len(d.list)
	for _, e := range flatten(val.Validate()) {
		var fe *FieldError
		if !errors.As(e, &fe) {
			d.add(at, path, "%s", e.Error())
			continue
		}
		line, p := locate(n, at, path, fe.Field)
		if d.reportedBefore(p, before) {
			continue
		}
		msg := "invalid value"
		if fe.Err != nil {
			msg = fe.Err.Error()
		}
		d.add(line, p, "%s", msg)
	}
}
