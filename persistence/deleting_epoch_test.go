package persistence

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
)

// A session row being deleted (fenceOff, PostgreSQL: the epoch moves in a
// transaction of its own before the delete's) refuses the writes of its
// activation as NotFound, as the deleted row will: the writer is told the
// session is gone, not that a newer activation serves it (a 503 "retry"
// of a change the deletion refused). If the deletion then fails, the mark
// is lifted, and the next activation takes a positive epoch and writes.
func TestDeletingRowRefusesWritesAsNotFound(t *testing.T) {
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		t.Skip("TEST_DATABASE_URL not set: PostgreSQL tests skipped (SQLite has no fenceOff)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "semvec_test_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE") }()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	s, err := Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	now := time.Now().UTC()
	rec := SessionRecord{ID: "s", Owner: "o", Incarnation: NewIncarnation(), Kind: "session", Dimension: 8, ModelName: "m",
		Options: []byte("{}"), CreatedAt: now, UpdatedAt: now}
	if err := s.CreateSession(ctx, rec); err != nil {
		t.Fatal(err)
	}
	act, err := s.ActivateSession(ctx, "o", "s")
	if err != nil {
		t.Fatal(err)
	}
	entry := func(seq int64, epoch int64) LogEntry {
		return LogEntry{Owner: "o", SessionID: "s", Incarnation: rec.Incarnation, Epoch: epoch, Seq: seq, Data: []byte("x")}
	}
	unmark, err := s.fenceOff(ctx, "sessions", "owner = ? AND id = ?", "o", "s")
	if err != nil {
		t.Fatal(err)
	}
	refused, err := s.AppendLog(ctx, []LogEntry{entry(1, act.Epoch)})
	if err != nil {
		t.Fatal(err)
	}
	if semvec.KindOf(refused[0]) != semvec.KindNotFound || errors.Is(refused[0], ErrSuperseded) {
		t.Fatalf("a write of the activation while its row is being deleted: %v, want NotFound", refused[0])
	}
	// The deletion fails: its mark is lifted, and the activation's writes
	// are refused as superseded (it stops; the next one writes), not as
	// deleted.
	unmark()
	if refused, err = s.AppendLog(ctx, []LogEntry{entry(1, act.Epoch)}); err != nil || !errors.Is(refused[0], ErrSuperseded) {
		t.Fatalf("a write of the activation after the deletion failed: %v %v, want ErrSuperseded", refused, err)
	}
	again, err := s.ActivateSession(ctx, "o", "s")
	if err != nil {
		t.Fatal(err)
	}
	if again.Epoch <= act.Epoch {
		t.Fatalf("epoch after an abandoned deletion = %d, want above %d", again.Epoch, act.Epoch)
	}
	if refused, err := s.AppendLog(ctx, []LogEntry{entry(1, again.Epoch)}); err != nil || refused[0] != nil {
		t.Fatalf("a write of the next activation: %v %v", refused, err)
	}
}
