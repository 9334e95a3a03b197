package actors

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// fanOutCounts counts the writes a drift's fan-out makes: region event
// transactions and the events they carry, realignment
// records, and the sessions' group commits and the entries they carry.
type fanOutCounts struct {
	regionWrites, regionEvents, records atomic.Int64
	logCommits, logEntries              atomic.Int64
}

type countingLayerStore struct {
	*persistence.Store
	n *fanOutCounts
}

func (c countingLayerStore) AppendRegionEventBatches(ctx context.Context, batches []persistence.RegionEvents, keep int) ([]error, error) {
	c.n.regionWrites.Add(1)
	for _, b := range batches {
		c.n.regionEvents.Add(int64(len(b.Items)))
	}
	return c.Store.AppendRegionEventBatches(ctx, batches, keep)
}

func (c countingLayerStore) RecordRealignment(ctx context.Context, owner, regionID string, epoch int64, at time.Time, count int64) error {
	c.n.records.Add(1)
	return c.Store.RecordRealignment(ctx, owner, regionID, epoch, at, count)
}

type countingSessionStore struct {
	*persistence.Store
	n *fanOutCounts
}

func (c countingSessionStore) AppendLog(ctx context.Context, entries []persistence.LogEntry) ([]error, error) {
	c.n.logCommits.Add(1)
	c.n.logEntries.Add(int64(len(entries)))
	return c.Store.AppendLog(ctx, entries)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// driftTurn is turn i of a conversation that drifts on two turns of three.
func driftTurn(i int) []float32 {
	if i%3 == 2 {
		return topic((i/3+4)%8, 0)
	}
	return topic((i/3)%8, i)
}

// TestDriftFanOutCost measures what one session's drifting turns cost at the
// widest fan-out the caps allow (persistence.DefaultMaxParents, now 8):
// the session is a member of that many clusters, each attached to the same
// that many regions (docs/layers.md, "Caps"). It runs the
// same turns on a session in no cluster first and charges each drifting
// turn the difference in the process's CPU time, until every region event
// of those turns is on disk and the realignments are done; it reports the
// writes they made. Run it with -v to see the figures; FANOUT_PROFILE=<file>
// writes a CPU profile of the measured turns.
func TestDriftFanOutCost(t *testing.T) {
	if testing.Short() || raceDetector {
		t.Skip("a measurement: builds the widest fan-out the caps allow, and means nothing with -race")
	}
	for _, c := range []struct {
		threshold float64
		run       bool
	}{{1, false}, {0.5, false}, {0.5, true}} {
		t.Run(fmt.Sprintf("threshold %v, clusters run %v", c.threshold, c.run), func(t *testing.T) {
			measureFanOut(t, c.threshold, c.run)
		})
	}
}

// measureFanOut measures drifting turns of a session in as many clusters
// attached to as many regions (the caps) of the threshold given. With runClusters, each
// cluster's backing session has had a turn, so a realignment moves their
// states (without, they have none, and it moves nothing).
func measureFanOut(t *testing.T, threshold float64, runClusters bool) {
	n := &fanOutCounts{}
	e := &layersEnv{t: t, dbPath: filepath.Join(t.TempDir(), "layers.db"),
		wrap:         func(s *persistence.Store) LayerStore { return countingLayerStore{s, n} },
		wrapSessions: func(s *persistence.Store) SessionStore { return countingSessionStore{s, n} }}
	e.start()
	t.Cleanup(e.stop)
	ctx := ctxT(t)
	const own, fan, turns = "tenant-a", persistence.DefaultMaxParents, 30
	lone, sid := e.session(own), e.session(own)
	var clusters []string
	for range fan {
		c := e.cluster(own, AggregationWeightedAverage, 0)
		ok(e.layers.AddMember(ctx, own, c, sid))(t)
		if runClusters {
			e.run(own, c, topic(1, 0))
		}
		clusters = append(clusters, c)
	}
	var regions []string
	for range fan {
		r := e.region(own, threshold, 3600)
		for _, c := range clusters {
			ok(e.layers.AttachCluster(ctx, own, r.ID, c))(t)
		}
		regions = append(regions, r.ID)
	}

	run := func(id string, from, to int) (drifted int, cpu time.Duration) {
		start := cpuTime()
		for i := from; i < to; i++ {
			if e.run(own, id, driftTurn(i)).GetDriftDetected() {
				drifted++
			}
		}
		return drifted, cpuTime() - start
	}
	// Warm up: every cluster and region actor runs, and the lone session
	// has had its turns, before anything is measured.
	warm, _ := run(sid, 0, 3)
	written := func() int64 { return n.regionEvents.Load() }
	settle := func(events int64) (eventsWritten time.Time) {
		deadline := time.Now().Add(60 * time.Second)
		for written() < events {
			if time.Now().After(deadline) {
				t.Fatalf("%d region events written after 60 s, want %d", written(), events)
			}
			time.Sleep(5 * time.Millisecond)
		}
		eventsWritten = time.Now()
		// The realignments (at most one per region per drifting turn) and
		// the blends they make settle.
		for last := (countsAt{records: -1}); last != snapshotCounts(n); {
			last = snapshotCounts(n)
			time.Sleep(100 * time.Millisecond)
		}
		return eventsWritten
	}
	settle(int64(warm * fan * fan))
	_, base := run(lone, 3, 3+turns)

	n0 := snapshotCounts(n)
	if f := os.Getenv("FANOUT_PROFILE"); f != "" {
		out, _ := os.Create(f)
		_ = pprof.StartCPUProfile(out)
		defer pprof.StopCPUProfile()
	}
	start, wall := cpuTime(), time.Now()
	drifted, _ := run(sid, 3, 3+turns)
	took := settle(int64((warm + drifted) * fan * fan)).Sub(wall)
	cpu := cpuTime() - start - base
	for _, r := range regions { // every event of every drifting turn is on disk
		got, err := e.store.LoadRegionEvents(ctx, own, r, maxRegionEvents)
		if err != nil {
			t.Fatal(err)
		}
		if want := min((warm+drifted)*fan, maxRegionEvents); len(got) != want {
			t.Fatalf("region %s holds %d events on disk, want %d", r, len(got), want)
		}
	}
	d := snapshotCounts(n).minus(n0)
	per := func(v int64) float64 { return float64(v) / float64(drifted) }
	t.Logf("%d×%d, threshold %v, clusters run %v: %d drifting turns of %d; per drifting turn: CPU %.1f ms (wall %.1f ms until its events are written); "+
		"region events %.0f in %.1f transactions; realignment records %.1f; session log entries %.1f in %.1f commits",
		fan, fan, threshold, runClusters, drifted, turns, float64(cpu.Microseconds())/1000/float64(drifted),
		float64(took.Microseconds())/1000/float64(drifted),
		per(d.regionEvents), per(d.regionWrites), per(d.records), per(d.logEntries), per(d.logCommits))
	// The regions' writes of a drift share transactions (regionLog): a
	// transaction per region write would be fan of them.
	if got := per(d.regionWrites); got > fan/3 {
		t.Errorf("%.1f region event transactions per drifting turn, want at most %d", got, fan/3)
	}
}

type countsAt struct{ regionWrites, regionEvents, records, logCommits, logEntries int64 }

func snapshotCounts(n *fanOutCounts) countsAt {
	return countsAt{n.regionWrites.Load(), n.regionEvents.Load(), n.records.Load(), n.logCommits.Load(), n.logEntries.Load()}
}

func (a countsAt) minus(b countsAt) countsAt {
	return countsAt{a.regionWrites - b.regionWrites, a.regionEvents - b.regionEvents, a.records - b.records,
		a.logCommits - b.logCommits, a.logEntries - b.logEntries}
}

// TestDriftFanOutFairness measures what another tenant's turns take while
// one tenant runs drifting turns from 4 goroutines, each on a session in
// the same clusters, each attached to the same regions, as many as the caps allow. It is a load
// measurement, run only with SEMVEC_FANOUT_FAIRNESS set: 1 for regions of
// threshold 0.5 (they realign), norealign for threshold 1;
// SEMVEC_FANOUT_WIDTH=n uses n clusters × n regions, n at most the caps
// (the 16 × 16 and 32 × 32 figures of docs/layers.md were measured when the
// caps were 32).
func TestDriftFanOutFairness(t *testing.T) {
	if os.Getenv("SEMVEC_FANOUT_FAIRNESS") == "" {
		t.Skip("a load measurement: set SEMVEC_FANOUT_FAIRNESS=1")
	}
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own, other, threads = "tenant-a", "tenant-b", 4
	fan := persistence.DefaultMaxParents
	if v, err := strconv.Atoi(os.Getenv("SEMVEC_FANOUT_WIDTH")); err == nil {
		fan = v
	}
	var sids []string
	for range threads {
		sids = append(sids, e.session(own))
	}
	var clusters []string
	for range fan {
		c := e.cluster(own, AggregationWeightedAverage, 0)
		for _, sid := range sids {
			ok(e.layers.AddMember(ctx, own, c, sid))(t)
		}
		clusters = append(clusters, c)
	}
	for range fan {
		r := e.region(own, fairnessThreshold(), 60)
		for _, c := range clusters {
			ok(e.layers.AttachCluster(ctx, own, r.ID, c))(t)
		}
	}
	victim := e.session(other)
	latencies := func(d time.Duration) (p50, p99 time.Duration) {
		var took []time.Duration
		for i, end := 0, time.Now().Add(d); time.Now().Before(end); i++ {
			start := time.Now()
			e.run(other, victim, topic(i%2, i))
			took = append(took, time.Since(start))
			time.Sleep(2 * time.Millisecond)
		}
		slices.Sort(took)
		return took[len(took)/2], took[len(took)*99/100]
	}
	q50, q99 := latencies(2 * time.Second)
	stop := make(chan struct{})
	var drifted atomic.Int64
	var wg sync.WaitGroup
	for _, sid := range sids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				res, err := AskSession[*pb.RunResponse](ctx, e.sessions, sid, &pb.RunRequest{
					Owner: own, SessionId: sid, Message: "turn", MessageVec: driftTurn(i),
					ShortCircuitThreshold: 0.85, NowUnixNano: time.Now().UnixNano(),
				})
				if err == nil && res.GetDriftDetected() {
					drifted.Add(1)
				}
			}
		}()
	}
	time.Sleep(time.Second)
	l50, l99 := latencies(4 * time.Second)
	close(stop)
	wg.Wait()
	t.Logf("another tenant's turns: quiet p50 %v p99 %v; under 4 threads of %d×%d drifting turns p50 %v p99 %v (%d drifting turns)",
		q50, q99, fan, fan, l50, l99, drifted.Load())
}

// fairnessThreshold is the regions' threshold SEMVEC_FANOUT_FAIRNESS asks for.
func fairnessThreshold() float64 {
	if os.Getenv("SEMVEC_FANOUT_FAIRNESS") == "norealign" {
		return 1
	}
	return 0.5
}
