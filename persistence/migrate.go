package persistence

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun/driver/sqliteshim"
	"github.com/uptrace/bun/migrate"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence/migrations"
)

// migrate applies pending migrations. It is safe to run from several
// processes at once:
//
//  1. Init creates bun_migrations (and bun/migrate's lock table, unused);
//     concurrent CREATE TABLE IF NOT EXISTS can collide on PostgreSQL, so it
//     is retried.
//  2. When nothing is pending (every start after the first) it returns
//     without taking the lock.
//  3. Otherwise it takes the migration lock (lockMigrations), waiting while
//     another process holds it, then migrates (which re-reads what is
//     applied) and releases it.
//
// The lock dies with the process that holds it: a PostgreSQL advisory lock
// of the session, or SQLite's lock on a file beside the database. bun/migrate's
// own lock is a row that a crash during a migration left behind, and every
// later start then waited for it and failed until someone deleted it.
//
// Each migration is marked applied only after it succeeded.
func (s *Store) migrate(ctx context.Context, lockDSN string) error {
	m := migrate.NewMigrator(s.db, migrations.Migrations, migrate.WithMarkAppliedOnSuccess(true))

	if err := retryBusy(ctx, func() error { return m.Init(ctx) }); err != nil {
		return fmt.Errorf("migrate init: %w", err)
	}
	pending, err := pendingMigrations(ctx, m)
	if err != nil || !pending {
		return err
	}

	release, err := s.lockMigrations(ctx, lockDSN)
	if err != nil {
		return err
	}
	defer release()
	// Each migration is idempotent and recorded only once it succeeded, so
	// a transient lock conflict can be retried from the top.
	if err := retryBusy(ctx, func() error { _, err := m.Migrate(ctx); return err }); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

func pendingMigrations(ctx context.Context, m *migrate.Migrator) (bool, error) {
	var ms migrate.MigrationSlice
	err := retryBusy(ctx, func() (err error) {
		ms, err = m.MigrationsWithStatus(ctx)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("migration status: %w", err)
	}
	return len(ms.Unapplied()) > 0, nil
}

// errMigrationsLocked is what a start that waited for another process's
// migrations until its deadline reports.
const errMigrationsLocked = "database migrations are being applied by another process, which holds the migration lock; retry once it is done (the lock is released when that process ends)"

// lockMigrations takes the migration lock, waiting while another process
// holds it, and returns its release. On PostgreSQL it is a session
// advisory lock (per schema) on a connection of its own; the server
// releases it when the connection ends, crash included. On an SQLite file
// it is a write transaction on lockDSN, a small database beside the file
// (<file>.migrate-lock), whose lock the operating system releases with the
// process. A private in-memory database needs none (lockDSN is empty).
func (s *Store) lockMigrations(ctx context.Context, lockDSN string) (release func(), err error) {
	if s.dialect == DialectPostgres {
		conn, err := s.db.DB.Conn(ctx)
		if err != nil {
			return nil, err
		}
		const key = "hashtext(current_schema() || '.semvec_migrations')"
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock("+key+")"); err != nil {
			_ = conn.Close()
			if ctx.Err() != nil {
				return nil, semvec.Wrap(semvec.KindUnavailable, err, errMigrationsLocked)
			}
			return nil, fmt.Errorf("migration lock: %w", err)
		}
		return func() {
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opTimeout)
			defer cancel()
			if _, err := conn.ExecContext(uctx, "SELECT pg_advisory_unlock("+key+")"); err != nil {
				// Closed instead of returned to the pool, still holding the
				// lock: the server releases it with the connection.
				_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			}
			_ = conn.Close()
		}, nil
	}
	if lockDSN == "" {
		return func() {}, nil
	}
	db, err := sql.Open(sqliteshim.ShimName, lockDSN)
	if err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	db.SetMaxOpenConns(1)
	wait := 20 * time.Millisecond
	for {
		tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the file's write lock
		if err == nil {
			return func() { _ = tx.Rollback(); _ = db.Close() }, nil
		}
		if !isBusy(err) && ctx.Err() == nil {
			_ = db.Close()
			return nil, fmt.Errorf("migration lock: %w", err)
		}
		select {
		case <-ctx.Done():
			_ = db.Close()
			return nil, semvec.Wrap(semvec.KindUnavailable, err, errMigrationsLocked)
		case <-time.After(wait):
			wait = min(2*wait, 500*time.Millisecond)
		}
	}
}

// migrationLockDSN is the DSN of the lock file beside the SQLite database
// whose DSN is fileDSN ("file:<path>?…").
func migrationLockDSN(fileDSN string) string {
	name, _, _ := strings.Cut(fileDSN, "?")
	return name + ".migrate-lock?_txlock=immediate&_pragma=busy_timeout(100)"
}

// retryBusy runs fn until it succeeds, fails with an error that is not a
// transient lock conflict, or ctx is done.
func retryBusy(ctx context.Context, fn func() error) error {
	wait := 10 * time.Millisecond
	for {
		err := fn()
		if err == nil || !isBusy(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 250*time.Millisecond)
	}
}
