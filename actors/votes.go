package actors

import (
	"slices"
	"time"
	"unsafe"

	"google.golang.org/protobuf/proto"

	pb "github.com/semvec-go/semvec/proto"
)

// voteBook is a region's drift bookkeeping, free of actors: the event log
// (bounded, ordered by time), one vote per cluster (its latest event inside
// the vote window, stamped after the last realignment) and each cluster's
// latest event (the observer's drift indicator).
//
// Which events vote depends on their timestamps alone, never on when they
// arrived, so the votes rebuilt from the durable log at activation are the
// votes the region held before.
type voteBook struct {
	events    []*pb.RegionDriftEvent // oldest first, at most maxEvents
	votes     map[string]*pb.RegionDriftEvent
	last      map[string]*pb.RegionDriftEvent
	realigned int64 // unix nanos: events stamped at or before it do not vote
	max       int
	bytes     int64 // what events holds, roughly (eventBytes)
}

// eventBytes estimates the heap one logged event holds: its struct and its
// encoded fields (its strings).
func eventBytes(ev *pb.RegionDriftEvent) int64 {
	return int64(unsafe.Sizeof(pb.RegionDriftEvent{})) + int64(proto.Size(ev))
}

func newVoteBook(maxEvents int) *voteBook {
	return &voteBook{votes: map[string]*pb.RegionDriftEvent{}, last: map[string]*pb.RegionDriftEvent{}, max: maxEvents}
}

// record adds ev (kept as given: the caller hands over ownership) to the log
// and makes it its cluster's vote unless it is stamped at or before the last
// realignment or that cluster already voted later.
func (b *voteBook) record(ev *pb.RegionDriftEvent) {
	// Events mostly arrive in time order; insert from the back.
	i := len(b.events)
	for i > 0 && b.events[i-1].GetAtUnixNano() > ev.GetAtUnixNano() {
		i--
	}
	b.events = slices.Insert(b.events, i, ev)
	b.bytes += eventBytes(ev)
	if over := len(b.events) - b.max; over > 0 {
		for _, gone := range b.events[:over] {
			b.bytes -= eventBytes(gone)
		}
		b.events = slices.Delete(b.events, 0, over)
	}
	cid := ev.GetClusterId()
	if v := b.votes[cid]; ev.GetAtUnixNano() > b.realigned && (v == nil || v.GetAtUnixNano() <= ev.GetAtUnixNano()) {
		b.votes[cid] = ev
	}
	if v := b.last[cid]; v == nil || v.GetAtUnixNano() <= ev.GetAtUnixNano() {
		b.last[cid] = ev
	}
}

// restore rebuilds the book from a durable log (oldest first): every event
// is in the log and sets its cluster's latest event, but only events after
// the last realignment (unix nanos; it cleared the votes before them) vote.
func (b *voteBook) restore(events []*pb.RegionDriftEvent, lastRealign int64) {
	b.realigned = lastRealign
	for _, ev := range events {
		b.record(ev)
	}
}

// since forgets each cluster's vote and latest event from before the time
// attached gives it (its current attachment); clusters it does not list are
// left alone.
func (b *voteBook) since(attached map[string]time.Time) {
	for _, m := range []map[string]*pb.RegionDriftEvent{b.votes, b.last} {
		for cid, ev := range m {
			if at, ok := attached[cid]; ok && ev.GetAtUnixNano() < at.UnixNano() {
				delete(m, cid)
			}
		}
	}
}

// expire drops the votes older than window at now.
func (b *voteBook) expire(now time.Time, window time.Duration) {
	cut := now.Add(-window).UnixNano()
	for cid, v := range b.votes {
		if v.GetAtUnixNano() < cut {
			delete(b.votes, cid)
		}
	}
}

// retain forgets votes and latest events of clusters no longer attached.
func (b *voteBook) retain(clusters []string) {
	keep := make(map[string]bool, len(clusters))
	for _, c := range clusters {
		keep[c] = true
	}
	for cid := range b.votes {
		if !keep[cid] {
			delete(b.votes, cid)
		}
	}
	for cid := range b.last {
		if !keep[cid] {
			delete(b.last, cid)
		}
	}
}

// voters returns the ids of the clusters holding a vote, sorted.
func (b *voteBook) voters() []string {
	ids := make([]string, 0, len(b.votes))
	for cid := range b.votes {
		ids = append(ids, cid)
	}
	slices.Sort(ids)
	return ids
}

// latestVote returns the timestamp (unix nanos) of the newest vote, 0 when
// there is none.
func (b *voteBook) latestVote() int64 {
	var at int64
	for _, v := range b.votes {
		at = max(at, v.GetAtUnixNano())
	}
	return at
}

// clearVotes records a realignment at upTo (unix nanos): it removes the votes
// stamped at or before it, and such events recorded later do not vote.
func (b *voteBook) clearVotes(upTo int64) {
	b.realigned = max(b.realigned, upTo)
	for cid, v := range b.votes {
		if v.GetAtUnixNano() <= b.realigned {
			delete(b.votes, cid)
		}
	}
}

// recent returns copies of the newest events, newest first; limit <= 0
// returns none.
func (b *voteBook) recent(limit int) []*pb.RegionDriftEvent {
	n := min(max(limit, 0), len(b.events))
	out := make([]*pb.RegionDriftEvent, 0, n)
	for i := len(b.events) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, proto.Clone(b.events[i]).(*pb.RegionDriftEvent))
	}
	return out
}

// activeVotes returns copies of the votes, ordered by cluster id.
func (b *voteBook) activeVotes() []*pb.RegionDriftEvent {
	return cloneEvents(b.votes, b.voters())
}

// lastEvents returns copies of each cluster's latest event, ordered by
// cluster id.
func (b *voteBook) lastEvents() []*pb.RegionDriftEvent {
	ids := make([]string, 0, len(b.last))
	for cid := range b.last {
		ids = append(ids, cid)
	}
	slices.Sort(ids)
	return cloneEvents(b.last, ids)
}

func cloneEvents(m map[string]*pb.RegionDriftEvent, ids []string) []*pb.RegionDriftEvent {
	out := make([]*pb.RegionDriftEvent, len(ids))
	for i, id := range ids {
		out[i] = proto.Clone(m[id]).(*pb.RegionDriftEvent)
	}
	return out
}

// shouldRealign is the region's consensus rule: the share of attached
// clusters holding a vote strictly exceeds threshold (the contract says
// "exceeds"). So at threshold 0.5 with 4 clusters, 2 votes do not fire and 3
// do; a threshold of 1.0 never fires.
func shouldRealign(voting, attached int, threshold float64) bool {
	if attached <= 0 || voting <= 0 {
		return false
	}
	return float64(voting)/float64(attached) > threshold
}
