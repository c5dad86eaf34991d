// Command agent is kubetrail: it tails kube-apiserver audit logs and ships
// them to SIEMs with at-least-once delivery.
//
//	agent run -c FILE     run until SIGTERM/SIGINT
//	agent check -c FILE   validate a configuration and exit
//	agent test -c FILE TESTS.yaml   run configuration unit tests (exit 0 pass, 1 fail)
//	agent version         print the version
//
// Exit codes: 0 clean shutdown, 1 runtime failure, 2 bad configuration or usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/kubetrail/kubetrail/cmd/agent/app"
	"github.com/kubetrail/kubetrail/config"
	"github.com/kubetrail/kubetrail/internal/buildinfo"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
)

func main() {
	buildinfo.Version = version
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  agent run -c FILE     run the agent
  agent check -c FILE   validate a configuration file
  agent test -c FILE TESTS.yaml
                        run configuration unit tests: events through each
                        pipeline's processors, assertions on what it keeps
  agent version         print the version
`

func runMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch cmd := args[0]; cmd {
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "kubetrail agent %s\n", version)
		return exitOK
	case "run", "check", "test":
		fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
		fs.SetOutput(stderr)
		path := fs.String("c", "", "configuration file (YAML)")
		fs.StringVar(path, "config", "", "configuration file (YAML)")
		cpuProfile := fs.String("cpuprofile", "", "run: write a CPU profile (pprof) to this file until shutdown")
		memProfile := fs.String("memprofile", "", "run: write an allocation profile (pprof) to this file at shutdown")
		if err := fs.Parse(args[1:]); err != nil {
			return exitUsage
		}
		if cmd == "test" && *path != "" && fs.NArg() == 1 {
			return runTests(*path, fs.Arg(0), stdout, stderr)
		}
		if *path == "" || fs.NArg() > 0 {
			fmt.Fprintf(stderr, "agent %s: -c FILE is required and takes no other arguments\n%s", cmd, usage)
			return exitUsage
		}
		cfg, err := config.Load(*path, app.Registries{})
		if err != nil {
			fmt.Fprintf(stderr, "invalid configuration:\n%s\n", indent(err))
			return exitUsage
		}
		if cmd == "check" {
			fmt.Fprintf(stdout, "%s: ok (%d inputs, %d processors, %d outputs, %d pipelines)\n",
				*path, len(cfg.Inputs), len(cfg.Processors), len(cfg.Outputs), len(cfg.Pipelines))
			return exitOK
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		if *cpuProfile != "" {
			stopProfile, err := startCPUProfile(*cpuProfile)
			if err != nil {
				fmt.Fprintf(stderr, "agent: %v\n", err)
				return exitUsage
			}
			defer stopProfile()
		}
		if *memProfile != "" {
			defer writeMemProfile(*memProfile, stderr)
		}
		if err := app.Run(ctx, cfg, stderr, version); err != nil {
			var ce app.ConfigError
			if errors.As(err, &ce) {
				fmt.Fprintf(stderr, "invalid configuration:\n%s\n", indent(err))
				return exitUsage
			}
			fmt.Fprintf(stderr, "agent: %v\n", err)
			return exitRuntime
		}
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "agent: unknown command %q\n%s", cmd, usage)
		return exitUsage
	}
}

// indent prints each joined error on its own line.
func indent(err error) string {
	var multi interface{ Unwrap() []error }
	if errors.As(err, &multi) {
		s := ""
		for i, e := range multi.Unwrap() {
			if i > 0 {
				s += "\n"
			}
			s += "  " + e.Error()
		}
		return s
	}
	return "  " + err.Error()
}

// startCPUProfile profiles the agent until the returned func is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create CPU profile %s: %w", path, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("start CPU profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// writeMemProfile writes the allocation profile (all allocations since the
// start, and the heap in use) for benchmark runs.
func writeMemProfile(path string, stderr io.Writer) {
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(stderr, "agent: create memory profile %s: %v\n", path, err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		fmt.Fprintf(stderr, "agent: write memory profile %s: %v\n", path, err)
	}
}

// runTests is `agent test -c FILE TESTS.yaml`.
func runTests(path, tests string, stdout, stderr io.Writer) int {
	cfg, err := config.Load(path, app.Registries{})
	if err != nil {
		fmt.Fprintf(stderr, "invalid configuration:\n%s\n", indent(err))
		return exitUsage
	}
	ok, err := app.RunConfigTests(cfg, tests, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "invalid tests:\n%s\n", indent(err))
		return exitUsage
	}
	if !ok {
		return exitRuntime
	}
	return exitOK
}
