package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadFull(t *testing.T) {
	cfg, err := Load("testdata/full.yaml", fakeComponents())
	require.NoError(t, err)

	siemDelivery := DefaultDelivery()
	siemDelivery.Batch.MaxEvents = 1000
	siemDelivery.Batch.MaxBytes = 4 * MiB
	siemDelivery.Retry.MaxInterval = Duration(time.Minute)
	siemDelivery.Retry.MaxElapsed = Duration(24 * time.Hour)
	siemDelivery.MaxInFlight = 4

	want := &Config{
		File: "testdata/full.yaml",
		Agent: Agent{
			StateDir:        "/tmp/kubetrail",
			HTTPListen:      "",
			ShutdownTimeout: Duration(time.Minute),
			Log:             Log{Level: LogDebug, Format: LogJSON},
			DeadLetter: DeadLetterFile{
				Path:       "/tmp/kubetrail/dead-letter.ndjson",
				MaxSize:    10 * MB,
				MaxBackups: 10,
				Compress:   false,
			},
		},
		Inputs: map[string]Component{
			"apiserver": {Type: "auditlog", Line: 13, Config: &fakeAuditlog{
				Path: "/var/log/kubernetes/audit/audit.log", StartAt: "beginning", MaxLineBytes: 1 * MiB,
			}},
			"other": {Type: "auditlog", Line: 17, Config: &fakeAuditlog{
				Path: "/var/log/other/audit.log", StartAt: "end", MaxLineBytes: 1 * MiB,
			}},
		},
		Processors: map[string]Component{
			"quiet": {Type: "filter", Line: 21, Config: &fakeFilter{
				Drop: `event.verb in ["get", "list"] && event.user.username.startsWith("system:")`,
				Fields: map[string]any{
					"keep": []any{"verb", "user"}, "limit": 3, "ratio": 0.5, "on": true, "none": nil,
				},
			}},
		},
		Outputs: map[string]Output{
			"local": {
				Component: Component{Type: "file", Line: 26, Config: &fakeFile{Path: "./out/audit.ndjson"}},
				Delivery:  DefaultDelivery(),
			},
			"siem": {
				Component: Component{Type: "splunk_hec", Line: 29, Config: &fakeHEC{
					fakeCommon: fakeCommon{Ack: true},
					Endpoint:   "https://splunk.example:8088",
					Token:      "s3cr3t-hec-token",
					Timeout:    Duration(10 * time.Second),
					TLS:        fakeTLS{CAFile: "/etc/ssl/ca.pem"},
					Headers:    map[string]string{"X-Team": "platform"},
					Indexes:    []string{"audit", "k8s"},
				}},
				Delivery: siemDelivery,
			},
			"console": {
				Component: Component{Type: "stdout", Line: 46},
				Delivery:  DefaultDelivery(),
			},
		},
		Pipelines: map[string]Pipeline{
			"audit": {
				Inputs:     []string{"apiserver"},
				Processors: []string{"quiet"},
				Outputs:    []string{"local", "siem"},
				Buffer: Buffer{
					MaxBytes: 2 * GiB, SegmentBytes: 64 * MiB, Fsync: FsyncAlways,
					FsyncInterval: Duration(200 * time.Millisecond), WhenFull: WhenFullBlock,
				},
				Line: 49,
			},
			"debug": {
				Inputs:  []string{"apiserver", "other"},
				Outputs: []string{"console"},
				Buffer:  DefaultBuffer(),
				Line:    56,
			},
		},
	}
	assert.Equal(t, want, cfg)
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load("testdata/minimal.yaml", fakeComponents())
	require.NoError(t, err)

	agent := DefaultAgent()
	agent.DeadLetter.Path = "/var/lib/kubetrail/dead-letter.ndjson"
	assert.Equal(t, agent, cfg.Agent)
	assert.Equal(t, Agent{
		StateDir:        "/var/lib/kubetrail",
		HTTPListen:      "127.0.0.1:9108",
		ShutdownTimeout: Duration(30 * time.Second),
		Log:             Log{Level: LogInfo, Format: LogText},
		DeadLetter: DeadLetterFile{
			Path: "/var/lib/kubetrail/dead-letter.ndjson", MaxSize: 100 * MiB, MaxBackups: 10, Compress: true,
		},
	}, cfg.Agent, "documented agent defaults")

	assert.Equal(t, map[string]Component{
		"apiserver": {Type: "auditlog", Line: 2, Config: &fakeAuditlog{Path: "/var/log/audit.log", StartAt: "end", MaxLineBytes: 1 * MiB}},
	}, cfg.Inputs)
	assert.Empty(t, cfg.Processors)
	assert.Equal(t, map[string]Output{"out": {
		Component: Component{Type: "stdout", Line: 6},
		Delivery: Delivery{
			Batch: Batch{MaxEvents: 500, MaxBytes: 1 * MiB, MaxWait: Duration(200 * time.Millisecond)},
			Retry: Retry{
				InitialInterval: Duration(100 * time.Millisecond), MaxInterval: Duration(30 * time.Second),
				Multiplier: 2, Jitter: 0.2, MaxElapsed: 0,
			},
			MaxInFlight: 1,
		},
	}}, cfg.Outputs, "documented delivery defaults")
	assert.Equal(t, map[string]Pipeline{"audit": {
		Inputs:  []string{"apiserver"},
		Outputs: []string{"out"},
		Buffer: Buffer{
			MaxBytes: 1 * GiB, SegmentBytes: 64 * MiB, Fsync: FsyncInterval,
			FsyncInterval: Duration(200 * time.Millisecond), WhenFull: WhenFullBlock,
		},
		Line: 9,
	}}, cfg.Pipelines, "documented buffer defaults")
}

func TestLoadMergeKeys(t *testing.T) {
	cfg, err := Load("testdata/merge.yaml", fakeComponents())
	require.NoError(t, err)

	a, b := cfg.Outputs["a"], cfg.Outputs["b"]
	assert.Equal(t, "splunk_hec", a.Type)
	assert.Equal(t, &fakeHEC{Endpoint: "https://splunk.example:8088", Token: "a-token", Timeout: Duration(10 * time.Second)}, a.Config)
	assert.Equal(t, &fakeHEC{Endpoint: "https://splunk.example:8088", Token: "shared", Timeout: Duration(10 * time.Second)}, b.Config)
	assert.Equal(t, 10, a.Delivery.Batch.MaxEvents)
	assert.Equal(t, 10, b.Delivery.Batch.MaxEvents)
	assert.Equal(t, 1, a.Delivery.MaxInFlight)
	assert.Equal(t, 2, b.Delivery.MaxInFlight)
	assert.NotSame(t, a.Config, b.Config, "each component gets its own config")
}

func TestLoadExpansion(t *testing.T) {
	t.Setenv("KT_TEST_STATE", "/srv/kt")
	t.Setenv("KT_TEST_EMPTY", "")
	t.Setenv("KT_TEST_HOST", "splunk.internal")
	t.Setenv("KT_TEST_EVENTS", "250")
	cfg, err := Load("testdata/expand.yaml", fakeComponents())
	require.NoError(t, err)

	assert.Equal(t, "/srv/kt/state", cfg.Agent.StateDir, "${ENV}")
	assert.Equal(t, "/srv/kt/state/dead-letter.ndjson", cfg.Agent.DeadLetter.Path, "default follows the expanded state_dir")
	assert.Equal(t, "127.0.0.1:9200", cfg.Agent.HTTPListen, "${UNSET:-default}")
	assert.Equal(t, "/var/log/default.log", cfg.Inputs["apiserver"].Config.(*fakeAuditlog).Path, "${EMPTY:-default}")

	hec := cfg.Outputs["siem"].Config.(*fakeHEC)
	assert.Equal(t, "https://splunk.internal:8088", hec.Endpoint, "${env:NAME}")
	assert.Equal(t, "s3cr3t-hec-token", hec.Token, "${file:...} minus the trailing newline")
	assert.Equal(t, map[string]string{
		"X-Price":   "$5 and $HOME and a lone $",
		"X-Literal": "${KT_TEST_HOST}",
	}, hec.Headers, "$$ is a literal $, and other $ are kept")
	assert.Equal(t, 250, cfg.Outputs["siem"].Delivery.Batch.MaxEvents, "expanded before typed decoding")
}

func TestLoadProblems(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"unknown_keys.yaml", []string{
			`testdata/unknown_keys.yaml:1: unknown field "agnt" (did you mean "agent"?)`,
			`testdata/unknown_keys.yaml:4: agent: unknown field "stat_dir" (did you mean "state_dir"?)`,
			// "pth" is unknown, so path was never set: the component's Validate says so.
			`testdata/unknown_keys.yaml:6: inputs.apiserver.path: is required`,
			`testdata/unknown_keys.yaml:8: inputs.apiserver: unknown field "pth" (did you mean "path"?)`,
			`testdata/unknown_keys.yaml:15: outputs.siem.batch: unknown field "max_event" (did you mean "max_events"?)`,
			`testdata/unknown_keys.yaml:17: outputs.siem.tls: unknown field "cafile" (did you mean "ca_file"?)`,
			`testdata/unknown_keys.yaml:18: outputs.siem: unknown field "frobnicate" (known: ack, batch, endpoint, headers, indexes, max_in_flight, retry, timeout, tls, token, type)`,
		}},
		{"wrong_types.yaml", []string{
			`testdata/wrong_types.yaml:2: agent.state_dir: expected a string, got a list`,
			`testdata/wrong_types.yaml:4: agent.dead_letter.max_backups: expected an integer, got "ten"`,
			`testdata/wrong_types.yaml:5: agent.dead_letter.compress: expected true or false, got "yes"`,
			`testdata/wrong_types.yaml:15: outputs.siem.headers: expected a mapping, got a list`,
			`testdata/wrong_types.yaml:16: outputs.siem.indexes: expected a list, got a string`,
			`testdata/wrong_types.yaml:17: outputs.siem.batch: expected a mapping, got an integer`,
			`testdata/wrong_types.yaml:18: outputs.siem.max_in_flight: expected an integer, got "1.5"`,
			`testdata/wrong_types.yaml:20: outputs.siem.retry.multiplier: expected a number, got "fast"`,
			// Not followed by "at least one output is required": the decoding problem says it all.
			`testdata/wrong_types.yaml:24: pipelines.audit.outputs: expected a list, got a string`,
		}},
		{"components.yaml", []string{
			`testdata/components.yaml:3: inputs.apiserver.type: unknown input type "auditlogs" (did you mean "auditlog"? known: auditlog)`,
			`testdata/components.yaml:5: inputs.notype: missing "type" (known: auditlog)`,
			`testdata/components.yaml:7: inputs.scalar: expected a mapping with a "type" key, got a string`,
			`testdata/components.yaml:10: processors.quiet.type: unknown processor type "grep" (known: filter)`,
			`testdata/components.yaml:14: outputs: invalid name "bad/name" (use up to 64 letters, digits, '_', '-' and '.', starting with a letter or digit)`,
			`testdata/components.yaml:18: pipelines.audit.inputs[1]: undefined input "api-server" (did you mean "apiserver"?)`,
			`testdata/components.yaml:19: pipelines.audit.processors[1]: undefined processor "loud" (defined processors: quiet)`,
			`testdata/components.yaml:20: pipelines.audit.outputs[1]: undefined output "outt" (did you mean "out"?)`,
		}},
		{"duplicates.yaml", []string{
			`testdata/duplicates.yaml:5: inputs.apiserver.path: defined twice (first at line 4)`,
			`testdata/duplicates.yaml:12: outputs.out: defined twice (first at line 7)`,
			`testdata/duplicates.yaml:18: pipelines.audit.outputs[2]: "out" is listed twice (first at outputs[0])`,
		}},
		{"shared_output.yaml", []string{
			`testdata/shared_output.yaml:15: pipelines.second.outputs[0]: output "out" is already used by pipeline "first" (line 11); an output reads one pipeline's buffer, so define another output for this pipeline`,
		}},
		{"no_pipelines.yaml", []string{
			`testdata/no_pipelines.yaml:5: pipelines: at least one pipeline is required`,
		}},
		{"empty_pipeline.yaml", []string{
			`testdata/empty_pipeline.yaml:6: pipelines.nothing.inputs: at least one input is required`,
			`testdata/empty_pipeline.yaml:6: pipelines.nothing.outputs: at least one output is required`,
			`testdata/empty_pipeline.yaml:9: pipelines.nowhere.outputs: at least one output is required`,
		}},
		{"values.yaml", []string{
			`testdata/values.yaml:2: agent.shutdown_timeout: "30" is not a duration (use e.g. 500ms, 5s, 1h30m)`,
			`testdata/values.yaml:4: agent.log.level: "verbose" is not one of debug, info, warn, error`,
			`testdata/values.yaml:5: agent.log.format: "xml" is not one of text, json`,
			`testdata/values.yaml:10: inputs.apiserver.start_at: "middle" is not one of beginning, end`,
			`testdata/values.yaml:11: inputs.apiserver.max_line_bytes: "12XB" is not a size (use e.g. 512KiB, 10MB, 2GiB)`,
			`testdata/values.yaml:17: outputs.siem.timeout: "5 minutes" is not a duration (use e.g. 500ms, 5s, 1h30m)`,
			`testdata/values.yaml:19: outputs.siem.batch.max_bytes: "1.5B" is not a whole number of bytes`,
			`testdata/values.yaml:20: outputs.siem.batch.max_wait: "soon" is not a duration (use e.g. 500ms, 5s, 1h30m)`,
			`testdata/values.yaml:26: pipelines.audit.buffer.fsync: "sometimes" is not one of always, interval, never`,
			`testdata/values.yaml:27: pipelines.audit.buffer.when_full: "panic" is not one of block, drop_oldest`,
			`testdata/values.yaml:28: pipelines.audit.buffer.max_bytes: "9999999TiB" is too large`,
		}},
		{"validate.yaml", []string{
			`testdata/validate.yaml:2: agent.http_listen: "localhost" is not host:port (e.g. 127.0.0.1:9108; "" disables the server)`,
			`testdata/validate.yaml:4: agent.dead_letter.max_backups: must not be negative, got -1`,
			// Absent key: reported at the component's line.
			`testdata/validate.yaml:6: inputs.apiserver.path: is required`,
			`testdata/validate.yaml:11: outputs.siem.endpoint: "splunk.example:8088" is not an http(s) URL`,
			`testdata/validate.yaml:12: outputs.siem.token: is required`,
			// A plain error from a nested struct's Validate: at the block's line.
			`testdata/validate.yaml:13: outputs.siem.tls: ca_file and insecure_skip_verify exclude each other`,
			`testdata/validate.yaml:17: outputs.siem.batch.max_events: must be at least 1, got 0`,
			`testdata/validate.yaml:19: outputs.siem.retry.jitter: must be between 0 and 1, got 1.5`,
			`testdata/validate.yaml:21: outputs.siem.retry.max_interval: must be at least initial_interval (1s), got 500ms`,
			`testdata/validate.yaml:22: outputs.siem.max_in_flight: must be at least 1, got 0`,
			// segment_bytes is absent (default 64MiB): at the buffer block's line.
			`testdata/validate.yaml:27: pipelines.audit.buffer.segment_bytes: 64MiB is larger than max_bytes (10MiB)`,
		}},
		{"bad_yaml.yaml", []string{
			// yaml.v3 reports the line of the construct before the broken one.
			`testdata/bad_yaml.yaml:3: invalid YAML: did not find expected ',' or ']'`,
		}},
		{"two_docs.yaml", []string{
			`testdata/two_docs.yaml:2: a second YAML document; the configuration is a single document`,
		}},
		{"empty.yaml", []string{
			`testdata/empty.yaml: the file is empty; at least one pipeline is required`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			cfg, err := Load(filepath.Join("testdata", tt.file), fakeComponents())
			assert.Nil(t, cfg)
			assert.Equal(t, tt.want, messages(t, err))
			assert.Equal(t, strings.Join(tt.want, "\n"), err.Error(), "one problem per line")
		})
	}
}

func TestLoadExpansionProblemsHideSecrets(t *testing.T) {
	const secret = "hunter2-secret"
	t.Setenv("KT_TEST_SECRET", secret)
	secretFile, err := os.ReadFile("testdata/secrets/hec-token")
	require.NoError(t, err)

	_, err = Load("testdata/expand_errors.yaml", fakeComponents())
	assert.Equal(t, []string{
		`testdata/expand_errors.yaml:2: agent.state_dir: environment variable KT_TEST_MISSING is not set (write ${KT_TEST_MISSING:-default} to give a default)`,
		`testdata/expand_errors.yaml:6: inputs.apiserver.path: cannot read ${file:secrets/does-not-exist}: open testdata/secrets/does-not-exist: no such file or directory`,
		`testdata/expand_errors.yaml:13: outputs.siem.batch.max_events: expected an integer, got the value of "${KT_TEST_SECRET}"`,
		`testdata/expand_errors.yaml:14: outputs.siem.batch.max_bytes: "${KT_TEST_SECRET}" is not a size (use e.g. 512KiB, 10MB, 2GiB)`,
		`testdata/expand_errors.yaml:16: outputs.siem.headers.X-A: invalid reference "${not a name}" (use ${NAME}, ${NAME:-default}, ${file:PATH}, or $$ for a literal $)`,
		`testdata/expand_errors.yaml:17: outputs.siem.headers.X-B: unterminated "${" (write $$ for a literal $)`,
	}, messages(t, err))
	assert.ErrorIs(t, err, os.ErrNotExist, "the OS error stays inspectable")
	assert.NotContains(t, err.Error(), secret)
	assert.NotContains(t, err.Error(), strings.TrimSpace(string(secretFile)))
}

func TestLoadUnreadableSecretFile(t *testing.T) {
	dir := t.TempDir()
	minimal, err := os.ReadFile("testdata/minimal.yaml")
	require.NoError(t, err)
	withPath := func(ref string) []byte {
		return []byte(strings.Replace(string(minimal), "path: /var/log/audit.log", "path: "+ref, 1))
	}
	file := filepath.Join(dir, "agent.yaml")

	t.Run("directory", func(t *testing.T) {
		require.NoError(t, os.Mkdir(filepath.Join(dir, "tokens"), 0o700))
		_, err := Parse(file, withPath("${file:tokens}"), fakeComponents())
		assert.Equal(t, []string{
			file + ":4: inputs.apiserver.path: cannot read ${file:tokens}: read " + filepath.Join(dir, "tokens") + ": is a directory",
		}, messages(t, err))
	})
	t.Run("permission", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root reads files whatever their mode")
		}
		secret := filepath.Join(dir, "token")
		require.NoError(t, os.WriteFile(secret, []byte("top-secret-value\n"), 0o000))
		_, err := Parse(file, withPath("${file:token}"), fakeComponents())
		assert.Equal(t, []string{
			file + ":4: inputs.apiserver.path: cannot read ${file:token}: open " + secret + ": permission denied",
		}, messages(t, err))
		assert.ErrorIs(t, err, os.ErrPermission)
		assert.NotContains(t, err.Error(), "top-secret-value")
	})
}

func TestLoadSecretNeverInValidateMessage(t *testing.T) {
	// A Validate method that quotes a bad value must not reveal it when it
	// came from a secret.
	t.Setenv("KT_TEST_ENDPOINT", "ftp://user:pa55word@splunk")
	data, err := os.ReadFile("testdata/validate.yaml")
	require.NoError(t, err)
	data = []byte(strings.Replace(string(data), "endpoint: splunk.example:8088", "endpoint: ${KT_TEST_ENDPOINT}", 1))

	_, err = Parse("validate.yaml", data, fakeComponents())
	assert.Contains(t, messages(t, err), `validate.yaml:11: outputs.siem.endpoint: "${KT_TEST_ENDPOINT}" is not an http(s) URL`)
	assert.NotContains(t, err.Error(), "pa55word")
}

func TestErrorFields(t *testing.T) {
	_, err := Load("testdata/values.yaml", fakeComponents())
	var first *Error
	require.ErrorAs(t, err, &first)
	assert.Equal(t, &Error{
		File: "testdata/values.yaml",
		Line: 2,
		Path: "agent.shutdown_timeout",
		Msg:  `"30" is not a duration (use e.g. 500ms, 5s, 1h30m)`,
	}, first)
	assert.Len(t, flatten(err), 11, "every problem of the file is reported")
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/nope.yaml", fakeComponents())
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.Equal(t, "loading configuration: open testdata/nope.yaml: no such file or directory", err.Error())
}

func TestLoadNotAMapping(t *testing.T) {
	_, err := Parse("agent.yaml", []byte("- a\n- b\n"), fakeComponents())
	assert.Equal(t, []string{`agent.yaml:1: expected a mapping with agent, inputs, processors, outputs and pipelines, got a list`}, messages(t, err))
}

func TestLoadNoRegisteredTypes(t *testing.T) {
	_, err := Load("testdata/minimal.yaml", Factories{})
	assert.Equal(t, []string{
		`testdata/minimal.yaml:3: inputs.apiserver.type: unknown input type "auditlog" (no input types are registered)`,
		`testdata/minimal.yaml:7: outputs.out.type: unknown output type "stdout" (no output types are registered)`,
	}, messages(t, err))
}

func TestFactories(t *testing.T) {
	f := fakeComponents()
	assert.Equal(t, []string{"file", "splunk_hec", "stdout"}, f.Types(KindOutput))
	assert.Empty(t, f.Types("nope"))

	cfg, ok := f.NewConfig(KindInput, "auditlog")
	require.True(t, ok)
	assert.Equal(t, &fakeAuditlog{StartAt: "end", MaxLineBytes: MiB}, cfg)
	other, _ := f.NewConfig(KindInput, "auditlog")
	assert.NotSame(t, cfg, other)

	cfg, ok = f.NewConfig(KindOutput, "stdout")
	assert.True(t, ok)
	assert.Nil(t, cfg)
	_, ok = f.NewConfig(KindOutput, "kafka")
	assert.False(t, ok)
}

func TestOutputKeysReservedForDelivery(t *testing.T) {
	// A factory config that also has a "batch" key never sees it: the
	// delivery keys belong to the delivery loop.
	type clash struct {
		Batch int `yaml:"batch"`
	}
	comps := Factories{
		KindInput:  {"auditlog": func() any { return &fakeAuditlog{} }},
		KindOutput: {"clash": func() any { return &clash{Batch: 7} }},
	}
	data := []byte("inputs: {in: {type: auditlog, path: /a}}\noutputs:\n  o:\n    type: clash\n    batch: {max_events: 3}\npipelines: {p: {inputs: [in], outputs: [o]}}\n")
	cfg, err := Parse("agent.yaml", data, comps)
	require.NoError(t, err)
	assert.Equal(t, &clash{Batch: 7}, cfg.Outputs["o"].Config)
	assert.Equal(t, 3, cfg.Outputs["o"].Delivery.Batch.MaxEvents)
}

func TestNonStructComponentConfig(t *testing.T) {
	comps := Factories{
		KindInput:  {"auditlog": func() any { return &fakeAuditlog{} }},
		KindOutput: {"generic": func() any { return &map[string]string{} }},
	}
	data := []byte("inputs: {in: {type: auditlog, path: /a}}\noutputs:\n  o:\n    type: generic\n    max_in_flight: 3\n    url: http://x\n    mode: fast\npipelines: {p: {inputs: [in], outputs: [o]}}\n")
	cfg, err := Parse("agent.yaml", data, comps)
	require.NoError(t, err)
	assert.Equal(t, &map[string]string{"url": "http://x", "mode": "fast"}, cfg.Outputs["o"].Config)
	assert.Equal(t, 3, cfg.Outputs["o"].Delivery.MaxInFlight)
}

func TestLoadJoinedErrorIsErrorsJoin(t *testing.T) {
	_, err := Load("testdata/duplicates.yaml", fakeComponents())
	j, ok := err.(interface{ Unwrap() []error })
	require.True(t, ok, "the error joins the problems")
	assert.Len(t, j.Unwrap(), 3)
	var e *Error
	assert.True(t, errors.As(err, &e))
}

func TestLoadWithoutPipelinesKey(t *testing.T) {
	_, err := Parse("agent.yaml", []byte("inputs:\n  in: {type: auditlog, path: /a}\n"), nil)
	assert.Equal(t, []string{
		`agent.yaml: pipelines: at least one pipeline is required`, // no line: sorted first
		`agent.yaml:2: inputs.in.type: unknown input type "auditlog" (no input types are registered)`,
	}, messages(t, err), "a nil Components knows no types; an absent section has no line")
}
