package cloudwatch

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
)

// BenchmarkWrite measures the output's own cost (planning, serialization,
// SigV4 signing, HTTP) per byte of audit events, against a server that
// reads each request and accepts it; b.SetBytes makes MB/s the events'
// raw bytes per second of one core. The agent end to end, against moto, is
// measured with test/bench (see the package README).
func BenchmarkWrite(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	b.Setenv("AWS_ACCESS_KEY_ID", "testing")
	b.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	b.Setenv("AWS_REGION", "us-east-1")
	b.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	b.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	cfg := testConfig(srv.URL)
	cfg.CreateLogGroup, cfg.CreateLogStream = false, false
	o, err := New(context.Background(), cfg, nil)
	require.NoError(b, err)

	// Full requests of real corpus events, as the delivery loop cuts them.
	lines := testcorpus.Load(b)
	now := time.Now()
	var batches []*event.Batch
	cur := &event.Batch{}
	for i, l := range lines {
		ev, err := event.New(l.Raw)
		require.NoError(b, err)
		ev.StageTimestamp = []byte(now.Add(time.Duration(i) * time.Millisecond).UTC().Format(time.RFC3339Nano))
		if cur.Bytes+len(ev.Raw)+EventOverhead*(len(cur.Events)+1) > MaxRequestBytes {
			batches = append(batches, cur)
			cur = &event.Batch{}
		}
		cur.Events = append(cur.Events, ev)
		cur.Bytes += len(ev.Raw)
	}
	total := 0
	for _, bt := range batches {
		total += bt.Bytes
	}
	b.SetBytes(int64(total))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, bt := range batches {
			if err := o.Write(context.Background(), bt); err != nil {
				b.Fatal(err)
			}
		}
	}
}
