package cloudwatch

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/event"
)

func items(ts ...int64) []item {
	out := make([]item, len(ts))
	for i, t := range ts {
		out[i] = item{idx: i, ts: t, msg: "0123456789"} // 10 + 26 = 36 bytes
	}
	return out
}

func shape(reqs [][]item) [][]int {
	var out [][]int
	for _, r := range reqs {
		var idx []int
		for _, it := range r {
			idx = append(idx, it.idx)
		}
		out = append(out, idx)
	}
	return out
}

func TestSplit(t *testing.T) {
	lim := limits{events: 3, bytes: 3 * 36, span: 1000}
	cases := []struct {
		name  string
		items []item
		want  [][]int
	}{
		{"events at the limit", items(1, 2, 3), [][]int{{0, 1, 2}}},
		{"events one past", items(1, 2, 3, 4), [][]int{{0, 1, 2}, {3}}},
		{"span just under", items(0, 500, 999), [][]int{{0, 1, 2}}},
		{"span at the limit splits", items(0, 500, 1000), [][]int{{0, 1}, {2}}},
		{"sorted, ties keep batch order", items(5, 3, 3, 1), [][]int{{3, 1, 2}, {0}}},
		{"empty", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, shape(split(tc.items, lim)))
		})
	}
	t.Run("bytes", func(t *testing.T) {
		lim := limits{events: 100, bytes: 100, span: 1000}
		at := []item{{idx: 0, msg: strings.Repeat("a", 24)}, {idx: 1, msg: strings.Repeat("b", 24)}} // 50 + 50
		assert.Equal(t, [][]int{{0, 1}}, shape(split(at, lim)))
		past := []item{{idx: 0, msg: strings.Repeat("a", 24)}, {idx: 1, msg: strings.Repeat("b", 25)}}
		assert.Equal(t, [][]int{{0}, {1}}, shape(split(past, lim)))
	})
	t.Run("API limits", func(t *testing.T) {
		its := make([]item, 25_000)
		for i := range its {
			its[i] = item{idx: i, ts: int64(i), msg: "x"}
		}
		reqs := split(its, apiLimits)
		require.Len(t, reqs, 3)
		assert.Len(t, reqs[0], MaxRequestEvents)
		assert.Len(t, reqs[2], 5_000)
	})
}

// Requests are cut by stream first: each stream's events keep their order.
func TestPlanGroupsByStream(t *testing.T) {
	o, err := newOutput(&Config{LogGroup: "g", LogStream: "{objectRef.namespace|none}", MaxEventBytes: MaxEventBytes}, nil, "node", nil)
	require.NoError(t, err)
	now := time.Now()
	b := batchOf(
		withNamespace(t, auditEvent(t, "1", now, 0), "a"),
		withNamespace(t, auditEvent(t, "2", now, 0), "b"),
		withNamespace(t, auditEvent(t, "3", now, 0), "a"),
		event.Event{},
	)
	failed := map[int]error{}
	reqs := o.plan(b, failed)
	require.Len(t, reqs, 2)
	assert.Equal(t, "a", reqs[0].stream)
	assert.Equal(t, [][]int{{0, 2}}, shape([][]item{reqs[0].items}))
	assert.Equal(t, "b", reqs[1].stream)
	assert.Equal(t, [][]int{{1}}, shape([][]item{reqs[1].items}))
	assert.Len(t, failed, 1)
	assert.ErrorIs(t, failed[3], errEmpty)
}

func TestStreamNames(t *testing.T) {
	for _, tc := range []struct{ tmpl, node, want string }{
		{"", "ip-10-0-0-1.ec2.internal", "ip-10-0-0-1.ec2.internal"},
		{"", "a:b*c", "a_b_c"},
		{"audit", "n", "audit"},
	} {
		o, err := newOutput(&Config{LogGroup: "g", LogStream: tc.tmpl, MaxEventBytes: MaxEventBytes}, nil, tc.node, nil)
		require.NoError(t, err)
		assert.Equal(t, tc.want, o.stream)
		assert.Nil(t, o.tmpl)
	}
	o, err := newOutput(&Config{LogGroup: "g", LogStream: "{user.username}", MaxEventBytes: MaxEventBytes}, nil, "n", nil)
	require.NoError(t, err)
	ev := auditEvent(t, "1", time.Now(), 0) // user system:admin
	assert.Equal(t, "system_admin", string(streamName(o.tmpl.Append(nil, &ev.Meta))))
	ev.Username = nil
	assert.Equal(t, "unknown", string(streamName(o.tmpl.Append(nil, &ev.Meta))))
	ev.Username = []byte(strings.Repeat("u", 600))
	assert.Len(t, streamName(o.tmpl.Append(nil, &ev.Meta)), maxStreamName)
}

func TestTimestamp(t *testing.T) {
	now := func() time.Time { return time.UnixMilli(42) }
	for _, s := range []string{
		"2026-11-22T02:27:17.144351Z",
		"2026-11-22T02:27:17.1Z",
		"2026-11-22T02:27:17.999999999Z",
		"2026-11-22T02:27:17Z",
		"2024-02-29T23:59:59.000001Z",
		"1970-01-01T00:00:00.000000Z",
		"2026-11-22T03:27:17.144351+01:00",
	} {
		want, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err)
		assert.Equal(t, want.UnixMilli(), timestamp([]byte(s), now), s)
	}
	for _, s := range []string{"", "yesterday", "2026-11-22T02:27:60Z", "2026-02-30T00:00:00Z", "2026-11-22T02:27:17.Z", "2026-13-01T00:00:00Z"} {
		assert.Equal(t, int64(42), timestamp([]byte(s), now), "%q falls back to now", s)
	}
}

func FuzzParseRFC3339Millis(f *testing.F) {
	f.Add("2026-11-22T02:27:17.144351Z")
	f.Add("2026-11-22T02:27:17Z")
	f.Fuzz(func(t *testing.T, s string) {
		ms, ok := parseRFC3339Millis([]byte(s))
		if !ok {
			return
		}
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("%q: accepted, but time.Parse says %v", s, err)
		}
		if want.UnixMilli() != ms {
			t.Fatalf("%q: %d, want %d", s, ms, want.UnixMilli())
		}
	})
}

func TestInvalidUTF8IsSentAsValidUTF8(t *testing.T) {
	o, err := newOutput(&Config{LogGroup: "g", MaxEventBytes: MaxEventBytes}, nil, "n", nil)
	require.NoError(t, err)
	msg, err := o.message(&event.Event{Raw: []byte("{\"a\":\"\xff\xfe\"}")})
	require.NoError(t, err)
	assert.Equal(t, "{\"a\":\"\uFFFD\"}", msg)
}

func BenchmarkPlan(b *testing.B) {
	o, err := newOutput(&Config{LogGroup: "g", MaxEventBytes: MaxEventBytes}, nil, "n", nil)
	require.NoError(b, err)
	now := time.Now()
	events := make([]event.Event, 1000)
	for i := range events {
		events[i] = auditEvent(b, fmt.Sprint(i), now.Add(time.Duration(i)*time.Millisecond), 1000)
	}
	batch := batchOf(events...)
	b.SetBytes(int64(batch.Bytes))
	b.ReportAllocs()
	for b.Loop() {
		o.plan(batch, map[int]error{})
	}
}
