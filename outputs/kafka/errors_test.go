package kafka

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/pipeline"
)

func TestClassify(t *testing.T) {
	const (
		retry = iota
		unready
		permanent
	)
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("SASL handshake: %w", kafkago.SASLAuthenticationFailed), unready},
		{kafkago.TopicAuthorizationFailed, unready},
		{kafkago.ClusterAuthorizationFailed, unready},
		{kafkago.UnsupportedSASLMechanism, unready},
		{x509.UnknownAuthorityError{}, unready},
		{fmt.Errorf("tls: %w", x509.HostnameError{Host: "x"}), unready},
		{kafkago.LeaderNotAvailable, retry},
		{kafkago.NotLeaderForPartition, retry},
		{kafkago.NotEnoughReplicas, retry},
		{kafkago.NotEnoughReplicasAfterAppend, retry},
		{kafkago.RequestTimedOut, retry},
		{kafkago.UnknownTopicOrPartition, retry},
		{kafkago.NetworkException, retry},
		{fmt.Errorf("kafka.(*Client).Produce: %w", dial), retry},
		{context.DeadlineExceeded, retry},
		{kafkago.InvalidTopic, permanent},
		{kafkago.InvalidRecord, permanent},
	} {
		got := classify(tc.err)
		class := retry
		switch {
		case event.IsPermanent(got):
			class = permanent
		case event.IsUnready(got):
			class = unready
		}
		if class != tc.want || !errors.Is(got, tc.err) {
			t.Errorf("classify(%v) = %v (class %d), want class %d wrapping it", tc.err, got, class, tc.want)
		}
	}
	if classify(nil) != nil {
		t.Error("classify(nil) != nil")
	}
}

func TestAcksNoneWarns(t *testing.T) {
	for _, a := range ackses {
		var logs strings.Builder
		cfg := defaultConfig()
		cfg.Brokers, cfg.Topic, cfg.RequiredAcks = []string{"127.0.0.1:1"}, "t", a
		k, err := New(cfg, pipeline.Settings{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		_ = k.Close(context.Background())
		warned := strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "at-most-once")
		if warned != (a == AcksNone) {
			t.Errorf("required_acks %s: warned=%v: %s", a, warned, logs.String())
		}
	}
}
