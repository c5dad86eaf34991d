package auditpolicy

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	auditapi "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/audit/policy"

	"github.com/kubetrail/kubetrail/config"
)

// Config is the audit_policy processor's configuration: exactly one of
// PolicyFile and Policy.
type Config struct {
	// PolicyFile is a kube-apiserver audit policy file (the
	// --audit-policy-file format, audit.k8s.io/v1 Policy).
	PolicyFile string `yaml:"policy_file"`
	// Policy is the same Policy written inline.
	Policy map[string]any `yaml:"policy"`

	loaded *auditapi.Policy
}

func defaultConfig() *Config { return &Config{} }

// Validate loads the policy with the apiserver's own strict decoder and
// validation, so a policy kubetrail accepts is one kube-apiserver accepts.
// Errors in a policy file name the file and the line.
func (c *Config) Validate() error {
	switch {
	case c.PolicyFile == "" && c.Policy == nil:
		return config.Fieldf("policy_file", "set policy_file or policy")
	case c.PolicyFile != "" && c.Policy != nil:
		return config.Fieldf("policy", "set either policy_file or policy, not both")
	}
	if c.PolicyFile != "" {
		data, err := os.ReadFile(c.PolicyFile)
		if err != nil {
			return &config.FieldError{Field: "policy_file", Err: err}
		}
		p, err := loadPolicy(data)
		if err != nil {
			return &config.FieldError{Field: "policy_file", Err: fmt.Errorf("%s%w", c.PolicyFile, err)}
		}
		c.loaded = p
		return nil
	}
	data, err := yaml.Marshal(c.Policy)
	if err != nil {
		return &config.FieldError{Field: "policy", Err: err}
	}
	p, err := strictPolicy(data)
	if err != nil {
		var errs []error
		for _, path := range fieldPaths(err.Error()) {
			errs = append(errs, &config.FieldError{Field: "policy." + path, Err: errors.New(cleanMsg(err.Error()))})
		}
		if len(errs) == 0 {
			errs = append(errs, &config.FieldError{Field: "policy", Err: errors.New(cleanMsg(err.Error()))})
		}
		return errors.Join(errs...)
	}
	c.loaded = p
	return nil
}

// loadPolicy decodes a policy file; an error starts with ":<line>: " when
// the offending field can be located.
func loadPolicy(data []byte) (*auditapi.Policy, error) {
	p, err := strictPolicy(data)
	if err == nil {
		return p, nil
	}
	var doc yaml.Node
	line := 0
	if yaml.Unmarshal(data, &doc) == nil {
		for _, path := range fieldPaths(err.Error()) {
			if l := locate(&doc, path); l > 0 {
				line = l
				break
			}
		}
	}
	if line > 0 {
		return nil, fmt.Errorf(":%d: %s", line, cleanMsg(err.Error()))
	}
	return nil, fmt.Errorf(": %s", cleanMsg(err.Error()))
}

// pathRE finds field paths in the apiserver's messages: `rules[0].level:
// Unsupported value` and `unknown field "rules[1].levle"`.
var pathRE = regexp.MustCompile(`\b((?:rules|omitStages)(?:\[\d+\])?(?:\.[A-Za-z]+(?:\[\d+\])?)*)`)

func fieldPaths(msg string) []string {
	var out []string
	for _, m := range pathRE.FindAllStringSubmatch(msg, -1) {
		out = append(out, m[1])
	}
	return out
}

func cleanMsg(msg string) string {
	msg = strings.TrimPrefix(msg, "failed decoding: ")
	return strings.TrimSpace(msg)
}

// locate returns the line of the node at a dotted/indexed path, or of its
// deepest existing ancestor.
func locate(doc *yaml.Node, path string) int {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, seg := range strings.Split(path, ".") {
		name, idx := seg, -1
		if i := strings.IndexByte(seg, '['); i >= 0 {
			name = seg[:i]
			idx, _ = strconv.Atoi(strings.TrimSuffix(seg[i+1:], "]"))
		}
		if n.Kind != yaml.MappingNode {
			return line
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == name {
				line = n.Content[i].Line
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return line
		}
		n = next
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		}
	}
	return line
}

// strictPolicy loads a policy like kube-apiserver, but refuses unknown
// fields where the apiserver only warns and decodes leniently: a misspelt
// `verb:` would otherwise make a rule match every verb.
func strictPolicy(data []byte) (*auditapi.Policy, error) {
	strict := serializer.NewCodecFactory(audit.Scheme, serializer.EnableStrict).UniversalDecoder()
	if _, _, err := strict.Decode(data, nil, &auditapi.Policy{}); err != nil && runtime.IsStrictDecodingError(err) {
		return nil, err
	}
	return policy.LoadPolicyFromBytes(data)
}
