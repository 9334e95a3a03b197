package persistence

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun/migrate"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence/migrations"
)

// migrate applies pending migrations. It is safe to run from several
// processes at once:
//
//  1. Init creates bun_migrations and bun_migration_locks; concurrent
//     CREATE TABLE IF NOT EXISTS can collide on PostgreSQL, so it is retried.
//  2. When nothing is pending (every start after the first) it returns
//     without taking the lock, so a lock row left by a crashed process does
//     not block ordinary starts.
//  3. Otherwise it takes bun/migrate's lock (a unique row in
//     bun_migration_locks), retrying while another process holds it, then
//     migrates (which re-reads what is applied) and unlocks.
//
// Each migration is marked applied only after it succeeded.
func (s *Store) migrate(ctx context.Context) error {
	m := migrate.NewMigrator(s.db, migrations.Migrations, migrate.WithMarkAppliedOnSuccess(true))

	if err := retryBusy(ctx, func() error { return m.Init(ctx) }); err != nil {
		return fmt.Errorf("migrate init: %w", err)
	}
	pending, err := pendingMigrations(ctx, m)
	if err != nil || !pending {
		return err
	}

	if err := lockMigrations(ctx, m); err != nil {
		return err
	}
	defer func() {
		// Unlock even when ctx is done, or the next start would wait.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opTimeout)
		defer cancel()
		_ = m.Unlock(uctx)
	}()
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

// lockMigrations takes the migration lock, waiting while another process
// holds it.
func lockMigrations(ctx context.Context, m *migrate.Migrator) error {
	wait := 20 * time.Millisecond
	var held error // the last "already locked" failure
	for {
		err := m.Lock(ctx)
		if err == nil {
			return nil
		}
		if isUniqueViolation(err) || isBusy(err) {
			held = err
		} else if ctx.Err() == nil {
			return fmt.Errorf("migration lock: %w", err)
		}
		if ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
				wait = min(2*wait, 500*time.Millisecond)
				continue
			}
		}
		if held != nil {
			return semvec.Wrap(semvec.KindUnavailable, held,
				"database migrations are locked by another process; if none is running, delete the row in bun_migration_locks")
		}
		return fmt.Errorf("migration lock: %w", err)
	}
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
