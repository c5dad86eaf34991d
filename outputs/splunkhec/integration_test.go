package splunkhec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/internal/peertest"
	"github.com/kubetrail/kubetrail/internal/syncbuf"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
	"github.com/kubetrail/kubetrail/outputs/outputtest"
	"github.com/kubetrail/kubetrail/pipeline"
	"github.com/kubetrail/kubetrail/pipeline/buffer"
)

// testConfig is the output's configuration in the integration tests.
func testConfig(endpoint, token string) *Config {
	cfg := defaultConfig()
	cfg.Endpoint = endpoint
	cfg.Token = config.Secret(token)
	cfg.Host = "node-1"
	cfg.Index = "k8s_audit"
	cfg.Source = "kube-apiserver"
	cfg.Fields = map[string]string{"cluster": "test-cluster", "verb": "{verb}", "namespace": "{objectRef.namespace}"}
	return cfg
}

// health records what the delivery loop reports.
type health struct {
	mu      sync.Mutex
	ready   bool
	reasons []string
}

func (h *health) Ready() { h.mu.Lock(); h.ready = true; h.mu.Unlock() }
func (h *health) Unready(err error) {
	h.mu.Lock()
	h.ready = false
	h.reasons = append(h.reasons, err.Error())
	h.mu.Unlock()
}
func (h *health) state() (bool, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ready, append([]string(nil), h.reasons...)
}

// harness is a pipeline (disk buffer in dir) delivering to one splunk_hec
// output.
type harness struct {
	p      *pipeline.Pipeline
	dl     *outputtest.DeadLetters
	health *health
	logs   *syncbuf.Buffer
	stop   context.CancelFunc
	done   chan error
}

func newHarness(t *testing.T, dir string, cfg *Config, d pipeline.DeliveryConfig) *harness {
	t.Helper()
	require.NoError(t, cfg.Validate())
	h := &harness{dl: &outputtest.DeadLetters{}, health: &health{}, logs: &syncbuf.Buffer{}}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	out, err := New(cfg, pipeline.Settings{Name: "siem", StateDir: dir, Logger: log, Metrics: prometheus.NewRegistry(), Delivery: d})
	require.NoError(t, err)
	h.p, err = pipeline.New(pipeline.Config{
		Name: "audit",
		Outputs: []pipeline.NamedOutput{{Name: "siem", Output: out, Delivery: d,
			Limits: event.Limits{PerEventOverhead: overhead}, Health: h.health}},
		Buffer:     buffer.Options{Dir: filepath.Join(dir, "buffer"), Fsync: buffer.FsyncPolicy("never")},
		DeadLetter: h.dl,
		Logger:     log,
		Metrics:    prometheus.NewRegistry(),
	})
	require.NoError(t, err)
	return h
}

// write appends raws to the buffer and waits until they are durable.
func (h *harness) write(t *testing.T, raws [][]byte) {
	t.Helper()
	var wg sync.WaitGroup
	for i := 0; i < len(raws); i += 200 {
		var evs []event.Event
		for _, raw := range raws[i:min(i+200, len(raws))] {
			ev, err := event.New(raw)
			require.NoError(t, err)
			evs = append(evs, ev)
		}
		wg.Add(1)
		require.NoError(t, h.p.Write(context.Background(), evs, wg.Done))
	}
	wg.Wait()
}

func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.p.Run(ctx, context.Background()) }()
}

func (h *harness) close(t *testing.T) {
	t.Helper()
	h.stop()
	select {
	case err := <-h.done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("pipeline did not stop")
	}
}

func corpusRaws(t *testing.T) [][]byte {
	lines := testcorpus.Load(t)
	raws := make([][]byte, len(lines))
	for i, l := range lines {
		raws[i] = l.Raw
	}
	return raws
}

func keyOf(t *testing.T, raw []byte) string {
	ev, err := event.New(raw)
	require.NoError(t, err)
	return string(ev.Meta.AuditID) + "/" + string(ev.Meta.Stage)
}

// waitReceived waits until the receiver's file holds every key of raws and
// returns the records.
func waitReceived(t *testing.T, path string, raws [][]byte, timeout time.Duration) []Record {
	t.Helper()
	want := map[string]bool{}
	for _, raw := range raws {
		want[keyOf(t, raw)] = true
	}
	deadline := time.Now().Add(timeout)
	for {
		recs := readRecords(t, path)
		got := map[string]bool{}
		for i := range recs {
			got[recs[i].key()] = true
		}
		missing := 0
		var example string
		for k := range want {
			if !got[k] {
				missing++
				example = k
			}
		}
		if missing == 0 {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events never received (e.g. %s); %d records", missing, len(want), example, len(recs))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func countRecords(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(data, []byte("\n"))
}

// The whole corpus arrives through a receiver restart mid-run, gzipped, on
// the persisted channel, with the envelope's metadata, each event intact.
func TestCorpusThroughReceiverRestart(t *testing.T) {
	r := startReceiver(t, "corpus-token", 0)
	raws := corpusRaws(t)
	dir := t.TempDir()
	cfg := testConfig(r.endpoint(), "corpus-token")
	cfg.Ack = true
	cfg.AckTimeout = config.Duration(5 * time.Second)
	h := newHarness(t, dir, cfg, pipeline.DeliveryConfig{MaxEvents: 500, MaxInFlight: 2, MaxWait: 10 * time.Millisecond})
	h.write(t, raws)
	h.run()
	deadline := time.Now().Add(60 * time.Second)
	for countRecords(r.file()) < len(raws)/3 {
		require.True(t, time.Now().Before(deadline), "no progress")
		time.Sleep(20 * time.Millisecond)
	}
	before := countRecords(r.file())
	r.restart("corpus-token", 0)
	t.Logf("receiver restarted after %d of %d events", before, len(raws))
	require.Less(t, before, len(raws), "the restart must happen mid-run")
	recs := waitReceived(t, r.file(), raws, 2*time.Minute)
	h.close(t)

	channel, err := os.ReadFile(filepath.Join(dir, "outputs", "siem", "hec-channel"))
	require.NoError(t, err)
	byKey := map[string]*Record{}
	for i := range recs {
		rec := &recs[i]
		require.Equal(t, "gzip", rec.Encoding, "request bodies are gzipped on the wire")
		require.Equal(t, strings.TrimSpace(string(channel)), rec.Channel)
		require.Equal(t, "node-1", rec.Host)
		require.Equal(t, "kube-apiserver", rec.Source)
		require.Equal(t, DefaultSourcetype, rec.Sourcetype)
		require.Equal(t, "k8s_audit", rec.Index)
		require.Equal(t, "test-cluster", rec.Fields["cluster"])
		byKey[rec.key()] = rec
	}
	for _, raw := range raws {
		ev, err := event.New(raw)
		require.NoError(t, err)
		rec := byKey[keyOf(t, raw)]
		require.Equal(t, string(ev.Meta.Verb), rec.Fields["verb"])
		require.Equal(t, string(ev.Meta.ObjectRef.Namespace), rec.Fields["namespace"])
		ts, err := time.Parse(time.RFC3339Nano, string(ev.Meta.StageTimestamp))
		require.NoError(t, err)
		require.InDelta(t, ts.UnixNano(), rec.TimeNanos, 1000, "time is stageTimestamp")
		var want, got any
		require.NoError(t, json.Unmarshal(raw, &want))
		require.NoError(t, json.Unmarshal(rec.Event, &got))
		require.Equal(t, want, got, "the event arrives as written")
	}
	assert.Empty(t, h.dl.Entries())
	t.Logf("%d events, %d records (%d duplicates from the restart)", len(raws), len(recs), len(recs)-len(raws))
}

// With ack on, a receiver killed after it answered 200 but before it
// acknowledged (indexed) loses what it held; the agent sends it again after
// ack_timeout and nothing is missing.
func TestAckResendsWhatTheReceiverLost(t *testing.T) {
	r := startReceiver(t, "ack-token", time.Hour) // answers 200, never indexes
	raws := corpusRaws(t)[:300]
	cfg := testConfig(r.endpoint(), "ack-token")
	cfg.Ack = true
	cfg.AckTimeout = config.Duration(3 * time.Second)
	h := newHarness(t, t.TempDir(), cfg, pipeline.DeliveryConfig{MaxEvents: 100, MaxInFlight: 1, MaxWait: 10 * time.Millisecond})
	h.write(t, raws)
	h.run()
	// The agent got a 200 with an ackId (it polls for it), unacknowledged.
	require.Eventually(t, func() bool { return r.polled() >= 1 }, 30*time.Second, 10*time.Millisecond)
	r.kill()
	require.Zero(t, countRecords(r.file()), "the receiver answered 200 but indexed nothing")
	r.restart("ack-token", 0)
	recs := waitReceived(t, r.file(), raws, time.Minute)
	h.close(t)
	assert.Empty(t, h.dl.Entries())
	assert.Contains(t, h.logs.String(), "not acknowledged within ack_timeout")
	t.Logf("%d events, %d records", len(raws), len(recs))
}

// A wrong token keeps the events buffered, turns the output unready with
// a reason that does not show the token, and delivery resumes by itself
// once the receiver accepts the token.
func TestWrongTokenKeepsDataAndRecovers(t *testing.T) {
	const token = "agent-token-s3cr3t"
	r := startReceiver(t, "some-other-token", 0)
	raws := corpusRaws(t)[:200]
	cfg := testConfig(r.endpoint(), token)
	h := newHarness(t, t.TempDir(), cfg, pipeline.DeliveryConfig{MaxEvents: 100, MaxWait: 10 * time.Millisecond,
		Retry: pipeline.RetryConfig{InitialInterval: 50 * time.Millisecond, MaxInterval: 200 * time.Millisecond, Multiplier: 2}})
	h.write(t, raws)
	h.run()
	require.Eventually(t, func() bool { _, reasons := h.health.state(); return len(reasons) > 0 }, 30*time.Second, 10*time.Millisecond)
	time.Sleep(500 * time.Millisecond) // several retries
	ready, reasons := h.health.state()
	require.False(t, ready)
	require.Contains(t, reasons[0], "401")
	require.Zero(t, countRecords(r.file()))
	require.Empty(t, h.dl.Entries(), "a bad token never dead-letters")

	r.restart(token, 0) // the token is fixed on the HEC side
	waitReceived(t, r.file(), raws, 30*time.Second)
	require.Eventually(t, func() bool { ready, _ := h.health.state(); return ready }, 10*time.Second, 10*time.Millisecond)
	h.close(t)
	for _, reason := range reasons {
		require.NotContains(t, reason, token)
	}
	require.NotContains(t, h.logs.String(), token, "the token never appears in a log line")
	require.Contains(t, h.logs.String(), "[redacted]", "the receiver echoed the token; it was scrubbed")
}

// A request holding one event HEC cannot parse is split until that event
// is alone; only it is dead-lettered, with HEC's reason.
func TestBadEventDeadLettered(t *testing.T) {
	r := startReceiver(t, "bad-token", 0)
	raws := corpusRaws(t)[:64]
	// A trailing comma in an array: the agent's extractor skips it, HEC's
	// JSON decoder does not.
	bad := bytes.Replace(bytes.Clone(raws[37]), []byte(`"sourceIPs":[`), []byte(`"sourceIPs":[[1,],`), 1)
	require.NotEqual(t, raws[37], bad)
	in := append(append([][]byte(nil), raws[:37]...), bad)
	in = append(in, raws[38:]...)
	cfg := testConfig(r.endpoint(), "bad-token")
	cfg.Ack = true
	h := newHarness(t, t.TempDir(), cfg, pipeline.DeliveryConfig{MaxEvents: 64, MaxWait: 50 * time.Millisecond})
	h.write(t, in)
	h.run()
	good := append(append([][]byte(nil), raws[:37]...), raws[38:]...)
	waitReceived(t, r.file(), good, 30*time.Second)
	require.Eventually(t, func() bool { return len(h.dl.Entries()) == 1 }, 10*time.Second, 10*time.Millisecond)
	h.close(t)
	dl := h.dl.Entries()[0]
	require.Equal(t, bad, dl.Raw)
	require.Contains(t, dl.Reason, "Invalid data format (code 6)")
	require.Equal(t, len(good), countRecords(r.file()), "no event was sent twice or lost")
}

const childEnv = "KUBETRAIL_HEC_CHILD"

// TestKillChild is the agent TestAgentSIGKILL kills: it delivers the buffer
// in the directory named by $KUBETRAIL_HEC_CHILD until killed.
func TestKillChild(t *testing.T) {
	spec := os.Getenv(childEnv)
	if spec == "" {
		t.Skip("run by TestAgentSIGKILL")
	}
	var c childSpec
	require.NoError(t, json.Unmarshal([]byte(spec), &c))
	h := newHarness(t, c.Dir, c.config(), c.delivery())
	h.run()
	require.NoError(t, <-h.done)
}

type childSpec struct{ Dir, Endpoint, Token string }

func (c childSpec) config() *Config {
	cfg := testConfig(c.Endpoint, c.Token)
	cfg.Ack = true
	cfg.AckTimeout = config.Duration(5 * time.Second)
	return cfg
}

const childMaxEvents, childInFlight = 200, 2

func (childSpec) delivery() pipeline.DeliveryConfig {
	return pipeline.DeliveryConfig{MaxEvents: childMaxEvents, MaxInFlight: childInFlight, MaxWait: 10 * time.Millisecond}
}

// kill -9 of the agent mid-stream, again and again: every event arrives,
// and each kill re-sends at most the batches in flight.
func TestAgentSIGKILL(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("child")
	}
	r := startReceiver(t, "kill-token", 0)
	raws := corpusRaws(t)
	spec := childSpec{Dir: t.TempDir(), Endpoint: r.endpoint(), Token: "kill-token"}
	fill := newHarness(t, spec.Dir, spec.config(), spec.delivery())
	fill.write(t, raws)
	require.NoError(t, fill.p.Close())

	js, err := json.Marshal(spec)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	kills := 0
	for ; ; kills++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+string(js))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		n := countRecords(r.file())
		if n >= len(raws)*9/10 || kills >= 30 {
			// Let the last one finish.
			waitReceived(t, r.file(), raws, 2*time.Minute)
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
			break
		}
		time.Sleep(time.Duration(100+rng.IntN(200)) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		err := cmd.Wait()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("child ended before the kill (%v):\n%s", err, out.String())
		}
	}
	recs := readRecords(t, r.file())
	seen := map[string]int{}
	for i := range recs {
		seen[recs[i].key()]++
	}
	dups := len(recs) - len(seen)
	// The delivery loop keeps at most max_in_flight+1 batches past the
	// committed position (one done, waiting for an older one to commit,
	// while the freed sender sends the next): a kill re-sends those.
	bound := childMaxEvents * (childInFlight + 1)
	t.Logf("%d events, %d kills, %d records, %d duplicates (%d per kill; bound %d)", len(raws), kills, len(recs), dups, dups/max(kills, 1), bound)
	require.Greater(t, kills, 2, "the agent must be killed mid-stream")
	require.LessOrEqual(t, dups, kills*bound)
}

// The receiver test/peers/splunkhec/start.sh runs (the one .ci/run starts)
// takes uncompressed requests too.
func TestSharedReceiverUncompressed(t *testing.T) {
	endpoint := peertest.Require(t, "splunkhec", "KUBETRAIL_HEC_ENDPOINT")
	file := os.Getenv("KUBETRAIL_HEC_RECEIVED")
	raws := corpusRaws(t)[:50]
	// Unique auditIDs, so that what other runs left in the file cannot count.
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	for i := range raws {
		raws[i] = bytes.Replace(raws[i], []byte(`"auditID":"`), []byte(`"auditID":"`+run+`-`), 1)
	}
	cfg := testConfig(endpoint, os.Getenv("KUBETRAIL_HEC_TOKEN"))
	cfg.Compression = None
	h := newHarness(t, t.TempDir(), cfg, pipeline.DeliveryConfig{MaxEvents: 20, MaxWait: 10 * time.Millisecond})
	h.write(t, raws)
	h.run()
	recs := waitReceived(t, file, raws, 30*time.Second)
	h.close(t)
	for _, rec := range recs {
		if strings.HasPrefix(rec.key(), run) {
			require.Empty(t, rec.Encoding, "compression: none sends plain JSON")
		}
	}
}
