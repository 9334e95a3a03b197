package actors

import "slices"

// admissionQueue holds the activations waiting for a slot of a registry
// (Registry.admit), each as the channel that tells it to look again: one
// first-come-first-served queue per tenant, the tenants served in turn.
// One tenant's storm of activations thus delays another tenant's next
// activation by one of its own, not by all of them. Guarded by the
// registry's lock.
type admissionQueue struct {
	byTenant map[string][]chan struct{}
	order    []string // the tenants with activations waiting; the first is served next
	n        int      // activations waiting
}

// push queues turn, an activation of tenant's.
func (q *admissionQueue) push(tenant string, turn chan struct{}) {
	if q.byTenant == nil {
		q.byTenant = map[string][]chan struct{}{}
	}
	if len(q.byTenant[tenant]) == 0 {
		q.order = append(q.order, tenant)
	}
	q.byTenant[tenant] = append(q.byTenant[tenant], turn)
	q.n++
}

// first is the activation served next, nil when none waits.
func (q *admissionQueue) first() chan struct{} {
	if len(q.order) == 0 {
		return nil
	}
	return q.byTenant[q.order[0]][0]
}

// remove takes turn, an activation of tenant's, out of the queue. When it
// was the first, its tenant's turn is over: the next tenant's first is
// served next.
func (q *admissionQueue) remove(tenant string, turn chan struct{}) {
	waiting := q.byTenant[tenant]
	i := slices.Index(waiting, turn)
	if i < 0 {
		return
	}
	wasFirst := i == 0 && q.order[0] == tenant
	waiting = slices.Delete(waiting, i, i+1)
	q.n--
	switch {
	case len(waiting) == 0:
		delete(q.byTenant, tenant)
		q.order = slices.DeleteFunc(q.order, func(t string) bool { return t == tenant })
	case wasFirst:
		q.byTenant[tenant] = waiting
		q.order = append(q.order[1:], tenant)
	default:
		q.byTenant[tenant] = waiting
	}
}

// each calls f with every activation waiting.
func (q *admissionQueue) each(f func(turn chan struct{})) {
	for _, waiting := range q.byTenant {
		for _, turn := range waiting {
			f(turn)
		}
	}
}
