package kafka

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/internal/peertest"
	"github.com/kubetrail/kubetrail/outputs/outputtest"
	"github.com/kubetrail/kubetrail/pipeline"
	"github.com/kubetrail/kubetrail/pipeline/buffer"
)

// setScramPassword creates or changes a SCRAM-SHA-512 user on the broker,
// as an operator fixing credentials would.
func setScramPassword(t *testing.T, addr, user, password string) {
	t.Helper()
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	const iterations = 4096
	salted, err := pbkdf2.Key(sha512.New, password, salt, iterations, sha512.Size)
	if err != nil {
		t.Fatal(err)
	}
	c := &kafkago.Client{Addr: kafkago.TCP(addr), Transport: &kafkago.Transport{}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.AlterUserScramCredentials(ctx, &kafkago.AlterUserScramCredentialsRequest{
		Upsertions: []kafkago.UserScramCredentialsUpsertion{{
			Name: user, Mechanism: kafkago.ScramMechanismSha512, Iterations: iterations, Salt: salt, SaltedPassword: salted,
		}},
	})
	if err != nil {
		t.Fatalf("alter SCRAM credentials: %v", err)
	}
	for _, r := range res.Results {
		if r.Error != nil {
			t.Fatalf("alter SCRAM credentials of %s: %v", r.User, r.Error)
		}
	}
}

// TestWrongPasswordKeepsDataAndRecovers runs the output in a pipeline with
// a password the broker does not accept: the output turns unready with a
// reason that does not show the password, nothing is dead-lettered or
// lost, and once the broker accepts the password (the operator fixed the
// credentials) every event arrives without a restart.
func TestWrongPasswordKeepsDataAndRecovers(t *testing.T) {
	addr := broker(t)
	saslAddr := peertest.Require(t, "kafka", "KAFKA_SASL_BOOTSTRAP")
	topic := topicName("fixpw")
	createTopic(t, addr, topic, 2)
	user := fmt.Sprintf("carol-%d", time.Now().UnixNano())
	const agentPassword = "the-agents-password-9"
	setScramPassword(t, addr, user, "an-older-password-1")

	cfg := testConfig(saslAddr, topic)
	cfg.SASL = &SASL{Mechanism: MechanismScramSHA512, Username: user, Password: config.Secret(agentPassword)}
	out := newOutput(t, cfg)
	agentHealth := &pipeline.Health{}
	health := agentHealth.Component("output/kafka")
	status := func() pipeline.ComponentStatus { _, c := agentHealth.Status(); return c[0] }
	dlq := &outputtest.DeadLetters{}
	var logs strings.Builder
	var logMu sync.Mutex
	p, err := pipeline.New(pipeline.Config{
		Name: "auth",
		Outputs: []pipeline.NamedOutput{{Name: "kafka", Output: out, Health: health, Delivery: pipeline.DeliveryConfig{
			MaxEvents: 100, MaxBytes: 1 << 20, MaxWait: 20 * time.Millisecond, MaxInFlight: 1,
			Retry: pipeline.RetryConfig{InitialInterval: 50 * time.Millisecond, MaxInterval: 500 * time.Millisecond, Multiplier: 2},
		}}},
		Buffer:     buffer.Options{Dir: t.TempDir(), Fsync: buffer.FsyncNever},
		DeadLetter: dlq,
		Logger:     slog.New(slog.NewTextHandler(writerFunc(func(b []byte) { logMu.Lock(); logs.Write(b); logMu.Unlock() }), nil)),
		Metrics:    prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	readCtx, stopReading := context.WithCancel(context.Background())
	sendCtx, abandon := context.WithCancel(context.Background())
	defer abandon()
	done := make(chan error, 1)
	go func() { done <- p.Run(readCtx, sendCtx) }()

	evs := corpusEvents(t, 300)
	var wg sync.WaitGroup
	for i := 0; i < len(evs); i += 100 {
		wg.Add(1)
		if err := p.Write(context.Background(), evs[i:i+100], wg.Done); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()

	deadline := time.Now().Add(time.Minute)
	for st := status(); st.Ready; st = status() {
		if time.Now().After(deadline) {
			t.Fatal("the output did not turn unready with a wrong password")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Second) // let it retry a few times
	st := status()
	if !strings.Contains(st.Reason, "SASL Authentication Failed") || strings.Contains(st.Reason, agentPassword) {
		t.Errorf("unready reason: %q", st.Reason)
	}
	if n := len(dlq.Entries()); n > 0 {
		t.Fatalf("%d events dead-lettered on an authentication failure", n)
	}
	if recs, err := readTopic(context.Background(), addr, topic); err != nil || len(recs) > 0 {
		t.Fatalf("topic holds %d records before the fix (%v)", len(recs), err)
	}

	setScramPassword(t, addr, user, agentPassword)
	deadline = time.Now().Add(time.Minute)
	for {
		recs, err := readTopic(context.Background(), addr, topic)
		if err == nil && len(recs) >= len(evs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the fix the topic holds %d of %d records (%v)", len(recs), len(evs), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st := status(); !st.Ready {
		t.Errorf("still unready after delivering: %q", st.Reason)
	}
	stopReading()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if strings.Contains(logs.String(), agentPassword) {
		t.Error("the password appears in the pipeline's log")
	}
}

type writerFunc func([]byte)

func (f writerFunc) Write(b []byte) (int, error) { f(b); return len(b), nil }

var _ io.Writer = writerFunc(nil)
