package actors

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
)

// RegionEventAppender writes the drift events of many regions in one
// transaction; see persistence.Store.AppendRegionEventBatches.
type RegionEventAppender interface {
	AppendRegionEventBatches(ctx context.Context, batches []persistence.RegionEvents, keep int) (refused []error, err error)
}

// regionLog is the group commit of the regions' drift event logs, as
// changeLog is the sessions': a region's write (regionActor.writeUnsaved,
// on its work goroutine) hands its events to the log and waits for their
// outcome, and every write queued while a commit runs shares the next
// transaction. One drifting turn of a session in 8 clusters attached to
// the same 8 regions (the caps, persistence.DefaultMaxParents) gives each
// region 8 events; the regions' writes
// then take a few transactions between them instead of one each, and each
// row is an execution of one prepared statement (docs/layers.md, "Cost of
// a drift").
type regionLog struct {
	store RegionEventAppender
	queue batches[regionLogJob]
	pause func(time.Duration) // time.Sleep; a test's to count the pauses
}

type regionLogJob struct {
	batch persistence.RegionEvents
	due   time.Time  // its writer's deadline: it is not written past it
	done  chan error // buffered: the log never waits for its writer
}

const (
	// regionLogQueue bounds the writes waiting for a commit. A region has
	// at most one write in flight, so this is only reached with thousands
	// of regions writing at once; one more is refused and retried
	// (eventRetryDelay), as a failed write is.
	regionLogQueue = 4096
	// regionLogJobs bounds the regions' writes taken into one commit.
	regionLogJobs = 256
	// regionLogRows bounds the events of one transaction (a write of more,
	// a region's backlog after an outage, has one of its own): SQLite runs
	// on one connection, so every other statement, the sessions' commits
	// included, waits for the transaction in progress; 256 rows take a few
	// milliseconds.
	regionLogRows = 256
	// regionLogTimeout bounds a commit whose writers set no deadline.
	regionLogTimeout = 5 * time.Second
)

func newRegionLog(store RegionEventAppender) *regionLog {
	l := &regionLog{store: store, pause: time.Sleep}
	l.queue.start(regionLogQueue, regionLogJobs, l.commit)
	return l
}

var errRegionLogBusy = semvec.Errorf(semvec.KindUnavailable, "the region event log is full; retried")

// write writes b with the other writes queued meanwhile and returns its
// outcome, or ctx's error when ctx ends first (the outcome is then
// unknown: the region writes the same events again, which the store
// takes as a write whose answer was lost). Once the log is closed (the
// layers shut down) it writes b alone.
func (l *regionLog) write(ctx context.Context, b persistence.RegionEvents) error {
	due, ok := ctx.Deadline()
	if !ok {
		due = time.Now().Add(regionLogTimeout)
	}
	b.Items = slices.Clone(b.Items) // the region trims its own slice in place while a job it gave up on may still be read
	j := regionLogJob{batch: b, due: due, done: make(chan error, 1)}
	if !l.queue.put(j) {
		l.queue.mu.RLock()
		closed := l.queue.closed
		l.queue.mu.RUnlock()
		if !closed {
			return errRegionLogBusy
		}
		return appendAlone(ctx, l.store, b)
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		return semvec.Wrap(semvec.KindUnavailable, ctx.Err(), "the region's events were not written in time")
	}
}

// appendAlone writes one region's events in a transaction of their own and
// returns the outcome (the store's error, or its refusal of the batch).
func appendAlone(ctx context.Context, store RegionEventAppender, b persistence.RegionEvents) error {
	refused, err := store.AppendRegionEventBatches(ctx, []persistence.RegionEvents{b}, maxRegionEvents)
	if err != nil {
		return err
	}
	return refused[0]
}

// closeWithin stops the log after it has written (or failed) every write
// queued, or returns when ctx ends first (shutdown's deadline: the writes
// still queued then end at their writers' deadlines, which nobody waits
// for).
func (l *regionLog) closeWithin(ctx context.Context) {
	done := make(chan struct{})
	go func() { l.queue.close(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// errRegionWriteLate refuses a write whose writer's deadline passed while
// it waited behind earlier commits.
var errRegionWriteLate = semvec.Errorf(semvec.KindUnavailable, "database unavailable: the region's events waited too long for their commit")

// commit writes jobs in transactions of at most regionLogRows events (at
// least one write each), and tells each writer its outcome. After each
// transaction it pauses as long as the transaction took, as the
// checkpoints do (snapshotWriter): drift events use at most half of the
// database's time, however many arrive, and the rest is left to the
// sessions' commits. Events arriving faster wait in their regions, whose
// next write takes them all (a region's backlog is bounded like its log:
// the newest maxRegionEvents).
func (l *regionLog) commit(jobs []regionLogJob) {
	live := jobs
	for len(live) > 0 {
		live = l.refuseLate(live) // before each transaction: a drain can outlast a deadline
		if len(live) == 0 {
			return
		}
		n, rows := 0, 0
		for n < len(live) && (n == 0 || rows+len(live[n].batch.Items) <= regionLogRows) {
			rows += len(live[n].batch.Items)
			n++
		}
		start := time.Now()
		l.commitOne(live[:n])
		live = live[n:]
		l.pause(time.Since(start))
	}
}

// refuseLate answers errRegionWriteLate to the jobs whose writers' deadline
// has passed and returns the others.
func (l *regionLog) refuseLate(jobs []regionLogJob) []regionLogJob {
	now := time.Now()
	live := jobs[:0:0]
	for _, j := range jobs {
		if !j.due.After(now) {
			j.done <- errRegionWriteLate
			continue
		}
		live = append(live, j)
	}
	return live
}

// commitOne writes jobs in one transaction, bounded by regionLogTimeout,
// not by the earliest of their writers' deadlines: one writer about to give
// up must not cancel every other region's events (a writer that gave up
// counts the outcome unknown and sends its events again, which the log
// takes once).
func (l *regionLog) commitOne(jobs []regionLogJob) {
	batches := make([]persistence.RegionEvents, len(jobs))
	for i, j := range jobs {
		batches[i] = j.batch
	}
	ctx, cancel := context.WithTimeout(context.Background(), regionLogTimeout)
	refused, err := l.store.AppendRegionEventBatches(ctx, batches, maxRegionEvents)
	cancel()
	if err != nil && !errors.As(err, new(*semvec.Error)) {
		err = semvec.Wrap(semvec.KindUnavailable, err, "database unavailable")
	}
	for i, j := range jobs {
		if err != nil {
			j.done <- err
		} else {
			j.done <- refused[i]
		}
	}
}
