package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// cluster is etcd and kube-apiserver started by this package's scripts in
// a work directory, on free loopback ports.
type cluster struct {
	t        *testing.T
	work     string // $KAPI: certs, etcd data, audit dir, logs, pid files
	bin      string // kube-apiserver and kubectl
	env      []string
	port     int // apiserver
	auditDir string
}

// freePort returns a loopback TCP port free at the time of the call.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func newCluster(t *testing.T, bin, work string, maxBackup int) *cluster {
	c := &cluster{t: t, work: work, bin: bin, port: freePort(t), auditDir: filepath.Join(work, "audit")}
	c.env = append(os.Environ(),
		"KAPI="+work,
		"K8S_BIN="+bin,
		"KUBECTL="+filepath.Join(bin, "kubectl"),
		"KAPI_PORT="+strconv.Itoa(c.port),
		"ETCD_PORT="+strconv.Itoa(freePort(t)),
		"ETCD_PEER_PORT="+strconv.Itoa(freePort(t)),
		"AUDIT_MAXSIZE=1",
		"AUDIT_MAXBACKUP="+strconv.Itoa(maxBackup),
		"AUDIT_COMPRESS=true",
	)
	require.NoError(t, os.MkdirAll(c.auditDir, 0o755))
	return c
}

// script runs one of this directory's scripts with the cluster's
// environment; its output goes to the log directory.
func (c *cluster) script(ctx context.Context, name string, args []string, extraEnv ...string) error {
	abs, err := filepath.Abs(name)
	if err != nil {
		return err
	}
	logDir := filepath.Join(c.work, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(logDir, strings.TrimSuffix(name, ".sh")+".out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, abs, args...)
	cmd.Env = append(append([]string{}, c.env...), extraEnv...)
	var stderr bytes.Buffer
	cmd.Stdout = logf
	cmd.Stderr = &stderr
	err = cmd.Run()
	fmt.Fprint(logf, stderr.String())
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, lastLines(stderr.String(), 30))
	}
	return nil
}

func (c *cluster) mustScript(name string, args ...string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	require.NoError(c.t, c.script(ctx, name, args))
}

// kubectl runs kubectl as user (admin, alice, bob, ...) and returns its
// combined output.
func (c *cluster) kubectl(user string, stdin []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "kubectl"),
		append([]string{"--kubeconfig", filepath.Join(c.work, "certs", user+".kubeconfig")}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+filepath.Join(c.work, "home-test"))
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (c *cluster) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.script(ctx, "stop.sh", nil); err != nil {
		c.t.Logf("stop cluster: %v", err)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
