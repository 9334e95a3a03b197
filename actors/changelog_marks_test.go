package actors

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

type refusingLog struct{ err error }

func (r refusingLog) AppendLog(_ context.Context, entries []persistence.LogEntry) ([]error, error) {
	out := make([]error, len(entries))
	for i := range out {
		out[i] = r.err
	}
	return out, nil
}

// TestChangeLogKeepsNoMarkForFinalRefusals: each superseded (or deleted) activation leaves
// a mark in changeLog.failed that nothing ever removes: the actor stopped
// and (in cluster mode) its session now writes on another member.
func TestChangeLogKeepsNoMarkForFinalRefusals(t *testing.T) {
	sys := actor.NewActorSystem()
	for _, refusal := range []error{persistence.ErrSuperseded, semvec.NotFound("Session")} {
		l := newChangeLog(refusingLog{refusal}, sys.Root, slog.New(slog.NewTextHandler(io.Discard, nil)))
		sink := sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
		var batch []logJob
		for i := range 1000 {
			batch = append(batch, logJob{ack: sink, entry: persistence.LogEntry{Owner: "o", SessionID: string(rune('a'+i%26)) + string(rune(i)), Incarnation: "i", Epoch: 1, Seq: 5}})
		}
		l.commit(batch) // the loop goroutine's job, run here while the queue is idle
		if n := len(l.failed); n != 0 {
			t.Errorf("%v: %d marks left in changeLog.failed for activations that will never write again", refusal, n)
		}
		l.close()
	}
}

// recordingLog records the entries and the deadline of each AppendLog.
type recordingLog struct {
	mu        sync.Mutex
	entries   [][]persistence.LogEntry
	deadlines []time.Time
}

func (r *recordingLog) AppendLog(ctx context.Context, entries []persistence.LogEntry) ([]error, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, _ := ctx.Deadline()
	r.entries, r.deadlines = append(r.entries, entries), append(r.deadlines, d)
	return make([]error, len(entries)), nil
}

// A change waits for its commit at most logCommitTimeout from the moment
// it is handed to the log: one queued behind a commit that hung has only
// what is left of that time (the commit's deadline is the earliest of its
// entries'), and one with less than minCommitWindow left is answered 503
// without being written, its session's later entries with it (a log has no
// gap). Before, each batch had a fresh timeout of its own, so a change
// queued behind a hanging commit was answered after two: past the ask
// timeout, a 504.
func TestAChangeWaitsForItsCommitAtMostTheLogTimeout(t *testing.T) {
	sys := actor.NewActorSystem()
	store := &recordingLog{}
	l := newChangeLog(store, sys.Root, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer l.close()
	got := make(chan *pb.ChangeCommitted, 8)
	sink := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*pb.ChangeCommitted); ok {
			got <- m
		}
	}))
	entry := func(session string, seq int64) persistence.LogEntry {
		return persistence.LogEntry{Owner: "o", SessionID: session, Incarnation: "i", Epoch: 1, Seq: seq}
	}
	now := time.Now()
	late := now.Add(-l.timeout + minCommitWindow/2)    // waited nearly its whole time
	waited := now.Add(-l.timeout + 10*minCommitWindow) // has a second left
	l.commit([]logJob{
		{ack: sink, entry: entry("a", 5), queued: late},
		{ack: sink, entry: entry("a", 6), queued: waited}, // behind a refused entry of its session
		{ack: sink, entry: entry("b", 1), queued: waited},
		{ack: sink, entry: entry("c", 1), queued: now},
	})
	if len(store.entries) != 1 || len(store.entries[0]) != 2 || store.entries[0][0].SessionID != "b" || store.entries[0][1].SessionID != "c" {
		t.Fatalf("written: %+v, want b/1 and c/1 only", store.entries)
	}
	if want := waited.Add(l.timeout); !store.deadlines[0].Equal(want) {
		t.Fatalf("the commit's deadline is %v, want the earliest of its entries' %v", store.deadlines[0], want)
	}
	outcome := map[string]*pb.Error{}
	for range 4 {
		select {
		case m := <-got:
			outcome[fmt.Sprint(m.GetSeq(), m.GetError().GetReason())] = m.GetError()
		case <-time.After(10 * time.Second):
			t.Fatalf("answers: %v", outcome)
		}
	}
	for _, want := range []string{"5 ERROR_REASON_UNAVAILABLE", "6 ERROR_REASON_UNAVAILABLE", "1 ERROR_REASON_UNSPECIFIED"} {
		if _, ok := outcome[want]; !ok {
			t.Fatalf("answers %v: none is %q", outcome, want)
		}
	}
}
