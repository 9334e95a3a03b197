package license

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/semvec-go/semvec"
)

const edHeader = `{"alg":"EdDSA","typ":"JWT"}`

// signRaw signs header and payload exactly as given (any JSON, or none),
// so a test can put into a token what json.Marshal would never write.
func signRaw(priv ed25519.PrivateKey, header, payload string) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	return signing + "." + enc.EncodeToString(ed25519.Sign(priv, []byte(signing)))
}

// wantRefused verifies tok twice (the second call would be a cache hit if the
// first had cached it) and checks the reason, that it is not "expired", and
// that nothing was cached.
func wantRefused(t *testing.T, v *Verifier, tok, reason string) {
	t.Helper()
	before, cached := v.verifications.Load(), v.cache.len()
	for i := range 2 {
		c, err := v.Verify(tok)
		var ve *VerifyError
		if !errors.As(err, &ve) {
			t.Fatalf("call %d: got %+v, %v; want refused with %q", i, c, err, reason)
		}
		if ve.Reason != reason || ve.Expired {
			t.Fatalf("call %d: reason %q expired %v (cause %v), want %q, not expired", i, ve.Reason, ve.Expired, ve.Err, reason)
		}
	}
	if got := v.verifications.Load() - before; got != 2 {
		t.Fatalf("%d full verifications for 2 calls: a refused token was served from the cache", got)
	}
	if _, ok := v.cache.get(tokenDigest(strings.TrimSpace(tok))); ok || v.cache.len() != cached {
		t.Fatalf("refused token cached (%d entries, %d before)", v.cache.len(), cached)
	}
}

func TestVerifyTimeClaimsStrict(t *testing.T) {
	pub, priv := mustKey(t)
	_, other := mustKey(t)
	v := NewVerifier([]ed25519.PublicKey{pub}, WithClock(newTestClock(t0).Now))
	payload := func(claims string) string { return `{"sub":"acme","tier":"pro",` + claims + `}` }
	future := t0.Add(time.Hour).Unix()

	refused := []struct {
		name, claims, reason string
	}{
		// Not a JSON number. A numeric string was accepted as a date.
		{"exp numeric string", `"exp":"9999999999"`, ReasonExpNotNumber},
		{"exp numeric string, near", fmt.Sprintf(`"exp":"%d"`, future), ReasonExpNotNumber},
		{"exp word", `"exp":"soon"`, ReasonExpNotNumber},
		{"exp NaN string", `"exp":"NaN"`, ReasonExpNotNumber},
		{"exp Infinity string", `"exp":"Infinity"`, ReasonExpNotNumber},
		{"exp true", `"exp":true`, ReasonExpNotNumber},
		{"exp array", fmt.Sprintf(`"exp":[%d]`, future), ReasonExpNotNumber},
		{"exp object", fmt.Sprintf(`"exp":{"t":%d}`, future), ReasonExpNotNumber},
		// Beyond 9999-12-31T23:59:59Z, or before 1970: malformed, not
		// "expired" (1e300 and 2^63 wrapped to negative int64 seconds).
		{"exp 1e300", `"exp":1e300`, ReasonExpOutOfRange},
		{"exp 1e400 (beyond float64)", `"exp":1e400`, ReasonExpOutOfRange},
		{"exp 2^63", `"exp":9223372036854775808`, ReasonExpOutOfRange},
		{"exp 2^63-1", `"exp":9223372036854775807`, ReasonExpOutOfRange},
		{"exp 2^64", `"exp":18446744073709551616`, ReasonExpOutOfRange},
		{"exp year 10000", `"exp":253402300800`, ReasonExpOutOfRange},
		{"exp just past the bound", `"exp":253402300799.5`, ReasonExpOutOfRange},
		{"exp negative", `"exp":-1`, ReasonExpOutOfRange},
		{"exp very negative", `"exp":-1e300`, ReasonExpOutOfRange},
		{"exp negative fraction", `"exp":-0.5`, ReasonExpOutOfRange},
		// nbf and iat follow the same rules.
		{"nbf numeric string", fmt.Sprintf(`"exp":%d,"nbf":"0"`, future), ReasonBadTimeClaim},
		{"nbf 1e300", fmt.Sprintf(`"exp":%d,"nbf":1e300`, future), ReasonBadTimeClaim},
		{"nbf negative", fmt.Sprintf(`"exp":%d,"nbf":-1e19`, future), ReasonBadTimeClaim},
		{"iat numeric string", fmt.Sprintf(`"exp":%d,"iat":"1"`, future), ReasonBadTimeClaim},
		{"iat 2^63", fmt.Sprintf(`"exp":%d,"iat":9223372036854775808`, future), ReasonBadTimeClaim},
		{"iat bool", fmt.Sprintf(`"exp":%d,"iat":false`, future), ReasonBadTimeClaim},
		// exp wins over nbf in the report.
		{"exp and nbf both bad", `"exp":"1","nbf":"1"`, ReasonExpNotNumber},
		// JSON null is an absent claim; exp is required.
		{"exp null", `"exp":null`, ReasonMissingExp},
		// Not JSON at all: the payload does not decode.
		{"exp bare NaN", `"exp":NaN`, ReasonMalformed},
		{"exp bare Infinity", `"exp":Infinity`, ReasonMalformed},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			wantRefused(t, v, signRaw(priv, edHeader, payload(tc.claims)), tc.reason)
		})
	}

	// The claims are judged only after the signature: a forged token with a
	// bad exp is a bad signature, as a forged expired one is not "expired".
	t.Run("bad exp, wrong key", func(t *testing.T) {
		wantRefused(t, v, signRaw(other, edHeader, payload(`"exp":"9999999999"`)), ReasonBadSignature)
		wantRefused(t, v, signRaw(other, edHeader, payload(`"exp":1e300`)), ReasonBadSignature)
	})

	accepted := []struct {
		name, claims string
		wantExp      time.Time
	}{
		{"exp integer", fmt.Sprintf(`"exp":%d`, future), time.Unix(future, 0)},
		{"exp fraction (RFC 7519 allows it), truncated to the second", fmt.Sprintf(`"exp":%d.75`, future), time.Unix(future, 0)},
		{"exp exponent form", `"exp":1.8e9`, time.Unix(1_800_000_000, 0)},
		{"exp with -0 nbf and fractional iat", fmt.Sprintf(`"exp":%d,"nbf":-0,"iat":%d.5`, future, t0.Unix()), time.Unix(future, 0)},
		{"exp at the bound, year 9999", `"exp":253402300799`, time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"nbf and iat null", fmt.Sprintf(`"exp":%d,"nbf":null,"iat":null`, future), time.Unix(future, 0)},
	}
	for _, tc := range accepted {
		t.Run(tc.name, func(t *testing.T) {
			tok := signRaw(priv, edHeader, payload(tc.claims))
			for i := range 2 {
				c, err := v.Verify(tok)
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				if !c.ExpiresAt.Equal(tc.wantExp) || c.Subject != "acme" || c.Tier != semvec.TierPro {
					t.Fatalf("call %d: got %+v, want exp %v", i, c, tc.wantExp)
				}
			}
		})
	}

	// In range but in the past is what "expired" (402) means.
	for _, exp := range []string{"0", "0.5", "1", fmt.Sprint(t0.Add(-time.Second).Unix())} {
		t.Run("expired "+exp, func(t *testing.T) {
			_, err := v.Verify(signRaw(priv, edHeader, payload(`"exp":`+exp)))
			var ve *VerifyError
			if !errors.As(err, &ve) || !ve.Expired || ve.Reason != ReasonExpired {
				t.Fatalf("got %v, want expired", err)
			}
		})
	}
}

// TestVerifyYear9999CachedNoOverflow: a token valid until the bound is served
// from the cache with exp (plus leeway) compared without overflow.
func TestVerifyYear9999CachedNoOverflow(t *testing.T) {
	pub, priv := mustKey(t)
	clk := newTestClock(t0)
	v := NewVerifier([]ed25519.PublicKey{pub}, WithClock(clk.Now), WithLeeway(time.Hour))
	tok := signRaw(priv, edHeader, `{"sub":"acme","exp":253402300799}`)
	for range 3 {
		if _, err := v.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	if got := v.verifications.Load(); got != 1 {
		t.Fatalf("verifications = %d, want 1 (cached)", got)
	}
}

// respell returns seg with the unused low bits of its last character set, or
// false when seg has none (its length is a multiple of 4).
func respell(seg string) (string, bool) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var spare int
	switch len(seg) % 4 {
	case 2:
		spare = 0x0f
	case 3:
		spare = 0x03
	default:
		return "", false
	}
	last := strings.IndexByte(alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(alphabet[last|spare]), true
}

func TestVerifyCanonicalEncoding(t *testing.T) {
	pub, priv := mustKey(t)
	v := NewVerifier([]ed25519.PublicKey{pub}, WithClock(newTestClock(t0).Now))
	exp := t0.Add(time.Hour).Unix()
	// Subjects of three lengths give header/payload segments of each length
	// mod 4, so every segment gets a respelling in one of them.
	var toks []string
	for _, sub := range []string{"a", "ab", "abc"} {
		toks = append(toks, sign(t, jwt.SigningMethodEdDSA, priv, jwt.MapClaims{"sub": sub, "tier": "pro", "exp": exp}))
	}
	toks = append(toks, mustIssue(t, priv, "acme", semvec.TierPro, time.Hour, t0))
	variants := map[string]string{} // name → token
	for ti, tok := range toks {
		if _, err := v.Verify(tok); err != nil {
			t.Fatalf("canonical token %d refused: %v", ti, err)
		}
		parts := strings.Split(tok, ".")
		for si, name := range []string{"header", "payload", "signature"} {
			with := func(seg string) string {
				p := append([]string(nil), parts...)
				p[si] = seg
				return strings.Join(p, ".")
			}
			if seg, ok := respell(parts[si]); ok {
				variants[fmt.Sprintf("%d %s trailing bits", ti, name)] = with(seg)
			}
			if pad := (4 - len(parts[si])%4) % 4; pad > 0 {
				variants[fmt.Sprintf("%d %s padded", ti, name)] = with(parts[si] + strings.Repeat("=", pad))
			}
			variants[fmt.Sprintf("%d %s extra padding", ti, name)] = with(parts[si] + "====")
			mid := len(parts[si]) / 2
			variants[fmt.Sprintf("%d %s LF inside", ti, name)] = with(parts[si][:mid] + "\n" + parts[si][mid:])
			variants[fmt.Sprintf("%d %s CRLF inside", ti, name)] = with(parts[si][:mid] + "\r\n" + parts[si][mid:])
			std := strings.NewReplacer("-", "+", "_", "/").Replace(parts[si])
			if std != parts[si] {
				variants[fmt.Sprintf("%d %s standard alphabet", ti, name)] = with(std)
			}
		}
	}
	// The signature (64 bytes: 86 characters, 4 spare bits) always has a
	// respelling that the lenient decoder accepts as the same bytes.
	var header, payload int
	for name := range variants {
		if strings.HasSuffix(name, " header trailing bits") {
			header++
		}
		if strings.HasSuffix(name, " payload trailing bits") {
			payload++
		}
	}
	if header == 0 || payload == 0 {
		t.Fatalf("fixture lacks trailing-bit respellings of header (%d) or payload (%d)", header, payload)
	}
	for _, name := range []string{"3 signature trailing bits", "3 header trailing bits", "0 payload LF inside", "3 signature LF inside"} {
		if _, ok := variants[name]; !ok {
			t.Fatalf("fixture lacks %q", name)
		}
	}
	for name, tok := range variants {
		t.Run(name, func(t *testing.T) { wantRefused(t, v, tok, ReasonNonCanonical) })
	}

	// Not base64 at all stays "malformed".
	for _, tok := range []string{"a.b.c", "abcde.abcd.abcd", "ab*c.abcd.abcd", "ab.cd", "ab.cd.ef.gh", "ab cd.abcd.abcd"} {
		wantRefused(t, v, tok, ReasonMalformed)
	}
}

func TestTokenEncodingProblemUnit(t *testing.T) {
	for tok, want := range map[string]string{
		"..":              "",
		"AA.AAA.AAAA":     "",
		"AQ.AQI.AQID":     "",
		"AR.AQI.AQID":     ReasonNonCanonical,
		"AQ.AQJ.AQID":     ReasonNonCanonical,
		"AQ==.AQI.AQID":   ReasonNonCanonical,
		"A+.AQI.AQID":     ReasonNonCanonical,
		"A/.AQI.AQID":     ReasonNonCanonical,
		"A.AQI.AQID":      ReasonMalformed,
		"AQ.AQI":          ReasonMalformed,
		"AQ.AQI.AQID.":    ReasonMalformed,
		"AQ.AQI.AQ\x00D":  ReasonMalformed,
		"AQ.AQI.AQ\u00e9": ReasonMalformed,
	} {
		if got := tokenEncodingProblem(tok); got != want {
			t.Errorf("tokenEncodingProblem(%q) = %q, want %q", tok, got, want)
		}
	}
	// Every canonical segment decodes strictly and re-encodes to itself.
	for n := range 40 {
		seg := base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("\xff", n)))
		if segmentProblem(seg) != "" {
			t.Fatalf("canonical %q refused", seg)
		}
		if r, ok := respell(seg); ok && r != seg && segmentProblem(r) == "" {
			t.Fatalf("respelling %q of %q accepted", r, seg)
		}
	}
}

func TestVerifyCritHeader(t *testing.T) {
	pub, priv := mustKey(t)
	v := NewVerifier([]ed25519.PublicKey{pub}, WithClock(newTestClock(t0).Now))
	exp := t0.Add(time.Hour).Unix()
	payload := fmt.Sprintf(`{"sub":"acme","tier":"enterprise","exp":%d}`, exp)
	kid := KeyID(pub)
	for name, header := range map[string]string{
		"crit exp":                `{"alg":"EdDSA","typ":"JWT","crit":["exp"]}`,
		"crit unknown extension":  `{"alg":"EdDSA","typ":"JWT","crit":["x-revocable"],"x-revocable":true}`,
		"crit b64 (RFC 7797)":     `{"alg":"EdDSA","typ":"JWT","b64":false,"crit":["b64"]}`,
		"crit empty list":         `{"alg":"EdDSA","typ":"JWT","crit":[]}`,
		"crit null":               `{"alg":"EdDSA","typ":"JWT","crit":null}`,
		"crit not a list":         `{"alg":"EdDSA","typ":"JWT","crit":"exp"}`,
		"crit with a known kid":   `{"alg":"EdDSA","typ":"JWT","kid":"` + kid + `","crit":["exp"]}`,
		"crit with a foreign kid": `{"alg":"EdDSA","typ":"JWT","kid":"nope","crit":["exp"]}`,
	} {
		t.Run(name, func(t *testing.T) { wantRefused(t, v, signRaw(priv, header, payload), ReasonCritical) })
	}
	// Through jwt's own signer, too.
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": "acme", "exp": exp})
	tok.Header["crit"] = []string{"exp"}
	s, err := tok.SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	wantRefused(t, v, s, ReasonCritical)
	// Without crit the same header is fine.
	if _, err := v.Verify(signRaw(priv, `{"alg":"EdDSA","typ":"JWT","x-revocable":true}`, payload)); err != nil {
		t.Fatalf("no crit: %v", err)
	}
}

func TestVerifyTierASCIIOnly(t *testing.T) {
	pub, priv := mustKey(t)
	v := NewVerifier([]ed25519.PublicKey{pub}, WithClock(newTestClock(t0).Now))
	exp := t0.Add(time.Hour).Unix()
	for _, tier := range []string{"ENTERPRİSE", "enterpr\u0130se", "enterpriſe", "ENTERPRIſE", "\u212Aommunity", "ｅｎｔｅｒｐｒｉｓｅ", "\u00a0enterprise"} {
		t.Run(tier, func(t *testing.T) {
			tok := sign(t, jwt.SigningMethodEdDSA, priv, jwt.MapClaims{"sub": "acme", "tier": tier, "exp": exp})
			wantRefused(t, v, tok, ReasonUnknownTier)
		})
	}
	for tier, want := range map[string]semvec.Tier{"ENTERPRISE": semvec.TierEnterprise, "Pro": semvec.TierPro, " community ": semvec.TierCommunity} {
		c, err := v.Verify(sign(t, jwt.SigningMethodEdDSA, priv, jwt.MapClaims{"sub": "acme", "tier": tier, "exp": exp}))
		if err != nil || c.Tier != want {
			t.Fatalf("tier %q: got %+v, %v; want %q", tier, c, err, want)
		}
	}
}

// TestProductsNull: "products": null is no products, not one empty name.
func TestProductsNull(t *testing.T) {
	var p productList
	if err := json.Unmarshal([]byte(`null`), &p); err != nil || p != nil {
		t.Fatalf("got %q, %v; want nil", p, err)
	}
}

// TestVerifySubjectNotUTF8: a "sub" that is not UTF-8 as written — a raw
// invalid byte, or the \u escape of an unpaired surrogate — is refused.
// encoding/json would decode each to U+FFFD, so "a\xffb", "a\xfeb",
// "a\udfffb" and "a\ufffdb" would otherwise all be one tenant (found by an
// outside tester: a session created with the first was readable with the
// others).
func TestVerifySubjectNotUTF8(t *testing.T) {
	pub, priv := mustKey(t)
	v := NewVerifier([]ed25519.PublicKey{pub}, WithClock(newTestClock(t0).Now))
	exp := t0.Add(time.Hour).Unix()
	payload := func(sub string) string { return fmt.Sprintf(`{"sub":"%s","exp":%d}`, sub, exp) }
	for _, sub := range []string{"a\xffb", "a\xfeb", "\xc3", `a\udfffb`, `a\ud800b`, `a\ud800`, `a\ud800\u0041`, `a\ud800\ud800`, `\uDC00`} {
		t.Run(fmt.Sprintf("%q", sub), func(t *testing.T) {
			wantRefused(t, v, signRaw(priv, edHeader, payload(sub)), ReasonBadSub)
		})
	}
	for sub, want := range map[string]string{
		`a\ufffdb`:       "a\ufffdb", // U+FFFD itself is a character like any other
		"a\uFFFDb":       "a\ufffdb",
		`\ud83d\ude00`:   "😀", // a surrogate pair
		`\uD83D\uDE00x`:  "😀x",
		`a\\ud800`:       `a\ud800`, // an escaped backslash, then text
		"tenant/ünïcode": "tenant/ünïcode",
	} {
		c, err := v.Verify(signRaw(priv, edHeader, payload(sub)))
		if err != nil || c.Subject != want {
			t.Errorf("sub %s: got %+v, %v; want subject %q", sub, c, err, want)
		}
	}
}

// TestVerifyClaimNamesExact: a claim Verify reads, named twice or in
// another case ("SUB", "Tier", "ſub" with a long s), is refused, as
// encoding/json would take it as the claim (the last one) where PyJWT and
// the Python product read the exact name; other names are ignored.
func TestVerifyClaimNamesExact(t *testing.T) {
	pub, priv := mustKey(t)
	v := NewVerifier([]ed25519.PublicKey{pub}, WithClock(newTestClock(t0).Now))
	exp := t0.Add(time.Hour).Unix()
	for _, payload := range []string{
		fmt.Sprintf(`{"sub":"casetest","tier":"community","exp":%d,"TIER":"enterprise","SUB":"victim"}`, exp),
		fmt.Sprintf(`{"sub":"a","Tier":"enterprise","exp":%d}`, exp),
		fmt.Sprintf(`{"ſub":"victim","sub":"a","exp":%d}`, exp),
		fmt.Sprintf(`{"sub":"a","sub":"victim","exp":%d}`, exp),
		fmt.Sprintf(`{"sub":"a","exp":%d,"EXP":%d}`, exp, exp+3600),
		fmt.Sprintf(`{"sub":"a","exp":%d,"Products":["semvec"]}`, exp),
	} {
		_, err := v.Verify(signRaw(priv, edHeader, payload))
		var ve *VerifyError
		if !errors.As(err, &ve) || ve.Expired {
			t.Errorf("%s: %v, want refused", payload, err)
		}
	}
	c, err := v.Verify(signRaw(priv, edHeader, fmt.Sprintf(`{"sub":"a","exp":%d,"Subject":"x","iss":"y","name":"z"}`, exp)))
	if err != nil || c.Subject != "a" {
		t.Fatalf("other claim names: %+v, %v; want subject a", c, err)
	}
}
