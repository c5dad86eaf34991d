package elasticsearch

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/config/configtls"
	"github.com/kubetrail/kubetrail/outputs/internal/oversize"
)

// DefaultDataStream is where events go when neither index nor data_stream is
// set: the data set of Elastic's own Kubernetes integration.
const DefaultDataStream = "logs-kubernetes.audit_logs-default"

// Compression of bulk request bodies.
type Compression string

// Compression values.
const (
	CompressionGzip Compression = "gzip"
	CompressionNone Compression = "none"
)

// UnmarshalText rejects unknown values.
func (c *Compression) UnmarshalText(b []byte) error {
	return config.ParseEnum(c, b, CompressionGzip, CompressionNone)
}

// ObjectMapping is how the managed template maps requestObject,
// responseObject, annotations and user.extra: objects whose keys are chosen
// by whoever writes Kubernetes objects, so they must never be mapped field
// by field.
type ObjectMapping string

// ObjectMapping values.
const (
	// ObjectMappingAuto: flattened on Elasticsearch, disabled on OpenSearch
	// (its flat_object rejects a whole document when one value is over
	// 32766 bytes, as ConfigMaps holding CA bundles or dashboards are).
	ObjectMappingAuto       ObjectMapping = "auto"
	ObjectMappingFlattened  ObjectMapping = "flattened"   // Elasticsearch only: searchable by key
	ObjectMappingFlatObject ObjectMapping = "flat_object" // OpenSearch only: searchable by key
	ObjectMappingDisabled   ObjectMapping = "disabled"    // both: kept in _source, not searchable
)

// UnmarshalText rejects unknown values.
func (m *ObjectMapping) UnmarshalText(b []byte) error {
	return config.ParseEnum(m, b, ObjectMappingAuto, ObjectMappingFlattened, ObjectMappingFlatObject, ObjectMappingDisabled)
}

// Config is the elasticsearch output's configuration.
type Config struct {
	// Addresses of the cluster's HTTP endpoints, e.g. https://es-0:9200.
	// Required.
	Addresses []string `yaml:"addresses"`
	// APIKey is the base64 "id:key" API key (Authorization: ApiKey ...).
	// Mutually exclusive with username/password.
	APIKey config.Secret `yaml:"api_key"`
	// Username and Password are for HTTP basic authentication.
	Username string        `yaml:"username"`
	Password config.Secret `yaml:"password"`
	// TLS for https:// addresses; verification is on by default.
	TLS configtls.Config `yaml:"tls"`
	// Index names the index of each event, a template such as
	// "k8s-audit-{date:YYYY.MM.DD}" (see outputs/internal/nametemplate).
	// Mutually exclusive with
	// data_stream.
	Index string `yaml:"index"`
	// DataStream is the data stream events go to when index is not set.
	// Default logs-kubernetes.audit_logs-default.
	DataStream string `yaml:"data_stream"`
	// Compression of request bodies: gzip (default) or none.
	Compression Compression `yaml:"compression"`
	// ManageTemplate installs, before the first bulk, an index template for
	// the index or data stream (default true).
	ManageTemplate bool `yaml:"manage_template"`
	// ObjectMapping: auto (default), flattened, flat_object or disabled.
	ObjectMapping ObjectMapping `yaml:"object_mapping"`
	// Timeout bounds one bulk request. Default 60s.
	Timeout config.Duration `yaml:"timeout"`
	// Oversize is what happens to an event larger than a bulk request may
	// be: truncate (default, as kube-apiserver does) or dead_letter.
	Oversize oversize.Policy `yaml:"oversize"`
}

func defaultConfig() *Config {
	return &Config{
		Compression:    CompressionGzip,
		ManageTemplate: true,
		ObjectMapping:  ObjectMappingAuto,
		Timeout:        config.Duration(60 * time.Second),
		Oversize:       oversize.Truncate,
	}
}

// target is the index template, or the data stream's when index is unset.
func (c *Config) target() (tmpl string, dataStream bool) {
	if c.Index != "" {
		return c.Index, false
	}
	if c.DataStream != "" {
		return c.DataStream, true
	}
	return DefaultDataStream, true
}

// Validate implements the loader's validation hook.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Addresses) == 0 {
		errs = append(errs, &config.FieldError{Field: "addresses", Err: errors.New("is required")})
	}
	for i, a := range c.Addresses {
		u, err := url.Parse(a)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			errs = append(errs, &config.FieldError{Field: fmt.Sprintf("addresses[%d]", i), Err: errors.New("is not an http:// or https:// URL")})
		case u.User != nil:
			// Credentials in a URL end up in error messages: use the
			// secret fields instead.
			errs = append(errs, &config.FieldError{Field: fmt.Sprintf("addresses[%d]", i), Err: errors.New("holds credentials: use username/password or api_key")})
		}
	}
	if c.APIKey != "" && (c.Username != "" || c.Password != "") {
		errs = append(errs, &config.FieldError{Field: "api_key", Err: errors.New("set either api_key or username/password, not both")})
	}
	if (c.Username == "") != (c.Password == "") {
		errs = append(errs, &config.FieldError{Field: "password", Err: errors.New("username and password go together")})
	}
	if c.Index != "" && c.DataStream != "" {
		errs = append(errs, &config.FieldError{Field: "data_stream", Err: errors.New("set either index or data_stream, not both")})
	}
	tmpl, ds := c.target()
	field := "index"
	if ds {
		field = "data_stream"
	}
	if _, err := parseName(tmpl); err != nil {
		errs = append(errs, &config.FieldError{Field: field, Err: err})
	} else if ds && strings.Count(tmpl, "-") < 2 {
		errs = append(errs, &config.FieldError{Field: field, Err: fmt.Errorf("%q is not a data stream name (type-dataset-namespace)", tmpl)})
	}
	if c.ObjectMapping == "" {
		c.ObjectMapping = ObjectMappingAuto
	}
	if c.Timeout <= 0 {
		errs = append(errs, &config.FieldError{Field: "timeout", Err: fmt.Errorf("must be positive, got %s", c.Timeout)})
	}
	if err := c.Oversize.Validate(); err != nil {
		errs = append(errs, &config.FieldError{Field: "oversize", Err: err})
	}
	return errors.Join(errs...)
}
