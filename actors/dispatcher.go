package actors

import (
	"runtime"
	"sync"
	"sync/atomic"
)

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

// callerRuns is the dispatcher of one session actor. It lends the mailbox to
// the shared worker pool, except when an ask from outside the actor system
// (an HTTP handler) holds its claim: then the mailbox run that the ask's
// message starts is handed to the asking goroutine, which runs it itself and
// finds the reply waiting. A request then costs no hand-off to a worker and
// no wake-up back, and the turn runs where the request's embedded vectors
// are still in cache.
//
// The actor model is unchanged: the mailbox still processes one message at a
// time (its own running flag decides who runs it, not the dispatcher), the
// actor alone touches its state, and Receive never blocks. Only asks from
// goroutines that are free to wait claim the mailbox (never an actor sending
// from its Receive), so no actor runs inside another. A claimed run may carry
// messages queued by others (a flush, a cluster's feedback); it ends when the
// mailbox is empty, as on a worker.
type callerRuns struct {
	pool  *workerDispatcher
	state atomic.Int32 // free, claimed, handing, handed
	stash func()       // the mailbox run, set while handing → handed
}

const (
	crFree int32 = iota
	crClaimed
	crHanding
	crHanded
)

func newCallerRuns(pool *workerDispatcher) *callerRuns { return &callerRuns{pool: pool} }

// Schedule implements actor.Dispatcher: the claimant gets the run, the pool
// gets it otherwise.
func (d *callerRuns) Schedule(fn func()) {
	if d.state.CompareAndSwap(crClaimed, crHanding) {
		d.stash = fn
		d.state.Store(crHanded)
		return
	}
	d.pool.Schedule(fn)
}

// Throughput implements actor.Dispatcher.
func (d *callerRuns) Throughput() int { return d.pool.Throughput() }

// claim reserves the next mailbox run for the calling goroutine; false when
// another ask holds the claim.
func (d *callerRuns) claim() bool { return d.state.CompareAndSwap(crFree, crClaimed) }

// unclaim ends a claim and returns the mailbox run handed over while it was
// held (the caller must run it), or nil when none was: the mailbox was
// already running and will reach the message on its own.
func (d *callerRuns) unclaim() func() {
	if d.state.CompareAndSwap(crClaimed, crFree) {
		return nil
	}
	for d.state.Load() != crHanded { // Schedule is between its two steps
		runtime.Gosched()
	}
	fn := d.stash
	d.stash = nil
	d.state.Store(crFree)
	return fn
}
