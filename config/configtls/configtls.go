// Package configtls owns the client-side TLS block every network output
// shares (yaml keys ca_file, cert_file, key_file, server_name,
// insecure_skip_verify) and turns it into a *tls.Config.
//
// An output that may speak TLS or not (Kafka) holds a *Config: an absent
// `tls:` key is plaintext, `tls: {}` is TLS verified against the system's
// roots. An output whose endpoint URL carries the scheme (https://) holds a
// Config value and uses it only for https.
package configtls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/kubetrail/kubetrail/config"
)

// Config is a TLS client configuration. Verification is on by default.
type Config struct {
	// CAFile is a PEM bundle of the CAs that sign the server's certificate;
	// when set, only these are trusted. Default: the system's roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// mutual TLS. Both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name checked against the server's certificate;
	// default: the host the output dials.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any server certificate. Default false;
	// for tests only: it makes TLS worthless against an active attacker.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Validate implements the loader's validation hook: the files must be
// readable and parse, so a bad path fails `agent check`, not the first send.
func (c *Config) Validate() error {
	var errs []error
	if (c.CertFile == "") != (c.KeyFile == "") {
		field := "key_file"
		if c.CertFile == "" {
			field = "cert_file"
		}
		errs = append(errs, config.Fieldf(field, "cert_file and key_file go together (mutual TLS): set both or neither"))
	}
	if c.CAFile != "" {
		if _, err := c.caPool(); err != nil {
			errs = append(errs, &config.FieldError{Field: "ca_file", Err: err})
		}
	}
	if c.CertFile != "" && c.KeyFile != "" {
		if _, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile); err != nil {
			errs = append(errs, &config.FieldError{Field: "cert_file", Err: fmt.Errorf("load client certificate: %w", err)})
		}
	}
	return errors.Join(errs...)
}

// Load returns the *tls.Config described by c (TLS 1.2 or later). Files are
// read on every call: call it when (re)connecting to pick up rotated
// certificates, or once at start.
func (c *Config) Load() (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // opt-in, documented as test-only
	}
	if c.CAFile != "" {
		pool, err := c.caPool()
		if err != nil {
			return nil, fmt.Errorf("tls ca_file: %w", err)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" || c.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func (c *Config) caPool() (*x509.CertPool, error) {
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", c.CAFile)
	}
	return pool, nil
}
