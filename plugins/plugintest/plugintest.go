// Package plugintest runs the outputs' conformance suite (outputs/outputtest)
// against an output plugin binary, through the agent's own plugin host: the
// same process management, protocol, verdict mapping and delivery loop as in
// production. A plugin author calls Run from a Go test in their repository,
// whatever language the plugin is written in:
//
//	func TestConformance(t *testing.T) {
//		plugintest.Run(t, plugintest.Harness{
//			Path: "./bin/my-plugin",
//			New: func(t *testing.T, o outputtest.Options) (map[string]any, outputtest.ReadBack) {
//				dir := t.TempDir()
//				cfg := map[string]any{"dir": dir, "max_event_bytes": o.MaxEventBytes, "oversize": string(o.Oversize)}
//				return cfg, func(ctx context.Context) ([][]byte, error) { return readLines(dir) }
//			},
//		})
//	}
package plugintest

import (
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/outputs/outputtest"
	"github.com/kubetrail/kubetrail/pipeline"
	"github.com/kubetrail/kubetrail/plugins/host"
)

// Harness adapts a plugin to the conformance suite.
type Harness struct {
	// Path is the plugin's executable. Required.
	Path string
	// New returns the plugin's `config` block for one output of the suite
	// (a destination no other call uses), honouring o: MaxEventBytes (0:
	// the plugin's default) and Oversize ("truncate", "dead_letter", or ""
	// for the default), and the function that reads back what that
	// destination holds. Required.
	New func(t *testing.T, o outputtest.Options) (config map[string]any, read outputtest.ReadBack)
	// Ordered, Faults, Events and Timeout are outputtest.Harness's.
	Ordered bool
	Faults  []outputtest.Fault
	Events  int
	Timeout time.Duration
	// WriteTimeout is the host's write_timeout; default 30s.
	WriteTimeout time.Duration
}

// Run runs the conformance suite against the plugin.
func Run(t *testing.T, h Harness) {
	if h.WriteTimeout == 0 {
		h.WriteTimeout = 30 * time.Second
	}
	outputtest.Run(t, outputtest.Harness{
		Ordered: h.Ordered,
		Faults:  h.Faults,
		Events:  h.Events,
		Timeout: h.Timeout,
		New: func(t *testing.T, o outputtest.Options) (event.Output, outputtest.ReadBack) {
			cfg, read := h.New(t, o)
			out, err := host.New(&host.Config{
				Path:                   h.Path,
				Config:                 cfg,
				StartTimeout:           config.Duration(30 * time.Second),
				WriteTimeout:           config.Duration(h.WriteTimeout),
				RestartInitialInterval: config.Duration(100 * time.Millisecond),
				RestartMaxInterval:     config.Duration(2 * time.Second),
			}, pipeline.Settings{
				Name:       "plugin",
				Logger:     slog.New(slog.NewTextHandler(t.Output(), nil)).With("output", "plugin"),
				Metrics:    prometheus.NewRegistry(),
				DeadLetter: &outputtest.DeadLetters{},
				Health:     nopHealth{},
			})
			if err != nil {
				t.Fatalf("plugin output: %v", err)
			}
			return out, read
		},
	})
}

type nopHealth struct{}

func (nopHealth) Ready()        {}
func (nopHealth) Unready(error) {}
