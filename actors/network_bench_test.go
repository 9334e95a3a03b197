package actors

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/semvec-go/semvec/persistence"
)

// savedBytesStore counts the bytes of network state the layers save.
type savedBytesStore struct {
	*persistence.Store
	bytes atomic.Int64
}

func (s *savedBytesStore) SaveNetworkState(ctx context.Context, owner string, epoch int64, st persistence.NetworkState) error {
	n := len(st.Data)
	for _, p := range st.Partitions {
		n += len(p)
	}
	s.bytes.Add(int64(n))
	return s.Store.SaveNetworkState(ctx, owner, epoch, st)
}

// fullNetworkState is an owner's network state at the enrolment cap:
// maxEnrolments/maxInstances user partitions (64), each holding the whole
// network (maxInstances sessions with 128-character ids, each scored), the
// first active. ids[0] and ids[1] are the first two sessions' ids.
func fullNetworkState(now time.Time) (st *networkState, ids []string) {
	ids = make([]string, maxInstances)
	for i := range ids {
		ids[i] = fmt.Sprintf("s%03d-", i) + strings.Repeat("x", 123)
	}
	st = &networkState{Partitions: map[string]*partition{}}
	for u := 0; u < maxEnrolments/maxInstances; u++ {
		p := newPartition(now)
		for i, id := range ids {
			p.Instances = append(p.Instances, id)
			p.Trust[id] = math.Round(float64((i*7+u)%21)*trustStep*1e9) / 1e9 // as updateTrust keeps them
		}
		p.Transfers, p.Proposals, p.SavedStates, p.SavedAt = 1000+u, 500+u, maxInstances, epochSeconds(now)
		st.Partitions[fmt.Sprintf("user-%02d", u)] = p
	}
	st.Active = "user-00"
	return st, ids
}

// BenchmarkNetworkTransferAtTheCap measures one transfer (a network change:
// enrolment and count saved with the network state) through the network
// actor on SQLite, when the owner's network state is at the enrolment cap
// (fullNetworkState). Its two sessions exist but have no state, so no
// session is blended: what is left is the change and its save.
// cpu-µs/op is the process's CPU time per transfer; saved-B/op the bytes
// of network state it hands to the store.
func BenchmarkNetworkTransferAtTheCap(b *testing.B) {
	ctx := context.Background()
	store := openReplayStore(b)
	const owner = "o"
	now := time.Now()
	st, ids := fullNetworkState(now)
	epoch, err := store.ActivateNetwork(ctx, owner)
	if err != nil {
		b.Fatal(err)
	}
	if err := store.SaveNetworkState(ctx, owner, epoch, st.stored(nil, true)); err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	sys := NewActorSystem(log)
	defer sys.Shutdown()
	ask := &Asker{Root: sys.Root, Timeout: 30 * time.Second}
	sessions := NewSessions(sys.Root, store, ask, SessionConfig{Dim: testDim, ModelName: "test"}, log, nil)
	counted := &savedBytesStore{Store: store}
	layers := NewLayers(sys.Root, counted, ask, sessions, log, nil)
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_ = layers.Shutdown(sctx)
		_ = sessions.Shutdown(sctx)
	}()
	src, dst := ids[0], ids[1]
	for _, id := range []string{src, dst} {
		if _, err := sessions.Create(ctx, owner, CreateOptions{ID: id}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := layers.Transfer(ctx, owner, src, dst, DefaultMaxWeight); err != nil { // activates the network actor
		b.Fatal(err)
	}
	counted.bytes.Store(0)
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := layers.Transfer(ctx, owner, src, dst, DefaultMaxWeight); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(counted.bytes.Load())/float64(b.N), "saved-B/op")
}
