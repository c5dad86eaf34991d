package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// withDeliveryDefaults is the fake components with a "file" output type
// whose delivery defaults differ from the agent's.
type withDeliveryDefaults struct{ Factories }

func (withDeliveryDefaults) DefaultDelivery(outputType string) Delivery {
	d := DefaultDelivery()
	if outputType == "file" {
		d.Batch.MaxEvents, d.MaxInFlight = 2000, 3
	}
	return d
}

// An output type's delivery defaults fill the keys the file leaves out;
// the keys it sets win.
func TestOutputTypeDeliveryDefaults(t *testing.T) {
	cfg, err := Parse("agent.yaml", []byte(`
inputs: {apiserver: {type: auditlog, path: /var/log/audit.log}}
outputs:
  local: {type: file, path: /tmp/out.ndjson, batch: {max_wait: 1s}}
  other: {type: file, path: /tmp/other.ndjson, max_in_flight: 1}
pipelines:
  audit: {inputs: [apiserver], outputs: [local, other]}
`), withDeliveryDefaults{fakeComponents()})
	require.NoError(t, err)
	local, other := cfg.Outputs["local"].Delivery, cfg.Outputs["other"].Delivery
	assert.Equal(t, 2000, local.Batch.MaxEvents)
	assert.Equal(t, 3, local.MaxInFlight)
	assert.Equal(t, Duration(1e9), local.Batch.MaxWait, "the file's key")
	assert.Equal(t, DefaultDelivery().Retry, local.Retry)
	assert.Equal(t, 1, other.MaxInFlight, "the file's key over the type's default")
}
