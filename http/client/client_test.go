package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/semvec-go/semvec/http/api"
	"github.com/semvec-go/semvec/http/client"
	"github.com/semvec-go/semvec/http/openapitest"
)

// flaky answers the statuses in order (then 200 with a health body),
// counting the requests.
func flaky(t *testing.T, retryAfter string, statuses ...int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		w.Header().Set("Content-Type", "application/json")
		if i < len(statuses) {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.WriteHeader(statuses[i])
			_, _ = w.Write([]byte(`{"detail":"busy"}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"ok","active_sessions":1,"version":"x"}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// A read answered 503, 504 or 429 is retried after the Retry-After.
func TestRetriesAfterRetryAfter(t *testing.T) {
	srv, n := flaky(t, "0", 503, 504, 429)
	h, err := client.New(srv.URL).Health(context.Background())
	if err != nil || h.Status != "ok" || n.Load() != 4 {
		t.Fatalf("health %+v, err %v after %d requests", h, err, n.Load())
	}
}

func TestRetriesAreBounded(t *testing.T) {
	srv, n := flaky(t, "0", 503, 503, 503, 503, 503)
	_, err := client.New(srv.URL, client.WithRetries(2)).Health(context.Background())
	if client.StatusOf(err) != 503 || n.Load() != 3 {
		t.Fatalf("err %v after %d requests, want the 503 after 3", err, n.Load())
	}
	var e *client.Error
	if !errors.As(err, &e) || e.Detail != "busy" {
		t.Fatalf("error %#v", err)
	}
}

func TestRetryAfterPastTheBudgetIsNotWaited(t *testing.T) {
	srv, n := flaky(t, "60", 429) // the rate limiter's Retry-After
	t0 := time.Now()
	_, err := client.New(srv.URL).Health(context.Background())
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 429 || e.RetryAfter != time.Minute || n.Load() != 1 || time.Since(t0) > 5*time.Second {
		t.Fatalf("err %v after %d requests and %s", err, n.Load(), time.Since(t0))
	}
}

// A 429 of the rate limiter carries the contract's Retry-After: 60 and the
// seconds until the caller's bucket holds a token again (RateLimit-Reset):
// the client waits the latter, within its budget.
func TestRateLimitResetGoesFirst(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "60")
			w.Header().Set("RateLimit-Reset", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"detail":"Rate limit exceeded: community tier allows 5 requests/s (burst 50)"}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"ok","active_sessions":1,"version":"x"}`))
	}))
	t.Cleanup(srv.Close)
	t0 := time.Now()
	h, err := client.New(srv.URL).Health(context.Background())
	if took := time.Since(t0); err != nil || h.Status != "ok" || n.Load() != 2 || took < time.Second || took > 10*time.Second {
		t.Fatalf("health %+v, err %v after %d requests and %s", h, err, n.Load(), took)
	}
}

func TestRetryWaitRespectsTheContext(t *testing.T) {
	srv, n := flaky(t, "2", 503)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	t0 := time.Now()
	_, err := client.New(srv.URL).Health(ctx)
	if !errors.Is(err, context.Canceled) || client.StatusOf(err) != 503 || n.Load() != 1 || time.Since(t0) > time.Second {
		t.Fatalf("err %v after %d requests and %s", err, n.Load(), time.Since(t0))
	}
	// a deadline sooner than Retry-After: no wait at all
	srv, n = flaky(t, "2", 503)
	ctx, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	if _, err := client.New(srv.URL).Health(ctx); client.StatusOf(err) != 503 || n.Load() != 1 {
		t.Fatalf("err %v after %d requests", err, n.Load())
	}
}

func TestNoRetryForOtherStatuses(t *testing.T) {
	srv, n := flaky(t, "0", 500)
	if _, err := client.New(srv.URL).Health(context.Background()); client.StatusOf(err) != 500 || n.Load() != 1 {
		t.Fatalf("err %v after %d requests", err, n.Load())
	}
}

// New skips nil options (and still applies the others) instead of
// panicking on them.
func TestNilOptionsAreSkipped(t *testing.T) {
	srv, n := flaky(t, "0", 503)
	_, err := client.New(srv.URL, nil, client.WithRetries(0), nil).Health(context.Background())
	if client.StatusOf(err) != 503 || n.Load() != 1 {
		t.Fatalf("err %v after %d requests, want the 503 without a retry", err, n.Load())
	}
}

// countingTransport counts the requests it passes to http.DefaultTransport.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// WithHTTPClient(nil) is ignored: the client keeps the default one, or the
// one an earlier WithHTTPClient gave it, instead of panicking on its first
// call.
func TestWithHTTPClientNilKeepsTheClient(t *testing.T) {
	srv, _ := flaky(t, "")
	if h, err := client.New(srv.URL, client.WithHTTPClient(nil)).Health(context.Background()); err != nil || h.Status != "ok" {
		t.Fatalf("health %+v, err %v", h, err)
	}
	tr := &countingTransport{}
	c := client.New(srv.URL, client.WithHTTPClient(&http.Client{Transport: tr}), client.WithHTTPClient(nil))
	if h, err := c.Health(context.Background()); err != nil || h.Status != "ok" || tr.n.Load() != 1 {
		t.Fatalf("health %+v, err %v, %d requests through the given client", h, err, tr.n.Load())
	}
}

// TestClientCoversTheAPI: every operation of /openapi.json has a method
// (infra routes aside), and what the methods get passes the document.
func TestClientCoversTheAPI(t *testing.T) {
	res, err := http.Get(serverURL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
		} `json:"paths"`
	}
	if err := decode(res, &doc); err != nil {
		t.Fatal(err)
	}
	renamed := map[string]string{"readyz": "Ready", "stateContext": "Context", "getMemory": "Memory", "getCluster": "Cluster",
		"getRegion": "Region", "listAnomalies": "Anomalies"}
	skip := map[string]bool{"prometheusMetrics": true, "openapi": true, "mcp": true}
	ct := reflect.TypeOf(&client.Client{})
	for _, methods := range doc.Paths {
		for _, op := range methods {
			if skip[op.OperationID] {
				continue
			}
			name := renamed[op.OperationID]
			if name == "" {
				r := []rune(op.OperationID)
				name = string(unicode.ToUpper(r[0])) + string(r[1:])
			}
			if _, ok := ct.MethodByName(name); !ok {
				t.Errorf("no client method %s for operation %s", name, op.OperationID)
			}
		}
	}
}

// TestClientAnswersMatchTheDocument runs the layer calls through a client
// whose transport checks every answer against /openapi.json.
func TestClientAnswersMatchTheDocument(t *testing.T) {
	ctx := context.Background()
	v, err := openapitest.Fetch(ctx, http.DefaultClient, serverURL)
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(serverURL, client.WithHTTPClient(&http.Client{Transport: checked{t, v}}))
	sid := must(c.Run(ctx, api.RunBody{Message: "How do I bake sourdough bread?"})).SessionID
	cl := must(c.CreateCluster(ctx, api.ClusterCreateBody{Name: "bakers"}))
	must(c.AddMember(ctx, cl.ClusterID, sid))
	must(c.ClusterStore(ctx, cl.ClusterID, api.ClusterStoreBody{Message: "Best flour?", Response: "Strong bread flour."}))
	if r := must(c.ClusterRun(ctx, cl.ClusterID, api.RunBody{Message: "best flour?"})); r.SessionID != cl.ClusterID {
		t.Fatalf("cluster run on %s", r.SessionID)
	}
	must(c.ClusterFeedback(ctx, cl.ClusterID))
	if l := must(c.ListClusters(ctx)); len(l) != 1 {
		t.Fatalf("clusters %+v", l)
	}
	rg := must(c.CreateRegion(ctx, api.RegionCreateBody{Name: "kitchen"}))
	must(c.AttachCluster(ctx, rg.RegionID, cl.ClusterID))
	if st := must(c.Region(ctx, rg.RegionID)); st.ClusterCount != 1 || st.LastRealignment != nil {
		t.Fatalf("region %+v", st)
	}
	must(c.RegionEvents(ctx, rg.RegionID, api.LimitQuery{}))
	must(c.CreateObserver(ctx, api.ObserverCreateBody{RegionIDs: []string{rg.RegionID}}))
	must(c.ObserverSample(ctx))
	must(c.ObserverSummary(ctx))
	must(c.Anomalies(ctx, api.LimitQuery{}))
	must(c.ClearAnomalies(ctx))
	must(c.UnregisterRegion(ctx, rg.RegionID))
	other := must(c.CreateSession(ctx, api.SessionCreateBody{})).SessionID
	must(c.Transfer(ctx, api.TransferBody{SourceSessionID: sid, TargetSessionID: other}))
	// The server runs anonymously: user partitions, which belong to a
	// licence subject, answer 403 (a documented answer the transport checks).
	for name, call := range map[string]func() error{
		"switch":    func() error { _, err := c.SwitchUser(ctx, "alice"); return err },
		"active":    func() error { _, err := c.ActiveUser(ctx); return err },
		"serialize": func() error { _, err := c.SerializeUser(ctx, "alice"); return err },
	} {
		var ce *client.Error
		if err := call(); !errors.As(err, &ce) || ce.Status != http.StatusForbidden {
			t.Fatalf("anonymous %s: %v, want a 403", name, err)
		}
	}
	must(c.Trust(ctx))
	must(c.DetachCluster(ctx, rg.RegionID, cl.ClusterID))
	must(c.DeleteRegion(ctx, rg.RegionID))
	must(c.RemoveMember(ctx, cl.ClusterID, sid))
	must(c.DeleteCluster(ctx, cl.ClusterID))
	if _, err := c.Cluster(ctx, cl.ClusterID); client.StatusOf(err) != 404 {
		t.Fatalf("deleted cluster: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// checked is a transport that checks each answer against the document.
type checked struct {
	t *testing.T
	v *openapitest.Validator
}

func (c checked) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	body, err := readAll(res)
	if err != nil {
		return nil, err
	}
	if err := c.v.Check(r, res.StatusCode, res.Header, body); err != nil {
		c.t.Errorf("%v", err)
	}
	return res, nil
}

// A 503 or 504 to a change is returned at once, Retry-After and all: its
// outcome is unknown, and a retried /v1/run or /v1/store could be applied
// twice. A 429 is retried for any method: the rate limit refused the
// request before it did anything.
func TestA503Or504ToAChangeIsNotRetried(t *testing.T) {
	for _, status := range []int{503, 504} {
		srv, n := flaky(t, "5", status, status)
		_, err := client.New(srv.URL).Run(context.Background(), api.RunBody{Message: "hi"})
		var e *client.Error
		if !errors.As(err, &e) || e.Status != status || e.RetryAfter != 5*time.Second || n.Load() != 1 {
			t.Fatalf("POST /v1/run: err %v after %d requests, want the %d (Retry-After 5 s) after 1", err, n.Load(), status)
		}
		srv, n = flaky(t, "0", status)
		if _, err := client.New(srv.URL).DeleteSession(context.Background(), "s"); client.StatusOf(err) != status || n.Load() != 1 {
			t.Fatalf("DELETE: err %v after %d requests, want the %d after 1", err, n.Load(), status)
		}
	}
	srv, n := flaky(t, "0", 429, 429)
	if _, err := client.New(srv.URL).Run(context.Background(), api.RunBody{Message: "hi"}); err != nil || n.Load() != 3 {
		t.Fatalf("POST /v1/run after two 429s: err %v after %d requests, want success after 3", err, n.Load())
	}
}
