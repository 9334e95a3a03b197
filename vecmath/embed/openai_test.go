package embed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/vecmath"
)

// fakeService is a stand-in OpenAI-compatible /v1/embeddings endpoint.
type fakeService struct {
	t          *testing.T
	dim        atomic.Int32 // length of the vectors it returns
	failFirst  int32        // the first failFirst requests get failStatus
	failStatus int
	failBody   string
	retryAfter string // Retry-After header on failures
	reverse    bool   // return entries in reverse order (with correct indices)
	noIndex    bool   // omit "index"
	rawBody    string // if set, sent as the 200 body instead of vectors
	wantKey    string // expected bearer token
	delay      time.Duration
	stop       chan struct{} // closed at the end of the test: releases delayed handlers

	requests atomic.Int32
	mu       sync.Mutex
	batches  [][]string
	models   []string
}

func newFakeService(t *testing.T, dim int) *fakeService {
	f := &fakeService{t: t, stop: make(chan struct{})}
	f.dim.Store(int32(dim))
	return f
}

// fakeVector is the unnormalised vector the fake returns for text: distinct
// per text so that a mix-up shows.
func fakeVector(text string, dim int) []float32 {
	v := make([]float32, dim)
	for j := range v {
		v[j] = 1
	}
	v[0] = float32(len(text) + 1)
	if dim > 1 {
		v[1] = float32(strings.Count(text, "a")) - 3
	}
	return v
}

func normalized(v []float32) []float32 {
	v = slices.Clone(v)
	vecmath.Normalize(v)
	return v
}

func (f *fakeService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.requests.Add(1)
	if f.delay > 0 {
		// Read the body first: only then does the server notice a client
		// that gives up and cancel r.Context().
		io.Copy(io.Discard, r.Body)
		select {
		case <-time.After(f.delay):
		case <-r.Context().Done():
			return
		case <-f.stop:
			return
		}
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/embeddings" {
		http.Error(w, "wrong route "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	if got := r.Header.Get("Authorization"); f.wantKey != "" && got != "Bearer "+f.wantKey {
		http.Error(w, `{"error":{"message":"Incorrect API key provided: `+strings.TrimPrefix(got, "Bearer ")+`"}}`, http.StatusUnauthorized)
		return
	}
	if n <= f.failFirst {
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		http.Error(w, cmpOr(f.failBody, `{"error":{"message":"try again"}}`), f.failStatus)
		return
	}
	var req struct {
		Model string   `json:"model"`
		Input []string `json:"input"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.batches = append(f.batches, req.Input)
	f.models = append(f.models, req.Model)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if f.rawBody != "" {
		fmt.Fprint(w, f.rawBody)
		return
	}
	type entry struct {
		Object    string    `json:"object"`
		Index     *int      `json:"index,omitempty"`
		Embedding []float32 `json:"embedding"`
	}
	var data []entry
	for i, text := range req.Input {
		e := entry{Object: "embedding", Embedding: fakeVector(text, int(f.dim.Load()))}
		if !f.noIndex {
			e.Index = &i
		}
		data = append(data, e)
	}
	if f.reverse {
		slices.Reverse(data)
	}
	json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": req.Model})
}

func (f *fakeService) batchSizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s []int
	for _, b := range f.batches {
		s = append(s, len(b))
	}
	return s
}

// start serves f and returns a client for it with a fast retry pace.
func (f *fakeService) start(cfg OpenAIConfig) (*OpenAI, *httptest.Server) {
	f.t.Helper()
	srv := httptest.NewServer(f)
	f.t.Cleanup(srv.Close)
	f.t.Cleanup(func() { close(f.stop) }) // runs first
	if cfg.URL == "" {
		cfg.URL = srv.URL + "/v1"
	}
	o, err := NewOpenAI(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	o.baseDelay = time.Millisecond
	return o, srv
}

func assertKind(t *testing.T, err error, want semvec.Kind) *semvec.Error {
	t.Helper()
	var e *semvec.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *semvec.Error", err, err)
	}
	if e.Kind != want {
		t.Fatalf("error kind = %v, want %v (%v)", e.Kind, want, err)
	}
	if !strings.HasPrefix(e.Detail, "embedder unavailable: ") {
		t.Errorf("detail %q lacks the prefix", e.Detail)
	}
	return e
}

func checkVectors(t *testing.T, texts []string, got [][]float32, dim int) {
	t.Helper()
	if len(got) != len(texts) {
		t.Fatalf("got %d vectors for %d texts", len(got), len(texts))
	}
	for i, text := range texts {
		want := normalized(fakeVector(text, dim))
		if !slices.Equal(got[i], want) {
			t.Fatalf("vector %d (%q) = %v, want %v", i, text, got[i], want)
		}
		if n := vecmath.Norm(got[i]); math.Abs(float64(n)-1) > 1e-6 {
			t.Fatalf("vector %d has norm %v", i, n)
		}
	}
}

func TestOpenAISuccess(t *testing.T) {
	f := newFakeService(t, 8)
	f.wantKey = "sk-test-123"
	o, _ := f.start(OpenAIConfig{Model: "nomic-embed-text", APIKey: "sk-test-123"})
	var _ Embedder = o
	if o.Name() != "nomic-embed-text" || o.Dim() != 0 {
		t.Fatalf("before use: Name %q, Dim %d", o.Name(), o.Dim())
	}
	texts := []string{"alpha", "a banana", "c"}
	got, err := o.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, texts, got, 8)
	if o.Dim() != 8 {
		t.Errorf("Dim after first response = %d, want 8 (learned)", o.Dim())
	}
	if f.models[0] != "nomic-embed-text" || !slices.Equal(f.batches[0], texts) {
		t.Errorf("request had model %q input %q", f.models[0], f.batches[0])
	}
	if got, err := o.Embed(context.Background(), nil); err != nil || len(got) != 0 {
		t.Errorf("Embed(nil) = %v, %v", got, err)
	}
}

func TestOpenAIURLForms(t *testing.T) {
	f := newFakeService(t, 4)
	srv := httptest.NewServer(f)
	defer srv.Close()
	for _, u := range []string{srv.URL + "/v1", srv.URL + "/v1/", srv.URL + "/v1/embeddings", " " + srv.URL + "/v1/embeddings/ "} {
		o, err := NewOpenAI(OpenAIConfig{URL: u, CacheSize: -1})
		if err != nil {
			t.Fatalf("%q: %v", u, err)
		}
		if _, err := o.Embed(context.Background(), []string{"x"}); err != nil {
			t.Errorf("%q: %v", u, err)
		}
	}
}

func TestNewOpenAIConfigErrors(t *testing.T) {
	for _, cfg := range []OpenAIConfig{
		{},
		{URL: "localhost:11434/v1"},
		{URL: "tcp://embedder:7071"},
		{URL: "http://"},
		{URL: "http://h/v1", Dim: -1},
		{URL: "http://h/v1", Timeout: -time.Second},
	} {
		if _, err := NewOpenAI(cfg); err == nil {
			t.Errorf("NewOpenAI(%+v) accepted an invalid config", cfg)
		}
	}
	_, err := NewOpenAI(OpenAIConfig{URL: "ftp://user:secret@h/v1"})
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("error should reject the URL without showing its password: %v", err)
	}
}

func TestOpenAIBatching(t *testing.T) {
	f := newFakeService(t, 4)
	o, _ := f.start(OpenAIConfig{BatchSize: 2})
	texts := []string{"t1", "t2", "t3", "t4", "t5"}
	got, err := o.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, texts, got, 4)
	if sizes := f.batchSizes(); !slices.Equal(sizes, []int{2, 2, 1}) {
		t.Errorf("batch sizes = %v, want [2 2 1]", sizes)
	}
}

func TestOpenAICache(t *testing.T) {
	f := newFakeService(t, 4)
	o, _ := f.start(OpenAIConfig{})
	first, err := o.Embed(context.Background(), []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	first[0][0] = 42 // the caller owns its vectors; the cache must not see this
	again, err := o.Embed(context.Background(), []string{"b", "a"})
	if err != nil {
		t.Fatal(err)
	}
	if n := f.requests.Load(); n != 1 {
		t.Errorf("cached texts caused %d requests, want 1", n)
	}
	checkVectors(t, []string{"b", "a"}, again, 4)

	// Repeated texts within one call are sent once, and each position gets
	// its own vector.
	dup, err := o.Embed(context.Background(), []string{"x", "a", "x", "x"})
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, []string{"x", "a", "x", "x"}, dup, 4)
	if last := f.batches[len(f.batches)-1]; !slices.Equal(last, []string{"x"}) {
		t.Errorf("second request sent %q, want [x]", last)
	}
	dup[0][0] = 7
	if dup[2][0] == 7 {
		t.Error("duplicate texts share one vector")
	}

	// A different model is a different cache entry.
	f2 := newFakeService(t, 4)
	o2, _ := f2.start(OpenAIConfig{Model: "other"})
	o2.cache = o.cache
	if _, err := o2.Embed(context.Background(), []string{"a"}); err != nil || f2.requests.Load() != 1 {
		t.Errorf("model change should miss the cache: %v, %d requests", err, f2.requests.Load())
	}
}

func TestOpenAICacheDisabled(t *testing.T) {
	f := newFakeService(t, 4)
	o, _ := f.start(OpenAIConfig{CacheSize: -1})
	for range 2 {
		if _, err := o.Embed(context.Background(), []string{"a"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.requests.Load(); n != 2 {
		t.Errorf("requests = %d, want 2 with the cache disabled", n)
	}
}

func TestLRUCacheEviction(t *testing.T) {
	c := newLRUCache(2)
	k := func(s string) cacheKey { return makeCacheKey("m", s) }
	c.add(k("a"), []float32{1})
	c.add(k("b"), []float32{2})
	c.get(k("a")) // a is now the most recent
	c.add(k("c"), []float32{3})
	if _, ok := c.get(k("b")); ok {
		t.Error("b should have been evicted")
	}
	for _, s := range []string{"a", "c"} {
		if _, ok := c.get(k(s)); !ok {
			t.Errorf("%s should be cached", s)
		}
	}
	c.add(k("a"), []float32{9})
	if v, _ := c.get(k("a")); v[0] != 9 || c.len() != 2 {
		t.Errorf("update: got %v, len %d", v, c.len())
	}
	if makeCacheKey("ab", "c") == makeCacheKey("a", "bc") {
		t.Error("cache keys of different (model, text) pairs collide")
	}
}

func TestOpenAIRetry(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusTooManyRequests} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			f := newFakeService(t, 4)
			f.failFirst, f.failStatus = 1, status
			o, _ := f.start(OpenAIConfig{})
			got, err := o.Embed(context.Background(), []string{"retry me"})
			if err != nil {
				t.Fatal(err)
			}
			checkVectors(t, []string{"retry me"}, got, 4)
			if n := f.requests.Load(); n != 2 {
				t.Errorf("requests = %d, want 2", n)
			}
		})
	}
}

func TestOpenAIRetryAfter(t *testing.T) {
	f := newFakeService(t, 4)
	f.failFirst, f.failStatus, f.retryAfter = 1, http.StatusTooManyRequests, "1"
	o, _ := f.start(OpenAIConfig{})
	start := time.Now()
	if _, err := o.Embed(context.Background(), []string{"x"}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("retried after %v, before the server's Retry-After of 1s", d)
	}
	// A Retry-After beyond the deadline fails at once instead of waiting.
	f2 := newFakeService(t, 4)
	f2.failFirst, f2.failStatus, f2.retryAfter = 1, http.StatusServiceUnavailable, "20"
	o2, _ := f2.start(OpenAIConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start = time.Now()
	_, err := o2.Embed(ctx, []string{"x"})
	assertKind(t, err, semvec.KindUnavailable)
	if d := time.Since(start); d > time.Second {
		t.Errorf("waited %v for a retry that could not happen before the deadline", d)
	}
}

func TestOpenAIGivesUpAfterMaxRetries(t *testing.T) {
	f := newFakeService(t, 4)
	f.failFirst, f.failStatus = 100, http.StatusServiceUnavailable
	o, _ := f.start(OpenAIConfig{MaxRetries: 3})
	_, err := o.Embed(context.Background(), []string{"x"})
	e := assertKind(t, err, semvec.KindUnavailable)
	if n := f.requests.Load(); n != 4 {
		t.Errorf("requests = %d, want 1 + 3 retries", n)
	}
	if !strings.Contains(e.Detail, "HTTP 503") || !strings.Contains(e.Detail, "4 attempts") {
		t.Errorf("detail = %q", e.Detail)
	}

	f2 := newFakeService(t, 4)
	f2.failFirst, f2.failStatus = 100, http.StatusServiceUnavailable
	o2, _ := f2.start(OpenAIConfig{MaxRetries: -1})
	_, err = o2.Embed(context.Background(), []string{"x"})
	assertKind(t, err, semvec.KindUnavailable)
	if n := f2.requests.Load(); n != 1 {
		t.Errorf("MaxRetries -1: requests = %d, want 1", n)
	}
}

func TestOpenAINoRetryOnClientError(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity} {
		f := newFakeService(t, 4)
		f.failFirst, f.failStatus = 100, status
		o, _ := f.start(OpenAIConfig{})
		_, err := o.Embed(context.Background(), []string{"x"})
		assertKind(t, err, semvec.KindUnavailable)
		if n := f.requests.Load(); n != 1 {
			t.Errorf("HTTP %d: requests = %d, want 1 (no retry)", status, n)
		}
	}
}

func TestOpenAIServerDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	o, err := NewOpenAI(OpenAIConfig{URL: url + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	_, err = o.Embed(ctx, []string{"x"})
	e := assertKind(t, err, semvec.KindUnavailable)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v to report a down server", d)
	}
	if !strings.Contains(e.Detail, "cannot reach") {
		t.Errorf("detail = %q", e.Detail)
	}
}

func TestOpenAIHangingServerRespectsDeadline(t *testing.T) {
	f := newFakeService(t, 4)
	f.delay = time.Minute
	o, _ := f.start(OpenAIConfig{Timeout: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := o.Embed(ctx, []string{"x"})
	assertKind(t, err, semvec.KindUnavailable)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cause should be the deadline: %v", err)
	}
	if e := assertKind(t, err, semvec.KindUnavailable); !strings.Contains(e.Detail, "deadline exceeded") {
		t.Errorf("detail = %q", e.Detail)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v with a 200ms deadline", d)
	}
	if n := f.requests.Load(); n != 1 {
		t.Errorf("requests = %d: no retry once the caller's deadline passed", n)
	}

	// The per-attempt Timeout applies and the attempt is retried.
	f2 := newFakeService(t, 4)
	f2.delay = time.Minute
	o2, _ := f2.start(OpenAIConfig{Timeout: 30 * time.Millisecond, MaxRetries: 2})
	start = time.Now()
	_, err = o2.Embed(context.Background(), []string{"x"})
	assertKind(t, err, semvec.KindUnavailable)
	if n := f2.requests.Load(); n != 3 {
		t.Errorf("requests = %d, want 3 timed-out attempts", n)
	}
	if e := assertKind(t, err, semvec.KindUnavailable); !strings.Contains(e.Detail, "no answer") {
		t.Errorf("detail = %q", e.Detail)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v for 3 attempts of 30ms", d)
	}
}

func TestOpenAIDimension(t *testing.T) {
	f := newFakeService(t, 4)
	o, _ := f.start(OpenAIConfig{Dim: 8})
	_, err := o.Embed(context.Background(), []string{"x"})
	e := assertKind(t, err, semvec.KindUnavailable)
	if !strings.Contains(e.Detail, "4-dimensional") || !strings.Contains(e.Detail, "expected 8") {
		t.Errorf("detail = %q", e.Detail)
	}
	if n := f.requests.Load(); n != 1 {
		t.Errorf("requests = %d, a wrong dimension is not retried", n)
	}

	// A learned dimension is enforced afterwards.
	f2 := newFakeService(t, 4)
	o2, _ := f2.start(OpenAIConfig{})
	if _, err := o2.Embed(context.Background(), []string{"x"}); err != nil {
		t.Fatal(err)
	}
	f2.dim.Store(6)
	_, err = o2.Embed(context.Background(), []string{"y"})
	assertKind(t, err, semvec.KindUnavailable)
	if o2.Dim() != 4 {
		t.Errorf("Dim = %d, want 4", o2.Dim())
	}
}

func TestOpenAIIndexOrder(t *testing.T) {
	texts := []string{"first", "second one", "third aaa", "4"}
	for _, tc := range []struct {
		name             string
		reverse, noIndex bool
	}{{"reversed with index", true, false}, {"positional without index", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeService(t, 4)
			f.reverse, f.noIndex = tc.reverse, tc.noIndex
			o, _ := f.start(OpenAIConfig{})
			got, err := o.Embed(context.Background(), texts)
			if err != nil {
				t.Fatal(err)
			}
			checkVectors(t, texts, got, 4)
		})
	}
}

func TestOpenAIMalformedResponses(t *testing.T) {
	for _, body := range []string{
		`not json`,
		`{}`,
		`{"data":[]}`,
		`{"data":[{"index":0,"embedding":[]}]}`,
		`{"data":[{"index":1,"embedding":[1,2]}]}`,
		`{"data":[{"index":0,"embedding":"AAAA"}]}`,
		`{"data":[{"index":0,"embedding":[1e39]}]}`,
		`{"error":{"message":"model not found"}}`,
	} {
		f := newFakeService(t, 4)
		f.rawBody = body
		o, _ := f.start(OpenAIConfig{})
		_, err := o.Embed(context.Background(), []string{"x"})
		e := assertKind(t, err, semvec.KindUnavailable)
		if !strings.Contains(e.Detail, "malformed") {
			t.Errorf("%s: detail = %q", body, e.Detail)
		}
		if n := f.requests.Load(); n != 1 {
			t.Errorf("%s: requests = %d, malformed responses are not retried", body, n)
		}
	}
}

func TestOpenAIDoesNotLeakAPIKey(t *testing.T) {
	f := newFakeService(t, 4)
	f.wantKey = "sk-right"
	o, _ := f.start(OpenAIConfig{APIKey: "sk-wrong-SECRET"})
	_, err := o.Embed(context.Background(), []string{"x"})
	e := assertKind(t, err, semvec.KindUnavailable)
	if strings.Contains(err.Error(), "SECRET") || strings.Contains(e.Detail, "SECRET") {
		t.Errorf("error leaks the API key: %v", err)
	}
	if !strings.Contains(e.Detail, "HTTP 401") {
		t.Errorf("detail = %q", e.Detail)
	}
}

// Ping checks the service itself (not the embedding cache), but a readiness
// probe anyone may send cannot spend the operator's quota: Pings within
// pingTTL of a check reuse its outcome, failures included, and Pings that
// arrive while one runs wait for it.
func TestOpenAIPing(t *testing.T) {
	f := newFakeService(t, 5)
	o, _ := f.start(OpenAIConfig{})
	for range 20 {
		if err := o.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if o.Dim() != 5 || f.requests.Load() != 1 {
		t.Errorf("20 Pings: Dim %d, requests %d (want 5, 1)", o.Dim(), f.requests.Load())
	}
	o.pings.at = o.pings.at.Add(-pingTTL) // the outcome is stale
	if err := o.Ping(context.Background()); err != nil || f.requests.Load() != 2 {
		t.Errorf("a Ping past pingTTL: %v, requests %d (want 2)", err, f.requests.Load())
	}

	var p pingCache // Pings arriving while one runs wait for it
	var checks atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if err := p.do(context.Background(), func(context.Context) error {
				checks.Add(1)
				<-release
				return nil
			}); err != nil {
				t.Error(err)
			}
		})
	}
	time.Sleep(50 * time.Millisecond) // let them all arrive (a wait too short only lets fewer share)
	close(release)
	wg.Wait()
	if checks.Load() != 1 {
		t.Errorf("50 concurrent Pings ran %d checks, want 1", checks.Load())
	}

	// A caller that goes away does not decide the outcome for the others:
	// the check runs to its own deadline.
	var fresh pingCache
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if err := fresh.do(gone, func(ctx context.Context) error { return ctx.Err() }); !errors.Is(err, context.Canceled) {
		t.Errorf("a caller already gone: %v, want its own context's error", err)
	}
	if err := fresh.do(context.Background(), func(context.Context) error { return errors.New("a second check ran") }); err != nil {
		t.Errorf("the next caller: %v, want the outcome of the check the first one started (run on a context of its own)", err)
	}

	down := newFakeService(t, 4)
	down.failFirst, down.failStatus = 1000, 429
	do, _ := down.start(OpenAIConfig{MaxRetries: 2})
	do.baseDelay = time.Millisecond
	for range 10 {
		if err := do.Ping(context.Background()); err == nil {
			t.Fatal("a Ping of a service answering 429 succeeded")
		}
	}
	if n := down.requests.Load(); n != 3 {
		t.Errorf("10 Pings of a failing service made %d requests, want 3 (one check and its two retries)", n)
	}
}

func TestOpenAIConcurrent(t *testing.T) {
	f := newFakeService(t, 4)
	o, _ := f.start(OpenAIConfig{BatchSize: 3, CacheSize: 8})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				texts := []string{fmt.Sprint("t", i%10), fmt.Sprint("g", g), "shared"}
				got, err := o.Embed(context.Background(), texts)
				if err != nil {
					t.Error(err)
					return
				}
				for j, text := range texts {
					if !slices.Equal(got[j], normalized(fakeVector(text, 4))) {
						t.Errorf("wrong vector for %q", text)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if n := o.cache.len(); n > 8 {
		t.Errorf("cache holds %d entries, bound 8", n)
	}
}

func TestParseEmbeddingsResponse(t *testing.T) {
	tests := []struct {
		body string
		n    int
		want [][]float32
		ok   bool
	}{
		{`{"data":[{"index":1,"embedding":[3,4]},{"index":0,"embedding":[1,2]}]}`, 2, [][]float32{{1, 2}, {3, 4}}, true},
		{`{"data":[{"embedding":[1,2]},{"embedding":[3,4]}]}`, 2, [][]float32{{1, 2}, {3, 4}}, true},
		{`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5]}],"usage":{"prompt_tokens":1}}`, 1, [][]float32{{0.5}}, true},
		{`{"data":[]}`, 0, [][]float32{}, true},
		{`{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]}`, 2, nil, false},
		{`{"data":[{"index":0,"embedding":[1]},{"embedding":[2]}]}`, 2, nil, false},
		{`{"data":[{"embedding":[1]},{"index":1,"embedding":[2]}]}`, 2, nil, false},
		{`{"data":[{"index":-1,"embedding":[1]}]}`, 1, nil, false},
		{`{"data":[{"index":0,"embedding":[1,2]},{"index":1,"embedding":[3]}]}`, 2, nil, false},
		{`{"data":[{"index":0,"embedding":null}]}`, 1, nil, false},
		{`{"data":[{"index":0,"embedding":[1]}]}`, 2, nil, false},
		{`[]`, 1, nil, false},
		{``, 1, nil, false},
	}
	for _, tt := range tests {
		got, err := parseEmbeddingsResponse([]byte(tt.body), tt.n)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok=%v", tt.body, err, tt.ok)
			continue
		}
		if tt.ok && !slices.EqualFunc(got, tt.want, slices.Equal) {
			t.Errorf("%s: got %v, want %v", tt.body, got, tt.want)
		}
	}
}

// FuzzParseEmbeddingsResponse: the parser never panics, and what it accepts
// is one non-empty vector per input, all of one length.
func FuzzParseEmbeddingsResponse(f *testing.F) {
	f.Add([]byte(`{"data":[{"index":1,"embedding":[3,4]},{"index":0,"embedding":[1,2]}]}`), uint8(2))
	f.Add([]byte(`{"data":[{"embedding":[1e-3,-2]}]}`), uint8(1))
	f.Add([]byte(`{"data":[{"index":7,"embedding":[1]}]}`), uint8(1))
	f.Add([]byte(`{"error":{"message":"x"}}`), uint8(0))
	f.Add([]byte(`{"data":null}`), uint8(3))
	f.Fuzz(func(t *testing.T, body []byte, n uint8) {
		got, err := parseEmbeddingsResponse(body, int(n))
		if err != nil {
			return
		}
		if len(got) != int(n) {
			t.Fatalf("%d vectors for %d inputs", len(got), n)
		}
		for _, v := range got {
			if len(v) == 0 || len(v) != len(got[0]) {
				t.Fatalf("bad vector lengths: %d vs %d", len(v), len(got[0]))
			}
		}
	})
}

func TestOpenAICallerCancels(t *testing.T) {
	f := newFakeService(t, 4)
	f.delay = time.Minute
	o, _ := f.start(OpenAIConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := o.Embed(ctx, []string{"x"})
	e := assertKind(t, err, semvec.KindUnavailable)
	if !errors.Is(err, context.Canceled) || !strings.Contains(e.Detail, "cancelled") {
		t.Errorf("err = %v (detail %q), want a cancellation", err, e.Detail)
	}
	if n := f.requests.Load(); n != 1 {
		t.Errorf("requests = %d, a cancelled call is not retried", n)
	}
}
