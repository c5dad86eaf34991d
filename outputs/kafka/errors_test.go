package kafka

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/kubetrail/kubetrail/event"
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
