package persistence_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
)

// forEachDB runs fn on a fresh SQLite database in t.TempDir() and, when
// TEST_DATABASE_URL is set, on a fresh PostgreSQL schema.
func forEachDB(t *testing.T, fn func(t *testing.T, s *persistence.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		fn(t, openStore(t, sqliteURL(t)))
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, openStore(t, pgURL(t)))
	})
}

// forEachURL is forEachDB for tests that open stores themselves: fn gets a
// database URL (a fresh SQLite file, or a fresh PostgreSQL schema).
func forEachURL(t *testing.T, fn func(t *testing.T, databaseURL string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, sqliteURL(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, pgURL(t)) })
}

func sqliteURL(t *testing.T) string {
	return "sqlite:///" + filepath.Join(t.TempDir(), "semvec.db") // absolute: four slashes
}

// pgURL creates a schema for the test, drops it at cleanup, and returns
// TEST_DATABASE_URL with search_path set to it. It skips the test when
// TEST_DATABASE_URL is not set.
func pgURL(t *testing.T) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		t.Skip("TEST_DATABASE_URL not set: PostgreSQL tests skipped")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	schema := "semvec_test_" + randHex(6)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// openStore opens databaseURL and closes the store at cleanup (registered
// after pgURL's, so it runs before the schema is dropped).
func openStore(t *testing.T, databaseURL string, opts ...persistence.Option) *persistence.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := persistence.Open(ctx, databaseURL, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// wantKind fails unless err is a root error of kind (and, if detail is not
// empty, with that detail).
func wantKind(t *testing.T, err error, kind semvec.Kind, detail string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want kind %v", kind)
	}
	var se *semvec.Error
	if !errors.As(err, &se) {
		t.Fatalf("err = %v (%T), want a *semvec.Error", err, err)
	}
	if se.Kind != kind {
		t.Fatalf("err = %v, kind %v, want kind %v", err, se.Kind, kind)
	}
	if detail != "" && se.Detail != detail {
		t.Fatalf("detail = %q, want %q", se.Detail, detail)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// ts is a fixed time in a non-UTC zone with nanoseconds, to check that the
// store returns UTC at microsecond precision.
func ts(sec int) time.Time {
	return time.Date(2026, 3, 4, 5, 6, sec, 123456789, time.FixedZone("X", 3600))
}

// us is what the store returns for t.
func us(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func session(owner, id string) persistence.SessionRecord {
	return persistence.SessionRecord{
		ID: id, Owner: owner, Kind: persistence.SessionKindSession, Dimension: 384,
		ModelName: "hash-384", Options: []byte(`{"short_term_size":15}`),
		CreatedAt: ts(1), UpdatedAt: ts(2),
	}
}

// saveSnapshot stores data as the snapshot of owner's session id, in the
// incarnation the session has now (what the removed Store.SaveSnapshot did):
// NotFound("Session") when the session does not exist or the write was
// dropped.
func saveSnapshot(t *testing.T, s *persistence.Store, owner, id string, data []byte, at time.Time) error {
	t.Helper()
	ctx := t.Context()
	rec, err := s.GetSession(ctx, owner, id)
	if err != nil {
		return err
	}
	n, err := s.SaveSnapshots(ctx, []persistence.Snapshot{{Owner: owner, ID: id, Incarnation: rec.Incarnation, Epoch: rec.Epoch, Data: data, At: at}})
	if err != nil {
		return err
	}
	if n == 0 {
		return semvec.NotFound("Session")
	}
	return nil
}

// incarnation returns the incarnation of owner's session id.
func incarnation(t *testing.T, s *persistence.Store, owner, id string) string {
	t.Helper()
	rec, err := s.GetSession(t.Context(), owner, id)
	must(t, err)
	if rec.Incarnation == "" {
		t.Fatalf("session %s/%s has no incarnation", owner, id)
	}
	return rec.Incarnation
}

// errOf is the error of a deletion whose Unlinked a test does not check.
func errOf(_ persistence.Unlinked, err error) error { return err }
