package kafka

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/config/configtls"
	"github.com/kubetrail/kubetrail/outputs/internal/nametemplate"
	"github.com/kubetrail/kubetrail/outputs/internal/oversize"
)

// Config is the kafka output's configuration.
type Config struct {
	// Brokers are the bootstrap brokers, host:port. Required.
	Brokers []string `yaml:"brokers"`
	// Topic is the topic name, or a name template over the event's fields
	// (see nametemplate), e.g. "audit-{objectRef.namespace|cluster}".
	// Required.
	Topic string `yaml:"topic"`
	// Key is the record key, a name template. Default "{auditID}": the
	// stages of one request land in one partition, in order.
	Key string `yaml:"key"`
	// Cluster, when set, is sent in a "cluster" header of every record
	// (beside "stage" and "verb").
	Cluster string `yaml:"cluster"`
	// Compression is none, gzip, snappy, lz4 or zstd. Default snappy: the
	// least agent CPU of the codecs end to end, 3.1x smaller on real audit
	// logs (README.md has the figures; codecs.go the encoders' settings).
	Compression Compression `yaml:"compression"`
	// RequiredAcks is all (default: every in-sync replica has the record),
	// one (the leader only) or none (at-most-once: a warning is logged).
	RequiredAcks Acks `yaml:"required_acks"`
	// SASL authenticates to the brokers; absent: no SASL.
	SASL *SASL `yaml:"sasl"`
	// TLS encrypts the connections; absent: plaintext. `tls: {}` verifies
	// the brokers against the system's roots.
	TLS *configtls.Config `yaml:"tls"`
	// MaxMessageBytes is the largest record (value, key, headers and
	// framing) the output sends; default 1MiB, the broker's default
	// message.max.bytes. Keep it at or below the topic's max.message.bytes.
	MaxMessageBytes config.Size `yaml:"max_message_bytes"`
	// Oversize is what happens to a larger event: truncate (default,
	// kube-apiserver's way) or dead_letter. A broker's MESSAGE_TOO_LARGE
	// for one record applies the same policy to that event.
	Oversize oversize.Policy `yaml:"oversize"`
}

// SASL is the sasl block.
type SASL struct {
	// Mechanism is plain, scram-sha-256 or scram-sha-512. Required.
	Mechanism Mechanism `yaml:"mechanism"`
	Username  string    `yaml:"username"`
	// Password; write it as ${file:PATH} or ${ENV}. Never logged.
	Password config.Secret `yaml:"password"`
}

// Compression is a record batch codec.
type Compression string

// Codecs.
const (
	CompressionNone   Compression = "none"
	CompressionGzip   Compression = "gzip"
	CompressionSnappy Compression = "snappy"
	CompressionLz4    Compression = "lz4"
	CompressionZstd   Compression = "zstd"
)

var compressions = []Compression{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLz4, CompressionZstd}

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *Compression) UnmarshalText(b []byte) error { return config.ParseEnum(c, b, compressions...) }

// Acks is the required_acks value.
type Acks string

// Acknowledgement levels.
const (
	AcksAll  Acks = "all"
	AcksOne  Acks = "one"
	AcksNone Acks = "none"
)

var ackses = []Acks{AcksAll, AcksOne, AcksNone}

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *Acks) UnmarshalText(b []byte) error { return config.ParseEnum(a, b, ackses...) }

// Mechanism is a SASL mechanism.
type Mechanism string

// SASL mechanisms.
const (
	MechanismPlain       Mechanism = "plain"
	MechanismScramSHA256 Mechanism = "scram-sha-256"
	MechanismScramSHA512 Mechanism = "scram-sha-512"
)

var mechanisms = []Mechanism{MechanismPlain, MechanismScramSHA256, MechanismScramSHA512}

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *Mechanism) UnmarshalText(b []byte) error { return config.ParseEnum(m, b, mechanisms...) }

// DefaultMaxMessageBytes is the default max_message_bytes.
const DefaultMaxMessageBytes = config.MiB

// minMessageBytes leaves room for an event after the key, headers and
// framing.
const minMessageBytes = 1 * config.KiB

func defaultConfig() *Config {
	return &Config{
		Key:             "{auditID}",
		Compression:     CompressionSnappy,
		RequiredAcks:    AcksAll,
		MaxMessageBytes: DefaultMaxMessageBytes,
		Oversize:        oversize.Truncate,
	}
}

// topicChars are the characters Kafka allows in a topic name.
func topicChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

var topicOptions = nametemplate.Options{Valid: topicChar, Replacement: '_'}

// Validate implements the loader's validation hook.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, config.Fieldf("brokers", "is required (host:port of at least one broker)"))
	}
	for i, b := range c.Brokers {
		if host, port, ok := strings.Cut(b, ":"); !ok || host == "" || port == "" {
			errs = append(errs, config.Fieldf(fmt.Sprintf("brokers[%d]", i), "%q is not host:port", b))
		}
	}
	if strings.TrimSpace(c.Topic) == "" {
		errs = append(errs, config.Fieldf("topic", "is required"))
	} else if _, err := nametemplate.Parse(c.Topic, topicOptions); err != nil {
		errs = append(errs, &config.FieldError{Field: "topic", Err: err})
	} else if len(c.Topic) > maxTopicLen {
		errs = append(errs, config.Fieldf("topic", "is longer than Kafka's %d characters", maxTopicLen))
	}
	if _, err := nametemplate.Parse(c.Key, nametemplate.Options{}); err != nil {
		errs = append(errs, &config.FieldError{Field: "key", Err: err})
	}
	if err := config.OneOf(c.Compression, compressions...); err != nil {
		errs = append(errs, &config.FieldError{Field: "compression", Err: err})
	}
	if err := config.OneOf(c.RequiredAcks, ackses...); err != nil {
		errs = append(errs, &config.FieldError{Field: "required_acks", Err: err})
	}
	if c.MaxMessageBytes < minMessageBytes {
		errs = append(errs, config.Fieldf("max_message_bytes", "%s is below %s", c.MaxMessageBytes, config.Size(minMessageBytes)))
	}
	if c.MaxMessageBytes > 1<<30 {
		errs = append(errs, config.Fieldf("max_message_bytes", "%s is above 1GiB", c.MaxMessageBytes))
	}
	if err := c.Oversize.Validate(); err != nil {
		errs = append(errs, &config.FieldError{Field: "oversize", Err: err})
	}
	if c.SASL != nil {
		errs = append(errs, config.Nested("sasl", c.SASL.Validate()))
	}
	if c.TLS != nil {
		errs = append(errs, config.Nested("tls", c.TLS.Validate()))
	}
	return errors.Join(errs...)
}

// Validate implements the loader's validation hook.
func (s *SASL) Validate() error {
	var errs []error
	if err := config.OneOf(s.Mechanism, mechanisms...); err != nil {
		errs = append(errs, &config.FieldError{Field: "mechanism", Err: err})
	}
	if s.Username == "" {
		errs = append(errs, config.Fieldf("username", "is required"))
	}
	if s.Password == "" {
		errs = append(errs, config.Fieldf("password", "is required (write it as ${file:PATH} or ${ENV})"))
	}
	return errors.Join(errs...)
}
