package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs/internal/oversize"
)

// Each AWS limit is tested right at it (one request) and one past it (two
// requests, or the event's oversize verdict), against moto behind the
// proxy, which fails the test when a request breaks a limit (moto would
// take it).

// rawEvent is an event whose JSON is exactly size bytes, numbered n, at ts.
// The output sends Raw as it is and reads only stageTimestamp from Meta.
func rawEvent(n, size int, ts time.Time) event.Event {
	head := fmt.Sprintf(`{"n":%d,"pad":"`, n)
	raw := head + strings.Repeat("x", size-len(head)-2) + `"}`
	return event.Event{Raw: []byte(raw), Meta: event.Meta{StageTimestamp: []byte(ts.UTC().Format("2006-01-02T15:04:05.000000Z"))}}
}

// sendAndCount writes b through a fresh proxy and returns the requests that
// reached moto; it checks every event was stored, in time order.
func sendAndCount(t *testing.T, cfg func(*Config), b *event.Batch) []putRequest {
	t.Helper()
	endpoint := moto(t)
	p := newFaultProxy(t, endpoint)
	c := testConfig(p.URL())
	if cfg != nil {
		cfg(c)
	}
	o := newTestOutput(t, c)
	require.NoError(t, o.Write(context.Background(), b))
	got := readStream(t, endpoint, testGroup, "node-1")
	require.Len(t, got, len(b.Events))
	for i, e := range got {
		if i > 0 {
			require.LessOrEqual(t, got[i-1].Timestamp, e.Timestamp)
		}
	}
	return p.requests()
}

func eventsIn(reqs []putRequest) []int {
	var n []int
	for _, r := range reqs {
		n = append(n, r.Events)
	}
	return n
}

func TestLimitEventsPerRequest(t *testing.T) {
	now := time.Now().Add(-time.Minute)
	build := func(n int) *event.Batch {
		events := make([]event.Event, n)
		for i := range events {
			events[i] = rawEvent(i, 40, now)
		}
		return batchOf(events...)
	}
	t.Run("at", func(t *testing.T) {
		assert.Equal(t, []int{10_000}, eventsIn(sendAndCount(t, nil, build(MaxRequestEvents))))
	})
	t.Run("past", func(t *testing.T) {
		assert.Equal(t, []int{10_000, 1}, eventsIn(sendAndCount(t, nil, build(MaxRequestEvents+1))))
	})
}

func TestLimitBytesPerRequest(t *testing.T) {
	now := time.Now().Add(-time.Minute)
	// 16 events of 65,510 bytes: 16 * (65,510 + 26) = 1,048,576.
	build := func(extra int) *event.Batch {
		events := make([]event.Event, 16)
		for i := range events {
			events[i] = rawEvent(i, 65_510, now)
		}
		events[15] = rawEvent(15, 65_510+extra, now)
		return batchOf(events...)
	}
	t.Run("at", func(t *testing.T) {
		reqs := sendAndCount(t, nil, build(0))
		require.Len(t, reqs, 1)
		assert.Equal(t, MaxRequestBytes, reqs[0].Bytes)
	})
	t.Run("past", func(t *testing.T) {
		assert.Equal(t, []int{15, 1}, eventsIn(sendAndCount(t, nil, build(1))))
	})
}

func TestLimitSpanPerRequest(t *testing.T) {
	t0 := time.Now().Add(-25 * time.Hour)
	build := func(span time.Duration) *event.Batch {
		return batchOf(rawEvent(0, 100, t0), rawEvent(1, 100, t0.Add(span/2)), rawEvent(2, 100, t0.Add(span)))
	}
	t.Run("at", func(t *testing.T) {
		assert.Equal(t, []int{3}, eventsIn(sendAndCount(t, nil, build(MaxSpan-time.Millisecond))))
	})
	t.Run("past", func(t *testing.T) {
		assert.Equal(t, []int{2, 1}, eventsIn(sendAndCount(t, nil, build(MaxSpan))))
	})
}

func TestChronologicalOrderWithinRequest(t *testing.T) {
	now := time.Now().Add(-time.Hour)
	// Reverse time order, with ties: ties keep the batch's order.
	b := batchOf(
		rawEvent(0, 50, now.Add(3*time.Second)),
		rawEvent(1, 50, now.Add(2*time.Second)),
		rawEvent(2, 50, now.Add(2*time.Second)),
		rawEvent(3, 50, now.Add(time.Second)),
	)
	endpoint := moto(t)
	p := newFaultProxy(t, endpoint)
	require.NoError(t, newTestOutput(t, testConfig(p.URL())).Write(context.Background(), b))
	assert.Equal(t, []int{4}, eventsIn(p.requests()))
	got := readStream(t, endpoint, testGroup, "node-1")
	require.Len(t, got, 4)
	for i, want := range []int{3, 1, 2, 0} {
		assert.Equal(t, string(b.Events[want].Raw), got[i].Message)
	}
}

// bigAuditEvent is an audit event of exactly size bytes whose bulk is its
// requestObject, which truncation drops.
func bigAuditEvent(t *testing.T, size int) event.Event {
	t.Helper()
	ts := time.Now().Add(-time.Minute).UTC().Format("2006-01-02T15:04:05.000000Z")
	head := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"big","stage":"ResponseComplete","verb":"create","stageTimestamp":"` + ts + `","requestObject":{"data":"`
	tail := `"},"annotations":{"a":"b"}}`
	ev, err := event.New([]byte(head + strings.Repeat("y", size-len(head)-len(tail)) + tail))
	require.NoError(t, err)
	require.Len(t, ev.Raw, size)
	return ev
}

func TestLimitEventSize(t *testing.T) {
	t.Run("at the API limit", func(t *testing.T) {
		reqs := sendAndCount(t, nil, batchOf(rawEvent(0, MaxEventBytes, time.Now())))
		require.Len(t, reqs, 1)
		assert.Equal(t, MaxRequestBytes, reqs[0].Bytes)
	})
	for _, max := range []int{MaxEventBytes, 4096} {
		t.Run(fmt.Sprintf("one past %d, dead_letter", max), func(t *testing.T) {
			endpoint := moto(t)
			p := newFaultProxy(t, endpoint)
			cfg := testConfig(p.URL())
			cfg.MaxEventBytes, cfg.Oversize = configSize(max), oversize.DeadLetter
			o := newTestOutput(t, cfg)
			b := batchOf(bigAuditEvent(t, max+1), rawEvent(1, max, time.Now()))
			err := o.Write(context.Background(), b)
			var partial *event.PartialError
			require.True(t, errors.As(err, &partial), "got %v", err)
			require.Len(t, partial.Failed, 1)
			assert.True(t, event.IsPermanent(partial.Failed[0]))
			assert.Contains(t, partial.Failed[0].Error(), fmt.Sprintf("limit of %d bytes", max))
			got := readStream(t, endpoint, testGroup, "node-1")
			require.Len(t, got, 1, "the event at the limit is sent")
			assert.Equal(t, string(b.Events[1].Raw), got[0].Message)
		})
		t.Run(fmt.Sprintf("one past %d, truncate", max), func(t *testing.T) {
			endpoint := moto(t)
			cfg := testConfig(endpoint)
			cfg.MaxEventBytes = configSize(max)
			o := newTestOutput(t, cfg)
			require.NoError(t, o.Write(context.Background(), batchOf(bigAuditEvent(t, max+1))))
			got := readStream(t, endpoint, testGroup, "node-1")
			require.Len(t, got, 1)
			assert.LessOrEqual(t, len(got[0].Message), max)
			assert.NotContains(t, got[0].Message, "requestObject")
			assert.Contains(t, got[0].Message, `"audit.k8s.io/truncated":"true"`)
			assert.Contains(t, got[0].Message, `"auditID":"big"`)
		})
	}
	t.Run("still too large after truncation", func(t *testing.T) {
		endpoint := moto(t)
		cfg := testConfig(endpoint)
		cfg.MaxEventBytes = 4096
		o := newTestOutput(t, cfg)
		err := o.Write(context.Background(), batchOf(rawEvent(0, 4097, time.Now())))
		var partial *event.PartialError
		require.True(t, errors.As(err, &partial), "got %v", err)
		assert.True(t, event.IsPermanent(partial.Failed[0]))
	})
}
