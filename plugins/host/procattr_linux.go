package host

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill the plugin when the agent dies (kill
// -9 included), so that a restarted agent never finds an orphan plugin
// still writing to the sink; and puts it in a process group of its own, so
// that a signal to the agent's group (Ctrl-C in a terminal, timeout(1))
// reaches the agent, which then closes the plugin in order, and not the
// plugin directly.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
