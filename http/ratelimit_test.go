package http

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/semvec-go/semvec"
)

// mwClock is a settable clock shared by goroutines.
type mwClock struct{ ns atomic.Int64 }

func newMWClock() *mwClock {
	c := &mwClock{}
	c.ns.Store(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *mwClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *mwClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// mwLimitEngine authenticates from the test headers X-Sub / X-Tier (no JWTs
// needed here) and rate-limits GET /x.
func mwLimitEngine(l *RateLimiter) *gin.Engine {
	fakeAuth := func(c *gin.Context) {
		if sub := c.GetHeader("X-Sub"); sub != "" {
			c.Set(callerKey, semvec.Caller{Subject: sub, Tier: semvec.Tier(c.GetHeader("X-Tier"))})
		}
		c.Next()
	}
	r := mwEngine(fakeAuth, l.Middleware())
	r.GET("/x", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"ok": true}) })
	return r
}

// mwHits sends n requests as sub/tier and counts the 200s.
func mwHits(r http.Handler, sub string, tier semvec.Tier, n int) (ok int) {
	for range n {
		if mwDo(r, http.MethodGet, "/x", "", map[string]string{"X-Sub": sub, "X-Tier": string(tier)}).Code == http.StatusOK {
			ok++
		}
	}
	return ok
}

func TestRateLimit429(t *testing.T) {
	clk := newMWClock()
	l := NewRateLimiter(clk.Now)
	r := mwLimitEngine(l)

	if got := mwHits(r, "acme", semvec.TierCommunity, 50); got != 50 {
		t.Fatalf("community burst: %d of 50 allowed", got)
	}
	w := mwDo(r, http.MethodGet, "/x", "", map[string]string{"X-Sub": "acme", "X-Tier": "community"})
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("51st request: %d, want 429", w.Code)
	}
	if got := w.Header().Get("Retry-After"); got != "60" {
		t.Fatalf("Retry-After %q, want 60", got)
	}
	// The bucket refills a token in 0.2 s: RateLimit-Reset says 1 (whole
	// seconds, at least 1), and after it a request passes.
	if got := w.Header().Get("RateLimit-Reset"); got != "1" {
		t.Fatalf("RateLimit-Reset %q, want 1", got)
	}
	clk.Advance(time.Second)
	if got := mwHits(r, "acme", semvec.TierCommunity, 1); got != 1 {
		t.Fatal("refused again after its RateLimit-Reset")
	}
	if want := `{"detail":"Rate limit exceeded: community tier allows 5 requests/s (burst 50)"}`; w.Body.String() != want {
		t.Fatalf("body %s, want %s", w.Body.String(), want)
	}
	// Another subject has its own bucket.
	if got := mwHits(r, "globex", semvec.TierCommunity, 1); got != 1 {
		t.Fatal("a second caller was throttled by the first one's bucket")
	}
}

func TestRateLimitRefill(t *testing.T) {
	clk := newMWClock()
	l := NewRateLimiter(clk.Now)
	l.SetLimits(semvec.TierCommunity, 2, 4)
	r := mwLimitEngine(l)

	steps := []struct {
		advance time.Duration
		send    int
		wantOK  int
	}{
		{0, 6, 4},                      // burst 4
		{500 * time.Millisecond, 2, 1}, // 2/s: one token in 0.5 s
		{time.Second, 3, 2},            // two more
		{time.Hour, 10, 4},             // refills only up to the burst
		{250 * time.Millisecond, 1, 0}, // half a token is not enough
		{250 * time.Millisecond, 1, 1}, // now it is
		{0, 1, 0},                      // and it is spent
		{10 * time.Second, 5, 4},       // full again after idling
		{-time.Second, 1, 0},           // a clock stepping back mints no tokens
		{2 * time.Second, 2, 2},        // 1 s after the last grant: 2 tokens
		{0, 1, 0},
		{1500 * time.Millisecond, 4, 3},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		if got := mwHits(r, "acme", semvec.TierCommunity, s.send); got != s.wantOK {
			t.Fatalf("step %d (+%v, send %d): %d allowed, want %d", i, s.advance, s.send, got, s.wantOK)
		}
	}
}

func TestRateLimitTiers(t *testing.T) {
	clk := newMWClock()
	l := NewRateLimiter(clk.Now)
	r := mwLimitEngine(l)

	if got := mwHits(r, "pro-co", semvec.TierPro, 2001); got != 2000 {
		t.Fatalf("pro burst: %d allowed, want 2000", got)
	}
	w := mwDo(r, http.MethodGet, "/x", "", map[string]string{"X-Sub": "pro-co", "X-Tier": "pro"})
	if want := `{"detail":"Rate limit exceeded: pro tier allows 200 requests/s (burst 2000)"}`; w.Code != 429 || w.Body.String() != want {
		t.Fatalf("got %d %s", w.Code, w.Body.String())
	}
	clk.Advance(time.Second)
	if got := mwHits(r, "pro-co", semvec.TierPro, 201); got != 200 {
		t.Fatalf("pro refill: %d allowed in 1 s, want 200", got)
	}

	// Enterprise is never throttled and keeps no bucket.
	if got := mwHits(r, "big-co", semvec.TierEnterprise, 3000); got != 3000 {
		t.Fatalf("enterprise: %d of 3000 allowed", got)
	}
	for range 100_000 {
		if ok, _, _ := l.allow(subKey("big-co"), semvec.TierEnterprise); !ok {
			t.Fatal("enterprise throttled")
		}
	}
	l.mu.Lock()
	_, kept := l.buckets[subKey("big-co")]
	l.mu.Unlock()
	if kept {
		t.Fatal("enterprise caller got a bucket")
	}
}

func TestRateLimitTierChangeAndSetLimits(t *testing.T) {
	clk := newMWClock()
	l := NewRateLimiter(clk.Now)
	l.SetLimits(semvec.TierCommunity, 1, 2)
	l.SetLimits(semvec.TierPro, 1, 5)
	r := mwLimitEngine(l)

	if got := mwHits(r, "acme", semvec.TierCommunity, 3); got != 2 {
		t.Fatalf("community: %d allowed, want 2", got)
	}
	// Same subject with a pro token: the bucket is reshaped to burst 5. What
	// accrued while it was a community bucket stays capped at that burst (2);
	// from then on it refills at the pro rate up to 5.
	clk.Advance(3 * time.Second)
	if got := mwHits(r, "acme", semvec.TierPro, 6); got != 2 {
		t.Fatalf("after upgrade: %d allowed, want 2", got)
	}
	clk.Advance(10 * time.Second)
	if got := mwHits(r, "acme", semvec.TierPro, 6); got != 5 {
		t.Fatalf("pro burst after upgrade: %d allowed, want 5", got)
	}
	// Raising a tier's limits applies to existing buckets on their next use.
	l.SetLimits(semvec.TierPro, 1000, 10)
	clk.Advance(time.Second)
	if got := mwHits(r, "acme", semvec.TierPro, 11); got != 10 {
		t.Fatalf("after SetLimits: %d allowed, want 10", got)
	}
	// +Inf makes a tier unthrottled.
	l.SetLimits(semvec.TierPro, math.Inf(1), 0)
	if got := mwHits(r, "acme", semvec.TierPro, 50); got != 50 {
		t.Fatalf("unthrottled pro: %d of 50", got)
	}
	// An unknown tier string is limited like community.
	if got := mwHits(r, "odd", "platinum", 3); got != 2 {
		t.Fatalf("unknown tier: %d allowed, want 2", got)
	}
	// Zero rate: the burst, then nothing, ever.
	l.SetLimits(semvec.TierCommunity, 0, 1)
	if got := mwHits(r, "zero", semvec.TierCommunity, 3); got != 1 {
		t.Fatalf("zero rate: %d allowed, want 1", got)
	}
	clk.Advance(time.Hour)
	if got := mwHits(r, "zero", semvec.TierCommunity, 1); got != 0 {
		t.Fatal("zero rate refilled")
	}
	// A bucket that never refills names no reset, only the contract's 60:
	// a zero rate, or a zero burst (it never holds a token).
	w := mwDo(r, http.MethodGet, "/x", "", map[string]string{"X-Sub": "zero", "X-Tier": "community"})
	if w.Code != http.StatusTooManyRequests || w.Header().Get("RateLimit-Reset") != "" || w.Header().Get("Retry-After") != "60" {
		t.Fatalf("zero rate: %d, RateLimit-Reset %q, Retry-After %q", w.Code, w.Header().Get("RateLimit-Reset"), w.Header().Get("Retry-After"))
	}
	l.SetLimits(semvec.TierCommunity, 5, 0)
	w = mwDo(r, http.MethodGet, "/x", "", map[string]string{"X-Sub": "no-burst", "X-Tier": "community"})
	if w.Code != http.StatusTooManyRequests || w.Header().Get("RateLimit-Reset") != "" {
		t.Fatalf("zero burst: %d, RateLimit-Reset %q", w.Code, w.Header().Get("RateLimit-Reset"))
	}
}

func TestRateLimitWithoutCallerUsesClientIP(t *testing.T) {
	clk := newMWClock()
	l := NewRateLimiter(clk.Now)
	l.SetLimits(semvec.TierCommunity, 1, 2)
	r := mwLimitEngine(l)
	codes := []int{}
	for range 3 {
		codes = append(codes, mwDo(r, http.MethodGet, "/x", "", nil).Code)
	}
	if fmt.Sprint(codes) != "[200 200 429]" {
		t.Fatalf("codes %v", codes)
	}
	// A 404 also spends from the bucket (the limiter runs before routing ends).
	if w := mwDo(r, http.MethodGet, "/nope", "", nil); w.Code != http.StatusTooManyRequests {
		t.Fatalf("unmatched route: %d, want 429", w.Code)
	}
}

func TestRateLimitIdleEviction(t *testing.T) {
	clk := newMWClock()
	l := NewRateLimiter(clk.Now)
	for i := range 20 {
		if ok, _, _ := l.allow(subKey(fmt.Sprint(i)), semvec.TierCommunity); !ok {
			t.Fatal("throttled")
		}
	}
	if n := l.size(); n != 20 {
		t.Fatalf("size %d, want 20", n)
	}
	clk.Advance(bucketIdleTTL - time.Minute)
	l.allow(subKey("0"), semvec.TierCommunity) // keeps sub:0 fresh; triggers a sweep, nothing idle long enough yet
	if n := l.size(); n != 20 {
		t.Fatalf("size %d after partial idle, want 20", n)
	}
	clk.Advance(2 * time.Minute)
	l.allow(subKey("new"), semvec.TierCommunity) // sweep: sub:1..19 idle past the TTL
	if n := l.size(); n != 2 {
		t.Fatalf("size %d after sweep, want 2 (sub:0 and sub:new)", n)
	}
	// A sweep happens at most once per bucketSweepEvery.
	clk.Advance(bucketIdleTTL)
	l.mu.Lock()
	l.lastSweep = clk.Now()
	l.mu.Unlock()
	l.allow(subKey("other"), semvec.TierCommunity)
	if n := l.size(); n != 3 {
		t.Fatalf("size %d, want 3 (no sweep yet)", n)
	}
}

func TestRateLimitEvictionIsLossless(t *testing.T) {
	// A bucket is only forgotten once it would be full again anyway.
	clk := newMWClock()
	l := NewRateLimiter(clk.Now)
	l.SetLimits(semvec.TierCommunity, 0.001, 5) // refill of 5 tokens takes 5000 s
	for range 5 {
		l.allow(subKey("slow"), semvec.TierCommunity)
	}
	clk.Advance(bucketIdleTTL + bucketSweepEvery)
	l.allow(subKey("trigger"), semvec.TierCommunity)
	if ok, _, _ := l.allow(subKey("slow"), semvec.TierCommunity); ok {
		t.Fatal("evicting a still-empty bucket handed out a fresh burst")
	}
}

func TestRateLimitBounded(t *testing.T) {
	clk := newMWClock()
	l := NewRateLimiter(clk.Now)
	l.max = 10
	for i := range 25 {
		if ok, _, _ := l.allow(subKey(fmt.Sprint(i)), semvec.TierCommunity); !ok {
			t.Fatal("throttled")
		}
		if n := l.size(); n > 10 {
			t.Fatalf("size %d exceeds bound 10", n)
		}
	}
}

func TestRateLimitConcurrent(t *testing.T) {
	clk := newMWClock()
	l := NewRateLimiter(clk.Now)
	l.SetLimits(semvec.TierCommunity, 1, 100)
	r := mwLimitEngine(l)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if mwDo(r, http.MethodGet, "/x", "", map[string]string{"X-Sub": "acme"}).Code == http.StatusOK {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := ok.Load(); got != 100 {
		t.Fatalf("%d of 400 concurrent requests allowed, want exactly the burst (100)", got)
	}
}

func TestRateLimitNil(t *testing.T) {
	var l *RateLimiter
	r := mwEngine(l.Middleware())
	r.GET("/x", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	if w := mwDo(r, http.MethodGet, "/x", "", nil); w.Code != http.StatusNoContent {
		t.Fatalf("nil limiter: %d", w.Code)
	}
}

// TestRateLimitCharge: charge spends n more tokens from the bucket the
// middleware spent a request's first from, or none and answers 429 as the
// middleware does (RateLimit-Reset until the bucket holds the request's
// whole cost, absent when it never can), keeping the connection: the body
// has been read.
func TestRateLimitCharge(t *testing.T) {
	clk := newMWClock()
	l := NewRateLimiter(clk.Now)
	l.SetLimits(semvec.TierCommunity, 1, 10)
	fakeAuth := func(c *gin.Context) {
		if sub := c.GetHeader("X-Sub"); sub != "" {
			c.Set(callerKey, semvec.Caller{Subject: sub, Tier: semvec.Tier(c.GetHeader("X-Tier"))})
		}
		c.Next()
	}
	r := mwEngine(fakeAuth, l.Middleware())
	// POST /x costs 1 + the body's number more.
	r.POST("/x", func(c *gin.Context) {
		raw, _ := io.ReadAll(c.Request.Body)
		n, _ := strconv.Atoi(string(raw))
		if l.charge(c, n) {
			c.JSON(http.StatusOK, gin.H{"ok": true})
		}
	})
	post := func(sub string, tier semvec.Tier, more int) *httptest.ResponseRecorder {
		return mwDo(r, http.MethodPost, "/x", strconv.Itoa(more), map[string]string{"X-Sub": sub, "X-Tier": string(tier)})
	}

	for i, more := range []int{4, 4} { // 5 and 5: the burst of 10
		if w := post("acme", semvec.TierCommunity, more); w.Code != http.StatusOK {
			t.Fatalf("request %d costing %d: %d %s", i, 1+more, w.Code, w.Body)
		}
	}
	if w := post("acme", semvec.TierCommunity, 0); w.Code != http.StatusTooManyRequests {
		t.Fatalf("the bucket should be empty: %d", w.Code)
	}

	// 3 tokens: the middleware spends one, the charge of 4 finds 2.
	clk.Advance(3 * time.Second)
	w := post("acme", semvec.TierCommunity, 4)
	want := `{"detail":"Rate limit exceeded: community tier allows 1 requests/s (burst 10)"}`
	if w.Code != http.StatusTooManyRequests || w.Body.String() != want {
		t.Fatalf("charge over the bucket: %d %s", w.Code, w.Body)
	}
	// A retry costs 5 in all, the bucket holds 2 and refills 1/s.
	if w.Header().Get("Retry-After") != "60" || w.Header().Get("RateLimit-Reset") != "3" || w.Header().Get("Connection") != "" {
		t.Fatalf("charge over the bucket: headers %v, want Retry-After 60, RateLimit-Reset 3, no Connection", w.Header())
	}
	// The refused charge spent nothing: the 2 left pay for a request costing 2.
	if w := post("acme", semvec.TierCommunity, 1); w.Code != http.StatusOK {
		t.Fatalf("after a refused charge: %d %s", w.Code, w.Body)
	}
	if w := post("acme", semvec.TierCommunity, 0); w.Code != http.StatusTooManyRequests {
		t.Fatalf("the bucket should be empty again: %d", w.Code)
	}

	// A request costing more than the burst (1 + 10) never passes: no
	// RateLimit-Reset.
	clk.Advance(time.Hour)
	if w := post("acme", semvec.TierCommunity, 10); w.Code != http.StatusTooManyRequests || w.Header().Get("RateLimit-Reset") != "" {
		t.Fatalf("charge over the burst: %d, RateLimit-Reset %q", w.Code, w.Header().Get("RateLimit-Reset"))
	}
	clk.Advance(time.Second) // the refused request's first token stays spent
	if w := post("acme", semvec.TierCommunity, 9); w.Code != http.StatusOK {
		t.Fatalf("the burst whole: %d %s", w.Code, w.Body)
	}

	// Enterprise spends nothing; without a caller the client IP's bucket
	// pays; a nil limiter charges nothing.
	if w := post("big-co", semvec.TierEnterprise, 1_000_000); w.Code != http.StatusOK {
		t.Fatalf("enterprise: %d", w.Code)
	}
	if w := post("", "", 9); w.Code != http.StatusOK {
		t.Fatalf("by IP: %d", w.Code)
	}
	if w := post("", "", 0); w.Code != http.StatusTooManyRequests {
		t.Fatalf("by IP, after a charge of 9: %d, want 429", w.Code)
	}
	var none *RateLimiter
	if !none.charge(nil, 5) {
		t.Fatal("a nil limiter refused a charge")
	}
}
