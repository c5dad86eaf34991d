// Package event is the contract between kubetrail's data path and everything
// plugged into it: the Event (raw audit JSON plus its extracted fields), the
// Batch an output receives, the Output interface, and the verdict errors
// (Permanent, Throttled, Unready, PartialError) that tell the delivery loop
// what to do after a Write.
//
// It is a leaf: it depends on the standard library and event/auditfields
// only (no buffer, no Prometheus, no protobuf), so outputs, processors and
// the plugin SDK import it without pulling in the agent.
package event
