package persistence

import (
	"context"
	"strconv"
	"time"

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

// AuditPruneBatch is auditPruneBatch: the most rows one audit write prunes.
const AuditPruneBatch = auditPruneBatch

// AuditPruneEvery is auditPruneEvery: how many of an owner's audit writes
// come between two prunes of its log, for a retention of keep.
func AuditPruneEvery(keep int) int { return auditPruneEvery(keep) }

// AuditRows counts subject's audit rows (AuditLog returns at most
// MaxAuditLimit).
func (s *Store) AuditRows(ctx context.Context, subject string) (int, error) {
	n, err := s.db.NewSelect().Model((*auditModel)(nil)).Where("subject = ?", subject).Count(ctx)
	return int(n), err
}

// AppendAuditRows writes n audit rows for subject in one statement, without
// pruning, as a version that did not bound the log left them. Their
// resource ids are "old0", "old1", …
func (s *Store) AppendAuditRows(ctx context.Context, subject string, n int) error {
	rows := make([]auditModel, n)
	for i := range rows {
		rows[i] = auditModel{At: s.timestamp(time.Time{}), Subject: subject, Action: "run", ResourceType: "session", ResourceID: "old" + strconv.Itoa(i)}
	}
	_, err := s.db.NewInsert().Model(&rows).Exec(ctx)
	return err
}
