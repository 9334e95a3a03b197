package persistence_test

import (
	"context"
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
func TestActivationWaitsForAppendsOfTheOldEpoch(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := context.Background()
		for round := range 30 {
			id := fmt.Sprint("s", round)
			rec := session("a", id)
			rec.Epoch = 1
			must(t, s.CreateSession(ctx, rec))
			inc := incarnation(t, s, "a", id)
			var mu sync.Mutex
			acked := map[int64]bool{}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := range 4 { // group commits from 4 goroutines, distinct seqs
				wg.Add(1)
				go func() {
					defer wg.Done()
					for seq := int64(w + 1); ; seq += 4 {
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
