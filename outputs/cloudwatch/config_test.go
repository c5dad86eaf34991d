package cloudwatch

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/outputs/internal/oversize"
)

// components knows this output and an input without settings.
var components = config.Factories{
	config.KindInput:  {"in": func() any { return nil }},
	config.KindOutput: {"cloudwatch": func() any { return defaultConfig() }},
}

func parseOutput(t *testing.T, outputs string) (*Config, error) {
	t.Helper()
	cfg, err := config.Parse("agent.yaml", []byte("inputs:\n  i: {type: in}\n"+outputs+`
pipelines:
  p: {inputs: [i], outputs: [cloudwatch]}
`), components)
	if err != nil {
		return nil, err
	}
	return cfg.Outputs["cloudwatch"].Config.(*Config), nil
}

func TestSampleIsValidAndComplete(t *testing.T) {
	got, err := parseOutput(t, Sample())
	require.NoError(t, err)
	assert.Equal(t, &Config{
		Region:          "eu-west-1",
		LogGroup:        "/kubernetes/audit",
		CreateLogGroup:  true,
		CreateLogStream: true,
		RetentionDays:   365,
		MaxEventBytes:   MaxEventBytes,
		Oversize:        oversize.Truncate,
		Timeout:         config.Duration(30 * time.Second),
	}, got)
}

func TestDefaults(t *testing.T) {
	got, err := parseOutput(t, "outputs:\n  cloudwatch: {type: cloudwatch, log_group: g}\n")
	require.NoError(t, err)
	want := defaultConfig()
	want.LogGroup = "g"
	assert.Equal(t, want, got)
	assert.True(t, got.CreateLogGroup && got.CreateLogStream)
	assert.Equal(t, config.Size(1_048_550), got.MaxEventBytes)
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	cases := map[string]string{
		"log_group: ''":            "log_group: is required",
		"log_group: 'a b'":         `log_group: "a b" has the character ' '`,
		"log_stream: 'x:{verb}'":   "log_stream",
		"log_stream: '{nope}'":     `unknown field "nope"`,
		"retention_days: 2":        "retention_days: 2 is not a retention",
		"endpoint: 'ftp://x'":      "endpoint",
		"role_arn: 'role'":         "role_arn",
		"max_event_bytes: 2MiB":    "max_event_bytes",
		"max_event_bytes: 1048551": "max_event_bytes",
		"oversize: drop":           "oversize",
		"timeout: 0s":              "timeout: must be positive",
		"sequence_token: x":        "sequence_token",
		"create_log_group: maybe":  "create_log_group",
	}
	for line, want := range cases {
		t.Run(line, func(t *testing.T) {
			group := "log_group: g\n    "
			if len(line) > 9 && line[:9] == "log_group" {
				group = ""
			}
			_, err := parseOutput(t, "outputs:\n  cloudwatch:\n    type: cloudwatch\n    "+group+line+"\n")
			require.Error(t, err)
			assert.Contains(t, err.Error(), want)
			assert.Contains(t, err.Error(), "agent.yaml:")
		})
	}
}

func TestMaxEventBytesAtTheLimitIsValid(t *testing.T) {
	_, err := parseOutput(t, "outputs:\n  cloudwatch: {type: cloudwatch, log_group: g, max_event_bytes: 1048550}\n")
	require.NoError(t, err)
}
