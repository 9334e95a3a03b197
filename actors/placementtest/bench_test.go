package placementtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/semvec-go/semvec/actors"
	pb "github.com/semvec-go/semvec/proto"
)

// BenchmarkAskSession: one session's metrics asked from the member that
// hosts it (local: the Registry directly) and from another member (remote:
// through the session's router, over protoactor's remote on loopback).
func BenchmarkAskSession(b *testing.B) {
	nodes := startNodes(b, 2, filepath.Join(b.TempDir(), "bench.db"))
	ctx := context.Background()
	id, err := nodes[0].sessions.Create(ctx, "o", actors.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	hostAddr, err := nodes[0].place.HostOf(ctx, "session", "o", id)
	if err != nil {
		b.Fatal(err)
	}
	local, remote := nodes[0], nodes[1]
	if hostAddr == nodes[1].c.ActorSystem.Address() {
		local, remote = nodes[1], nodes[0]
	}
	for _, c := range []struct {
		name string
		nd   *node
	}{{"local", local}, {"remote", remote}} {
		b.Run(c.name, func(b *testing.B) {
			req := &pb.MetricsRequest{Owner: "o", SessionId: id}
			for b.Loop() {
				if _, err := actors.AskSession[*pb.MetricsResponse](ctx, c.nd.sessions, id, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTurns: /run turns (durable, SQLite) on 64 sessions from 32
// concurrent callers, through one member of a one-member cluster and
// through any of three members of a three-member cluster (a caller picks a
// member per turn, so about two thirds of the turns cross to another
// member). All members share this process and its CPUs: the ratio is the
// cost of routing, not the capacity of three machines. The database is
// TEST_DATABASE_URL when set (cluster mode's PostgreSQL), else a SQLite file
// (where three members' group commits contend for one write lock).
func BenchmarkTurns(b *testing.B) {
	for _, members := range []int{1, 3} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			db := os.Getenv("TEST_DATABASE_URL")
			if db == "" {
				db = filepath.Join(b.TempDir(), "bench.db")
			}
			nodes := startNodes(b, members, db)
			ctx := context.Background()
			ids := make([]string, 64)
			for i := range ids {
				id, err := nodes[0].sessions.Create(ctx, "o", actors.CreateOptions{})
				if err != nil {
					b.Fatal(err)
				}
				ids[i] = id
			}
			var next atomic.Int64
			b.SetParallelism(16)
			cpu0 := processCPU()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					k := int(next.Add(1))
					if _, err := run(ctx, nodes[k%len(nodes)], "o", ids[(k/len(nodes))%len(ids)], k); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "turns/s")
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/turn")
		})
	}
}

// processCPU is the CPU time (user + system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
