package main

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/kubetrail/kubetrail/outputs"
)

func TestCheckReportsLineNumberedErrors(t *testing.T) {
	tests := []struct {
		file string
		want string // the whole error line after "  "
	}{
		{"unknown_key.yaml", `testdata/unknown_key.yaml:6: inputs.apiserver: unknown field "max_line_byte" (did you mean "max_line_bytes"?)`},
		{"wrong_type.yaml", `testdata/wrong_type.yaml:7: outputs.local.max_backups: expected an integer, got "many"`},
		{"unknown_type.yaml", `testdata/unknown_type.yaml:5: outputs.siem.type: unknown output type "splunk_hex" ` + knownOutputs()},
		{"undefined_component.yaml", `testdata/undefined_component.yaml:10: pipelines.audit.outputs[1]: undefined output "siem" (defined outputs: local)`},
		{"missing_env.yaml", `testdata/missing_env.yaml:4: inputs.apiserver.path: environment variable KUBETRAIL_TEST_UNSET_AUDIT_PATH is not set`},
		{"unreadable_secret.yaml", `testdata/unreadable_secret.yaml:6: outputs.local.path: cannot read ${file:/nonexistent/kubetrail/secret-path}: open /nonexistent/kubetrail/secret-path: no such file or directory`},
		{"duplicate_names.yaml", `testdata/duplicate_names.yaml:5: outputs.local: defined twice (first at line 4)`},
		{"buffer_too_small.yaml", `testdata/buffer_too_small.yaml:10: pipelines.audit.buffer.max_bytes: 100KiB is below the minimum of 256KiB`},
		{"same_file.yaml", `testdata/same_file.yaml:9: outputs.b.path: file ./out/../out/audit.ndjson is also written by outputs.a.path (line 6); give each its own file`},
		{"same_file.yaml", `testdata/same_file.yaml:12: outputs.loop.path: writes the file that inputs.apiserver.path (line 2) reads: a feedback loop`},
		{"bad_cel.yaml", `testdata/bad_cel.yaml:8: processors.quiet.drop: ERROR: <input>:1:77: Syntax error: mismatched input '<EOF>'`},
		{"bad_policy.yaml", `testdata/bad_policy.yaml:8: processors.siem.policy_file: testdata/bad-audit-policy.yaml:10: rules[2].level: Unsupported value: "Everything"`},
		{"bad_size.yaml", `testdata/bad_size.yaml:8: outputs.local.batch.max_bytes: "12XB" is not a size`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runMain([]string{"check", "-c", filepath.Join("testdata", tt.file)}, &stdout, &stderr)
			assert.Equal(t, exitUsage, code)
			assert.Contains(t, stderr.String(), "\n  "+tt.want, "stderr:\n%s", stderr.String())
		})
	}
}

func TestCheckErrorsNameWhatIsWrong(t *testing.T) {
	for file, words := range map[string][]string{
		"missing_env.yaml":         {"KUBETRAIL_TEST_UNSET_AUDIT_PATH"},
		"unreadable_secret.yaml":   {"/nonexistent/kubetrail/secret-path", "no such file"},
		"duplicate_names.yaml":     {"line 4"},
		"undefined_component.yaml": {`"siem"`},
		"wrong_type.yaml":          {"many"},
	} {
		var stdout, stderr bytes.Buffer
		runMain([]string{"check", "-c", filepath.Join("testdata", file)}, &stdout, &stderr)
		for _, w := range words {
			assert.Contains(t, stderr.String(), w, file)
		}
	}
}

func TestCheckAcceptsShippedConfigs(t *testing.T) {
	files, _ := filepath.Glob("../../config/examples/*.yaml")
	files = append(files, "../../deploy/daemonset/base/agent.yaml", "testdata/good.yaml")
	for _, f := range files {
		var stdout, stderr bytes.Buffer
		code := runMain([]string{"check", "-c", f}, &stdout, &stderr)
		assert.Equal(t, exitOK, code, "%s: %s", f, stderr.String())
		assert.True(t, strings.HasSuffix(stdout.String(), "\n") && strings.Contains(stdout.String(), ": ok"), stdout.String())
	}
}

func TestUsageAndVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	assert.Equal(t, exitUsage, runMain(nil, &stdout, &stderr))
	assert.Equal(t, exitUsage, runMain([]string{"run"}, &stdout, &stderr))
	assert.Equal(t, exitUsage, runMain([]string{"frobnicate"}, &stdout, &stderr))
	assert.Equal(t, exitUsage, runMain([]string{"check", "-c", "testdata/does-not-exist.yaml"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "does-not-exist.yaml")
	stdout.Reset()
	assert.Equal(t, exitOK, runMain([]string{"version"}, &stdout, &stderr))
	assert.Contains(t, stdout.String(), "kubetrail agent ")
}

func TestConfigUnitTests(t *testing.T) {
	cfg := "../../config/examples/routing.yaml"
	var stdout, stderr bytes.Buffer
	code := runMain([]string{"test", "-c", cfg, "../../config/examples/tests/routing.yaml"}, &stdout, &stderr)
	assert.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	assert.Contains(t, stdout.String(), "3 passed, 0 failed")

	stdout.Reset()
	stderr.Reset()
	code = runMain([]string{"test", "-c", cfg, "testdata/failing-tests.yaml"}, &stdout, &stderr)
	assert.Equal(t, exitRuntime, code)
	for _, want := range []string{
		"FAIL  wrong expectations",
		"pipeline full: event 1 (auditID x1): verb is \"get\", want \"list\"",
		"pipeline full: event 1 (auditID x1): user is present",
		"pipeline siem: kept 0 events, want 1",
		"0 passed, 1 failed",
	} {
		assert.Contains(t, stdout.String(), want)
	}

	stdout.Reset()
	stderr.Reset()
	code = runMain([]string{"test", "-c", cfg, "testdata/bad-tests.yaml"}, &stdout, &stderr)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr.String(), `testdata/bad-tests.yaml:5: tests[0].expect.full: unknown field "cuont"`)
}

// knownOutputs is how the loader lists the registered output types after an
// unknown one: a did-you-mean hint when one is close, else all of them.
func knownOutputs() string {
	known := strings.Join(outputs.Types(), ", ")
	if slices.Contains(outputs.Types(), "splunk_hec") {
		return `(did you mean "splunk_hec"? known: ` + known + ")"
	}
	return "(known: " + known + ")"
}
