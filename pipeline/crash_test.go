package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs/outputtest"
	"github.com/kubetrail/kubetrail/pipeline"
	"github.com/kubetrail/kubetrail/pipeline/buffer"
)

const crashChildEnv = "KUBETRAIL_CRASH_CHILD_DIR"

// Delivery settings of the crash test: the duplicate bound follows from them.
const crashMaxEvents, crashInFlight = 20, 2

func crashPipeline(t *testing.T, dir string, out event.Output) *pipeline.Pipeline {
	p, err := pipeline.New(pipeline.Config{
		Name: "audit",
		Outputs: []pipeline.NamedOutput{{Name: "o", Output: out, Delivery: pipeline.DeliveryConfig{
			MaxEvents: crashMaxEvents, MaxInFlight: crashInFlight, MaxWait: time.Millisecond,
		}}},
		Buffer:     buffer.Options{Dir: filepath.Join(dir, "buffer"), Fsync: buffer.FsyncPolicy("never")},
		DeadLetter: &outputtest.DeadLetters{},
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics:    prometheus.NewRegistry(),
	})
	require.NoError(t, err)
	return p
}

// TestCrashChildDeliver is the process TestKill9DuringSends kills: it
// delivers the buffer to a slow sink that appends each acknowledged batch's
// auditIDs to acks.log (one write per batch), until it is killed.
func TestCrashChildDeliver(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("run by TestKill9DuringSends")
	}
	acks, err := os.OpenFile(filepath.Join(dir, "acks.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	require.NoError(t, err)
	sink := event.WriteFunc(func(_ context.Context, b *event.Batch) error {
		// The network round trip; random, so batches finish out of order.
		time.Sleep(time.Duration(1+rand.IntN(4)) * time.Millisecond)
		var line []byte
		for _, ev := range b.Events {
			line = append(append(line, ev.AuditID...), '\n')
		}
		_, err := acks.Write(line)
		return err
	})
	p := crashPipeline(t, dir, sink)
	require.NoError(t, p.Run(context.Background(), context.Background()))
}

// kill -9 while batches are being sent loses nothing, and each kill re-sends
// at most the batches in flight (max_in_flight of max_events).
func TestKill9DuringSends(t *testing.T) {
	if testing.Short() || os.Getenv(crashChildEnv) != "" {
		t.Skip("re-executes the test binary")
	}
	dir := t.TempDir()
	const events = 12000
	// Fill the buffer without delivering anything.
	p := crashPipeline(t, dir, event.WriteFunc(func(context.Context, *event.Batch) error { return nil }))
	write(t, p, 0, events, nil)
	require.NoError(t, p.Close())

	unique := func() (map[string]int, int) {
		data, err := os.ReadFile(filepath.Join(dir, "acks.log"))
		if os.IsNotExist(err) {
			return map[string]int{}, 0
		}
		require.NoError(t, err)
		seen := map[string]int{}
		lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
		for _, l := range lines {
			seen[string(l)]++
		}
		return seen, len(lines)
	}
	rng := rand.New(rand.NewPCG(7, uint64(time.Now().UnixNano())))
	kills := 0
	for ; kills < 200; kills++ {
		if seen, _ := unique(); len(seen) >= events {
			break
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChildDeliver$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		require.NoError(t, cmd.Start())
		time.Sleep(time.Duration(30+rng.IntN(70)) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
	}
	seen, total := unique()
	for i := range events {
		require.NotZero(t, seen[fmt.Sprintf("id-%05d", i)], "event id-%05d lost after %d kills", i, kills)
	}
	dups := total - len(seen)
	t.Logf("%d events, %d kills, %d acknowledged, %d duplicates (bound %d per kill)", events, kills, total, dups, crashMaxEvents*crashInFlight)
	require.Greater(t, kills, 3, "the test must kill the child mid-stream")
	require.LessOrEqual(t, dups, kills*crashMaxEvents*crashInFlight, "duplicates only from the batches in flight at each kill")
}
