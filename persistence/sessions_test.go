package persistence_test

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
)

func TestSessionCRUD(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		rec := session("alice", "s1")
		must(t, s.CreateSession(ctx, rec))

		got, err := s.GetSession(ctx, "alice", "s1")
		must(t, err)
		want := rec
		want.CreatedAt, want.UpdatedAt = us(rec.CreatedAt), us(rec.UpdatedAt)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("GetSession = %+v\nwant %+v", got, want)
		}
		if got.CreatedAt.Location() != time.UTC {
			t.Fatalf("CreatedAt location = %v, want UTC", got.CreatedAt.Location())
		}
		anyOwner, err := s.GetSessionAnyOwner(ctx, "s1")
		must(t, err)
		if !reflect.DeepEqual(anyOwner, want) {
			t.Fatalf("GetSessionAnyOwner = %+v", anyOwner)
		}

		wantKind(t, s.CreateSession(ctx, rec), semvec.KindConflict, "")
		wantKind(t, s.CreateSession(ctx, session("bob", "s1")), semvec.KindConflict, "")

		// Defaults: kind "session", zero times become now, nil options stay nil.
		must(t, s.CreateSession(ctx, persistence.SessionRecord{ID: "s2", Owner: "alice", Dimension: 8}))
		got, err = s.GetSession(ctx, "alice", "s2")
		must(t, err)
		if got.Kind != persistence.SessionKindSession || got.Options != nil ||
			got.CreatedAt.IsZero() || !got.UpdatedAt.Equal(got.CreatedAt) {
			t.Fatalf("defaults: %+v", got)
		}

		wantKind(t, s.CreateSession(ctx, persistence.SessionRecord{Owner: "alice"}), semvec.KindInvalid, "")
		wantKind(t, s.CreateSession(ctx, persistence.SessionRecord{ID: "s3", Options: []byte("{nope")}), semvec.KindInvalid, "")
		wantKind(t, s.CreateSession(ctx, persistence.SessionRecord{ID: "s3", Options: []byte("\"\xff\"")}), semvec.KindInvalid, "")

		must(t, s.TouchSession(ctx, "s1", ts(30)))
		got, _ = s.GetSession(ctx, "alice", "s1")
		if !got.UpdatedAt.Equal(us(ts(30))) {
			t.Fatalf("UpdatedAt after touch = %v", got.UpdatedAt)
		}
		wantKind(t, s.TouchSession(ctx, "nope", ts(30)), semvec.KindNotFound, "Session not found")

		n, err := s.CountSessions(ctx)
		must(t, err)
		if n != 2 {
			t.Fatalf("CountSessions = %d, want 2", n)
		}

		must(t, s.DeleteSession(ctx, "alice", "s1"))
		wantKind(t, s.DeleteSession(ctx, "alice", "s1"), semvec.KindNotFound, "Session not found")
		_, err = s.GetSession(ctx, "alice", "s1")
		wantKind(t, err, semvec.KindNotFound, "Session not found")
		_, err = s.GetSessionAnyOwner(ctx, "s1")
		wantKind(t, err, semvec.KindNotFound, "Session not found")
		if n, _ := s.CountSessions(ctx); n != 1 {
			t.Fatalf("CountSessions after delete = %d, want 1", n)
		}
	})
}

func TestSessionOwnerIsolation(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		must(t, s.CreateSession(ctx, session("alice", "s1")))

		_, errOther := s.GetSession(ctx, "bob", "s1")
		_, errMissing := s.GetSession(ctx, "bob", "missing")
		wantKind(t, errOther, semvec.KindNotFound, "Session not found")
		if errOther.Error() != errMissing.Error() {
			t.Fatalf("other owner %q differs from missing %q", errOther, errMissing)
		}
		wantKind(t, s.DeleteSession(ctx, "bob", "s1"), semvec.KindNotFound, "Session not found")
		if _, err := s.GetSession(ctx, "alice", "s1"); err != nil {
			t.Fatalf("alice's session gone after bob's delete: %v", err)
		}
	})
}

func TestSnapshots(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		for _, id := range []string{"s1", "s2", "s3"} {
			must(t, s.CreateSession(ctx, session("alice", id)))
		}
		_, _, err := s.LoadSnapshot(ctx, "s1")
		wantKind(t, err, semvec.KindNotFound, "Snapshot not found")

		blob := bytes.Repeat([]byte{0, 1, 2, 0xff, 'x'}, 100_000) // 500 kB with NULs
		must(t, s.SaveSnapshot(ctx, "s1", blob, ts(10)))
		data, at, err := s.LoadSnapshot(ctx, "s1")
		must(t, err)
		if !bytes.Equal(data, blob) || !at.Equal(us(ts(10))) {
			t.Fatalf("LoadSnapshot = %d bytes at %v", len(data), at)
		}

		// Upsert replaces.
		must(t, s.SaveSnapshot(ctx, "s1", []byte("v2"), ts(11)))
		data, at, err = s.LoadSnapshot(ctx, "s1")
		must(t, err)
		if string(data) != "v2" || !at.Equal(us(ts(11))) {
			t.Fatalf("after upsert: %q at %v", data, at)
		}

		// Empty and nil snapshots are stored as empty.
		must(t, s.SaveSnapshot(ctx, "s2", nil, ts(12)))
		data, _, err = s.LoadSnapshot(ctx, "s2")
		must(t, err)
		if len(data) != 0 {
			t.Fatalf("nil snapshot read back as %q", data)
		}

		wantKind(t, s.SaveSnapshot(ctx, "missing", []byte("x"), ts(1)), semvec.KindNotFound, "Session not found")

		// Batch: upserts and inserts, repeated id (last wins), missing session
		// skipped, more rows than one INSERT chunk.
		batch := []persistence.Snapshot{
			{ID: "s1", Data: []byte("b1"), At: ts(20)},
			{ID: "s2", Data: []byte("old"), At: ts(20)},
			{ID: "gone", Data: []byte("x"), At: ts(20)},
			{ID: "s2", Data: []byte("b2"), At: ts(21)},
			{ID: "s3", Data: []byte("b3"), At: ts(22)},
		}
		for i := range 120 {
			id := "bulk-" + string(rune('a'+i/26)) + string(rune('a'+i%26))
			must(t, s.CreateSession(ctx, session("alice", id)))
			batch = append(batch, persistence.Snapshot{ID: id, Data: []byte(id), At: ts(23)})
		}
		must(t, s.SaveSnapshots(ctx, batch))
		must(t, s.SaveSnapshots(ctx, nil))
		for _, want := range []persistence.Snapshot{
			{ID: "s1", Data: []byte("b1"), At: ts(20)},
			{ID: "s2", Data: []byte("b2"), At: ts(21)},
			{ID: "s3", Data: []byte("b3"), At: ts(22)},
			{ID: "bulk-ea", Data: []byte("bulk-ea"), At: ts(23)},
		} {
			data, at, err := s.LoadSnapshot(ctx, want.ID)
			must(t, err)
			if !bytes.Equal(data, want.Data) || !at.Equal(us(want.At)) {
				t.Fatalf("%s: %q at %v, want %q at %v", want.ID, data, at, want.Data, us(want.At))
			}
		}
		_, _, err = s.LoadSnapshot(ctx, "gone")
		wantKind(t, err, semvec.KindNotFound, "Snapshot not found")

		// Deleting the session deletes its snapshot.
		must(t, s.DeleteSession(ctx, "alice", "s1"))
		_, _, err = s.LoadSnapshot(ctx, "s1")
		wantKind(t, err, semvec.KindNotFound, "Snapshot not found")
		// And a re-created session with the same id does not see it.
		must(t, s.CreateSession(ctx, session("alice", "s1")))
		_, _, err = s.LoadSnapshot(ctx, "s1")
		wantKind(t, err, semvec.KindNotFound, "Snapshot not found")
	})
}

func TestImportSession(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		must(t, s.ImportSession(ctx, session("alice", "imp"), []byte("state"), ts(5)))
		data, at, err := s.LoadSnapshot(ctx, "imp")
		must(t, err)
		if string(data) != "state" || !at.Equal(us(ts(5))) {
			t.Fatalf("imported snapshot %q at %v", data, at)
		}
		wantKind(t, s.ImportSession(ctx, session("alice", "imp"), []byte("again"), ts(6)), semvec.KindConflict, "")
		data, _, _ = s.LoadSnapshot(ctx, "imp")
		if string(data) != "state" {
			t.Fatalf("failed import overwrote the snapshot: %q", data)
		}
		log, err := s.AuditLog(ctx, "alice", 10)
		must(t, err)
		if len(log) != 1 || log[0].Action != persistence.ActionImport || log[0].ResourceID != "imp" {
			t.Fatalf("audit after import: %+v", log)
		}
	})
}

func TestNetworkState(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		_, err := s.LoadNetworkState(ctx, "alice")
		wantKind(t, err, semvec.KindNotFound, "Network state not found")
		must(t, s.SaveNetworkState(ctx, "alice", []byte("v1")))
		must(t, s.SaveNetworkState(ctx, "bob", []byte("bob")))
		must(t, s.SaveNetworkState(ctx, "alice", []byte("v2")))
		for owner, want := range map[string]string{"alice": "v2", "bob": "bob"} {
			data, err := s.LoadNetworkState(ctx, owner)
			must(t, err)
			if string(data) != want {
				t.Fatalf("%s: %q, want %q", owner, data, want)
			}
		}
	})
}
