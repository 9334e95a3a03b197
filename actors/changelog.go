package actors

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// LogAppender appends log entries of many sessions in one transaction; see
// persistence.Store.AppendLog.
type LogAppender interface {
	AppendLog(ctx context.Context, entries []persistence.LogEntry) (refused []error, err error)
}

// changeLog is the group commit of the sessions' durable logs. A session
// hands it the encoded change of a request and goes on receiving (it stashes
// what arrives meanwhile); the log writes every entry queued at that moment
// in one transaction and tells each session, with a ChangeCommitted
// message, whether its entry is on disk. Only then does the session apply
// the change and answer: a 2xx means the change is committed.
type changeLog struct {
	store   LogAppender
	root    *actor.RootContext
	log     *slog.Logger
	timeout time.Duration
	queue   batches[logJob]

	// failed holds, per session incarnation, the first entry of an
	// activation (epoch) that was not committed; later entries of that
	// activation already queued are refused, so a log never has a gap. The
	// session numbers its next change from its last commit, which clears
	// the mark, and so does any entry of another activation (it numbers
	// from what it loaded). Only the loop goroutine touches it; it holds at
	// most the sessions that failed a commit and have not written since.
	failed map[logKey]failedAt
}

type logKey struct{ owner, id, incarnation string }

type failedAt struct{ epoch, seq int64 }

type logJob struct {
	entry  persistence.LogEntry
	ack    *actor.PID // sent ChangeCommitted
	queued time.Time  // when it was handed to the log (tryEnqueue)
}

const (
	// logBatch bounds the entries of one transaction.
	logBatch = 512
	// logQueue bounds the entries waiting for a commit; beyond it a change
	// is refused with 503 (the database is far behind).
	logQueue = 8192
	// logCommitTimeout bounds how long a change waits for its commit,
	// from the moment it is handed to the log: queued behind a commit
	// that hangs, it is answered 503 when its time is up, not given a
	// commit of its own that would carry its answer past the asker's
	// timeout (a 504, whose outcome the client cannot know).
	logCommitTimeout = 3 * time.Second
	// minCommitWindow is the least time a commit is given: an entry with
	// less left is refused without being written.
	minCommitWindow = 100 * time.Millisecond
)

func newChangeLog(store LogAppender, root *actor.RootContext, log *slog.Logger) *changeLog {
	l := &changeLog{store: store, root: root, log: log, timeout: logCommitTimeout, failed: map[logKey]failedAt{}}
	l.queue.start(logQueue, logBatch, l.commit)
	return l
}

var errLogBusy = semvec.Errorf(semvec.KindUnavailable, "the change log is full; retry shortly")

// tryEnqueue queues j without ever blocking: a full queue or a closed log
// is an error for the caller to answer with.
func (l *changeLog) tryEnqueue(j logJob) error {
	j.queued = time.Now()
	if l.queue.put(j) {
		return nil
	}
	l.queue.mu.RLock()
	closed := l.queue.closed
	l.queue.mu.RUnlock()
	if closed {
		return semvec.Errorf(semvec.KindUnavailable, "the server is shutting down")
	}
	return errLogBusy
}

// close stops the log after it has committed (or failed) everything queued.
func (l *changeLog) close() { l.queue.close() }

// errEarlierFailed refuses an entry whose predecessor was not committed:
// a session's log never has a gap.
var errEarlierFailed = semvec.Errorf(semvec.KindUnavailable, "an earlier change of this session was not committed; retry")

// errCommitLate refuses an entry whose time to be committed ran out while
// it waited behind earlier commits (the database is slow or hangs).
var errCommitLate = semvec.Errorf(semvec.KindUnavailable, "database unavailable: the change waited too long for its commit; retry")

func (l *changeLog) commit(batch []logJob) {
	outcome := make([]error, len(batch))
	entries := make([]persistence.LogEntry, 0, len(batch))
	written := make([]int, 0, len(batch)) // batch index of each entry
	now := time.Now()
	var deadline time.Time // the earliest of the entries written
	for i, j := range batch {
		k := logKey{j.entry.Owner, j.entry.SessionID, j.entry.Incarnation}
		if failed, ok := l.failed[k]; ok {
			if j.entry.Epoch == failed.epoch && j.entry.Seq > failed.seq {
				outcome[i] = errEarlierFailed
				continue
			}
			delete(l.failed, k) // the session numbers from its last commit again
		}
		due := j.queued.Add(l.timeout)
		if j.queued.IsZero() {
			due = now.Add(l.timeout)
		}
		if due.Sub(now) < minCommitWindow {
			outcome[i] = errCommitLate
			l.failed[k] = failedAt{j.entry.Epoch, j.entry.Seq} // its session's later entries must not land
			continue
		}
		if deadline.IsZero() || due.Before(deadline) {
			deadline = due
		}
		entries = append(entries, j.entry)
		written = append(written, i)
	}
	// What is refused without being written is answered now, not after
	// the commit of the others.
	for i, j := range batch {
		if outcome[i] != nil {
			l.answer(j, outcome[i])
		}
	}
	if len(entries) > 0 {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		refused, err := l.store.AppendLog(ctx, entries)
		cancel()
		if err != nil {
			l.log.Warn("session changes not committed", "count", len(entries), "err", err)
			if !errors.As(err, new(*semvec.Error)) {
				err = semvec.Wrap(semvec.KindUnavailable, err, "database unavailable")
			}
		}
		for n, i := range written {
			if err != nil {
				l.answer(batch[i], err)
			} else {
				l.answer(batch[i], refused[n])
			}
		}
	}
}

// answer tells j's session whether its entry is committed (e nil) and, for
// an entry not committed, marks its activation failed (see failed).
func (l *changeLog) answer(j logJob, e error) {
	msg := &pb.ChangeCommitted{Seq: j.entry.Seq}
	if e != nil {
		// A superseded activation, one whose log is ahead of its state,
		// and one whose session was deleted stop. A superseded one or a
		// deleted session never writes again (the database refuses it
		// anyway): no mark, which would never be cleared. One behind its
		// log is marked: its entries queued behind this one must not land
		// while it stops (the next activation, with a new epoch, clears
		// it).
		superseded := errors.Is(e, persistence.ErrSuperseded)
		deleted := semvec.KindOf(e) == semvec.KindNotFound
		msg.Error = ToProtoError(e)
		msg.Superseded = superseded || deleted || errors.Is(e, persistence.ErrBehindLog)
		k := logKey{j.entry.Owner, j.entry.SessionID, j.entry.Incarnation}
		final := superseded || deleted
		if failed, ok := l.failed[k]; !final && (!ok || failed.epoch != j.entry.Epoch || j.entry.Seq < failed.seq) {
			l.failed[k] = failedAt{j.entry.Epoch, j.entry.Seq}
		}
	}
	l.root.Send(j.ack, msg)
}
