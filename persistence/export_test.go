package persistence

import (
	"context"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
)

// HoldMigrationLock takes databaseURL's migration lock as Open does when
// it has migrations to apply, and holds it until release.
func HoldMigrationLock(ctx context.Context, databaseURL string) (release func(), err error) {
	sqldb, dialect, walDSN, err := openSQL(databaseURL)
	if err != nil {
		return nil, err
	}
	s := &Store{dialect: dialect, opTimeout: DefaultOpTimeout}
	if dialect == DialectSQLite {
		s.db = bun.NewDB(sqldb, sqlitedialect.New())
	} else {
		s.db = bun.NewDB(sqldb, pgdialect.New())
	}
	lockDSN := ""
	if walDSN != "" {
		lockDSN = migrationLockDSN(walDSN)
	}
	rel, err := s.lockMigrations(ctx, lockDSN)
	if err != nil {
		_ = s.db.Close()
		return nil, err
	}
	return func() { rel(); _ = s.db.Close() }, nil
}

// SessionCounts returns owner's session count as the triggers keep it
// (migration 20261207000001) and as a count of the owner's rows gives it.
func (s *Store) SessionCounts(ctx context.Context, owner string) (kept, counted int64, err error) {
	if err := s.db.NewSelect().Table("session_counts").Column("n").Where("owner = ?", owner).Scan(ctx, &kept); err != nil {
		return 0, 0, err
	}
	n, err := s.db.NewSelect().Model((*sessionModel)(nil)).Where("owner = ?", owner).Count(ctx)
	return kept, int64(n), err
}
