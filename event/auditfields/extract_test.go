package auditfields

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/kubetrail/kubetrail/internal/testcorpus"
)

// corpusLine is one event of the real corpus.
type corpusLine struct {
	where string // file:line
	raw   []byte
}

// loadCorpus returns every line of the real corpus.
func loadCorpus(tb testing.TB) []corpusLine {
	var lines []corpusLine
	for _, l := range testcorpus.Load(tb) {
		lines = append(lines, corpusLine{where: l.Where, raw: l.Raw})
	}
	return lines
}

// fields is Meta as comparable strings.
type fields struct {
	AuditID, Stage, Level, Verb, Username, StageTimestamp string
	Resource, Subresource, Namespace, Name, APIGroup      string
	Code                                                  int32
}

func metaFields(m *Meta) fields {
	return fields{
		AuditID: string(m.AuditID), Stage: string(m.Stage), Level: string(m.Level), Verb: string(m.Verb),
		Username: string(m.Username), StageTimestamp: string(m.StageTimestamp),
		Resource: string(m.ObjectRef.Resource), Subresource: string(m.ObjectRef.Subresource),
		Namespace: string(m.ObjectRef.Namespace), Name: string(m.ObjectRef.Name),
		APIGroup: string(m.ObjectRef.APIGroup), Code: m.Code,
	}
}

// refExtract is the reference: encoding/json decoding into map[string]any
// (exact key match, last duplicate wins). valid reports json.Valid; typed
// reports that the value is an object whose relevant fields are absent, null
// or of the right type (strings; objects for user, objectRef,
// responseStatus; an int32 integer literal for code).
func refExtract(raw []byte) (f fields, valid, typed bool) {
	if !json.Valid(raw) {
		return f, false, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		panic("json.Valid accepted what Decode rejects: " + err.Error())
	}
	top, ok := v.(map[string]any)
	if !ok {
		return f, true, false
	}
	typed = true
	str := func(obj map[string]any, key string, dst *string) {
		switch x := obj[key].(type) {
		case nil:
		case string:
			*dst = x
		default:
			typed = false
		}
	}
	obj := func(key string) map[string]any {
		switch x := top[key].(type) {
		case nil:
		case map[string]any:
			return x
		default:
			typed = false
		}
		return nil
	}
	str(top, "auditID", &f.AuditID)
	str(top, "stage", &f.Stage)
	str(top, "level", &f.Level)
	str(top, "verb", &f.Verb)
	str(top, "stageTimestamp", &f.StageTimestamp)
	str(obj("user"), "username", &f.Username)
	ref := obj("objectRef")
	str(ref, "resource", &f.Resource)
	str(ref, "subresource", &f.Subresource)
	str(ref, "namespace", &f.Namespace)
	str(ref, "name", &f.Name)
	str(ref, "apiGroup", &f.APIGroup)
	switch c := obj("responseStatus")["code"].(type) {
	case nil:
	case json.Number:
		n, err := strconv.ParseInt(string(c), 10, 32)
		if err != nil {
			typed = false
		}
		f.Code = int32(n)
	default:
		typed = false
	}
	return f, true, typed
}

func TestExtractFields(t *testing.T) {
	full := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse",` +
		`"auditID":"9b6a7717-abcc-4b49-bbf5-b2049aa021ce","stage":"ResponseComplete",` +
		`"requestURI":"/api/v1/namespaces/audit-test/pods/p/status","verb":"patch",` +
		`"user":{"username":"alice","uid":"u","groups":["g1","g2"],"extra":{"k":["v"]}},` +
		`"impersonatedUser":{"username":"bob"},"sourceIPs":["127.0.0.1"],"userAgent":"curl/7.88.1",` +
		`"objectRef":{"resource":"pods","subresource":"status","namespace":"audit-test","name":"p",` +
		`"apiGroup":"","apiVersion":"v1","uid":"x","resourceVersion":"12"},` +
		`"responseStatus":{"metadata":{},"status":"Failure","message":"m","reason":"Conflict","details":{"code":1},"code":409},` +
		`"requestObject":{"kind":"Pod","spec":{"containers":[{"name":"c","command":["sh","-c","echo \"}]\""]}]}},` +
		`"responseObject":{"kind":"Status","code":500,"items":[[],[{}],"]"]},` +
		`"requestReceivedTimestamp":"2026-11-22T02:26:26.000001Z","stageTimestamp":"2026-11-22T02:26:26.123456Z",` +
		`"annotations":{"authorization.k8s.io/decision":"allow","verb":"get"}}`
	want := fields{
		AuditID: "9b6a7717-abcc-4b49-bbf5-b2049aa021ce", Stage: "ResponseComplete", Level: "RequestResponse",
		Verb: "patch", Username: "alice", StageTimestamp: "2026-11-22T02:26:26.123456Z",
		Resource: "pods", Subresource: "status", Namespace: "audit-test", Name: "p", APIGroup: "", Code: 409,
	}

	tests := []struct {
		name string
		in   string
		want fields
	}{
		{"all fields", full, want},
		{"empty object", `{}`, fields{}},
		{"only auditID", `{"auditID":"a"}`, fields{AuditID: "a"}},
		{"only stage", `{"stage":"RequestReceived"}`, fields{Stage: "RequestReceived"}},
		{"only level", `{"level":"Metadata"}`, fields{Level: "Metadata"}},
		{"only verb", `{"verb":"list"}`, fields{Verb: "list"}},
		{"only username", `{"user":{"username":"system:admin"}}`, fields{Username: "system:admin"}},
		{"only stageTimestamp", `{"stageTimestamp":"2026-01-02T03:04:05.000006Z"}`,
			fields{StageTimestamp: "2026-01-02T03:04:05.000006Z"}},
		{"only resource", `{"objectRef":{"resource":"secrets"}}`, fields{Resource: "secrets"}},
		{"only subresource", `{"objectRef":{"subresource":"log"}}`, fields{Subresource: "log"}},
		{"only namespace", `{"objectRef":{"namespace":"ns"}}`, fields{Namespace: "ns"}},
		{"only name", `{"objectRef":{"name":"n"}}`, fields{Name: "n"}},
		{"only apiGroup", `{"objectRef":{"apiGroup":"apps"}}`, fields{APIGroup: "apps"}},
		{"only code", `{"responseStatus":{"code":201}}`, fields{Code: 201}},
		{"negative code", `{"responseStatus":{"code":-7}}`, fields{Code: -7}},
		{"zero code", `{"responseStatus":{"code":0}}`, fields{}},
		{"max int32 code", `{"responseStatus":{"code":2147483647}}`, fields{Code: 2147483647}},
		{"min int32 code", `{"responseStatus":{"code":-2147483648}}`, fields{Code: -2147483648}},
		{"key order reversed",
			`{"stageTimestamp":"t","responseStatus":{"code":404},"objectRef":{"name":"n","resource":"r"},` +
				`"user":{"groups":[],"username":"u"},"verb":"get","stage":"s","auditID":"a","level":"l"}`,
			fields{AuditID: "a", Stage: "s", Level: "l", Verb: "get", Username: "u", StageTimestamp: "t",
				Resource: "r", Name: "n", Code: 404}},
		{"nested keys with our names are ignored",
			`{"requestObject":{"auditID":"no","verb":"no","user":{"username":"no"}},` +
				`"impersonatedUser":{"username":"no"},"responseObject":{"code":1},` +
				`"annotations":{"stage":"no"},"user":{"extra":{"username":["no"]}}}`,
			fields{}},
		{"unknown keys and value kinds",
			`{"n":1.5e-3,"t":true,"f":false,"z":null,"s":"x","a":[1,"]",{"}":[]}],"o":{},"verb":"get"}`,
			fields{Verb: "get"}},
		{"null fields are absent",
			`{"auditID":null,"verb":null,"user":null,"objectRef":null,"responseStatus":{"code":null}}`,
			fields{}},
		{"duplicate key: last wins", `{"verb":"get","verb":"list"}`, fields{Verb: "list"}},
		{"duplicate key: null last", `{"verb":"get","verb":null}`, fields{}},
		{"duplicate object replaces", `{"objectRef":{"resource":"pods","name":"a"},"objectRef":{"name":"b"}}`,
			fields{Name: "b"}},
		{"duplicate user replaces", `{"user":{"username":"a"},"user":{"uid":"x"}}`, fields{}},
		{"duplicate responseStatus replaces", `{"responseStatus":{"code":200},"responseStatus":{}}`, fields{}},
		{"empty strings", `{"auditID":"","verb":"","objectRef":{"name":""}}`, fields{}},
		{"case-sensitive keys", `{"Verb":"get","AUDITID":"a","objectRef":{"Name":"n"}}`, fields{}},
		{"escaped key", `{"\u0076erb":"get","obj\u0065ctRef":{"n\u0061me":"n"}}`, fields{Verb: "get", Name: "n"}},
		{"escaped quote right after an 8-byte word of a skipped string",
			`{"requestURI":"aaaaaaa\"bbbbbbb","kind":"x\\\"yyyyyyyyy\\","verb":"get"}`, fields{Verb: "get"}},
		{"escaped quote right after an 8-byte word of an extracted string",
			`{"verb":"aaaaaaa\"bbbbbbb","auditID":"aaaaaaaaaaaaaa\\"}`, fields{Verb: `aaaaaaa"bbbbbbb`, AuditID: `aaaaaaaaaaaaaa\`}},
		{"long escaped key", `{"\u0076erb\u0076erb\u0076erb\u0076erb\u0076erb\u0076erb":"get"}`, fields{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Meta
			if err := Extract([]byte(tt.in), &m); err != nil {
				t.Fatalf("Extract: %v", err)
			}
			if got := metaFields(&m); got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			ref, valid, typed := refExtract([]byte(tt.in))
			if !valid || !typed || ref != tt.want {
				t.Errorf("reference disagrees with the test table: valid=%v typed=%v %+v", valid, typed, ref)
			}
		})
	}
}

func TestExtractResetsMeta(t *testing.T) {
	m := Meta{Verb: []byte("old"), Code: 500, ObjectRef: ObjectRef{Name: []byte("old")}}
	if err := Extract([]byte(`{"auditID":"a"}`), &m); err != nil {
		t.Fatal(err)
	}
	if got := metaFields(&m); got != (fields{AuditID: "a"}) {
		t.Errorf("stale fields kept: %+v", got)
	}
	m = Meta{Verb: []byte("old")}
	if err := Extract([]byte(`{`), &m); err == nil || m.Verb != nil {
		t.Errorf("err=%v, Verb=%q: want an error and a reset Meta", err, m.Verb)
	}
}

// TestExtractNilVersusEmpty: absent is nil, "" is empty but not nil.
func TestExtractNilVersusEmpty(t *testing.T) {
	var m Meta
	if err := Extract([]byte(`{"verb":""}`), &m); err != nil {
		t.Fatal(err)
	}
	if m.Verb == nil || len(m.Verb) != 0 || m.AuditID != nil {
		t.Errorf("Verb=%#v AuditID=%#v: want empty non-nil and nil", m.Verb, m.AuditID)
	}
}

func TestExtractEscapes(t *testing.T) {
	tests := []struct {
		name, value, want string
	}{
		{"quote", `a\"b`, `a"b`},
		{"backslash", `a\\b`, `a\b`},
		{"slash", `system:serviceaccount\/x`, `system:serviceaccount/x`},
		{"control escapes", `\b\f\n\r\t`, "\b\f\n\r\t"},
		{"ascii \\u", `\u0041\u0062`, "Ab"},
		{"upper-case hex", `\u00E9\u00e9`, "éé"},
		{"ampersand as written by the apiserver", `a\u0026b\u003cc\u003e`, "a&b<c>"},
		{"BMP", `\u4e16\u754c`, "世界"},
		{"surrogate pair", `\ud83d\ude00`, "😀"},
		{"lone high surrogate", `\ud83dx`, "\uFFFDx"},
		{"lone low surrogate", `\ude00`, "\uFFFD"},
		{"high then non-low escape", `\ud83d\u0041`, "\uFFFDA"},
		{"two high surrogates", `\ud83d\ud83d\ude00`, "\uFFFD😀"},
		{"escaped backslash before quote", `x\\`, `x\`},
		{"raw UTF-8 kept", `ünïcødé 世界`, "ünïcødé 世界"},
		{"invalid UTF-8 replaced", "a\xffb\xc3", "a\uFFFDb\uFFFD"},
		{"escape and invalid UTF-8", "\\n\xff", "\n\uFFFD"},
		{"DEL is not a control character", "a\x7fb", "a\x7fb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, tmpl := range []string{
				`{"verb":"%s"}`, `{"auditID":"%s"}`, `{"stage":"%s"}`, `{"level":"%s"}`,
				`{"stageTimestamp":"%s"}`, `{"user":{"username":"%s"}}`,
				`{"objectRef":{"resource":"%s","subresource":"%[1]s","namespace":"%[1]s","name":"%[1]s","apiGroup":"%[1]s"}}`,
			} {
				in := []byte(strings.ReplaceAll(strings.ReplaceAll(tmpl, "%[1]s", tt.value), "%s", tt.value))
				var m Meta
				if err := Extract(in, &m); err != nil {
					t.Fatalf("%s: %v", in, err)
				}
				ref, valid, typed := refExtract(in)
				if !valid || !typed {
					t.Fatalf("%s: reference rejects it", in)
				}
				if got := metaFields(&m); got != ref {
					t.Errorf("%s:\ngot  %+v\nwant %+v", in, got, ref)
				}
				for _, v := range [][]byte{m.Verb, m.AuditID, m.Stage, m.Level, m.StageTimestamp, m.Username,
					m.ObjectRef.Resource, m.ObjectRef.Subresource, m.ObjectRef.Namespace, m.ObjectRef.Name,
					m.ObjectRef.APIGroup} {
					if v != nil && string(v) != tt.want {
						t.Errorf("%s: got %q, want %q", in, v, tt.want)
					}
				}
			}
		})
	}
}

// within reports whether b is a sub-slice of raw.
func within(b, raw []byte) bool {
	if len(b) == 0 || len(raw) == 0 {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(unsafe.Pointer(unsafe.SliceData(raw)))
	return p >= lo && p+uintptr(len(b)) <= lo+uintptr(len(raw))
}

func TestExtractViews(t *testing.T) {
	raw := []byte(`{"verb":"get","auditID":"a\"b","user":{"username":"ü"},"level":"x` + "\xff" + `y"}`)
	var m Meta
	if err := Extract(raw, &m); err != nil {
		t.Fatal(err)
	}
	if !within(m.Verb, raw) || cap(m.Verb) != len(m.Verb) {
		t.Errorf("verb: want a view into raw with clipped capacity (cap %d)", cap(m.Verb))
	}
	if !within(m.Username, raw) {
		t.Errorf("valid non-ASCII username: want a view into raw")
	}
	if within(m.AuditID, raw) || string(m.AuditID) != `a"b` {
		t.Errorf("escaped auditID %q: want a decoded copy", m.AuditID)
	}
	if within(m.Level, raw) || string(m.Level) != "x\uFFFDy" {
		t.Errorf("invalid UTF-8 level %q: want a decoded copy", m.Level)
	}
	// Appending to a view must not overwrite raw.
	before := string(raw)
	_ = append(m.Verb, "XXXX"...)
	if string(raw) != before {
		t.Error("append to a view overwrote raw")
	}
}

func TestExtractWhitespace(t *testing.T) {
	lines := loadCorpus(t)
	for _, l := range []corpusLine{lines[0], lines[1], lines[len(lines)/2], lines[len(lines)-1]} {
		var want Meta
		if err := Extract(l.raw, &want); err != nil {
			t.Fatalf("%s: %v", l.where, err)
		}
		for _, ws := range []struct{ prefix, indent string }{
			{"", " "}, {"\t", "\t"}, {"\r\n", " \r\n\t"}, {" ", "\n"},
		} {
			var buf bytes.Buffer
			if err := json.Indent(&buf, l.raw, ws.prefix, ws.indent); err != nil {
				t.Fatal(err)
			}
			in := append([]byte(" \t\r\n"+ws.prefix), buf.Bytes()...)
			in = append(in, " \r\n\t"...)
			var got Meta
			if err := Extract(in, &got); err != nil {
				t.Fatalf("%s indented with %q: %v", l.where, ws.indent, err)
			}
			if metaFields(&got) != metaFields(&want) {
				t.Errorf("%s indented with %q: got %+v, want %+v", l.where, ws.indent, metaFields(&got), metaFields(&want))
			}
		}
	}
	var m Meta
	in := " \t{ \"verb\" \r\n: \t\"get\" , \"user\" :{ \"username\" : \"u\" } ,\"responseStatus\": {\"code\" :\n200\n}\n}\r\n"
	if err := Extract([]byte(in), &m); err != nil {
		t.Fatal(err)
	}
	if got := metaFields(&m); got != (fields{Verb: "get", Username: "u", Code: 200}) {
		t.Errorf("got %+v", got)
	}
}

func TestExtractMalformed(t *testing.T) {
	tests := []struct {
		name, in string
		off      int
		reason   string
	}{
		{"empty input", ``, 0, "empty input"},
		{"only whitespace", " \n\t", 3, "empty input"},
		{"array", `[{"verb":"get"}]`, 0, "not a JSON object"},
		{"string", `"x"`, 0, "not a JSON object"},
		{"number after whitespace", ` 1`, 1, "not a JSON object"},
		{"open brace only", `{`, 1, "unexpected end of input"},
		{"truncated after key", `{"verb"`, 7, "unexpected end of input"},
		{"truncated after colon", `{"verb":`, 8, "unexpected end of input"},
		{"truncated after value", `{"verb":"get"`, 13, "unexpected end of input"},
		{"truncated after comma", `{"verb":"get",`, 14, "unexpected end of input"},
		{"truncated in nested object", `{"user":{"username":"u"`, 23, "unexpected end of input"},
		{"truncated in skipped object", `{"requestObject":{"a":[1,2]}`, 28, "unexpected end of input"},
		{"truncated in skipped array", `{"sourceIPs":["1"`, 17, "unbalanced brackets"},
		{"unterminated extracted string", `{"auditID":"abc`, 11, "unterminated string"},
		{"unterminated key", `{"audit`, 1, "unterminated string"},
		{"unterminated skipped string", `{"requestURI":"/api`, 14, "unterminated string"},
		{"escaped closing quote", `{"requestURI":"abc\"}`, 14, "unterminated string"},
		{"escaped quote after escaped backslashes", `{"requestURI":"abc\\\"}`, 14, "unterminated string"},
		{"unterminated string in skipped object", `{"requestObject":{"a":"b}}`, 22, "unterminated string"},
		{"mismatched bracket", `{"requestObject":{"a":[1,2}}`, 26, "mismatched bracket"},
		{"mismatched brace", `{"requestObject":[{]}`, 19, "mismatched bracket"},
		{"brace in string does not close", `{"responseObject":{"x":"}"}`, 27, "unexpected end of input"},
		{"bracket in string does not close", `{"sourceIPs":["]"}`, 17, "mismatched bracket"},
		{"extra closing brace", `{"verb":"get"}}`, 14, "garbage after the closing brace"},
		{"garbage after object", `{"verb":"get"} x`, 15, "garbage after the closing brace"},
		{"second object", `{"verb":"get"}{"verb":"get"}`, 14, "garbage after the closing brace"},
		{"NUL after object", "{}\x00", 2, "garbage after the closing brace"},
		{"code float", `{"responseStatus":{"code":200.0}}`, 26, "not an integer"},
		{"code exponent", `{"responseStatus":{"code":2e2}}`, 26, "not an integer"},
		{"code string", `{"responseStatus":{"code":"200"}}`, 26, "not an integer"},
		{"code bool", `{"responseStatus":{"code":true}}`, 26, "not an integer"},
		{"code object", `{"responseStatus":{"code":{}}}`, 26, "not an integer"},
		{"code too big", `{"responseStatus":{"code":2147483648}}`, 26, "out of int32 range"},
		{"code too small", `{"responseStatus":{"code":-2147483649}}`, 26, "out of int32 range"},
		{"code huge", `{"responseStatus":{"code":123456789012345678901234567890}}`, 26, "out of int32 range"},
		{"code minus only", `{"responseStatus":{"code":-}}`, 26, "invalid number"},
		{"code leading zero", `{"responseStatus":{"code":0200}}`, 27, "expected ',' or '}'"},
		{"verb number", `{"verb":1}`, 8, `"verb": expected a string`},
		{"auditID object", `{"auditID":{}}`, 11, `"auditID": expected a string`},
		{"username array", `{"user":{"username":["a"]}}`, 20, `"username": expected a string`},
		{"user string", `{"user":"alice"}`, 8, `"user": expected an object`},
		{"objectRef array", `{"objectRef":[]}`, 13, `"objectRef": expected an object`},
		{"responseStatus number", `{"responseStatus":200}`, 18, `"responseStatus": expected an object`},
		{"missing colon", `{"verb" "get"}`, 8, "expected ':'"},
		{"missing comma", `{"verb":"get" "level":"x"}`, 14, "expected ',' or '}'"},
		{"trailing comma", `{"verb":"get",}`, 14, "expected a string key"},
		{"leading comma", `{,"verb":"get"}`, 1, "expected a string key"},
		{"unquoted key", `{verb:"get"}`, 1, "expected a string key"},
		{"missing value", `{"kind":}`, 8, "expected a value"},
		{"bad literal", `{"kind":tru}`, 8, "invalid literal"},
		{"bad null in field", `{"verb":nul}`, 8, "invalid literal"},
		{"literal with suffix", `{"kind":nullx}`, 12, "expected ',' or '}'"},
		{"bad number", `{"kind":-x}`, 8, "invalid number"},
		{"bad fraction", `{"kind":1.}`, 8, "invalid number"},
		{"bad exponent", `{"kind":1e+}`, 8, "invalid number"},
		{"bad escape in value", `{"verb":"a\qb"}`, 10, "invalid escape"},
		{"bad \\u in value", `{"verb":"a\u12x4"}`, 10, `invalid \u escape`},
		{"truncated \\u in value", `{"verb":"\u12"}`, 9, `invalid \u escape`},
		{"bad escape in key", `{"ver\b\x":"get"}`, 7, "invalid escape"},
		{"control character in value", "{\"verb\":\"a\x01b\"}", 10, "control character"},
		{"newline in key", "{\"ve\nrb\":\"get\"}", 4, "control character"},
		{"NUL byte inside object", "{\x00}", 1, "expected a string key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Meta
			err := Extract([]byte(tt.in), &m)
			var me *MalformedEventError
			if !errors.As(err, &me) {
				t.Fatalf("Extract(%q) = %v, want a *MalformedEventError", tt.in, err)
			}
			if !errors.Is(err, ErrMalformedEvent) {
				t.Errorf("%v does not wrap ErrMalformedEvent", err)
			}
			if me.Offset != tt.off || !strings.Contains(me.Reason, tt.reason) {
				t.Errorf("Extract(%q) = %q, want offset %d and reason containing %q", tt.in, err, tt.off, tt.reason)
			}
			if want := "malformed audit event at byte " + strconv.Itoa(tt.off) + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("message %q does not start with %q", err, want)
			}
			if metaFields(&m) != (fields{}) || m.Verb != nil {
				t.Errorf("Meta not reset on error: %+v", metaFields(&m))
			}
		})
	}
}

// TestExtractSkippedGrammar documents what Extract accepts although
// json.Valid rejects it: only grammar inside skipped values.
func TestExtractSkippedGrammar(t *testing.T) {
	for _, in := range []string{
		`{"requestURI":"bad \q escape","verb":"get"}`,
		"{\"userAgent\":\"tab\tin string\",\"verb\":\"get\"}",
		`{"requestObject":{"a" 1 "b",,:},"verb":"get"}`,
		`{"requestObject":[tru, nul, 01, -],"verb":"get"}`,
		`{"user":{"groups":[1 2],"username":"u"},"verb":"get"}`,
		`{"requestObject":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `,"verb":"get"}`,
	} {
		var m Meta
		if err := Extract([]byte(in), &m); err != nil {
			t.Errorf("%.60s: %v", in, err)
			continue
		}
		if string(m.Verb) != "get" {
			t.Errorf("%.60s: verb %q", in, m.Verb)
		}
		if json.Valid([]byte(in)) {
			t.Errorf("%.60s: json.Valid accepts it; test case is pointless", in)
		}
	}
}

// TestExtractCorpus compares Extract with encoding/json on every line of the
// real corpus.
func TestExtractCorpus(t *testing.T) {
	lines := loadCorpus(t)
	var m Meta
	escaped, codes, subresources := 0, 0, 0
	for _, l := range lines {
		if err := Extract(l.raw, &m); err != nil {
			t.Fatalf("%s: %v", l.where, err)
		}
		want, valid, typed := refExtract(l.raw)
		if !valid || !typed {
			t.Fatalf("%s: reference rejects a real event (valid=%v typed=%v)", l.where, valid, typed)
		}
		got := metaFields(&m)
		if got != want {
			t.Fatalf("%s:\ngot  %+v\nwant %+v", l.where, got, want)
		}
		// Unauthenticated requests (401) have "user":{}.
		if want.AuditID == "" || want.Stage == "" || want.Level == "" || want.Verb == "" ||
			want.StageTimestamp == "" || (want.Username == "") != (want.Code == 401) {
			t.Errorf("%s: a field every real event has is empty: %+v", l.where, want)
		}
		for _, v := range [][]byte{m.AuditID, m.Stage, m.Level, m.Verb, m.Username, m.StageTimestamp,
			m.ObjectRef.Resource, m.ObjectRef.Subresource, m.ObjectRef.Namespace, m.ObjectRef.Name, m.ObjectRef.APIGroup} {
			if len(v) > 0 && !within(v, l.raw) {
				escaped++
			}
		}
		if m.Code != 0 {
			codes++
		}
		if len(m.ObjectRef.Subresource) > 0 {
			subresources++
		}
	}
	// Sanity: the corpus exercises codes and subresources.
	if codes < 3000 || subresources == 0 {
		t.Errorf("only %d events with a code, %d with a subresource", codes, subresources)
	}
	t.Logf("%d events, %d extracted values needed decoding", len(lines), escaped)
}

// TestExtractCorpusTruncated: every strict prefix of a real event is an error
// (never a panic), and so is every prefix followed by a closing brace that
// leaves a bracket open.
func TestExtractCorpusTruncated(t *testing.T) {
	lines := loadCorpus(t)
	var m Meta
	tested := 0
	for k, l := range lines {
		if len(l.raw) > 4096 || k%97 != 0 {
			continue
		}
		tested++
		for n := 0; n < len(l.raw); n++ {
			if err := Extract(l.raw[:n:n], &m); err == nil {
				t.Fatalf("%s: prefix of %d bytes accepted", l.where, n)
			}
		}
	}
	// One big event: sample the prefixes.
	var big []byte
	for _, l := range lines {
		if len(l.raw) > len(big) {
			big = l.raw
		}
	}
	for n := 0; n < len(big); n += 997 {
		if err := Extract(big[:n:n], &m); err == nil {
			t.Fatalf("prefix of %d bytes of the biggest event accepted", n)
		}
	}
	t.Logf("all prefixes of %d events rejected", tested)
}

// TestExtractNoAllocs: no allocation when no extracted value needs decoding.
func TestExtractNoAllocs(t *testing.T) {
	lines := loadCorpus(t)
	var m Meta
	for _, l := range []corpusLine{lines[0], lines[len(lines)/3], lines[len(lines)-1]} {
		if n := testing.AllocsPerRun(100, func() {
			if err := Extract(l.raw, &m); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocs per Extract", l.where, n)
		}
	}
	heavy := heavyEvent()
	if n := testing.AllocsPerRun(20, func() { _ = Extract(heavy, &m) }); n != 0 {
		t.Errorf("heavy event: %v allocs per Extract", n)
	}
	esc := []byte(`{"verb":"get","user":{"username":"a\"b"}}`)
	if n := testing.AllocsPerRun(100, func() { _ = Extract(esc, &m) }); n != 1 {
		t.Errorf("one escaped value: %v allocs per Extract, want 1", n)
	}
}

// soundSpan independently checks that a skipped value is structurally sound:
// one string, or one container with terminated strings and balanced, matching
// brackets, or a bare scalar without any of those.
func soundSpan(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	var stack []byte
	inString, escaped := false, false
	for i, c := range v {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
				if len(stack) == 0 {
					return i == len(v)-1
				}
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			stack = append(stack, c)
		case c == '}' || c == ']':
			if len(stack) == 0 || stack[len(stack)-1] != c-2 {
				return false
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return i == len(v)-1
			}
		case len(stack) == 0 && (c == ',' || c == ':' || c == ' '):
			return false
		}
	}
	return !inString && len(stack) == 0 && v[0] != '{' && v[0] != '['
}

// FuzzExtract checks that Extract never panics and agrees with encoding/json:
//   - when json.Valid accepts the input and it is an object whose relevant
//     fields have the right types, Extract succeeds with the same fields;
//   - when it is valid but not such an object, Extract fails;
//   - when json.Valid rejects it and Extract succeeds, replacing every value
//     Extract skipped with null must give valid JSON with the same fields
//     (the only grammar errors allowed are inside skipped values), and every
//     skipped value must be structurally sound.
func FuzzExtract(f *testing.F) {
	biggest := -1 // the largest corpus event under 32 KB: big objects to skip
	corpus := loadCorpus(f)
	for k, l := range corpus {
		if len(l.raw) <= 4096 && k%23 == 0 {
			f.Add(l.raw)
		}
		if len(l.raw) < 32<<10 && (biggest < 0 || len(l.raw) > len(corpus[biggest].raw)) {
			biggest = k
		}
	}
	f.Add(corpus[biggest].raw)
	// The apiserver's key order (stageTimestamp after the bodies), with
	// escapes and long strings across the 64-byte blocks of the skipper.
	body := `{"kind":"ConfigMap","data":{"a.json":"{\"k\":\"` + strings.Repeat(`x\\`, 40) + `\"}","b":"` +
		strings.Repeat("y", 300) + `\"}"},"metadata":{"annotations":{"last":"[\"]\",{}]"},"managedFields":[{"f:data":{".":{},"f:a.json":{}}}]}}`
	f.Add([]byte(`{"kind":"Event","level":"RequestResponse","auditID":"a","stage":"ResponseComplete","verb":"update",` +
		`"user":{"username":"u","groups":["g"]},"objectRef":{"resource":"configmaps","namespace":"n","name":"c"},` +
		`"responseStatus":{"metadata":{},"code":200},"requestObject":` + body + `,"responseObject":` + body +
		`,"requestReceivedTimestamp":"t0","stageTimestamp":"t1","annotations":{"r":"RBAC: \"x\""}}`))
	for _, s := range []string{
		`{}`, ` {"verb":"get"} `, `{"verb":"a\"b\\\/\u0041\ud83d\ude00\ud800"}`,
		`{"user":{"username":"u"},"objectRef":{"name":"n","apiGroup":""},"responseStatus":{"code":-1}}`,
		`{"requestObject":{"a":["}",{"b":"\\"}]},"stageTimestamp":"t"}`,
		`{"verb":"get","verb":null}`, `{"responseStatus":{"code":2147483647}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var m Meta
		var skips []exSpan
		err := extract(raw, &m, &skips)
		if err != nil {
			var me *MalformedEventError
			if !errors.As(err, &me) || me.Offset < 0 || me.Offset > len(raw) {
				t.Fatalf("bad error %#v", err)
			}
		}
		want, valid, typed := refExtract(raw)
		switch {
		case valid && typed:
			if err != nil {
				t.Fatalf("encoding/json accepts it, Extract: %v", err)
			}
			if got := metaFields(&m); got != want {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		case valid:
			if err == nil {
				t.Fatalf("not an object or wrong field types, but Extract accepted it: %+v", metaFields(&m))
			}
		case err == nil:
			var skel []byte
			prev := 0
			for _, sp := range skips {
				if sp.Start < prev || sp.End <= sp.Start || sp.End > len(raw) {
					t.Fatalf("bad spans %v", skips)
				}
				if !soundSpan(raw[sp.Start:sp.End]) {
					t.Fatalf("skipped value %q is not structurally sound", raw[sp.Start:sp.End])
				}
				skel = append(skel, raw[prev:sp.Start]...)
				skel = append(skel, "null"...)
				prev = sp.End
			}
			skel = append(skel, raw[prev:]...)
			sref, svalid, styped := refExtract(skel)
			if !svalid || !styped {
				t.Fatalf("Extract accepted invalid JSON whose errors are not inside skipped values; skeleton %q", skel)
			}
			if got := metaFields(&m); got != sref {
				t.Fatalf("skeleton %q:\ngot  %+v\nwant %+v", skel, got, sref)
			}
		}
	})
}

// skipAgree checks that exSkipContainer (byte-by-byte start, 64-byte blocks,
// IndexByte for long strings) and the block scanner alone agree with the
// byte-by-byte reference exSkipContainerSlow on the container at s[0].
func skipAgree(t *testing.T, s []byte) {
	t.Helper()
	wantEnd, wantErr := exSkipContainerSlow(s, 0)
	if end, ok := naiveSkip(s); ok != (wantErr == nil) || (ok && end != wantEnd) {
		t.Fatalf("exSkipContainerSlow(%q) = %d, %v; naive: %d, %v", s, wantEnd, wantErr, end, ok)
	}
	gotEnd, gotErr := exSkipContainer(s, 0)
	if gotEnd != wantEnd || (gotErr == nil) != (wantErr == nil) ||
		(gotErr != nil && gotErr.Error() != wantErr.Error()) {
		t.Fatalf("exSkipContainer(%q) = %d, %v; reference: %d, %v", s, gotEnd, gotErr, wantEnd, wantErr)
	}
	// The block scanner from the very first byte after the opening bracket.
	var n exNest
	n.push(s[0])
	if end, ok := exSkipBlocks(s, 1, &n); ok && (wantErr != nil || end != wantEnd) {
		t.Fatalf("exSkipBlocks(%q) = %d; reference: %d, %v", s, end, wantEnd, wantErr)
	}
}

func TestSkipContainerAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = `"""\\\\{}[]{}[]aaaa   :,Y_y` + "\x7f"
	for range 30000 {
		n := 1 + rng.IntN(300)
		s := make([]byte, n)
		s[0] = "{["[rng.IntN(2)]
		for k := 1; k < n; k++ {
			s[k] = alphabet[rng.IntN(len(alphabet))]
		}
		skipAgree(t, s)
	}
	// Well-formed containers of every size around the block boundaries,
	// with escapes, long strings and deep nesting.
	var sb strings.Builder
	for k := 0; k < 40; k++ {
		fmt.Fprintf(&sb, `{"k%d":["v\"\\",{"x":"%s\\\\"},[]],"z":"\\\"%s"}`, k, strings.Repeat("ab", k*7), strings.Repeat("}", k))
		sb.WriteString(",")
	}
	list := "[" + sb.String() + `"` + strings.Repeat(`\\`, 100) + strings.Repeat("x", 5000) + `\"]"` +
		"," + strings.Repeat("[", 300) + strings.Repeat("]", 300) + "]"
	if !json.Valid([]byte(list)) {
		t.Fatal("test input is not JSON")
	}
	for n := 1; n <= len(list); n++ {
		if n > 2048 && n%13 != 0 && n != len(list) {
			continue // every prefix near the start, a sample further on
		}
		skipAgree(t, []byte(list[:n]))
	}
	if end, err := exSkipContainer([]byte(list), 0); err != nil || end != len(list) {
		t.Fatalf("got %d, %v; want %d", end, err, len(list))
	}
}

// FuzzSkipContainer compares the block scanner with the byte-by-byte
// reference on "[" + input, from the first byte on (no byte-by-byte start).
func FuzzSkipContainer(f *testing.F) {
	f.Add([]byte(`"a\"b",{"c":[1,"]"]},"\\"]`))
	f.Add([]byte(strings.Repeat(`{"k":"\\\"x"},`, 20) + `1]`))
	f.Add([]byte(`"` + strings.Repeat("x", 200) + `\"` + strings.Repeat("y", 70) + `"]`))
	f.Fuzz(func(t *testing.T, in []byte) {
		skipAgree(t, append([]byte{'['}, in...))
	})
}

// naiveSkip is the simplest possible reference for skipping the container at
// s[0]: one byte at a time, a stack of brackets, backslashes escaping the next
// byte inside strings only.
func naiveSkip(s []byte) (int, bool) {
	var stack []byte
	inString, escaped := false, false
	for i, c := range s {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			stack = append(stack, c)
		case c == '}' || c == ']':
			if len(stack) == 0 || stack[len(stack)-1] != c-2 {
				return 0, false
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return i + 1, true
			}
		}
	}
	return 0, false
}

func TestSkipStringBody(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const alphabet = `"\\\\ab`
	for range 200000 {
		s := make([]byte, 1+rng.IntN(120))
		s[0] = '"'
		for k := 1; k < len(s); k++ {
			s[k] = alphabet[rng.IntN(len(alphabet))]
		}
		want := -1
		for i, escaped := 1, false; i < len(s); i++ {
			if escaped {
				escaped = false
			} else if s[i] == '\\' {
				escaped = true
			} else if s[i] == '"' {
				want = i + 1
				break
			}
		}
		if got := exSkipStringBody(s, 1); got != want {
			t.Fatalf("exSkipStringBody(%q) = %d, want %d", s, got, want)
		}
		v, end, err := exString(s, 0, nil)
		var ref string
		if want < 0 || json.Unmarshal(s[:want], &ref) != nil {
			if err == nil {
				t.Fatalf("exString(%q) accepted an invalid string", s)
			}
		} else if err != nil || end != want || string(v) != ref {
			t.Fatalf("exString(%q) = %q, %d, %v; want %q, %d", s, v, end, err, ref, want)
		}
	}
}
