package http

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/semvec-go/semvec"
)

// TestRefusalsDoNotWaitForTheBody: a request that announces a body (by
// Content-Length or chunked) and then sends nothing is refused — 401 without
// or with a bad token, 402 for an expired one, 429 once the address is over
// its failure budget, 404/405 for no route, 413 for a declared length over
// the limit — as soon as its headers are in, with the usual JSON detail and
// "Connection: close", and the server then closes the connection instead of
// waiting (up to the read timeout) for a body it will not use. (net/http
// reads up to 256 KiB of an unread body: the announced sizes stay below.)
func TestRefusalsDoNotWaitForTheBody(t *testing.T) {
	s := newEdgeServer(t, 128<<10)
	addr := s.listen()
	expired := s.issueAt("edge", semvec.TierEnterprise, time.Hour, time.Now().Add(-2*time.Hour))
	head := func(method, target, auth, framing string) string {
		h := method + " " + target + " HTTP/1.1\r\nHost: semvec.test\r\nContent-Type: application/json\r\n" + framing
		if auth != "" {
			h += "\r\nAuthorization: Bearer " + auth
		}
		return h
	}
	cases := []struct {
		name, head string
		want       int
	}{
		{"missing token, 64 KiB announced", head("POST", "/v1/run", "", "Content-Length: 65536"), 401},
		{"missing token, 120 KiB announced", head("POST", "/v1/session/create", "", "Content-Length: 122880"), 401},
		{"missing token, chunked", head("POST", "/v1/store", "", "Transfer-Encoding: chunked"), 401},
		{"bad token", head("POST", "/v1/run", "not.a.token", "Content-Length: 1000"), 401},
		{"expired token", head("POST", "/v1/run", expired, "Content-Length: 1000"), 402},
		{"no route", head("POST", "/v1/nothing-here", "", "Content-Length: 1000"), 404},
		{"wrong method", head("PATCH", "/v1/run", "", "Content-Length: 1000"), 405},
		{"body over the limit", head("POST", "/v1/run", s.tok, "Content-Length: 204800"), 413},
		{"body far over the limit", head("POST", "/v1/run", s.tok, "Content-Length: 2000000"), 413},
	}
	conns := make([]net.Conn, len(cases))
	for i, tc := range cases {
		r, conn := rawExchange(t, addr, tc.head, "")
		conns[i] = conn
		if r.resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d: %s", tc.name, r.resp.StatusCode, tc.want, r.body)
			continue
		}
		edgeDetail(t, tc.name, r.resp.Header.Get("Content-Type"), r.body)
		if !r.resp.Close {
			t.Errorf("%s: no Connection: close (header %q)", tc.name, r.resp.Header.Get("Connection"))
		}
	}
	// Then the server hangs up rather than wait for the bodies (it gives a
	// client that is sending one a moment to finish).
	for i, conn := range conns {
		var ne net.Error
		if n, err := conn.Read(make([]byte, 1)); err == nil {
			t.Errorf("%s: read %d bytes after the refusal", cases[i].name, n)
		} else if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s: the server kept the connection open, waiting for the body: %v", cases[i].name, err)
		}
	}

	// A client that does send its body still gets its 401, intact.
	body := `{"message":"` + strings.Repeat("m", 100<<10) + `"}`
	r, _ := rawExchange(t, addr, head("POST", "/v1/run", "not.a.token", "Content-Length: "+strconv.Itoa(len(body))), body)
	if r.resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bad token with its whole body: %d %s", r.resp.StatusCode, r.body)
	}

	// Over the failure budget: 429 without reading either. (The refusals
	// above came from the same loopback address: let the budget refill.)
	s.clock.Advance(time.Minute)
	for range authFailBurst {
		r, _ := rawExchange(t, addr, head("POST", "/v1/run", "", "Content-Length: 1000"), "")
		if r.resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("burst: %d", r.resp.StatusCode)
		}
	}
	r, _ = rawExchange(t, addr, head("POST", "/v1/run", "", "Content-Length: 65536"), "")
	if r.resp.StatusCode != http.StatusTooManyRequests || !r.resp.Close || r.resp.Header.Get("Retry-After") == "" {
		t.Errorf("over budget: %d close=%v Retry-After=%q: %s", r.resp.StatusCode, r.resp.Close, r.resp.Header.Get("Retry-After"), r.body)
	}
	edgeDetail(t, "over budget", r.resp.Header.Get("Content-Type"), r.body)

	// A refusal without a body keeps the connection (no needless reconnect).
	r, _ = rawExchange(t, addr, "GET /v1/cluster HTTP/1.1\r\nHost: semvec.test\r\nX-Forwarded-For: 1.2.3.4", "")
	if r.resp.StatusCode != http.StatusTooManyRequests || r.resp.Close {
		t.Errorf("bodiless request over budget: %d close=%v", r.resp.StatusCode, r.resp.Close)
	}
}

// TestSizeLimitsAnswerJSON: an over-long request-target is a JSON 414, an
// over-large header block a JSON 431, a body over the limit a JSON 413
// (declared or chunked), all on the real wire; requests just under the
// limits go through. Past HeaderBackstopBytes net/http itself refuses (its
// plain-text 431) before any handler runs: the hard bound on what a request
// line and headers can cost.
func TestSizeLimitsAnswerJSON(t *testing.T) {
	s := newEdgeServer(t, 64<<10)
	addr := s.listen()
	auth := "\r\nAuthorization: Bearer " + s.tok
	target := func(n int) string { // a GET /v1/cluster target of exactly n bytes
		p := "/v1/cluster?pad="
		return p + strings.Repeat("a", n-len(p))
	}
	headers := func(n int) string { // about n bytes of extra header fields
		var b strings.Builder
		for i := 0; b.Len() < n; i++ {
			b.WriteString("\r\nX-Pad-" + strconv.Itoa(i) + ": " + strings.Repeat("b", 1000))
		}
		return b.String()
	}

	for _, tc := range []struct {
		name, head, body string
		want             int
	}{
		{"URI at the limit", "GET " + target(MaxURIBytes) + " HTTP/1.1\r\nHost: h" + auth, "", 200},
		{"URI over the limit", "GET " + target(MaxURIBytes+1) + " HTTP/1.1\r\nHost: h" + auth, "", 414},
		{"URI over the limit, no token", "GET " + target(4*MaxURIBytes) + " HTTP/1.1\r\nHost: h", "", 414},
		{"headers under the limit", "GET /v1/cluster HTTP/1.1\r\nHost: h" + auth + headers(MaxHeaderBytes-2000), "", 200},
		{"headers over the limit", "GET /v1/cluster HTTP/1.1\r\nHost: h" + auth + headers(MaxHeaderBytes+1), "", 431},
		{"headers far over the limit, no token", "POST /v1/run HTTP/1.1\r\nHost: h\r\nContent-Length: 10" + headers((MaxHeaderBytes+HeaderBackstopBytes)/2), "", 431},
		// The backstop stays above the two limits together.
		{"URI and headers both at their limits", "GET " + target(MaxURIBytes) + " HTTP/1.1\r\nHost: h" + auth + headers(MaxHeaderBytes-2000), "", 200},
		{"URI and headers both just over their limits", "GET " + target(MaxURIBytes+1) + " HTTP/1.1\r\nHost: h" + auth + headers(MaxHeaderBytes+1), "", 414},
		{"declared body over the limit", "POST /v1/run HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 70000" + auth, "", 413},
		{"chunked body over the limit", "POST /v1/run HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked" + auth,
			"11170\r\n" + `{"message":"` + strings.Repeat("c", 70000-14) + `"}` + "\r\n0\r\n\r\n", 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := rawExchange(t, addr, tc.head, tc.body)
			if r.resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %.200s", r.resp.StatusCode, tc.want, r.body)
			}
			if tc.want != 200 {
				edgeDetail(t, tc.name, r.resp.Header.Get("Content-Type"), r.body)
			}
		})
	}

	// The backstop: past it net/http answers before the engine.
	r, _ := rawExchange(t, addr, "GET /v1/cluster HTTP/1.1\r\nHost: h"+headers(HeaderBackstopBytes+8192), "")
	if r.resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("past the backstop: %d", r.resp.StatusCode)
	}
	// It is what every connection may make net/http hold while its header
	// arrives, without a token: at 256 KiB, 1,000 connections grew the RSS
	// by 290 MB. Keep it near the two limits together.
	if HeaderBackstopBytes > 2*(MaxURIBytes+MaxHeaderBytes) {
		t.Errorf("HeaderBackstopBytes %d: more than twice the URI and header limits together", HeaderBackstopBytes)
	}
}

// TestRequestLimitsMiddleware checks the byte counting at the edges: the
// Host line and every header line count as they appear on the wire.
func TestRequestLimitsMiddleware(t *testing.T) {
	r := mwEngine(requestLimits(100, 200))
	r.GET("/*any", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{}) })
	uri := func(n int) string { return "/" + strings.Repeat("u", n-1) }
	if rec := mwDo(r, "GET", uri(100), "", nil); rec.Code != 200 {
		t.Errorf("100-byte URI: %d", rec.Code)
	}
	if rec := mwDo(r, "GET", uri(101), "", nil); rec.Code != 414 || rec.Body.String() != `{"detail":"Request URI too long: at most 100 bytes"}` {
		t.Errorf("101-byte URI: %d %s", rec.Code, rec.Body)
	}
	// Host "example.com" (httptest's): "Host: example.com\r\n" is 19 bytes;
	// "X: v…\r\n" is 5 + len(v).
	if rec := mwDo(r, "GET", "/", "", map[string]string{"X": strings.Repeat("v", 200-19-5)}); rec.Code != 200 {
		t.Errorf("200 bytes of headers: %d", rec.Code)
	}
	if rec := mwDo(r, "GET", "/", "", map[string]string{"X": strings.Repeat("v", 200-19-5+1)}); rec.Code != 431 || rec.Body.String() != `{"detail":"Request headers too large: at most 200 bytes"}` {
		t.Errorf("201 bytes of headers: %d %s", rec.Code, rec.Body)
	}
}

// chargeCase is a tenant of an edge server whose community tier holds 100
// tokens and never refills (the clock stands still), for counting what
// requests spend.
type chargeCase struct {
	t   *testing.T
	s   *edgeServer
	tok string
}

func newChargeCase(t *testing.T, tenant string) *chargeCase {
	s := newEdgeServerWith(t, 1<<20, func(d *Deps) { d.Limiter.SetLimits(semvec.TierCommunity, 1, 100) })
	return &chargeCase{t: t, s: s, tok: s.issue(tenant, semvec.TierCommunity, time.Hour)}
}

// must sends a request, wants status and returns the JSON object answered.
func (c *chargeCase) must(status int, method, path, body string) map[string]any {
	c.t.Helper()
	rec := c.s.serve(method, path, "", c.tok, body)
	if rec.Code != status {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, rec.Code, rec.Body, status)
	}
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	return m
}

// left spends what is left of the tokens on plain reads and counts them.
func (c *chargeCase) left() int {
	n := 0
	for c.s.serve("GET", "/v1/cluster/", "", c.tok, "").Code == 200 {
		n++
	}
	return n
}

// A cluster's feedback writes every member session: it spends a token per
// member (the first by the limiter's middleware, the rest once the members
// are known), so one request of a community caller cannot make a thousand
// durable writes for one token. The caller's next requests wait for them.
func TestClusterFeedbackIsChargedPerMember(t *testing.T) {
	c := newChargeCase(t, "feedback")
	must := c.must
	cid := must(201, "POST", "/v1/cluster/", `{"name":"team","coupling_factor":0.5}`)["cluster_id"].(string)
	const members = 20
	topics := []string{"sourdough starters", "kubernetes pods", "tax returns", "marathon training", "jazz chords"}
	for i := range members { // 2 tokens each
		msg := "tell me about " + topics[i%len(topics)] + " " + strconv.Itoa(i)
		sid := must(200, "POST", "/v1/run", `{"message":"`+msg+`"}`)["session_id"].(string)
		must(200, "POST", "/v1/cluster/"+cid+"/members", `{"session_id":"`+sid+`"}`)
	}
	spent := 1 + 2*members // 41 of 100
	for range 2 {
		if fb := must(200, "POST", "/v1/cluster/"+cid+"/feedback", ""); fb["sessions_updated"] != float64(members) {
			t.Fatalf("feedback: %v", fb)
		}
		spent += members
	}
	left := c.left() // 100 - 81: what plain reads may still spend
	if left != 100-spent {
		t.Fatalf("%d requests left after two feedbacks of %d members, want %d (a token per member written)", left, members, 100-spent)
	}
}

// A cluster's state asks every member session for its vector (the
// aggregate_vector), activating those passivated: it spends a token per
// member asked, besides the request's own, so that one request of a caller
// cannot make a thousand session asks for one token. (Unpaid, 190 GETs/s of
// a 1,000-member cluster — within the pro tier's rate — kept two cores busy
// and took another tenant's /v1/run from a p50 of 1.4 ms to 84 ms.)
func TestClusterStateIsChargedPerMember(t *testing.T) {
	c := newChargeCase(t, "state")
	must := c.must
	cid := must(201, "POST", "/v1/cluster/", `{"name":"team"}`)["cluster_id"].(string)
	const members = 20
	for range members { // 2 tokens each
		sid := must(200, "POST", "/v1/session/create", `{}`)["session_id"].(string)
		must(200, "POST", "/v1/cluster/"+cid+"/members", `{"session_id":"`+sid+`"}`)
	}
	spent := 1 + 2*members // 41 of 100
	for range 2 {
		if st := must(200, "GET", "/v1/cluster/"+cid, ""); st["member_count"] != float64(members) {
			t.Fatalf("state: %v", st)
		}
		spent += 1 + members
	}
	left := c.left() // 100 - 83: what plain reads may still spend
	if left != 100-spent {
		t.Fatalf("%d requests left after two reads of a %d-member cluster, want %d (a token per member asked)", left, members, 100-spent)
	}
}

// An observer's sample asks every registered region and the backing
// session of every cluster they hold, then writes: it spends a token per
// region and cluster sampled besides the request's own. (Unpaid, 190
// samples/s of 1,000 regions and clusters — within the pro tier's rate —
// kept two cores busy and took another tenant's /v1/run from a p50 of
// 1.4 ms to 35 ms.)
func TestObserverSampleIsChargedPerActorAsked(t *testing.T) {
	c := newChargeCase(t, "sample")
	must := c.must
	const regions = 8
	var ids []string
	for range regions { // 3 tokens each
		cid := must(201, "POST", "/v1/cluster/", `{"name":"team"}`)["cluster_id"].(string)
		rid := must(201, "POST", "/v1/region/", `{"name":"area"}`)["region_id"].(string)
		must(200, "POST", "/v1/region/"+rid+"/clusters", `{"cluster_id":"`+cid+`"}`)
		ids = append(ids, `"`+rid+`"`)
	}
	must(201, "POST", "/v1/observer/", `{"region_ids":[`+strings.Join(ids, ",")+`]}`)
	spent := 3*regions + 1 // 25 of 100
	for range 2 {
		if res := must(200, "POST", "/v1/observer/sample", ""); res["regions_sampled"] != float64(regions) || res["clusters_sampled"] != float64(regions) {
			t.Fatalf("sample: %v", res)
		}
		spent += 2 * regions
	}
	left := c.left() // 100 - 57: what plain reads may still spend
	if left != 100-spent {
		t.Fatalf("%d requests left after two samples of %d regions and clusters, want %d (a token per region and cluster sampled)", left, regions, 100-spent)
	}
}

// A consensus proposal asks every voter's state (the active partition's
// instances and the owner's most recent sessions, up to a few hundred): it
// spends a token per voter besides the request's own (the proposer's).
// (Unpaid, 190 proposals/s with 130 voters — within the pro tier's rate —
// took about 1.8 cores and another tenant's /v1/run p90 from 1.9 ms to
// 16 ms.)
func TestConsensusIsChargedPerVoter(t *testing.T) {
	c := newChargeCase(t, "consensus")
	must := c.must
	const sessions = 12
	topics := []string{"sourdough starters", "kubernetes pods", "tax returns", "marathon training", "jazz chords"}
	var proposer string
	for i := range sessions { // a token each
		msg := "tell me about " + topics[i%len(topics)] + " " + strconv.Itoa(i)
		proposer = must(200, "POST", "/v1/run", `{"message":"`+msg+`"}`)["session_id"].(string)
	}
	target := "[" + strings.TrimSuffix(strings.Repeat("0.05,", 384), ",") + "]" // the edge server embeds in 384 dimensions
	spent := sessions
	for range 2 {
		res := must(200, "POST", "/v1/network/consensus", `{"proposer_session_id":"`+proposer+`","target_embedding":`+target+`}`)
		votes, _ := res["votes"].([]any)
		if len(votes) != sessions-1 { // every session but the proposer
			t.Fatalf("proposal: %d votes, want %d: %v", len(votes), sessions-1, res)
		}
		spent += 1 + len(votes)
	}
	left := c.left() // 100 - 36: what plain reads may still spend
	if left != 100-spent {
		t.Fatalf("%d requests left after two proposals with %d voters, want %d (a token per voter)", left, sessions, 100-spent)
	}
}

// A feedback whose client goes away (or whose deadline passes) is charged
// what a feedback may cost, a burst at most: the cluster still finishes it,
// so hanging up must not dodge the per-member charge.
func TestAnAbandonedFeedbackIsCharged(t *testing.T) {
	s := newEdgeServerWith(t, 1<<20, func(d *Deps) { d.Limiter.SetLimits(semvec.TierCommunity, 1, 100) })
	tok := s.issue("abandon", semvec.TierCommunity, time.Hour) // the clock stands still
	rec := s.serve("POST", "/v1/cluster/", "", tok, `{"name":"team","coupling_factor":0.5}`)
	var cl struct {
		ClusterID string `json:"cluster_id"`
	}
	if rec.Code != 201 || json.Unmarshal(rec.Body.Bytes(), &cl) != nil {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	req := httptest.NewRequest("POST", "/v1/cluster/"+cl.ClusterID+"/feedback", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	ctx, cancel := context.WithCancel(req.Context())
	cancel() // the client has gone
	s.h.ServeHTTP(httptest.NewRecorder(), req.WithContext(ctx))
	if rec := s.serve("GET", "/v1/cluster/", "", tok, ""); rec.Code != 429 {
		t.Fatalf("after an abandoned feedback: %d, want 429 (a burst charged)", rec.Code)
	}
}

// TestAnUnreadBodyDoesNotHoldTheConnection: a request to a route that takes
// no body (GET /v1/health, /openapi.json — no token needed —, an
// authenticated GET or DELETE) that announces one and sends none is
// answered at once, with "Connection: close", and the server hangs up
// within a moment instead of waiting for that body until the read timeout.
// Before, net/http waited for the unread body (to keep the connection)
// before it sent the answer: any client, without a token, could hold a
// busy connection — one LimitConnections never closes to make room — for
// the read timeout (45 s in production) per request. A body sent whole is
// still answered, and a request whose body the route reads keeps its
// connection.
func TestAnUnreadBodyDoesNotHoldTheConnection(t *testing.T) {
	s := newEdgeServer(t, 0)
	addr := s.listen()
	auth := "\r\nAuthorization: Bearer " + s.tok
	cases := []struct {
		name, head string
		want       int
	}{
		{"health, announced length", "GET /v1/health HTTP/1.1\r\nHost: semvec.test\r\nContent-Length: 1000", 200},
		{"health, chunked", "GET /v1/health HTTP/1.1\r\nHost: semvec.test\r\nTransfer-Encoding: chunked", 200},
		{"openapi.json (an answer larger than net/http's buffer)", "GET /openapi.json HTTP/1.1\r\nHost: semvec.test\r\nContent-Length: 1000", 200},
		{"authenticated GET", "GET /v1/cluster HTTP/1.1\r\nHost: semvec.test\r\nContent-Length: 1000" + auth, 200},
		{"authenticated DELETE", "DELETE /v1/session/nope HTTP/1.1\r\nHost: semvec.test\r\nContent-Length: 1000" + auth, 404},
	}
	for _, tc := range cases {
		start := time.Now()
		r, conn := rawExchange(t, addr, tc.head, "")
		if r.resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d: %.200s", tc.name, r.resp.StatusCode, tc.want, r.body)
		}
		if took := time.Since(start); took > unreadBodyGrace {
			t.Errorf("%s: answered after %v: the server waited for the body", tc.name, took)
		}
		if !r.resp.Close {
			t.Errorf("%s: no Connection: close (header %q)", tc.name, r.resp.Header.Get("Connection"))
		}
		var ne net.Error
		if n, err := conn.Read(make([]byte, 1)); err == nil {
			t.Errorf("%s: read %d bytes after the answer", tc.name, n)
		} else if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s: the server kept the connection open, waiting for the body: %v", tc.name, err)
		}
	}

	// A body sent whole to a route that ignores it is still answered.
	r, _ := rawExchange(t, addr, "GET /v1/health HTTP/1.1\r\nHost: semvec.test\r\nContent-Length: 2", "{}")
	if r.resp.StatusCode != http.StatusOK {
		t.Errorf("health with its body sent: %d %s", r.resp.StatusCode, r.body)
	}
	// A body the route reads keeps the connection, announced or chunked.
	body := `{"message":"hello"}`
	for _, framing := range []string{"Content-Length: " + strconv.Itoa(len(body)), "Transfer-Encoding: chunked"} {
		sent := body
		if strings.HasPrefix(framing, "Transfer") {
			sent = strconv.FormatInt(int64(len(body)), 16) + "\r\n" + body + "\r\n0\r\n\r\n"
		}
		r, _ = rawExchange(t, addr, "POST /v1/run HTTP/1.1\r\nHost: semvec.test\r\nContent-Type: application/json\r\n"+framing+auth, sent)
		if r.resp.StatusCode != http.StatusOK || r.resp.Close {
			t.Errorf("run (%s): %d close=%v: %s", framing, r.resp.StatusCode, r.resp.Close, r.body)
		}
	}
}
