package persistence_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
)

func items(from, to int64) []persistence.LoggedItem {
	var out []persistence.LoggedItem
	for s := from; s <= to; s++ {
		out = append(out, persistence.LoggedItem{Seq: s, Data: []byte(fmt.Sprintf("e%d", s))})
	}
	return out
}

func seqs(its []persistence.LoggedItem) []int64 {
	out := make([]int64, len(its))
	for i, it := range its {
		out[i] = it.Seq
		if string(it.Data) != fmt.Sprintf("e%d", it.Seq) {
			panic("data of entry " + fmt.Sprint(it.Seq) + " is " + string(it.Data))
		}
	}
	return out
}

// A region's event log and an observer's anomaly log keep their newest
// entries in order, per owner, and go with their region or observer.
func TestLayerLogs(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		r, m := region("alice", "r1", 10)
		must(t, s.CreateRegion(ctx, r, m))
		rb, mb := region("bob", "r1", 11)
		must(t, s.CreateRegion(ctx, rb, mb))

		must(t, s.AppendRegionEvents(ctx, "alice", "r1", 0, items(1, 3), 5))
		must(t, s.AppendRegionEvents(ctx, "alice", "r1", 0, items(4, 7), 5))
		must(t, s.AppendRegionEvents(ctx, "bob", "r1", 0, items(1, 1), 5))
		got, err := s.LoadRegionEvents(ctx, "alice", "r1", 100)
		must(t, err)
		if fmt.Sprint(seqs(got)) != "[3 4 5 6 7]" {
			t.Fatalf("alice's events = %v, want the newest 5 oldest first", seqs(got))
		}
		got, err = s.LoadRegionEvents(ctx, "alice", "r1", 2)
		must(t, err)
		if fmt.Sprint(seqs(got)) != "[6 7]" {
			t.Fatalf("newest 2 = %v", seqs(got))
		}
		got, err = s.LoadRegionEvents(ctx, "bob", "r1", 100)
		must(t, err)
		if fmt.Sprint(seqs(got)) != "[1]" {
			t.Fatalf("bob's events = %v", seqs(got))
		}
		// A batch written again (its first write landed, its answer was
		// lost) keeps the entries stored and adds the new ones.
		must(t, s.AppendRegionEvents(ctx, "bob", "r1", 0, items(1, 2), 5))
		got, err = s.LoadRegionEvents(ctx, "bob", "r1", 100)
		must(t, err)
		if fmt.Sprint(seqs(got)) != "[1 2]" {
			t.Fatalf("bob's events after a batch written again = %v", seqs(got))
		}
		if err := s.AppendRegionEvents(ctx, "carol", "r1", 0, items(1, 1), 5); semvec.KindOf(err) != semvec.KindNotFound {
			t.Fatalf("events of a region that does not exist: %v, want not found", err)
		}
		// Fencing: a new activation takes the next epoch; the older one's
		// writes are refused, the newer one's land.
		epoch, err := s.ActivateRegion(ctx, "alice", "r1")
		must(t, err)
		if epoch != 1 {
			t.Fatalf("first activation: epoch %d", epoch)
		}
		if err := s.AppendRegionEvents(ctx, "alice", "r1", 0, items(8, 8), 5); !errors.Is(err, persistence.ErrSuperseded) {
			t.Fatalf("a superseded activation's events: %v, want ErrSuperseded", err)
		}
		must(t, s.AppendRegionEvents(ctx, "alice", "r1", 1, items(8, 8), 5))
		if _, err := s.ActivateRegion(ctx, "carol", "r1"); semvec.KindOf(err) != semvec.KindNotFound {
			t.Fatalf("activating a missing region: %v", err)
		}
		must(t, errOf(s.DeleteRegion(ctx, "alice", "r1")))
		got, err = s.LoadRegionEvents(ctx, "alice", "r1", 100)
		must(t, err)
		if len(got) != 0 {
			t.Fatalf("events outlived their region: %v", seqs(got))
		}

		o, _, err := s.EnsureObserver(ctx, persistence.ObserverRecord{ID: "o1", Owner: "alice", MetaSessionID: "o1-meta",
			SampleIntervalSeconds: 60, CreatedAt: ts(20)}, persistence.SessionRecord{Dimension: 384, ModelName: "hash-384"})
		must(t, err)
		oe, err := s.ActivateObserver(ctx, "alice", o.ID)
		must(t, err)
		if err := s.RecordSample(ctx, "alice", o.ID, oe-1, items(1, 4), 3, ""); !errors.Is(err, persistence.ErrSuperseded) {
			t.Fatalf("a superseded observer's anomalies: %v", err)
		}
		must(t, s.RecordSample(ctx, "alice", o.ID, oe, items(1, 4), 3, ""))
		got, err = s.LoadAnomalies(ctx, "alice", o.ID, 100)
		must(t, err)
		if fmt.Sprint(seqs(got)) != "[2 3 4]" {
			t.Fatalf("anomalies = %v", seqs(got))
		}
		got, err = s.LoadAnomalies(ctx, "bob", o.ID, 100)
		must(t, err)
		if len(got) != 0 {
			t.Fatalf("bob sees alice's anomalies: %v", seqs(got))
		}
		if err := s.ClearAnomalies(ctx, "alice", o.ID, oe-1); !errors.Is(err, persistence.ErrSuperseded) {
			t.Fatalf("a superseded observer's clear: %v", err)
		}
		must(t, s.ClearAnomalies(ctx, "alice", o.ID, oe))
		got, err = s.LoadAnomalies(ctx, "alice", o.ID, 100)
		must(t, err)
		if len(got) != 0 {
			t.Fatalf("anomalies after clear = %v", seqs(got))
		}
	})
}

// A sample's anomalies and the observer's sample state are written together,
// fenced like the anomaly log, and read back as written.
func TestRecordSample(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		o, _, err := s.EnsureObserver(ctx, persistence.ObserverRecord{ID: "o1", Owner: "alice", MetaSessionID: "o1-meta",
			SampleIntervalSeconds: 60, CreatedAt: ts(20)}, persistence.SessionRecord{Dimension: 384, ModelName: "hash-384"})
		must(t, err)
		if st, err := s.LoadSampleState(ctx, "alice", o.ID); err != nil || st != "" {
			t.Fatalf("a new observer's sample state = %q, %v; want none", st, err)
		}
		oe, err := s.ActivateObserver(ctx, "alice", o.ID)
		must(t, err)
		if err := s.RecordSample(ctx, "alice", o.ID, oe-1, items(1, 2), 3, "old"); !errors.Is(err, persistence.ErrSuperseded) {
			t.Fatalf("a superseded observer's sample: %v", err)
		}
		must(t, s.RecordSample(ctx, "alice", o.ID, oe, items(1, 2), 3, "first"))
		must(t, s.RecordSample(ctx, "alice", o.ID, oe, nil, 3, "second"))
		must(t, s.RecordSample(ctx, "alice", o.ID, oe, items(3, 4), 3, "third"))
		st, err := s.LoadSampleState(ctx, "alice", o.ID)
		must(t, err)
		got, err := s.LoadAnomalies(ctx, "alice", o.ID, 100)
		must(t, err)
		if st != "third" || fmt.Sprint(seqs(got)) != "[2 3 4]" {
			t.Fatalf("sample state %q, anomalies %v; want third, [2 3 4]", st, seqs(got))
		}
		if _, err := s.LoadSampleState(ctx, "bob", o.ID); semvec.KindOf(err) != semvec.KindNotFound {
			t.Fatalf("bob reads alice's sample state: %v", err)
		}
	})
}

// A user partition's saved states are per owner and user, replaced on save;
// recent sessions are the owner's ordinary and cluster sessions, newest
// update first.
func TestPartitionStatesAndRecentSessions(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		if _, err := s.LoadPartitionStates(ctx, "alice", "u1"); err == nil {
			t.Fatal("states of a partition never saved were found")
		}
		alice, err := s.ActivateNetwork(ctx, "alice")
		must(t, err)
		bob, err := s.ActivateNetwork(ctx, "bob")
		must(t, err)
		must(t, s.SavePartitionStates(ctx, "alice", alice, "u1", []byte("one")))
		must(t, s.SavePartitionStates(ctx, "alice", alice, "u1", []byte("two")))
		must(t, s.SavePartitionStates(ctx, "bob", bob, "u1", []byte("bob's")))
		got, err := s.LoadPartitionStates(ctx, "alice", "u1")
		must(t, err)
		if string(got) != "two" {
			t.Fatalf("alice's u1 = %q, want the last save", got)
		}

		for i, id := range []string{"s1", "s2", "s3"} {
			rec := session("alice", id)
			rec.CreatedAt, rec.UpdatedAt = ts(10+i), ts(10+i)
			must(t, s.CreateSession(ctx, rec))
		}
		must(t, s.CreateSession(ctx, session("bob", "sb")))
		r, m := region("alice", "r1", 40) // its meta session is not a voter
		must(t, s.CreateRegion(ctx, r, m))
		must(t, s.TouchSession(ctx, "alice", "s1", ts(30)))
		ids, err := s.RecentSessions(ctx, "alice", 2)
		must(t, err)
		if fmt.Sprint(ids) != "[s1 s3]" {
			t.Fatalf("recent sessions = %v, want [s1 s3]", ids)
		}
	})
}

// Several regions' events are written in one call: each batch fenced by its
// own activation's epoch, a refused batch (a superseded activation, a
// region that is gone) leaving the others written, events already stored
// kept, and each region's log cut to its newest entries.
func TestAppendRegionEventBatches(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		for i, id := range []string{"r1", "r2", "r3"} {
			r, m := region("alice", id, 10+i)
			must(t, s.CreateRegion(ctx, r, m))
		}
		e2, err := s.ActivateRegion(ctx, "alice", "r2")
		must(t, err)
		refused, err := s.AppendRegionEventBatches(ctx, []persistence.RegionEvents{
			{Owner: "alice", RegionID: "r3", Epoch: 0, Items: items(1, 4)},
			{Owner: "alice", RegionID: "r2", Epoch: e2 - 1, Items: items(1, 2)}, // superseded
			{Owner: "alice", RegionID: "gone", Epoch: 0, Items: items(1, 1)},
			{Owner: "alice", RegionID: "r1", Epoch: 0, Items: items(1, 2)},
			{Owner: "alice", RegionID: "r2", Epoch: e2, Items: items(3, 3)}, // the current activation's, in the same transaction
		}, 3)
		must(t, err)
		if !errors.Is(refused[1], persistence.ErrSuperseded) || semvec.KindOf(refused[2]) != semvec.KindNotFound ||
			refused[0] != nil || refused[3] != nil || refused[4] != nil {
			t.Fatalf("refused = %v; want only the superseded batch and the missing region's", refused)
		}
		// Written again with one more (its first write's answer was lost).
		refused, err = s.AppendRegionEventBatches(ctx, []persistence.RegionEvents{
			{Owner: "alice", RegionID: "r1", Epoch: 0, Items: items(1, 3)},
			{Owner: "alice", RegionID: "r2", Epoch: e2, Items: items(5, 5)},
		}, 3)
		must(t, err)
		if refused[0] != nil || refused[1] != nil {
			t.Fatalf("refused = %v", refused)
		}
		for id, want := range map[string]string{"r1": "[1 2 3]", "r2": "[3 5]", "r3": "[2 3 4]"} {
			got, err := s.LoadRegionEvents(ctx, "alice", id, 100)
			must(t, err)
			if fmt.Sprint(seqs(got)) != want {
				t.Errorf("%s's events = %v, want %s", id, seqs(got), want)
			}
		}
	})
}
