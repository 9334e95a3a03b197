package persistence

import (
	"context"
	"database/sql"
	"log/slog"
	"strconv"
	"time"

	"github.com/uptrace/bun/driver/sqliteshim"
)

// SQLite in WAL mode copies the log back into the database file in a
// checkpoint. By default the connection whose commit pushes the WAL past
// 1,000 pages runs it inside that commit, fsync included, and every request
// waiting on the one writer connection waits for it too: on a hot session
// those commits were the slowest 1 % of requests. walCheckpointer runs the
// checkpoints on a connection of its own instead, once a second.
//
// A PASSIVE checkpoint takes no lock a writer needs, so commits go on
// meanwhile; but it never lets the WAL start over. The writer restarts the
// WAL from its first frame only when it begins a transaction while every
// frame has been copied, and under a steady stream of commits that moment
// never comes: new frames always arrive while a checkpoint copies the
// older ones. The WAL then grew until the writer's own checkpoint (the
// backstop) ran inside a commit, copying and fsyncing tens of megabytes
// while every request waited: commits of 40–150 ms twice a second under
// the load harness, the durable /v1/run's p99. So each run catches up with
// PASSIVE passes, each copying what arrived during the one before, until a
// pass leaves fewer than walRestartFrames behind, and then runs a RESTART
// checkpoint: it holds the write lock only while it copies that remainder
// and fsyncs, and the next commit starts the WAL over.
//
// The writer's automatic checkpoint stays as a backstop at
// walBackstopPages, reached only if the checkpointer falls behind; a WAL
// holds at most about that many pages (160 MiB). Measured in
// docs/benchmarks.md ("Fifth pass").
//
// A RESTART holds the write lock while it waits for readers of older
// snapshots: another process reading the file for long (a backup, the
// sqlite3 shell) would stop every commit for as long as the checkpointer
// waits. Its connection waits at most walRestartWait (its busy timeout)
// and gives up; the WAL then starts over at a later run.
const (
	walCheckpointEvery = time.Second
	walRestartWait     = 100 * time.Millisecond
	walPasses          = 6   // PASSIVE passes per run, at most
	walRestartFrames   = 512 // a pass that saw fewer frames arrive ends the catching up
	walBackstopPages   = 40000
)

// walFailureReport is how often a checkpointer that keeps failing says so.
const walFailureReport = time.Minute

type walCheckpointer struct {
	db   *sql.DB
	log  *slog.Logger
	lost func() bool // the database file was removed or replaced (fileGuard): nothing to checkpoint
	stop chan struct{}
	done chan struct{}
	// Owned by run's goroutine: failures since the last report.
	failures   int
	reportedAt time.Time
}

// startWALCheckpointer opens its own connection to the SQLite file dsn and
// checkpoints every walCheckpointEvery until close.
func startWALCheckpointer(dsn string, log *slog.Logger, lost func() bool) (*walCheckpointer, error) {
	db, err := sql.Open(sqliteshim.ShimName, dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	w := &walCheckpointer{db: db, log: log, lost: lost, stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w, nil
}

func (w *walCheckpointer) run() {
	defer close(w.done)
	t := time.NewTicker(walCheckpointEvery)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			if w.lost == nil || !w.lost() {
				w.checkpoint()
			}
		}
	}
}

// checkpoint runs one round of walCheckpoint. A failure (a closed or
// unwritable file, a full disk) is left to the next tick and, at worst, to
// the writer's backstop, and is logged: the first one at once, then at most
// once per walFailureReport with how many there were; the first success
// after failures is logged too.
func (w *walCheckpointer) checkpoint() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := walCheckpoint(ctx, w.db)
	now := time.Now()
	switch {
	case err != nil:
		w.failures++
		if w.failures == 1 || now.Sub(w.reportedAt) >= walFailureReport {
			w.log.Error("SQLite WAL checkpoint failed; the writer checkpoints by itself past its backstop",
				"err", err, "failures", w.failures, "backstop_pages", walBackstopPages)
			w.reportedAt = now
		}
	case w.failures > 0:
		w.log.Info("SQLite WAL checkpoints work again", "failures", w.failures)
		w.failures = 0
	}
}

// walCheckpoint copies the WAL into the database file with PASSIVE passes
// until one leaves little behind, then makes the next commit start the WAL
// over with a RESTART checkpoint, waiting at most walRestartWait for the
// locks it needs (see above). An empty WAL needs neither. The RESTART copies
// what the last pass left while it holds the write lock, so it is skipped
// when a reader pinning the WAL kept that pass from copying much (should
// the reader end during the RESTART's wait, the RESTART would copy the whole
// backlog with every commit waiting); the next run tries again. Passes that
// never catch up with the writer still end in a RESTART: it copies one
// pass's worth, less than the backstop would copy inside a commit.
func walCheckpoint(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	prev, frames, copied := -1, 0, 0
	for range walPasses {
		var busy int
		if err := conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
			return err
		}
		if frames <= 0 {
			return nil
		}
		if prev >= 0 && frames-prev < walRestartFrames {
			break
		}
		prev = frames
	}
	if frames-copied >= walRestartFrames {
		return nil
	}
	// PASSIVE never waits; RESTART waits through the busy handler.
	if _, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = "+strconv.Itoa(int(walRestartWait.Milliseconds()))); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "PRAGMA wal_checkpoint(RESTART)")
	return err
}

// close stops the checkpoints and closes the connection.
func (w *walCheckpointer) close() {
	close(w.stop)
	<-w.done
	_ = w.db.Close()
}
