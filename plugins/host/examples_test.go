package host_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var goExample struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// buildGoExample builds plugins/examples/ndjson-dir from its own module, as
// its author would, once per test binary.
func buildGoExample(t testing.TB) string {
	t.Helper()
	trackSources(t, filepath.Join("..", "examples", "ndjson-dir"), "*.go", "go.mod", "go.sum")
	goExample.once.Do(func() {
		dir, err := os.MkdirTemp("", "kubetrail-plugin-*")
		if err != nil {
			goExample.err = err
			return
		}
		goExample.path = filepath.Join(dir, "kubetrail-ndjson-dir")
		cmd := exec.Command("go", "build", "-o", goExample.path, ".")
		cmd.Dir = filepath.Join("..", "examples", "ndjson-dir")
		goExample.out, goExample.err = cmd.CombinedOutput()
	})
	if goExample.err != nil {
		t.Fatalf("build the Go example plugin: %v\n%s", goExample.err, goExample.out)
	}
	return goExample.path
}

// trackSources reads the files of an example so that go test's cache
// knows them: the build or the interpreter reads them in another process,
// which the cache does not see, and a changed example would otherwise
// leave a stale cached PASS.
func trackSources(t testing.TB, dir string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		files, err := filepath.Glob(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if _, err := os.ReadFile(f); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if goExample.path != "" {
		_ = os.RemoveAll(filepath.Dir(goExample.path))
	}
	os.Exit(code)
}
