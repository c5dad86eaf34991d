package cloudwatch

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event"
)

// onPut applies f to PutLogEvents requests only.
func onPut(f fault) func(op string) fault {
	return func(op string) fault {
		if op == "PutLogEvents" {
			return f
		}
		return fault{}
	}
}

// retryable asserts err is one the delivery loop retries without marking
// the output unready.
func retryable(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	var partial *event.PartialError
	assert.False(t, errors.As(err, &partial), "a failure of the whole batch comes as it is: %v", err)
	assert.False(t, event.IsPermanent(err), "must not dead-letter: %v", err)
	assert.False(t, event.IsUnready(err), "must not turn unready: %v", err)
}

// Each fault fails a Write with the right verdict; once the fault is gone
// the same batch goes through and is stored once.
func TestFaultVerdicts(t *testing.T) {
	cases := []struct {
		name  string
		fault fault
		check func(t *testing.T, err error)
	}{
		{"throttling", fault{status: 400, code: "ThrottlingException"}, retryable},
		{"throttling with x-amz-retry-after", fault{status: 400, code: "ThrottlingException", headers: map[string]string{"X-Amz-Retry-After": "1500"}},
			func(t *testing.T, err error) {
				retryable(t, err)
				d, ok := event.RetryAfter(err)
				assert.True(t, ok)
				assert.Equal(t, 1500*time.Millisecond, d)
			}},
		{"service unavailable", fault{status: 503, code: "ServiceUnavailableException"}, retryable},
		{"500 without an AWS body", fault{status: 500, code: "InternalFailure"}, retryable},
		{"connection cut", fault{cut: true}, retryable},
		{"timeout", fault{delay: 2 * time.Second}, retryable},
		{"access denied", fault{status: 400, code: "AccessDeniedException"}, func(t *testing.T, err error) {
			assert.True(t, event.IsUnready(err), "%v", err)
			assert.False(t, event.IsPermanent(err))
		}},
		{"bad credentials", fault{status: 400, code: "UnrecognizedClientException"}, func(t *testing.T, err error) {
			assert.True(t, event.IsUnready(err), "%v", err)
		}},
		{"plain 403", fault{status: 403, code: "Forbidden"}, func(t *testing.T, err error) {
			assert.True(t, event.IsUnready(err), "%v", err)
		}},
		{"request rejected for its content", fault{status: 400, code: "InvalidParameterException"}, func(t *testing.T, err error) {
			assert.True(t, event.IsPermanent(err), "%v", err)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			endpoint := moto(t)
			p := newFaultProxy(t, endpoint)
			cfg := testConfig(p.URL())
			cfg.Timeout = config.Duration(300 * time.Millisecond)
			o := newTestOutput(t, cfg)
			b := corpusBatch(t, 20)
			p.setFault(onPut(tc.fault))
			start := time.Now()
			err := o.Write(context.Background(), b)
			assert.Less(t, time.Since(start), 1500*time.Millisecond, "Write returns within its timeout")
			tc.check(t, err)
			assert.Empty(t, readStream(t, endpoint, testGroup, "node-1"))

			p.setFault(nil)
			require.NoError(t, o.Write(context.Background(), b))
			assert.Len(t, readStream(t, endpoint, testGroup, "node-1"), 20)
		})
	}
}

func TestEndpointUnreachableThenBack(t *testing.T) {
	endpoint := moto(t)
	p := newFaultProxy(t, endpoint)
	o := newTestOutput(t, testConfig(p.URL()))
	require.NoError(t, o.Write(context.Background(), corpusBatch(t, 5)))
	p.down()
	retryable(t, o.Write(context.Background(), corpusBatch(t, 5)))
	p.up()
	require.NoError(t, o.Write(context.Background(), corpusBatch(t, 5)))
	assert.Len(t, readStream(t, endpoint, testGroup, "node-1"), 10)
}

// With several requests in one batch, a failing request fails only its own
// events (and those of the requests after it, which are not tried).
func TestFailureOfOneRequestFailsOnlyItsEvents(t *testing.T) {
	endpoint := moto(t)
	p := newFaultProxy(t, endpoint)
	cfg := testConfig(p.URL())
	cfg.LogStream = "{objectRef.namespace|none}"
	o := newTestOutput(t, cfg)
	now := time.Now().Add(-time.Minute)
	b := batchOf(
		auditEvent(t, "a1", now, 0), // stream default
		withNamespace(t, auditEvent(t, "b1", now, 0), "other"),
		auditEvent(t, "a2", now, 0),
		withNamespace(t, auditEvent(t, "b2", now, 0), "other"),
	)
	puts := 0
	p.setFault(func(op string) fault {
		if op != "PutLogEvents" {
			return fault{}
		}
		puts++
		if puts == 2 {
			return fault{status: 400, code: "ThrottlingException"}
		}
		return fault{}
	})
	err := o.Write(context.Background(), b)
	var partial *event.PartialError
	require.True(t, errors.As(err, &partial), "got %v", err)
	assert.Len(t, partial.Failed, 2)
	for _, i := range []int{1, 3} {
		require.Contains(t, partial.Failed, i)
		assert.False(t, event.IsPermanent(partial.Failed[i]))
	}
	assert.Len(t, readStream(t, endpoint, testGroup, "default"), 2)

	// The delivery loop resends only the failed events.
	require.NoError(t, o.Write(context.Background(), batchOf(b.Events[1], b.Events[3])))
	assert.Len(t, readStream(t, endpoint, testGroup, "other"), 2)
	assert.Len(t, readStream(t, endpoint, testGroup, "default"), 2)
}

func TestThrottledStreamCreationIsRetried(t *testing.T) {
	endpoint := moto(t)
	p := newFaultProxy(t, endpoint)
	o := newUnstarted(t, testConfig(p.URL()))
	p.setFault(func(op string) fault {
		if op == "CreateLogStream" {
			return fault{status: 400, code: "ThrottlingException"}
		}
		return fault{}
	})
	retryable(t, o.Start(context.Background()))
	p.setFault(nil)
	require.NoError(t, o.Start(context.Background()), "Start is retried by the delivery loop")
	require.NoError(t, o.Write(context.Background(), corpusBatch(t, 3)))
	assert.Len(t, readStream(t, endpoint, testGroup, "node-1"), 3)
	assert.Equal(t, 1, p.count("PutLogEvents"), "no PutLogEvents before its stream exists")
}

// A templated stream is created by the first Write that needs it; a
// throttled creation fails that Write with a retryable error.
func TestThrottledStreamCreationInWrite(t *testing.T) {
	endpoint := moto(t)
	p := newFaultProxy(t, endpoint)
	cfg := testConfig(p.URL())
	cfg.LogStream = "{verb}"
	o := newTestOutput(t, cfg)
	assert.Equal(t, 1, p.count("CreateLogGroup"), "Start creates the group")
	assert.Zero(t, p.count("CreateLogStream"))
	p.setFault(func(op string) fault {
		if op == "CreateLogStream" {
			return fault{status: 400, code: "ThrottlingException"}
		}
		return fault{}
	})
	b := batchOf(auditEvent(t, "1", time.Now(), 0))
	retryable(t, o.Write(context.Background(), b))
	assert.Zero(t, p.count("PutLogEvents"))
	p.setFault(nil)
	require.NoError(t, o.Write(context.Background(), b))
	assert.Len(t, readStream(t, endpoint, testGroup, "get"), 1)
}

// No DescribeLogStreams, and each stream is created once, however many
// batches go through.
func TestHotPathMakesOnlyPutLogEventsCalls(t *testing.T) {
	endpoint := moto(t)
	p := newFaultProxy(t, endpoint)
	o := newTestOutput(t, testConfig(p.URL()))
	for range 10 {
		require.NoError(t, o.Write(context.Background(), corpusBatch(t, 10)))
	}
	assert.Equal(t, 10, p.count("PutLogEvents"))
	assert.Equal(t, 1, p.count("CreateLogStream"))
	assert.Equal(t, 1, p.count("CreateLogGroup"))
	assert.Zero(t, p.count("DescribeLogStreams"))
}

func withNamespace(t *testing.T, ev event.Event, ns string) event.Event {
	t.Helper()
	raw := []byte(string(ev.Raw))
	raw = []byte(replaceOnce(string(raw), `"namespace":"default"`, `"namespace":"`+ns+`"`))
	require.NoError(t, ev.SetRaw(raw))
	return ev
}

// max_in_flight > 1: concurrent Writes share the stream bookkeeping; each
// stream is created once and every event is stored.
func TestConcurrentWrites(t *testing.T) {
	endpoint := moto(t)
	p := newFaultProxy(t, endpoint)
	cfg := testConfig(p.URL())
	cfg.LogStream = "{verb}"
	o := newTestOutput(t, cfg)
	b := corpusBatch(t, 2000)
	var wg sync.WaitGroup
	const writers = 4
	errs := make([]error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var part []event.Event
			for i := w; i < len(b.Events); i += writers {
				part = append(part, b.Events[i])
			}
			errs[w] = o.Write(context.Background(), batchOf(part...))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	got := readAll(t, endpoint, testGroup)
	n := 0
	for _, events := range got {
		n += len(events)
	}
	assert.Equal(t, len(b.Events), n)
	assert.Equal(t, len(got), p.count("CreateLogStream"), "each stream created once")
}
