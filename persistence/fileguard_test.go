package persistence_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/semvec-go/semvec"
)

// A SQLite database file removed, or replaced by another renamed over it,
// while the store has it open: SQLite's connections kept writing to the
// old file, which no longer had a name, so every commit succeeded and was
// lost when the process ended (the next start found a new, empty
// database). The store now answers the first commit after it, and every
// operation from then on, Unavailable (503), and its Ping fails.
func TestARemovedOrReplacedDatabaseFileIsUnavailable(t *testing.T) {
	for _, how := range []string{"removed", "replaced"} {
		t.Run(how, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			path := filepath.Join(dir, "semvec.db")
			s := openStore(t, "sqlite:///"+path)
			must(t, s.CreateSession(ctx, session("a", "before")))
			must(t, s.Ping(ctx))

			switch how {
			case "removed":
				for _, suffix := range []string{"", "-wal", "-shm"} {
					must(t, os.Remove(path+suffix))
				}
			case "replaced":
				other := filepath.Join(dir, "other.db")
				must(t, os.WriteFile(other, nil, 0o600))
				must(t, os.Rename(other, path))
			}

			unavailable := func(what string, err error) {
				t.Helper()
				if semvec.KindOf(err) != semvec.KindUnavailable || !strings.Contains(err.Error(), "removed or replaced") {
					t.Fatalf("%s after the file was %s: %v, want Unavailable (removed or replaced)", what, how, err)
				}
			}
			unavailable("a commit", s.CreateSession(ctx, session("a", "after")))
			unavailable("a ping", s.Ping(ctx))
			_, err := s.GetSession(ctx, "a", "before")
			unavailable("a read", err)
			_, err = s.ActivateNetwork(ctx, "a")
			unavailable("another commit", err)
		})
	}
}

// The guard leaves a database whose file stays where it was alone, and an
// in-memory database has none.
func TestTheFileGuardKeepsAStoreWhoseFileStays(t *testing.T) {
	ctx := context.Background()
	for _, url := range []string{"sqlite:///" + filepath.Join(t.TempDir(), "semvec.db"), "sqlite:///:memory:"} {
		s := openStore(t, url)
		for i := range 3 {
			must(t, s.CreateSession(ctx, session("a", "s"+string(rune('0'+i)))))
			must(t, s.Ping(ctx))
		}
		if _, err := s.GetSession(ctx, "a", "s2"); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
	}
}
