package clustertest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// An export and an import larger than gRPC's default 4 MiB message travel
// between members: through every node, whichever owns the session, a
// session of ~4.3 MB exports and imports back (the members' gRPC limit is
// raised; with the default, the owner refused the message and the link
// between the two nodes broke).
func TestClusterLargeImportsAndExportsCrossNodes(t *testing.T) {
	nodes, _, issue := startTourCluster(t)
	tok := issue("large")
	do := func(n *node, method, path string, body []byte, want int) []byte {
		t.Helper()
		req, err := http.NewRequest(method, n.base+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-API-Key", tok)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := httpClient.Do(req)
		if err != nil {
			t.Fatalf("through node %s: %s %s: %v", n.name, method, path, err)
		}
		defer res.Body.Close()
		raw, err := io.ReadAll(res.Body)
		if err != nil || res.StatusCode != want {
			t.Fatalf("through node %s: %s %s: %d %.300s (%v), want %d", n.name, method, path, res.StatusCode, raw, err, want)
		}
		return raw
	}
	var created struct {
		SessionID string `json:"session_id"`
	}
	if err := json.Unmarshal(do(nodes[0], "POST", "/v1/session/create", []byte(`{}`), 200), &created); err != nil {
		t.Fatal(err)
	}
	sid := created.SessionID
	value, note := strings.Repeat("<", 2000), strings.Repeat("&", 1000)
	for i := range 256 {
		body, _ := json.Marshal(map[string]string{"key": "k" + strconv.Itoa(i), "kind": "path", "value": value, "context": note})
		do(nodes[i%len(nodes)], "POST", "/v1/session/"+sid+"/entities", body, 201)
	}
	for _, n := range nodes {
		var exp struct {
			StateDict json.RawMessage `json:"state_dict"`
			Checksum  string          `json:"checksum"`
		}
		if err := json.Unmarshal(do(n, "GET", "/v1/session/"+sid+"/export", nil, 200), &exp); err != nil {
			t.Fatal(err)
		}
		if len(exp.StateDict) <= 4<<20 {
			t.Fatalf("the export is %d bytes: under gRPC's default limit, the test proves nothing", len(exp.StateDict))
		}
		body, _ := json.Marshal(map[string]any{"state_dict": exp.StateDict, "checksum": exp.Checksum})
		do(n, "POST", "/v1/session/"+sid+"/import", body, 200)
	}
}
