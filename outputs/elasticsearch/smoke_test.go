package elasticsearch

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
)

func corpusBatch(t *testing.T, n int) *event.Batch {
	lines := testcorpus.Load(t)
	b := &event.Batch{}
	for _, l := range lines[:n] {
		ev, err := event.New(l.Raw)
		require.NoError(t, err)
		b.Events = append(b.Events, ev)
		b.Bytes += len(l.Raw)
	}
	return b
}

func TestSmoke(t *testing.T) {
	engines(t, func(t *testing.T, e *engine) {
		idx := uniqueName("kt-smoke")
		e.cleanup(t, idx+"*", "kubetrail-"+idx)
		o := e.newOutput(t, idx, func(c *Config) { c.Index = idx + "-{date:YYYY.MM.DD}" })
		b := corpusBatch(t, 500)
		require.NoError(t, o.Write(context.Background(), b))
		require.NoError(t, o.Write(context.Background(), b)) // 409s
		require.Equal(t, 500, e.count(t, idx+"*"))
	})
}
