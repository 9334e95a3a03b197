package persistence

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
)

// BenchmarkLogLifecycle is the log of a loaded server on SQLite: 64
// sessions take turns, 16 entries (of 1 KB) per group commit, and each
// session writes a 40 KB checkpoint (deleting the entries it covers) every
// 64 entries, three per transaction. ns/op and cpu-µs/op (the process's CPU
// time, which a busy machine inflates less) are per entry, checkpoints
// included. (A WITHOUT ROWID session_log, tried with this benchmark, took
// about 2.5 times as long.)
func BenchmarkLogLifecycle(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite:///"+filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const sessions = 64
	incs := make([]string, sessions)
	seqs := make([]int64, sessions)
	cps := make([]int64, sessions)
	for i := range incs {
		rec := SessionRecord{Owner: "o", ID: fmt.Sprintf("s%d", i), Dimension: 384, ModelName: "m"}
		if err := s.CreateSession(ctx, rec); err != nil {
			b.Fatal(err)
		}
		got, err := s.GetSession(ctx, "o", rec.ID)
		if err != nil {
			b.Fatal(err)
		}
		incs[i] = got.Incarnation
	}
	data := make([]byte, 1024)
	for i := range data {
		data[i] = byte(i*7 + 1)
	}
	state := make([]byte, 40<<10)
	next := 0
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	defer func() {
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
		cpu := ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano()
		b.ReportMetric(float64(cpu)/1e3/float64(b.N), "cpu-µs/op")
	}()
	for n := 0; n < b.N; {
		batch := make([]LogEntry, 0, 16)
		for len(batch) < 16 {
			i := next % sessions
			next++
			seqs[i]++
			batch = append(batch, LogEntry{Owner: "o", SessionID: fmt.Sprintf("s%d", i), Incarnation: incs[i], Seq: seqs[i], Data: data})
		}
		if _, err := s.AppendLog(ctx, batch); err != nil {
			b.Fatal(err)
		}
		n += len(batch)
		var snaps []Snapshot
		for k := range batch {
			i := (next - len(batch) + k) % sessions
			if seqs[i]-cps[i] >= 64 {
				snaps = append(snaps, Snapshot{Owner: "o", ID: fmt.Sprintf("s%d", i), Incarnation: incs[i], Data: state, Seq: seqs[i]})
				cps[i] = seqs[i]
			}
		}
		for len(snaps) > 0 {
			k := min(3, len(snaps))
			if _, err := s.SaveSnapshots(ctx, snaps[:k]); err != nil {
				b.Fatal(err)
			}
			snaps = snaps[k:]
		}
	}
}
