// Package wire translates between the delivery contract's verdict errors
// (event.Permanent, event.Throttled, event.Unready, *event.PartialError) and
// the protocol's Verdict messages, in both directions, so that the SDK and
// the host agree on them by construction.
package wire

import (
	"errors"
	"strings"
	"time"

	"github.com/kubetrail/kubetrail/event"
	pb "github.com/kubetrail/kubetrail/plugins/proto"
)

// Response turns what a plugin's Write returned into a WriteResponse for a
// batch of n events.
func Response(err error, n int) *pb.WriteResponse {
	resp := &pb.WriteResponse{}
	if err == nil {
		return resp
	}
	var partial *event.PartialError
	if errors.As(err, &partial) {
		resp.Events = make(map[uint32]*pb.Verdict, len(partial.Failed))
		for i, e := range partial.Failed {
			if i < 0 || i >= n || e == nil {
				continue
			}
			resp.Events[uint32(i)] = verdict(e)
		}
		if d, ok := event.RetryAfter(err); ok {
			// A Throttled PartialError: the delay applies to every
			// retryable event that did not carry its own.
			for _, v := range resp.Events {
				if v.Status != pb.Verdict_PERMANENT && v.RetryAfterMs == 0 {
					v.RetryAfterMs = uint64(d.Milliseconds())
				}
			}
		}
		return resp
	}
	resp.Batch = verdict(err)
	return resp
}

func verdict(err error) *pb.Verdict {
	v := &pb.Verdict{Status: pb.Verdict_RETRYABLE, Reason: reason(err)}
	switch {
	case event.IsPermanent(err):
		v.Status = pb.Verdict_PERMANENT
	case event.IsUnready(err):
		v.Status = pb.Verdict_UNREADY
	}
	if d, ok := event.RetryAfter(err); ok && d > 0 {
		v.RetryAfterMs = uint64(d.Milliseconds())
	}
	return v
}

// reason is err's message without the "permanent: " or "unready: " prefix
// of an outermost marker: the host adds its own again.
func reason(err error) string {
	msg := err.Error()
	if inner := errors.Unwrap(err); inner != nil {
		in := inner.Error()
		for _, p := range []string{"permanent: ", "unready: "} {
			if msg == p+in {
				return in
			}
		}
	}
	return msg
}

// RemoteError is an error a plugin reported for an event or a batch.
type RemoteError struct {
	Plugin string // the output's name
	Reason string
}

func (e *RemoteError) Error() string {
	if e.Reason == "" {
		return "plugin " + e.Plugin + ": failed without a reason"
	}
	return "plugin " + e.Plugin + ": " + e.Reason
}

// Error turns a WriteResponse for a batch of n events into the error the
// delivery loop expects: nil when every event is OK. Verdicts for indexes
// outside the batch are ignored; an unknown status is treated as retryable,
// so a newer plugin can never make the host drop an event.
func Error(resp *pb.WriteResponse, n int, plugin string) error {
	batch := resp.GetBatch()
	if len(resp.GetEvents()) == 0 {
		return toError(batch, plugin)
	}
	failed := make(map[int]error)
	var after time.Duration
	for i := range n {
		v, ok := resp.Events[uint32(i)]
		if !ok {
			v = batch
		}
		if err := toError(v, plugin); err != nil {
			failed[i] = err
			if d := time.Duration(v.GetRetryAfterMs()) * time.Millisecond; d > after && v.GetStatus() != pb.Verdict_PERMANENT {
				after = d
			}
		}
	}
	if len(failed) == 0 {
		return nil
	}
	var err error = &event.PartialError{Failed: failed}
	if after > 0 {
		err = event.Throttled(err, after)
	}
	return err
}

func toError(v *pb.Verdict, plugin string) error {
	if v == nil || v.Status == pb.Verdict_OK {
		return nil
	}
	var err error = &RemoteError{Plugin: plugin, Reason: strings.TrimSpace(v.Reason)}
	switch v.Status {
	case pb.Verdict_PERMANENT:
		return event.Permanent(err)
	case pb.Verdict_UNREADY:
		err = event.Unready(err)
	}
	if v.RetryAfterMs > 0 {
		err = event.Throttled(err, time.Duration(v.RetryAfterMs)*time.Millisecond)
	}
	return err
}
