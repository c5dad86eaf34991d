package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Fake component configs, shaped like the real ones will be.

type startAt string

func (s *startAt) UnmarshalText(b []byte) error { return ParseEnum(s, b, "beginning", "end") }

type fakeAuditlog struct {
	Path         string  `yaml:"path"`
	StartAt      startAt `yaml:"start_at"`
	MaxLineBytes Size    `yaml:"max_line_bytes"`
}

func (c *fakeAuditlog) Validate() error {
	if c.Path == "" {
		return Fieldf("path", "is required")
	}
	return nil
}

type fakeFilter struct {
	Drop   string         `yaml:"drop"`
	Fields map[string]any `yaml:"fields"`
}

type fakeFile struct {
	Path string `yaml:"path"`
}

func (c *fakeFile) Validate() error {
	if c.Path == "" {
		return Fieldf("path", "is required")
	}
	return nil
}

type fakeTLS struct {
	CAFile   string `yaml:"ca_file"`
	Insecure bool   `yaml:"insecure_skip_verify"`
}

func (t *fakeTLS) Validate() error {
	if t.CAFile != "" && t.Insecure {
		return errors.New("ca_file and insecure_skip_verify exclude each other")
	}
	return nil
}

type fakeCommon struct {
	Ack bool `yaml:"ack"`
}

type fakeHEC struct {
	fakeCommon `yaml:",inline"`
	Endpoint   string            `yaml:"endpoint"`
	Token      string            `yaml:"token"`
	Timeout    Duration          `yaml:"timeout"`
	TLS        fakeTLS           `yaml:"tls"`
	Headers    map[string]string `yaml:"headers"`
	Indexes    []string          `yaml:"indexes"`
	Internal   string            `yaml:"-"`
}

func (c *fakeHEC) Validate() error {
	var errs []error
	if !strings.HasPrefix(c.Endpoint, "https://") && !strings.HasPrefix(c.Endpoint, "http://") {
		errs = append(errs, Fieldf("endpoint", "%q is not an http(s) URL", c.Endpoint))
	}
	if c.Token == "" {
		errs = append(errs, Fieldf("token", "is required"))
	}
	errs = append(errs, Nested("tls", c.TLS.Validate()))
	return errors.Join(errs...)
}

func fakeComponents() Factories {
	return Factories{
		KindInput: {
			"auditlog": func() any { return &fakeAuditlog{StartAt: "end", MaxLineBytes: 1 * MiB} },
		},
		KindProcessor: {
			"filter": func() any { return &fakeFilter{} },
		},
		KindOutput: {
			"file":       func() any { return &fakeFile{} },
			"splunk_hec": func() any { return &fakeHEC{Timeout: Duration(10e9)} },
			"stdout":     nil,
		},
	}
}

// messages returns the rendered *Error values joined in err.
func messages(t *testing.T, err error) []string {
	t.Helper()
	require.Error(t, err)
	var out []string
	for _, e := range flatten(err) {
		var ce *Error
		require.ErrorAs(t, e, &ce, "every problem is a *config.Error")
		out = append(out, ce.Error())
	}
	return out
}
