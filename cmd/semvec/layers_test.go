package main

import (
	"testing"

	"github.com/semvec-go/semvec"
)

// TestLayersSurviveRestart runs the multi-agent layers through the whole
// server on each database: a cluster shared by two agents short-circuits a
// paraphrase, and clusters, members, regions, links and the observer are all
// still there after a graceful restart.
func TestLayersSurviveRestart(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL func(*testing.T) string) {
		e := newEnv(t, dbURL(t), nil)
		tok := e.token("team", semvec.TierEnterprise)
		call := func(method, path string, body any) resp { t.Helper(); return e.as(tok, method, path, body) }

		r := call("POST", "/v1/cluster/", map[string]any{"name": "support", "aggregation_mode": "attention", "coupling_factor": 0.3})
		want(t, r, 201)
		cid := r.json(t)["cluster_id"].(string)
		agentA := call("POST", "/v1/session/create", map[string]any{}).json(t)["session_id"].(string)
		want(t, call("POST", "/v1/cluster/"+cid+"/members", map[string]any{"session_id": agentA}), 200)
		want(t, call("POST", "/v1/cluster/"+cid+"/store", map[string]any{"message": "How do I reset my password?", "response": "Open Settings, Security, Reset password."}), 200)
		r = call("POST", "/v1/run", map[string]any{"session_id": cid, "message": "how can I reset my password"})
		want(t, r, 200)
		if r.json(t)["short_circuit"] != true {
			t.Fatalf("agent B's paraphrase did not short-circuit on the cluster: %s", r.Body)
		}
		r = call("POST", "/v1/region/", map[string]any{"name": "eu", "consensus_threshold": 0.5, "vote_window_seconds": 60})
		want(t, r, 201)
		rid := r.json(t)["region_id"].(string)
		want(t, call("POST", "/v1/region/"+rid+"/clusters", map[string]any{"cluster_id": cid}), 200)
		want(t, call("POST", "/v1/observer/", map[string]any{"sample_interval_seconds": 30, "region_ids": []string{rid}}), 201)

		e.restart()

		r = call("GET", "/v1/cluster/"+cid, nil)
		want(t, r, 200)
		c := r.json(t)
		if c["member_count"].(float64) != 1 || c["aggregation_mode"] != "attention" || len(c["aggregate_vector"].([]any)) != 384 {
			t.Fatalf("cluster after restart: %v", c)
		}
		if l := call("GET", "/v1/cluster/", nil).list(t); len(l) != 1 {
			t.Fatalf("cluster list after restart: %v", l)
		}
		r = call("GET", "/v1/region/"+rid, nil)
		want(t, r, 200)
		if r.json(t)["cluster_count"].(float64) != 1 {
			t.Fatalf("region after restart: %s", r.Body)
		}
		r = call("GET", "/v1/observer/summary", nil)
		want(t, r, 200)
		if r.json(t)["registered_regions"].(float64) != 1 {
			t.Fatalf("observer after restart: %s", r.Body)
		}
		r = call("POST", "/v1/cluster/"+cid+"/run", map[string]any{"message": "how can I reset my password"})
		want(t, r, 200)
		if r.json(t)["short_circuit"] != true {
			t.Fatalf("the cluster forgot its shared memory across the restart: %s", r.Body)
		}
		// another tenant sees none of it
		other := e.token("intruder", semvec.TierEnterprise)
		for _, p := range []string{"/v1/cluster/" + cid, "/v1/region/" + rid} {
			want(t, e.as(other, "GET", p, nil), 404)
		}
		want(t, e.as(other, "GET", "/v1/observer/summary", nil), 404)
		want(t, call("DELETE", "/v1/cluster/"+cid, nil), 200)
		want(t, call("GET", "/v1/metrics/"+cid, nil), 404)
	})
}
