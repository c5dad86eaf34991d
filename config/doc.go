// Package config owns kubetrail's configuration file: the document model
// (agent settings, named inputs, processors and outputs, and the pipelines
// that wire them, in the OpenTelemetry Collector's style), the strict YAML
// decoder that fills it, ${...} expansion of secrets, and the checks that
// tie components and pipelines together. It imports nothing else of
// kubetrail: the loader reaches the component registries through the
// Components interface.
//
// A configuration looks like this:
//
//	agent:
//	  state_dir: /var/lib/kubetrail          # checkpoints + buffers
//	  http_listen: 127.0.0.1:9108            # /metrics, /healthz, /readyz; "" disables
//	  log: {level: info, format: json}
//	inputs:
//	  apiserver:                             # a name of your choice
//	    type: auditlog                       # the component type
//	    path: /var/log/kubernetes/audit/audit.log
//	outputs:
//	  siem:
//	    type: splunk_hec
//	    endpoint: https://splunk.example:8088
//	    token: ${file:/etc/kubetrail/hec-token}   # or ${HEC_TOKEN}, ${HEC_TOKEN:-default}
//	    batch: {max_events: 1000, max_bytes: 4MiB, max_wait: 1s}   # any output
//	    retry: {initial_interval: 100ms, max_interval: 30s}        # any output
//	    max_in_flight: 2                                           # any output
//	pipelines:
//	  audit:
//	    inputs: [apiserver]
//	    processors: []
//	    outputs: [siem]
//	    buffer: {max_bytes: 2GiB, fsync: interval, when_full: block}
//
// Top-level keys starting with "x-" are ignored, a place for YAML anchors
// that merge keys (<<: *name) reuse.
//
// Each component is a mapping with "type" plus the keys of that type's
// config struct (the struct its factory's NewConfig returns, with defaults
// set); outputs also accept the Delivery keys, decoded over DefaultDelivery
// as the output type changes it (see DeliveryDefaulter). An output belongs
// to one pipeline: it reads that pipeline's buffer through its own cursor.
//
// Decoding is strict: unknown keys, keys written twice, wrong types, bad
// sizes, durations and enum values are all problems, and after decoding a
// struct the loader calls its Validate method. A Validate method blames a
// field by returning a *FieldError (see Fieldf and Nested). Every problem in
// the file is reported, each as an *Error rendered as "file:line: path: msg":
//
//	agent.yaml:14: outputs.siem.batch.max_bytes: "12XB" is not a size (use e.g. 512KiB, 10MB, 2GiB)
//
// In scalar values, ${NAME} is replaced by an environment variable (an
// unset one is an error unless written ${NAME:-default}, which also applies
// when it is empty; ${env:NAME} is the same), ${file:PATH} by a file's
// content minus one trailing newline (relative paths start at the
// configuration file's directory), and $$ by a single $. A $ followed by
// anything else is kept. Expansion happens after parsing, so a value can
// contain any characters; keys are never expanded. Substituted values are scrubbed from error
// messages (those of 4 bytes or more everywhere; any length when quoted in
// the message of the value's own field).
//
// Config structs of component types use the same decoder (see Decode), the
// Size and Duration types, and enums built with ParseEnum and OneOf.
package config
