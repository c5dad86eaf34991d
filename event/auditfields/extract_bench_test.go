package auditfields

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kubetrail/kubetrail/internal/testcorpus"
)

// metadataEvent is a real ~1 KB Metadata-level event from the corpus.
const metadataEvent = testcorpus.MetadataEvent

// heavyEvent returns a synthetic ResponseComplete event for a pod list whose
// responseObject is ~300 KB of pods-like objects, with escaped quotes in
// strings (last-applied-configuration annotations, managedFields keys,
// commands), in the apiserver's key order: stageTimestamp comes last.
func heavyEvent() []byte {
	type obj = map[string]any
	var items []any
	for i := 0; len(items) < 100; i++ {
		name := fmt.Sprintf("web-%d-7c9f8d6b5-x%04d", i%7, i)
		container := obj{
			"name":    "app",
			"image":   "registry.example.com/team/web:v1.2." + fmt.Sprint(i),
			"command": []any{"sh", "-c", `echo "starting \"web\" ` + fmt.Sprint(i) + `"; exec /bin/web --config=/etc/web/config.yaml`},
			"env": []any{
				obj{"name": "JSON_CONFIG", "value": `{"feature":{"enabled":true,"name":"x\"y"},"list":[1,2,3]}`},
				obj{"name": "POD_NAME", "valueFrom": obj{"fieldRef": obj{"apiVersion": "v1", "fieldPath": "metadata.name"}}},
			},
			"resources":    obj{"limits": obj{"cpu": "500m", "memory": "256Mi"}, "requests": obj{"cpu": "100m", "memory": "128Mi"}},
			"volumeMounts": []any{obj{"mountPath": "/etc/web", "name": "config", "readOnly": true}},
		}
		spec := obj{"containers": []any{container}, "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
			"serviceAccountName": "web", "nodeName": fmt.Sprintf("node-%d", i%13),
			"volumes": []any{obj{"name": "config", "configMap": obj{"name": "web-config", "defaultMode": 420}}}}
		lastApplied, err := json.Marshal(obj{"apiVersion": "v1", "kind": "Pod",
			"metadata": obj{"name": name, "namespace": "prod", "labels": obj{"app": "web"}}, "spec": spec})
		if err != nil {
			panic(err)
		}
		items = append(items, obj{
			"metadata": obj{
				"name": name, "namespace": "prod", "uid": fmt.Sprintf("0b6e0c1e-51a4-4d4b-9a8e-%012d", i),
				"resourceVersion": fmt.Sprint(100000 + i), "creationTimestamp": "2026-11-22T02:26:26Z",
				"labels":      obj{"app": "web", "pod-template-hash": "7c9f8d6b5", "tier": "frontend"},
				"annotations": obj{"kubectl.kubernetes.io/last-applied-configuration": string(lastApplied) + "\n"},
				"ownerReferences": []any{obj{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7c9f8d6b5",
					"uid": "5a1d2c3b-0000-4000-8000-000000000001", "controller": true, "blockOwnerDeletion": true}},
				"managedFields": []any{obj{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
					"time": "2026-11-22T02:26:26Z", "fieldsType": "FieldsV1", "fieldsV1": obj{
						"f:metadata": obj{"f:labels": obj{".": obj{}, "f:app": obj{}, "f:tier": obj{}}},
						"f:spec": obj{"f:containers": obj{`k:{"name":"app"}`: obj{".": obj{}, "f:command": obj{},
							"f:env":   obj{`k:{"name":"JSON_CONFIG"}`: obj{".": obj{}, "f:name": obj{}, "f:value": obj{}}},
							"f:image": obj{}, "f:name": obj{}, "f:resources": obj{"f:limits": obj{}}}}}}}},
			},
			"spec": spec,
			"status": obj{"phase": "Running", "podIP": fmt.Sprintf("10.244.%d.%d", i/250, i%250+1),
				"conditions": []any{
					obj{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-22T02:26:30Z"},
					obj{"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-22T02:26:26Z"},
				},
				"containerStatuses": []any{obj{"name": "app", "ready": true, "restartCount": 0,
					"image": "registry.example.com/team/web:v1.2." + fmt.Sprint(i),
					"state": obj{"running": obj{"startedAt": "2026-11-22T02:26:29Z"}}}}},
		})
	}
	resp, err := json.Marshal(obj{"kind": "PodList", "apiVersion": "v1",
		"metadata": obj{"resourceVersion": "123456"}, "items": items})
	if err != nil {
		panic(err)
	}
	var sb strings.Builder
	sb.WriteString(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse",` +
		`"auditID":"3f0e4b5c-2a1d-4e6f-8a9b-0c1d2e3f4a5b","stage":"ResponseComplete",` +
		`"requestURI":"/api/v1/namespaces/prod/pods?limit=500","verb":"list",` +
		`"user":{"username":"system:serviceaccount:monitoring:collector","uid":"7d1f","groups":["system:serviceaccounts","system:serviceaccounts:monitoring","system:authenticated"]},` +
		`"sourceIPs":["10.0.0.12"],"userAgent":"collector/v0.9 (linux/amd64)",` +
		`"objectRef":{"resource":"pods","namespace":"prod","apiVersion":"v1"},` +
		`"responseStatus":{"metadata":{},"code":200},"responseObject":`)
	sb.Write(resp)
	sb.WriteString(`,"requestReceivedTimestamp":"2026-11-22T02:26:40.100000Z","stageTimestamp":"2026-11-22T02:26:40.163524Z",` +
		`"annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by ClusterRoleBinding \"collector\" of ClusterRole \"view\" to ServiceAccount \"collector/monitoring\""}}`)
	return []byte(sb.String())
}

func TestHeavyEvent(t *testing.T) {
	raw := heavyEvent()
	if len(raw) < 250_000 || len(raw) > 350_000 {
		t.Errorf("heavy event is %d bytes, want ~300 KB", len(raw))
	}
	var m Meta
	if err := Extract(raw, &m); err != nil {
		t.Fatal(err)
	}
	want, valid, typed := refExtract(raw)
	if !valid || !typed || metaFields(&m) != want {
		t.Fatalf("got %+v, want %+v", metaFields(&m), want)
	}
	if string(m.StageTimestamp) != "2026-11-22T02:26:40.163524Z" || m.Code != 200 {
		t.Errorf("got %+v", metaFields(&m))
	}
}

// extractStdlib is the temporary encoding/json implementation Extract
// replaced, kept for comparison.
func extractStdlib(raw []byte, m *Meta) error {
	var v struct {
		AuditID        string `json:"auditID"`
		Stage          string `json:"stage"`
		Level          string `json:"level"`
		Verb           string `json:"verb"`
		StageTimestamp string `json:"stageTimestamp"`
		User           struct {
			Username string `json:"username"`
		} `json:"user"`
		ObjectRef struct {
			Resource, Subresource, Namespace, Name string
			APIGroup                               string `json:"apiGroup"`
		} `json:"objectRef"`
		ResponseStatus struct {
			Code int32 `json:"code"`
		} `json:"responseStatus"`
	}
	if len(raw) == 0 || raw[0] != '{' {
		return errors.New("not a JSON object")
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	*m = Meta{
		AuditID: []byte(v.AuditID), Stage: []byte(v.Stage), Level: []byte(v.Level), Verb: []byte(v.Verb),
		StageTimestamp: []byte(v.StageTimestamp), Username: []byte(v.User.Username), Code: v.ResponseStatus.Code,
		ObjectRef: ObjectRef{Resource: []byte(v.ObjectRef.Resource), Subresource: []byte(v.ObjectRef.Subresource),
			Namespace: []byte(v.ObjectRef.Namespace), Name: []byte(v.ObjectRef.Name), APIGroup: []byte(v.ObjectRef.APIGroup)},
	}
	return nil
}

// benchEvents runs extract over events, cycling; one op is one event.
func benchEvents(b *testing.B, events [][]byte, extract func([]byte, *Meta) error) {
	total := 0
	for _, e := range events {
		total += len(e)
	}
	b.SetBytes(int64(total / len(events)))
	b.ReportAllocs()
	var m Meta
	k := 0
	for b.Loop() {
		if err := extract(events[k], &m); err != nil {
			b.Fatal(err)
		}
		if k++; k == len(events) {
			k = 0
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func benchSets(b *testing.B) []struct {
	name   string
	events [][]byte
} {
	var corpus, big [][]byte
	for _, l := range loadCorpus(b) {
		corpus = append(corpus, l.raw)
		if len(l.raw) > 100_000 {
			big = append(big, l.raw)
		}
	}
	return []struct {
		name   string
		events [][]byte
	}{
		{"corpus", corpus},
		{"corpus-over-100KB", big}, // 200-640 KB annotations and env values

		{"heavy-300KB", [][]byte{heavyEvent()}},
		{"metadata-1KB", [][]byte{[]byte(metadataEvent)}},
	}
}

func BenchmarkExtract(b *testing.B) {
	for _, s := range benchSets(b) {
		b.Run(s.name, func(b *testing.B) { benchEvents(b, s.events, Extract) })
	}
}

// BenchmarkExtractStdlib is the temporary encoding/json implementation.
func BenchmarkExtractStdlib(b *testing.B) {
	for _, s := range benchSets(b) {
		b.Run(s.name, func(b *testing.B) { benchEvents(b, s.events, extractStdlib) })
	}
}
