package redact

import (
	"errors"
	"fmt"

	"github.com/kubetrail/kubetrail/config"
)

// Config is the redact processor's configuration. With no settings it
// redacts every Secret value, issued and reviewed token kube-apiserver
// writes into audit events.
type Config struct {
	// Secrets redacts the built-in places: Secret and SecretList data and
	// stringData (in bodies, every kind of patch, and the
	// last-applied-configuration annotation), TokenRequest status.token,
	// TokenReview spec.token. Default true.
	Secrets bool `yaml:"secrets"`
	// Rules add resources (CRDs that carry credentials) and field paths.
	Rules []Rule `yaml:"rules"`
	// Marker replaces each value. Default "[REDACTED]".
	Marker string `yaml:"marker"`
	// Hash, when set, replaces each value with "hmac-sha256:<hex>" of the
	// value under Hash.Key instead of the marker, so analysts can see two
	// events carry the same value without seeing it.
	Hash *HashConfig `yaml:"hash"`
}

// HashConfig is the HMAC key; use ${file:/path} so it is read from a file.
type HashConfig struct {
	Key string `yaml:"key"`
}

func defaultConfig() *Config { return &Config{Secrets: true, Marker: DefaultMarker} }

// Validate implements the loader's validation hook.
func (c *Config) Validate() error {
	var errs []error
	for i, r := range c.Rules {
		if err := r.validate(); err != nil {
			errs = append(errs, &config.FieldError{Field: fmt.Sprintf("rules[%d]", i), Err: err})
		}
	}
	if c.Hash != nil && len(c.Hash.Key) < 16 {
		errs = append(errs, &config.FieldError{Field: "hash.key", Err: errors.New("must be at least 16 bytes (use ${file:/path/to/key})")})
	}
	if !c.Secrets && len(c.Rules) == 0 {
		errs = append(errs, &config.FieldError{Field: "secrets", Err: errors.New("is false and no rules are set: the processor would redact nothing")})
	}
	return errors.Join(errs...)
}

func (c *Config) redactor() *Redactor {
	var key []byte
	if c.Hash != nil {
		key = []byte(c.Hash.Key)
	}
	return NewRedactor(c.Secrets, c.Rules, c.Marker, key)
}
