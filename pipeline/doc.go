// Package pipeline owns kubetrail's data path between inputs and sinks: the
// per-pipeline runner (processors, disk buffer, one delivery loop per
// output), the delivery loop itself (batching within the output's Limits,
// retries with capped backoff, dead-lettering, in-order cursor commits,
// Start retries, output health), the Processor contract, the Settings every
// component is built with, the health /readyz serves, and the fan-out from
// an input to the pipelines that read it. The Event, the Output contract
// and the verdict errors live in the leaf package event.
//
// Delivery invariants (see ARCHITECTURE.md); they live here only, an output
// only sends and returns a verdict:
//   - an input position is acknowledged only after the events before it are
//     durable in every buffer that reads the input;
//   - an output cursor advances only after the sink acknowledged the batch;
//   - a permanent rejection goes to the dead-letter file, never silently
//     away, and that file is synced before anything commits past it;
//   - an authentication failure (event.Unready) keeps the events buffered
//     and turns the output unready; it never dead-letters;
//   - a failure that stops progress (a cursor that cannot be committed, a
//     dead-letter file that cannot be synced) stops the pipeline at once,
//     with an error, instead of running on without committing.
package pipeline
