package pipeline

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
	"unsafe"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/event/auditfields"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
)

// eventsEqual compares two events field by field (nil and empty are equal).
func eventsEqual(a, b *event.Event) bool {
	return bytes.Equal(a.Raw, b.Raw) && metaFields(&a.Meta) == metaFields(&b.Meta)
}

func roundTrip(t *testing.T, in *event.Event) *event.Event {
	t.Helper()
	prefix := []byte("previous record")
	rec := AppendRecord(bytes.Clone(prefix), in)
	if !bytes.HasPrefix(rec, prefix) {
		t.Fatal("AppendRecord changed dst's existing bytes")
	}
	rec = rec[len(prefix):]
	if rec[0] != RecordVersion {
		t.Fatalf("version byte %d", rec[0])
	}
	var out event.Event
	if err := DecodeRecord(rec, &out); err != nil {
		t.Fatalf("DecodeRecord: %v", err)
	}
	if !eventsEqual(in, &out) {
		t.Fatalf("round trip:\nin  %+v %q\nout %+v %q", metaFields(&in.Meta), in.Raw, metaFields(&out.Meta), out.Raw)
	}
	for _, v := range [][]byte{out.Raw, out.AuditID, out.Verb, out.ObjectRef.APIGroup} {
		if len(v) > 0 && (!within(v, rec) || cap(v) != len(v)) {
			t.Errorf("decoded field %q is not a clipped view into the record", v)
		}
	}
	return &out
}

func TestRecordRoundTrip(t *testing.T) {
	full := &event.Event{
		Raw: []byte(`{"auditID":"a"}`),
		Meta: event.Meta{
			AuditID: []byte("9b6a7717-abcc-4b49-bbf5-b2049aa021ce"), Stage: []byte("ResponseComplete"),
			Level: []byte("RequestResponse"), Verb: []byte("create"), Username: []byte("system:serviceaccount:ns:sa"),
			StageTimestamp: []byte("2026-11-22T02:26:26.123456Z"),
			ObjectRef: event.ObjectRef{Resource: []byte("pods"), Subresource: []byte("exec"), Namespace: []byte("ns"),
				Name: []byte("p"), APIGroup: []byte("apps")},
			Code: 201,
		},
	}
	long := strings.Repeat("x", 300) // two-byte uvarint length
	tests := []struct {
		name string
		e    *event.Event
	}{
		{"full", full},
		{"empty event", &event.Event{}},
		{"only raw", &event.Event{Raw: []byte(`{}`)}},
		{"empty raw", &event.Event{Meta: event.Meta{Verb: []byte("get"), Code: 200}}},
		{"negative code", &event.Event{Meta: event.Meta{Code: -1}}},
		{"min code", &event.Event{Meta: event.Meta{Code: math.MinInt32}}},
		{"max code", &event.Event{Meta: event.Meta{Code: math.MaxInt32}, Raw: []byte("r")}},
		{"long fields", &event.Event{Raw: []byte(long + long), Meta: event.Meta{Username: []byte(long), ObjectRef: event.ObjectRef{Name: []byte(long)}}}},
		{"binary and escaped-decoded values", &event.Event{
			Raw:  []byte(`{"verb":"a\"b","user":{"username":"\u00fc\n"}}`),
			Meta: event.Meta{Verb: []byte(`a"b`), Username: []byte("ü\n"), AuditID: []byte{0, 1, 0xff, '\\'}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { roundTrip(t, tt.e) })
	}
}

func TestRecordRoundTripCorpus(t *testing.T) {
	var rec []byte
	for _, l := range testcorpus.Load(t) {
		in := event.Event{Raw: l.Raw}
		if err := auditfields.Extract(l.Raw, &in.Meta); err != nil {
			t.Fatalf("%s: %v", l.Where, err)
		}
		rec = AppendRecord(rec[:0], &in)
		var out event.Event
		if err := DecodeRecord(rec, &out); err != nil {
			t.Fatalf("%s: %v", l.Where, err)
		}
		if !eventsEqual(&in, &out) {
			t.Fatalf("%s: round trip differs", l.Where)
		}
		var again event.Meta
		if err := auditfields.Extract(out.Raw, &again); err != nil || metaFields(&again) != metaFields(&out.Meta) {
			t.Fatalf("%s: decoded Raw extracts differently (%v)", l.Where, err)
		}
	}
}

func TestDecodeRecordNoAllocs(t *testing.T) {
	in := event.Event{Raw: []byte(testcorpus.MetadataEvent)}
	if err := auditfields.Extract(in.Raw, &in.Meta); err != nil {
		t.Fatal(err)
	}
	rec := AppendRecord(nil, &in)
	var out event.Event
	if n := testing.AllocsPerRun(100, func() {
		if err := DecodeRecord(rec, &out); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocs per DecodeRecord", n)
	}
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = AppendRecord(buf[:0], &in) }); n != 0 {
		t.Errorf("%v allocs per AppendRecord into a big enough buffer", n)
	}
}

func TestDecodeRecordCorrupt(t *testing.T) {
	good := AppendRecord(nil, &event.Event{Raw: []byte("{}"), Meta: event.Meta{AuditID: []byte("abc"), Code: 200}})
	lenAt := func(l uint64) []byte { // record whose first field claims length l
		return binary.AppendUvarint([]byte{RecordVersion}, l)
	}
	tests := []struct {
		name, want string
		rec        []byte
	}{
		{"empty", "empty record", nil},
		{"version 0", "unknown version 0", append([]byte{0}, good[1:]...)},
		{"version 2", "unknown version 2", append([]byte{2}, good[1:]...)},
		{"only version", "auditID length at byte 1: bad uvarint", []byte{RecordVersion}},
		{"length past end", "auditID at byte 2: length 3 exceeds the 2 bytes left", good[:4]},
		{"huge length", "exceeds", lenAt(math.MaxUint64)},
		{"length overflowing int", "exceeds", lenAt(1 << 63)},
		{"uvarint overflow", "bad uvarint", append([]byte{RecordVersion}, bytes.Repeat([]byte{0xff}, 11)...)},
		{"truncated uvarint", "bad uvarint", []byte{RecordVersion, 0x80}},
		{"missing later field", "stage length", good[:5]},
		{"missing code", "code at byte", good[:1+4+10]},
		{"code out of int32 range", "bad int32 varint",
			binary.AppendVarint(append([]byte{RecordVersion}, make([]byte, 11)...), math.MaxInt32+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := event.Event{Raw: []byte("stale"), Meta: event.Meta{Verb: []byte("stale")}}
			err := DecodeRecord(tt.rec, &e)
			if !errors.Is(err, ErrCorruptRecord) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("DecodeRecord(%x) = %v, want ErrCorruptRecord with %q", tt.rec, err, tt.want)
			}
			if !eventsEqual(&e, &event.Event{}) {
				t.Errorf("event not reset on error: %+v", e)
			}
		})
	}
	// Every strict prefix of a record that cuts into the header is an error.
	rec := AppendRecord(nil, &event.Event{Meta: event.Meta{AuditID: []byte("a"), Code: -300}})
	for n := 0; n < len(rec); n++ {
		if err := DecodeRecord(rec[:n], &event.Event{}); err == nil {
			t.Errorf("prefix of %d of %d bytes accepted", n, len(rec))
		}
	}
}

// FuzzDecodeRecord: DecodeRecord never panics and fails only with
// ErrCorruptRecord; what it accepts has its views within the record and
// re-encodes to a record that decodes to the same event; and
// AppendRecord/DecodeRecord round-trip any event built from the input.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(AppendRecord(nil, &event.Event{Raw: []byte(testcorpus.MetadataEvent), Meta: event.Meta{AuditID: []byte("a"), Code: 200}}))
	f.Add(AppendRecord(nil, &event.Event{}))
	f.Add([]byte{RecordVersion, 0x80})
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, rec []byte) {
		var e event.Event
		if err := DecodeRecord(rec, &e); err != nil {
			if !errors.Is(err, ErrCorruptRecord) {
				t.Fatalf("error %v does not wrap ErrCorruptRecord", err)
			}
			if !eventsEqual(&e, &event.Event{}) {
				t.Fatal("event not reset on error")
			}
		} else {
			for _, v := range [][]byte{e.Raw, e.AuditID, e.Stage, e.Level, e.Verb, e.Username, e.StageTimestamp,
				e.ObjectRef.Resource, e.ObjectRef.Subresource, e.ObjectRef.Namespace, e.ObjectRef.Name, e.ObjectRef.APIGroup} {
				if len(v) > 0 && !within(v, rec) {
					t.Fatal("decoded view outside the record")
				}
			}
			again := AppendRecord(nil, &e)
			var e2 event.Event
			if err := DecodeRecord(again, &e2); err != nil || !eventsEqual(&e, &e2) {
				t.Fatalf("re-encoded record does not decode the same (%v)", err)
			}
		}
		// Round trip of an event made from the input's bytes.
		third := len(rec) / 3
		in := event.Event{Raw: rec[2*third:], Meta: event.Meta{AuditID: rec[:third], Verb: rec[third : 2*third],
			ObjectRef: event.ObjectRef{Name: rec[:third/2]}, Code: int32(len(rec)) - 100}}
		var out event.Event
		if err := DecodeRecord(AppendRecord(nil, &in), &out); err != nil || !eventsEqual(&in, &out) {
			t.Fatalf("round trip of %+v failed (%v)", in, err)
		}
	})
}

// TestAppendRecordGrowsAmortized: appending many records to one buffer must
// not reallocate it for every record.
func TestAppendRecordGrowsAmortized(t *testing.T) {
	e := event.Event{Raw: []byte(testcorpus.MetadataEvent)}
	var buf []byte
	grows := 0
	for range 1000 {
		before := cap(buf)
		buf = AppendRecord(buf, &e)
		if cap(buf) != before {
			grows++
		}
	}
	if grows > 30 {
		t.Errorf("%d reallocations for 1000 appends", grows)
	}
}

// metaStrings is Meta as comparable strings.
type metaStrings struct {
	AuditID, Stage, Level, Verb, Username, StageTimestamp string
	Resource, Subresource, Namespace, Name, APIGroup      string
	Code                                                  int32
}

func metaFields(m *event.Meta) metaStrings {
	return metaStrings{
		AuditID: string(m.AuditID), Stage: string(m.Stage), Level: string(m.Level), Verb: string(m.Verb),
		Username: string(m.Username), StageTimestamp: string(m.StageTimestamp),
		Resource: string(m.ObjectRef.Resource), Subresource: string(m.ObjectRef.Subresource),
		Namespace: string(m.ObjectRef.Namespace), Name: string(m.ObjectRef.Name),
		APIGroup: string(m.ObjectRef.APIGroup), Code: m.Code,
	}
}

// within reports whether b lies inside raw's memory.
func within(b, raw []byte) bool {
	if len(b) == 0 || len(raw) == 0 {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(unsafe.Pointer(unsafe.SliceData(raw)))
	return p >= lo && p+uintptr(len(b)) <= lo+uintptr(len(raw))
}
