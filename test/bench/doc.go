// Package bench is kubetrail's reproducible performance benchmark.
//
// It generates deterministic audit-log workloads (a fixed seed), caches their
// bytes once, and replays them through lumberjack exactly as kube-apiserver
// writes its audit log, while the real agent binary tails them into a file
// output. It measures what users pay for: CPU-seconds per GiB of audit log
// shipped (from the agent's rusage), peak RSS, throughput, the latency
// from an event's stageTimestamp to its arrival in the output, and the
// agent's CPU at steady rates (5,000 and 500 events/s, one write per event)
// and idle (a minute with no writes after the 500 events/s run).
//
// Workloads (see Mix):
//   - heavy: synthetic, mean ~7.3 KB per event; 85% Metadata events around
//     1 KB, 13% with request/response objects of 3-30 KB, 2% list responses
//     of 100-500 KB carrying about two thirds of the bytes;
//   - real: the real kube-apiserver corpus in testdata/corpus-run1 (6,791
//     events, all kept, including the five lines of 200-643 KB), repeated
//     with fresh auditIDs; mean ~1.4 KB per event;
//   - biglines: real, plus one event with a 1 MiB object and one with a
//     3.9 MiB object every 32 MiB (the first pair after 16 MiB), to check
//     that memory stays flat in line size.
//
// Every event gets a unique auditID and, when it is written, a
// stageTimestamp equal to the write time.
//
// The command is cmd/kubetrail-bench; `make bench` at the repository root
// runs the whole suite and the profiles (README.md, section Performance).
// The package's tests are quick; TestAgentBinary runs the real binary when
// KUBETRAIL_BENCH_AGENT is set (`make bench-smoke`). BenchmarkPipeline runs
// the pipeline in process, for profiles of the Go code without a binary:
//
//	go test ./test/bench -run '^$' -bench Pipeline -benchtime 1x -cpuprofile cpu.pprof
//	go tool pprof -top -tagignore role=harness cpu.pprof
package bench
