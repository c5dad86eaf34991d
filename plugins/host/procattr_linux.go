package host

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill the plugin when the agent dies (kill
// -9 included), so that a restarted agent never finds an orphan plugin
// still writing to the sink.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
