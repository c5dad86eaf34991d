package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RunDirs are the directories of one run.
type RunDirs struct {
	Root, Audit, State, Out string
}

// newRunDirs empties root and creates the run's directories in it.
func newRunDirs(root string) (RunDirs, error) {
	d := RunDirs{Root: root, Audit: filepath.Join(root, "audit"), State: filepath.Join(root, "state"), Out: filepath.Join(root, "out")}
	if err := os.RemoveAll(root); err != nil {
		return d, fmt.Errorf("clean run dir: %w", err)
	}
	for _, p := range []string{d.Audit, d.State, d.Out} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return d, fmt.Errorf("create run dir: %w", err)
		}
	}
	return d, nil
}

// AuditLog is the active audit log's path.
func (d RunDirs) AuditLog() string { return filepath.Join(d.Audit, "audit.log") }

// OutFile is the file output's active file.
func (d RunDirs) OutFile() string { return filepath.Join(d.Out, "audit.ndjson") }

// Checkpoint is the input's checkpoint file: it exists once the input has
// resolved its start position (cmd/agent names the input "apiserver").
func (d RunDirs) Checkpoint() string {
	return filepath.Join(d.State, "inputs", "apiserver", "checkpoint.json")
}

// agentConfig is the benchmark's configuration: the auditlog input, one
// pipeline with the default disk buffer (fsync: interval) and a file output
// on the same disk, checkpoints on (always), metrics on 127.0.0.1. Every
// setting not written here is the agent's default. outMaxSize is the file
// output's rotation size; extra is appended to the pipeline (e.g.
// "    buffer: {fsync: never}\n", for experiments). output, when not empty,
// replaces the file output by another one (the YAML flow mapping of its
// settings, e.g. "{type: kafka, brokers: [...], topic: bench}").
func agentConfig(d RunDirs, httpAddr, outMaxSize, extra, output string) string {
	if output != "" {
		return fmt.Sprintf(`# Written by test/bench: the agent's defaults but for paths and the output.
agent:
  state_dir: %s
  http_listen: "%s"
  log: {level: info, format: text}
inputs:
  apiserver:
    type: auditlog
    path: %s
outputs:
  local: %s
pipelines:
  audit:
    inputs: [apiserver]
    outputs: [local]
%s`, d.State, httpAddr, d.AuditLog(), output, extra)
	}
	return fmt.Sprintf(`# Written by test/bench: the agent's defaults but for paths and rotation.
agent:
  state_dir: %s
  http_listen: "%s"
  log: {level: info, format: text}
inputs:
  apiserver:
    type: auditlog
    path: %s
outputs:
  local:
    type: file
    path: %s
    max_size: %s
    max_backups: 0        # keep every output file: the harness counts them
pipelines:
  audit:
    inputs: [apiserver]
    outputs: [local]
%s`, d.State, httpAddr, d.AuditLog(), d.OutFile(), outMaxSize, extra)
}

// freeAddr returns a free 127.0.0.1 port's address.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// agentProc is one running agent binary.
type agentProc struct {
	cmd    *exec.Cmd
	addr   string
	dirs   RunDirs
	logf   *os.File
	done   chan struct{}
	err    error // of Wait, once done is closed
	client *http.Client
}

// startAgent writes the configuration and starts `bin run -c CONFIG ARGS`.
// env adds environment variables.
func startAgent(bin string, d RunDirs, outMaxSize, extra, output string, env, args []string) (*agentProc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(d.Root, "agent.yaml")
	if err := os.WriteFile(cfg, []byte(agentConfig(d, addr, outMaxSize, extra, output)), 0o600); err != nil {
		return nil, fmt.Errorf("write agent config: %w", err)
	}
	logf, err := os.Create(filepath.Join(d.Root, "agent.log"))
	if err != nil {
		return nil, fmt.Errorf("create agent log: %w", err)
	}
	p := &agentProc{addr: addr, dirs: d, logf: logf, done: make(chan struct{}),
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}}
	p.cmd = exec.Command(bin, append([]string{"run", "-c", cfg}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.Env = append(os.Environ(), env...)
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start agent %s: %w", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// waitReady waits for /readyz and for the input's first checkpoint: from
// then on, every file the apiserver writes is read (backups that exist at
// the very first start would be history).
func (p *agentProc) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		_, cerr := os.Stat(p.dirs.Checkpoint())
		if cerr == nil {
			if resp, err := p.client.Get("http://" + p.addr + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("agent exited during startup (%v); log:\n%s", p.err, p.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("agent not ready after %s; log:\n%s", timeout, p.logTail())
		}
	}
}

// metrics returns the sum over label sets of each named metric family
// sample on /metrics.
func (p *agentProc) metrics(names ...string) (map[string]float64, error) {
	resp, err := p.client.Get("http://" + p.addr + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("scrape agent metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape agent metrics: %s", resp.Status)
	}
	return parseMetrics(resp.Body, names...)
}

// parseMetrics sums the samples of each name in Prometheus text format.
func parseMetrics(r io.Reader, names ...string) (map[string]float64, error) {
	out := make(map[string]float64, len(names))
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		for _, n := range names {
			if !strings.HasPrefix(line, n) || len(line) == len(n) || (line[len(n)] != ' ' && line[len(n)] != '{') {
				continue
			}
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				return nil, fmt.Errorf("metric line %q: %w", line, err)
			}
			out[n] += v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return out, nil
}

// Usage is what the kernel accounted to the agent process.
type Usage struct {
	User, Sys time.Duration // rusage of the exited process
	// MaxRSS is the agent's peak resident set (VmHWM), read from /proc just
	// before SIGTERM. Not rusage's ru_maxrss: os/exec starts children with
	// vfork (CLONE_VM), and Linux records the parent's RSS at exec into the
	// child's ru_maxrss, so it would report the harness's peak whenever that
	// is larger.
	MaxRSS int64 // bytes
}

// CPU is user + system time.
func (u Usage) CPU() time.Duration { return u.User + u.Sys }

// stop sends SIGTERM, waits for the agent to exit and returns its rusage
// and peak RSS. An exit status other than 0 is an error.
func (p *agentProc) stop(timeout time.Duration) (Usage, error) {
	defer p.logf.Close()
	hwm, err := vmHWM(p.cmd.Process.Pid)
	if err != nil {
		return Usage{}, err
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return Usage{}, fmt.Errorf("signal agent: %w", err)
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return Usage{}, fmt.Errorf("agent did not exit within %s of SIGTERM; log:\n%s", timeout, p.logTail())
	}
	if p.err != nil {
		return Usage{}, fmt.Errorf("agent exited with %v; log:\n%s", p.err, p.logTail())
	}
	ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return Usage{}, errors.New("no rusage for the agent process on this platform")
	}
	return Usage{
		User:   time.Duration(ru.Utime.Nano()),
		Sys:    time.Duration(ru.Stime.Nano()),
		MaxRSS: hwm,
	}, nil
}

// vmHWM reads the peak resident set size of pid from /proc/pid/status.
func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read agent's peak RSS: %w", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return kb << 10, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// kill ends the agent without waiting for a clean exit (error paths).
func (p *agentProc) kill() {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.logf.Close()
}

// cpuNow is the agent's CPU time so far, from /proc (clock ticks of 10 ms).
func (p *agentProc) cpuNow() (time.Duration, error) {
	return procCPU(p.cmd.Process.Pid)
}

// procCPU reads utime+stime of pid from /proc/pid/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read process stat: %w", err)
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz, nil
}

// logTail is the end of the agent's log.
func (p *agentProc) logTail() string {
	b, _ := os.ReadFile(p.logf.Name())
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// outputBytes is the total size of the file output's files.
func outputBytes(dir string) (int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("list output dir: %w", err)
	}
	var n int64
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".ndjson") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // rotated away between the listing and the stat
			}
			return 0, fmt.Errorf("stat output file: %w", err)
		}
		n += fi.Size()
	}
	return n, nil
}

// Prefault writes size bytes of zeros to a file under dir and deletes it,
// with fsyncs along the way. On a virtual machine, the first write into
// guest memory the host has not backed yet costs several times a later
// one (measured here: 2.8 s of system time to write 1 GiB to the page cache
// the first time, 0.3 s afterwards); page-cache writes are a large part of
// the agent's cost (disk buffer and file output), so without this step the
// first runs after boot measure the hypervisor.
func Prefault(dir string, size int64) error {
	if size <= 0 {
		return nil
	}
	path := filepath.Join(dir, "prefault.tmp")
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("prefault: %w", err)
	}
	defer os.Remove(path)
	defer f.Close()
	buf := make([]byte, 1<<20)
	for n := int64(0); n < size; n += int64(len(buf)) {
		if _, err := f.Write(buf); err != nil {
			return fmt.Errorf("prefault: %w", err)
		}
		if n%(1<<30) == 0 {
			_ = f.Sync() // keep dirty pages bounded
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("prefault: %w", err)
	}
	return os.Remove(path)
}

// rusageThread is RUSAGE_THREAD (Linux).
const rusageThread = 1

// PageCacheWriteCost measures the system time one thread spends writing
// size bytes into the page cache under dir, in 1 MiB writes: warm (the
// memory was just freed by an identical write) and cold (after settle, once
// a virtual machine's host may have taken free guest memory back). It puts
// the agent's system time in context: the agent writes every event twice
// (disk buffer and file output).
func PageCacheWriteCost(dir string, size int64, settle time.Duration) (warm, cold time.Duration, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	write := func() (time.Duration, error) {
		var before, after syscall.Rusage
		if err := syscall.Getrusage(rusageThread, &before); err != nil {
			return 0, fmt.Errorf("getrusage: %w", err)
		}
		path := filepath.Join(dir, "writecost.tmp")
		f, err := os.Create(path)
		if err != nil {
			return 0, fmt.Errorf("write cost: %w", err)
		}
		defer os.Remove(path)
		buf := make([]byte, 1<<20)
		for n := int64(0); n < size; n += int64(len(buf)) {
			if _, err := f.Write(buf); err != nil {
				f.Close()
				return 0, fmt.Errorf("write cost: %w", err)
			}
		}
		if err := syscall.Getrusage(rusageThread, &after); err != nil {
			f.Close()
			return 0, fmt.Errorf("getrusage: %w", err)
		}
		f.Close()
		return time.Duration(after.Stime.Nano() - before.Stime.Nano()), os.Remove(path)
	}
	if _, err = write(); err != nil { // prime
		return 0, 0, err
	}
	if warm, err = write(); err != nil {
		return 0, 0, err
	}
	time.Sleep(settle)
	cold, err = write()
	return warm, cold, err
}
