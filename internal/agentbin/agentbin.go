// Package agentbin gives tests the agent binary: cmd/agent compiled once per
// test process, so every end-to-end test (cmd/agent, the network outputs,
// plugins) runs the same real binary without each keeping a build helper,
// and Process, one run of it that a test starts, SIGKILLs or stops.
package agentbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
)

// Build compiles cmd/agent once per test process into a temporary directory
// and returns the binary's path.
var Build = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "kubetrail-agent-bin-")
	if err != nil {
		return "", err
	}
	_, self, _, _ := runtime.Caller(0)
	bin := filepath.Join(dir, "agent")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/agent")
	cmd.Dir = filepath.Join(filepath.Dir(self), "..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/agent: %v\n%s", err, out)
	}
	return bin, nil
})
