package adtest

import (
	"os/exec"
	"syscall"
)

// setPdeathsig makes the kernel kill samba when the test binary dies, so an interrupted or
// timed-out test run leaves no DC behind.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
