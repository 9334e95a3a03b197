package actors

import (
	"math"

	"github.com/semvec-go/semvec/vecmath"
)

// Trust consensus of the network layer (contract Layer 5, documented in
// docs/layers.md).
const (
	initialTrust    = 0.5  // trust of an instance the partition has not scored yet
	trustStep       = 0.05 // proposer's trust change per accepted / rejected proposal
	voteYesAt       = 0.5  // an instance votes yes iff cos(its state, target) ≥ this
	acceptYesShare  = 0.5  // accepted iff the trust-weighted yes share ≥ this
	defaultUserName = "default"
)

// voter is one instance taking part in a vote.
type voter struct {
	ID    string
	State []float32 // nil when the session's state is not initialised (abstains)
}

// ballot is one instance's vote.
type ballot struct {
	ID         string
	Similarity float64
	Yes        bool
	Trust      float64
}

// tally is the outcome of a proposal.
type tally struct {
	Ballots  []ballot // instances that voted (abstainers are left out)
	YesShare float64  // Σ trust·yes / Σ trust over the ballots; 0 when Σ trust is 0
	Accepted bool
}

// tallyVotes lets every voter with an initialised state vote on target,
// except the proposer (a proposer voting for its own proposal could raise
// its trust alone, one accepted proposal at a time, against every other
// voter): yes iff cos(state, target) ≥ 0.5, weighted by the voter's trust
// (initial 0.5 when unscored). The proposal is accepted iff the weighted
// yes share is at least 0.5; with no trust-carrying ballot it is rejected.
func tallyVotes(voters []voter, proposer string, target []float32, trust map[string]float64) tally {
	var t tally
	var yes, total float64
	for _, v := range voters {
		if v.State == nil || v.ID == proposer {
			continue
		}
		sim := float64(vecmath.Cosine(v.State, target))
		tr, ok := trust[v.ID]
		if !ok {
			tr = initialTrust
		}
		b := ballot{ID: v.ID, Similarity: sim, Yes: sim >= voteYesAt, Trust: tr}
		t.Ballots = append(t.Ballots, b)
		total += tr
		if b.Yes {
			yes += tr
		}
	}
	if total > 0 {
		t.YesShare = yes / total
	}
	t.Accepted = total > 0 && t.YesShare >= acceptYesShare
	return t
}

// updateTrust moves the proposer's trust by +0.05 on acceptance and −0.05 on
// rejection, clamped to [0, 1], and returns the new value.
func updateTrust(trust map[string]float64, proposer string, accepted bool) float64 {
	tr, ok := trust[proposer]
	if !ok {
		tr = initialTrust
	}
	if accepted {
		tr += trustStep
	} else {
		tr -= trustStep
	}
	tr = math.Round(math.Max(0, math.Min(1, tr))*1e9) / 1e9 // keep 0.55, not 0.5500000000000001
	trust[proposer] = tr
	return tr
}
