package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/semvec-go/semvec"
)

// Ids are scoped by owner: two tenants using the same ids for every kind of
// resource get separate resources, and neither can learn that the other's
// exist, before and after a restart.
func TestTenantsShareNoIDs(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL func(*testing.T) string) {
		e := newEnv(t, dbURL(t), nil)
		a := e.token("tenant-a", semvec.TierEnterprise)
		b := e.token("tenant-b", semvec.TierEnterprise)

		// A's resources: a session with a chosen id, a cluster, a region, an
		// observer, an entity and a stored fact.
		want(t, e.as(a, "POST", "/v1/run", map[string]any{"session_id": "shared-id", "message": "What is the vault code?", "reset_context": true}), 200)
		want(t, e.as(a, "POST", "/v1/store", map[string]any{"session_id": "shared-id", "response": "The vault code is ALPHA-7731."}), 200)
		want(t, e.as(a, "POST", "/v1/session/shared-id/entities", map[string]any{"key": "secret.txt", "kind": "path", "value": "A's secret"}), 201)
		r := e.as(a, "POST", "/v1/cluster/", map[string]any{"name": "a-team"})
		want(t, r, 201)
		cid := r.json(t)["cluster_id"].(string)
		want(t, e.as(a, "POST", "/v1/cluster/"+cid+"/members", map[string]any{"session_id": "shared-id"}), 200)
		r = e.as(a, "POST", "/v1/region/", map[string]any{"name": "a-region"})
		want(t, r, 201)
		rid := r.json(t)["region_id"].(string)
		want(t, e.as(a, "POST", "/v1/region/"+rid+"/clusters", map[string]any{"cluster_id": cid}), 200)
		want(t, e.as(a, "POST", "/v1/observer/", map[string]any{"region_ids": []string{rid}}), 201)

		// B, using A's ids, neither sees nor disturbs A's resources: every
		// id B names is B's own, so reset_context creates B's sessions.
		for _, id := range []string{"shared-id", cid, rid} {
			want(t, e.as(b, "GET", "/v1/metrics/"+id, nil), 404)
			r := e.as(b, "POST", "/v1/run", map[string]any{"session_id": id, "message": "hello from B", "reset_context": true})
			want(t, r, 200)
			if r.json(t)["session_id"] != id {
				t.Fatalf("B's reset_context on %s: %s", id, r.Body)
			}
		}
		r = e.as(b, "POST", "/v1/run", map[string]any{"session_id": "shared-id", "message": "What is the vault code?"})
		want(t, r, 200)
		if strings.Contains(r.json(t)["context"].(string), "ALPHA-7731") {
			t.Fatalf("B's session shows A's fact: %s", r.Body)
		}
		for _, p := range []string{"/v1/cluster/" + cid, "/v1/region/" + rid, "/v1/session/shared-id/entities/secret.txt"} {
			if got := e.as(b, "GET", p, nil).Status; got == 200 {
				t.Fatalf("B reads %s", p)
			}
		}
		want(t, e.as(b, "GET", "/v1/observer/summary", nil), 404)
		want(t, e.as(b, "DELETE", "/v1/cluster/"+cid, nil), 404)
		want(t, e.as(b, "DELETE", "/v1/region/"+rid, nil), 404)
		// B's own cluster and region listings are empty; B's session cid is
		// a plain session, not a cluster.
		if l := e.as(b, "GET", "/v1/cluster/", nil).list(t); len(l) != 0 {
			t.Fatalf("B lists clusters %v", l)
		}
		if l := e.as(b, "GET", "/v1/region/", nil).list(t); len(l) != 0 {
			t.Fatalf("B lists regions %v", l)
		}
		want(t, e.as(b, "POST", "/v1/cluster/"+cid+"/members", map[string]any{"session_id": "shared-id"}), 404)
		// B deletes its session shared-id; A's is untouched.
		want(t, e.as(b, "DELETE", "/v1/session/shared-id", nil), 200)

		check := func() {
			t.Helper()
			r := e.as(a, "POST", "/v1/run", map[string]any{"session_id": "shared-id", "message": "What is the vault code?"})
			want(t, r, 200)
			if !strings.Contains(r.json(t)["context"].(string), "ALPHA-7731") {
				t.Fatalf("A's session lost its fact: %s", r.Body)
			}
			r = e.as(a, "GET", "/v1/cluster/"+cid, nil)
			want(t, r, 200)
			if r.json(t)["member_count"].(float64) != 1 {
				t.Fatalf("A's cluster: %s", r.Body)
			}
			r = e.as(a, "GET", "/v1/region/"+rid, nil)
			want(t, r, 200)
			if r.json(t)["cluster_count"].(float64) != 1 {
				t.Fatalf("A's region: %s", r.Body)
			}
			r = e.as(a, "GET", "/v1/observer/summary", nil)
			want(t, r, 200)
			if r.json(t)["registered_regions"].(float64) != 1 {
				t.Fatalf("A's observer: %s", r.Body)
			}
			want(t, e.as(a, "GET", "/v1/session/shared-id/entities?q=secret", nil), 200)
			// B's sessions named after A's cluster and region are still B's.
			for _, id := range []string{cid, rid} {
				want(t, e.as(b, "GET", "/v1/metrics/"+id, nil), 200)
			}
			want(t, e.as(b, "GET", "/v1/metrics/shared-id", nil), 404)
		}
		check()
		e.restart()
		check()
	})
}

// Concurrent reset_context on one fresh id all succeed (one creates the
// session, the others use it), and name a single session.
func TestConcurrentResetContextOnFreshID(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL func(*testing.T) string) {
		e := newEnv(t, dbURL(t), nil)
		concurrentResets(t, e)
	})
}

func concurrentResets(t *testing.T, e *testEnv) {
	tok := e.token("racer", semvec.TierEnterprise)
	for round := range 20 {
		id := fmt.Sprintf("fresh-%d", round)
		var wg sync.WaitGroup
		statuses := make([]int, 16)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = e.as(tok, "POST", "/v1/run", map[string]any{"session_id": id, "message": fmt.Sprintf("turn %d", i), "reset_context": true}).Status
			}()
		}
		wg.Wait()
		for i, s := range statuses {
			if s != 200 {
				t.Fatalf("round %d: request %d answered %d", round, i, s)
			}
		}
		want(t, e.as(tok, "GET", "/v1/metrics/"+id, nil), 200)
	}
}

// A tenant's sessions stop at SEMVEC_MAX_SESSIONS_PER_TENANT: every way to
// create one answers 409 with the limit, reset_context on a new id too (it
// does not mistake the limit for a session created meanwhile), another
// tenant is not affected, and a deletion makes room again.
func TestTenantSessionLimit(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL func(*testing.T) string) {
		e := newEnv(t, dbURL(t), map[string]string{"SEMVEC_MAX_SESSIONS_PER_TENANT": "3"})
		a := e.token("tenant-a", semvec.TierEnterprise)
		b := e.token("tenant-b", semvec.TierEnterprise)
		r := e.as(a, "POST", "/v1/session/create", map[string]any{})
		want(t, r, 200)
		one := r.json(t)["session_id"].(string)
		want(t, e.as(a, "POST", "/v1/run", map[string]any{"session_id": "two", "message": "hello", "reset_context": true}), 200)
		want(t, e.as(a, "POST", "/v1/run", map[string]any{"message": "a session of its own"}), 200)

		const limit = "session limit reached (3)"
		for _, over := range []resp{
			e.as(a, "POST", "/v1/session/create", map[string]any{}),
			e.as(a, "POST", "/v1/run", map[string]any{"message": "hello"}),
			e.as(a, "POST", "/v1/run", map[string]any{"session_id": "four", "message": "hello", "reset_context": true}),
			e.as(a, "POST", "/v1/cluster/", map[string]any{"name": "team"}),
			e.as(a, "POST", "/v1/region/", map[string]any{"name": "region"}),
		} {
			want(t, over, 409)
			if got := over.detail(t); got != limit {
				t.Fatalf("a session past the limit: %q, want %q", got, limit)
			}
		}
		want(t, e.as(a, "GET", "/v1/metrics/four", nil), 404)
		want(t, e.as(b, "POST", "/v1/run", map[string]any{"session_id": "four", "message": "hello", "reset_context": true}), 200)

		want(t, e.as(a, "DELETE", "/v1/session/"+one, nil), 200)
		want(t, e.as(a, "POST", "/v1/run", map[string]any{"session_id": "four", "message": "hello", "reset_context": true}), 200)
		want(t, e.as(a, "GET", "/v1/metrics/four", nil), 200)
	})
}
