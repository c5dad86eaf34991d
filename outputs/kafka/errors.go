package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/kubetrail/kubetrail/event"
)

// unreadyCodes are broker answers that only someone outside the agent can
// fix: credentials, ACLs, the SASL setup. The events stay buffered.
var unreadyCodes = []kafkago.Error{
	kafkago.SASLAuthenticationFailed,
	kafkago.UnsupportedSASLMechanism,
	kafkago.IllegalSASLState,
	kafkago.TopicAuthorizationFailed,
	kafkago.ClusterAuthorizationFailed,
	kafkago.TransactionalIDAuthorizationFailed,
	kafkago.DelegationTokenAuthorizationFailed,
}

// permanentCodes are answers about the record itself that no retry changes.
var permanentCodes = []kafkago.Error{
	kafkago.InvalidTopic,
	kafkago.InvalidRecord,
	kafkago.UnsupportedCompressionType, // the topic forbids the codec: dead-letter rather than loop
}

// classify gives a kafka-go error its delivery verdict: authentication,
// authorization and TLS verification failures are Unready; a few record
// errors are Permanent; everything else (leader changes, not enough
// replicas, timeouts, network errors, unknown topics while they are being
// created, a context ending) is retryable. MESSAGE_TOO_LARGE is handled by
// Write, per record.
func classify(err error) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("kafka: %w", err)
	for _, c := range unreadyCodes {
		if errors.Is(err, c) {
			return event.Unready(err)
		}
	}
	var verr *tls.CertificateVerificationError
	var uerr x509.UnknownAuthorityError
	var herr x509.HostnameError
	var cerr x509.CertificateInvalidError
	if errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &cerr) {
		return event.Unready(err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	for _, c := range permanentCodes {
		if errors.Is(err, c) {
			return event.Permanent(err)
		}
	}
	return err
}
