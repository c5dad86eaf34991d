package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type fileWriter struct {
	Path string `yaml:"path"`
}

func (c *fileWriter) Files() (reads, writes []FileRef) {
	return nil, []FileRef{{Field: "path", Path: c.Path}}
}

func TestTwoWritersOfOneFile(t *testing.T) {
	comps := fakeComponents()
	comps[KindOutput]["writer"] = func() any { return &fileWriter{} }
	_, err := Parse("agent.yaml", []byte(`agent:
  state_dir: /var/lib/kt
inputs:
  in: {type: auditlog, path: /var/log/audit.log}
outputs:
  a: {type: writer, path: /tmp/x.ndjson}
  b:
    type: writer
    path: /tmp/./x.ndjson
  c:
    type: writer
    path: /var/lib/kt/dead-letter.ndjson
  d: {type: writer, path: /tmp/y.ndjson}
pipelines:
  p: {inputs: [in], outputs: [a, b, c, d]}
`), comps)
	require.Error(t, err)
	assert.Equal(t, "agent.yaml:9: outputs.b.path: file /tmp/./x.ndjson is also written by outputs.a.path (line 6); give each its own file\n"+
		"agent.yaml:12: outputs.c.path: file /var/lib/kt/dead-letter.ndjson is also written by agent.dead_letter.path; give each its own file",
		err.Error())
}
