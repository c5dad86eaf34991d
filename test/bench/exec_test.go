package bench

import (
	"os/exec"
	"testing"
)

func execGo(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	return exec.Command("go", args...).CombinedOutput()
}
