package license

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// Strict parsing. jwt/v5 is lenient in ways a licence check must not be:
//
//   - a segment decodes even when it is not the one canonical base64url
//     encoding of its bytes (non-zero trailing bits, or CR/LF, which Go's
//     base64 decoder skips), so many token strings carry one signature;
//   - a NumericDate accepts a JSON string holding a number ("exp":"9999999999")
//     and converts any float64 to int64 seconds, so "exp":1e300 wraps around
//     to a date in the past and the token is reported as expired;
//   - a "crit" header is ignored, though RFC 7515 §4.1.11 says a recipient
//     that does not understand a listed extension must reject the token.
//
// Verify closes each of these: tokenEncodingProblem runs before the parser,
// parsedClaims replaces jwt.RegisteredClaims when verifying, and the key
// function refuses any "crit" header (no extension is understood).

// maxNumericDate is the largest "exp", "nbf" or "iat" accepted:
// 9999-12-31T23:59:59Z. Later dates are not "never expires": they are a
// malformed token, refused as invalid (401), as are negative dates.
const maxNumericDate = 253402300799

// tokenEncodingProblem checks that token is three '.'-separated segments,
// each the canonical unpadded base64url encoding of its bytes: only the URL
// alphabet (no '=', '+', '/', CR, LF), a length that is not 1 mod 4, and zero
// in the unused low bits of the last character. A string that passes is the
// only encoding of its bytes, so one signed token has one spelling. It
// returns "" when token passes, ReasonNonCanonical for a spelling some
// lenient base64 decoder would accept, and ReasonMalformed otherwise.
func tokenEncodingProblem(token string) string {
	if strings.Count(token, ".") != 2 {
		return ReasonMalformed
	}
	problem := ""
	for seg := range strings.SplitSeq(token, ".") {
		switch segmentProblem(seg) {
		case ReasonMalformed:
			return ReasonMalformed // wins over non-canonical elsewhere
		case ReasonNonCanonical:
			problem = ReasonNonCanonical
		}
	}
	return problem
}

// segmentProblem is tokenEncodingProblem for one segment.
func segmentProblem(seg string) string {
	lenient := false // characters a lenient decoder skips or maps: '=', '+', '/', CR, LF
	n := 0           // characters carrying 6 bits
	for i := 0; i < len(seg); i++ {
		switch c := seg[i]; {
		case b64urlValue(c) >= 0:
			n++
		case c == '+' || c == '/': // the standard alphabet's 62 and 63
			n++
			lenient = true
		case c == '=' || c == '\r' || c == '\n':
			lenient = true
		default:
			return ReasonMalformed
		}
	}
	switch {
	case n%4 == 1:
		return ReasonMalformed // 6 bits cannot end a byte: no decoder accepts it
	case lenient:
		return ReasonNonCanonical
	case n == 0:
		return ""
	}
	last := b64urlValue(seg[len(seg)-1])
	if n%4 == 2 && last&0x0f != 0 || n%4 == 3 && last&0x03 != 0 {
		return ReasonNonCanonical // unused low bits set: another spelling of the same bytes
	}
	return ""
}

// b64urlValue is the 6-bit value of c in the base64url alphabet, or -1.
func b64urlValue(c byte) int {
	switch {
	case 'A' <= c && c <= 'Z':
		return int(c - 'A')
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 26
	case '0' <= c && c <= '9':
		return int(c-'0') + 52
	case c == '-':
		return 62
	case c == '_':
		return 63
	}
	return -1
}

// claimError is a time claim ("exp", "nbf", "iat") that is present but not a
// JSON number in [0, maxNumericDate].
type claimError struct {
	claim   string
	problem string // notNumber or outOfRange
}

const (
	notNumber  = "is not a number"
	outOfRange = "is out of range"
)

func (e *claimError) Error() string { return e.claim + " claim " + e.problem }

// reason is the VerifyError reason for e.
func (e *claimError) reason() string {
	switch {
	case e.claim == "exp" && e.problem == notNumber:
		return ReasonExpNotNumber
	case e.claim == "exp":
		return ReasonExpOutOfRange
	}
	return ReasonBadTimeClaim
}

// parseNumericDate reads a time claim strictly. raw is the claim's JSON
// value as it appeared in the payload (nil when absent). Absent and null are
// nil with no error. A JSON number (integer or fraction, RFC 7519 §2) within
// [0, maxNumericDate] seconds is a date, truncated to jwt.TimePrecision as
// jwt/v5 does; anything else is a *claimError.
func parseNumericDate(claim string, raw json.RawMessage) (*jwt.NumericDate, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	// raw is one valid JSON value (the payload decoded), so its first byte
	// tells its type: a number starts with '-' or a digit.
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return nil, &claimError{claim: claim, problem: notNumber}
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		// ParseFloat fails only on overflow here (±Inf, ErrRange).
		return nil, &claimError{claim: claim, problem: outOfRange}
	}
	sec, frac := math.Modf(f)
	return jwt.NewNumericDate(time.Unix(int64(sec), int64(frac*1e9))), nil
}

// parsedClaims is a licence payload as Verify reads it: the claims of
// tokenClaims, with the time claims kept as raw JSON and read strictly by
// parseNumericDate. Decoding never fails on a time claim: the error is
// reported through the jwt.Claims getters and Validate, which jwt/v5 calls
// only after the signature has verified, so a forged token with a bad time
// claim is still answered "signature is invalid". ("sub", "tier" and
// "products" of the wrong JSON type still fail the decoding: malformed.)
type parsedClaims struct {
	Subject  string
	Tier     string
	Products productList

	exp, nbf               *jwt.NumericDate
	expErr, nbfErr, iatErr error
	// subNotUTF8: "sub" as written was not UTF-8 (a raw invalid byte, or a
	// \u escape of an unpaired surrogate), which encoding/json would have
	// decoded to U+FFFD, so that many subjects named one tenant.
	subNotUTF8 bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *parsedClaims) UnmarshalJSON(b []byte) error {
	var raw struct {
		Subject  json.RawMessage `json:"sub"`
		Tier     string          `json:"tier"`
		Products productList     `json:"products"`
		Exp      json.RawMessage `json:"exp"`
		Nbf      json.RawMessage `json:"nbf"`
		Iat      json.RawMessage `json:"iat"`
	}
	if err := exactClaimNames(b); err != nil {
		return err
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	var sub string
	if len(raw.Subject) > 0 {
		if err := json.Unmarshal(raw.Subject, &sub); err != nil {
			return err // not a string (or null): malformed, as before
		}
	}
	*c = parsedClaims{Subject: sub, Tier: raw.Tier, Products: raw.Products, subNotUTF8: !jsonStringIsUTF8(raw.Subject)}
	c.exp, c.expErr = parseNumericDate("exp", raw.Exp)
	c.nbf, c.nbfErr = parseNumericDate("nbf", raw.Nbf)
	_, c.iatErr = parseNumericDate("iat", raw.Iat)
	return nil
}

// GetExpirationTime implements jwt.Claims.
func (c *parsedClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.exp, c.expErr }

// GetNotBefore implements jwt.Claims.
func (c *parsedClaims) GetNotBefore() (*jwt.NumericDate, error) { return c.nbf, c.nbfErr }

// GetIssuedAt implements jwt.Claims. The date itself is not used.
func (c *parsedClaims) GetIssuedAt() (*jwt.NumericDate, error) { return nil, c.iatErr }

// GetIssuer implements jwt.Claims ("iss" is not used).
func (c *parsedClaims) GetIssuer() (string, error) { return "", nil }

// GetSubject implements jwt.Claims.
func (c *parsedClaims) GetSubject() (string, error) { return c.Subject, nil }

// GetAudience implements jwt.Claims ("aud" is not used).
func (c *parsedClaims) GetAudience() (jwt.ClaimStrings, error) { return nil, nil }

// Validate implements jwt.ClaimsValidator: jwt/v5 reads "iat" only when told
// to check it, but a malformed "iat" is still a malformed token.
func (c *parsedClaims) Validate() error { return c.iatErr }

// errCritical is the key function's error for a token with a "crit" header.
var errCritical = errors.New(`"crit" header lists extensions this verifier does not understand`)

// jsonStringIsUTF8 reports whether raw, one valid JSON value as it appeared
// in the payload, spells UTF-8 text: its bytes are UTF-8 and every \u escape
// of a surrogate is one half of a pair. encoding/json decodes an invalid
// byte and an unpaired surrogate alike to U+FFFD, so without this check
// "a\xffb", "a\xfeb", "a\udfffb" and "a\ufffdb" would all name one subject.
func jsonStringIsUTF8(raw json.RawMessage) bool {
	if !utf8.Valid(raw) {
		return false
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++ // the escaped character
		if i >= len(raw) || raw[i] != 'u' {
			continue
		}
		r, ok := hex4(raw, i+1)
		if !ok {
			return false // cannot happen in valid JSON
		}
		i += 4
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return false // a low surrogate with no high one before it
		case r >= 0xD800 && r <= 0xDBFF:
			if i+6 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
				return false
			}
			lo, ok := hex4(raw, i+3)
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return false
			}
			i += 6
		}
	}
	return true
}

// hex4 reads the four hex digits of a \u escape at raw[at:].
func hex4(raw []byte, at int) (rune, bool) {
	if at+4 > len(raw) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(raw[at:at+4]), 16, 16)
	return rune(v), err == nil
}

// exactClaimNames refuses a payload (a JSON object) that names a claim Verify
// reads twice, or under a name that differs from it only in case:
// encoding/json matches names ignoring case and keeps the last of equal
// ones, so {"sub":"a","tier":"community","SUB":"b","TIER":"enterprise"}
// would read as tenant b on enterprise where every other JWT reader (PyJWT,
// the Python product) sees a on community. Other names are ignored.
func exactClaimNames(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil // not an object: the decoding reports it
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		name, _ := tok.(string)
		for _, claim := range []string{"sub", "tier", "products", "exp", "nbf", "iat"} { // the claims Verify reads
			switch {
			case name == claim && seen[claim]:
				return fmt.Errorf("claim %q given twice", claim)
			case name == claim:
				seen[claim] = true
			case strings.EqualFold(name, claim):
				return fmt.Errorf("claim %q differs from %q only in case", name, claim)
			}
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	return nil
}
