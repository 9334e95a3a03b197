package http

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/semvec-go/semvec"
)

// Rate-limit defaults from semvec's licensing docs.
const (
	communityPerSec = 5
	communityBurst  = 50
	proPerSec       = 200
	proBurst        = 2000

	// retryAfterSeconds is the Retry-After of every 429 (the REST contract).
	retryAfterSeconds = "60"

	// bucketIdleTTL: a bucket unused this long (and at least long enough to
	// have refilled completely, so forgetting it changes nothing) is evicted.
	bucketIdleTTL = 5 * time.Minute
	// bucketSweepEvery: how often, at most, an access triggers a sweep.
	bucketSweepEvery = time.Minute
	// maxBuckets bounds memory even under a flood of distinct callers.
	maxBuckets = 100_000
)

// tierLimit is one tier's token bucket shape.
type tierLimit struct {
	perSec    float64
	burst     int
	unlimited bool
}

// rateBucket is one caller's token bucket.
type rateBucket struct {
	lim      *rate.Limiter
	tier     semvec.Tier // the tier of the caller's latest request
	limit    tierLimit   // what lim is currently set to
	lastSeen time.Time
}

// RateLimiter is a token bucket per caller (licence subject), shaped by the
// caller's tier: community 5/s with bursts of 50, pro 200/s with bursts of
// 2000, enterprise unthrottled. Buckets of idle callers are evicted. It is
// safe for concurrent use; the zero value is not usable, use NewRateLimiter.
type RateLimiter struct {
	now func() time.Time

	mu        sync.Mutex
	limits    map[semvec.Tier]tierLimit
	buckets   map[bucketKey]*rateBucket
	lastSweep time.Time
	idleTTL   time.Duration
	max       int
}

// bucketKey names a bucket: a licence subject, or a client IP for requests
// without a caller. A struct, so building it allocates nothing.
type bucketKey struct {
	byIP bool
	id   string
}

func subKey(subject string) bucketKey { return bucketKey{id: subject} }

// NewRateLimiter returns a limiter with semvec's tier limits. clock may be nil
// (time.Now); tests inject one to control refill.
func NewRateLimiter(clock func() time.Time) *RateLimiter {
	if clock == nil {
		clock = time.Now
	}
	return &RateLimiter{
		now: clock,
		limits: map[semvec.Tier]tierLimit{
			semvec.TierCommunity:  {perSec: communityPerSec, burst: communityBurst},
			semvec.TierPro:        {perSec: proPerSec, burst: proBurst},
			semvec.TierEnterprise: {unlimited: true},
		},
		buckets:   make(map[bucketKey]*rateBucket),
		lastSweep: clock(),
		idleTTL:   bucketIdleTTL,
		max:       maxBuckets,
	}
}

// SetLimits changes a tier's sustained rate (tokens per second) and burst.
// perSec = +Inf makes the tier unthrottled; a negative perSec or burst counts
// as 0. Existing buckets of the tier are reshaped at once: tokens accrued so
// far count at the old rate and are capped by the new burst.
func (l *RateLimiter) SetLimits(t semvec.Tier, perSec float64, burst int) {
	lim := tierLimit{perSec: max(perSec, 0), burst: max(burst, 0)}
	if math.IsInf(perSec, 1) {
		lim = tierLimit{unlimited: true}
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.limits[t] = lim
	for k, b := range l.buckets {
		if b.tier != t {
			continue
		}
		if lim.unlimited {
			delete(l.buckets, k)
			continue
		}
		b.reshape(now, lim)
	}
}

// reshape applies new limits to b, keeping its current tokens (capped by the
// new burst). The caller holds l.mu.
func (b *rateBucket) reshape(now time.Time, lim tierLimit) {
	b.lim.SetLimitAt(now, rate.Limit(lim.perSec))
	b.lim.SetBurstAt(now, lim.burst)
	b.limit = lim
}

// Middleware spends one token per request from the caller's bucket, or
// answers 429 {"detail":"Rate limit exceeded: <tier> tier allows N
// requests/s (burst M)"} with "Retry-After: 60". It must run after
// authMiddleware; a request without a caller is limited as community tier by
// client IP. A nil *RateLimiter limits nothing.
func (l *RateLimiter) Middleware() gin.HandlerFunc {
	if l == nil {
		return func(c *gin.Context) { c.Next() }
	}
	return func(c *gin.Context) {
		var key bucketKey
		tier := semvec.TierCommunity
		if caller, ok := lookupCaller(c); ok && caller.Subject != "" {
			key = subKey(caller.Subject)
			if caller.Tier != "" {
				tier = caller.Tier
			}
		} else {
			key = bucketKey{byIP: true, id: c.ClientIP()}
		}
		if ok, lim := l.allow(key, tier); !ok {
			c.Header("Retry-After", retryAfterSeconds)
			c.AbortWithStatusJSON(http.StatusTooManyRequests, gin.H{
				"detail": "Rate limit exceeded: " + string(tier) + " tier allows " +
					strconv.FormatFloat(lim.perSec, 'f', -1, 64) + " requests/s (burst " +
					strconv.Itoa(lim.burst) + ")",
			})
			return
		}
		c.Next()
	}
}

// allow spends one token for key under tier's limits. It reports the limits
// applied so a refusal can name them.
func (l *RateLimiter) allow(key bucketKey, tier semvec.Tier) (bool, tierLimit) {
	l.mu.Lock()
	lim, known := l.limits[tier]
	if !known {
		lim = l.limits[semvec.TierCommunity]
	}
	if lim.unlimited { // no clock read: sweeps ride on limited requests
		if len(l.buckets) > 0 {
			delete(l.buckets, key) // the tier may have changed; drop stale state
		}
		l.mu.Unlock()
		return true, lim
	}
	now := l.now()
	if now.Sub(l.lastSweep) >= bucketSweepEvery {
		l.sweepLocked(now)
	}
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.max {
			l.sweepLocked(now)
			l.shedLocked()
		}
		// A new bucket starts full.
		b = &rateBucket{lim: rate.NewLimiter(rate.Limit(lim.perSec), lim.burst), tier: tier, limit: lim}
		l.buckets[key] = b
	} else if b.tier != tier || b.limit != lim {
		// The caller now presents a token of another tier: reshape, keeping
		// the tokens accrued so far.
		b.tier = tier
		b.reshape(now, lim)
	}
	b.lastSeen = now
	l.mu.Unlock()
	return b.lim.AllowN(now, 1), lim
}

// sweepLocked evicts buckets idle long enough to be full again (and at least
// idleTTL), so eviction never changes an answer. Zero-rate buckets never
// refill and are kept (only shedLocked can drop them). l.mu must be held.
func (l *RateLimiter) sweepLocked(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		if b.limit.perSec <= 0 {
			continue // never refills: forgetting it would hand out a new burst
		}
		idle := max(l.idleTTL, time.Duration(float64(b.limit.burst)/b.limit.perSec*float64(time.Second)))
		if now.Sub(b.lastSeen) >= idle {
			delete(l.buckets, k)
		}
	}
}

// shedLocked makes room when the table is full of active buckets: it drops
// arbitrary entries (map order) down to 90 % of the bound. Those callers get
// a fresh bucket, which only matters under a flood of distinct subjects.
// l.mu must be held.
func (l *RateLimiter) shedLocked() {
	target := l.max - l.max/10
	if target >= l.max {
		target = l.max - 1
	}
	for k := range l.buckets {
		if len(l.buckets) <= target {
			break
		}
		delete(l.buckets, k)
	}
}

// size reports the number of live buckets (tests).
func (l *RateLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
