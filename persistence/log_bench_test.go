package persistence_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/semvec-go/semvec/persistence"
)

// BenchmarkAppendLog measures one group commit: n entries, one per
// session (64 as at 64 connections), of a turn's size with dense vectors
// (3.2 KB) and of a smaller one (600 B).
func BenchmarkAppendLog(b *testing.B) {
	for _, c := range []struct{ n, size int }{{64, 3200}, {64, 600}, {8, 600}, {1, 600}} {
		size := c.size
		b.Run(fmt.Sprintf("%dx%dB", c.n, size), func(b *testing.B) {
			ctx := context.Background()
			s, incs := benchSessions(b, c.n)
			entries := make([]persistence.LogEntry, c.n)
			for i := range entries {
				data := make([]byte, size)
				for k := range data {
					data[k] = byte(k * (i + 1))
				}
				entries[i] = persistence.LogEntry{Owner: "o", SessionID: fmt.Sprintf("s%d", i), Incarnation: incs[i], Data: data}
			}
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				for i := range entries {
					entries[i].Seq = int64(n + 1)
				}
				if _, err := s.AppendLog(ctx, entries); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCheckpoints measures one checkpoint batch: n sessions' 44 KB
// checkpoints (a 100-turn session at 384-d), each deleting the 64 log
// entries it covers.
func BenchmarkCheckpoints(b *testing.B) {
	for _, n := range []int{1, 6, 24} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ctx := context.Background()
			s, incs := benchSessions(b, n)
			snaps := make([]persistence.Snapshot, n)
			for i := range snaps {
				data := make([]byte, 44<<10)
				for k := range data {
					data[k] = byte(k * (i + 1))
				}
				snaps[i] = persistence.Snapshot{Owner: "o", ID: fmt.Sprintf("s%d", i), Incarnation: incs[i], Data: data}
			}
			entries := make([]persistence.LogEntry, 0, 64*n)
			b.ResetTimer()
			for it := 0; it < b.N; it++ {
				b.StopTimer()
				entries = entries[:0]
				for _, sn := range snaps {
					for k := 1; k <= 64; k++ {
						entries = append(entries, persistence.LogEntry{Owner: "o", SessionID: sn.ID, Incarnation: sn.Incarnation, Seq: int64(64*it + k), Data: make([]byte, 600)})
					}
				}
				if _, err := s.AppendLog(ctx, entries); err != nil {
					b.Fatal(err)
				}
				for i := range snaps {
					snaps[i].Seq = int64(64 * (it + 1))
				}
				b.StartTimer()
				if _, err := s.SaveSnapshots(ctx, snaps); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchSessions opens a SQLite store in b's temporary directory with n
// sessions s0…s(n-1) of owner "o", and returns it with their incarnations.
func benchSessions(b *testing.B, n int) (*persistence.Store, []string) {
	ctx := context.Background()
	s, err := persistence.Open(ctx, "sqlite:///"+filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	incs := make([]string, n)
	for i := range incs {
		id := fmt.Sprintf("s%d", i)
		if err := s.CreateSession(ctx, session("o", id)); err != nil {
			b.Fatal(err)
		}
		rec, err := s.GetSession(ctx, "o", id)
		if err != nil {
			b.Fatal(err)
		}
		incs[i] = rec.Incarnation
	}
	return s, incs
}
