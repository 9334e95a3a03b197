package persistence

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// SQLite result codes (extended result codes are on in modernc.org/sqlite).
const (
	sqliteBusy             = 5
	sqliteLocked           = 6
	sqliteConstraintFK     = 787
	sqliteConstraintPK     = 1555
	sqliteConstraintUnique = 2067
)

// sqliteCode returns the (extended) result code of a modernc.org/sqlite error,
// matched by method so the driver package is not imported.
func sqliteCode(err error) (int, bool) {
	var e interface {
		error
		Code() int
	}
	if errors.As(err, &e) {
		return e.Code(), true
	}
	return 0, false
}

func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// isUniqueViolation reports a primary-key or unique constraint violation.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	if c, ok := sqliteCode(err); ok {
		return c == sqliteConstraintUnique || c == sqliteConstraintPK
	}
	if pgCode(err) == "23505" {
		return true
	}
	// mattn/go-sqlite3 (the cgosqlite build) has no Code method.
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// isForeignKeyViolation reports a row that references a missing row.
func isForeignKeyViolation(err error) bool {
	if err == nil {
		return false
	}
	if c, ok := sqliteCode(err); ok {
		return c == sqliteConstraintFK
	}
	if pgCode(err) == "23503" {
		return true
	}
	return strings.Contains(err.Error(), "FOREIGN KEY constraint failed")
}

// isBusy reports a lock conflict that is worth retrying: SQLite's busy or
// locked, PostgreSQL's duplicate catalog entry when two sessions run
// CREATE TABLE IF NOT EXISTS at once, serialization failure and deadlock.
func isBusy(err error) bool {
	if err == nil {
		return false
	}
	if c, ok := sqliteCode(err); ok {
		return c&0xff == sqliteBusy || c&0xff == sqliteLocked
	}
	switch pgCode(err) {
	case "23505", "42P07", "42710", "40001", "40P01":
		return true
	}
	s := err.Error()
	return strings.Contains(s, "database is locked") || strings.Contains(s, "database table is locked")
}

// isRetryableTx reports a PostgreSQL deadlock or serialization failure: the
// transaction was rolled back and can be run again.
func isRetryableTx(err error) bool {
	if err == nil {
		return false
	}
	switch pgCode(err) {
	case "40001", "40P01":
		return true
	}
	return false
}
