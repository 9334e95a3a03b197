//go:build !linux

package main

import "os/exec"

// dieWithParent is a no-op where the kernel cannot tie the server's life to
// the harness's.
func dieWithParent(*exec.Cmd) {}
