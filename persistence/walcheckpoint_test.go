package persistence

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWALCheckpointsOffTheCommitPath: on an SQLite file, commits leave
// their pages in the WAL (the writer's own checkpoint only runs past
// walBackstopPages), and the checkpointer's connection copies them into
// the database file within a few seconds.
func TestWALCheckpointsOffTheCommitPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wal.db")
	s, err := Open(context.Background(), "sqlite:///"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var pages int
	if err := s.db.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&pages); err != nil || pages != walBackstopPages {
		t.Fatalf("writer's wal_autocheckpoint = %d (%v), want the backstop %d", pages, err, walBackstopPages)
	}
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	s.wal.checkpoint() // what migrations left in the WAL
	if _, err := s.db.ExecContext(ctx, "CREATE TABLE walfill (b BLOB)"); err != nil {
		t.Fatal(err)
	}
	before := size()
	blob := make([]byte, 1024)
	for i := range 2000 { // ~2 MB in the WAL, under the backstop
		blob[0] = byte(i)
		if _, err := s.db.ExecContext(ctx, "INSERT INTO walfill (b) VALUES (?)", blob); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for size() < before+1<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("database file %d bytes, %d before 2 MB of commits: the WAL was not checkpointed within 10 s", size(), before)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// An in-memory database has no WAL and no checkpointer.
func TestNoWALCheckpointerInMemory(t *testing.T) {
	s, err := Open(context.Background(), "sqlite:///:memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.wal != nil {
		t.Fatal("an in-memory database got a WAL checkpointer")
	}
}
