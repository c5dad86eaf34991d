// Package oversize owns what an output does with an event larger than its
// sink accepts (the `oversize` config key every network output shares):
// truncate it the way kube-apiserver does, or dead-letter it.
package oversize

import (
	"fmt"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/event/truncate"
)

// Policy is the value of an output's `oversize` key.
type Policy string

// Policies.
const (
	// Truncate (the default) drops requestObject and responseObject and
	// adds the annotation audit.k8s.io/truncated: "true", as kube-apiserver
	// does; an event still too large is dead-lettered.
	Truncate Policy = "truncate"
	// DeadLetter sends the event, untouched, to the dead-letter file.
	DeadLetter Policy = "dead_letter"
)

// Policies lists the valid values, default first.
var Policies = []Policy{Truncate, DeadLetter}

// UnmarshalText implements encoding.TextUnmarshaler: unknown values are
// config errors.
func (p *Policy) UnmarshalText(b []byte) error { return config.ParseEnum(p, b, Policies...) }

// Validate checks p (the zero value counts as the default, Truncate).
func (p Policy) Validate() error {
	if p == "" {
		return nil
	}
	return config.OneOf(p, Policies...)
}

// Fit applies p to ev so that len(ev.Raw) <= max. It returns nil when ev
// already fits or was truncated to fit (through ev.SetRaw, so ev.Meta stays
// right); otherwise an event.Permanent error saying why, for the delivery
// loop to dead-letter ev (untouched) with that reason. max <= 0 means no
// limit.
func Fit(ev *event.Event, max int, p Policy) error {
	if max <= 0 || len(ev.Raw) <= max {
		return nil
	}
	if p == DeadLetter {
		return event.Permanent(fmt.Errorf("event of %d bytes exceeds the output's limit of %d bytes (oversize: dead_letter)", len(ev.Raw), max))
	}
	out, err := truncate.Truncate(ev.Raw, max)
	if err != nil {
		return event.Permanent(fmt.Errorf("event of %d bytes exceeds the output's limit of %d bytes (oversize: truncate): %w", len(ev.Raw), max, err))
	}
	if err := ev.SetRaw(out); err != nil {
		return event.Permanent(fmt.Errorf("truncated event is not a valid audit event: %w", err))
	}
	return nil
}
