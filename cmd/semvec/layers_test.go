package main

import (
	"fmt"
	"strings"
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

// TestTwoServersKeepAPartitionsSavedStates: two servers on one database
// (not cluster mode), each with its own network actor for the caller. The
// one superseded by the other's activation answers its switch 503 without
// writing anything: its first step (saving the states of the partition it
// leaves) used to land before its commit was refused, replacing the states
// the other server had saved for that partition with its own stale view
// (here: none), so the other's switch back restored nothing and the
// sessions stayed as another user had left them.
func TestTwoServersKeepAPartitionsSavedStates(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL func(*testing.T) string) {
		q := newEnv(t, dbURL(t), nil)
		p := &testEnv{t: t, priv: q.priv, env: q.env, dbURL: q.dbURL}
		p.start()
		t.Cleanup(p.stop)
		tok := q.token("two-servers", semvec.TierEnterprise)
		onQ := func(method, path string, body any) resp { t.Helper(); return q.as(tok, method, path, body) }
		onP := func(method, path string, body any) resp { t.Helper(); return p.as(tok, method, path, body) }
		state := func(sid string) string {
			t.Helper()
			r := onQ("GET", "/v1/session/"+sid+"/export", nil)
			want(t, r, 200)
			sd, _ := r.json(t)["state_dict"].(map[string]any)
			return fmt.Sprint(sd["state"])
		}

		r := onQ("POST", "/v1/run", map[string]any{"message": "How do payment retries work?"})
		want(t, r, 200)
		s1 := r.json(t)["session_id"].(string)
		r = onQ("POST", "/v1/run", map[string]any{"message": "Which database holds the ledger?"})
		want(t, r, 200)
		s2 := r.json(t)["session_id"].(string)

		// P's network actor starts (its view: no sessions yet); Q's next
		// change activates the network again there, superseding P's.
		want(t, onP("GET", "/v1/network/users/active", nil), 200)
		want(t, onQ("POST", "/v1/network/transfer", map[string]any{"source_session_id": s1, "target_session_id": s2, "max_weight": 0.15}), 200)
		want(t, onQ("POST", "/v1/network/users/switch", map[string]any{"user_id": "alice"}), 200)
		underDefault := state(s1)
		want(t, onQ("POST", "/v1/network/transfer", map[string]any{"source_session_id": s2, "target_session_id": s1, "max_weight": 1}), 200)
		if state(s1) == underDefault {
			t.Fatal("the transfer under alice did not move s1")
		}

		r = onP("POST", "/v1/network/users/switch", map[string]any{"user_id": "bob"})
		want(t, r, 503)
		if !strings.Contains(r.detail(t), "newer activation") {
			t.Fatalf("the superseded server's switch: %s", r.Body)
		}

		r = onQ("POST", "/v1/network/users/switch", map[string]any{"user_id": "default"})
		want(t, r, 200)
		if n := r.json(t)["restored_sessions"]; n != float64(2) {
			t.Fatalf("switch back to default restored %v sessions, want 2: %s", n, r.Body)
		}
		if state(s1) != underDefault {
			t.Fatal("s1 under default again is not the state default's partition saved")
		}
	})
}
