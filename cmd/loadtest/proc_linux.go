package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel stop the server when the harness exits,
// also when it fails half way (fail exits without cleaning up).
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
