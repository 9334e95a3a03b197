package actors

import (
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// What a sample acknowledged survives a restart: the summary's last sample
// and counters, and the episodes it saw, so that a condition that still
// holds after the restart continues its episode instead of being raised
// again as a new anomaly.
func TestObserverSampleStateSurvivesRestart(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	ca := e.cluster(own, AggregationWeightedAverage, 0)
	e.steady(own, ca, 0, 4)
	watched := e.region(own, 0.99, 3600)
	ok(e.layers.AttachCluster(ctx, own, watched.ID, ca))(t)
	ok2(e.layers.EnsureObserver(ctx, own, 3600, []string{watched.ID}))(t)
	e.switchTopic(own, ca, 5)
	ok(e.layers.ClusterState(ctx, own, ca))(t) // behind the drift event

	if s := ok(e.layers.ObserverSample(ctx, own))(t); len(s.GetNewAnomalies()) != 1 {
		t.Fatalf("first sample found %v, want one anomaly", s.GetNewAnomalies())
	}
	if s := ok(e.layers.ObserverSample(ctx, own))(t); len(s.GetNewAnomalies()) != 0 {
		t.Fatalf("second sample found %v, want none (the episode continues)", s.GetNewAnomalies())
	}
	before := ok(e.layers.ObserverSummary(ctx, own, 20))(t)
	if before.GetSamples() != 2 || before.GetLastSampleUnixNano() == 0 || before.GetTotalClustersObserved() != 1 {
		t.Fatalf("summary before the restart = %v", before)
	}

	e.restart()
	ctx = ctxT(t)
	after := ok(e.layers.ObserverSummary(ctx, own, 20))(t)
	if after.GetSamples() != before.GetSamples() || after.GetLastSampleUnixNano() != before.GetLastSampleUnixNano() ||
		after.GetTotalClustersObserved() != before.GetTotalClustersObserved() || after.GetAnomalyCount() != 1 {
		t.Fatalf("summary after the restart = %v, want %v", after, before)
	}
	if s := ok(e.layers.ObserverSample(ctx, own))(t); len(s.GetNewAnomalies()) != 0 {
		t.Fatalf("sample after the restart raised %v again; the episode was already raised", s.GetNewAnomalies())
	}
	if as := ok(e.layers.ObserverAnomalies(ctx, own, 20))(t); len(as) != 1 {
		t.Fatalf("anomalies after the restart and a sample = %d, want 1", len(as))
	}

	// Concurrent samples are recorded one after the other: none fails,
	// none raises the episode again, each is counted.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := e.layers.ObserverSample(ctx, own)
			if err == nil && len(s.GetNewAnomalies()) != 0 {
				t.Errorf("concurrent sample raised %v", s.GetNewAnomalies())
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	e.restart()
	if got := ok(e.layers.ObserverSummary(ctxT(t), own, 20))(t).GetSamples(); got != before.GetSamples()+5 {
		t.Fatalf("samples after restart = %d, want %d", got, before.GetSamples()+5)
	}
}

// When a sample's write is refused because a newer activation of the
// observer took its row (cluster mode), that sample, every write waiting
// behind it and every one arriving before the actor has stopped are
// answered 503 at once (none waits for its ask to time out), and the next
// request runs on a new activation.
func TestSupersededObserverAnswersEveryWaitingWrite(t *testing.T) {
	held := &heldAnomalyStore{entered: make(chan struct{}), release: make(chan struct{})}
	st := newWrappedStack(t, func(s *persistence.Store) LayerStore { held.Store = s; return held })
	ctx := ctxT(t)
	const own = "tenant-a"
	info := ok2(st.layers.EnsureObserver(ctx, own, 3600, nil))(t)

	first := make(chan error, 1)
	go func() { _, err := st.layers.ObserverSample(ctx, own); first <- err }()
	<-held.entered // its write is in flight

	// Six writes reach the actor's mailbox now, before the sample's write
	// is answered (sent from here, in order: see sendNow).
	pid := ok(st.layers.observers.Get(ctx, own))(t)
	var reqs []proto.Message
	for range 3 {
		reqs = append(reqs, &pb.ObserverSampleRequest{Owner: own}, &pb.ObserverClearRequest{Owner: own})
	}
	results := sendNow(st.layers.root, pid, reqs...)
	if _, err := st.store.ActivateObserver(ctx, own, info.ID); err != nil { // a newer activation
		t.Fatal(err)
	}
	close(held.release)
	superseded := func(err error) bool {
		return semvec.KindOf(err) == semvec.KindUnavailable && strings.Contains(err.Error(), "newer activation")
	}
	if err := <-first; !superseded(err) {
		t.Fatalf("the held sample: %v, want superseded", err)
	}
	for _, err := range results() {
		if err != nil && !superseded(err) { // nil: served by the next activation
			t.Errorf("a waiting write: %v, want superseded at once (or served by the next activation)", err)
		}
	}
	if _, err := st.layers.ObserverSample(ctx, own); err != nil {
		t.Fatalf("the next sample, on a new activation: %v", err)
	}
}

// The anomaly log reads the same before and after a restart, also when one
// sample raised several: newest first by its sequence (before, the live
// log listed one sample's anomalies oldest first, the restarted one newest
// first, so anomalies?limit=1 changed answer across a restart).
func TestAnomalyOrderSurvivesRestart(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	var regions []string
	for range 2 {
		r := e.region(own, 0.99, 3600)
		regions = append(regions, r.ID)
		for k := range 2 {
			c := e.cluster(own, AggregationWeightedAverage, 0)
			ok(e.layers.AttachCluster(ctx, own, r.ID, c))(t)
			if k == 0 {
				e.steady(own, c, len(regions), 1) // the region's busy cluster: idle peers, divergence
			}
		}
	}
	ok2(e.layers.EnsureObserver(ctx, own, 3600, regions))(t)
	if s := ok(e.layers.ObserverSample(ctx, own))(t); len(s.GetNewAnomalies()) < 2 {
		t.Fatalf("the sample raised %v, want at least two anomalies", s.GetNewAnomalies())
	}
	ids := func() []string {
		var out []string
		for _, a := range ok(e.layers.ObserverAnomalies(ctxT(t), own, 20))(t) {
			out = append(out, a.GetAnomalyId())
		}
		return out
	}
	before := ids()
	e.restart()
	if after := ids(); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("anomalies after the restart %v, before %v", after, before)
	}
}

// Periodic samples run one at a time, and the next one no sooner after the
// last ended than that one took: sampling a large topology takes at most
// half of the time, however short the interval.
func TestTickPacing(t *testing.T) {
	var p tickPacing
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	if !p.start(at(0)) {
		t.Fatal("the first tick did not start a sample")
	}
	if p.start(at(1)) {
		t.Fatal("a tick started a sample while one runs")
	}
	p.done(at(0), at(2)) // it took 2 s
	for _, s := range []float64{2, 3, 3.9} {
		if p.start(at(s)) {
			t.Fatalf("a tick at %v s started a sample; the last took 2 s and ended at 2 s", s)
		}
	}
	if !p.start(at(4)) {
		t.Fatal("the tick at 4 s did not start a sample")
	}
	p.done(at(4), at(4.1)) // a quick one: the next may come soon
	if !p.start(at(4.2)) {
		t.Fatal("the tick at 4.2 s did not start a sample after a 0.1 s one")
	}
}

// An observer with no registered regions has nothing to observe: its
// periodic ticks run no sample (before, each wrote the sample state, once a
// second per idle tenant at the shortest interval), while a sample asked
// for still runs and is counted.
func TestAPeriodicTickWithNoRegionsWritesNothing(t *testing.T) {
	held := &heldAnomalyStore{entered: make(chan struct{}), release: make(chan struct{})}
	close(held.release) // counts, holds nothing
	st := newWrappedStack(t, func(s *persistence.Store) LayerStore { held.Store = s; return held })
	ctx := ctxT(t)
	const own = "tenant-a"
	ok2(st.layers.EnsureObserver(ctx, own, 3600, nil))(t)
	pid := ok(st.layers.observers.Get(ctx, own))(t)
	for range 3 {
		st.layers.root.Send(pid, &pb.ObserverTick{})
	}
	ok(st.layers.ObserverSample(ctx, own))(t) // one asked for, after the ticks
	if s := ok(st.layers.ObserverSummary(ctx, own, 1))(t); s.GetSamples() < 1 {
		t.Fatalf("samples = %d, want the one asked for", s.GetSamples())
	}
	// Shutdown waits for the observer's work and writes in flight.
	if err := st.layers.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := held.calls.Load(); got != 1 {
		t.Fatalf("%d sample writes, want 1 (the ticks with no regions wrote)", got)
	}
}
