package license

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/semvec-go/semvec"
)

// Reasons carried by VerifyError. They are short and safe to show to clients.
const (
	ReasonMalformed      = "token is malformed"
	ReasonBadSignature   = "signature is invalid"
	ReasonUnknownKey     = "unknown signing key"
	ReasonUnsupportedAlg = "unsupported algorithm"
	ReasonMissingSub     = "missing sub claim"
	ReasonBadSub         = "sub claim is not a valid subject"
	ReasonMissingExp     = "missing exp claim"
	ReasonUnknownTier    = "unknown tier"
	ReasonExpired        = "token is expired"
	ReasonNotYetValid    = "token is not valid yet"
	ReasonInvalidClaims  = "token has invalid claims"
	ReasonNonCanonical   = "token is not canonical base64url"
	ReasonCritical       = "token has an unsupported critical header"
	ReasonExpNotNumber   = "exp claim is not a number"
	ReasonExpOutOfRange  = "exp claim is out of range"
	ReasonBadTimeClaim   = "nbf or iat claim is not a number in range"
)

// VerifyError is the error Verify returns for every rejected token.
type VerifyError struct {
	// Expired is true when the signature is valid but the token has expired
	// (the REST API answers 402 for those, 401 for everything else).
	Expired bool
	// Reason is a short client-safe description, one of the Reason* constants.
	Reason string
	// Err is the underlying cause, for logs only.
	Err error
}

// Error implements error; the text is client-safe.
func (e *VerifyError) Error() string { return "license: " + e.Reason }

// Unwrap returns the underlying jwt or tier error.
func (e *VerifyError) Unwrap() error { return e.Err }

// DefaultCacheSize is the number of verified tokens a Verifier remembers
// unless WithCacheSize says otherwise.
const DefaultCacheSize = 10000

// VerifierOption configures NewVerifier.
type VerifierOption func(*Verifier)

// WithClock sets the clock used for exp/nbf checks, on cache hits too
// (default time.Now).
func WithClock(now func() time.Time) VerifierOption {
	return func(v *Verifier) {
		if now != nil {
			v.now = now
		}
	}
}

// WithCacheSize bounds the verified-token cache (default DefaultCacheSize).
// n <= 0 disables the cache: every call checks the signature.
func WithCacheSize(n int) VerifierOption {
	return func(v *Verifier) { v.cacheSize = n }
}

// WithLeeway tolerates clock skew of d on exp and nbf (default 0).
func WithLeeway(d time.Duration) VerifierOption {
	return func(v *Verifier) {
		if d > 0 {
			v.leeway = d
		}
	}
}

// Verifier checks licence tokens against a fixed set of public keys. It is
// safe for concurrent use.
type Verifier struct {
	keys      []ed25519.PublicKey
	kids      map[string]int // KeyID → index in keys
	now       func() time.Time
	leeway    time.Duration
	cacheSize int
	parser    *jwt.Parser
	cache     *lruCache // nil when disabled

	// verifications counts full (uncached) verifications, for tests and
	// benchmarks.
	verifications atomic.Uint64
}

// NewVerifier returns a Verifier that accepts tokens signed by any of keys.
// With no keys every token is rejected as signed by an unknown key.
func NewVerifier(keys []ed25519.PublicKey, opts ...VerifierOption) *Verifier {
	v := &Verifier{
		keys:      slices.Clone(keys),
		kids:      make(map[string]int, len(keys)),
		now:       time.Now,
		cacheSize: DefaultCacheSize,
	}
	for _, o := range opts {
		o(v)
	}
	for i, k := range v.keys {
		v.kids[KeyID(k)] = i
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		// tokenEncodingProblem already refuses what strict decoding would; this
		// keeps the parser strict should that check ever be bypassed.
		jwt.WithStrictDecoding(),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(v.leeway),
		jwt.WithTimeFunc(v.now),
	)
	if v.cacheSize > 0 {
		v.cache = newLRUCache(v.cacheSize)
	}
	return v
}

// Verify checks token and returns its claims. Every failure is a
// *VerifyError. Only EdDSA-signed tokens are accepted; "exp" and a non-empty
// "sub" are required, and "tier" must be a known tier (ASCII case-insensitive).
// The token must be the canonical unpadded base64url spelling of its three
// segments; it must carry no "crit" header; "exp", "nbf" and "iat" must be
// JSON numbers within 1970-01-01 .. 9999-12-31T23:59:59Z.
//
// Verified tokens are cached (keyed by the SHA-256 of the token) until their
// expiry; a cache hit skips the signature check but still checks "exp" against
// the clock, so a cached token is never accepted after it expires.
func (v *Verifier) Verify(token string) (Claims, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return Claims{}, &VerifyError{Reason: ReasonMalformed}
	}
	var key [sha256.Size]byte
	if v.cache != nil {
		key = tokenDigest(token)
		if c, ok := v.cache.get(key); ok {
			if !v.now().Before(c.ExpiresAt.Add(v.leeway)) {
				v.cache.remove(key)
				return Claims{}, &VerifyError{Expired: true, Reason: ReasonExpired, Err: jwt.ErrTokenExpired}
			}
			c.Products = slices.Clone(c.Products)
			return c, nil
		}
	}
	c, err := v.verify(token)
	if err != nil {
		return Claims{}, err
	}
	if v.cache != nil {
		v.cache.put(key, c)
		c.Products = slices.Clone(c.Products)
	}
	return c, nil
}

// Known reports whether token is one Verify has accepted and still holds
// in its cache, unexpired: what Verify would accept without a signature
// check (a SHA-256 and a map lookup). Without a cache it knows no token.
func (v *Verifier) Known(token string) bool {
	token = strings.TrimSpace(token)
	if v.cache == nil || token == "" {
		return false
	}
	c, ok := v.cache.get(tokenDigest(token))
	return ok && v.now().Before(c.ExpiresAt.Add(v.leeway))
}

// verify is the uncached path: parse, check the signature, check claims.
func (v *Verifier) verify(token string) (Claims, error) {
	v.verifications.Add(1)
	if reason := tokenEncodingProblem(token); reason != "" {
		return Claims{}, &VerifyError{Reason: reason}
	}
	var tc parsedClaims
	kidKnown, critical := true, false
	tok, err := v.parser.ParseWithClaims(token, &tc, func(t *jwt.Token) (any, error) {
		if _, ok := t.Header["crit"]; ok {
			// RFC 7515 §4.1.11: no extension is understood here, so any
			// "crit" (even an empty or malformed one) is refused before the
			// signature is checked.
			critical = true
			return nil, errCritical
		}
		if len(v.keys) == 0 {
			kidKnown = false
			return nil, errors.New("no verification keys configured")
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return v.keySet(-1), nil
		}
		i, ok := v.kids[kid]
		if !ok {
			// A foreign kid scheme is not fatal: try every key, but if none
			// verifies, say the key is unknown rather than "signature invalid".
			kidKnown = false
			return v.keySet(-1), nil
		}
		return v.keySet(i), nil
	})
	if err != nil {
		if critical {
			return Claims{}, &VerifyError{Reason: ReasonCritical, Err: err}
		}
		return Claims{}, v.classify(tok, err, kidKnown)
	}
	if strings.TrimSpace(tc.Subject) == "" {
		return Claims{}, &VerifyError{Reason: ReasonMissingSub}
	}
	if tc.subNotUTF8 {
		return Claims{}, &VerifyError{Reason: ReasonBadSub, Err: errors.New("subject is not UTF-8")}
	}
	if err := ValidSubject(tc.Subject); err != nil {
		return Claims{}, &VerifyError{Reason: ReasonBadSub, Err: err}
	}
	tier, terr := semvec.ParseTier(tc.Tier)
	if terr != nil {
		return Claims{}, &VerifyError{Reason: ReasonUnknownTier, Err: terr}
	}
	return Claims{
		Subject:   tc.Subject,
		Tier:      tier,
		ExpiresAt: tc.exp.Time, // non-nil: WithExpirationRequired
		Products:  []string(tc.Products),
	}, nil
}

// keySet returns all keys, with keys[first] tried first when first >= 0.
func (v *Verifier) keySet(first int) jwt.VerificationKeySet {
	set := jwt.VerificationKeySet{Keys: make([]jwt.VerificationKey, 0, len(v.keys))}
	if first >= 0 {
		set.Keys = append(set.Keys, v.keys[first])
	}
	for i, k := range v.keys {
		if i != first {
			set.Keys = append(set.Keys, k)
		}
	}
	return set
}

// classify turns a jwt error into a client-safe VerifyError.
func (v *Verifier) classify(tok *jwt.Token, err error, kidKnown bool) *VerifyError {
	ve := &VerifyError{Err: err}
	// The algorithm check comes first: jwt reports a disallowed algorithm as
	// "signature invalid" and an unregistered one as "unverifiable".
	if tok != nil && tok.Header != nil {
		if alg, _ := tok.Header["alg"].(string); alg != jwt.SigningMethodEdDSA.Alg() {
			ve.Reason = ReasonUnsupportedAlg
			return ve
		}
	}
	// A time claim that is not a number in range is reported as such, before
	// "expired": jwt/v5 reports it only once the signature has verified.
	var ce *claimError
	if errors.As(err, &ce) {
		ve.Reason = ce.reason()
		return ve
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		ve.Reason = ReasonMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		if kidKnown {
			ve.Reason = ReasonBadSignature
		} else {
			ve.Reason = ReasonUnknownKey
		}
	case errors.Is(err, jwt.ErrTokenExpired):
		// jwt/v5 validates claims only after the signature verified.
		ve.Expired = true
		ve.Reason = ReasonExpired
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		ve.Reason = ReasonMissingExp // exp is the only claim the parser requires
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		ve.Reason = ReasonNotYetValid
	default:
		ve.Reason = ReasonInvalidClaims
	}
	return ve
}

// tokenDigest is the SHA-256 of token, the cache key. Tokens of usual size
// are copied to a stack buffer instead of a heap []byte.
func tokenDigest(token string) [sha256.Size]byte {
	var buf [1024]byte
	if len(token) <= len(buf) {
		return sha256.Sum256(append(buf[:0], token...))
	}
	return sha256.Sum256([]byte(token))
}
