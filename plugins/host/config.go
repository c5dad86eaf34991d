package host

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/kubetrail/kubetrail/config"
)

// Config is the "plugin" output's configuration. The delivery keys (batch,
// retry, max_in_flight) are the same as for every output.
type Config struct {
	// Path is the plugin's executable. Required.
	Path string `yaml:"path"`
	// SHA256 is the executable's expected SHA-256, in hex. When set, the
	// agent refuses to start with a mismatching binary, and checks it
	// again before each (re)start of the process. Default: not checked.
	SHA256 string `yaml:"sha256"`
	// Config is handed to the plugin as a JSON object, uninterpreted.
	// ${ENV} and ${file:...} references are expanded first.
	Config map[string]any `yaml:"config"`
	// StartTimeout bounds starting the process, its handshake, Configure
	// and the first Health check. Default 30s.
	StartTimeout config.Duration `yaml:"start_timeout"`
	// WriteTimeout bounds one Write. A plugin that does not answer in time
	// is considered hung: it is killed and restarted, and the batch is
	// retried. Default 60s.
	WriteTimeout config.Duration `yaml:"write_timeout"`
	// RestartInitialInterval is the wait before restarting a plugin that
	// died; it doubles with each failed restart up to
	// RestartMaxInterval. Default 1s.
	RestartInitialInterval config.Duration `yaml:"restart_initial_interval"`
	// RestartMaxInterval caps the wait between restarts. Default 1m.
	RestartMaxInterval config.Duration `yaml:"restart_max_interval"`
}

func defaultConfig() *Config {
	return &Config{
		StartTimeout:           config.Duration(30 * time.Second),
		WriteTimeout:           config.Duration(60 * time.Second),
		RestartInitialInterval: config.Duration(time.Second),
		RestartMaxInterval:     config.Duration(time.Minute),
	}
}

// Validate implements the loader's validation hook. The binary itself is
// checked when the output is built (see checkSum), not here: `agent
// check` may run where the plugin is not installed.
func (c *Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Path) == "" {
		errs = append(errs, &config.FieldError{Field: "path", Err: errors.New("is required")})
	}
	if c.SHA256 != "" {
		if b, err := hex.DecodeString(c.SHA256); err != nil || len(b) != sha256.Size {
			errs = append(errs, &config.FieldError{Field: "sha256", Err: errors.New("must be 64 hex digits (the output of sha256sum)")})
		}
	}
	for _, d := range []struct {
		key string
		v   config.Duration
	}{
		{"start_timeout", c.StartTimeout},
		{"write_timeout", c.WriteTimeout},
		{"restart_initial_interval", c.RestartInitialInterval},
		{"restart_max_interval", c.RestartMaxInterval},
	} {
		if d.v <= 0 {
			errs = append(errs, &config.FieldError{Field: d.key, Err: fmt.Errorf("must be positive, got %s", d.v)})
		}
	}
	return errors.Join(errs...)
}

// Files implements config.FileUser: the output reads path.
func (c *Config) Files() (reads, writes []config.FileRef) {
	return []config.FileRef{{Field: "path", Path: c.Path}}, nil
}

// ChecksumError is a plugin binary whose SHA-256 is not the configured one.
type ChecksumError struct {
	Path      string
	Want, Got string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("plugin %s has sha256 %s but the configuration expects %s: refusing to run it (replace the binary, or update sha256 if the new one is trusted)", e.Path, e.Got, e.Want)
}

// checkSum compares the file's SHA-256 with want (hex). A file that cannot
// be read is reported as such, not as a mismatch.
func checkSum(path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("read plugin %s: %w", path, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if !strings.EqualFold(got, want) {
		return &ChecksumError{Path: path, Want: strings.ToLower(want), Got: got}
	}
	return nil
}
