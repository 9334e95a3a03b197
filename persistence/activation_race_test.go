package persistence_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/semvec-go/semvec/persistence"
)

// TestActivationWaitsForAppendsOfTheOldEpoch: a writer appends entries of epoch e as
// fast as it can while another activation takes epoch e+1 and reads the
// log right after. Every entry acknowledged to the old writer must be in
// what the new activation read (else an acknowledged write is lost: the
// new activation numbers its next entry from what it read).
//
// With 16 writers their appends overlap without a gap; on PostgreSQL an
// activation that waited for their locks before taking the epoch was
// starved by them (KEY SHARE is granted to newcomers while a FOR UPDATE
// waits) until its operation timeout.
func TestActivationWaitsForAppendsOfTheOldEpoch(t *testing.T) {
	for _, c := range []struct{ writers, rounds int }{{4, 30}, {16, 8}} {
		t.Run(fmt.Sprint(c.writers, "writers"), func(t *testing.T) { activationRace(t, c.writers, c.rounds) })
	}
}

func activationRace(t *testing.T, writers, rounds int) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := context.Background()
		for round := range rounds {
			id := fmt.Sprint("s", round)
			rec := session("a", id)
			rec.Epoch = 1
			must(t, s.CreateSession(ctx, rec))
			inc := incarnation(t, s, "a", id)
			var mu sync.Mutex
			acked := map[int64]bool{}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := range writers { // group commits from several goroutines, distinct seqs
				wg.Add(1)
				go func() {
					defer wg.Done()
					for seq := int64(w + 1); ; seq += int64(writers) {
						select {
						case <-stop:
							return
						default:
						}
						refused, err := s.AppendLog(ctx, []persistence.LogEntry{{Owner: "a", SessionID: id, Incarnation: inc, Epoch: 1, Seq: seq, Data: []byte("x")}})
						if err == nil && refused[0] == nil {
							mu.Lock()
							acked[seq] = true
							mu.Unlock()
						}
						if err == nil && refused[0] != nil {
							return
						}
					}
				}()
			}
			time.Sleep(time.Duration(5+round%7) * time.Millisecond)
			_, err := s.ActivateSession(ctx, "a", id)
			must(t, err)
			got, err := s.LoadLog(ctx, "a", id, 0)
			must(t, err)
			close(stop)
			wg.Wait()
			seen := map[int64]bool{}
			for _, e := range got {
				seen[e.Seq] = true
			}
			for seq := range acked {
				if !seen[seq] {
					t.Fatalf("round %d: entry %d acknowledged to the superseded activation but not read by the new one (%d read, %d acked)", round, seq, len(got), len(acked))
				}
			}
		}
	})
}

// TestRegionActivationWaitsForEventsOfTheOldEpoch is the same race for a
// layer log (a region's events; the observers' anomalies share the code):
// 16 writers append events of epoch 0 back to back while an activation
// takes epoch 1 and reads the events right after.
func TestRegionActivationWaitsForEventsOfTheOldEpoch(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := context.Background()
		const writers = 16
		for round := range 6 {
			id := fmt.Sprint("r", round)
			r, m := region("a", id, round)
			must(t, s.CreateRegion(ctx, r, m))
			var mu sync.Mutex
			acked := map[int64]bool{}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for seq := int64(w + 1); ; seq += writers {
						select {
						case <-stop:
							return
						default:
						}
						err := s.AppendRegionEvents(ctx, "a", id, 0, []persistence.LoggedItem{{Seq: seq, Data: []byte("e")}}, 1<<20)
						if err == nil {
							mu.Lock()
							acked[seq] = true
							mu.Unlock()
						}
						if errors.Is(err, persistence.ErrSuperseded) {
							return
						}
					}
				}()
			}
			time.Sleep(time.Duration(5+round%7) * time.Millisecond)
			epoch, err := s.ActivateRegion(ctx, "a", id)
			must(t, err)
			if epoch != 1 {
				t.Fatalf("round %d: activation took epoch %d, want 1", round, epoch)
			}
			got, err := s.LoadRegionEvents(ctx, "a", id, 1<<20)
			must(t, err)
			close(stop)
			wg.Wait()
			seen := map[int64]bool{}
			for _, e := range got {
				seen[e.Seq] = true
			}
			for seq := range acked {
				if !seen[seq] {
					t.Fatalf("round %d: event %d acknowledged to the superseded activation but not read by the new one (%d read, %d acked)", round, seq, len(got), len(acked))
				}
			}
		}
	})
}
