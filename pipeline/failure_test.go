package pipeline_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs/outputtest"
	"github.com/kubetrail/kubetrail/pipeline"
	"github.com/kubetrail/kubetrail/pipeline/buffer"
)

// A batch stuck in retries must hold back the reader: otherwise later
// batches pile up sent but uncommitted, and a restart re-sends all of them.
func TestStuckBatchBoundsDuplicatesAfterRestart(t *testing.T) {
	h := newHarness(t)
	sink := &outputtest.Sink{Fail: func(_ int, b *event.Batch) error {
		for _, ev := range b.Events {
			if string(ev.AuditID) == "id-00000" {
				return errors.New("transient, forever")
			}
		}
		return nil
	}}
	const maxEvents, inFlight = 10, 2
	p := h.open("audit", []pipeline.NamedOutput{{Name: "k", Output: sink,
		Delivery: pipeline.DeliveryConfig{MaxEvents: maxEvents, MaxInFlight: inFlight, MaxWait: time.Millisecond, Retry: fastRetry}}})
	stop := running(t, p)
	write(t, p, 0, 1000, nil)
	time.Sleep(100 * time.Millisecond) // let the loop run ahead if it would
	stop()
	// Sent but uncommitted behind the stuck batch: at most MaxInFlight
	// batches (the window is MaxInFlight+1 with the stuck one).
	assert.LessOrEqual(t, len(sink.Events()), inFlight*maxEvents, "the reader did not run ahead")

	again := &outputtest.Sink{}
	p = h.open("audit", []pipeline.NamedOutput{{Name: "k", Output: again, Delivery: pipeline.DeliveryConfig{MaxWait: time.Millisecond}}})
	stop = running(t, p)
	waitFor(t, again, 1000)
	stop()
	assert.Len(t, again.Events(), 1000, "nothing was committed past the stuck batch, nothing lost")
}

// A cursor that cannot be committed stops the pipeline with an error
// instead of sending on without ever committing.
func TestCommitFailureStopsPipeline(t *testing.T) {
	h := newHarness(t)
	sink := &closeFails{}
	p := h.open("audit", []pipeline.NamedOutput{{Name: "k", Output: sink,
		Delivery: pipeline.DeliveryConfig{MaxEvents: 10, MaxWait: time.Millisecond}}})
	// Every persist of the cursor fails: its temporary file is a directory.
	require.NoError(t, os.Mkdir(filepath.Join(h.dir, "audit", "cursor-k.pos.tmp"), 0o700))
	sendCtx, abandon := context.WithCancel(context.Background())
	defer abandon()
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background(), sendCtx) }()
	write(t, p, 0, 10, nil)
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "commit cursor of output k")
		assert.Contains(t, err.Error(), "close failed", "both errors of the output are reported")
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop after the cursor could not be committed")
	}
	assert.Contains(t, h.logs.String(), "cannot commit output cursor")
}

type closeFails struct{ outputtest.Sink }

func (c *closeFails) Close(context.Context) error { return errors.New("close failed") }

// A record that does not decode (CRC fine: a bug or a format change) stops
// the pipeline rather than letting one output die silently.
func TestUndecodableRecordStopsPipeline(t *testing.T) {
	h := newHarness(t)
	b, err := buffer.Open(buffer.Options{Dir: h.dir + "/audit", Cursors: []string{"a"}, Fsync: buffer.FsyncPolicy("never")})
	require.NoError(t, err)
	require.NoError(t, b.Append(context.Background(), [][]byte{{0xff, 1, 2}}, nil))
	require.NoError(t, b.Close())
	// b starts late, so that a meets the record first (else b's error may
	// stop a before it reads, and only b's is reported).
	a, other := &outputtest.Sink{}, &slowStart{}
	p := h.open("audit", []pipeline.NamedOutput{
		{Name: "a", Output: a, Delivery: pipeline.DeliveryConfig{MaxWait: time.Millisecond}},
		{Name: "b", Output: other, Delivery: pipeline.DeliveryConfig{MaxWait: time.Millisecond}},
	})
	sendCtx, abandon := context.WithCancel(context.Background())
	defer abandon()
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background(), sendCtx) }()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "output a: decode buffer record")
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop on an undecodable record")
	}
	assert.Empty(t, a.Events())
}

// slowStart is a Sink whose Start takes 200ms (or until ctx ends).
type slowStart struct{ outputtest.Sink }

func (s *slowStart) Start(ctx context.Context) error {
	select {
	case <-time.After(200 * time.Millisecond):
	case <-ctx.Done():
	}
	return nil
}
