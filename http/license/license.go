// Package license issues and verifies semvec licence tokens: JWTs signed with
// Ed25519 (header "alg": "EdDSA"), the same format semvec uses for in-process
// and REST licensing.
//
// Claims: "sub" is the tenant (licence subject) and is required (UTF-8, at
// most 256 bytes, no control characters: ValidSubject); "exp" is
// required; "tier" is community, pro or enterprise, matched case-insensitively
// in ASCII only, and community when absent; "iat", "nbf" and "products" are
// optional. "exp", "nbf" and "iat" must be JSON numbers of seconds within
// 0 .. 253402300799 (9999-12-31T23:59:59Z). The token must be the canonical
// base64url spelling of its bytes and carry no "crit" header.
//
// Keys are plain ed25519 values. GenerateKey, WriteKeyPair and LoadPrivateKey
// serve the `semvec license` command; ParsePublicKeys reads the server's
// verification keys (several keys mean rotation). A Verifier checks tokens and
// caches the ones it has verified, so a request does not pay for a signature
// check every time.
package license

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/semvec-go/semvec"
)

// Claims is what a verified token says about its holder.
type Claims struct {
	Subject   string      // the "sub" claim: the tenant that owns resources
	Tier      semvec.Tier // normalised tier; community when the claim is absent
	ExpiresAt time.Time   // the "exp" claim
	Products  []string    // the optional "products" claim, as given
}

// Product is the name a licence's "products" claim gives this service.
const Product = "semvec"

// Covers reports whether the licence unlocks product (lower-case ASCII): a
// token without a "products" claim (as Issue writes them) covers every
// product, one with the claim only those it names, folded in ASCII only as
// the tier is ("SEMVEC" names semvec, "ſemvec" with a long s does not);
// "products": [] names none.
func (c Claims) Covers(product string) bool {
	if c.Products == nil {
		return true
	}
	for _, p := range c.Products {
		if p = strings.TrimSpace(p); len(p) == len(product) && strings.EqualFold(p, product) && isASCII(p) {
			return true
		}
	}
	return false
}

// isASCII reports whether s holds only ASCII bytes.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// tokenClaims is the JSON payload of a licence token.
type tokenClaims struct {
	jwt.RegisteredClaims
	Tier     string      `json:"tier,omitempty"`
	Products productList `json:"products,omitempty"`
}

// productList accepts "products" as a JSON array of strings or as a single
// string, so a token from a lenient issuer is not rejected as malformed.
type productList []string

// UnmarshalJSON implements json.Unmarshaler.
func (p *productList) UnmarshalJSON(b []byte) error {
	if string(b) == "null" { // no products, not one empty name
		*p = nil
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*p = productList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("products must be a string or an array of strings")
	}
	*p = many
	return nil
}

// Issue signs a licence token for subject with the given tier, valid from now
// for ttl. It sets "sub", "tier", "iat" and "exp", and a "kid" header that lets
// a Verifier holding several keys pick the right one (and name an unknown key
// as such). Times have one-second precision.
func Issue(priv ed25519.PrivateKey, subject string, tier semvec.Tier, ttl time.Duration, now time.Time) (string, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("license: private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	if strings.TrimSpace(subject) == "" {
		return "", errors.New("license: subject must not be empty")
	}
	if err := ValidSubject(subject); err != nil {
		return "", fmt.Errorf("license: %w", err)
	}
	if ttl <= 0 {
		return "", fmt.Errorf("license: ttl must be positive, got %s", ttl)
	}
	t, err := semvec.ParseTier(string(tier))
	if err != nil {
		return "", fmt.Errorf("license: %w", err)
	}
	claims := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   subject,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Tier: string(t),
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = KeyID(priv.Public().(ed25519.PublicKey))
	s, err := tok.SignedString(priv)
	if err != nil {
		return "", fmt.Errorf("license: sign: %w", err)
	}
	return s, nil
}

// KeyID is the key id Issue puts in the "kid" header: the first 8 bytes of
// the SHA-256 of the raw public key, base64url without padding (11 chars).
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return base64.RawURLEncoding.EncodeToString(sum[:8])
}

// MaxSubjectBytes bounds a licence subject: it names the tenant in every
// table's key and every actor's name.
const MaxSubjectBytes = semvec.MaxSubjectBytes

// ValidSubject reports why subject cannot name a tenant: it must be UTF-8
// of at most MaxSubjectBytes bytes without control characters (a NUL or a
// newline in a tenant's name would reach the database and the logs), and
// not blank. It is semvec.ValidSubject, the rule the actors apply to the
// owner of what they create too.
func ValidSubject(subject string) error { return semvec.ValidSubject(subject) }
