package persistence

import (
	"context"
	"database/sql"
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

type walCheckpointer struct {
	db   *sql.DB
	stop chan struct{}
	done chan struct{}
}

// startWALCheckpointer opens its own connection to the SQLite file dsn and
// checkpoints every walCheckpointEvery until close.
func startWALCheckpointer(dsn string) (*walCheckpointer, error) {
	db, err := sql.Open(sqliteshim.ShimName, dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	w := &walCheckpointer{db: db, stop: make(chan struct{}), done: make(chan struct{})}
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

// checkpoint runs one PASSIVE checkpoint. Errors (a busy database, a
// closed file) are left to the next tick and, at worst, to the writer's
// backstop.
func (w *walCheckpointer) checkpoint() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = w.db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
}

// close stops the checkpoints and closes the connection.
func (w *walCheckpointer) close() {
	close(w.stop)
	<-w.done
	_ = w.db.Close()
}
