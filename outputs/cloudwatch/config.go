package cloudwatch

import (
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/outputs/internal/nametemplate"
	"github.com/kubetrail/kubetrail/outputs/internal/oversize"
)

//go:embed sample.yaml
var sample string

// Sample is a commented example configuration of this output.
func Sample() string { return sample }

// The PutLogEvents limits (see the API reference of PutLogEvents in
// github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs): CloudWatch Logs
// rejects a whole request that breaks one of them, so the output never
// builds such a request.
const (
	// MaxRequestEvents is the most log events one PutLogEvents may carry.
	MaxRequestEvents = 10_000
	// MaxRequestBytes is the most bytes one PutLogEvents may carry: the sum
	// of the UTF-8 messages plus EventOverhead per event.
	MaxRequestBytes = 1_048_576
	// EventOverhead is what each log event counts for beyond its message.
	EventOverhead = 26
	// MaxEventBytes is the largest message CloudWatch Logs accepts ("each
	// log event can be no larger than 1 MB", counted with its overhead: a
	// request holding it alone is MaxRequestBytes).
	MaxEventBytes = MaxRequestBytes - EventOverhead
	// MaxSpan bounds the time between the first and the last event of one
	// request ("the time span in a single batch cannot exceed 24 hours").
	// The output keeps each request's span strictly below it.
	MaxSpan = 24 * time.Hour
)

// retentionDays are the values PutRetentionPolicy accepts.
var retentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// Config is the cloudwatch output's configuration.
type Config struct {
	// Region is the AWS region, e.g. eu-west-1. Default: the SDK's (the
	// AWS_REGION variable or the shared config file's profile).
	Region string `yaml:"region"`
	// LogGroup is the log group's name. Required.
	LogGroup string `yaml:"log_group"`
	// LogStream names the log stream of each event: a template of
	// outputs/internal/nametemplate (e.g. "{objectRef.namespace|cluster}";
	// ':' and '*' in field values become '_'). Default "": the node's name
	// (the NODE_NAME variable, else the host name).
	LogStream string `yaml:"log_stream"`
	// CreateLogGroup creates the log group when it does not exist (an
	// existing group is fine). Default true.
	CreateLogGroup bool `yaml:"create_log_group"`
	// CreateLogStream creates each log stream before its first use and when
	// it was deleted (an existing stream is fine). Default true.
	CreateLogStream bool `yaml:"create_log_stream"`
	// RetentionDays is the retention set on the log group when the output
	// creates it; one of the values CloudWatch Logs accepts (1, 3, 5, 7,
	// 14, 30, ... 3653). Default 0: never expire.
	RetentionDays int `yaml:"retention_days"`
	// Endpoint replaces the service's endpoint URL (a VPC endpoint, an
	// emulator). Default "": the region's public endpoint.
	Endpoint string `yaml:"endpoint"`
	// RoleARN is a role to assume (through STS) with the credentials of the
	// SDK's default chain: environment, shared files, web identity (IRSA),
	// container and instance profiles. Default "": use them directly.
	RoleARN string `yaml:"role_arn"`
	// MaxEventBytes is the largest event sent as it is; larger ones get the
	// Oversize policy. At most (and by default) 1,048,550 bytes, CloudWatch
	// Logs' own limit.
	MaxEventBytes config.Size `yaml:"max_event_bytes"`
	// Oversize is truncate (default) or dead_letter.
	Oversize oversize.Policy `yaml:"oversize"`
	// Timeout bounds each API call. Default 30s.
	Timeout config.Duration `yaml:"timeout"`
}

func defaultConfig() *Config {
	return &Config{
		CreateLogGroup:  true,
		CreateLogStream: true,
		MaxEventBytes:   MaxEventBytes,
		Oversize:        oversize.Truncate,
		Timeout:         config.Duration(30 * time.Second),
	}
}

// Validate implements the loader's validation hook.
func (c *Config) Validate() error {
	var errs []error
	field := func(name string, format string, args ...any) {
		errs = append(errs, &config.FieldError{Field: name, Err: fmt.Errorf(format, args...)})
	}
	if err := validGroupName(c.LogGroup); err != nil {
		field("log_group", "%w", err)
	}
	if _, err := parseStream(c.LogStream); err != nil {
		field("log_stream", "%w", err)
	}
	if c.RetentionDays != 0 && !slices.Contains(retentionDays, c.RetentionDays) {
		field("retention_days", "%d is not a retention CloudWatch Logs accepts (%s)", c.RetentionDays, joinInts(retentionDays))
	}
	if c.Endpoint != "" && !strings.HasPrefix(c.Endpoint, "https://") && !strings.HasPrefix(c.Endpoint, "http://") {
		field("endpoint", "%q is not an http(s) URL", c.Endpoint)
	}
	if c.RoleARN != "" && !strings.HasPrefix(c.RoleARN, "arn:") {
		field("role_arn", "%q is not an ARN", c.RoleARN)
	}
	if c.MaxEventBytes < 1024 || c.MaxEventBytes > MaxEventBytes {
		field("max_event_bytes", "%d is outside 1KiB..%d (CloudWatch Logs' limit)", int64(c.MaxEventBytes), MaxEventBytes)
	}
	if err := c.Oversize.Validate(); err != nil {
		field("oversize", "%w", err)
	}
	if c.Timeout <= 0 {
		field("timeout", "must be positive")
	}
	return errors.Join(errs...)
}

// validGroupName checks a log group name: 1-512 characters of a-zA-Z0-9
// and _-/.#
func validGroupName(s string) error {
	if s == "" {
		return errors.New("is required")
	}
	if len(s) > 512 {
		return fmt.Errorf("is %d characters long; CloudWatch Logs allows 512", len(s))
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-/.#", r)
		if !ok {
			return fmt.Errorf("%q has the character %q; CloudWatch Logs allows a-z, A-Z, 0-9 and _-/.#", s, r)
		}
	}
	return nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

// maxStreamName is the longest log stream name CloudWatch Logs accepts.
const maxStreamName = 512

// parseStream parses a log_stream template: CloudWatch Logs forbids ':'
// and '*' in stream names (usernames such as system:serviceaccount:... hold
// ':'; they become '_').
// "" (the node's name) parses as nil.
func parseStream(text string) (*nametemplate.Template, error) {
	if text == "" {
		return nil, nil
	}
	return nametemplate.Parse(text, nametemplate.Options{Valid: func(c byte) bool { return c != ':' && c != '*' }})
}

// streamName cuts a rendered name to what CloudWatch Logs accepts; an empty
// one (every referenced field empty, no fallback) becomes "unknown".
func streamName(b []byte) []byte {
	if len(b) > maxStreamName {
		b = b[:maxStreamName]
	}
	if len(b) == 0 {
		b = append(b, "unknown"...)
	}
	return b
}
