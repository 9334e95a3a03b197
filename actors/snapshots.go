package actors

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// SnapshotBatchSaver writes many snapshots in one transaction.
type SnapshotBatchSaver interface {
	SaveSnapshots(ctx context.Context, snaps []persistence.Snapshot) error
}

// snapshotWriter is the single path by which session snapshots reach the
// database. Sessions hand it encoded snapshots and go on serving; it writes
// them in batches (one transaction each), in arrival order, so a later
// snapshot of a session never lands before an earlier one. Periodic flushes
// are acknowledged to the session with a SnapshotSaved message; a
// passivating session waits for its own write (done) so that nobody can
// re-activate it from an older snapshot.
type snapshotWriter struct {
	store SnapshotBatchSaver
	root  *actor.RootContext
	log   *slog.Logger
	jobs  chan snapshotJob
	wg    sync.WaitGroup

	mu     sync.RWMutex // guards closed against enqueue racing close
	closed bool
}

type snapshotJob struct {
	snap    persistence.Snapshot
	version int64
	ack     *actor.PID // sent SnapshotSaved when set
	done    chan error // closed/sent when set
}

const (
	snapshotBatch   = 256
	snapshotTimeout = 10 * time.Second
)

func newSnapshotWriter(store SnapshotBatchSaver, root *actor.RootContext, log *slog.Logger) *snapshotWriter {
	w := &snapshotWriter{store: store, root: root, log: log, jobs: make(chan snapshotJob, 4096)}
	w.wg.Add(1)
	go w.loop()
	return w
}

// enqueue hands a snapshot to the writer. It blocks only when the queue is
// full (the database is far behind), which is the back-pressure we want.
// After close, the job fails at once (a session that outlived Shutdown).
func (w *snapshotWriter) enqueue(j snapshotJob) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		if j.done != nil {
			j.done <- errWriterClosed
		}
		return
	}
	w.jobs <- j
}

var errWriterClosed = errors.New("snapshot writer is closed")

// close stops the writer after it has written everything queued.
func (w *snapshotWriter) close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.jobs)
	}
	w.mu.Unlock()
	w.wg.Wait()
}

func (w *snapshotWriter) loop() {
	defer w.wg.Done()
	batch := make([]snapshotJob, 0, snapshotBatch)
	for j := range w.jobs {
		batch = append(batch[:0], j)
	drain:
		for len(batch) < snapshotBatch {
			select {
			case j, ok := <-w.jobs:
				if !ok {
					break drain
				}
				batch = append(batch, j)
			default:
				break drain
			}
		}
		w.write(batch)
	}
}

func (w *snapshotWriter) write(batch []snapshotJob) {
	snaps := make([]persistence.Snapshot, len(batch))
	for i, j := range batch {
		snaps[i] = j.snap
	}
	ctx, cancel := context.WithTimeout(context.Background(), snapshotTimeout)
	err := w.store.SaveSnapshots(ctx, snaps)
	cancel()
	if err != nil {
		w.log.Error("session snapshots not saved", "count", len(batch), "err", err)
	}
	for _, j := range batch {
		if j.ack != nil {
			w.root.Send(j.ack, &pb.SnapshotSaved{Version: j.version, Ok: err == nil})
		}
		if j.done != nil {
			j.done <- err
		}
	}
}
