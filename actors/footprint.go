package actors

import (
	"github.com/asynkron/protoactor-go/actor"
)

// A registry's byte budget (Registry.budget; SEMVEC_MAX_SESSION_MEMORY_MB
// for sessions) bounds what its actors hold, where the count of actors
// (Registry.max) alone would not: one session can hold from ~50 KiB to
// several MiB. Each actor reports the bytes it holds through its footprint
// handle; when the sum passes the budget, the least recently used actors
// of a sample are evicted (as for a slot, evictOne) until what is not on
// its way out fits again. The sum counts an actor until it has stopped.
//
// The budget is enforced as reports come: an activation is admitted by
// count, and its size is known once it has loaded and reported, so the
// sum may pass the budget by what the actors loading at that moment hold
// (Registry.loading bounds how many: maxSessionLoads for sessions).

// footprint is how an actor reports the bytes it holds to its registry. The
// zero value (no budget, or an actor the registry does not hold) ignores
// reports.
type footprint struct {
	r *Registry
	e *entry
}

// footprintOf returns the handle of pid, id's actor, for its reports: call
// it from the actor (on Started), which reports from then until it stops.
func (r *Registry) footprintOf(id string, pid *actor.PID) footprint {
	if r.budget <= 0 {
		return footprint{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entries[id]
	if e == nil || !e.admitted || e.name != pid.Id {
		return footprint{}
	}
	return footprint{r: r, e: e}
}

// set records that the actor now holds n bytes, and evicts others when the
// budget is passed.
func (f footprint) set(n int64) {
	if f.e == nil {
		return
	}
	f.r.held.Add(n - f.e.bytes.Swap(n))
	if f.r.overBudget() {
		f.r.shed()
	}
}

// overBudget reports whether what the actors not on their way out hold
// passes the budget.
func (r *Registry) overBudget() bool {
	return r.budget > 0 && r.held.Load()-r.leavingBytes.Load() > r.budget
}

// shed evicts least recently used actors until what the others hold fits
// the budget, or no actor is left to evict (those pinned by a lookup are
// not: their requests are on the way).
func (r *Registry) shed() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.overBudget() && r.evictOne() {
	}
}

// Held is what the actors in memory report holding, in bytes (those that
// report: sessions, under a budget), and the budget (0: none).
func (r *Registry) Held() (held, budget int64) { return r.held.Load(), r.budget }
