package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// binDir holds the agent binary built for this test run.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildAgent compiles the agent binary (no -race: it is the product) once.
var buildAgent = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "kubetrail-e2e-bin-")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "agent")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/kubetrail/kubetrail/cmd/agent").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build agent: %v\n%s", err, out)
	}
	return bin, nil
})

// agentRunner starts successive runs of the agent binary on one
// configuration, each run's log appended to one file.
type agentRunner struct {
	t      *testing.T
	bin    string
	cfg    string
	addr   string // http_listen
	logf   string
	client *http.Client
	cur    *agentProc
}

type agentProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func (r *agentRunner) start() {
	r.t.Helper()
	require.Nil(r.t, r.cur, "agent already running")
	logf, err := os.OpenFile(r.logf, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(r.t, err)
	fmt.Fprintf(logf, "==== agent start %s\n", time.Now().UTC().Format(time.RFC3339Nano))
	p := &agentProc{cmd: exec.Command(r.bin, "run", "-c", r.cfg), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	require.NoError(r.t, p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	r.cur = p
	// Ready once /healthz answers (the HTTP server starts with the agent).
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := r.client.Get("http://" + r.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-p.done:
			r.t.Fatalf("agent exited during startup (%v); log:\n%s", p.err, r.logTail())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("agent not serving /healthz after 30 s; log:\n%s", r.logTail())
		}
	}
}

// kill sends SIGKILL and waits for the process to go.
func (r *agentRunner) kill() {
	r.t.Helper()
	require.NoError(r.t, r.cur.cmd.Process.Signal(syscall.SIGKILL))
	<-r.cur.done
	r.cur = nil
}

// term sends SIGTERM and requires exit status 0 within the grace period.
func (r *agentRunner) term() {
	r.t.Helper()
	require.NoError(r.t, r.cur.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-r.cur.done:
		require.NoError(r.t, r.cur.err, "SIGTERM: the agent exits 0; log:\n%s", r.logTail())
	case <-time.After(40 * time.Second):
		r.t.Fatalf("agent did not exit within 40 s of SIGTERM; log:\n%s", r.logTail())
	}
	r.cur = nil
}

func (r *agentRunner) stopAny() {
	if r.cur != nil {
		_ = r.cur.cmd.Process.Signal(syscall.SIGKILL)
		<-r.cur.done
		r.cur = nil
	}
}

// logSinceStart is the log of the current (last started) agent process.
func (r *agentRunner) logSinceStart() string {
	b, _ := os.ReadFile(r.logf)
	s := string(b)
	if i := strings.LastIndex(s, "==== agent start "); i >= 0 {
		s = s[i:]
	}
	return s
}

func (r *agentRunner) logTail() string {
	b, _ := os.ReadFile(r.logf)
	return lastLines(string(b), 40)
}

// sample is one scrape of /metrics: series (name{labels}) to value.
type sample map[string]float64

func (r *agentRunner) scrape() (sample, error) {
	resp, err := r.client.Get("http://" + r.addr + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("scrape /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape /metrics: %s", resp.Status)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads the Prometheus text format into series -> value.
func parseMetrics(r io.Reader) (sample, error) {
	s := sample{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("metric line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metric line %q: %w", line, err)
		}
		s[line[:i]] = v
	}
	return s, sc.Err()
}

// sum adds every series of the family name whose labels include all of
// the given label="value" pairs.
func (s sample) sum(name string, labels ...string) (float64, bool) {
	var v float64
	found := false
	for k, x := range s {
		n, l, _ := strings.Cut(k, "{")
		if n != name {
			continue
		}
		ok := true
		for _, want := range labels {
			if !strings.Contains(l, want) {
				ok = false
			}
		}
		if ok {
			v += x
			found = true
		}
	}
	return v, found
}

func (r *agentRunner) metric(name string, labels ...string) float64 {
	r.t.Helper()
	s, err := r.scrape()
	require.NoError(r.t, err)
	v, _ := s.sum(name, labels...)
	return v
}

var errNotYet = errors.New("not yet")
