package redact

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/kubetrail/kubetrail/event"
)

// leakyEvents returns the events of a real kube-apiserver's
// RequestResponse-everything log (testdata/leaky-run).
func leakyEvents(t *testing.T) [][]byte {
	t.Helper()
	data, err := os.ReadFile("../../../testdata/leaky-run/secrets.log")
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		out = append(out, bytes.Clone(sc.Bytes()))
	}
	return out
}

// secretValues finds every credential in the events independently of the
// redactor: it decodes each event whole and collects the values of Secret
// data and stringData (and their base64-decoded forms), the
// last-applied-configuration's, JSON patch values under /data and
// /stringData, and tokens.
func secretValues(t *testing.T, events [][]byte) map[string]bool {
	t.Helper()
	vals := map[string]bool{}
	add := func(s string, b64 bool) {
		if len(s) < 8 {
			return
		}
		vals[s] = true
		if b64 {
			if d, err := base64.StdEncoding.DecodeString(s); err == nil && len(d) >= 8 {
				vals[string(d)] = true
			}
		}
	}
	var fromSecret func(o map[string]any)
	fromSecret = func(o map[string]any) {
		for _, it := range asList(o["items"]) {
			fromSecret(asMap(it))
		}
		for k, v := range asMap(o["data"]) {
			_ = k
			s, _ := v.(string)
			add(s, true)
		}
		for _, v := range asMap(o["stringData"]) {
			s, _ := v.(string)
			add(s, false)
		}
		ann := asMap(asMap(o["metadata"])["annotations"])
		if la, ok := ann[lastApplied].(string); ok {
			var inner map[string]any
			if json.Unmarshal([]byte(la), &inner) == nil {
				fromSecret(inner)
			}
		}
	}
	for _, raw := range events {
		var ev map[string]any
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		ref := asMap(ev["objectRef"])
		for _, k := range []string{"requestObject", "responseObject"} {
			obj := ev[k]
			switch ref["resource"] {
			case "secrets":
				if ops, ok := obj.([]any); ok { // JSON patch
					for _, op := range ops {
						m := asMap(op)
						if p, _ := m["path"].(string); strings.HasPrefix(p, "/data") || strings.HasPrefix(p, "/stringData") {
							s, _ := m["value"].(string)
							add(s, true)
						}
					}
					continue
				}
				fromSecret(asMap(obj))
			case "serviceaccounts":
				s, _ := asMap(asMap(obj)["status"])["token"].(string)
				add(s, false)
			case "tokenreviews":
				s, _ := asMap(asMap(obj)["spec"])["token"].(string)
				add(s, false)
			}
		}
	}
	return vals
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }
func asList(v any) []any         { l, _ := v.([]any); return l }

func TestRedactRealApiserverEvents(t *testing.T) {
	events := leakyEvents(t)
	secrets := secretValues(t, events)
	planted := 0
	for v := range secrets {
		if strings.HasPrefix(v, "PLANTED-") {
			planted++
		}
	}
	if planted < 10 || len(secrets) < 20 {
		t.Fatalf("found %d secret values (%d planted): the fixture lost its secrets", len(secrets), planted)
	}
	r := NewRedactor(true, nil, "", nil)
	var all bytes.Buffer
	changed := 0
	for _, raw := range events {
		ev, err := event.New(raw)
		if err != nil {
			t.Fatal(err)
		}
		out, ch, err := r.Redact(ev.Raw, &ev.Meta)
		if err != nil {
			t.Fatal(err)
		}
		if string(ev.ObjectRef.Resource) == "configmaps" && (ch || !bytes.Equal(out, raw)) {
			t.Fatalf("a ConfigMap event changed: %s", out)
		}
		if ch {
			changed++
			if _, err := event.New(out); err != nil {
				t.Fatalf("redacted event is not an audit event: %v", err)
			}
		}
		all.Write(out)
		all.WriteByte('\n')
	}
	for v := range secrets {
		if bytes.Contains(all.Bytes(), []byte(v)) {
			t.Errorf("secret value %q survived redaction", v)
		}
	}
	if !bytes.Contains(all.Bytes(), []byte("VISIBLE-configmap-value-11")) {
		t.Error("the ConfigMap value was lost")
	}
	t.Logf("%d events, %d redacted, %d distinct secret values (%d planted) gone", len(events), changed, len(secrets), planted)
}
