package kafka

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/config/configtls"
	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/internal/peertest"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
	"github.com/kubetrail/kubetrail/outputs/internal/oversize"
	"github.com/kubetrail/kubetrail/outputs/outputtest"
	"github.com/kubetrail/kubetrail/pipeline"
)

func testConfig(brokers, topic string) *Config {
	cfg := defaultConfig()
	cfg.Brokers = []string{brokers}
	cfg.Topic = topic
	return cfg
}

func newOutput(t *testing.T, cfg *Config) *Kafka {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	k, err := New(cfg, pipeline.Settings{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestConformance runs the shared output suite against the real broker,
// each subtest on a fresh 3-partition topic.
func TestConformance(t *testing.T) {
	addr := broker(t)
	outputtest.Run(t, outputtest.Harness{
		New: func(t *testing.T, o outputtest.Options) (event.Output, outputtest.ReadBack) {
			topic := topicName("conformance")
			createTopic(t, addr, topic, 3)
			cfg := testConfig(addr, topic)
			if o.MaxEventBytes > 0 {
				cfg.MaxMessageBytes = config.Size(o.MaxEventBytes)
			}
			if o.Oversize != "" {
				cfg.Oversize = o.Oversize
			}
			return newOutput(t, cfg), func(ctx context.Context) ([][]byte, error) {
				recs, err := readTopic(ctx, addr, topic)
				return values(recs), err
			}
		},
		Ordered: true, // keyed by auditID: one request's stages share a partition
		Faults:  []outputtest.Fault{{Name: "broker killed", Break: killBroker}},
	})
}

// killBroker SIGKILLs the broker test/peers/kafka started; heal starts it
// again on the same data and ports.
func killBroker(t *testing.T) (heal func()) {
	dir := peertest.Require(t, "kafka", "KAFKA_DIR")
	stop := exec.Command(peerScript("stop.sh"), dir)
	stop.Env = append(os.Environ(), "KAFKA_STOP_SIGNAL=KILL")
	if out, err := stop.CombinedOutput(); err != nil {
		t.Fatalf("stop.sh: %v\n%s", err, out)
	}
	return func() {
		start := exec.Command(peerScript("start.sh"))
		start.Env = append(os.Environ(), "KAFKA_DIR="+dir)
		if out, err := start.Output(); err != nil {
			t.Fatalf("start.sh: %v\n%s", err, out)
		}
	}
}

// writeDirect sends events through Start/Write/Close, without a pipeline.
func writeDirect(t *testing.T, k *Kafka, evs []event.Event) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := k.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer k.Close(ctx)
	n := 0
	for i := range evs {
		n += len(evs[i].Raw)
	}
	return k.Write(ctx, &event.Batch{Events: evs, Bytes: n})
}

func corpusEvents(t *testing.T, n int) []event.Event {
	t.Helper()
	var out []event.Event
	for _, l := range testcorpus.Load(t) {
		if len(out) == n {
			break
		}
		ev, err := event.New(l.Raw)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// TestRecordShape checks key, headers and value of produced records, and a
// topic template with its fallback.
func TestRecordShape(t *testing.T) {
	addr := broker(t)
	prefix := topicName("shape")
	evs := corpusEvents(t, 300)
	nsTopics := map[string]bool{}
	for i := range evs {
		ns := string(evs[i].ObjectRef.Namespace)
		if ns == "" {
			ns = "none"
		}
		nsTopics[prefix+"-"+ns] = true
	}
	for topic := range nsTopics {
		createTopic(t, addr, topic, 2)
	}
	cfg := testConfig(addr, prefix+"-{objectRef.namespace|none}")
	cfg.Cluster = "test-cluster"
	if err := writeDirect(t, newOutput(t, cfg), evs); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	byID := map[string]record{}
	for topic := range nsTopics {
		recs, err := readTopic(ctx, addr, topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			ev, err := event.New(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			ns := string(ev.ObjectRef.Namespace)
			if ns == "" {
				ns = "none"
			}
			if topic != prefix+"-"+ns {
				t.Errorf("event of namespace %q in topic %s", ns, topic)
			}
			byID[string(ev.ID(nil))] = r
		}
	}
	for i := range evs {
		r, ok := byID[string(evs[i].ID(nil))]
		if !ok {
			t.Fatalf("%s missing", evs[i].ID(nil))
		}
		if !bytes.Equal(r.Value, evs[i].Raw) {
			t.Errorf("value differs")
		}
		if string(r.Key) != string(evs[i].AuditID) {
			t.Errorf("key %q, want the auditID %q", r.Key, evs[i].AuditID)
		}
		if r.Headers["stage"] != string(evs[i].Stage) || r.Headers["verb"] != string(evs[i].Verb) || r.Headers["cluster"] != "test-cluster" {
			t.Errorf("headers %v", r.Headers)
		}
	}
}

// TestCompressions produces with every codec (with the settings codecs.go
// installs) and reads every record back byte for byte. The broker itself
// decompresses each batch to validate its records (Java's gzip,
// snappy-java's xerial framing, lz4-java, zstd-jni), so a stream its
// decoders do not read fails the produce.
func TestCompressions(t *testing.T) {
	addr := broker(t)
	evs := corpusEvents(t, 200)
	for _, c := range compressions {
		t.Run(string(c), func(t *testing.T) {
			topic := topicName("codec-" + string(c))
			createTopic(t, addr, topic, 1)
			cfg := testConfig(addr, topic)
			cfg.Compression = c
			if err := writeDirect(t, newOutput(t, cfg), evs); err != nil {
				t.Fatal(err)
			}
			recs, err := readTopic(context.Background(), addr, topic)
			if err != nil || len(recs) != len(evs) {
				t.Fatalf("%d records read, want %d (%v)", len(recs), len(evs), err)
			}
			for i := range recs {
				if !bytes.Equal(recs[i].Value, evs[i].Raw) {
					t.Fatalf("record %d differs from the event", i)
				}
			}
		})
	}
}

// TestBrokerRefusesLarge: the topic's max.message.bytes is below the
// output's max_message_bytes, so the broker answers MESSAGE_TOO_LARGE for
// the big records only; the policy applies to those events alone.
func TestBrokerRefusesLarge(t *testing.T) {
	addr := broker(t)
	var evs []event.Event
	big := 0
	for _, l := range testcorpus.Load(t) {
		ev, _ := event.New(l.Raw)
		switch {
		case len(l.Raw) > 4096 && big < 10:
			big++
			evs = append(evs, ev)
		case len(l.Raw) < 2000 && len(evs) < 200:
			evs = append(evs, ev)
		}
	}
	for _, p := range oversize.Policies {
		t.Run(string(p), func(t *testing.T) {
			topic := topicName("refuse")
			createTopic(t, addr, topic, 1, kafkago.ConfigEntry{ConfigName: "max.message.bytes", ConfigValue: "4096"})
			cfg := testConfig(addr, topic)
			cfg.Compression = CompressionNone
			cfg.Oversize = p
			batch := make([]event.Event, len(evs))
			for i := range evs {
				batch[i], _ = event.New(bytes.Clone(evs[i].Raw))
			}
			err := writeDirect(t, newOutput(t, cfg), batch)
			pe := &event.PartialError{}
			if err != nil && !errors.As(err, &pe) {
				t.Fatalf("err = %v, want nil or a PartialError", err)
			}
			if p == oversize.DeadLetter && len(pe.Failed) != big {
				t.Errorf("%d events failed, want the %d big ones (%v)", len(pe.Failed), big, err)
			}
			recs, rerr := readTopic(context.Background(), addr, topic)
			if rerr != nil {
				t.Fatal(rerr)
			}
			stored := map[string][]byte{}
			for _, r := range recs {
				ev, _ := event.New(r.Value)
				stored[string(ev.ID(nil))] = r.Value
			}
			for i := range evs {
				id := string(evs[i].ID(nil))
				verdict, failed := pe.Failed[i]
				switch {
				case len(evs[i].Raw) <= 4096:
					if failed || !bytes.Equal(stored[id], evs[i].Raw) {
						t.Errorf("small event %s: failed=%v (%v), stored=%v", id, failed, verdict, stored[id] != nil)
					}
				case p == oversize.DeadLetter:
					if !failed || !event.IsPermanent(verdict) || stored[id] != nil {
						t.Errorf("big event %s: verdict %v, stored %v", id, verdict, stored[id] != nil)
					}
				default:
					if failed || !bytes.Contains(stored[id], []byte(`"audit.k8s.io/truncated":"true"`)) {
						t.Errorf("big event %s: verdict %v, not stored truncated", id, verdict)
					}
				}
			}
		})
	}
}

// TestSASLAndTLS connects with SCRAM-SHA-512, SCRAM-SHA-256, PLAIN and TLS.
func TestSASLAndTLS(t *testing.T) {
	addr := broker(t)
	saslAddr := peertest.Require(t, "kafka", "KAFKA_SASL_BOOTSTRAP")
	sslAddr := peertest.Require(t, "kafka", "KAFKA_SSL_BOOTSTRAP")
	ca := peertest.Require(t, "kafka", "KAFKA_CA_FILE")
	user := peertest.Require(t, "kafka", "KAFKA_SASL_USER")
	pass := peertest.Require(t, "kafka", "KAFKA_SASL_PASSWORD")
	evs := corpusEvents(t, 100)
	for _, tc := range []struct {
		name string
		set  func(*Config)
	}{
		{"scram-sha-512", func(c *Config) {
			c.Brokers = []string{saslAddr}
			c.SASL = &SASL{Mechanism: MechanismScramSHA512, Username: user, Password: config.Secret(pass)}
		}},
		{"scram-sha-256", func(c *Config) {
			c.Brokers = []string{saslAddr}
			c.SASL = &SASL{Mechanism: MechanismScramSHA256, Username: user, Password: config.Secret(pass)}
		}},
		{"plain", func(c *Config) {
			c.Brokers = []string{saslAddr}
			c.SASL = &SASL{Mechanism: MechanismPlain, Username: user, Password: config.Secret(pass)}
		}},
		{"tls", func(c *Config) {
			c.Brokers = []string{sslAddr}
			c.TLS = &configtls.Config{CAFile: ca}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := topicName("auth")
			createTopic(t, addr, topic, 1)
			cfg := testConfig(addr, topic)
			tc.set(cfg)
			if err := writeDirect(t, newOutput(t, cfg), evs); err != nil {
				t.Fatal(err)
			}
			recs, err := readTopic(context.Background(), addr, topic)
			if err != nil || len(recs) != len(evs) {
				t.Fatalf("%d records, want %d (%v)", len(recs), len(evs), err)
			}
		})
	}
}

// TestAuthFailuresAreUnready: a wrong password and an unknown CA are
// Unready (kept buffered), and the password never shows in the error.
func TestAuthFailuresAreUnready(t *testing.T) {
	addr := broker(t)
	saslAddr := peertest.Require(t, "kafka", "KAFKA_SASL_BOOTSTRAP")
	sslAddr := peertest.Require(t, "kafka", "KAFKA_SSL_BOOTSTRAP")
	user := peertest.Require(t, "kafka", "KAFKA_SASL_USER")
	topic := topicName("unready")
	createTopic(t, addr, topic, 1)
	evs := corpusEvents(t, 10)
	const wrong = "wrong-password-4711"
	for _, tc := range []struct {
		name string
		set  func(*Config)
	}{
		{"wrong password", func(c *Config) {
			c.Brokers = []string{saslAddr}
			c.SASL = &SASL{Mechanism: MechanismScramSHA512, Username: user, Password: wrong}
		}},
		{"unknown CA", func(c *Config) {
			c.Brokers = []string{sslAddr}
			c.TLS = &configtls.Config{}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(addr, topic)
			tc.set(cfg)
			err := writeDirect(t, newOutput(t, cfg), evs)
			if !event.IsUnready(err) || event.IsPermanent(err) {
				t.Fatalf("err = %v, want Unready", err)
			}
			if strings.Contains(err.Error(), wrong) {
				t.Fatalf("the password leaked into the error: %v", err)
			}
		})
	}
}

// TestBrokerDownIsRetryable: nothing listens at the broker address.
func TestBrokerDownIsRetryable(t *testing.T) {
	cfg := testConfig(freePort(t), "x")
	evs := corpusEvents(t, 5)
	k := newOutput(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := k.Write(ctx, &event.Batch{Events: evs})
	if err == nil || event.IsPermanent(err) || event.IsUnready(err) {
		t.Fatalf("err = %v, want a plain retryable error", err)
	}
	var pe *event.PartialError
	if errors.As(err, &pe) {
		for _, e := range pe.Failed {
			if event.IsPermanent(e) || event.IsUnready(e) {
				t.Fatalf("per-event error %v, want retryable", e)
			}
		}
	}
	_ = k.Close(ctx)
}
