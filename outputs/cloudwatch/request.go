package cloudwatch

import (
	"cmp"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs/internal/oversize"
)

// limits are the bounds requests are built within; the output uses the
// API's (apiLimits), unit tests shrink them.
type limits struct {
	events int   // per request
	bytes  int   // per request, counting overhead per event
	span   int64 // milliseconds; a request's last event is less than this after its first
}

var apiLimits = limits{events: MaxRequestEvents, bytes: MaxRequestBytes, span: MaxSpan.Milliseconds()}

// item is one event on its way into a PutLogEvents request.
type item struct {
	idx int    // index in the batch
	ts  int64  // milliseconds since the epoch
	msg string // the message (aliases the event's bytes, see message)
}

func (it *item) size() int { return len(it.msg) + EventOverhead }

// request is one PutLogEvents call: items of one stream, in chronological
// order, within limits.
type request struct {
	stream string
	items  []item
}

// plan turns a batch into requests. Events that can never be sent (empty,
// oversize under dead_letter, still too large after truncation) get a
// permanent verdict in failed instead. Stream groups keep the order in which
// their first events appear in the batch.
func (o *Output) plan(b *event.Batch, failed map[int]error) []request {
	var streams []string
	groups := map[string][]item{}
	var name []byte
	for i := range b.Events {
		ev := &b.Events[i]
		msg, err := o.message(ev)
		if err != nil {
			failed[i] = err
			continue
		}
		stream := o.stream
		if o.tmpl != nil {
			name = streamName(o.tmpl.Append(name[:0], &ev.Meta))
			stream = string(name)
		}
		g, ok := groups[stream]
		if !ok {
			streams = append(streams, stream)
		}
		groups[stream] = append(g, item{idx: i, ts: timestamp(ev.StageTimestamp, o.now), msg: msg})
	}
	var reqs []request
	for _, s := range streams {
		for _, items := range split(groups[s], o.limits) {
			reqs = append(reqs, request{stream: s, items: items})
		}
	}
	return reqs
}

// errEmpty is the reason an empty event is dead-lettered: CloudWatch Logs
// rejects a request holding an empty message.
var errEmpty = errors.New("empty event: CloudWatch Logs rejects empty messages")

// message returns the text sent for ev, or a permanent error. When the
// event is valid UTF-8 and fits, the text aliases ev.Raw without a copy:
// the SDK serializes the request before Write returns and never keeps it,
// and the delivery loop does not change Raw while Write runs.
func (o *Output) message(ev *event.Event) (string, error) {
	raw := ev.Raw
	if len(raw) == 0 {
		return "", event.Permanent(errEmpty)
	}
	if !utf8.Valid(raw) {
		// CloudWatch counts (and the SDK's JSON encoder sends) UTF-8: size
		// what will be sent. Audit events from kube-apiserver are always
		// valid UTF-8; only a processor could change that.
		raw = []byte(strings.ToValidUTF8(string(raw), "\uFFFD"))
	}
	if len(raw) > o.maxEvent {
		// Fit a copy: the batch's events are the delivery loop's, and a
		// dead-lettered event must reach the dead-letter file unchanged.
		fitted := event.Event{Raw: raw, Meta: ev.Meta}
		if err := oversize.Fit(&fitted, o.maxEvent, o.cfg.Oversize); err != nil {
			return "", err
		}
		raw = fitted.Raw
	}
	return unsafe.String(unsafe.SliceData(raw), len(raw)), nil
}

// split cuts items of one stream into requests within lim, after sorting
// them by timestamp (stable: events with the same timestamp keep the
// batch's order).
func split(items []item, lim limits) [][]item {
	byTime := func(a, b item) int { return cmp.Compare(a.ts, b.ts) }
	if !slices.IsSortedFunc(items, byTime) {
		slices.SortStableFunc(items, byTime)
	}
	var out [][]item
	start, bytes := 0, 0
	for i := range items {
		size := items[i].size()
		if i > start && (i-start >= lim.events || bytes+size > lim.bytes || items[i].ts-items[start].ts >= lim.span) {
			out = append(out, items[start:i:i])
			start, bytes = i, 0
		}
		bytes += size
	}
	if start < len(items) {
		out = append(out, items[start:])
	}
	return out
}

// timestamp returns a stageTimestamp as milliseconds since the epoch; an
// event without a parsable one gets now().
func timestamp(ts []byte, now func() time.Time) int64 {
	if ms, ok := parseRFC3339Millis(ts); ok {
		return ms
	}
	if t, err := time.Parse(time.RFC3339Nano, string(ts)); err == nil {
		return t.UnixMilli()
	}
	return now().UnixMilli()
}

// parseRFC3339Millis parses the layout kube-apiserver writes,
// 2006-01-02T15:04:05[.fraction]Z, without allocating; other forms (time
// zone offsets) report false.
func parseRFC3339Millis(b []byte) (int64, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[len(b)-1] != 'Z' {
		return 0, false
	}
	num := func(s []byte) (int, bool) {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(b[0:4])
	month, ok2 := num(b[5:7])
	day, ok3 := num(b[8:10])
	hour, ok4 := num(b[11:13])
	minute, ok5 := num(b[14:16])
	sec, ok6 := num(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	ms := 0
	frac := b[19 : len(b)-1]
	if len(frac) > 0 {
		if frac[0] != '.' || len(frac) < 2 {
			return 0, false
		}
		digits := frac[1:]
		if _, ok := num(digits); !ok {
			return 0, false
		}
		for i := range 3 {
			ms *= 10
			if i < len(digits) {
				ms += int(digits[i] - '0')
			}
		}
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC)
	if t.Day() != day { // Feb 30 and the like
		return 0, false
	}
	return t.UnixMilli() + int64(ms), true
}
