package http

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/http/license"
)

// tpSign signs header and payload exactly as given.
func tpSign(priv ed25519.PrivateKey, header, payload string) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	return signing + "." + enc.EncodeToString(ed25519.Sign(priv, []byte(signing)))
}

// TestAuthTokenParsing: what a licence token may not smuggle past the auth
// middleware. Each of these tokens is validly signed; before the fix the
// numeric-string exp, the respelled signature, the crit header and the
// Unicode tier were accepted (the last as the unthrottled enterprise tier),
// and the out-of-range exp answered 402 "expired".
func TestAuthTokenParsing(t *testing.T) {
	gin.SetMode(gin.TestMode)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	pub, priv, err := license.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	v := license.NewVerifier([]ed25519.PublicKey{pub}, license.WithClock(func() time.Time { return now }))
	r := gin.New()
	r.GET("/who", authMiddleware(v, false), func(c *gin.Context) { c.JSON(http.StatusOK, CallerFrom(c)) })
	call := func(tok string) (int, string, string) {
		req, _ := http.NewRequest(http.MethodGet, "/who", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w.Code, w.Body.String(), w.Header().Get("WWW-Authenticate")
	}

	const hdr = `{"alg":"EdDSA","typ":"JWT"}`
	exp := now.Add(time.Hour).Unix()
	payload := func(claims string) string { return `{"sub":"acme",` + claims + `}` }
	good, err := license.Issue(priv, "acme", semvec.TierPro, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	sig := parts[2] // 86 characters: the last carries 4 unused bits
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	respelled := sig[:len(sig)-1] + string(alphabet[strings.IndexByte(alphabet, sig[len(sig)-1])|0x0f])

	invalid := func(reason string) string { return `{"detail":"Invalid license: ` + reason + `"}` }
	tests := []struct {
		name, token string
		status      int
		body        string
	}{
		{"canonical token", good, 200, `{"Subject":"acme","Tier":"pro","Anonymous":false}`},
		{"exp as a numeric string", tpSign(priv, hdr, payload(`"exp":"9999999999"`)), 401, invalid(license.ReasonExpNotNumber)},
		{"exp as a string, near", tpSign(priv, hdr, payload(fmt.Sprintf(`"exp":"%d"`, exp))), 401, invalid(license.ReasonExpNotNumber)},
		{"exp 1e300", tpSign(priv, hdr, payload(`"exp":1e300`)), 401, invalid(license.ReasonExpOutOfRange)},
		{"exp 2^63", tpSign(priv, hdr, payload(`"exp":9223372036854775808`)), 401, invalid(license.ReasonExpOutOfRange)},
		{"exp year 10000", tpSign(priv, hdr, payload(`"exp":253402300800`)), 401, invalid(license.ReasonExpOutOfRange)},
		{"exp negative", tpSign(priv, hdr, payload(`"exp":-1`)), 401, invalid(license.ReasonExpOutOfRange)},
		{"exp fractional", tpSign(priv, hdr, payload(fmt.Sprintf(`"exp":%d.5`, exp))), 200, `{"Subject":"acme","Tier":"community","Anonymous":false}`},
		{"exp 0 is expired", tpSign(priv, hdr, payload(`"exp":0`)), 402, `{"detail":"License expired: renew at https://www.semvec.io"}`},
		{"signature with trailing bits set", parts[0] + "." + parts[1] + "." + respelled, 401, invalid(license.ReasonNonCanonical)},
		{"signature padded", good + "==", 401, invalid(license.ReasonNonCanonical)},
		{"signature in the standard alphabet", parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(sig) + "+/", 401, invalid(license.ReasonNonCanonical)},
		{"crit header", tpSign(priv, `{"alg":"EdDSA","typ":"JWT","crit":["exp"]}`, payload(fmt.Sprintf(`"exp":%d`, exp))), 401, invalid(license.ReasonCritical)},
		{"tier ENTERPRİSE", tpSign(priv, hdr, payload(fmt.Sprintf(`"tier":"ENTERPRİSE","exp":%d`, exp))), 401, invalid(license.ReasonUnknownTier)},
		{"tier enterpriſe", tpSign(priv, hdr, payload(fmt.Sprintf(`"tier":"enterpriſe","exp":%d`, exp))), 401, invalid(license.ReasonUnknownTier)},
		{"tier ENTERPRISE", tpSign(priv, hdr, payload(fmt.Sprintf(`"tier":"ENTERPRISE","exp":%d`, exp))), 200, `{"Subject":"acme","Tier":"enterprise","Anonymous":false}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 2 { // the second call would hit the cache
				code, body, challenge := call(tc.token)
				if code != tc.status || body != tc.body {
					t.Fatalf("call %d: %d %s, want %d %s", i, code, body, tc.status, tc.body)
				}
				if (code == http.StatusUnauthorized) != (challenge == "Bearer") {
					t.Fatalf("call %d: WWW-Authenticate %q on %d", i, challenge, code)
				}
			}
		})
	}
}
