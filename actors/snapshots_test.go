package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/semvec-go/semvec/persistence"
)

type countingSaver struct{ batches, snaps int }

func (c *countingSaver) SaveSnapshots(_ context.Context, s []persistence.Snapshot) (int, error) {
	c.batches++
	c.snaps += len(s)
	return len(s), nil
}

// gatedSaver blocks each batch until release is closed and records what it
// was asked to write.
type gatedSaver struct {
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	written []persistence.Snapshot
}

func (g *gatedSaver) SaveSnapshots(_ context.Context, s []persistence.Snapshot) (int, error) {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.release
	g.mu.Lock()
	defer g.mu.Unlock()
	g.written = append(g.written, s...)
	return len(s), nil
}

// A deleted session's snapshots still in the queue are never handed to the
// database; other sessions', a newer incarnation's and a newer
// activation's (epoch) are.
func TestSnapshotWriterCancelDropsQueuedJobs(t *testing.T) {
	g := &gatedSaver{entered: make(chan struct{}, 1), release: make(chan struct{})}
	w := newSnapshotWriter(g, nil, slog.New(slog.DiscardHandler))
	w.tryEnqueue(snapshotJob{snap: persistence.Snapshot{Owner: "a", ID: "first"}})
	<-g.entered // the writer is busy with "first"; what follows queues
	old := make(chan error, 1)
	w.tryEnqueue(snapshotJob{snap: persistence.Snapshot{Owner: "a", ID: "s", Incarnation: "1", Epoch: 1, Data: []byte("secret")}, done: old})
	w.tryEnqueue(snapshotJob{snap: persistence.Snapshot{Owner: "b", ID: "s", Incarnation: "1", Epoch: 1}})
	w.cancel("a", "s", "1", 1)
	reactivated := make(chan error, 1)
	w.tryEnqueue(snapshotJob{snap: persistence.Snapshot{Owner: "a", ID: "s", Incarnation: "1", Epoch: 2}, done: reactivated})
	renewed := make(chan error, 1)
	w.tryEnqueue(snapshotJob{snap: persistence.Snapshot{Owner: "a", ID: "s", Incarnation: "2", Epoch: 1}, done: renewed})
	close(g.release)
	if err := <-old; !errors.Is(err, errCancelled) {
		t.Fatalf("cancelled job answered %v", err)
	}
	for _, done := range []chan error{reactivated, renewed} {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	w.close()
	var got []string
	for _, sn := range g.written {
		got = append(got, fmt.Sprintf("%s/%s#%s@%d", sn.Owner, sn.ID, sn.Incarnation, sn.Epoch))
	}
	want := []string{"a/first#@0", "b/s#1@1", "a/s#1@2", "a/s#2@1"}
	if !slices.Equal(got, want) {
		t.Fatalf("written %v, want %v", got, want)
	}
	if len(w.cancelled) != 0 {
		t.Fatalf("cancel set not emptied after the queue drained: %v", w.cancelled)
	}
}

// With nothing queued, cancel records nothing (the set stays bounded).
func TestSnapshotWriterCancelIdleRecordsNothing(t *testing.T) {
	w := newSnapshotWriter(&countingSaver{}, nil, slog.New(slog.DiscardHandler))
	defer w.close()
	for i := range 1000 {
		w.cancel("a", strconv.Itoa(i), "x", 1)
	}
	w.cancelMu.Lock()
	defer w.cancelMu.Unlock()
	if len(w.cancelled) != 0 {
		t.Fatalf("idle cancel kept %d entries", len(w.cancelled))
	}
}

// The writer writes everything queued before close returns, and a job
// enqueued after close is refused instead of panicking.
func TestSnapshotWriterDrainsAndRefusesAfterClose(t *testing.T) {
	saver := &countingSaver{}
	w := newSnapshotWriter(saver, nil, slog.New(slog.DiscardHandler))
	done := make(chan error, 1)
	for i := 0; i < 500; i++ {
		w.tryEnqueue(snapshotJob{snap: persistence.Snapshot{ID: "s"}})
	}
	w.tryEnqueue(snapshotJob{snap: persistence.Snapshot{ID: "last"}, done: done})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	w.close()
	if saver.snaps != 501 {
		t.Fatalf("wrote %d snapshots in %d batches", saver.snaps, saver.batches)
	}
	if w.tryEnqueue(snapshotJob{snap: persistence.Snapshot{ID: "late"}}) {
		t.Fatal("a job after close was accepted")
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

// sizeSaver records the data size of each transaction; the first one waits
// for release, so that what is queued meanwhile forms one batch.
type sizeSaver struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	sizes   []int
}

func (s *sizeSaver) SaveSnapshots(_ context.Context, snaps []persistence.Snapshot) (int, error) {
	s.once.Do(func() { close(s.entered); <-s.release })
	time.Sleep(time.Millisecond)
	size := 0
	for _, sn := range snaps {
		size += len(sn.Data)
	}
	s.mu.Lock()
	s.sizes = append(s.sizes, size)
	s.mu.Unlock()
	return len(snaps), nil
}

// A batch of checkpoints is written in transactions of at most
// checkpointBytes (a larger checkpoint alone), each followed by a pause as
// long as the transaction took.
func TestSnapshotWriterPacesCheckpoints(t *testing.T) {
	saver := &sizeSaver{entered: make(chan struct{}), release: make(chan struct{})}
	w := newSnapshotWriter(saver, nil, slog.New(slog.DiscardHandler))
	var pauses []time.Duration
	w.pause = func(d time.Duration) { pauses = append(pauses, d) } // only the writer's goroutine calls it
	done := make(chan error, 1)
	w.tryEnqueue(snapshotJob{snap: persistence.Snapshot{ID: "first", Data: make([]byte, 10)}})
	<-saver.entered
	sizes := []int{50 << 10, 50 << 10, 50 << 10, 200 << 10, 10 << 10, 100 << 10, 20 << 10}
	for i, n := range sizes {
		j := snapshotJob{snap: persistence.Snapshot{ID: strconv.Itoa(i), Data: make([]byte, n)}}
		if i == len(sizes)-1 {
			j.done = done
		}
		w.tryEnqueue(j)
	}
	close(saver.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	w.close()
	want := []int{10, 100 << 10, 50 << 10, 200 << 10, 110 << 10, 20 << 10}
	if !slices.Equal(saver.sizes, want) {
		t.Fatalf("transactions of %v bytes, want %v", saver.sizes, want)
	}
	if len(pauses) != len(want) {
		t.Fatalf("%d pauses after %d transactions", len(pauses), len(want))
	}
	for _, p := range pauses {
		if p < time.Millisecond {
			t.Fatalf("paused %s after a transaction of at least 1 ms", p)
		}
	}
}

// hungSaver is a database that does not answer: each batch waits until its
// context ends.
type hungSaver struct{ calls atomic.Int32 }

func (h *hungSaver) SaveSnapshots(ctx context.Context, _ []persistence.Snapshot) (int, error) {
	h.calls.Add(1)
	<-ctx.Done()
	return 0, ctx.Err()
}

// With the database hung, shutdown's deadline bounds the writer's close:
// the checkpoints still queued are answered without being written and the
// write in progress is cancelled, instead of each chunk taking its full
// timeout and an equal pause (against a frozen PostgreSQL, the store's 3 s
// bound and 3 s of pause per chunk of ~19 checkpoints: 117 sessions took
// 42 s to stop with SEMVEC_SHUTDOWN_TIMEOUT=5s). The dropped sessions are
// named in the log.
func TestSnapshotWriterCloseWithinHungDatabase(t *testing.T) {
	h := &hungSaver{}
	var logged strings.Builder
	var mu sync.Mutex
	w := newSnapshotWriter(h, nil, slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, nil)))
	var dones []chan error
	for i := range 5 {
		done := make(chan error, 1)
		dones = append(dones, done)
		// 100 KiB each: one chunk per checkpoint (checkpointBytes).
		w.tryEnqueue(snapshotJob{snap: persistence.Snapshot{Owner: "acme", ID: "s" + strconv.Itoa(i), Data: make([]byte, 100<<10)}, done: done})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	closed := make(chan struct{})
	start := time.Now()
	go func() { defer close(closed); w.closeWithin(ctx) }()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatalf("closeWithin still waiting %s after a 100ms deadline (hung database)", time.Since(start))
	}
	for i, done := range dones {
		if err := <-done; err == nil {
			t.Fatalf("checkpoint %d answered as written", i)
		}
	}
	if n := h.calls.Load(); n > 1 {
		t.Fatalf("%d batches handed to the hung database after the deadline", n)
	}
	mu.Lock()
	out := logged.String()
	mu.Unlock()
	for _, id := range []string{"acme/s1", "acme/s4"} {
		if !strings.Contains(out, id) {
			t.Fatalf("log does not name dropped session %s:\n%s", id, out)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
