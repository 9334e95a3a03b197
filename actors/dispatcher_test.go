package actors

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/semvec-go/semvec/proto"
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

// goid is the current goroutine's id, from its stack header (tests only).
func goid() string {
	var buf [64]byte
	s := string(buf[:runtime.Stack(buf[:], false)])
	s = strings.TrimPrefix(s, "goroutine ")
	return s[:strings.IndexByte(s, ' ')]
}

// counter is an actor that counts its messages and answers each ask with
// the count and the goroutine it ran on.
func spawnCounter(sys *actor.ActorSystem, d actor.Dispatcher) *actor.PID {
	n := 0
	return sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *pb.Flush:
			n++
		case *pb.MetricsRequest:
			n++
			if m.GetSessionId() == "block" {
				time.Sleep(50 * time.Millisecond)
			}
			c.Respond(&pb.MetricsResponse{SessionId: m.GetSessionId() + "|" + goid(), InteractionCount: int32(n)})
		}
	}, actor.WithDispatcher(d)))
}

// An ask that finds the mailbox idle runs it on the asking goroutine; one
// that finds it claimed or running waits for the reply like any ask.
func TestCallerRunsRunsAnIdleMailboxOnTheAsker(t *testing.T) {
	sys := NewActorSystem(nil)
	ask := &Asker{Root: sys.Root, Timeout: 5 * time.Second}
	pool := newWorkerDispatcher(4)
	defer pool.stop()
	cr := newCallerRuns(pool)
	pid := spawnCounter(sys, cr)
	// The first ask waits until the actor has started (its Started message
	// runs on a worker). The worker marks the mailbox idle only after the
	// reply has gone out, so the next ask may still find it running: then
	// its message is processed by the worker, and the ask tries again.
	if _, err := Ask[*pb.MetricsResponse](context.Background(), ask, pid, &pb.MetricsRequest{SessionId: "warm"}); err != nil {
		t.Fatal(err)
	}
	count := int32(1)
	inline := false
	for attempt := 0; attempt < 100 && !inline; attempt++ {
		time.Sleep(2 * time.Millisecond)
		r, err := askVia[*pb.MetricsResponse](context.Background(), ask, pid, cr, &pb.MetricsRequest{SessionId: "a"})
		count++
		if err != nil || !strings.HasPrefix(r.GetSessionId(), "a|") || r.GetInteractionCount() != count {
			t.Fatalf("ask: %v %v, want count %d", r, err, count)
		}
		inline = r.GetSessionId() == "a|"+goid()
	}
	if !inline {
		t.Fatal("an ask to an idle mailbox never ran it on the asking goroutine")
	}
	// Without the dispatcher the same actor runs on a worker.
	r, err := Ask[*pb.MetricsResponse](context.Background(), ask, pid, &pb.MetricsRequest{SessionId: "b"})
	if count++; err != nil || r.GetSessionId() == "b|"+goid() || r.GetInteractionCount() != count {
		t.Fatalf("pool ask: %v %v", r, err)
	}
	// A mailbox busy with another message is not run by the asker: the
	// message waits its turn and the reply comes from the running worker.
	sys.Root.RequestWithCustomSender(pid, &pb.MetricsRequest{SessionId: "block"}, nil)
	time.Sleep(10 * time.Millisecond)
	r, err = askVia[*pb.MetricsResponse](context.Background(), ask, pid, cr, &pb.MetricsRequest{SessionId: "c"})
	if count += 2; err != nil || r.GetSessionId() == "c|"+goid() || r.GetInteractionCount() != count {
		t.Fatalf("ask behind a running mailbox: %v %v", r, err)
	}
	if cr.state.Load() != crFree {
		t.Fatalf("claim left at %d", cr.state.Load())
	}
}

// Many askers and plain senders on a few actors: every message is processed
// exactly once, one at a time, and every ask gets its own reply.
func TestCallerRunsUnderContention(t *testing.T) {
	sys := NewActorSystem(nil)
	ask := &Asker{Root: sys.Root, Timeout: 5 * time.Second}
	pool := newWorkerDispatcher(4)
	defer pool.stop()
	const actors, askers, asks, sends = 3, 12, 300, 300
	crs := make([]*callerRuns, actors)
	pids := make([]*actor.PID, actors)
	for i := range crs {
		crs[i] = newCallerRuns(pool)
		pids[i] = spawnCounter(sys, crs[i])
	}
	var wg sync.WaitGroup
	errs := make(chan error, askers+1)
	for w := range askers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range asks {
				k := (w + i) % actors
				want := fmt.Sprintf("w%d-%d", w, i)
				r, err := askVia[*pb.MetricsResponse](context.Background(), ask, pids[k], crs[k], &pb.MetricsRequest{SessionId: want})
				if err == nil && !strings.HasPrefix(r.GetSessionId(), want+"|") {
					err = fmt.Errorf("got %q, want %q", r.GetSessionId(), want)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // an actor-system-style sender that never claims
		defer wg.Done()
		for i := range sends {
			sys.Root.Send(pids[i%actors], &pb.Flush{})
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := 0
	for k := range pids {
		r, err := askVia[*pb.MetricsResponse](context.Background(), ask, pids[k], crs[k], &pb.MetricsRequest{SessionId: "count"})
		if err != nil {
			t.Fatal(err)
		}
		total += int(r.GetInteractionCount()) - 1
		if s := crs[k].state.Load(); s != crFree {
			t.Fatalf("actor %d: claim left at %d", k, s)
		}
	}
	if total != askers*asks+sends {
		t.Fatalf("processed %d messages, want %d", total, askers*asks+sends)
	}
}

// BenchmarkAskCallerRuns is BenchmarkAsk's round trip to one of 1,000
// actors whose mailboxes the asking goroutines run (the session path).
func BenchmarkAskCallerRuns(b *testing.B) {
	sys := NewActorSystem(nil)
	ask := &Asker{Root: sys.Root, Timeout: 5 * time.Second}
	pool := newWorkerDispatcher(16)
	defer pool.stop()
	const n = 1000
	crs := make([]*callerRuns, n)
	pids := make([]*actor.PID, n)
	for i := range crs {
		crs[i] = newCallerRuns(pool)
		pids[i] = sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
			if _, ok := c.Message().(*pb.MetricsRequest); ok {
				c.Respond(&pb.MetricsResponse{})
			}
		}, actor.WithDispatcher(crs[i])))
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb_ *testing.PB) {
		for pb_.Next() {
			k := int(next.Add(1)) % n
			if _, err := askVia[*pb.MetricsResponse](context.Background(), ask, pids[k], crs[k], &pb.MetricsRequest{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAskWorkers is BenchmarkAskCallerRuns with the mailboxes on the
// worker pool (the path before callerRuns).
func BenchmarkAskWorkers(b *testing.B) {
	sys := NewActorSystem(nil)
	ask := &Asker{Root: sys.Root, Timeout: 5 * time.Second}
	pool := newWorkerDispatcher(16)
	defer pool.stop()
	const n = 1000
	pids := make([]*actor.PID, n)
	for i := range pids {
		pids[i] = sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
			if _, ok := c.Message().(*pb.MetricsRequest); ok {
				c.Respond(&pb.MetricsResponse{})
			}
		}, actor.WithDispatcher(pool)))
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb_ *testing.PB) {
		for pb_.Next() {
			k := int(next.Add(1)) % n
			if _, err := Ask[*pb.MetricsResponse](context.Background(), ask, pids[k], &pb.MetricsRequest{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
