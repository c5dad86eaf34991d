package agentbin

import (
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/kubetrail/kubetrail/internal/syncbuf"
)

// Process is one run of the agent binary (or any command) started by a
// test: its output is collected, and it is killed when the test ends.
type Process struct {
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{} // closed once the process exited and err is set
	err  error
}

// Options are how Start runs the process. The zero value runs it with the
// test's environment.
type Options struct {
	// Env is added to the test process's environment.
	Env []string
	// Log, when set, also receives the process's stdout and stderr (e.g. a
	// file kept across restarts for the test's artefacts).
	Log io.Writer
	// Dir is the working directory; "" is the test's.
	Dir string
}

// Start runs bin with args, collecting stdout and stderr together. The
// process is SIGKILLed and reaped when the test ends, if still running.
func Start(tb testing.TB, bin string, o Options, args ...string) *Process {
	tb.Helper()
	p := &Process{cmd: exec.Command(bin, args...), out: &syncbuf.Buffer{}, done: make(chan struct{})}
	var w io.Writer = p.out
	if o.Log != nil {
		w = io.MultiWriter(p.out, o.Log)
	}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	p.cmd.Dir = o.Dir
	if len(o.Env) > 0 {
		p.cmd.Env = append(os.Environ(), o.Env...)
	}
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", bin, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	tb.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// Run starts the agent binary: agent run -c cfg.
func Run(tb testing.TB, bin, cfg string, o Options) *Process {
	tb.Helper()
	return Start(tb, bin, o, "run", "-c", cfg)
}

// PID is the process's id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Signal sends sig; it fails when the process already exited.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Done is closed once the process exited; Err is then its exit error.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is how the process exited (nil for status 0); valid once Done is
// closed.
func (p *Process) Err() error { return p.err }

// Kill SIGKILLs the process and waits for it to be reaped. It fails the
// test when the process had already exited by itself.
func (p *Process) Kill(tb testing.TB) {
	tb.Helper()
	_ = p.Signal(syscall.SIGKILL)
	<-p.done
	// A process that had exited by itself (a zombie still takes the
	// signal) did not die of the SIGKILL.
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		tb.Fatalf("the process exited by itself before SIGKILL (%v); output:\n%s", p.err, p.Tail())
	}
}

// Stop sends SIGTERM and waits up to timeout for a clean exit (status 0).
// On timeout it SIGKILLs the process; either failure fails the test.
func (p *Process) Stop(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		<-p.done
		tb.Fatalf("the process exited before SIGTERM (%v); output:\n%s", p.err, p.Tail())
	}
	select {
	case <-p.done:
		if p.err != nil {
			tb.Fatalf("SIGTERM: exit %v, want status 0; output:\n%s", p.err, p.Tail())
		}
	case <-time.After(timeout):
		_ = p.Signal(syscall.SIGKILL)
		<-p.done
		tb.Fatalf("the process did not exit within %s of SIGTERM; output:\n%s", timeout, p.Tail())
	}
}

// Output is everything the process wrote so far, stdout and stderr
// together. Once Done is closed, it is complete.
func (p *Process) Output() string { return p.out.String() }

// OutputBytes is Output as a copy of the bytes.
func (p *Process) OutputBytes() []byte { return p.out.Bytes() }

// Tail is the last 4,000 bytes of Output, for failure messages.
func (p *Process) Tail() string { return p.out.Tail(4000) }
