package deadletter

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/pipeline"
)

func TestRecordsKeepTheEventAndTheReason(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dead-letter.ndjson")
	reg := prometheus.NewRegistry()
	w, err := New(Options{Path: path, Metrics: reg, Now: func() time.Time { return time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC) }})
	require.NoError(t, err)
	entries := []pipeline.DeadLetter{
		{Component: "output/es", Reason: "mapper_parsing_exception", Source: "pipeline/audit", Raw: []byte(`{"auditID":"a"}`)},
		{Component: "input/apiserver", Reason: "malformed audit event at byte 3: unterminated string", Source: "/var/log/audit.log:120", Raw: []byte(`{"au`)},
		{Component: "input/apiserver", Reason: "line exceeds max_line_bytes", Raw: []byte(`{"big":"`), Size: 10 << 20},
		{Component: "input/apiserver", Reason: "not UTF-8", Raw: []byte{0xff, 0xfe, '\n'}},
	}
	for _, e := range entries {
		require.NoError(t, w.WriteDeadLetter(e))
	}
	require.NoError(t, w.Close())

	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var got []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "each line is one JSON object: %s", sc.Text())
		got = append(got, m)
	}
	require.Len(t, got, 4)
	assert.Equal(t, map[string]any{"auditID": "a"}, got[0]["event"], "valid JSON is embedded as is")
	assert.Equal(t, "mapper_parsing_exception", got[0]["reason"])
	assert.Equal(t, "2026-11-22T03:00:00Z", got[0]["time"])
	assert.Equal(t, `{"au`, got[1]["raw"], "malformed JSON is kept as a string")
	assert.Equal(t, "/var/log/audit.log:120", got[1]["source"])
	assert.Equal(t, true, got[2]["truncated"])
	assert.Equal(t, float64(10<<20), got[2]["size"])
	assert.Equal(t, "//4K", got[3]["raw_base64"], "bytes that are not UTF-8 survive as base64")

	assert.Equal(t, 1.0, testutil.ToFloat64(w.count.WithLabelValues("output/es")))
	assert.Equal(t, 3.0, testutil.ToFloat64(w.count.WithLabelValues("input/apiserver")))
}

func TestRecordLargerThanTheFileLimitIsTruncated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dl.ndjson")
	w, err := New(Options{Path: path, MaxSizeMB: 1})
	require.NoError(t, err)
	big := []byte(`{"auditID":"x","requestObject":"` + strings.Repeat("y", 2<<20) + `"}`)
	require.NoError(t, w.WriteDeadLetter(pipeline.DeadLetter{Component: "output/o", Reason: "too big", Raw: big}))
	require.NoError(t, w.Close())
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	assert.Equal(t, true, m["truncated"])
	assert.Equal(t, float64(len(big)), m["size"])
	assert.Less(t, len(data), 1<<20)
	assert.True(t, strings.HasPrefix(m["raw"].(string), `{"auditID":"x"`))
}
