package actors

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	pb "github.com/semvec-go/semvec/proto"
)

// BenchmarkDurableTurns measures /v1/run turns through the session actors,
// the change log and the checkpoints on SQLite, without HTTP: 64 clients,
// each on its own session of 200 (as the load harness's 64 connections).
// cpu-µs/op is the process's CPU time per turn, which a busy machine
// inflates less than the wall time.
func BenchmarkDurableTurns(b *testing.B) {
	store := openReplayStore(b)
	p := startReplayProc(store, replayDim)
	defer p.crash()
	ctx := context.Background()
	const sessions, clients = 200, 64
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	reqs := make([]*pb.RunRequest, 97)
	for i := range reqs {
		reqs[i] = turnRequest("o", "", i, at, false)
	}
	for i := 0; i < sessions; i++ {
		if _, err := p.sessions.Create(ctx, "o", CreateOptions{ID: fmt.Sprintf("s%d", i)}); err != nil {
			b.Fatal(err)
		}
	}
	turn := func(i int) {
		id := fmt.Sprintf("s%d", i%sessions)
		r := reqs[i%len(reqs)]
		req := &pb.RunRequest{Owner: "o", SessionId: id, Message: r.Message, MessageVec: r.MessageVec,
			Response: r.Response, ResponseVec: r.ResponseVec, ShortCircuitThreshold: 0.85}
		if _, err := AskSession[*pb.RunResponse](ctx, p.sessions, id, req); err != nil {
			b.Error(err)
		}
	}
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	var wg sync.WaitGroup
	next := make(chan int, clients)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				turn(i)
			}
		}()
	}
	for i := 0; i < b.N; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}
