package splunkhec

import (
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/config/configtls"
	"github.com/kubetrail/kubetrail/outputs/internal/nametemplate"
	"github.com/kubetrail/kubetrail/outputs/internal/oversize"
)

//go:embed sample.yaml
var sample string

// Sample is a commented example configuration of this output.
func Sample() string { return sample }

// DefaultSourcetype is the sourcetype Splunk's own Kubernetes collectors give
// kube-apiserver audit events (Splunk Connect for Kubernetes' kube-audit
// source, and the Splunk OpenTelemetry Collector chart's audit-log example),
// so the field extractions of Splunk's Kubernetes apps apply to them.
const DefaultSourcetype = "kube:apiserver-audit"

// Compression is the value of the compression key.
type Compression string

// Compressions.
const (
	Gzip Compression = "gzip"
	None Compression = "none"
)

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *Compression) UnmarshalText(b []byte) error { return config.ParseEnum(c, b, Gzip, None) }

// Config is the splunk_hec output's configuration.
type Config struct {
	// Endpoint is the HEC base URL, e.g. https://splunk.example:8088; the
	// paths /services/collector/event and /ack are added (a URL already
	// ending in /services/collector[/event] is accepted). Required.
	Endpoint string `yaml:"endpoint"`
	// Token is the HEC token, best given as ${file:PATH} or ${ENV}. Never
	// logged; scrubbed from errors. Required.
	Token config.Secret `yaml:"token"`
	// Index, Source, Sourcetype and Host go in every envelope; an empty
	// Index or Source is left out (the token's defaults apply). Sourcetype
	// defaults to kube:apiserver-audit; Host to $NODE_NAME, else the
	// hostname.
	Index      string `yaml:"index"`
	Source     string `yaml:"source"`
	Sourcetype string `yaml:"sourcetype"`
	Host       string `yaml:"host"`
	// Fields are indexed fields: name -> template over the event's
	// extracted fields (see nametemplate), e.g. verb: "{verb}",
	// namespace: "{objectRef.namespace|-}", cluster: prod-eu-1. A field
	// rendering empty is left out.
	Fields map[string]string `yaml:"fields"`
	// Compression of request bodies: gzip (default) or none.
	Compression Compression `yaml:"compression"`
	// MaxBytes bounds one request's body before compression. Default 1MiB,
	// Splunk's default max_content_length.
	MaxBytes config.Size `yaml:"max_bytes"`
	// MaxEventBytes bounds one event; larger ones get the Oversize policy.
	// Default max_bytes less 16KiB for the envelope.
	MaxEventBytes config.Size `yaml:"max_event_bytes"`
	// Oversize is what happens to an event over max_event_bytes: truncate
	// (default; kube-apiserver's truncation) or dead_letter.
	Oversize oversize.Policy `yaml:"oversize"`
	// Ack turns on indexer acknowledgement: a batch counts as delivered
	// only when the indexers acknowledged it. Default false (a 200 is
	// enough). The HEC token must have indexer acknowledgement enabled.
	Ack bool `yaml:"ack"`
	// AckTimeout is how long to wait for an acknowledgement before sending
	// the batch again. Default 60s.
	AckTimeout config.Duration `yaml:"ack_timeout"`
	// Channel is the X-Splunk-Request-Channel GUID. Default: one generated
	// once and kept in the state directory, so restarts keep it.
	Channel string `yaml:"channel"`
	// Timeout bounds one HTTP request. Default 30s.
	Timeout config.Duration `yaml:"timeout"`
	// TLS applies to https endpoints; verification is on by default.
	TLS configtls.Config `yaml:"tls"`
}

const (
	mib             = 1 << 20
	envelopeReserve = 16 << 10
)

func defaultConfig() *Config {
	return &Config{
		Sourcetype:  DefaultSourcetype,
		Compression: Gzip,
		MaxBytes:    mib,
		Oversize:    oversize.Truncate,
		AckTimeout:  config.Duration(60 * time.Second),
		Timeout:     config.Duration(30 * time.Second),
	}
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Validate implements the loader's validation hook.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := c.urls(); err != nil {
		errs = append(errs, &config.FieldError{Field: "endpoint", Err: err})
	}
	if strings.TrimSpace(c.Token.Value()) == "" {
		errs = append(errs, config.Fieldf("token", "is required"))
	}
	if c.MaxBytes < 64<<10 {
		errs = append(errs, config.Fieldf("max_bytes", "%d is below 64KiB", c.MaxBytes))
	}
	if c.MaxEventBytes < 0 || (c.MaxEventBytes > 0 && c.MaxEventBytes > c.MaxBytes-1024) {
		errs = append(errs, config.Fieldf("max_event_bytes", "must be between 1 and max_bytes less 1KiB for the envelope (%d)", c.MaxBytes-1024))
	}
	if err := c.Oversize.Validate(); err != nil {
		errs = append(errs, &config.FieldError{Field: "oversize", Err: err})
	}
	if err := config.OneOf(c.Compression, Gzip, None); err != nil {
		errs = append(errs, &config.FieldError{Field: "compression", Err: err})
	}
	if c.AckTimeout <= 0 {
		errs = append(errs, config.Fieldf("ack_timeout", "must be positive"))
	}
	if c.Timeout <= 0 {
		errs = append(errs, config.Fieldf("timeout", "must be positive"))
	}
	if c.Channel != "" && !guidRE.MatchString(c.Channel) {
		errs = append(errs, config.Fieldf("channel", "%q is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", c.Channel))
	}
	for name, text := range c.Fields {
		if name == "" {
			errs = append(errs, config.Fieldf("fields", "a field name is empty"))
		}
		if _, err := nametemplate.Parse(text, nametemplate.Options{}); err != nil {
			errs = append(errs, &config.FieldError{Field: "fields." + name, Err: err})
		}
	}
	errs = append(errs, config.Nested("tls", c.TLS.Validate()))
	return errors.Join(errs...)
}

// maxEventBytes is MaxEventBytes or its default.
func (c *Config) maxEventBytes() int {
	if c.MaxEventBytes > 0 {
		return int(c.MaxEventBytes)
	}
	return int(max(c.MaxBytes-envelopeReserve, c.MaxBytes/2))
}

// urls returns the event and ack URLs of Endpoint.
func (c *Config) urls() (event, ack string, err error) {
	u, err := url.Parse(strings.TrimSpace(c.Endpoint))
	if err != nil {
		return "", "", fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", "", fmt.Errorf("%q: the scheme must be http or https", c.Endpoint)
	}
	if u.Host == "" {
		return "", "", fmt.Errorf("%q has no host", c.Endpoint)
	}
	if u.User != nil || u.RawQuery != "" {
		return "", "", fmt.Errorf("%q: give no user info or query (the token goes in token:)", u.Redacted())
	}
	base := strings.TrimRight(u.Path, "/")
	base = strings.TrimSuffix(base, "/event")
	base = strings.TrimSuffix(base, "/services/collector")
	u.Path = base + "/services/collector/event"
	event = u.String()
	u.Path = base + "/services/collector/ack"
	return event, u.String(), nil
}
