package actors

import (
	"context"
	"sync"
)

// tracked runs work on goroutines that a shutdown waits for (Layers' and
// Sessions' work made off an actor and off a request), and refuses new
// work once that wait has begun.
type tracked struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// run runs fn on a goroutine of its own unless closeWithin has begun; it
// reports whether fn runs.
func (t *tracked) run(fn func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Go(fn)
	return true
}

// closeWithin refuses new work and waits for the work running, at most
// until ctx ends: then it returns ctx's error (the work goes on).
func (t *tracked) closeWithin(ctx context.Context) error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
