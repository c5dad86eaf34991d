package outputtest

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs"
)

func TestNewSettingsResolvesTheFactorysDelivery(t *testing.T) {
	f := outputs.Factory{
		Limits:   event.Limits{MaxEvents: 100},
		Delivery: func(d *config.Delivery) { d.Batch.MaxEvents = 1000; d.MaxInFlight = 3 },
	}
	set := NewSettings(t, "o", f)
	assert.Equal(t, 100, set.Delivery.MaxEvents, "clamped to Limits")
	assert.Equal(t, 3, set.Delivery.MaxInFlight)
	assert.NotNil(t, set.Health)
	assert.NotNil(t, set.DeadLetter)
}
