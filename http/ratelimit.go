package http

import (
	"container/list"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/http/api"
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
// requests/s (burst M)"} with "Retry-After: 60" (the REST contract's
// figure, whatever the bucket) and "RateLimit-Reset: <seconds>", the whole
// seconds until the bucket holds a token again (draft-ietf-httpapi-ratelimit-
// headers; absent for a bucket that never refills), which this project's
// client waits instead. It must run after
// authMiddleware; a request without a caller is limited as community tier by
// client IP. A request that costs more than one token (an MCP batch) has
// charge spend the rest. A nil *RateLimiter limits nothing.
func (l *RateLimiter) Middleware() gin.HandlerFunc {
	if l == nil {
		return func(c *gin.Context) { c.Next() }
	}
	return func(c *gin.Context) {
		key, tier := bucketOf(c)
		if ok, lim, wait := l.allow(key, tier); !ok {
			refuse(c, tier, lim, wait, false)
			return
		}
		c.Next()
	}
}

// charge spends n more tokens (n >= 1) for c's request from the bucket
// Middleware spent its token from, for a request whose cost is known only
// once its body has been read (an MCP batch costs a token per message, the
// first spent by Middleware). When the bucket lacks them it spends none and
// answers 429 as Middleware does, RateLimit-Reset then counting until the
// bucket holds what the request costs in all, n+1 (absent when it never
// does: n+1 over the burst), and returns false. The body has been read: the
// connection is kept. It must run after Middleware; a nil *RateLimiter
// spends nothing.
func (l *RateLimiter) charge(c *gin.Context, n int) bool {
	if l == nil || n <= 0 {
		return true
	}
	key, tier := bucketOf(c)
	ok, lim, wait := l.allowN(key, tier, n)
	if !ok {
		// wait counts until the bucket holds n; a retry needs one more.
		if wait > 0 && n+1 <= lim.burst {
			wait += time.Duration(float64(time.Second) / lim.perSec)
		} else {
			wait = 0
		}
		refuse(c, tier, lim, wait, true)
	}
	return ok
}

// debit spends n more tokens for c's request after it has been served,
// when what it cost is known only then: a cluster's feedback writes every
// member session, a partition switch saves and restores sessions, so one
// request of a community caller could make a thousand durable writes for one
// token. The bucket may go below empty (by at most its burst), so the
// caller's next requests wait until the work is paid for; the answer is
// not changed. It must run after Middleware; a nil *RateLimiter spends
// nothing.
func (l *RateLimiter) debit(c *gin.Context, n int) {
	if l == nil || n <= 0 {
		return
	}
	key, _ := bucketOf(c)
	l.mu.Lock()
	b := l.buckets[key]
	var lim tierLimit
	if b != nil {
		lim = b.limit
	}
	l.mu.Unlock()
	if b == nil || lim.unlimited || lim.perSec <= 0 {
		return // unthrottled, or a bucket that never refills (spent by allowN)
	}
	b.lim.ReserveN(l.now(), min(n, lim.burst)) // never cancelled: the tokens stay spent
}

// bucketOf names the bucket c's request spends from (the caller's licence
// subject, or the client IP without one) and the tier whose limits apply.
func bucketOf(c *gin.Context) (bucketKey, semvec.Tier) {
	if caller, ok := lookupCaller(c); ok && caller.Subject != "" {
		if caller.Tier != "" {
			return subKey(caller.Subject), caller.Tier
		}
		return subKey(caller.Subject), semvec.TierCommunity
	}
	return bucketKey{byIP: true, id: c.ClientIP()}, semvec.TierCommunity
}

// refuse answers 429 with the limits applied in its detail, Retry-After,
// and RateLimit-Reset when the bucket refills (wait > 0). A request whose
// body is still unread is answered as abortUnread does.
func refuse(c *gin.Context, tier semvec.Tier, lim tierLimit, wait time.Duration, bodyRead bool) {
	c.Header("Retry-After", retryAfterSeconds)
	if wait > 0 {
		c.Header("RateLimit-Reset", strconv.FormatInt(max(1, int64(math.Ceil(wait.Seconds()))), 10))
	}
	detail := "Rate limit exceeded: " + string(tier) + " tier allows " +
		strconv.FormatFloat(lim.perSec, 'f', -1, 64) + " requests/s (burst " + strconv.Itoa(lim.burst) + ")"
	if bodyRead {
		c.AbortWithStatusJSON(http.StatusTooManyRequests, api.Error{Detail: detail})
		return
	}
	abortUnread(c, http.StatusTooManyRequests, detail)
}

// allow spends one token for key under tier's limits (see allowN).
func (l *RateLimiter) allow(key bucketKey, tier semvec.Tier) (bool, tierLimit, time.Duration) {
	return l.allowN(key, tier, 1)
}

// allowN spends n tokens for key under tier's limits, or none when the
// bucket lacks them. It reports the limits applied so a refusal can name
// them, and with a refusal how long until the bucket holds n tokens again
// (0 when it never does: no refill, or n over the burst).
func (l *RateLimiter) allowN(key bucketKey, tier semvec.Tier, n int) (bool, tierLimit, time.Duration) {
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
		return true, lim, 0
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
	if b.lim.AllowN(now, n) {
		return true, lim, 0
	}
	if lim.perSec <= 0 || lim.burst < n { // it never holds n tokens
		return false, lim, 0
	}
	missing := float64(n) - b.lim.TokensAt(now)
	return false, lim, time.Duration(missing / lim.perSec * float64(time.Second))
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

// Failed-authentication limits: every address may fail authentication
// authFailBurst times in a row, then once per 1/authFailPerSec seconds.
const (
	authFailPerSec = 0.5
	authFailBurst  = 20
	// maxAuthFailAddrs bounds the table of addresses that failed
	// authentication recently (least recently failed evicted first): about
	// 170 bytes an entry (measured), so at most ~11 MB whatever a flood of
	// distinct addresses does.
	maxAuthFailAddrs = 65_536
	// ipv6FailPrefix: IPv6 callers are counted per /64, the smallest block a
	// site is usually given, so one host cannot walk its own /64 to reset
	// its budget.
	ipv6FailPrefix = 64
)

// AuthFailureLimiter limits failed authentication per client address: a
// token bucket per address that only failures spend. While an address's
// bucket is empty, its requests to authenticated routes are answered 429
// before their credentials are looked at (no signature check, no password
// comparison, no body read), so a flood of bad or missing tokens costs
// almost nothing and a password cannot be guessed faster than the refill.
// Successful requests spend nothing.
//
// The address is the TCP peer (http.Request.RemoteAddr), never a forwarding
// header: the server trusts no proxy. IPv6 peers are grouped per /64. The
// table is capped (least recently failed evicted first), so spoofed or
// rotating addresses cannot grow memory; an evicted address only gets a
// fresh budget. Safe for concurrent use; the zero value is not usable, use
// NewAuthFailureLimiter.
type AuthFailureLimiter struct {
	now    func() time.Time
	perSec float64
	burst  float64
	max    int

	mu      sync.Mutex
	entries map[netip.Addr]*list.Element // of *authFailEntry
	lru     list.List                    // front: most recent failure
}

type authFailEntry struct {
	addr   netip.Addr
	tokens float64   // failures still allowed, as of last
	last   time.Time // when tokens was computed
}

// NewAuthFailureLimiter returns a limiter allowing 20 failed authentications
// per address, refilling one every 2 s. clock may be nil (time.Now).
func NewAuthFailureLimiter(clock func() time.Time) *AuthFailureLimiter {
	if clock == nil {
		clock = time.Now
	}
	return &AuthFailureLimiter{
		now:     clock,
		perSec:  authFailPerSec,
		burst:   authFailBurst,
		max:     maxAuthFailAddrs,
		entries: make(map[netip.Addr]*list.Element),
	}
}

// Middleware guards the authentication that runs after it: an address out
// of budget is answered 429 {"detail":"Too many failed authentication
// attempts: retry later"} with Retry-After (seconds until one more attempt
// is allowed), and every 401 answered further down the chain spends one
// failure from the address's budget. known, when set, names the requests
// whose credentials are known good at no cost (a licence token the
// verifier has accepted and caches): they pass an address out of budget,
// so a client that shares its address with a failing one (behind a NAT or
// a proxy) keeps working. A nil *AuthFailureLimiter limits nothing.
func (l *AuthFailureLimiter) Middleware(known func(*http.Request) bool) gin.HandlerFunc {
	if l == nil {
		return func(c *gin.Context) { c.Next() }
	}
	return func(c *gin.Context) {
		addr := failAddr(c.Request.RemoteAddr)
		if wait, blocked := l.blocked(addr); blocked && (known == nil || !known(c.Request)) {
			c.Header("Retry-After", strconv.FormatInt(int64(math.Ceil(wait.Seconds())), 10))
			abortUnread(c, http.StatusTooManyRequests, detailAuthFailures)
			return
		}
		c.Next()
		if c.Writer.Status() == http.StatusUnauthorized {
			l.fail(addr)
		}
	}
}

// failAddr is the key of a peer address: the IP of "host:port" (IPv4-mapped
// IPv6 unmapped, IPv6 masked to its /64); the zero Addr when RemoteAddr is
// not an IP (a Unix socket), so such peers share one budget.
func failAddr(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}
	}
	a := ap.Addr().Unmap().WithZone("")
	if a.Is6() {
		a = netip.PrefixFrom(a, ipv6FailPrefix).Masked().Addr()
	}
	return a
}

// refillLocked brings e's tokens up to now. l.mu must be held.
func (l *AuthFailureLimiter) refillLocked(e *authFailEntry, now time.Time) {
	if d := now.Sub(e.last); d > 0 {
		e.tokens = min(l.burst, e.tokens+d.Seconds()*l.perSec)
	}
	e.last = now
}

// blocked reports whether addr has no failure left, and how long until it
// has one.
func (l *AuthFailureLimiter) blocked(addr netip.Addr) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.entries[addr]
	if !ok {
		return 0, false
	}
	e := el.Value.(*authFailEntry)
	l.refillLocked(e, l.now())
	if e.tokens >= 1 {
		return 0, false
	}
	if l.perSec <= 0 {
		return time.Hour, true
	}
	return time.Duration((1 - e.tokens) / l.perSec * float64(time.Second)), true
}

// fail spends one failure of addr's budget, making room in a full table by
// evicting the address that failed least recently.
func (l *AuthFailureLimiter) fail(addr netip.Addr) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var e *authFailEntry
	if el, ok := l.entries[addr]; ok {
		e = el.Value.(*authFailEntry)
		l.refillLocked(e, now)
		l.lru.MoveToFront(el)
	} else {
		for len(l.entries) >= max(l.max, 1) {
			oldest := l.lru.Back()
			delete(l.entries, oldest.Value.(*authFailEntry).addr)
			l.lru.Remove(oldest)
		}
		e = &authFailEntry{addr: addr, tokens: l.burst, last: now}
		l.entries[addr] = l.lru.PushFront(e)
	}
	// Concurrent requests that passed blocked together may overspend: never
	// below zero, so the wait stays bounded.
	e.tokens = max(e.tokens-1, 0)
}

// size reports the number of addresses in the table (tests).
func (l *AuthFailureLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}
