package actors

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestWorkerDispatcherRunsEverythingAndNeverBlocks(t *testing.T) {
	d := newWorkerDispatcher(2)
	// Two mailboxes that block occupy both workers; more scheduling must
	// still run at once (on plain goroutines), not queue behind them.
	release := make(chan struct{})
	var blocked sync.WaitGroup
	blocked.Add(2)
	for range 2 {
		d.Schedule(func() { blocked.Done(); <-release })
	}
	blocked.Wait()
	var ran atomic.Int32
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		d.Schedule(func() { ran.Add(1); wg.Done() })
	}
	waitGroupOrFail(t, &wg, "scheduling while every worker is busy")
	close(release)
	// Workers are reused once idle.
	for range 1000 {
		wg.Add(1)
		d.Schedule(func() { ran.Add(1); wg.Done() })
	}
	waitGroupOrFail(t, &wg, "scheduling on idle workers")
	if got := ran.Load(); got != 1100 {
		t.Fatalf("ran %d functions, want 1100", got)
	}
	d.mu.Lock()
	workers := d.workers
	d.mu.Unlock()
	if workers > 2 {
		t.Fatalf("%d workers, want at most 2", workers)
	}
	d.stop()
	d.stop() // idempotent
	wg.Add(1)
	d.Schedule(func() { wg.Done() }) // after stop: a plain goroutine
	waitGroupOrFail(t, &wg, "scheduling after stop")
}

func waitGroupOrFail(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not everything ran", what)
	}
}
