package actors

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/semvec-go/semvec/persistence"
)

// networkState is one owner's network layer: user partitions, one of them
// active. It is persisted as JSON with SaveNetworkState, each partition
// apart (stored), so that a change writes only the partitions it edited.
//
// A partition is the network's working state for one end user of the
// licence: the instances (the owner's sessions) that joined the network
// while it was active — by taking part in a transfer or proposing a
// consensus vector —, their trust scores, counters, and the semantic states
// of the owner's network (every partition's instances, see sessions).
// Transfers and consensus act on the active partition. Switching saves the
// active partition — the network's current states go to
// network_partitions, saved_at is stamped — and activates the target,
// creating it empty, or setting the sessions saved with it back to those
// states (networkActor.switchUser).
// Partitions live in the owner's namespace, so another owner's user ids are
// simply different partitions: no caller can reach another's.
type networkState struct {
	Active string `json:"active_user"`
	// Partitions are stored each in a row of their own; only a state
	// saved before they were (one blob) holds them in its own JSON.
	Partitions map[string]*partition `json:"partitions,omitempty"`
	// RestoringFrom: a switch from this partition made Active active but
	// has not yet set the sessions saved with Active back (see switchUser).
	RestoringFrom string `json:"restoring_from,omitempty"`

	// edited names the partitions that are this state's own: a change
	// made to a copy (copyForChange) edits a partition through edit, which
	// copies it first; the others are shared with the committed state and
	// are never changed.
	edited map[string]bool
}

type partition struct {
	Trust       map[string]float64 `json:"trust_scores"`
	Instances   []string           `json:"instances"`    // sorted session ids, at most maxInstances
	SavedStates int                `json:"saved_states"` // session states saved at the last switch away (in network_partitions)
	Transfers   int                `json:"transfers"`
	Proposals   int                `json:"proposals"`
	Accepted    int                `json:"accepted_proposals"`
	CreatedAt   float64            `json:"created_at"` // epoch seconds
	SavedAt     float64            `json:"saved_at"`   // last switch away from it; 0 never
}

func newPartition(now time.Time) *partition {
	return &partition{Trust: map[string]float64{}, Instances: []string{}, CreatedAt: epochSeconds(now)}
}

func newNetworkState(now time.Time) *networkState {
	return &networkState{Active: defaultUserName, Partitions: map[string]*partition{defaultUserName: newPartition(now)}}
}

// decodeNetworkState decodes a state LoadNetworkState returned. whole: its
// partitions were saved in its own JSON, as a binary older than partition
// rows saves them. This binary never writes partitions there (its first
// save of such a state moves them into rows and empties the JSON), so a
// state holding both was saved by an older binary after this one: its
// JSON's copy of a partition is the later one and wins; rows fill in the
// others. Its next save must write all of them (persistence.NetworkState.All).
func decodeNetworkState(stored persistence.NetworkState, now time.Time) (st *networkState, whole bool, err error) {
	st = &networkState{}
	if err := json.Unmarshal(stored.Data, st); err != nil {
		return nil, false, err
	}
	whole = len(st.Partitions) > 0
	if st.Partitions == nil {
		st.Partitions = map[string]*partition{}
	}
	for user, data := range stored.Partitions {
		if _, later := st.Partitions[user]; later {
			continue
		}
		p := &partition{}
		if err := json.Unmarshal(data, p); err != nil {
			return nil, false, fmt.Errorf("partition %q: %w", user, err)
		}
		st.Partitions[user] = p
	}
	for _, p := range st.Partitions {
		if p.Trust == nil {
			p.Trust = map[string]float64{}
		}
		if p.Instances == nil {
			p.Instances = []string{}
		}
	}
	if st.Active == "" {
		st.Active = defaultUserName
	}
	if st.Partitions[st.Active] == nil {
		st.Partitions[st.Active] = newPartition(now)
	}
	return st, whole, nil
}

// stored returns st as SaveNetworkState stores it: its JSON without the
// partitions, and the partitions of users, each its own JSON; all of them
// when all (the stored partitions of other users are then deleted).
func (st *networkState) stored(users []string, all bool) persistence.NetworkState {
	out := persistence.NetworkState{Data: mustJSON(&networkState{Active: st.Active, RestoringFrom: st.RestoringFrom}),
		Partitions: map[string][]byte{}, All: all}
	if all {
		users = slices.Collect(maps.Keys(st.Partitions))
	}
	for _, user := range users {
		out.Partitions[user] = mustJSON(st.Partitions[user])
	}
	return out
}

// mustJSON encodes plain maps, slices and numbers: it cannot fail.
func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// copyForChange returns a copy of st for a change to be made to (see
// networkActor.commit): it shares st's partitions, and the change copies
// each one it edits (edit), so st is left as it was. Copying a partition
// costs what it holds; the state as a whole is never copied.
func (st *networkState) copyForChange() *networkState {
	return &networkState{Active: st.Active, Partitions: maps.Clone(st.Partitions), RestoringFrom: st.RestoringFrom}
}

// edit returns user's partition for a change to modify (nil when there is
// none): the first time, a copy of it replaces the one st shares with the
// state it was copied from.
func (st *networkState) edit(user string) *partition {
	p := st.Partitions[user]
	if p == nil || st.edited[user] {
		return p
	}
	p = p.clone()
	st.own(user, p)
	return p
}

// own makes p user's partition, st's own.
func (st *networkState) own(user string, p *partition) {
	if st.edited == nil {
		st.edited = map[string]bool{}
	}
	st.Partitions[user] = p
	st.edited[user] = true
}

// clone returns a copy of p that shares nothing with it.
func (p *partition) clone() *partition {
	c := *p
	c.Trust = maps.Clone(p.Trust)
	c.Instances = slices.Clone(p.Instances)
	return &c
}

// active returns the active partition, to read (edit it to change it).
func (st *networkState) active() *partition { return st.Partitions[st.Active] }

// switchTo saves the active partition and activates user, creating it when
// new, and returns the previously active user.
func (st *networkState) switchTo(user string, now time.Time) (previous string) {
	previous = st.Active
	st.edit(st.Active).SavedAt = epochSeconds(now)
	if st.Partitions[user] == nil {
		st.own(user, newPartition(now))
	}
	st.Active = user
	return previous
}

// Bounds of an owner's network state.
const (
	maxPartitions = 1000 // user partitions per owner
	maxInstances  = 256  // sessions in an owner's network; later sessions vote but do not enrol
	// maxEnrolments bounds the instances of all partitions together, so the
	// whole state stays under ~4.7 MB with 128-character session ids
	// (~4.4 MB in 64 full partitions; TestEnrolmentsAreBounded). A change
	// saves only the partitions it edits (at most ~70 KB each).
	maxEnrolments = 16384
)

// sessions returns the owner's network: the sessions enrolled in any
// partition, sorted, each once. A switch saves all of them (see
// Layers.saveNetworkStates).
func (st *networkState) sessions() []string {
	var all []string
	for _, p := range st.Partitions {
		all = append(all, p.Instances...)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// join enrols sessions in the active partition, with the initial trust when
// unscored. A session not yet in the network enrols only while the network
// holds fewer than maxInstances sessions, and none enrols once the
// partitions hold maxEnrolments instances in all.
func (st *networkState) join(ids ...string) {
	p := st.active() // edited once a session enrols or is scored
	// The network and the enrolments, read only when a session is not yet
	// an instance of the partition: collecting them goes through every
	// partition (16,384 ids at the cap), and most changes enrol no one.
	var network []string
	enrolments := -1
	for _, id := range ids {
		i, enrolled := slices.BinarySearch(p.Instances, id)
		if !enrolled {
			if enrolments < 0 {
				network, enrolments = st.sessions(), 0
				for _, q := range st.Partitions {
					enrolments += len(q.Instances)
				}
			}
			if enrolments >= maxEnrolments {
				continue
			}
			at, inNetwork := slices.BinarySearch(network, id)
			if !inNetwork {
				if len(network) >= maxInstances {
					continue
				}
				network = slices.Insert(network, at, id)
			}
			p = st.edit(st.Active)
			p.Instances = slices.Insert(p.Instances, i, id)
			enrolments++
		}
		if _, ok := p.Trust[id]; !ok {
			p = st.edit(st.Active)
			p.Trust[id] = initialTrust
		}
	}
}

// forget removes sessions that no longer exist from every partition.
func (st *networkState) forget(ids ...string) {
	for user, p := range st.Partitions {
		for _, id := range ids {
			i, found := slices.BinarySearch(p.Instances, id)
			if _, scored := p.Trust[id]; !found && !scored {
				continue
			}
			p = st.edit(user)
			if found {
				p.Instances = slices.Delete(p.Instances, i, i+1)
			}
			delete(p.Trust, id)
		}
	}
}

// trustCopy returns a copy of the partition's trust scores.
func (p *partition) trustCopy() map[string]float64 {
	out := make(map[string]float64, len(p.Trust))
	maps.Copy(out, p.Trust)
	return out
}

// serialize is the JSON object POST /v1/network/users/{id}/serialize
// returns as "state".
func (st *networkState) serialize(user string) ([]byte, bool) {
	p := st.Partitions[user]
	if p == nil {
		return nil, false
	}
	b, _ := json.Marshal(struct {
		Active bool `json:"active"`
		*partition
	}{user == st.Active, p})
	return b, true
}

func epochSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
