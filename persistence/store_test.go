package persistence_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/uptrace/bun/driver/sqliteshim"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
)

func TestOpenSQLiteURLs(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)

	rel := openStore(t, "sqlite:///rel.db")
	if rel.Dialect() != persistence.DialectSQLite {
		t.Fatalf("Dialect = %q", rel.Dialect())
	}
	if _, err := os.Stat(filepath.Join(dir, "rel.db")); err != nil {
		t.Fatalf("sqlite:///rel.db did not create ./rel.db: %v", err)
	}
	openStore(t, "sqlite://host-form.db")
	if _, err := os.Stat(filepath.Join(dir, "host-form.db")); err != nil {
		t.Fatalf("sqlite://host-form.db did not create ./host-form.db: %v", err)
	}
	abs := filepath.Join(t.TempDir(), "odd %20 name#1.db") // taken literally, not URL-decoded
	openStore(t, "sqlite:///"+abs)
	if _, err := os.Stat(abs); err != nil {
		t.Fatalf("absolute path: %v", err)
	}

	// WAL and busy_timeout are set on the file database.
	db, err := sql.Open("sqliteshim", filepath.Join(dir, "rel.db"))
	must(t, err)
	defer db.Close()
	var mode string
	must(t, db.QueryRow("PRAGMA journal_mode").Scan(&mode))
	if mode != "wal" {
		t.Fatalf("journal_mode = %q, want wal", mode)
	}
}

func TestOpenMemoryIsPrivate(t *testing.T) {
	ctx := t.Context()
	a := openStore(t, "sqlite:///:memory:")
	b := openStore(t, "sqlite://:memory:")
	must(t, a.CreateSession(ctx, session("alice", "s1")))
	if _, err := a.GetSession(ctx, "alice", "s1"); err != nil {
		t.Fatalf("in-memory store lost its row: %v", err)
	}
	_, err := b.GetSession(ctx, "alice", "s1")
	wantKind(t, err, semvec.KindNotFound, "Session not found")
}

func TestOpenBadURL(t *testing.T) {
	for _, u := range []string{"mysql://x/y", "semvec.db", "sqlite://", ""} {
		_, err := persistence.Open(t.Context(), u)
		wantKind(t, err, semvec.KindInvalid, "")
		if !strings.Contains(err.Error(), "DATABASE_URL") {
			t.Fatalf("Open(%q) error %q does not name DATABASE_URL", u, err)
		}
	}
}

func TestOpenUnreachablePostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	start := time.Now()
	_, err := persistence.Open(ctx, "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable")
	wantKind(t, err, semvec.KindUnavailable, "database unavailable")
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Open took %v", d)
	}
}

func TestClosedStoreUnavailable(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		must(t, s.Ping(ctx))
		must(t, s.Close())
		must(t, s.Close()) // idempotent
		start := time.Now()
		wantKind(t, s.Ping(ctx), semvec.KindUnavailable, "database unavailable")
		_, err := s.GetSession(ctx, "alice", "s1")
		wantKind(t, err, semvec.KindUnavailable, "database unavailable")
		wantKind(t, s.CreateSession(ctx, session("alice", "s1")), semvec.KindUnavailable, "database unavailable")
		_, err = s.AddMember(ctx, "alice", "c", "s")
		wantKind(t, err, semvec.KindUnavailable, "database unavailable")
		if d := time.Since(start); d > time.Second {
			t.Fatalf("closed store took %v to fail", d)
		}
	})
}

// A SQLite file whose write lock another process holds fails as
// KindUnavailable once busy_timeout (2 s) runs out: SQLite's busy wait does not
// observe the context, so the 300 ms operation timeout cannot cut it short,
// but it is bounded.
func TestLockedSQLiteUnavailable(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "locked.db")
	s := openStore(t, "sqlite:///"+path, persistence.WithOpTimeout(300*time.Millisecond))

	other, err := sql.Open("sqliteshim", "file:"+path+"?_txlock=immediate")
	must(t, err)
	defer other.Close()
	tx, err := other.BeginTx(ctx, nil)
	must(t, err)
	defer tx.Rollback()
	_, err = tx.Exec("INSERT INTO audit_log (at, subject, action, resource_type, resource_id, detail) VALUES ('2026-01-01 00:00:00+00:00', 'x', 'x', 'x', 'x', '')")
	must(t, err)

	start := time.Now()
	err = s.CreateSession(ctx, session("alice", "s1"))
	wantKind(t, err, semvec.KindUnavailable, "database unavailable")
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("locked database took %v to fail", d)
	}
	t.Logf("locked database failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
}

// An operation is bounded by the operation timeout even when its context
// allows longer (a request's 30 s): a PostgreSQL row lock held by another
// connection fails it as KindUnavailable after the operation timeout.
func TestAnOperationEndsAtTheOperationTimeout(t *testing.T) {
	url := pgURL(t)
	s := openStore(t, url, persistence.WithOpTimeout(500*time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	must(t, s.CreateSession(ctx, session("alice", "s1")))
	c, b := cluster("alice", "c1", 4)
	must(t, s.CreateCluster(ctx, c, b))
	raw := rawDB(t, url)
	tx, err := raw.BeginTx(ctx, nil)
	must(t, err)
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, "SELECT 1 FROM sessions WHERE owner = 'alice' AND id = 's1' FOR UPDATE")
	must(t, err)

	start := time.Now()
	_, err = s.AddMember(ctx, "alice", "c1", "s1") // shares the session row's lock
	wantKind(t, err, semvec.KindUnavailable, "database unavailable")
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("a locked row held the operation %v, past its 500 ms bound", d)
	}
}

func TestMigrateIdempotentAndRestartKeepsData(t *testing.T) {
	forEachURL(t, func(t *testing.T, databaseURL string) {
		ctx := t.Context()
		s1, err := persistence.Open(ctx, databaseURL)
		must(t, err)
		must(t, s1.CreateSession(ctx, session("alice", "s1")))
		must(t, saveSnapshot(t, s1, "alice", "s1", []byte("state"), ts(3)))
		c, b := cluster("alice", "c1", 4)
		must(t, s1.CreateCluster(ctx, c, b))
		_, err = s1.AddMember(ctx, "alice", "c1", "s1")
		must(t, err)
		must(t, s1.Close())

		for range 2 { // re-open twice: migrations are a no-op, data is there
			s2 := openStore(t, databaseURL)
			got, err := s2.GetSession(ctx, "alice", "s1")
			must(t, err)
			if !got.CreatedAt.Equal(us(ts(1))) {
				t.Fatalf("CreatedAt after restart = %v", got.CreatedAt)
			}
			data, at, err := s2.LoadSnapshot(ctx, "alice", "s1")
			must(t, err)
			if string(data) != "state" || !at.Equal(us(ts(3))) {
				t.Fatalf("snapshot after restart: %q at %v", data, at)
			}
			if m, _ := s2.ListMembers(ctx, "alice", "c1"); len(m) != 1 {
				t.Fatalf("members after restart: %v", m)
			}
			must(t, s2.Close())
		}
	})
}

// Several Stores (as several processes) opening one fresh database at once
// all succeed, and the schema is created once.
func TestConcurrentOpen(t *testing.T) {
	forEachURL(t, func(t *testing.T, databaseURL string) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		const n = 4
		stores := make([]*persistence.Store, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { stores[i], errs[i] = persistence.Open(ctx, databaseURL) })
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("Open #%d: %v", i, errs[i])
			}
			t.Cleanup(func() { _ = stores[i].Close() })
		}
		for i, s := range stores {
			must(t, s.CreateSession(ctx, session("alice", "s"+string(rune('0'+i)))))
		}
		if n, err := stores[0].CountSessions(ctx); err != nil || n != len(stores) {
			t.Fatalf("CountSessions = %d, %v", n, err)
		}
	})
}

func TestOpContextDeadlineRespected(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := s.GetSession(ctx, "alice", "s1")
		wantKind(t, err, semvec.KindUnavailable, "")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled ctx: %v does not wrap context.Canceled", err)
		}
	})
}

// bun/migrate's lock row, which a crash during a migration used to leave
// behind (and every later start then waited for and failed on), is not
// used: a start with migrations to apply migrates.
func TestStaleMigrationLockRowIsIgnored(t *testing.T) {
	forEachURL(t, func(t *testing.T, databaseURL string) {
		ctx := t.Context()
		raw := rawDB(t, databaseURL)
		idType := "INTEGER" // bun's own table: SQLite rowid, PostgreSQL bigserial
		if !strings.HasPrefix(databaseURL, "sqlite") {
			idType = "BIGSERIAL"
		}
		_, err := raw.ExecContext(ctx, "CREATE TABLE bun_migration_locks (id "+idType+" PRIMARY KEY, table_name VARCHAR UNIQUE)")
		must(t, err)
		_, err = raw.ExecContext(ctx, "INSERT INTO bun_migration_locks (table_name) VALUES ('bun_migrations')")
		must(t, err)
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		s, err := persistence.Open(octx, databaseURL)
		must(t, err)
		_ = s.Close()
	})
}

// The migration lock dies with the process that holds it. A process that
// holds it (as during its migrations) makes a start with migrations to
// apply wait, and fail at its deadline naming the cause; once that process
// is killed (SIGKILL, as a crash in the middle of a migration), a start
// migrates. The holder is this test binary run again.
func TestMigrationLockDiesWithItsProcess(t *testing.T) {
	if url := os.Getenv("SEMVEC_TEST_HOLD_MIGRATION_LOCK"); url != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := persistence.HoldMigrationLock(ctx, url); err != nil {
			fmt.Println("lock:", err)
			os.Exit(1)
		}
		fmt.Println("holding")
		time.Sleep(time.Minute) // until killed
		os.Exit(0)
	}
	forEachURL(t, func(t *testing.T, databaseURL string) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMigrationLockDiesWithItsProcess$")
		cmd.Env = append(os.Environ(), "SEMVEC_TEST_HOLD_MIGRATION_LOCK="+databaseURL)
		out, err := cmd.StdoutPipe()
		must(t, err)
		must(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || line != "holding\n" {
			t.Fatalf("the holder said %q (%v)", line, err)
		}

		octx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err = persistence.Open(octx, databaseURL)
		wantKind(t, err, semvec.KindUnavailable, "")
		if !strings.Contains(err.Error(), "another process") {
			t.Fatalf("error %q does not say another process migrates", err)
		}

		must(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		octx, cancel = context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		s, err := persistence.Open(octx, databaseURL)
		if err != nil {
			t.Fatalf("a start after the lock holder was killed: %v", err)
		}
		_ = s.Close()
	})
}

// rawDB opens databaseURL with database/sql directly, for setting up states
// the Store API cannot produce.
func rawDB(t *testing.T, databaseURL string) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	if path, ok := strings.CutPrefix(databaseURL, "sqlite:///"); ok {
		db, err = sql.Open("sqliteshim", path)
	} else {
		db, err = sql.Open("pgx", databaseURL)
	}
	must(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// A SQLite path whose directory is missing, or is a file, is refused with a
// message naming the directory (SQLite says "out of memory (14)").
func TestOpenNamesTheSQLiteDirectory(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "afile")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ url, want string }{
		{"sqlite:///" + dir + "/missing/x.db", filepath.Join(dir, "missing") + " does not exist"},
		{"sqlite:///" + file + "/x.db", file + " is not a directory"},
	} {
		s, err := persistence.Open(context.Background(), tc.url)
		if err == nil {
			s.Close()
			t.Fatalf("%s opened", tc.url)
		}
		if !strings.Contains(err.Error(), tc.want) || strings.Count(err.Error(), "DATABASE_URL") != 1 {
			t.Errorf("%s: %v, want it to say %q", tc.url, err, tc.want)
		}
	}
}
