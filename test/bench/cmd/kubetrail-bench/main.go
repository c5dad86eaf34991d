// Command kubetrail-bench runs kubetrail's performance benchmark: it builds
// the agent, replays deterministic audit-log workloads through lumberjack
// while the agent ships them to a file output, and reports CPU-seconds per
// GiB, peak RSS, throughput and latency. `make bench` at the repository root
// runs `kubetrail-bench suite`.
//
// Usage:
//
//	kubetrail-bench suite   [flags]          the whole suite (make bench)
//	kubetrail-bench run     [flags] -mix M -size S
//	kubetrail-bench latency [flags] [-rate 5000 -duration 30s]
//	kubetrail-bench gen     [flags] -mix M -size S
//	kubetrail-bench profile [flags] -mix M -size S -cpuprofile F
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kubetrail/kubetrail/test/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench.Main(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "kubetrail-bench:", err)
		os.Exit(1)
	}
}
