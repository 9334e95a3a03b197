//go:build linux

package clustertest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/semvec-go/semvec/http/openapitest"
)

// tour sends requests to a three-node cluster, each through the next node
// in turn, checks every answer against the cluster's /openapi.json, and
// records which operations answered 2xx through which node.
type tour struct {
	t     *testing.T
	nodes []*node
	v     *openapitest.Validator
	token string
	next  int                        // the node the next request goes to
	sent  int                        // requests sent
	seen  map[string]map[string]bool // operationId → names of the nodes it answered 2xx through
}

// call sends method path with body (JSON unless nil) and the tour's token
// through the next node; the status must be want. It returns the decoded
// JSON answer.
func (tr *tour) call(method, path string, body any, want int) any {
	tr.t.Helper()
	return tr.send(method, path, body, want, http.Header{"X-API-Key": {tr.token}})
}

func (tr *tour) send(method, path string, body any, want int, header http.Header) any {
	tr.t.Helper()
	n := tr.nodes[tr.next%len(tr.nodes)]
	tr.next++
	tr.sent++
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			tr.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, n.base+path, rd)
	if err != nil {
		tr.t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := httpClient.Do(req)
	if err != nil {
		tr.t.Fatalf("through node %s: %s %s: %v", n.name, method, path, err)
	}
	raw, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	res.Body.Close()
	if err != nil {
		tr.t.Fatalf("through node %s: %s %s: reading the answer: %v", n.name, method, path, err)
	}
	if res.StatusCode != want {
		tr.t.Fatalf("through node %s: %s %s: status %d, want %d: %s", n.name, method, path, res.StatusCode, want, raw)
	}
	if err := tr.v.Check(req, res.StatusCode, res.Header, raw); err != nil {
		tr.t.Fatalf("through node %s: the answer is not the documented one: %v", n.name, err)
	}
	if op := tr.v.OperationID(method, req.URL.Path); op != "" && res.StatusCode < 300 {
		if tr.seen[op] == nil {
			tr.seen[op] = map[string]bool{}
		}
		tr.seen[op][n.name] = true
	}
	var out any
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") && len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			tr.t.Fatalf("through node %s: %s %s: %v", n.name, method, path, err)
		}
	}
	return out
}

// obj is call for an answer that is a JSON object.
func (tr *tour) obj(method, path string, body any, want int) map[string]any {
	tr.t.Helper()
	m, ok := tr.call(method, path, body, want).(map[string]any)
	if !ok {
		tr.t.Fatalf("%s %s: the answer is not an object", method, path)
	}
	return m
}

// list is call for an answer that is a JSON array.
func (tr *tour) list(method, path string) []any {
	tr.t.Helper()
	l, ok := tr.call(method, path, nil, 200).([]any)
	if !ok {
		tr.t.Fatalf("%s %s: the answer is not a list", method, path)
	}
	return l
}

// expect fails the test unless ok, naming what was checked and the answer.
func (tr *tour) expect(ok bool, what string, got any) {
	tr.t.Helper()
	if !ok {
		tr.t.Fatalf("%s: got %v", what, got)
	}
}

// unit is a unit vector of dimension dim along axis k.
func unit(dim, k int) []float32 {
	v := make([]float32, dim)
	v[k%dim] = 1
	return v
}

// every calls every operation of the API at least once through the tour's
// nodes in turn: a session's life, its memories, entities, triggers,
// anchors and isolation, export and import, a cluster, a region and the
// observer over them, the network layer, MCP, the operational routes, and
// the deletions (each seen through the next node). Consecutive calls go to
// different nodes, so every change is read back through a node that did not
// make it.
func (tr *tour) every() {
	t := tr.t
	tr.send("GET", "/v1/health", nil, 200, nil)
	ready := tr.send("GET", "/v1/readyz", nil, 200, nil).(map[string]any)
	tr.expect(ready["checks"].(map[string]any)["cluster_members"] == 3.0, "readyz sees three members", ready)
	tr.send("GET", "/openapi.json", nil, 200, nil)
	tr.send("GET", "/metrics", nil, 200, http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("m:p"))}})

	// A session and its conversation.
	created := tr.obj("POST", "/v1/session/create", map[string]any{"context_top_k": 4}, 200)
	sid, dim := created["session_id"].(string), int(created["dimension"].(float64))
	tr.expect(created["created"] == true && dim > 0, "session/create", created)
	run := tr.obj("POST", "/v1/run", map[string]any{"session_id": sid, "message": "My favourite database is PostgreSQL with logical replication"}, 200)
	tr.expect(run["session_id"] == sid, "run answers the session", run)
	stored := tr.obj("POST", "/v1/store", map[string]any{"session_id": sid, "response": "Logical replication streams row changes to subscribers."}, 200)
	tr.expect(stored["session_id"] == sid, "store", stored)
	m := tr.obj("GET", "/v1/metrics/"+sid, nil, 200)
	tr.expect(m["interaction_count"] == 1.0, "metrics after one turn", m)
	inj := tr.obj("POST", "/v1/session/"+sid+"/memory", map[string]any{"text": "The staging cluster runs PostgreSQL 15.", "embedding": unit(dim, 3), "tier": "long_term"}, 200)
	tr.expect(inj["total_memories"].(float64) >= 2, "memory injection", inj)
	ctxs := tr.list("GET", "/v1/state/context?"+url.Values{"session_id": {sid}, "top_k": {"10"}}.Encode())
	var hash string
	for _, it := range ctxs {
		if it := it.(map[string]any); strings.Contains(it["text"].(string), "staging cluster") {
			hash = it["memory_hash"].(string)
		}
	}
	tr.expect(hash != "", "the injected memory is in the session's context", ctxs)
	mem := tr.obj("GET", "/v1/session/"+sid+"/memories/"+hash, nil, 200)
	tr.expect(mem["text"] == "The staging cluster runs PostgreSQL 15." && mem["tier"] == "long_term", "memory by hash", mem)

	trg := tr.obj("POST", "/v1/session/"+sid+"/trigger", map[string]any{"keyword": "outage", "threshold": 0.5}, 200)
	tr.expect(trg["trigger_count"] == 1.0, "trigger added", trg)
	trg = tr.obj("DELETE", "/v1/session/"+sid+"/trigger", nil, 200)
	tr.expect(trg["trigger_count"] == 0.0, "triggers cleared", trg)
	anc := tr.obj("POST", "/v1/session/"+sid+"/anchor", map[string]any{"embedding": unit(dim, 5)}, 200)
	tr.expect(anc["anchor_count"] == 1.0, "anchor added", anc)
	score := tr.obj("GET", "/v1/session/"+sid+"/anchor_score", nil, 200)
	tr.expect(score["anchor_count"] == 1.0, "anchor score", score)
	iso := tr.obj("PUT", "/v1/session/"+sid+"/isolation", map[string]any{"level": "FILTER", "exclusion_embeddings": [][]float32{unit(dim, 7)}}, 200)
	tr.expect(iso["level"] == "FILTER", "isolation", iso)
	tr.obj("POST", "/v1/session/"+sid+"/isolation/release", nil, 200)

	ent := tr.obj("POST", "/v1/session/"+sid+"/entities", map[string]any{"key": "src/db/pool.go", "kind": "path", "value": "connection pool"}, 201)
	tr.expect(ent["key"] == "src/db/pool.go", "entity stored", ent)
	ents := tr.obj("GET", "/v1/session/"+sid+"/entities?q=pool", nil, 200)
	tr.expect(strings.Contains(fmt.Sprint(ents), "src/db/pool.go"), "entity found", ents)
	del := tr.obj("DELETE", "/v1/session/"+sid+"/entities/src/db/pool.go", nil, 200)
	tr.expect(del["removed"] == true, "entity removed", del)

	// Export through one node, import into a second session through the
	// next: the copy verifies against the original.
	exp := tr.obj("GET", "/v1/session/"+sid+"/export", nil, 200)
	copyID := tr.obj("POST", "/v1/session/create", map[string]any{}, 200)["session_id"].(string)
	imp := tr.obj("POST", "/v1/session/"+copyID+"/import", map[string]any{"state_dict": exp["state_dict"], "checksum": exp["checksum"]}, 200)
	tr.expect(imp["imported"] == true, "import", imp)
	tr.expect(tr.obj("GET", "/v1/metrics/"+copyID, nil, 200)["interaction_count"] == 1.0, "the import carries the turn", copyID)
	ver := tr.obj("POST", "/v1/session/"+copyID+"/verify", map[string]any{"test_embeddings": [][]float32{unit(dim, 1), unit(dim, 2)}, "reference_session_id": sid}, 200)
	tr.expect(ver["consistent"] == true, "the imported copy verifies against its original", ver)

	// A cluster with the session as member.
	cl := tr.obj("POST", "/v1/cluster/", map[string]any{"name": "db team", "coupling_factor": 0.5}, 201)
	cid := cl["cluster_id"].(string)
	tr.expect(slices.ContainsFunc(tr.list("GET", "/v1/cluster/"), func(c any) bool { return c.(map[string]any)["cluster_id"] == cid }), "cluster listed", cid)
	other := tr.obj("POST", "/v1/run", map[string]any{"message": "Which flour makes the best sourdough bread?"}, 200)["session_id"].(string)
	for _, m := range []string{sid, other} {
		add := tr.obj("POST", "/v1/cluster/"+cid+"/members", map[string]any{"session_id": m}, 200)
		tr.expect(add["added"] == true, "member added", add)
	}
	crun := tr.obj("POST", "/v1/cluster/"+cid+"/run", map[string]any{"message": "How do we fail over the PostgreSQL primary?"}, 200)
	tr.expect(crun["context"] != "", "cluster run", crun)
	tr.obj("POST", "/v1/cluster/"+cid+"/store", map[string]any{"message": "Failover procedure?", "response": "Promote the replica with pg_ctl promote."}, 200)
	g := tr.obj("GET", "/v1/cluster/"+cid, nil, 200)
	tr.expect(slices.Contains(g["member_ids"].([]any), any(sid)), "cluster members", g)
	fb := tr.obj("POST", "/v1/cluster/"+cid+"/feedback", nil, 200)
	tr.expect(fb["sessions_updated"] == 2.0, "feedback reaches both members", fb)

	// A region over the cluster, and the observer over the region.
	rg := tr.obj("POST", "/v1/region/", map[string]any{"name": "platform", "consensus_threshold": 0.5, "vote_window_seconds": 60}, 201)
	rid := rg["region_id"].(string)
	tr.expect(slices.ContainsFunc(tr.list("GET", "/v1/region/"), func(r any) bool { return r.(map[string]any)["region_id"] == rid }), "region listed", rid)
	att := tr.obj("POST", "/v1/region/"+rid+"/clusters", map[string]any{"cluster_id": cid}, 200)
	tr.expect(att["added"] == true, "cluster attached", att)
	rs := tr.obj("GET", "/v1/region/"+rid, nil, 200)
	tr.expect(rs["cluster_count"] == 1.0, "region state", rs)
	tr.list("GET", "/v1/region/"+rid+"/events?limit=5")
	ob := tr.obj("POST", "/v1/observer/", map[string]any{"sample_interval_seconds": 3600, "region_ids": []string{rid}}, 201)
	tr.expect(ob["registered_regions"] == 1.0, "observer over the region", ob)
	un := tr.obj("DELETE", "/v1/observer/regions/"+rid, nil, 200)
	tr.expect(un["registered_regions"] == 0.0, "region unregistered", un)
	re := tr.obj("POST", "/v1/observer/regions", map[string]any{"region_id": rid}, 200)
	tr.expect(re["registered_regions"] == 1.0, "region registered again", re)
	smp := tr.obj("POST", "/v1/observer/sample", nil, 200)
	tr.expect(smp["regions_sampled"] == 1.0 && smp["clusters_sampled"] == 1.0, "sample", smp)
	sum := tr.obj("GET", "/v1/observer/summary", nil, 200)
	tr.expect(sum["samples"].(float64) >= 1, "summary counts the sample", sum)
	tr.list("GET", "/v1/observer/anomalies?limit=5")
	tr.obj("DELETE", "/v1/observer/anomalies", nil, 200)

	// The network layer: a transfer, a consensus, trust, user partitions.
	xfer := tr.obj("POST", "/v1/network/transfer", map[string]any{"source_session_id": sid, "target_session_id": copyID, "max_weight": 0.2}, 200)
	tr.expect(xfer["source_session_id"] == sid, "transfer", xfer)
	cons := tr.obj("POST", "/v1/network/consensus", map[string]any{"proposer_session_id": sid, "target_embedding": unit(dim, 9)}, 200)
	voters := map[any]bool{}
	for _, v := range cons["votes"].([]any) {
		voters[v.(map[string]any)["session_id"]] = true
	}
	tr.expect(cons["proposer_session_id"] == sid && !voters[sid] && voters[copyID] && voters[other], "consensus: the tenant's other sessions, wherever they live, vote (the proposer does not)", cons)
	tr.obj("GET", "/v1/network/consensus/trust", nil, 200)
	sw := tr.obj("POST", "/v1/network/users/switch", map[string]any{"user_id": "alice"}, 200)
	tr.expect(sw["active_user"] == "alice", "user switched", sw)
	act := tr.obj("GET", "/v1/network/users/active", nil, 200)
	tr.expect(act["active_user"] == "alice", "the switch is seen through the next node", act)
	tr.obj("POST", "/v1/network/users/alice/serialize", nil, 200)
	tr.obj("POST", "/v1/network/users/switch", map[string]any{"user_id": "default"}, 200)

	// MCP: a tool call over streamable HTTP reaches the same session.
	rpc := tr.send("POST", "/mcp", map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call",
		"params": map[string]any{"name": "store", "arguments": map[string]any{"session_id": sid, "response": "Replication slots keep WAL until consumed."}}},
		200, http.Header{"X-API-Key": {tr.token}, "Accept": {"application/json, text/event-stream"}}).(map[string]any)
	tr.expect(rpc["error"] == nil && rpc["result"].(map[string]any)["isError"] != true, "MCP store", rpc)

	// Deletions, each seen through the next node.
	tr.obj("DELETE", "/v1/region/"+rid+"/clusters/"+cid, nil, 200)
	tr.call("GET", "/v1/region/"+rid+"/events", nil, 200)
	tr.obj("DELETE", "/v1/region/"+rid, nil, 200)
	tr.call("GET", "/v1/region/"+rid, nil, 404)
	rm := tr.obj("DELETE", "/v1/cluster/"+cid+"/members/"+sid, nil, 200)
	tr.expect(rm["removed"] == true, "member removed", rm)
	tr.obj("DELETE", "/v1/cluster/"+cid, nil, 200)
	tr.call("GET", "/v1/cluster/"+cid, nil, 404)
	for _, id := range []string{copyID, other, sid} {
		tr.obj("DELETE", "/v1/session/"+id, nil, 200)
		tr.call("GET", "/v1/metrics/"+id, nil, 404)
		tr.call("POST", "/v1/run", map[string]any{"session_id": id, "message": "still there?"}, 404)
	}
	t.Logf("tour done: %d requests", tr.sent)
}

// startTourCluster starts three licensed nodes on a fresh schema and loads
// the /openapi.json they serve; issue makes a token for any tenant.
func startTourCluster(t *testing.T) ([]*node, *openapitest.Validator, func(sub string) string) {
	t.Helper()
	e := needEtcd(t)
	db := needDatabase(t)
	env, issue := licensedTenants(t, clusterEnv(clusterName(t), e.ClientURL, db))
	nodes := startNodes(t, env, 3)
	v, err := openapitest.Fetch(context.Background(), httpClient, nodes[0].base)
	if err != nil {
		t.Fatal(err)
	}
	return nodes, v, issue
}

// TestClusterEveryRouteThroughEveryNode: three real nodes; the tour of every
// operation runs three times, each time shifted by one node, so every
// request of the tour goes through every node once, and each change is read
// back through another node. Every answer must be the one /openapi.json
// documents, and every operation must have answered 2xx through every node.
func TestClusterEveryRouteThroughEveryNode(t *testing.T) {
	nodes, v, issue := startTourCluster(t)
	seen := map[string]map[string]bool{}
	for shift := range 3 {
		// A tenant per tour: the network partitions and the observer are per
		// tenant, so each tour starts from nothing.
		tr := &tour{t: t, nodes: nodes, v: v, token: issue("tour-" + strconv.Itoa(shift)), next: shift, seen: seen}
		tr.every()
	}
	for _, op := range v.OperationIDs() {
		for _, n := range nodes {
			if !seen[op][n.name] {
				t.Errorf("operation %s never answered 2xx through node %s", op, n.name)
			}
		}
	}
	t.Logf("%d operations, each answered 2xx through all three nodes", len(v.OperationIDs()))
}

// actorsActive reads semvec_actors_active{kind} from a node's /metrics.
func (n *node) actorsActive(kind string) int {
	n.t.Helper()
	v := n.metric(`semvec_actors_active{kind="` + kind + `"}`)
	c, err := strconv.Atoi(v)
	if err != nil {
		n.t.Fatalf("node %s: semvec_actors_active{kind=%q} = %q", n.name, kind, v)
	}
	return c
}

// hostOf returns the node whose semvec_actors_active{kind} went up when
// create made (and activated) one actor of kind; it fails unless exactly
// one did.
func hostOf(t *testing.T, nodes []*node, kind string, create func() string) (string, *node) {
	t.Helper()
	before := make([]int, len(nodes))
	for i, n := range nodes {
		before[i] = n.actorsActive(kind)
	}
	id := create()
	var host *node
	for i, n := range nodes {
		switch d := n.actorsActive(kind) - before[i]; {
		case d == 1 && host == nil:
			host = n
		case d != 0:
			t.Fatalf("creating %s %s changed node %s's %s actors by %d", kind, id, n.name, kind, d)
		}
	}
	if host == nil {
		t.Fatalf("creating %s %s started no %s actor on any node", kind, id, kind)
	}
	return id, host
}

// TestClusterDriftAcrossNodes: three real nodes; sessions spread over all of
// them; a session on one node, its cluster on a second and the cluster's
// region on a third. The session's drift travels session → cluster →
// region between the processes, the region realigns (its meta session,
// wherever it lives, takes the consensus turn), the observer, on whichever
// node, sees the systemic drift, and cluster feedback carries the cluster's
// state back to the session.
func TestClusterDriftAcrossNodes(t *testing.T) {
	nodes, v, issue := startTourCluster(t)
	tr := &tour{t: t, nodes: nodes, v: v, token: issue("drift"), seen: map[string]map[string]bool{}}

	// Sessions, clusters and regions, created one at a time through the
	// nodes in turn; each activation shows on the node that hosts it.
	// Placement hashes ids over the members, so how many it takes for
	// every node to host one varies: create until it happens (60 sessions
	// miss a node of three with a probability of about 1e-10).
	bySession, byCluster, byRegion := map[*node][]string{}, map[*node][]string{}, map[*node][]string{}
	everyNode := func() bool {
		for _, n := range nodes {
			if len(bySession[n]) == 0 {
				return false
			}
		}
		return true
	}
	for created := 0; !everyNode(); created++ {
		if created == 60 {
			t.Fatalf("60 sessions, not one on every node: %v", bySession)
		}
		id, h := hostOf(t, nodes, "session", func() string {
			id := tr.obj("POST", "/v1/session/create", map[string]any{}, 200)["session_id"].(string)
			tr.obj("GET", "/v1/metrics/"+id, nil, 200)
			return id
		})
		bySession[h] = append(bySession[h], id)
	}
	for _, n := range nodes {
		t.Logf("node %s hosts %d sessions", n.name, len(bySession[n]))
	}
	var sid, cid, rid string
	var hs, hc, hr *node
	// pick finds a session, a cluster and a region on three different nodes.
	pick := func() bool {
		for _, a := range nodes {
			for _, b := range nodes {
				for _, c := range nodes {
					if a != b && b != c && a != c && len(bySession[a]) > 0 && len(byCluster[b]) > 0 && len(byRegion[c]) > 0 {
						sid, cid, rid, hs, hc, hr = bySession[a][0], byCluster[b][0], byRegion[c][0], a, b, c
						return true
					}
				}
			}
		}
		return false
	}
	for created := 0; !pick(); created++ {
		if created == 30 {
			t.Fatalf("30 clusters and regions, no session, cluster and region on three different nodes: clusters %v, regions %v", byCluster, byRegion)
		}
		id, h := hostOf(t, nodes, "cluster", func() string {
			cid := tr.obj("POST", "/v1/cluster/", map[string]any{"name": "k8s", "coupling_factor": 0.5}, 201)["cluster_id"].(string)
			tr.obj("GET", "/v1/cluster/"+cid, nil, 200)
			return cid
		})
		byCluster[h] = append(byCluster[h], id)
		id, h = hostOf(t, nodes, "region", func() string {
			rid := tr.obj("POST", "/v1/region/", map[string]any{"name": "platform", "consensus_threshold": 0.5, "vote_window_seconds": 60}, 201)["region_id"].(string)
			tr.obj("GET", "/v1/region/"+rid, nil, 200)
			return rid
		})
		byRegion[h] = append(byRegion[h], id)
	}
	t.Logf("session on node %s, cluster on node %s, region on node %s", hs.name, hc.name, hr.name)

	// A second member with a conversation of its own, so that the
	// cluster's aggregate differs from the first member's state.
	other := tr.obj("POST", "/v1/run", map[string]any{"message": "Which flour makes the best sourdough bread?"}, 200)["session_id"].(string)
	for _, m := range []string{sid, other} {
		tr.obj("POST", "/v1/cluster/"+cid+"/members", map[string]any{"session_id": m}, 200)
	}
	tr.obj("POST", "/v1/region/"+rid+"/clusters", map[string]any{"cluster_id": cid}, 200)
	ob := tr.obj("POST", "/v1/observer/", map[string]any{"sample_interval_seconds": 3600, "region_ids": []string{rid}}, 201)
	tr.expect(ob["registered_regions"] == 1.0, "observer", ob)

	steady := []string{
		"How do I create a Kubernetes deployment for my web app?",
		"What does the replicas field in the Kubernetes deployment spec control?",
		"How can I scale the Kubernetes deployment to five replicas with kubectl?",
		"Some pods of the deployment are stuck in CrashLoopBackOff, how do I debug the pods?",
		"How do I mount a config file into the pods of the Kubernetes deployment?",
		"After changing the pod template, how does the rolling update of the deployment work?",
	}
	for i, q := range steady { // the cluster's own session gets a state
		if r := tr.obj("POST", "/v1/cluster/"+cid+"/run", map[string]any{"message": q}, 200); r["drift_detected"] == true {
			t.Fatalf("steady cluster turn %d drifted: %v", i, r)
		}
	}
	for i, q := range steady {
		if r := tr.obj("POST", "/v1/run", map[string]any{"session_id": sid, "message": q}, 200); r["drift_detected"] == true {
			t.Fatalf("steady session turn %d drifted: %v", i, r)
		}
	}
	if evs := tr.list("GET", "/v1/region/"+rid+"/events?limit=20"); len(evs) != 0 {
		t.Fatalf("a steady conversation raised region events: %v", evs)
	}
	// The switch: drift on node hs, an event on hc's cluster, a vote on hr's
	// region, 1 of 1 > 0.5: the region realigns.
	run := tr.obj("POST", "/v1/run", map[string]any{"session_id": sid, "message": "Completely different question: what flour is best for baking sourdough bread at home?"}, 200)
	tr.expect(run["drift_detected"] == true, "the topic switch is a drift", run)
	var rs map[string]any
	eventually(t, 15*time.Second, "the region realigns", func() bool {
		rs = tr.obj("GET", "/v1/region/"+rid, nil, 200)
		return rs["last_realignment"] != nil
	})
	evs := rs["recent_drift_events"].([]any)
	tr.expect(len(evs) == 1, "one drift event in the region", rs)
	ev := evs[0].(map[string]any)
	tr.expect(ev["session_id"] == sid && ev["cluster_id"] == cid && ev["region_id"] == rid, "the event names the session, its cluster and the region", ev)
	meta := rs["meta_session_id"].(string)
	eventually(t, 15*time.Second, "the meta session's realignment turn", func() bool {
		return tr.obj("GET", "/v1/metrics/"+meta, nil, 200)["interaction_count"] == 1.0
	})

	// The observer sees the drifted cluster.
	smp := tr.obj("POST", "/v1/observer/sample", nil, 200)
	tr.expect(smp["new_anomalies"] == 1.0, "the observer raises one anomaly", smp)
	an := smp["anomalies"].([]any)[0].(map[string]any)
	tr.expect(an["anomaly_type"] == "systemic_drift" && slices.Equal(an["affected_cluster_ids"].([]any), []any{cid}), "a systemic drift of the cluster", an)

	// Feedback: the cluster's state reaches the member session on hs.
	state := func() string {
		return fmt.Sprint(tr.obj("GET", "/v1/session/"+sid+"/export", nil, 200)["state_dict"].(map[string]any)["state"])
	}
	before := state()
	fb := tr.obj("POST", "/v1/cluster/"+cid+"/feedback", nil, 200)
	tr.expect(fb["sessions_updated"] == 2.0, "feedback updates both members", fb)
	tr.expect(state() != before, "the member's state moved towards the cluster's", sid)
}

// eventually polls cond every 50 ms until it holds, for at most d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
