package actors

import "sync"

// mailboxThroughput is how many messages a mailbox processes before it
// yields its worker (protoactor's default).
const mailboxThroughput = 300

// workerDispatcher runs actor mailboxes on long-lived worker goroutines
// instead of a new goroutine per scheduling (protoactor's default
// dispatcher). A session actor is idle between requests, so nearly every
// request schedules its mailbox anew; a fresh goroutine starts with a small
// stack and grows it (a stack copy) on every turn, while a worker's stack
// has already grown.
//
// Schedule never blocks and never queues: it hands the mailbox to a worker
// that is waiting for work, starts a new worker while there are fewer than
// max, and otherwise runs the mailbox on a goroutine of its own, like the
// default dispatcher. A mailbox that blocks (the bounded save on
// passivation) therefore never delays another.
type workerDispatcher struct {
	work chan func() // unbuffered: a send succeeds only with an idle worker
	done chan struct{}
	max  int
	wg   sync.WaitGroup

	mu      sync.Mutex // guards workers and stopped (the slow path only)
	workers int
	stopped bool
}

func newWorkerDispatcher(max int) *workerDispatcher {
	return &workerDispatcher{work: make(chan func()), done: make(chan struct{}), max: max}
}

// Schedule implements actor.Dispatcher.
func (d *workerDispatcher) Schedule(fn func()) {
	select {
	case d.work <- fn:
		return
	default:
	}
	d.mu.Lock()
	if !d.stopped && d.workers < d.max {
		d.workers++
		d.wg.Add(1)
		d.mu.Unlock()
		go d.worker(fn)
		return
	}
	d.mu.Unlock()
	go fn()
}

// Throughput implements actor.Dispatcher.
func (d *workerDispatcher) Throughput() int { return mailboxThroughput }

func (d *workerDispatcher) worker(fn func()) {
	defer d.wg.Done()
	for {
		fn()
		select {
		case fn = <-d.work:
		case <-d.done:
			return
		}
	}
}

// stop ends the idle workers and waits for the busy ones to finish their
// mailbox; later scheduling runs on plain goroutines. It is idempotent.
func (d *workerDispatcher) stop() {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return
	}
	d.stopped = true
	close(d.done)
	d.mu.Unlock()
	d.wg.Wait()
}
