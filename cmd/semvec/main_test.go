package main

import "testing"

// The server raises GOMAXPROCS only on a small host that nothing limits.
func TestServeProcs(t *testing.T) {
	for _, c := range []struct {
		envSet           bool
		procs, cpus, out int
	}{
		{false, 2, 2, 8}, // two CPUs, no limit: raised
		{false, 1, 1, 8}, // one CPU
		{false, 4, 4, 8}, // four
		{false, 8, 8, 8}, // enough already
		{false, 16, 16, 16},
		{true, 2, 2, 2},  // GOMAXPROCS=2 in the environment wins
		{false, 1, 8, 1}, // a CPU quota of one CPU on an 8-CPU host stays
		{false, 2, 8, 2},
	} {
		if got := serveProcs(c.envSet, c.procs, c.cpus); got != c.out {
			t.Errorf("serveProcs(%v, %d, %d) = %d, want %d", c.envSet, c.procs, c.cpus, got, c.out)
		}
	}
}
