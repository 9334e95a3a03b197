//go:build !linux

package main

import (
	"os/exec"
	"time"
)

// dieWithParent is a no-op where the kernel cannot tie the server's life to
// the harness's.
func dieWithParent(*exec.Cmd) {}

// processCPU is unknown here: the figures that need it are left out.
func processCPU(int) time.Duration { return -1 }
