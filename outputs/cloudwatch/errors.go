package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/kubetrail/kubetrail/event"
)

// Error codes the output acts on.
const (
	codeNotFound      = "ResourceNotFoundException"
	codeAlreadyExists = "ResourceAlreadyExistsException"
)

// unreadyCodes are authentication and authorization failures: they last
// until someone fixes a credential or a policy, so events stay buffered and
// the output turns unready.
var unreadyCodes = map[string]bool{
	"AccessDeniedException":       true,
	"AccessDenied":                true,
	"UnrecognizedClientException": true,
	"InvalidClientTokenId":        true,
	"InvalidSignatureException":   true,
	"SignatureDoesNotMatch":       true,
	"IncompleteSignature":         true,
	"MissingAuthenticationToken":  true,
	"ExpiredTokenException":       true,
	"ExpiredToken":                true,
	"NotAuthorized":               true,
	codeNotFound:                  true, // only reached when the output may not create it
}

// rejectedCodes reject a PutLogEvents request for its content. The output
// builds requests within every documented limit, so one of these means
// CloudWatch will never take these events as they are.
var rejectedCodes = map[string]bool{
	"InvalidParameterException": true,
	"SerializationException":    true,
	"ValidationException":       true,
}

func isCode(err error, code string) bool {
	var apiErr smithy.APIError
	return err != nil && errors.As(err, &apiErr) && apiErr.ErrorCode() == code
}

// classify wraps an API error with what was being done and marks it for the
// delivery loop: Unready for authentication, authorization and missing
// destinations; Permanent for a PutLogEvents request rejected for its
// content (put); Throttled when the response says when to come back;
// otherwise retryable (throttling, 5xx, network errors, timeouts).
func classify(what string, err error, put bool) error {
	wrapped := fmt.Errorf("cloudwatch: %s: %w", what, err)
	var cred credentialsError
	if errors.As(err, &cred) {
		return event.Unready(wrapped)
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code := apiErr.ErrorCode()
		switch {
		case unreadyCodes[code]:
			return event.Unready(wrapped)
		case put && rejectedCodes[code]:
			return event.Permanent(wrapped)
		}
	}
	var resp *awshttp.ResponseError
	if errors.As(err, &resp) && resp.Response != nil {
		status := resp.HTTPStatusCode()
		if status == http.StatusUnauthorized || status == http.StatusForbidden {
			return event.Unready(wrapped)
		}
		if d, ok := retryAfter(resp.Response.Header); ok {
			return event.Throttled(wrapped, d)
		}
	}
	return wrapped
}

// retryAfter reads AWS's x-amz-retry-after (milliseconds) or HTTP's
// Retry-After (seconds).
func retryAfter(h http.Header) (time.Duration, bool) {
	if v := h.Get("X-Amz-Retry-After"); v != "" {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms >= 0 {
			return min(time.Duration(ms)*time.Millisecond, time.Minute), true
		}
	}
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
			return min(time.Duration(s)*time.Second, time.Minute), true
		}
	}
	return 0, false
}

// credentialsMarker marks the failures of a credentials provider, so that
// classify can tell "no usable credentials" (unready) from a network error
// on the service's endpoint.
type credentialsMarker struct{ aws.CredentialsProvider }

func (m credentialsMarker) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := m.CredentialsProvider.Retrieve(ctx)
	if err != nil {
		return c, credentialsError{err}
	}
	return c, nil
}

type credentialsError struct{ err error }

func (e credentialsError) Error() string { return "get AWS credentials: " + e.err.Error() }
func (e credentialsError) Unwrap() error { return e.err }
