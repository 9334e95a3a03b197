package persistence

import (
	"bytes"
	"context"
	"fmt"
	"math/bits"
	"path/filepath"
	"testing"
)

// The allocator pins hold one block per size class from 1 KiB to 16 KiB
// while a SQLite store is open, and change no result: a log with
// checkpoints reads back the same with the pins held as with them
// released (the plain allocator).
func TestAllocPins(t *testing.T) {
	ctx := context.Background()
	run := func(t *testing.T, pinned bool) [][]byte {
		s, err := Open(ctx, "sqlite:///"+filepath.Join(t.TempDir(), "pins.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if sizes := s.pins.usable(); sizes != nil {
			seen := map[int]bool{}
			for _, n := range sizes {
				class := bits.Len(uint(n - 1)) // log2 of the slot, rounded up
				if class < 10 || class > 14 || seen[class] {
					t.Fatalf("pinned usable sizes %v: want one in each class from 1 KiB to 16 KiB", sizes)
				}
				seen[class] = true
			}
			if len(seen) != 5 {
				t.Fatalf("pinned usable sizes %v: want 5 classes", sizes)
			}
		}
		if !pinned {
			s.pins.release()
			s.pins = nil
		}
		if err := s.CreateSession(ctx, SessionRecord{Owner: "o", ID: "s", Dimension: 4, ModelName: "m"}); err != nil {
			t.Fatal(err)
		}
		rec, err := s.GetSession(ctx, "o", "s")
		if err != nil {
			t.Fatal(err)
		}
		for seq := int64(1); seq <= 300; seq++ {
			data := bytes.Repeat([]byte(fmt.Sprint(seq)), 400) // page splits and merges
			if _, err := s.AppendLog(ctx, []LogEntry{{Owner: "o", SessionID: "s", Incarnation: rec.Incarnation, Seq: seq, Data: data}}); err != nil {
				t.Fatal(err)
			}
			if seq%64 == 0 {
				if _, err := s.SaveSnapshots(ctx, []Snapshot{{Owner: "o", ID: "s", Incarnation: rec.Incarnation, Data: bytes.Repeat(data, 20), Seq: seq}}); err != nil {
					t.Fatal(err)
				}
			}
		}
		cp, err := s.LoadCheckpoint(ctx, "o", "s")
		if err != nil {
			t.Fatal(err)
		}
		entries, err := s.LoadLog(ctx, "o", "s", 0)
		if err != nil {
			t.Fatal(err)
		}
		out := [][]byte{cp.Data, []byte(fmt.Sprint(cp.Seq, len(entries)))}
		for _, e := range entries {
			out = append(out, []byte(fmt.Sprint(e.Seq)), e.Data)
		}
		return out
	}
	var plain, pinned [][]byte
	t.Run("plain", func(t *testing.T) { plain = run(t, false) })
	t.Run("pinned", func(t *testing.T) { pinned = run(t, true) })
	if len(plain) != len(pinned) || len(plain) != 2+2*(300-256) {
		t.Fatalf("plain %d parts, pinned %d", len(plain), len(pinned))
	}
	for i := range plain {
		if !bytes.Equal(plain[i], pinned[i]) {
			t.Fatalf("part %d differs", i)
		}
	}
}

// SQLite's page cache lives in the pool configured at init: after a store
// has written and read pages, slots of the pool are in use (without the
// pool, SQLite mallocs every cached page and the count stays 0). Every
// other test of this package runs with the pool as well.
func TestPageCachePool(t *testing.T) {
	if pageCachePoolUsed() < 0 {
		t.Skip("not modernc.org/sqlite on linux/amd64 or arm64")
	}
	ctx := context.Background()
	s, err := Open(ctx, "sqlite:///"+filepath.Join(t.TempDir(), "pool.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateSession(ctx, SessionRecord{Owner: "o", ID: "s", Dimension: 4, ModelName: "m"}); err != nil {
		t.Fatal(err)
	}
	rec, err := s.GetSession(ctx, "o", "s")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendLog(ctx, []LogEntry{{Owner: "o", SessionID: "s", Incarnation: rec.Incarnation, Seq: 1, Data: bytes.Repeat([]byte("x"), 5000)}}); err != nil {
		t.Fatal(err)
	}
	if used := pageCachePoolUsed(); used <= 0 {
		t.Fatalf("page cache pool slots in use = %d with a store open, want > 0", used)
	}
}
