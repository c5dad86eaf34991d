package sdk_test

import (
	"context"
	"fmt"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/plugins/sdk"
)

// stdoutOutput prints each event: a whole plugin is this type and main.
type stdoutOutput struct{ prefix string }

func (o *stdoutOutput) Configure(_ context.Context, c sdk.Config) error {
	var cfg struct {
		Prefix string `json:"prefix"`
	}
	if err := c.Decode(&cfg); err != nil {
		return err // the output stays unready, with this reason
	}
	o.prefix = cfg.Prefix
	return nil
}

func (o *stdoutOutput) Write(_ context.Context, b *event.Batch) error {
	rejected := map[int]error{}
	for i, ev := range b.Events {
		if len(ev.AuditID) == 0 {
			rejected[i] = event.Permanent(fmt.Errorf("no auditID")) // dead-lettered
			continue
		}
		fmt.Printf("%s%s %s\n", o.prefix, ev.AuditID, ev.Verb)
	}
	if len(rejected) > 0 {
		return &event.PartialError{Failed: rejected}
	}
	return nil // every event acknowledged
}

func (o *stdoutOutput) Close(context.Context) error { return nil }

// A plugin's main is one call. (Run by hand, the binary says it is a
// plugin and exits; the agent runs it for an output of type: plugin.)
func ExampleServe() {
	sdk.Serve(&stdoutOutput{})
}
