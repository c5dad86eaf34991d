// Package enrich implements the "enrich" processor: it adds annotations
// that say where an event was collected (cluster name, node name from the
// downward API, agent version) to every event, so that a SIEM receiving
// several clusters' audit logs can tell them apart by the event alone.
//
// The annotations are added with one member-level rewrite (the other
// members pass byte for byte). When only a sink's own metadata needs these
// values (Kafka headers, HEC indexed fields, an index name), set them in that
// output's configuration instead (e.g. `cluster: ${CLUSTER_NAME}`): the
// events are then not rewritten at all.
package enrich

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/event/jsonobject"
	"github.com/kubetrail/kubetrail/internal/buildinfo"
	"github.com/kubetrail/kubetrail/pipeline"
	"github.com/kubetrail/kubetrail/pipeline/processors"
)

//go:embed sample.yaml
var sample string

// Sample is a commented example configuration of this processor.
func Sample() string { return sample }

// Config is the enrich processor's configuration.
type Config struct {
	// Cluster is the cluster's name, added as kubetrail.io/cluster.
	Cluster string `yaml:"cluster"`
	// Node is the node's name (the downward API's spec.nodeName, e.g.
	// ${NODE_NAME}), added as kubetrail.io/node.
	Node string `yaml:"node"`
	// AgentVersion adds kubetrail.io/agent-version. Default false.
	AgentVersion bool `yaml:"agent_version"`
	// Annotations are more annotations to add, key to value.
	Annotations map[string]string `yaml:"annotations"`
}

// Validate implements the loader's validation hook.
func (c *Config) Validate() error {
	if len(c.pairs()) == 0 {
		return config.Fieldf("cluster", "set cluster, node, agent_version or annotations: the processor would add nothing")
	}
	var errs []error
	for k := range c.Annotations {
		if k == "" || strings.ContainsAny(k, " \t\n") {
			errs = append(errs, config.Fieldf("annotations", "%q is not an annotation key", k))
		}
	}
	return errors.Join(errs...)
}

type pair struct{ key, value string }

// pairs are the annotations to add, in a fixed order.
func (c *Config) pairs() []pair {
	var ps []pair
	if c.Cluster != "" {
		ps = append(ps, pair{"kubetrail.io/cluster", c.Cluster})
	}
	if c.Node != "" {
		ps = append(ps, pair{"kubetrail.io/node", c.Node})
	}
	if c.AgentVersion {
		ps = append(ps, pair{"kubetrail.io/agent-version", buildinfo.Version})
	}
	keys := make([]string, 0, len(c.Annotations))
	for k := range c.Annotations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ps = append(ps, pair{k, c.Annotations[k]})
	}
	return ps
}

func init() {
	processors.Register("enrich", processors.Factory{
		NewConfig: func() any { return &Config{} },
		New: func(cfg any, _ pipeline.Settings) (pipeline.Processor, error) {
			return processor{pairs: cfg.(*Config).pairs()}, nil
		},
	})
}

type processor struct{ pairs []pair }

func (processor) Start(context.Context) error { return nil }
func (processor) Close(context.Context) error { return nil }

// Process adds the annotations to every event.
func (p processor) Process(_ context.Context, evs *pipeline.Events) error {
	for i := range evs.Len() {
		ev := evs.Event(i)
		ms, err := jsonobject.Members(ev.Raw)
		for _, kv := range p.pairs {
			if err != nil {
				break
			}
			ms, err = jsonobject.SetAnnotation(ms, kv.key, kv.value)
		}
		if err == nil {
			err = evs.SetRaw(i, jsonobject.Append(make([]byte, 0, len(ev.Raw)+128), ms))
		}
		if err != nil {
			evs.DeadLetter(i, fmt.Errorf("enrich: %w", err))
		}
	}
	return nil
}
