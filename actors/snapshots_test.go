package actors

import (
	"context"
	"log/slog"
	"testing"
	"time"

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

func TestFlushPauseSpreadsASweep(t *testing.T) {
	for _, c := range []struct {
		n     int
		sweep time.Duration
		want  time.Duration
	}{
		{0, time.Minute, 0},
		{flushBatch, time.Minute, 0},              // one batch: no pause
		{1000, time.Minute, 5 * time.Millisecond}, // capped
		{1000, 400 * time.Millisecond, 400 * time.Millisecond / 4 / 32},
		{1000, 0, 0},
	} {
		if got := flushPause(c.n, c.sweep); got != c.want {
			t.Errorf("flushPause(%d, %s) = %s, want %s", c.n, c.sweep, got, c.want)
		}
		// Whatever n, the pauses of one sweep fit in a quarter of it.
		if batches := (c.n + flushBatch - 1) / flushBatch; c.sweep > 0 && time.Duration(batches)*flushPause(c.n, c.sweep) > c.sweep/4 {
			t.Errorf("flushPause(%d, %s): the sweep's pauses exceed a quarter of it", c.n, c.sweep)
		}
	}
}
