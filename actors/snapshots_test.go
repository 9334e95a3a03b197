package actors

import (
	"context"
	"log/slog"
	"testing"

	"github.com/semvec-go/semvec/persistence"
)

type countingSaver struct{ batches, snaps int }

func (c *countingSaver) SaveSnapshots(_ context.Context, s []persistence.Snapshot) error {
	c.batches++
	c.snaps += len(s)
	return nil
}

// The writer writes everything queued before close returns, and a job
// enqueued after close fails instead of panicking.
func TestSnapshotWriterDrainsAndRefusesAfterClose(t *testing.T) {
	saver := &countingSaver{}
	w := newSnapshotWriter(saver, nil, slog.New(slog.DiscardHandler))
	done := make(chan error, 1)
	for i := 0; i < 500; i++ {
		w.enqueue(snapshotJob{snap: persistence.Snapshot{ID: "s"}})
	}
	w.enqueue(snapshotJob{snap: persistence.Snapshot{ID: "last"}, done: done})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	w.close()
	if saver.snaps != 501 {
		t.Fatalf("wrote %d snapshots in %d batches", saver.snaps, saver.batches)
	}
	late := make(chan error, 1)
	w.enqueue(snapshotJob{snap: persistence.Snapshot{ID: "late"}, done: late})
	if err := <-late; err == nil {
		t.Fatal("a job after close reported success")
	}
	w.close() // idempotent
}
