package kafka_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kubetrail/kubetrail/cmd/agent/app"
	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/config/configtls"
	"github.com/kubetrail/kubetrail/outputs/internal/oversize"
	"github.com/kubetrail/kubetrail/outputs/kafka"
)

const rest = `
inputs:
  apiserver: {type: auditlog, path: /var/log/kubernetes/audit/audit.log}
pipelines:
  audit: {inputs: [apiserver], outputs: [kafka]}
`

func writeCA(t *testing.T, path string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func load(t *testing.T, yaml string) (*config.Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return config.Load(path, app.Registries{})
}

// TestSampleLoads loads the embedded sample through the agent's loader and
// compares every field.
func TestSampleLoads(t *testing.T) {
	dir := t.TempDir()
	pw, ca := filepath.Join(dir, "pw"), filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(pw, []byte("s3cret-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	writeCA(t, ca)
	sample := strings.NewReplacer("/etc/kubetrail/kafka-password", pw, "/etc/kubetrail/kafka-ca.pem", ca).Replace(kafka.Sample())
	cfg, err := load(t, sample+rest)
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Outputs["kafka"].Config.(*kafka.Config)
	want := &kafka.Config{
		Brokers: []string{"kafka-0.kafka:9092", "kafka-1.kafka:9092"}, Topic: "k8s-audit", Key: "{auditID}",
		Cluster: "prod-eu-1", Compression: kafka.CompressionSnappy, RequiredAcks: kafka.AcksAll,
		SASL: &kafka.SASL{Mechanism: kafka.MechanismScramSHA512, Username: "kubetrail", Password: "s3cret-pw"},
		TLS:  &configtls.Config{CAFile: ca}, MaxMessageBytes: config.MiB, Oversize: oversize.Truncate,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := load(t, "outputs:\n  kafka: {type: kafka, brokers: [\"127.0.0.1:9092\"], topic: audit}\n"+rest)
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Outputs["kafka"].Config.(*kafka.Config)
	want := &kafka.Config{Brokers: []string{"127.0.0.1:9092"}, Topic: "audit", Key: "{auditID}", Compression: kafka.CompressionSnappy,
		RequiredAcks: kafka.AcksAll, MaxMessageBytes: config.MiB, Oversize: oversize.Truncate}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Setenv("KT_KAFKA_PW", "env-secret-pw-123")
	for _, tc := range []struct{ name, body, want string }{
		{"no brokers", `topic: a`, "outputs.kafka.brokers: is required"},
		{"bad broker", `{brokers: [kafka], topic: a}`, `outputs.kafka.brokers[0]: "kafka" is not host:port`},
		{"no topic", `brokers: ["k:9092"]`, "outputs.kafka.topic: is required"},
		{"bad topic char", `{brokers: ["k:9092"], topic: "a b"}`, "outputs.kafka.topic:"},
		{"bad template", `{brokers: ["k:9092"], topic: "a-{namespace}"}`, `unknown field "namespace"`},
		{"bad key", `{brokers: ["k:9092"], topic: a, key: "{x"}`, "outputs.kafka.key:"},
		{"compression", `{brokers: ["k:9092"], topic: a, compression: brotli}`, "outputs.kafka.compression:"},
		{"acks", `{brokers: ["k:9092"], topic: a, required_acks: two}`, "outputs.kafka.required_acks:"},
		{"small max", `{brokers: ["k:9092"], topic: a, max_message_bytes: 100}`, "outputs.kafka.max_message_bytes: 100B is below 1KiB"},
		{"oversize", `{brokers: ["k:9092"], topic: a, oversize: drop}`, "outputs.kafka.oversize:"},
		{"mechanism", `{brokers: ["k:9092"], topic: a, sasl: {mechanism: gssapi, username: u, password: "${KT_KAFKA_PW}"}}`, "outputs.kafka.sasl.mechanism:"},
		{"no password", `{brokers: ["k:9092"], topic: a, sasl: {mechanism: plain, username: u}}`, "outputs.kafka.sasl.password: is required"},
		{"tls pair", `{brokers: ["k:9092"], topic: a, tls: {cert_file: /nope}}`, "outputs.kafka.tls.key_file:"},
		{"tls ca", `{brokers: ["k:9092"], topic: a, tls: {ca_file: /nope/ca.pem}}`, "outputs.kafka.tls.ca_file:"},
		{"unknown key", `{brokers: ["k:9092"], topic: a, acks: all}`, "acks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body
			if !strings.HasPrefix(body, "{") {
				body = "{" + body + "}"
			}
			body = "{type: kafka, " + strings.TrimPrefix(body, "{")
			_, err := load(t, "outputs:\n  kafka: "+body+"\n"+rest)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "agent.yaml:2") && !strings.Contains(err.Error(), "agent.yaml:") {
				t.Errorf("error without file:line: %v", err)
			}
			if strings.Contains(err.Error(), "env-secret-pw-123") {
				t.Errorf("the password leaked: %v", err)
			}
		})
	}
}
