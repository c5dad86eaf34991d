package config_test

import (
	"errors"
	"fmt"

	"github.com/kubetrail/kubetrail/config"
)

// FileConfig is what an output type's factory returns from NewConfig.
type FileConfig struct {
	Path    string      `yaml:"path"`     // required
	MaxSize config.Size `yaml:"max_size"` // default 100MiB
}

// Validate blames fields with *config.FieldError, so the loader can point
// at their lines.
func (c *FileConfig) Validate() error {
	if c.Path == "" {
		return config.Fieldf("path", "is required")
	}
	return nil
}

type TailConfig struct {
	Path string `yaml:"path"`
}

func Example() {
	comps := config.Factories{
		config.KindInput:  {"auditlog": func() any { return &TailConfig{} }},
		config.KindOutput: {"file": func() any { return &FileConfig{MaxSize: 100 * config.MiB} }},
	}
	cfg, err := config.Parse("agent.yaml", []byte(`
agent:
  state_dir: /var/lib/kubetrail
inputs:
  apiserver:
    type: auditlog
    path: /var/log/kubernetes/audit/audit.log
outputs:
  local:
    type: file
    path: /var/log/kubetrail/audit.ndjson
    batch: {max_events: 1000}       # delivery keys, accepted by every output
pipelines:
  audit:
    inputs: [apiserver]
    outputs: [local]
    buffer: {max_bytes: 2GiB}
`), comps)
	if err != nil {
		fmt.Println(err)
		return
	}
	out := cfg.Outputs["local"]
	fmt.Println(out.Type, out.Config.(*FileConfig).Path, out.Config.(*FileConfig).MaxSize)
	fmt.Println(out.Delivery.Batch.MaxEvents, out.Delivery.Batch.MaxWait, out.Delivery.MaxInFlight)
	fmt.Println(cfg.Pipelines["audit"].Buffer.MaxBytes, cfg.Agent.DeadLetter.Path)

	// Every problem is reported, each with its file, line and field.
	_, err = config.Parse("agent.yaml", []byte(`
inputs:
  apiserver: {type: auditlog, pth: /var/log/audit.log}
outputs:
  local:
    type: file
    batch: {max_bytes: 12XB}
pipelines:
  audit: {inputs: [apiserver], outputs: [locl]}
`), comps)
	fmt.Println(err)
	var first *config.Error
	if errors.As(err, &first) {
		fmt.Printf("first: line %d, path %s\n", first.Line, first.Path)
	}
	// Output:
	// file /var/log/kubetrail/audit.ndjson 100MiB
	// 1000 200ms 1
	// 2GiB /var/lib/kubetrail/dead-letter.ndjson
	// agent.yaml:3: inputs.apiserver: unknown field "pth" (did you mean "path"?)
	// agent.yaml:5: outputs.local.path: is required
	// agent.yaml:7: outputs.local.batch.max_bytes: "12XB" is not a size (use e.g. 512KiB, 10MB, 2GiB)
	// agent.yaml:9: pipelines.audit.outputs[0]: undefined output "locl" (did you mean "local"?)
	// first: line 3, path inputs.apiserver
}
