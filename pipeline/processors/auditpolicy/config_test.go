package auditpolicy

import (
	"strings"
	"testing"
)

func TestConfigErrorsNameFileAndLine(t *testing.T) {
	for file, want := range map[string]string{
		"testdata/bad-level.yaml": `testdata/bad-level.yaml:6: rules[1].level: Unsupported value: "Everything"`,
		"testdata/bad-field.yaml": `testdata/bad-field.yaml:7: strict decoding error: unknown field "rules[1].verb"`,
	} {
		err := (&Config{PolicyFile: file}).Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", file, err, want)
		}
	}
	if err := (&Config{PolicyFile: "testdata/basic.yaml"}).Validate(); err != nil {
		t.Errorf("basic.yaml: %v", err)
	}
	c := &Config{Policy: map[string]any{"apiVersion": "audit.k8s.io/v1", "kind": "Policy",
		"rules": []any{map[string]any{"level": "Loud"}}}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "policy.rules[0].level") {
		t.Errorf("inline: got %v", err)
	}
	if err := (&Config{}).Validate(); err == nil {
		t.Error("an empty config is accepted")
	}
}
