package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// SnapshotBatchSaver writes many snapshots in one transaction; a snapshot
// whose session row does not exist with its incarnation is dropped.
type SnapshotBatchSaver interface {
	SaveSnapshots(ctx context.Context, snaps []persistence.Snapshot) (int, error)
}

// snapshotWriter is the single path by which session checkpoints reach the
// database. Sessions hand it encoded snapshots and go on serving; it writes
// them in batches (one transaction each), in arrival order. A checkpoint is
// an optimisation that bounds replay, never what makes a change durable (the
// log is), so a full queue drops it and nobody ever waits for one. A save is
// acknowledged to the session with a SnapshotSaved message (ack), or on a
// channel (done) for callers outside the actor system.
//
// Checkpoints are paced so that they never hold up the log (on SQLite both
// share one connection): a transaction writes at most checkpointBytes of
// them (at least one), and after each the writer pauses as long as the
// transaction took. A log commit waits behind at most one short
// transaction, and checkpoints use at most half of the database's time, so
// a wave of them (every session of a load reaching its 64th entry at once)
// is spread out instead of stalling every request.
//
// A deleted session's queued snapshots are cancelled (cancel); one already
// in a batch being written is dropped by the database, because it carries
// the incarnation of a session row that no longer exists.
type snapshotWriter struct {
	pause func(time.Duration) // a sleep that shutdown's deadline cuts short; a test's to count the pauses
	store SnapshotBatchSaver
	root  *actor.RootContext
	log   *slog.Logger
	queue batches[snapshotJob]

	cancelMu  sync.Mutex
	cancelled map[snapshotKey]struct{} // emptied whenever the queue drains

	// Shutdown's deadline (closeWithin): once it has passed, what is still
	// queued is answered without being written and the write in progress
	// is cancelled, so that a database that hangs cannot hold the process
	// past SEMVEC_SHUTDOWN_TIMEOUT (a checkpoint only shortens a replay:
	// the log holds every change).
	stop       context.Context
	stopWrites context.CancelFunc
	abandoned  atomic.Bool
	dropped    []string // owner/id of the checkpoints dropped so; the writer's goroutine only
}

type snapshotKey struct {
	owner, id, incarnation string
	epoch                  int64
}

type snapshotJob struct {
	snap    persistence.Snapshot
	version int64
	ack     *actor.PID // sent SnapshotSaved when set
	done    chan error // closed/sent when set
}

const (
	snapshotBatch = 256
	// snapshotTimeout bounds one batch of checkpoint writes; each write is
	// also bounded by the store's operation timeout.
	snapshotTimeout = 10 * time.Second
	// checkpointBytes bounds the checkpoint data of one transaction: a
	// 100-turn session's checkpoint is about 44 KB at 384-d.
	checkpointBytes = 128 << 10
)

func newSnapshotWriter(store SnapshotBatchSaver, root *actor.RootContext, log *slog.Logger) *snapshotWriter {
	w := &snapshotWriter{store: store, root: root, log: log, cancelled: map[snapshotKey]struct{}{}}
	w.stop, w.stopWrites = context.WithCancel(context.Background())
	w.pause = func(d time.Duration) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-w.stop.Done():
		}
	}
	w.queue.start(4096, snapshotBatch, func(batch []snapshotJob) {
		batch = w.live(batch)
		for len(batch) > 0 {
			if w.abandoned.Load() {
				w.drop(batch)
				return
			}
			n := chunkBytes(batch, checkpointBytes)
			start := time.Now()
			w.write(batch[:n])
			batch = batch[n:]
			w.pause(time.Since(start))
		}
	})
	return w
}

var errShutdownDeadline = errors.New("snapshot not written: the shutdown deadline passed")

// drop answers batch without writing it (shutdown's deadline has passed).
func (w *snapshotWriter) drop(batch []snapshotJob) {
	for _, j := range batch {
		w.dropped = append(w.dropped, j.snap.Owner+"/"+j.snap.ID)
		w.answer(j, errShutdownDeadline)
	}
}

// closeWithin is close bounded by ctx: when ctx ends first, the checkpoints
// still queued are dropped (logged with their sessions) and the write in
// progress is cancelled, so it returns promptly however the database
// behaves.
func (w *snapshotWriter) closeWithin(ctx context.Context) {
	done := make(chan struct{})
	go func() { defer close(done); w.close() }()
	select {
	case <-done:
	case <-ctx.Done():
		w.abandoned.Store(true)
		w.stopWrites()
		<-done
	}
	if n := len(w.dropped); n > 0 {
		w.log.Error("session checkpoints not written before the shutdown deadline; their changes are in the log and replay on next activation",
			"count", n, "sessions", sessionList(w.dropped))
	}
}

// sessionList names at most 50 sessions, for a log line.
func sessionList(keys []string) string {
	const most = 50
	if len(keys) <= most {
		return strings.Join(keys, ",")
	}
	return strings.Join(keys[:most], ",") + fmt.Sprintf(",… (%d more)", len(keys)-most)
}

// chunkBytes is how many of batch's first snapshots fit in max bytes of
// data: at least one.
func chunkBytes(batch []snapshotJob, max int) int {
	n, size := 1, len(batch[0].snap.Data)
	for n < len(batch) && size+len(batch[n].snap.Data) <= max {
		size += len(batch[n].snap.Data)
		n++
	}
	return n
}

// tryEnqueue queues j unless the queue is full or the writer closed; it
// never blocks (a session's Receive calls it).
func (w *snapshotWriter) tryEnqueue(j snapshotJob) bool { return w.queue.put(j) }

var errCancelled = errors.New("snapshot cancelled: the session was deleted")

// cancel drops the queued snapshots of one activation (incarnation and
// epoch) of a session. With
// nothing queued there is nothing to cancel, so the set only holds entries
// while the queue is non-empty and stays bounded by it.
func (w *snapshotWriter) cancel(owner, id, incarnation string, epoch int64) {
	w.cancelMu.Lock()
	defer w.cancelMu.Unlock()
	if w.queue.queued() > 0 {
		w.cancelled[snapshotKey{owner, id, incarnation, epoch}] = struct{}{}
	}
}

// live returns the jobs of batch that were not cancelled, and answers the
// cancelled ones. Once the queue has drained, every job queued before a
// cancel has been seen, so the set is emptied.
func (w *snapshotWriter) live(batch []snapshotJob) []snapshotJob {
	w.cancelMu.Lock()
	defer w.cancelMu.Unlock()
	if len(w.cancelled) == 0 {
		return batch
	}
	out := batch[:0]
	for _, j := range batch {
		if _, gone := w.cancelled[snapshotKey{j.snap.Owner, j.snap.ID, j.snap.Incarnation, j.snap.Epoch}]; gone {
			w.answer(j, errCancelled)
			continue
		}
		out = append(out, j)
	}
	if w.queue.queued() == 0 {
		clear(w.cancelled)
	}
	return out
}

func (w *snapshotWriter) answer(j snapshotJob, err error) {
	if j.ack != nil {
		w.root.Send(j.ack, &pb.SnapshotSaved{Version: j.version, Ok: err == nil})
	}
	if j.done != nil {
		j.done <- err
	}
}

// close stops the writer after it has written everything queued.
func (w *snapshotWriter) close() { w.queue.close() }
func (w *snapshotWriter) write(batch []snapshotJob) {
	snaps := make([]persistence.Snapshot, len(batch))
	for i, j := range batch {
		snaps[i] = j.snap
	}
	ctx, cancel := context.WithTimeout(w.stop, snapshotTimeout)
	_, err := w.store.SaveSnapshots(ctx, snaps)
	cancel()
	if err != nil {
		keys := make([]string, len(batch))
		for i, j := range batch {
			keys[i] = j.snap.Owner + "/" + j.snap.ID
		}
		w.log.Error("session snapshots not saved", "count", len(batch), "sessions", sessionList(keys), "err", err)
	}
	for _, j := range batch {
		w.answer(j, err)
	}
}
