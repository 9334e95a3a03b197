package actors

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
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
