package persistence

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/driver/sqliteshim"

	"github.com/semvec-go/semvec"
)

// Dialect names returned by Store.Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// Default timeouts. An operation ends at its context's deadline or after
// DefaultOpTimeout, whichever comes first, so a dead or hung database answers
// with KindUnavailable instead of hanging. Open (ping plus migrations, which
// may wait for another process's migration lock) gets DefaultOpenTimeout.
const (
	DefaultOpTimeout   = 5 * time.Second
	DefaultOpenTimeout = 30 * time.Second
)

// Store is the SQL store of metadata, session snapshots, network state and the
// audit log. It is safe for concurrent use.
type Store struct {
	db          *bun.DB
	dialect     string
	opTimeout   time.Duration
	maxLinks    int // WithMaxLinks
	maxEntities int // WithMaxEntities
	maxSessions int // WithMaxSessions
	maxParents  int // WithMaxParents
	auditKeep   int // WithAuditRetention
	auditPrunes *auditPrunes
	now         func() time.Time
	pins        *allocPins
	wal         *walCheckpointer // SQLite files: checkpoints off the commit path
	file        *fileGuard       // SQLite files: the file removed or replaced under the server
	log         *slog.Logger
	closeOnce   sync.Once
	closeErr    error
}

// PoolSize is how many connections a Store keeps to PostgreSQL at most.
// Three cluster members take 48 of the server's default max_connections
// (100).
const PoolSize = 16

// PoolStats reports the store's connection pool.
func (s *Store) PoolStats() sql.DBStats { return s.db.Stats() }

// Option configures a Store at Open.
type Option func(*Store)

// WithOpTimeout sets the bound of one operation (default DefaultOpTimeout);
// a context whose deadline comes sooner ends it sooner.
func WithOpTimeout(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.opTimeout = d
		}
	}
}

// WithClock sets the clock used for timestamps the store fills in itself
// (audit rows, membership and link times, zero CreatedAt fields).
func WithClock(now func() time.Time) Option {
	return func(s *Store) {
		if now != nil {
			s.now = now
		}
	}
}

// WithLogger sets where the store reports what no caller sees: failures of
// its background work (SQLite's WAL checkpoints). Default: discarded.
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) {
		if l != nil {
			s.log = l
		}
	}
}

// DefaultMaxLinks caps each of the layers' link lists per parent: a
// cluster's members, a region's clusters, an observer's regions. A
// cluster's feedback and aggregate ask every member, a region's votes count
// every cluster and an observer samples every region, so each list is
// bounded like every other list a tenant can grow; an add past the cap is a
// Conflict (409) and changes nothing.
const DefaultMaxLinks = 1000

// DefaultMaxEntities caps a caller's clusters and its regions (each): every
// one the caller reads keeps an actor in memory (layer actors do not
// passivate), so their number is bounded per tenant; a create past the cap
// is a Conflict (409) and changes nothing.
const DefaultMaxEntities = 1000

// WithMaxEntities sets the cap of a caller's clusters and of its regions
// (default DefaultMaxEntities).
func WithMaxEntities(n int) Option {
	return func(s *Store) {
		if n > 0 {
			s.maxEntities = n
		}
	}
}

// DefaultMaxSessions caps a caller's sessions, of every kind (a cluster's
// backing session and a region's or observer's meta session count too):
// each is a row, a log and a checkpoint on disk, so their number is bounded
// per tenant like every other list a tenant can grow; a create past the cap
// (a session, an import, a cluster, a region, an observer) is a Conflict
// (409) and changes nothing. SEMVEC_MAX_SESSIONS_PER_TENANT sets it.
const DefaultMaxSessions = 100_000

// WithMaxSessions sets the cap of a caller's sessions (default
// DefaultMaxSessions).
func WithMaxSessions(n int) Option {
	return func(s *Store) {
		if n > 0 {
			s.maxSessions = n
		}
	}
}

// DefaultMaxParents caps the other side of the links a drift event travels:
// the clusters a session is a member of, and the regions a cluster is
// attached to. A session's drift event goes to each of its clusters and on
// to each of their regions, so without it one turn could fan out to
// 1,000 × 1,000 region events; with it, to at most 8 × 8. (At 32 × 32 one
// tenant's drifting turns took another tenant's /v1/run from a p50 of
// 0.4 ms to 20–25 ms even with group-committed region writes; at 8 × 8,
// ~2.5 ms: docs/layers.md, "Cost of a drift".) An add past it is a
// Conflict (409) and changes nothing; links made under a larger cap stay.
const DefaultMaxParents = 8

// WithMaxParents sets the cap of a session's clusters and of a cluster's
// regions (default DefaultMaxParents).
func WithMaxParents(n int) Option {
	return func(s *Store) {
		if n > 0 {
			s.maxParents = n
		}
	}
}

// WithMaxLinks sets the cap of each link list (default DefaultMaxLinks).
func WithMaxLinks(n int) Option {
	return func(s *Store) {
		if n > 0 {
			s.maxLinks = n
		}
	}
}

// Open connects to databaseURL, pings it and applies pending migrations.
//
// Accepted URLs:
//
//	sqlite:///semvec.db         relative path semvec.db
//	sqlite:////abs/path.db      absolute path /abs/path.db
//	sqlite:///:memory:          a private in-memory database (also sqlite://:memory:)
//	postgres://… postgresql://… PostgreSQL through pgx (libpq URL syntax)
//
// Several processes may Open the same database at once: migrations are
// serialised by a lock that dies with its process (see migrate), and Open
// waits (until ctx, or DefaultOpenTimeout, expires) while another process
// holds it.
// A database that cannot be reached yields a KindUnavailable error; a URL
// with an unsupported scheme yields KindInvalid.
func Open(ctx context.Context, databaseURL string, opts ...Option) (*Store, error) {
	s := &Store{opTimeout: DefaultOpTimeout, maxLinks: DefaultMaxLinks, maxEntities: DefaultMaxEntities, maxSessions: DefaultMaxSessions, maxParents: DefaultMaxParents, auditKeep: DefaultAuditRetention, now: time.Now, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(s)
	}
	s.auditPrunes = newAuditPrunes(s.auditKeep)
	sqldb, dialect, walDSN, err := openSQL(databaseURL)
	if err != nil {
		return nil, err
	}
	s.dialect = dialect
	if dialect == DialectSQLite {
		s.db = bun.NewDB(sqldb, sqlitedialect.New())
	} else {
		s.db = bun.NewDB(sqldb, pgdialect.New())
	}

	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultOpenTimeout)
		defer cancel()
	}
	// A new SQLite connection switches the file to WAL, which can fail with
	// SQLITE_BUSY (without waiting busy_timeout) while another process is
	// doing the same.
	if err := retryBusy(ctx, func() error { return s.db.PingContext(ctx) }); err != nil {
		_ = s.db.Close()
		if dialect == DialectSQLite && ctx.Err() == nil {
			return nil, semvec.Wrap(semvec.KindInvalid, err, "DATABASE_URL: cannot open the SQLite database (can this process write its file and directory?)")
		}
		return nil, s.mapErr(err)
	}
	lockDSN := ""
	if walDSN != "" {
		lockDSN = migrationLockDSN(walDSN)
	}
	if err := s.migrate(ctx, lockDSN); err != nil {
		_ = s.db.Close()
		return nil, s.mapErr(err)
	}
	if walDSN != "" {
		_, rest, _ := strings.Cut(databaseURL, "://")
		s.file = newFileGuard(sqlitePath(rest), s.log)
		if s.wal, err = startWALCheckpointer(walDSN, s.log, s.file.isLost); err != nil {
			_ = s.db.Close()
			return nil, semvec.Wrap(semvec.KindUnavailable, err, "DATABASE_URL: cannot open SQLite database")
		}
	}
	if dialect == DialectSQLite {
		s.pins = pinSQLiteAllocator()
	}
	return s, nil
}

// openSQL parses databaseURL and opens (without connecting) the matching
// database/sql handle. walDSN is the DSN of an SQLite file (for the WAL
// checkpointer), empty otherwise.
func openSQL(databaseURL string) (db *sql.DB, dialect, walDSN string, err error) {
	scheme, rest, ok := strings.Cut(databaseURL, "://")
	if !ok {
		return nil, "", "", semvec.Errorf(semvec.KindInvalid,
			"DATABASE_URL must look like sqlite:///path.db or postgres://…")
	}
	switch strings.ToLower(scheme) {
	case "sqlite", "sqlite3":
		dsn, inMemory, err := sqliteDSN(rest)
		if err != nil {
			return nil, "", "", err
		}
		sqldb, err := sql.Open(sqliteshim.ShimName, dsn)
		if err != nil {
			return nil, "", "", semvec.Wrap(semvec.KindInvalid, err, "DATABASE_URL: cannot open SQLite database")
		}
		// SQLite has one writer. One connection avoids SQLITE_BUSY between
		// our own connections (other processes wait busy_timeout), and it
		// keeps a private in-memory database alive. A read pool was not worth
		// it here: every operation is a few indexed row lookups.
		sqldb.SetMaxOpenConns(1)
		sqldb.SetMaxIdleConns(1)
		sqldb.SetConnMaxLifetime(0)
		sqldb.SetConnMaxIdleTime(0)
		if inMemory {
			return sqldb, DialectSQLite, "", nil // no WAL
		}
		return sqldb, DialectSQLite, dsn, nil
	case "postgres", "postgresql":
		cfg, err := pgx.ParseConfig(databaseURL)
		if err != nil {
			return nil, "", "", semvec.Wrap(semvec.KindInvalid, err, "DATABASE_URL: invalid PostgreSQL URL")
		}
		// A process paused in the middle of a transaction (a VM freeze, a
		// SIGSTOP, a stalled node of a cluster) would hold its row locks,
		// and with them every other writer of those rows, until it runs
		// again. Our transactions never wait between statements, so the
		// server ends any that sits idle for 2 s (the URL may say
		// otherwise); the paused process's commit then fails and is not
		// acknowledged.
		if _, set := cfg.RuntimeParams["idle_in_transaction_session_timeout"]; !set {
			cfg.RuntimeParams["idle_in_transaction_session_timeout"] = "2000"
		}
		sqldb := stdlib.OpenDB(*cfg)
		// A bounded pool that keeps what it opened: database/sql keeps 2
		// idle connections by default and opens without limit, so a burst
		// of concurrent writers (group commits, checkpoints, the layers'
		// logs, activations) opened and closed a server process per
		// transaction, and could exhaust max_connections. Beyond PoolSize
		// callers wait for a connection within their deadline.
		sqldb.SetMaxOpenConns(PoolSize)
		sqldb.SetMaxIdleConns(PoolSize)
		sqldb.SetConnMaxIdleTime(5 * time.Minute)
		return sqldb, DialectPostgres, "", nil
	}
	return nil, "", "", semvec.Errorf(semvec.KindInvalid,
		"DATABASE_URL: unsupported scheme %q (want sqlite, postgres or postgresql)", scheme)
}

// sqliteBusyTimeout is how long an SQLite connection waits for the write
// lock another process holds (a backup, the sqlite3 shell) before its
// statement fails (503, with Retry-After). It is under the change log's
// group-commit bound (3 s) and the default ask timeout (5 s): SQLite's busy
// wait does not watch the context, and with a 5 s wait a request timed out
// first (504: the outcome unknown, where a 503 says the change failed).
const sqliteBusyTimeout = 2 * time.Second

// sqliteDSN turns the part of a sqlite URL after "sqlite://" into a DSN for
// modernc.org/sqlite (the driver sqliteshim picks on supported platforms).
// Following SQLAlchemy, "sqlite:///rel.db" is relative and "sqlite:////abs.db"
// absolute; "sqlite://rel.db" is accepted as relative too. A query string is
// ignored.
func sqliteDSN(rest string) (dsn string, inMemory bool, err error) {
	path := sqlitePath(rest)
	if path == "" {
		return "", false, semvec.Errorf(semvec.KindInvalid, "DATABASE_URL: sqlite URL has no path")
	}
	pragmas := "_pragma=busy_timeout(" + strconv.Itoa(int(sqliteBusyTimeout.Milliseconds())) + ")&_pragma=foreign_keys(1)&_txlock=immediate"
	if path == ":memory:" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		// A unique name gives each Open its own database (a fixed name with
		// cache=shared is one database per process). It lives as long as
		// the pool's single connection.
		return "file:semvec_mem_" + hex.EncodeToString(b[:]) + "?mode=memory&cache=shared&" + pragmas, true, nil
	}
	if err := checkSQLiteDir(path); err != nil {
		return "", false, err
	}
	// SQLite decodes %HH in URI file names and would cut at ? or #.
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + esc + "?" + pragmas +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=wal_autocheckpoint(" + strconv.Itoa(walBackstopPages) + ")", false, nil
}

// sqlitePath is the file path of the part of a sqlite URL after
// "sqlite://" (see sqliteDSN).
func sqlitePath(rest string) string {
	path, _, _ := strings.Cut(rest, "?")
	return strings.TrimPrefix(path, "/")
}

// checkSQLiteDir refuses a SQLite path whose directory is missing or is not
// a directory: SQLite itself reports "unable to open database file: out of
// memory (14)", which names neither the path nor the cause.
func checkSQLiteDir(path string) error {
	dir := filepath.Dir(path)
	switch st, err := os.Stat(dir); {
	case errors.Is(err, os.ErrNotExist):
		return semvec.Errorf(semvec.KindInvalid, "DATABASE_URL: the SQLite database's directory %s does not exist", dir)
	case err != nil:
		return semvec.Wrap(semvec.KindInvalid, err, "DATABASE_URL: the SQLite database's directory "+dir+" cannot be read")
	case !st.IsDir():
		return semvec.Errorf(semvec.KindInvalid, "DATABASE_URL: the SQLite database's directory %s is not a directory", dir)
	}
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.file.lostErr(); err != nil {
		return err
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		return s.mapErr(err)
	}
	return s.file.check()
}

// Close closes the database. Later calls on the Store fail with
// KindUnavailable. Close is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.wal != nil {
			s.wal.close()
		}
		s.closeErr = s.db.Close()
		if s.pins != nil {
			s.pins.release()
		}
	})
	return s.closeErr
}

// Dialect returns "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// opCtx bounds ctx with the operation timeout: an operation ends at
// whichever comes first. (A request's context allows 30 s; a database that
// hangs must not hold a request that long.)
func (s *Store) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opTimeout)
}

// inTx runs fn in one transaction (BEGIN IMMEDIATE on SQLite) and maps its
// error. fn must use tx only: with SQLite's single connection, touching s.db
// inside fn deadlocks.
//
// A PostgreSQL deadlock or serialization failure (the other transaction has
// committed by then) reruns fn, up to three attempts in all; fn must assign,
// not accumulate, whatever it reports to its caller.
func (s *Store) inTx(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	if err := s.file.lostErr(); err != nil {
		return err
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	var err error
	for range 3 {
		err = s.db.RunInTx(ctx, nil, fn)
		if !isRetryableTx(err) || ctx.Err() != nil {
			break
		}
	}
	if err == nil {
		// Committed, to the file the path names still? (fileGuard)
		return s.file.check()
	}
	return s.mapErr(err)
}

// run runs one non-transactional operation (a read or a single-statement
// write) under the default timeout and maps its error.
func (s *Store) run(ctx context.Context, fn func(ctx context.Context, db bun.IDB) error) error {
	if err := s.file.lostErr(); err != nil {
		return err
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	if err := fn(ctx, s.db); err != nil {
		return s.mapErr(err)
	}
	return s.file.check()
}

// timestamp returns t, or the store clock when t is zero, in UTC at microsecond
// precision (what PostgreSQL keeps), so values read back compare equal on both
// dialects.
func (s *Store) timestamp(t time.Time) time.Time {
	if t.IsZero() {
		t = s.now()
	}
	return utc(t)
}

func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// mapErr turns a database error into a root error: root errors pass through,
// everything else (connection refused, timeout, closed pool, locked file)
// becomes KindUnavailable with the cause kept for the logs.
func (s *Store) mapErr(err error) error {
	if err == nil {
		return nil
	}
	var se *semvec.Error
	if errors.As(err, &se) {
		return se
	}
	return semvec.Wrap(semvec.KindUnavailable, err, "database unavailable")
}

// errRollback makes RunInTx roll back without it being an error for the caller.
var errRollback = errors.New("persistence: rollback")

func rowsAffected(res sql.Result) int64 {
	n, err := res.RowsAffected()
	if err != nil {
		return 0
	}
	return n
}
