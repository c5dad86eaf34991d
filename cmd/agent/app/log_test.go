package app

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/kubetrail/kubetrail/config"
)

// The JSON log prints durations as Go duration strings, not nanoseconds.
func TestJSONLogPrintsDurationsAsStrings(t *testing.T) {
	var out bytes.Buffer
	log := NewLogger(config.Log{Format: "json"}, &out)
	log.Info("shutting down", "grace", 25*time.Second, "waited", 1500*time.Millisecond)
	assert.Contains(t, out.String(), `"grace":"25s"`)
	assert.Contains(t, out.String(), `"waited":"1.5s"`)
}
