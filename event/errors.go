package event

import (
	"errors"
	"fmt"
	"time"
)

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return "permanent: " + e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as permanent: the events it concerns are dead-lettered
// instead of retried. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// throttledError asks the delivery loop to wait before the next attempt.
type throttledError struct {
	err   error
	after time.Duration
}

func (e throttledError) Error() string {
	return fmt.Sprintf("throttled (retry after %s): %v", e.after, e.err)
}
func (e throttledError) Unwrap() error { return e.err }

// Throttled marks err as retryable no sooner than after (a sink's 429 with
// Retry-After, CloudWatch's ThrottlingException).
func Throttled(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return throttledError{err: err, after: after}
}

// RetryAfter returns the delay a Throttled error asked for, if any.
func RetryAfter(err error) (time.Duration, bool) {
	var t throttledError
	if errors.As(err, &t) {
		return t.after, true
	}
	return 0, false
}

// PartialError reports per-event verdicts for a batch the sink accepted in
// part (Elasticsearch bulk items, Kafka per-message errors). Events whose
// index is absent from Failed were acknowledged.
type PartialError struct {
	// Failed maps an index in Batch.Events to its error; wrap with Permanent
	// for events that must not be retried.
	Failed map[int]error
}

func (e *PartialError) Error() string {
	perm := 0
	var first error
	for _, err := range e.Failed {
		if IsPermanent(err) {
			perm++
		}
		if first == nil {
			first = err
		}
	}
	return fmt.Sprintf("%d events failed (%d permanently), e.g.: %v", len(e.Failed), perm, first)
}

// unreadyError marks a failure the sink will keep returning until someone
// fixes something outside the agent: a rejected credential, a missing
// permission, a deleted destination the output cannot recreate.
type unreadyError struct{ err error }

func (e unreadyError) Error() string { return "unready: " + e.err.Error() }
func (e unreadyError) Unwrap() error { return e.err }

// Unready marks err as an authentication, authorization or configuration
// failure on the sink's side. It is retryable, never Permanent: the events
// stay buffered, the delivery loop turns the output unready (/readyz names
// it with err as the reason), logs it once per interval instead of on every
// retry, and turns it ready again after the next successful Write. A bad
// token must never dead-letter the stream. Unready(nil) is nil.
func Unready(err error) error {
	if err == nil {
		return nil
	}
	return unreadyError{err}
}

// IsUnready reports whether err, or an error it wraps, was marked Unready.
func IsUnready(err error) bool {
	var u unreadyError
	return errors.As(err, &u)
}
