// Package pipeline owns kubetrail's data path between inputs and sinks: the
// Event type, the Output contract every sink implements, the error classes
// that decide retry or dead-letter, the per-pipeline runner (processors, disk
// buffer, one delivery loop per output) and the fan-out from an input to the
// pipelines that read it.
//
// Delivery invariants (see ARCHITECTURE.md):
//   - an input position is acknowledged only after the events before it are
//     durable in every buffer that reads the input;
//   - an output cursor advances only after the sink acknowledged the batch;
//   - a permanent rejection goes to the dead-letter file, never silently away.
package pipeline
