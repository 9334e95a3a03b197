package actors

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// admissionQueue against a plain model: per-tenant FIFO lists and a list
// of tenants in turn order, under random pushes and removals (of the first,
// of any waiter, of one already gone).
func TestAdmissionQueueAgainstAModel(t *testing.T) {
	type waiter struct {
		tenant string
		turn   chan struct{}
	}
	tenants := []string{"", "a", "b", "c"}
	for seed := range uint64(500) {
		rng := rand.New(rand.NewPCG(seed, 1))
		var q admissionQueue
		var order []string // model: tenants in turn order
		lists := map[string][]chan struct{}{}
		var gone []waiter
		for step := range 100 {
			switch op := rng.IntN(4); {
			case op < 2: // push
				w := waiter{tenants[rng.IntN(len(tenants))], make(chan struct{})}
				q.push(w.tenant, w.turn)
				if len(lists[w.tenant]) == 0 {
					order = append(order, w.tenant)
				}
				lists[w.tenant] = append(lists[w.tenant], w.turn)
			case op == 2 && len(order) > 0: // the first leaves: its tenant's turn is over
				tn := order[0]
				w := waiter{tn, lists[tn][0]}
				q.remove(w.tenant, w.turn)
				lists[tn] = lists[tn][1:]
				order = order[1:]
				if len(lists[tn]) > 0 {
					order = append(order, tn)
				}
				gone = append(gone, w)
			case op == 3 && len(order) > 0: // any waiter leaves (a timeout)
				tn := order[rng.IntN(len(order))]
				i := rng.IntN(len(lists[tn]))
				if i == 0 && tn == order[0] {
					continue // the first: case 2
				}
				w := waiter{tn, lists[tn][i]}
				q.remove(w.tenant, w.turn)
				lists[tn] = slices.Delete(lists[tn], i, i+1)
				if len(lists[tn]) == 0 {
					order = slices.DeleteFunc(order, func(s string) bool { return s == tn })
				}
				gone = append(gone, w)
			default: // one already gone leaves again: nothing changes
				if len(gone) > 0 {
					w := gone[rng.IntN(len(gone))]
					q.remove(w.tenant, w.turn)
				}
			}
			n := 0
			for _, l := range lists {
				n += len(l)
			}
			var first chan struct{}
			if len(order) > 0 {
				first = lists[order[0]][0]
			}
			if q.n != n || q.first() != first || !slices.Equal(q.order, order) {
				t.Fatalf("seed %d step %d: n %d (model %d), order %v (model %v), first matches: %v", seed, step, q.n, n, q.order, order, q.first() == first)
			}
			for tn, l := range lists {
				if !slices.Equal(q.byTenant[tn], l) {
					t.Fatalf("seed %d step %d: tenant %q's queue differs from the model", seed, step, tn)
				}
			}
		}
	}
}
