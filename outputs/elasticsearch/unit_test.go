package elasticsearch

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/config/configtls"
	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
	"github.com/kubetrail/kubetrail/outputs"
	"github.com/kubetrail/kubetrail/outputs/internal/oversize"
	"github.com/kubetrail/kubetrail/pipeline"
)

func TestConfigDefaults(t *testing.T) {
	c := defaultConfig()
	assert.Equal(t, CompressionGzip, c.Compression)
	assert.True(t, c.ManageTemplate)
	assert.Equal(t, ObjectMappingAuto, c.ObjectMapping)
	assert.Equal(t, oversize.Truncate, c.Oversize)
	tmpl, ds := c.target()
	assert.Equal(t, "logs-kubernetes.audit_logs-default", tmpl)
	assert.True(t, ds)
	assert.ErrorContains(t, c.Validate(), "addresses: is required")
}

func TestConfigDecode(t *testing.T) {
	t.Setenv("ES_TEST_PASSWORD", "s3cret-pw")
	b, err := os.ReadFile("testdata/config.yaml")
	require.NoError(t, err)
	c := defaultConfig()
	require.NoError(t, config.Decode("config.yaml", b, c))
	assert.Equal(t, &Config{
		Addresses: []string{"https://es-0.example:9200", "https://es-1.example:9200"},
		Username:  "kubetrail", Password: "s3cret-pw",
		TLS:         configtls.Config{ServerName: "es.example"},
		Index:       "k8s-audit-{objectRef.namespace|cluster}-{date:YYYY.MM.DD}",
		Compression: CompressionNone, ManageTemplate: false, ObjectMapping: ObjectMappingDisabled,
		Timeout: config.Duration(10 * time.Second), Oversize: oversize.DeadLetter,
	}, c)
	// The password never shows, however the config is printed.
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
		assert.NotContains(t, s, "s3cret-pw")
	}
	_, ds := c.target()
	assert.False(t, ds)
}

func TestConfigInvalid(t *testing.T) {
	b, err := os.ReadFile("testdata/config-bad.yaml")
	require.NoError(t, err)
	err = config.Decode("config-bad.yaml", b, defaultConfig())
	require.Error(t, err)
	for _, want := range []string{
		"config-bad.yaml:1: addresses[0]", "api_key: set either", "password: username and password go together",
		"index", "data_stream: set either index or data_stream", "compression", "object_mapping", "timeout", "oversize",
	} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestRegistered(t *testing.T) {
	f, ok := outputs.Lookup("elasticsearch")
	require.True(t, ok)
	assert.Equal(t, maxRequestBytes, f.Limits.MaxBytes)
	d := f.DefaultDelivery()
	assert.Equal(t, 2000, d.Batch.MaxEvents)
	assert.Equal(t, 2, d.MaxInFlight)
	c := f.NewConfig().(*Config)
	c.Addresses = []string{"http://127.0.0.1:1"}
	out, err := f.New(c, pipeline.Settings{Name: "siem"})
	require.NoError(t, err)
	assert.Equal(t, "kubetrail-siem", out.(*Output).templateName)
	assert.Contains(t, Sample(), "type: elasticsearch")
}

func TestIndexNames(t *testing.T) {
	ev, err := event.New([]byte(testcorpus.MetadataEvent))
	require.NoError(t, err)
	for _, tc := range []struct{ tmpl, name, pattern string }{
		{"logs-kubernetes.audit_logs-default", "logs-kubernetes.audit_logs-default", "logs-kubernetes.audit_logs-default"},
		{"k8s-audit-{date:YYYY.MM.DD}", "k8s-audit-2026.11.22", "k8s-audit-*"},
		{"k8s-{objectRef.namespace|none}-{date:YYYY.MM}", "k8s-kube-system-2026.11", "k8s-*-*"},
		{"k8s-{user.username}", "k8s-system_apiserver", "k8s-*"},
		{"{verb}{stage}-x", "watchresponsecomplete-x", "*-x"},
	} {
		n, err := parseName(tc.tmpl)
		require.NoError(t, err, tc.tmpl)
		assert.Equal(t, tc.name, string(n.Append(nil, &ev.Meta)), tc.tmpl)
		assert.Equal(t, tc.pattern, indexPattern(n), tc.tmpl)
	}
	for _, bad := range []string{"Audit-{date:YYYY}", "_audit", "a b", "a/{verb}", "a-{nope}", "a-{verb"} {
		_, err := parseName(bad)
		assert.Error(t, err, bad)
	}
}

func TestDocIDIsAuditIDAndStage(t *testing.T) {
	a, err := event.New([]byte(testcorpus.MetadataEvent))
	require.NoError(t, err)
	same := a
	require.NoError(t, same.SetRaw([]byte(strings.Replace(testcorpus.MetadataEvent, `"verb":"watch"`, `"verb":"get"`, 1))))
	other := a
	require.NoError(t, other.SetRaw([]byte(strings.Replace(testcorpus.MetadataEvent, `"stage":"ResponseComplete"`, `"stage":"ResponseStarted"`, 1))))
	id := string(docID(nil, &a))
	assert.Len(t, id, 22)
	assert.Equal(t, id, string(docID(nil, &same)), "the same auditID and stage")
	assert.NotEqual(t, id, string(docID(nil, &other)), "another stage")
}

func TestAppendDoc(t *testing.T) {
	o, err := New(&Config{Addresses: []string{"http://127.0.0.1:1"}, Index: "a-{date:YYYY.MM.DD}", Compression: CompressionGzip, ObjectMapping: ObjectMappingAuto, Timeout: config.Duration(time.Second)}, pipeline.Settings{})
	require.NoError(t, err)
	ev, err := event.New([]byte(testcorpus.MetadataEvent))
	require.NoError(t, err)
	b := &sendBuf{}
	require.NoError(t, o.appendDoc(b, &ev))
	lines := strings.Split(strings.TrimSuffix(b.body.String(), "\n"), "\n")
	require.Len(t, lines, 2)
	assert.Equal(t, `{"create":{"_index":"a-2026.11.22","_id":"`+string(docID(nil, &ev))+`"}}`, lines[0])
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &doc))
	assert.Equal(t, "2026-11-22T02:27:17.144351Z", doc["@timestamp"])
	assert.Equal(t, `{"@timestamp":"2026-11-22T02:27:17.144351Z",`+testcorpus.MetadataEvent[1:], lines[1], "the event's bytes follow untouched")

	require.NoError(t, ev.SetRaw([]byte(`{"auditID":"x","stage":"ResponseComplete"}`)))
	b.body.Reset()
	require.NoError(t, o.appendDoc(b, &ev))
	lines = strings.Split(strings.TrimSuffix(b.body.String(), "\n"), "\n")
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &doc), "no stageTimestamp: the time of sending")
	assert.NotEmpty(t, doc["@timestamp"])
}

func TestStatusVerdicts(t *testing.T) {
	for _, tc := range []struct {
		status     int
		retryAfter string
		body       string
		check      func(error) bool
		after      time.Duration
	}{
		{401, "", `{"error":{"type":"security_exception","reason":"unable to authenticate user [kubetrail]"},"status":401}`, event.IsUnready, 0},
		{403, "", `{"error":{"type":"security_exception","reason":"action [indices:data/write/bulk] is unauthorized"},"status":403}`, event.IsUnready, 0},
		{404, "", `{"error":"no handler found"}`, event.IsUnready, 0},
		{429, "7", `{"error":{"type":"es_rejected_execution_exception","reason":"rejected execution"},"status":429}`, isThrottled, 7 * time.Second},
		{503, "", `{"error":{"type":"cluster_block_exception","reason":"blocked"},"status":503}`, isThrottled, 0},
		{400, "", `{"error":{"type":"illegal_argument_exception","reason":"Malformed action/metadata line [1]"},"status":400}`, event.IsPermanent, 0},
		{500, "", `oops`, isPlain, 0},
		{502, "", ``, isPlain, 0},
		{413, "", ``, isPlain, 0},
	} {
		res := &esapi.Response{StatusCode: tc.status, Header: http.Header{}}
		if tc.retryAfter != "" {
			res.Header.Set("Retry-After", tc.retryAfter)
		}
		err := statusError("bulk", res, []byte(tc.body))
		assert.True(t, tc.check(err), "%d: %v", tc.status, err)
		if d, ok := event.RetryAfter(err); ok {
			assert.Equal(t, tc.after, d)
		}
		assert.Contains(t, err.Error(), fmt.Sprintf("HTTP %d", tc.status))
	}
}

func isThrottled(err error) bool { _, ok := event.RetryAfter(err); return ok }
func isPlain(err error) bool {
	return !event.IsPermanent(err) && !event.IsUnready(err) && !isThrottled(err)
}

func TestTemplateBody(t *testing.T) {
	b, err := templateBody("logs-kubernetes.audit_logs-default", true, freeMapping(ObjectMappingFlattened))
	require.NoError(t, err)
	var tmpl struct {
		IndexPatterns []string       `json:"index_patterns"`
		DataStream    map[string]any `json:"data_stream"`
		Priority      int            `json:"priority"`
		Template      struct {
			Mappings struct {
				Properties map[string]map[string]any `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	require.NoError(t, json.Unmarshal(b, &tmpl))
	assert.Equal(t, []string{"logs-kubernetes.audit_logs-default"}, tmpl.IndexPatterns)
	assert.NotNil(t, tmpl.DataStream)
	p := tmpl.Template.Mappings.Properties
	for _, f := range []string{"requestObject", "responseObject", "annotations"} {
		assert.Equal(t, "flattened", p[f]["type"], f)
	}
	assert.Equal(t, "ip", p["sourceIPs"]["type"])
	assert.Equal(t, "date", p["@timestamp"]["type"])
	assert.Equal(t, "keyword", p["verb"]["type"])
}

func TestConfigRefusesCredentialsInAddresses(t *testing.T) {
	c := defaultConfig()
	c.Addresses = []string{"https://kubetrail:hunter2@es.example:9200"}
	err := c.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "addresses[0]: holds credentials")
	assert.NotContains(t, err.Error(), "hunter2")
}
