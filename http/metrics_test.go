package http

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

// mwSample is one gathered metric: its labels and value (counter value, or
// histogram mwSample count).
type mwSample struct {
	labels map[string]string
	value  float64
}

func mwGather(t *testing.T, reg *prometheus.Registry, name string) []mwSample {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []mwSample
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			s := mwSample{labels: map[string]string{}}
			for _, lp := range m.GetLabel() {
				s.labels[lp.GetName()] = lp.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				s.value = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				s.value = float64(m.GetHistogram().GetSampleCount())
			}
			out = append(out, s)
		}
	}
	return out
}

// mwValueOf finds the sample with exactly these labels.
func mwValueOf(samples []mwSample, labels map[string]string) (float64, bool) {
	for _, s := range samples {
		if len(s.labels) != len(labels) {
			continue
		}
		match := true
		for k, v := range labels {
			if s.labels[k] != v {
				match = false
			}
		}
		if match {
			return s.value, true
		}
	}
	return 0, false
}

func TestMetricsMiddlewareLabels(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	log, _ := mwLogger()
	r := mwEngine(requestContext(0), recovery(log), m.Middleware())
	r.GET("/v1/session/:id/export", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"id": c.Param("id")}) })
	r.DELETE("/v1/session/:id", func(c *gin.Context) { c.JSON(http.StatusNotFound, gin.H{"detail": "Session not found"}) })
	r.GET("/v1/boom", func(c *gin.Context) { panic("boom") })

	for _, req := range []struct{ method, path string }{
		{"GET", "/v1/session/abc/export"},
		{"GET", "/v1/session/def/export"},
		{"GET", "/v1/session/ghi/export"},
		{"DELETE", "/v1/session/abc"},
		{"GET", "/no/such/route"},
		{"POST", "/v1/session/abc/export"}, // 405
		{"GET", "/v1/boom"},
	} {
		mwDo(r, req.method, req.path, "", nil)
	}

	reqs := mwGather(t, m.Registry, "semvec_requests_total")
	for _, want := range []struct {
		method, endpoint, status string
		n                        float64
	}{
		{"GET", "/v1/session/:id/export", "200", 3},
		{"DELETE", "/v1/session/:id", "404", 1},
		{"GET", "unmatched", "404", 1},
		{"POST", "unmatched", "405", 1},
		{"GET", "/v1/boom", "500", 1},
	} {
		got, ok := mwValueOf(reqs, map[string]string{"method": want.method, "endpoint": want.endpoint, "status": want.status})
		if !ok || got != want.n {
			t.Errorf("requests_total{%s %s %s} = %v (present %v), want %v", want.method, want.endpoint, want.status, got, ok, want.n)
		}
	}
	for _, s := range reqs {
		for _, v := range s.labels {
			if strings.Contains(v, "abc") || strings.Contains(v, "def") {
				t.Errorf("raw path leaked into a label: %v", s.labels)
			}
		}
	}
	if n := len(reqs); n != 5 {
		t.Errorf("%d request series, want 5: %v", n, reqs)
	}

	dur := mwGather(t, m.Registry, "semvec_request_duration_seconds")
	if got, ok := mwValueOf(dur, map[string]string{"method": "GET", "endpoint": "/v1/session/:id/export"}); !ok || got != 3 {
		t.Errorf("duration mwSample count %v, want 3", got)
	}
}

func TestMetricsObserveAsk(t *testing.T) {
	m := NewMetrics(nil)
	m.ObserveAsk("Run", 3*time.Millisecond, AskOK)
	m.ObserveAsk("Run", 2*time.Second, AskTimeout)
	m.ObserveAsk("Store", time.Millisecond, AskUnavailable)
	m.ObserveAsk("Store", time.Millisecond, "weird") // folded into error
	m.ObserveAsk("Store", time.Millisecond, AskError)

	total := mwGather(t, m.Registry, "semvec_actor_ask_total")
	for _, want := range []struct {
		msg, outcome string
		n            float64
	}{
		{"Run", "ok", 1}, {"Run", "timeout", 1}, {"Store", "unavailable", 1}, {"Store", "error", 2},
	} {
		if got, ok := mwValueOf(total, map[string]string{"message": want.msg, "outcome": want.outcome}); !ok || got != want.n {
			t.Errorf("ask_total{%s,%s} = %v, want %v", want.msg, want.outcome, got, want.n)
		}
	}
	if n := len(total); n != 4 {
		t.Errorf("%d ask series, want 4", n)
	}
	dur := mwGather(t, m.Registry, "semvec_actor_ask_duration_seconds")
	if got, _ := mwValueOf(dur, map[string]string{"message": "Run"}); got != 2 {
		t.Errorf("Run ask duration count %v, want 2", got)
	}
}

func TestMetricsHandler(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	routes := map[string]gin.HandlerFunc{
		"/on":       m.Handler("prom", "s3cret"),
		"/off":      m.Handler("", ""),
		"/halfuser": m.Handler("prom", ""),
		"/halfpass": m.Handler("", "s3cret"),
	}
	r := mwEngine(m.Middleware())
	paths := make([]string, 0, len(routes))
	for p, h := range routes {
		r.GET(p, h)
		paths = append(paths, p)
	}
	sort.Strings(paths)
	mwDo(r, http.MethodGet, "/no-route", "", nil) // something to count

	const (
		disabled = `{"detail":"Metrics disabled: set METRICS_USER and METRICS_PASSWORD"}`
		denied   = `{"detail":"Invalid metrics credentials"}`
	)
	basic := func(u, p string) map[string]string {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth(u, p)
		return map[string]string{"Authorization": req.Header.Get("Authorization")}
	}
	tests := []struct {
		name, path string
		header     map[string]string
		status     int
		body       string // exact, or "" to check the exposition format
	}{
		{"disabled", "/off", basic("prom", "s3cret"), 503, disabled},
		{"user only", "/halfuser", basic("prom", ""), 503, disabled},
		{"password only", "/halfpass", basic("", "s3cret"), 503, disabled},
		{"no credentials", "/on", nil, 401, denied},
		{"bearer instead of basic", "/on", map[string]string{"Authorization": "Bearer x"}, 401, denied},
		{"wrong password", "/on", basic("prom", "wrong"), 401, denied},
		{"wrong user", "/on", basic("admin", "s3cret"), 401, denied},
		{"password prefix", "/on", basic("prom", "s3cre"), 401, denied},
		{"ok", "/on", basic("prom", "s3cret"), 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := mwDo(r, http.MethodGet, tc.path, "", tc.header)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d (%s)", w.Code, tc.status, w.Body.String())
			}
			if tc.body != "" && w.Body.String() != tc.body {
				t.Fatalf("body %s, want %s", w.Body.String(), tc.body)
			}
			challenge := w.Header().Get("WWW-Authenticate")
			if (tc.status == 401) != (challenge == `Basic realm="metrics"`) {
				t.Fatalf("WWW-Authenticate %q with status %d", challenge, tc.status)
			}
			if tc.status == 200 {
				out := w.Body.String()
				for _, want := range []string{
					`semvec_requests_total{endpoint="unmatched",method="GET",status="404"} 1`,
					"# TYPE semvec_request_duration_seconds histogram",
					`semvec_request_duration_seconds_bucket{endpoint="unmatched",method="GET",le="0.0005"}`,
					"go_goroutines",
				} {
					if !strings.Contains(out, want) {
						t.Errorf("exposition lacks %q", want)
					}
				}
				if !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
					t.Errorf("content type %q", w.Header().Get("Content-Type"))
				}
			}
		})
	}
}

func TestMetricsNilSafe(t *testing.T) {
	var m *Metrics
	m.ObserveAsk("Run", time.Millisecond, AskOK)
	r := mwEngine(m.Middleware())
	r.GET("/x", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	r.GET("/metrics", m.Handler("u", "p"))
	if w := mwDo(r, http.MethodGet, "/x", "", nil); w.Code != http.StatusNoContent {
		t.Fatalf("nil metrics middleware: %d", w.Code)
	}
	if w := mwDo(r, http.MethodGet, "/metrics", "", nil); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("nil metrics handler: %d", w.Code)
	}
}

func TestNewMetricsRejectsDoubleRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewMetrics(reg)
	defer func() {
		if recover() == nil {
			t.Fatal("registering twice on one registry did not panic")
		}
	}()
	NewMetrics(reg)
}

func TestMetricsLabelFunctions(t *testing.T) {
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE"} {
		if got := methodLabel(m); got != m {
			t.Errorf("methodLabel(%q) = %q", m, got)
		}
	}
	for _, m := range []string{"get", "Post", "PROPFIND", "BREW", "X", "", "GET ", strings.Repeat("A", 1000)} {
		if got := methodLabel(m); got != "OTHER" {
			t.Errorf("methodLabel(%q) = %q, want OTHER", m, got)
		}
	}
	for code, want := range map[int]string{100: "100", 200: "200", 499: "499", 599: "599", 0: "other", 99: "other", 600: "other", 1000: "other", -1: "other"} {
		if got := statusLabel(code); got != want {
			t.Errorf("statusLabel(%d) = %q, want %q", code, got, want)
		}
	}
}

// TestMetricsSeriesUnchangedByInventedMethodsAndPaths is the acceptance
// check of issue 10 (item 3): 10,000 requests with invented methods and
// random paths, none authenticated, to the whole server over a real
// connection, leave the number of series on /metrics unchanged, and every
// label value of the request metrics comes from a fixed set.
func TestMetricsSeriesUnchangedByInventedMethodsAndPaths(t *testing.T) {
	s := newEdgeServer(t, 0)
	base := "http://" + s.listen()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: 30 * time.Second}
	t.Cleanup(client.CloseIdleConnections)

	scrape := func() (series int, size int) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
		req.SetBasicAuth(edgeMetricsUser, edgeMetricsPass)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if line != "" && !strings.HasPrefix(line, "#") {
				series++
			}
		}
		return series, len(b)
	}

	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	word := func(rng *rand.Rand, lo, hi int) string {
		b := make([]byte, lo+rng.IntN(hi-lo+1))
		for i := range b {
			b[i] = letters[rng.IntN(len(letters))]
		}
		return string(b)
	}
	standard := map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true,
		"DELETE": true, "CONNECT": true, "OPTIONS": true, "TRACE": true}
	send := func(seed uint64, n int) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(seed, uint64(w)))
				for range n / 8 {
					method := word(rng, 3, 12)
					for standard[method] {
						method = word(rng, 3, 12)
					}
					var path string
					switch rng.IntN(6) {
					case 0:
						path = "/" + word(rng, 1, 40)
					case 1:
						path = "/v1/" + word(rng, 1, 20) + "/" + word(rng, 1, 20)
					case 2:
						path = "/v1/session/" + word(rng, 8, 32) // a DELETE route: 405
					case 3:
						path = "/v1/session/" + word(rng, 8, 32) + "/export" // a GET route: 405
					case 4:
						path = "/metrics/" + word(rng, 1, 20)
					default:
						path = "/" + word(rng, 1, 10) + "/" + word(rng, 1, 10) + "?" + word(rng, 1, 10) + "=" + word(rng, 1, 10)
					}
					req, err := http.NewRequest(method, base+path, nil)
					if err != nil {
						errs <- err
						return
					}
					resp, err := client.Do(req)
					if err != nil {
						errs <- err
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
						errs <- fmt.Errorf("%s %s: status %d", method, path, resp.StatusCode)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}

	send(1, 400) // warm-up: the fixed label values these requests can produce
	scrape()     // the scrape's own series appears once it has been counted
	before, sizeBefore := scrape()
	send(2, 10_000)
	after, sizeAfter := scrape()
	if after != before {
		t.Errorf("/metrics series: %d before 10,000 invented requests, %d after", before, after)
	}
	if sizeAfter > sizeBefore+sizeBefore/10 {
		t.Errorf("/metrics grew from %d to %d bytes", sizeBefore, sizeAfter)
	}

	endpoints := map[string]bool{unmatchedEndpoint: true}
	for _, ri := range s.h.(*gin.Engine).Routes() {
		endpoints[ri.Path] = true
	}
	var invented float64
	bad := 0
	for _, smp := range mwGather(t, s.metrics.Registry, "semvec_requests_total") {
		m, e := smp.labels["method"], smp.labels["endpoint"]
		if (m != "OTHER" && !standard[m]) || !endpoints[e] {
			if bad++; bad <= 5 {
				t.Errorf("label outside the fixed sets: %v", smp.labels)
			}
		}
		if smp.labels["method"] == "OTHER" {
			invented += smp.value
		}
	}
	if bad > 5 {
		t.Errorf("... %d series with labels outside the fixed sets", bad)
	}
	if invented != 10_400 {
		t.Errorf("%v requests counted as OTHER, want 10400", invented)
	}
}
