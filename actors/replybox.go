package actors

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// maxIdleReplyBoxes bounds the reply boxes an Asker keeps for reuse; more
// concurrent asks than this still work, their boxes are unregistered after
// use.
const maxIdleReplyBoxes = 1024

// replyBox is a reusable reply address for asks: a process in the actor
// system's registry whose only job is to hand the one reply it expects to
// the waiting goroutine. It replaces protoactor's per-request Future (a new
// registry entry, mutex, condition variable and timer for every ask) on the
// request path.
//
// A box is reused only after it delivered its reply, so a reply can never
// reach the wrong ask: a box whose ask timed out (the reply may still come)
// is unregistered and dropped.
type replyBox struct {
	pid   *actor.PID
	ch    chan any // capacity 1; at most one reply is in flight
	timer *time.Timer
}

// SendUserMessage delivers a reply (or the dead letter's response). It never
// blocks: a second message for the same ask (which the protocol does not
// send) is dropped.
func (b *replyBox) SendUserMessage(_ *actor.PID, message any) {
	_, msg, _ := actor.UnwrapEnvelope(message)
	select {
	case b.ch <- msg:
	default:
	}
}

// SendSystemMessage ignores system messages: nobody watches a reply box.
func (b *replyBox) SendSystemMessage(*actor.PID, any) {}

// Stop does nothing; boxes are removed from the registry by replyBoxes.
func (b *replyBox) Stop(*actor.PID) {}

// replyBoxes is an Asker's free list of reply boxes.
type replyBoxes struct {
	mu   sync.Mutex
	idle []*replyBox
}

// get returns an idle box or registers a new one in sys.
func (p *replyBoxes) get(sys *actor.ActorSystem) *replyBox {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		b := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return b
	}
	p.mu.Unlock()
	b := &replyBox{ch: make(chan any, 1)}
	b.timer = time.NewTimer(time.Hour)
	b.timer.Stop()
	pid, _ := sys.ProcessRegistry.Add(b, "reply$"+sys.ProcessRegistry.NextId())
	b.pid = pid
	return b
}

// put returns a box that delivered its reply (its channel is empty) for
// reuse, or unregisters it when enough boxes are idle.
func (p *replyBoxes) put(sys *actor.ActorSystem, b *replyBox) {
	select { // defensive: a stray second reply must not answer the next ask
	case <-b.ch:
		p.discard(sys, b)
		return
	default:
	}
	p.mu.Lock()
	if len(p.idle) < maxIdleReplyBoxes {
		p.idle = append(p.idle, b)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	sys.ProcessRegistry.Remove(b.pid)
}

// discard unregisters a box whose reply may still come.
func (p *replyBoxes) discard(sys *actor.ActorSystem, b *replyBox) {
	sys.ProcessRegistry.Remove(b.pid)
}

// request sends req to pid with b as the sender, calls sent (when not nil),
// and waits up to d for the reply, or until stopped is closed (nil: never),
// or until done is closed (the asker's context ended; nil: never),
// whichever comes first. It reports the reply, or timedOut, unanswered or
// abandoned; after any of these, b must be discarded (a reply may still
// come).
//
// stopped is closed when the asked actor has stopped. Whatever it answered
// before stopping is in b already (its reply was delivered before it
// reported its stop), so an actor that stopped without answering never
// handled req: protoactor drops what reaches an actor's mailbox after it
// has begun to stop.
func (b *replyBox) request(root actor.SenderContext, pid *actor.PID, req any, d time.Duration, stopped, done <-chan struct{}, sent func()) (any, askOutcome) {
	root.RequestWithCustomSender(pid, req, b.pid)
	if sent != nil {
		sent()
	}
	b.timer.Reset(d)
	select {
	case res := <-b.ch:
		b.timer.Stop()
		return res, answered
	case <-stopped:
		b.timer.Stop()
		select {
		case res := <-b.ch:
			return res, answered
		default:
			return nil, unanswered
		}
	case <-b.timer.C:
		return nil, timedOut
	case <-done:
		b.timer.Stop()
		return nil, abandoned
	}
}

// askOutcome is how a replyBox.request ended.
type askOutcome int

const (
	answered   askOutcome = iota
	timedOut              // no reply within the ask's time
	unanswered            // the actor stopped without answering
	abandoned             // the asker's context ended first
)
