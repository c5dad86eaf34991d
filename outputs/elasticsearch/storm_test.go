package elasticsearch

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/pipeline"
)

// A node with a write queue of one rejects much of what eight concurrent
// bulks send, per item (429 in an HTTP 200) or, on Elasticsearch, as whole
// requests (HTTP 429). Every event is indexed once, nothing is
// dead-lettered, and only the rejected items are sent again: the events sent
// are exactly the corpus plus the rejected ones (items, or requests
// rejected or failed as a whole).
func TestThrottleStormLosesNothingAndResendsOnlyRejected(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts the node twice")
	}
	engines(t, func(t *testing.T, e *engine) {
		e.restartWith(t, map[string]string{"thread_pool.write.queue_size": "1"})
		idx := uniqueName("kt-storm")
		e.cleanup(t, idx, "kubetrail-"+idx)
		rec := &recorder{Output: e.newOutput(t, idx, func(c *Config) { c.Index = idx })}
		// Two shards: each bulk becomes two shard requests on the write pool.
		require.Equal(t, 200, e.do(t, "PUT", "/"+idx, `{"settings":{"number_of_shards":2,"number_of_replicas":0}}`, nil))
		evs, distinct := corpus(t)
		dl := deliver(t, rec, evs, pipeline.DeliveryConfig{
			MaxEvents: 100, MaxInFlight: 8, MaxWait: time.Millisecond,
			Retry: pipeline.RetryConfig{InitialInterval: 20 * time.Millisecond, MaxInterval: 200 * time.Millisecond, Multiplier: 2, Jitter: 0.2},
		}, func() bool { return e.count(t, idx) == distinct })
		assert.Empty(t, dl)
		// Whole requests that failed otherwise (a connection reset under
		// load) are resent whole too: nothing of them was acknowledged.
		rejected := rec.itemRetryable.Load() + rec.wholeThrottle.Load() + rec.otherErr.Load()
		t.Logf("%s: %d events, %d sent, %d items rejected with 429, %d events in requests rejected whole, %d in failed requests",
			e.name, len(evs), rec.sent.Load(), rec.itemRetryable.Load(), rec.wholeThrottle.Load(), rec.otherErr.Load())
		require.Positive(t, rejected, "no storm: nothing was rejected")
		assert.Zero(t, rec.itemPermanent.Load())
		if rec.otherErr.Load() > 0 {
			t.Logf("a request failed as a whole, not throttled: %v", rec.firstOther.Load())
		}
		assert.Equal(t, int64(len(evs))+rejected, rec.sent.Load(), "sent = corpus + rejected")
		time.Sleep(500 * time.Millisecond)
		assert.Equal(t, distinct, e.count(t, idx))
	})
}
