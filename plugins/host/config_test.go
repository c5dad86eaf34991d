package host

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/kubetrail/kubetrail/config"
)

func TestConfigDecodes(t *testing.T) {
	t.Setenv("WEBHOOK_TOKEN", "s3cr3t")
	cfg := defaultConfig()
	require.NoError(t, config.Decode("agent.yaml", []byte(`
path: /opt/plugins/webhook
sha256: 0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef
config:
  url: https://collector.example/audit
  headers: {Authorization: "Bearer ${WEBHOOK_TOKEN}"}
  retries: 3
  tags: [a, b]
write_timeout: 10s
`), cfg))
	assert.Equal(t, &Config{
		Path:   "/opt/plugins/webhook",
		SHA256: "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
		Config: map[string]any{
			"url":     "https://collector.example/audit",
			"headers": map[string]any{"Authorization": "Bearer s3cr3t"},
			"retries": 3,
			"tags":    []any{"a", "b"},
		},
		StartTimeout:           config.Duration(30 * time.Second),
		WriteTimeout:           config.Duration(10 * time.Second),
		RestartInitialInterval: config.Duration(time.Second),
		RestartMaxInterval:     config.Duration(time.Minute),
	}, cfg)
}

func TestConfigErrors(t *testing.T) {
	cfg := defaultConfig()
	err := config.Decode("agent.yaml", []byte("sha256: abc\nwrite_timeout: 0s\n"), cfg)
	require.Error(t, err)
	for _, want := range []string{
		"path: is required",
		"sha256: must be 64 hex digits (the output of sha256sum)",
		"write_timeout: must be positive, got 0s",
	} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestSampleIsValid(t *testing.T) {
	var doc struct {
		Outputs map[string]yaml.Node `yaml:"outputs"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(Sample()), &doc))
	node := doc.Outputs["tickets"]
	// The delivery keys and type are the loader's, not this struct's.
	var kept []*yaml.Node
	for i := 0; i+1 < len(node.Content); i += 2 {
		switch node.Content[i].Value {
		case "type", "batch", "max_in_flight":
			continue
		}
		kept = append(kept, node.Content[i], node.Content[i+1])
	}
	node.Content = kept
	b, err := yaml.Marshal(&node)
	require.NoError(t, err)
	t.Setenv("HOME", t.TempDir())
	cfg := defaultConfig()
	err = config.Decode("sample.yaml", b, cfg)
	// Only the ${file:...} of the sample's token may fail here.
	if err != nil {
		assert.Contains(t, err.Error(), "tickets-token")
	}
	assert.Equal(t, "/opt/kubetrail/plugins/kubetrail-webhook", cfg.Path)
}
