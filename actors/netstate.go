package actors

import (
	"encoding/json"
	"maps"
	"slices"
	"time"
)

// networkState is one owner's network layer: user partitions, one of them
// active. It is persisted as JSON with SaveNetworkState.
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
	Active     string                `json:"active_user"`
	Partitions map[string]*partition `json:"partitions"`
	// RestoringFrom: a switch from this partition made Active active but
	// has not yet set the sessions saved with Active back (see switchUser).
	RestoringFrom string `json:"restoring_from,omitempty"`
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

func decodeNetworkState(data []byte, now time.Time) (*networkState, error) {
	st := &networkState{}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, err
	}
	if st.Partitions == nil {
		st.Partitions = map[string]*partition{}
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
	return st, nil
}

func (st *networkState) encode() []byte {
	b, _ := json.Marshal(st) // plain maps, slices and numbers: cannot fail
	return b
}

// clone returns a deep copy of st (through its encoding, which holds all of
// it: float64s round-trip through JSON exactly).
func (st *networkState) clone(now time.Time) *networkState {
	c, err := decodeNetworkState(st.encode(), now)
	if err != nil { // unreachable: st.encode is valid JSON of this type
		panic(err)
	}
	return c
}

// active returns the active partition.
func (st *networkState) active() *partition { return st.Partitions[st.Active] }

// switchTo saves the active partition and activates user, creating it when
// new, and returns the previously active user.
func (st *networkState) switchTo(user string, now time.Time) (previous string) {
	previous = st.Active
	st.active().SavedAt = epochSeconds(now)
	if st.Partitions[user] == nil {
		st.Partitions[user] = newPartition(now)
	}
	st.Active = user
	return previous
}

// Bounds of an owner's network state.
const (
	maxPartitions = 1000 // user partitions per owner
	maxInstances  = 256  // sessions in an owner's network; later sessions vote but do not enrol
	// maxEnrolments bounds the instances of all partitions together, so the
	// state every network change copies and saves stays under ~2 MB.
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
	p, network := st.active(), st.sessions()
	enrolments := 0
	for _, q := range st.Partitions {
		enrolments += len(q.Instances)
	}
	for _, id := range ids {
		if _, found := slices.BinarySearch(p.Instances, id); !found && enrolments >= maxEnrolments {
			continue
		}
		at, inNetwork := slices.BinarySearch(network, id)
		if !inNetwork {
			if len(network) >= maxInstances {
				continue
			}
			network = slices.Insert(network, at, id)
		}
		if i, found := slices.BinarySearch(p.Instances, id); !found {
			p.Instances = slices.Insert(p.Instances, i, id)
			enrolments++
		}
		if _, ok := p.Trust[id]; !ok {
			p.Trust[id] = initialTrust
		}
	}
}

// forget removes sessions that no longer exist from every partition.
func (st *networkState) forget(ids ...string) {
	for _, p := range st.Partitions {
		for _, id := range ids {
			if i, found := slices.BinarySearch(p.Instances, id); found {
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
