package persistence

import (
	"context"
	"database/sql"
	"log/slog"
	"time"

	"github.com/uptrace/bun/driver/sqliteshim"
)

// SQLite in WAL mode copies the log back into the database file in a
// checkpoint. By default the connection whose commit pushes the WAL past
// 1,000 pages runs it inside that commit, fsync included, and every request
// waiting on the one writer connection waits for it too: on a hot session
// those commits were the slowest 1 % of requests. walCheckpointer runs
// PASSIVE checkpoints on a connection of its own instead, once a second: a
// PASSIVE checkpoint takes no lock that a writer needs, so commits go on
// meanwhile. The writer's own automatic checkpoint stays as a backstop at
// walBackstopPages (a WAL of about 40 MB), reached only if the checkpointer
// falls behind. Measured in docs/benchmarks.md ("WAL checkpoints off the
// commit path").
const (
	walCheckpointEvery = time.Second
	walBackstopPages   = 10000
)

// walFailureReport is how often a checkpointer that keeps failing says so.
const walFailureReport = time.Minute

type walCheckpointer struct {
	db   *sql.DB
	log  *slog.Logger
	stop chan struct{}
	done chan struct{}
	// Owned by run's goroutine: failures since the last report.
	failures   int
	reportedAt time.Time
}

// startWALCheckpointer opens its own connection to the SQLite file dsn and
// checkpoints every walCheckpointEvery until close.
func startWALCheckpointer(dsn string, log *slog.Logger) (*walCheckpointer, error) {
	db, err := sql.Open(sqliteshim.ShimName, dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	w := &walCheckpointer{db: db, log: log, stop: make(chan struct{}), done: make(chan struct{})}
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
			w.checkpoint()
		}
	}
}

// checkpoint runs one PASSIVE checkpoint. A failure (a closed or
// unwritable file, a full disk) is left to the next tick and, at worst, to
// the writer's backstop, and is logged: the first one at once, then at most
// once per walFailureReport with how many there were; the first success
// after failures is logged too.
func (w *walCheckpointer) checkpoint() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := w.db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
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

// close stops the checkpoints and closes the connection.
func (w *walCheckpointer) close() {
	close(w.stop)
	<-w.done
	_ = w.db.Close()
}
