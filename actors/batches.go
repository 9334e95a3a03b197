package actors

import (
	"runtime"
	"sync"
)

// batches is a bounded queue drained by one goroutine in batches: what is
// queued while a batch is being handled forms the next one. put never
// blocks; close waits until everything queued has been handled.
type batches[J any] struct {
	jobs chan J
	wg   sync.WaitGroup

	mu     sync.RWMutex // guards closed against put racing close
	closed bool
}

// start runs handle on batches of at most max jobs until close.
func (b *batches[J]) start(capacity, max int, handle func([]J)) {
	b.jobs = make(chan J, capacity)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		batch := make([]J, 0, max)
		for j := range b.jobs {
			// Let the goroutines that are ready to run (requests
			// about to queue a job) go first: under load a batch
			// then takes what they queue instead of leaving it to the
			// next one, and with nothing else to run this returns at
			// once.
			runtime.Gosched()
			batch = drain(b.jobs, append(batch[:0], j), max)
			handle(batch)
		}
	}()
}

// put queues j unless the queue is full or closed.
func (b *batches[J]) put(j J) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return false
	}
	select {
	case b.jobs <- j:
		return true
	default:
		return false
	}
}

// queued is how many jobs wait for a batch.
func (b *batches[J]) queued() int { return len(b.jobs) }

// full reports whether put would refuse a job for want of room right now.
func (b *batches[J]) full() bool { return len(b.jobs) == cap(b.jobs) }

// close stops the queue after every queued job has been handled.
func (b *batches[J]) close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.jobs)
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// drain appends to batch whatever is queued in jobs right now, up to max.
func drain[J any](jobs <-chan J, batch []J, max int) []J {
	for len(batch) < max {
		select {
		case j, ok := <-jobs:
			if !ok {
				return batch
			}
			batch = append(batch, j)
		default:
			return batch
		}
	}
	return batch
}
