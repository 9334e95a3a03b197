package actors

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
)

// fakeRegionAppender records the calls of the region log; the first call
// waits for release when it is set, and a region named "refused" is
// refused as superseded.
type fakeRegionAppender struct {
	mu      sync.Mutex
	calls   [][]persistence.RegionEvents
	entered chan struct{}
	release chan struct{}
}

func (f *fakeRegionAppender) AppendRegionEventBatches(_ context.Context, batches []persistence.RegionEvents, _ int) ([]error, error) {
	f.mu.Lock()
	f.calls = append(f.calls, batches)
	first := len(f.calls) == 1
	f.mu.Unlock()
	if first && f.release != nil {
		close(f.entered)
		<-f.release
	}
	refused := make([]error, len(batches))
	for i, b := range batches {
		if b.RegionID == "refused" {
			refused[i] = persistence.ErrSuperseded
		}
	}
	return refused, nil
}

func (f *fakeRegionAppender) sizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int
	for _, c := range f.calls {
		out = append(out, len(c))
	}
	return out
}

func eventsOf(region string, n int) persistence.RegionEvents {
	b := persistence.RegionEvents{Owner: "o", RegionID: region, Epoch: 1}
	for i := range n {
		b.Items = append(b.Items, persistence.LoggedItem{Seq: int64(i + 1), Data: []byte("e")})
	}
	return b
}

// The regions' writes queued while a commit runs share the next
// transaction, each writer gets its own batch's outcome, and after close a
// write is made alone.
func TestRegionLogGroupsWrites(t *testing.T) {
	f := &fakeRegionAppender{entered: make(chan struct{}), release: make(chan struct{})}
	l := newRegionLog(f)
	ctx := ctxT(t)
	first := make(chan error, 1)
	go func() { first <- l.write(ctx, eventsOf("r0", 1)) }()
	<-f.entered
	const regions = 20
	errs := make([]error, regions)
	var wg sync.WaitGroup
	for i := range regions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			region := fmt.Sprintf("r%d", i+1)
			if i == 7 {
				region = "refused"
			}
			errs[i] = l.write(ctx, eventsOf(region, 2))
		}()
	}
	for l.queue.queued() < regions {
		time.Sleep(time.Millisecond)
	}
	close(f.release)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if want := i == 7; (err != nil) != want {
			t.Errorf("write %d: %v, refused %v", i, err, want)
		}
	}
	if got := f.sizes(); fmt.Sprint(got) != fmt.Sprint([]int{1, regions}) {
		t.Fatalf("transactions of %v writes, want [1 %d]", got, regions)
	}
	l.closeWithin(ctx)
	if err := l.write(ctx, eventsOf("late", 1)); err != nil {
		t.Fatal(err)
	}
	if got := f.sizes(); len(got) != 3 || got[2] != 1 {
		t.Fatalf("a write after close: transactions of %v writes, want it alone", got)
	}
}

// A transaction takes at most regionLogRows events (a write of more has
// one of its own) and is followed by a pause as long as it took, and a
// write whose writer's deadline has passed is refused without being
// written.
func TestRegionLogBoundsItsTransactions(t *testing.T) {
	f := &fakeRegionAppender{}
	pauses := 0
	l := &regionLog{store: f, pause: func(time.Duration) { pauses++ }}
	defer func() {
		if len(f.calls) != 3 || len(f.calls[0]) != 2 || len(f.calls[1]) != 1 || len(f.calls[2]) != 1 {
			t.Errorf("transactions %v, want writes of 2, 1 and 1 regions", f.sizes())
		}
		if pauses != 3 {
			t.Errorf("%d pauses, want one after each of the 3 transactions", pauses)
		}
	}()
	half := regionLogRows / 2
	jobs := []regionLogJob{
		{batch: eventsOf("a", half)}, {batch: eventsOf("b", half)}, // one transaction
		{batch: eventsOf("c", 1)}, // alone: a would-be third of the first
		{batch: eventsOf("late", 1)},
		{batch: eventsOf("big", regionLogRows+1)}, // alone
	}
	due := time.Now().Add(time.Minute)
	for i := range jobs {
		jobs[i].due, jobs[i].done = due, make(chan error, 1)
	}
	jobs[3].due = time.Now().Add(-time.Second)
	l.commit(jobs)
	for i, j := range jobs {
		err := <-j.done
		if late := i == 3; late != (semvec.KindOf(err) == semvec.KindUnavailable) || (!late && err != nil) {
			t.Errorf("write %d (%s): %v", i, j.batch.RegionID, err)
		}
	}
}

// Shutdown stops waiting for the region log at its deadline: closeWithin
// returns when its context ends while a commit still hangs in the
// database, and the writes queued behind it end at their writers' own
// deadlines rather than never.
func TestRegionLogCloseStopsWaitingAtTheDeadline(t *testing.T) {
	f := &fakeRegionAppender{entered: make(chan struct{}), release: make(chan struct{})}
	l := newRegionLog(f)
	first := make(chan error, 1)
	go func() { first <- l.write(context.Background(), eventsOf("a", 1)) }()
	<-f.entered // the first commit hangs in the database
	queued := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		queued <- l.write(ctx, eventsOf("b", 1))
	}()
	if err := <-queued; semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("a write queued behind a hung commit: %v, want Unavailable at its deadline", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	l.closeWithin(ctx) // returns: the test would hang otherwise
	if ctx.Err() == nil {
		t.Fatal("closeWithin returned before its deadline with a commit still hanging")
	}
	close(f.release)
	if err := <-first; err != nil {
		t.Fatalf("the hung commit, once the database answered: %v", err)
	}
}
