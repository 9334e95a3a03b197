package persistence_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/semvec-go/semvec/persistence"
)

// TestPostgresPoolIsBoundedAndKept: 64 goroutines writing at once use at
// most PoolSize connections, and the pool keeps the connections it opened
// instead of closing all but two after each burst (database/sql's default,
// which made every concurrent transaction start a new server process).
func TestPostgresPoolIsBoundedAndKept(t *testing.T) {
	s := openStore(t, pgURL(t))
	ctx := t.Context()
	const writers = 64
	incs := make([]string, writers)
	for w := range writers {
		id := fmt.Sprint("s", w)
		must(t, s.CreateSession(ctx, session("a", id)))
		incs[w] = incarnation(t, s, "a", id)
	}
	for burst := range 3 {
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 5 {
					seq := int64(burst*5 + i + 1)
					refused, err := s.AppendLog(ctx, []persistence.LogEntry{{Owner: "a", SessionID: fmt.Sprint("s", w), Incarnation: incs[w], Seq: seq, Data: []byte("x")}})
					if err == nil {
						err = refused[0]
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("burst %d: %v", burst, err)
		}
	}
	st := s.PoolStats()
	if st.MaxOpenConnections != persistence.PoolSize {
		t.Fatalf("pool bound %d, want %d", st.MaxOpenConnections, persistence.PoolSize)
	}
	if st.OpenConnections > persistence.PoolSize || st.OpenConnections < 2 {
		t.Fatalf("%d connections open after the bursts, want 2..%d", st.OpenConnections, persistence.PoolSize)
	}
	if st.MaxIdleClosed != 0 {
		t.Fatalf("%d connections closed for want of idle room: the pool does not keep what it opened", st.MaxIdleClosed)
	}
	if st.WaitCount == 0 {
		t.Logf("no caller waited for a connection (%d open)", st.OpenConnections)
	}
	got, err := s.LoadLog(ctx, "a", "s0", 0)
	must(t, err)
	if len(got) != 15 {
		t.Fatalf("s0 holds %d entries, want 15", len(got))
	}
}
