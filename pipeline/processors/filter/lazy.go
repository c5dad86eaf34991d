package filter

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/tidwall/gjson"

	"github.com/kubetrail/kubetrail/event"
)

// lazyMap is a JSON object seen by CEL as a map(string, dyn) that decodes
// only the members an expression reads: event.verb scans to "verb" and
// returns it; event.requestObject.metadata.name scans requestObject's raw
// JSON for metadata, then metadata's for name. Only iterating a map (exists,
// all, size, ==) decodes it whole.
type lazyMap struct {
	raw  string               // the object's JSON
	meta func(string) ref.Val // fast path for members already extracted; nil when none
	full traits.Mapper        // decoded on first whole-map use
}

var (
	_ traits.Mapper = (*lazyMap)(nil)
	_ ref.Val       = (*lazyMap)(nil)
)

// newEventVal is the CEL value of an event: the extracted fields come from
// its Meta without scanning, the others from its raw JSON on demand.
func newEventVal(ev *event.Event) *lazyMap {
	m := &ev.Meta
	return &lazyMap{raw: bytesToString(ev.Raw), meta: func(key string) ref.Val {
		switch key {
		case "verb":
			return str(m.Verb)
		case "stage":
			return str(m.Stage)
		case "level":
			return str(m.Level)
		case "auditID":
			return str(m.AuditID)
		case "stageTimestamp":
			return str(m.StageTimestamp)
		}
		return nil
	}}
}

func str(b []byte) ref.Val {
	if b == nil {
		return nil
	}
	return types.String(b)
}

// gjsonKey escapes a member name for a gjson path.
func gjsonKey(k string) string {
	if !strings.ContainsAny(k, `.*?\|#@!:`) {
		return k
	}
	var b strings.Builder
	for _, r := range k {
		if strings.ContainsRune(`.*?\|#@!:`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Find implements traits.Mapper.
func (m *lazyMap) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return nil, false
	}
	if m.meta != nil {
		if v := m.meta(string(k)); v != nil {
			return v, true
		}
	}
	r := gjson.Get(m.raw, gjsonKey(string(k)))
	if !r.Exists() {
		return nil, false
	}
	return jsonToVal(r), true
}

// jsonToVal converts one JSON value: objects stay lazy, the rest decode.
func jsonToVal(r gjson.Result) ref.Val {
	switch r.Type {
	case gjson.Null:
		return types.NullValue
	case gjson.False:
		return types.False
	case gjson.True:
		return types.True
	case gjson.String:
		return types.String(r.Str)
	case gjson.Number:
		if !strings.ContainsAny(r.Raw, ".eE") {
			var i int64
			if _, err := fmt.Sscan(r.Raw, &i); err == nil {
				return types.Int(i)
			}
		}
		return types.Double(r.Num)
	}
	if r.IsObject() {
		return &lazyMap{raw: r.Raw}
	}
	var v any
	if err := json.Unmarshal([]byte(r.Raw), &v); err != nil {
		return types.NewErr("malformed JSON: %v", err)
	}
	return types.DefaultTypeAdapter.NativeToValue(v)
}

// decoded returns the whole map, decoding it once.
func (m *lazyMap) decoded() traits.Mapper {
	if m.full == nil {
		var v map[string]any
		if err := json.Unmarshal([]byte(m.raw), &v); err != nil {
			v = map[string]any{}
		}
		m.full = types.DefaultTypeAdapter.NativeToValue(v).(traits.Mapper)
	}
	return m.full
}

// Get implements traits.Indexer.
func (m *lazyMap) Get(key ref.Val) ref.Val {
	if v, ok := m.Find(key); ok {
		return v
	}
	return types.NewErr("no such key: %v", key)
}

// Contains implements traits.Container ("key" in map).
func (m *lazyMap) Contains(key ref.Val) ref.Val {
	_, ok := m.Find(key)
	return types.Bool(ok)
}

// Iterator implements traits.Iterable.
func (m *lazyMap) Iterator() traits.Iterator { return m.decoded().Iterator() }

// Size implements traits.Sizer.
func (m *lazyMap) Size() ref.Val { return m.decoded().Size() }

// ConvertToNative implements ref.Val.
func (m *lazyMap) ConvertToNative(t reflect.Type) (any, error) {
	return m.decoded().ConvertToNative(t)
}

// ConvertToType implements ref.Val.
func (m *lazyMap) ConvertToType(t ref.Type) ref.Val {
	if t == types.MapType {
		return m
	}
	if t == types.TypeType {
		return types.MapType
	}
	return types.NewErr("type conversion error from map to '%s'", t)
}

// Equal implements ref.Val.
func (m *lazyMap) Equal(other ref.Val) ref.Val {
	if o, ok := other.(*lazyMap); ok {
		return m.decoded().Equal(o.decoded())
	}
	return m.decoded().Equal(other)
}

// Type implements ref.Val.
func (m *lazyMap) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (m *lazyMap) Value() any { return m.decoded().Value() }
