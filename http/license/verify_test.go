package license

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/semvec-go/semvec"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// testClock is a settable clock for Verifier.
type testClock struct{ ns atomic.Int64 }

func newTestClock(t time.Time) *testClock {
	c := &testClock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func mustKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func mustIssue(t testing.TB, priv ed25519.PrivateKey, sub string, tier semvec.Tier, ttl time.Duration, now time.Time) string {
	t.Helper()
	tok, err := Issue(priv, sub, tier, ttl, now)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// sign builds a token with arbitrary claims and method (no kid header).
func sign(t testing.TB, m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyOutcomes(t *testing.T) {
	pub1, priv1 := mustKey(t)
	pub2, priv2 := mustKey(t)
	_, priv3 := mustKey(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	exp := t0.Add(time.Hour).Unix()
	good := jwt.MapClaims{"sub": "acme", "tier": "pro", "exp": exp}

	// tampered: keep header and signature, swap the payload for a richer tier.
	orig := mustIssue(t, priv1, "acme", semvec.TierCommunity, time.Hour, t0)
	parts := strings.Split(orig, ".")
	parts[1] = base64.RawURLEncoding.EncodeToString(
		[]byte(fmt.Sprintf(`{"sub":"acme","tier":"enterprise","exp":%d}`, exp)))
	tampered := strings.Join(parts, ".")

	tests := []struct {
		name        string
		token       string
		wantSub     string
		wantTier    semvec.Tier
		wantProd    []string
		wantReason  string
		wantExpired bool
	}{
		{name: "valid, first key", token: mustIssue(t, priv1, "acme", semvec.TierPro, time.Hour, t0), wantSub: "acme", wantTier: semvec.TierPro},
		{name: "valid, second (rotated) key", token: mustIssue(t, priv2, "globex", semvec.TierEnterprise, time.Hour, t0), wantSub: "globex", wantTier: semvec.TierEnterprise},
		{name: "valid, second key, no kid", token: sign(t, jwt.SigningMethodEdDSA, priv2, good), wantSub: "acme", wantTier: semvec.TierPro},
		{name: "tier casing PRO", token: sign(t, jwt.SigningMethodEdDSA, priv1, jwt.MapClaims{"sub": "a", "tier": "PRO", "exp": exp}), wantSub: "a", wantTier: semvec.TierPro},
		{name: "tier Enterprise", token: sign(t, jwt.SigningMethodEdDSA, priv1, jwt.MapClaims{"sub": "a", "tier": "Enterprise", "exp": exp}), wantSub: "a", wantTier: semvec.TierEnterprise},
		{name: "tier absent is community", token: sign(t, jwt.SigningMethodEdDSA, priv1, jwt.MapClaims{"sub": "a", "exp": exp}), wantSub: "a", wantTier: semvec.TierCommunity},
		{name: "iat nbf products", token: sign(t, jwt.SigningMethodEdDSA, priv1, jwt.MapClaims{"sub": "a", "exp": exp, "iat": t0.Unix(), "nbf": t0.Add(-time.Minute).Unix(), "products": []string{"semvec", "cortex"}}),
			wantSub: "a", wantTier: semvec.TierCommunity, wantProd: []string{"semvec", "cortex"}},
		{name: "products as a string", token: sign(t, jwt.SigningMethodEdDSA, priv1, jwt.MapClaims{"sub": "a", "exp": exp, "products": "semvec"}),
			wantSub: "a", wantTier: semvec.TierCommunity, wantProd: []string{"semvec"}},

		{name: "expired", token: mustIssue(t, priv1, "acme", semvec.TierPro, time.Hour, t0.Add(-2*time.Hour)), wantReason: ReasonExpired, wantExpired: true},
		{name: "expired and wrong key is not 'expired'", token: mustIssue(t, priv3, "acme", semvec.TierPro, time.Hour, t0.Add(-2*time.Hour)), wantReason: ReasonUnknownKey},
		{name: "tampered payload", token: tampered, wantReason: ReasonBadSignature},
		{name: "wrong key (kid unknown)", token: mustIssue(t, priv3, "acme", semvec.TierPro, time.Hour, t0), wantReason: ReasonUnknownKey},
		{name: "wrong key, no kid", token: sign(t, jwt.SigningMethodEdDSA, priv3, good), wantReason: ReasonBadSignature},
		{name: "alg none", token: sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good), wantReason: ReasonUnsupportedAlg},
		{name: "HS256 keyed with the public key", token: sign(t, jwt.SigningMethodHS256, []byte(pub1), good), wantReason: ReasonUnsupportedAlg},
		{name: "RS256", token: sign(t, jwt.SigningMethodRS256, rsaKey, good), wantReason: ReasonUnsupportedAlg},
		{name: "unknown alg", token: base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"XYZ","typ":"JWT"}`)) + "." + parts[1] + ".c2ln", wantReason: ReasonUnsupportedAlg},
		{name: "alg missing", token: base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"JWT"}`)) + "." + parts[1] + ".c2ln", wantReason: ReasonUnsupportedAlg},
		{name: "missing sub", token: sign(t, jwt.SigningMethodEdDSA, priv1, jwt.MapClaims{"tier": "pro", "exp": exp}), wantReason: ReasonMissingSub},
		{name: "empty sub", token: sign(t, jwt.SigningMethodEdDSA, priv1, jwt.MapClaims{"sub": " ", "exp": exp}), wantReason: ReasonMissingSub},
		{name: "NUL in sub", token: sign(t, jwt.SigningMethodEdDSA, priv1, jwt.MapClaims{"sub": "acme\x00!", "exp": exp}), wantReason: ReasonBadSub},
		{name: "newline in sub", token: sign(t, jwt.SigningMethodEdDSA, priv1, jwt.MapClaims{"sub": "acme\nroot", "exp": exp}), wantReason: ReasonBadSub},
		{name: "long sub", token: sign(t, jwt.SigningMethodEdDSA, priv1, jwt.MapClaims{"sub": strings.Repeat("a", MaxSubjectBytes+1), "exp": exp}), wantReason: ReasonBadSub},
		{name: "missing exp", token: sign(t, jwt.SigningMethodEdDSA, priv1, jwt.MapClaims{"sub": "a", "tier": "pro"}), wantReason: ReasonMissingExp},
		{name: "exp not a number", token: sign(t, jwt.SigningMethodEdDSA, priv1, jwt.MapClaims{"sub": "a", "exp": "soon"}), wantReason: ReasonExpNotNumber},
		{name: "unknown tier", token: sign(t, jwt.SigningMethodEdDSA, priv1, jwt.MapClaims{"sub": "a", "tier": "gold", "exp": exp}), wantReason: ReasonUnknownTier},
		{name: "not yet valid", token: sign(t, jwt.SigningMethodEdDSA, priv1, jwt.MapClaims{"sub": "a", "exp": exp, "nbf": t0.Add(time.Minute).Unix()}), wantReason: ReasonNotYetValid},
		{name: "garbage", token: "not-a-jwt", wantReason: ReasonMalformed},
		{name: "bad base64", token: "a.b.c", wantReason: ReasonMalformed},
		{name: "empty", token: "", wantReason: ReasonMalformed},
	}
	v := NewVerifier([]ed25519.PublicKey{pub1, pub2}, WithClock(newTestClock(t0).Now))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Twice: the second call may be served from the cache and must agree.
			for i := range 2 {
				c, err := v.Verify(tc.token)
				if tc.wantReason == "" {
					if err != nil {
						t.Fatalf("call %d: unexpected error %v", i, err)
					}
					if c.Subject != tc.wantSub || c.Tier != tc.wantTier {
						t.Fatalf("call %d: got %+v, want sub %q tier %q", i, c, tc.wantSub, tc.wantTier)
					}
					if fmt.Sprint(c.Products) != fmt.Sprint(tc.wantProd) {
						t.Fatalf("call %d: products %v, want %v", i, c.Products, tc.wantProd)
					}
					if c.ExpiresAt.IsZero() {
						t.Fatalf("call %d: zero ExpiresAt", i)
					}
					continue
				}
				var ve *VerifyError
				if !errors.As(err, &ve) {
					t.Fatalf("call %d: error %v (%T), want *VerifyError", i, err, err)
				}
				if ve.Reason != tc.wantReason || ve.Expired != tc.wantExpired {
					t.Fatalf("call %d: got reason %q expired %v (cause %v), want %q expired %v",
						i, ve.Reason, ve.Expired, ve.Err, tc.wantReason, tc.wantExpired)
				}
			}
		})
	}
}

func TestVerifyNoKeys(t *testing.T) {
	_, priv := mustKey(t)
	v := NewVerifier(nil)
	_, err := v.Verify(mustIssue(t, priv, "a", semvec.TierPro, time.Hour, time.Now()))
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.Reason != ReasonUnknownKey {
		t.Fatalf("got %v, want %q", err, ReasonUnknownKey)
	}
}

func TestVerifyCacheHitSkipsSignatureCheck(t *testing.T) {
	pub, priv := mustKey(t)
	clk := newTestClock(t0)
	v := NewVerifier([]ed25519.PublicKey{pub}, WithClock(clk.Now))
	tok := mustIssue(t, priv, "acme", semvec.TierPro, time.Minute, t0)

	for range 5 {
		if _, err := v.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	if got := v.verifications.Load(); got != 1 {
		t.Fatalf("verifications = %d after 5 calls, want 1", got)
	}

	// Past exp the cached entry must not be served, and no re-verification
	// is needed to say so.
	clk.Advance(time.Minute)
	_, err := v.Verify(tok)
	var ve *VerifyError
	if !errors.As(err, &ve) || !ve.Expired || ve.Reason != ReasonExpired {
		t.Fatalf("after expiry: got %v, want expired", err)
	}
	if got := v.verifications.Load(); got != 1 {
		t.Fatalf("verifications = %d, want 1 (expiry decided from the cache)", got)
	}
	if n := v.cache.len(); n != 0 {
		t.Fatalf("expired entry still cached (%d entries)", n)
	}
	// Uncached now: the full path also says expired.
	_, err = v.Verify(tok)
	if !errors.As(err, &ve) || !ve.Expired {
		t.Fatalf("second call after expiry: got %v, want expired", err)
	}
	if got := v.verifications.Load(); got != 2 {
		t.Fatalf("verifications = %d, want 2", got)
	}
}

func TestVerifyCacheNotPoisonedByFailures(t *testing.T) {
	pub, _ := mustKey(t)
	_, other := mustKey(t)
	v := NewVerifier([]ed25519.PublicKey{pub})
	tok := mustIssue(t, other, "acme", semvec.TierPro, time.Minute, time.Now())
	for range 3 {
		if _, err := v.Verify(tok); err == nil {
			t.Fatal("want error")
		}
	}
	if n := v.cache.len(); n != 0 {
		t.Fatalf("failed token cached: %d entries", n)
	}
}

func TestVerifyLeeway(t *testing.T) {
	pub, priv := mustKey(t)
	clk := newTestClock(t0)
	v := NewVerifier([]ed25519.PublicKey{pub}, WithClock(clk.Now), WithLeeway(5*time.Second))
	tok := mustIssue(t, priv, "acme", semvec.TierPro, time.Minute, t0)
	if _, err := v.Verify(tok); err != nil { // cached
		t.Fatal(err)
	}
	clk.Advance(time.Minute + 4*time.Second)
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("within leeway (cached): %v", err)
	}
	v2 := NewVerifier([]ed25519.PublicKey{pub}, WithClock(clk.Now), WithLeeway(5*time.Second))
	if _, err := v2.Verify(tok); err != nil {
		t.Fatalf("within leeway (uncached): %v", err)
	}
	clk.Advance(time.Second)
	for _, vv := range []*Verifier{v, v2} {
		var ve *VerifyError
		if _, err := vv.Verify(tok); !errors.As(err, &ve) || !ve.Expired {
			t.Fatalf("past leeway: got %v, want expired", err)
		}
	}
}

func TestVerifyCacheBoundedLRU(t *testing.T) {
	pub, priv := mustKey(t)
	v := NewVerifier([]ed25519.PublicKey{pub}, WithCacheSize(2), WithClock(newTestClock(t0).Now))
	a := mustIssue(t, priv, "a", semvec.TierPro, time.Hour, t0)
	b := mustIssue(t, priv, "b", semvec.TierPro, time.Hour, t0)
	c := mustIssue(t, priv, "c", semvec.TierPro, time.Hour, t0)
	for _, tok := range []string{a, b, a, c} { // b is least recently used when c arrives
		if _, err := v.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.cache.len(); n != 2 {
		t.Fatalf("cache len %d, want 2", n)
	}
	before := v.verifications.Load()
	if _, err := v.Verify(a); err != nil {
		t.Fatal(err)
	}
	if v.verifications.Load() != before {
		t.Fatal("a should still be cached")
	}
	if _, err := v.Verify(b); err != nil {
		t.Fatal(err)
	}
	if v.verifications.Load() != before+1 {
		t.Fatal("b should have been evicted and re-verified")
	}
}

func TestVerifyCacheDisabled(t *testing.T) {
	pub, priv := mustKey(t)
	v := NewVerifier([]ed25519.PublicKey{pub}, WithCacheSize(0))
	tok := mustIssue(t, priv, "a", semvec.TierPro, time.Hour, time.Now())
	for range 3 {
		if _, err := v.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	if got := v.verifications.Load(); got != 3 {
		t.Fatalf("verifications = %d, want 3", got)
	}
}

func TestVerifyReturnsCopies(t *testing.T) {
	pub, priv := mustKey(t)
	v := NewVerifier([]ed25519.PublicKey{pub})
	tok := sign(t, jwt.SigningMethodEdDSA, priv, jwt.MapClaims{"sub": "a", "exp": time.Now().Add(time.Hour).Unix(), "products": []string{"semvec"}})
	c1, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	c1.Products[0] = "mutated"
	c2, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Products[0] != "semvec" {
		t.Fatalf("cached claims were mutated through a returned slice: %v", c2.Products)
	}
}

func TestVerifyConcurrent(t *testing.T) {
	pub, priv := mustKey(t)
	v := NewVerifier([]ed25519.PublicKey{pub}, WithCacheSize(8))
	toks := make([]string, 16)
	for i := range toks {
		toks[i] = mustIssue(t, priv, fmt.Sprintf("s%d", i), semvec.TierPro, time.Hour, time.Now())
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				tok := toks[(g+i)%len(toks)]
				c, err := v.Verify(tok)
				if err != nil {
					t.Error(err)
					return
				}
				if want := fmt.Sprintf("s%d", (g+i)%len(toks)); c.Subject != want {
					t.Errorf("subject %q, want %q", c.Subject, want)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := v.cache.len(); n > 8 {
		t.Fatalf("cache grew to %d, bound 8", n)
	}
}

func TestIssueRejects(t *testing.T) {
	_, priv := mustKey(t)
	now := time.Now()
	for name, f := range map[string]func() (string, error){
		"empty subject": func() (string, error) { return Issue(priv, " ", semvec.TierPro, time.Hour, now) },
		"zero ttl":      func() (string, error) { return Issue(priv, "a", semvec.TierPro, 0, now) },
		"negative ttl":  func() (string, error) { return Issue(priv, "a", semvec.TierPro, -time.Second, now) },
		"unknown tier":  func() (string, error) { return Issue(priv, "a", "gold", time.Hour, now) },
		"bad key":       func() (string, error) { return Issue(priv[:10], "a", semvec.TierPro, time.Hour, now) },
	} {
		if tok, err := f(); err == nil {
			t.Errorf("%s: got token %q, want error", name, tok)
		}
	}
}

func TestIssueClaims(t *testing.T) {
	pub, priv := mustKey(t)
	tok := mustIssue(t, priv, "acme", "Pro", 30*24*time.Hour, t0)
	if !strings.HasPrefix(tok, "eyJhbGciOiJFZERTQSI") {
		t.Fatalf("token header %q does not start like semvec's EdDSA tokens", strings.Split(tok, ".")[0])
	}
	var mc jwt.MapClaims
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, &mc)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Header["kid"] != KeyID(pub) {
		t.Fatalf("kid %v, want %s", parsed.Header["kid"], KeyID(pub))
	}
	if mc["sub"] != "acme" || mc["tier"] != "pro" || mc["iat"] != float64(t0.Unix()) ||
		mc["exp"] != float64(t0.Add(30*24*time.Hour).Unix()) {
		t.Fatalf("claims %v", mc)
	}
}

func benchToken(b *testing.B) (*Verifier, string, func(...VerifierOption) *Verifier) {
	pub, priv := mustKey(b)
	tok := mustIssue(b, priv, "acme", semvec.TierPro, time.Hour, time.Now())
	mk := func(opts ...VerifierOption) *Verifier { return NewVerifier([]ed25519.PublicKey{pub}, opts...) }
	return mk(), tok, mk
}

func BenchmarkVerify(b *testing.B) {
	b.Run("cached", func(b *testing.B) {
		v, tok, _ := benchToken(b)
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("uncached", func(b *testing.B) {
		_, tok, mk := benchToken(b)
		v := mk(WithCacheSize(0))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Issue refuses a subject Verify would refuse; one of the longest and a
// non-ASCII one are fine.
func TestIssueValidatesTheSubject(t *testing.T) {
	_, priv := mustKey(t)
	for _, sub := range []string{"acme\x00", "a\tb", strings.Repeat("x", MaxSubjectBytes+1), "bad\xff"} {
		if _, err := Issue(priv, sub, semvec.TierPro, time.Hour, t0); err == nil {
			t.Errorf("Issue(%q) succeeded", sub)
		}
	}
	for _, sub := range []string{strings.Repeat("x", MaxSubjectBytes), "tenant/ünïcode@example.com"} {
		mustIssue(t, priv, sub, semvec.TierPro, time.Hour, t0)
	}
}

// Known tells a token Verify accepted and caches, unexpired, from any
// other, without a signature check: never a token not yet verified, a
// forged or expired one, or any token when the cache is off.
func TestKnown(t *testing.T) {
	pub, priv := mustKey(t)
	clk := newTestClock(t0)
	v := NewVerifier([]ed25519.PublicKey{pub}, WithClock(clk.Now))
	tok := signRaw(priv, edHeader, fmt.Sprintf(`{"sub":"acme","exp":%d}`, t0.Add(time.Hour).Unix()))
	if v.Known(tok) || v.Known("") || v.Known("garbage") {
		t.Fatal("known before any verification")
	}
	if _, err := v.Verify(tok); err != nil {
		t.Fatal(err)
	}
	if !v.Known(tok) || !v.Known(" "+tok+" ") {
		t.Fatal("a verified token is not known")
	}
	if forged := tok[:len(tok)-4] + "AAAA"; v.Known(forged) {
		t.Fatal("a forged token is known")
	}
	if n := v.verifications.Load(); n != 1 {
		t.Fatalf("%d signature checks, want the one of Verify", n)
	}
	clk.Advance(2 * time.Hour)
	if v.Known(tok) {
		t.Fatal("an expired token is known")
	}
	off := NewVerifier([]ed25519.PublicKey{pub}, WithClock(newTestClock(t0).Now), WithCacheSize(0))
	if _, err := off.Verify(tok); err != nil || off.Known(tok) {
		t.Fatalf("without a cache: verify %v, known %v", err, off.Known(tok))
	}
}
