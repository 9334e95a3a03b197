package http

import (
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/http/license"
)

// mwAuthEngine serves GET /who, which echoes the authenticated caller.
func mwAuthEngine(v *license.Verifier, anonymous bool) *gin.Engine {
	r := mwEngine()
	r.GET("/who", authMiddleware(v, anonymous), func(c *gin.Context) {
		c.JSON(http.StatusOK, CallerFrom(c))
	})
	return r
}

func TestAuthMiddleware(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	pub, priv, err := license.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	_, otherPriv, err := license.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	issue := func(p ed25519.PrivateKey, sub string, tier semvec.Tier, issued time.Time) string {
		tok, err := license.Issue(p, sub, tier, time.Hour, issued)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	valid := issue(priv, "acme", semvec.TierPro, now)
	expired := issue(priv, "acme", semvec.TierPro, now.Add(-2*time.Hour))
	foreign := issue(otherPriv, "acme", semvec.TierPro, now)

	const (
		okAcme   = `{"Subject":"acme","Tier":"pro","Anonymous":false}`
		missing  = `{"detail":"Missing license token"}`
		bare     = `{"detail":"Missing license token: the Authorization header must be \"Bearer \" and the token (or send the token in X-API-Key)"}`
		wrongKey = `{"detail":"Invalid license: unknown signing key"}`
		garbage  = `{"detail":"Invalid license: token is malformed"}`
		renew    = `{"detail":"License expired: renew at https://www.semvec.io"}`
	)
	tests := []struct {
		name       string
		header     map[string]string
		wantStatus int
		wantBody   string
	}{
		{"bearer", map[string]string{"Authorization": "Bearer " + valid}, 200, okAcme},
		{"bearer lower-case scheme", map[string]string{"Authorization": "bearer " + valid}, 200, okAcme},
		{"bearer upper-case scheme", map[string]string{"Authorization": "BEARER " + valid}, 200, okAcme},
		{"x-api-key", map[string]string{"X-API-Key": valid}, 200, okAcme},
		{"both valid", map[string]string{"Authorization": "Bearer " + valid, "X-API-Key": valid}, 200, okAcme},
		{"bearer wins over bad x-api-key", map[string]string{"Authorization": "Bearer " + valid, "X-API-Key": "junk"}, 200, okAcme},
		{"bad bearer wins over good x-api-key", map[string]string{"Authorization": "Bearer junk", "X-API-Key": valid}, 401, garbage},
		{"non-bearer scheme falls back to x-api-key", map[string]string{"Authorization": "Basic dXNlcjpwdw==", "X-API-Key": valid}, 200, okAcme},
		{"empty bearer falls back to x-api-key", map[string]string{"Authorization": "Bearer   ", "X-API-Key": valid}, 200, okAcme},
		{"no header", nil, 401, missing},
		{"non-bearer scheme only", map[string]string{"Authorization": "Basic dXNlcjpwdw=="}, 401, bare},
		{"a token without its scheme", map[string]string{"Authorization": valid}, 401, bare},
		{"an empty bearer", map[string]string{"Authorization": "Bearer "}, 401, bare},
		{"empty x-api-key", map[string]string{"X-API-Key": "  "}, 401, missing},
		{"expired bearer", map[string]string{"Authorization": "Bearer " + expired}, 402, renew},
		{"expired x-api-key", map[string]string{"X-API-Key": expired}, 402, renew},
		{"wrong key bearer", map[string]string{"Authorization": "Bearer " + foreign}, 401, wrongKey},
		{"wrong key x-api-key", map[string]string{"X-API-Key": foreign}, 401, wrongKey},
		{"garbage bearer", map[string]string{"Authorization": "Bearer junk"}, 401, garbage},
		{"garbage x-api-key", map[string]string{"X-API-Key": "junk"}, 401, garbage},
	}
	r := mwAuthEngine(license.NewVerifier([]ed25519.PublicKey{pub}, license.WithClock(func() time.Time { return now })), false)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := mwDo(r, http.MethodGet, "/who", "", tc.header)
			if w.Code != tc.wantStatus || w.Body.String() != tc.wantBody {
				t.Fatalf("got %d %s, want %d %s", w.Code, w.Body.String(), tc.wantStatus, tc.wantBody)
			}
			wantChallenge := ""
			if w.Code == http.StatusUnauthorized {
				wantChallenge = "Bearer"
			}
			if got := w.Header().Get("WWW-Authenticate"); got != wantChallenge {
				t.Fatalf("WWW-Authenticate %q, want %q", got, wantChallenge)
			}
		})
	}
}

func TestAuthAnonymous(t *testing.T) {
	r := mwAuthEngine(nil, true)
	for _, h := range []map[string]string{nil, {"Authorization": "Bearer junk"}, {"X-API-Key": "junk"}} {
		w := mwDo(r, http.MethodGet, "/who", "", h)
		var got semvec.Caller
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != http.StatusOK {
			t.Fatalf("%v: %d %s", h, w.Code, w.Body.String())
		}
		want := semvec.Caller{Subject: semvec.AnonymousSubject, Tier: semvec.TierCommunity, Anonymous: true}
		if got != want {
			t.Fatalf("%v: caller %+v, want %+v", h, got, want)
		}
	}
}

func TestAuthNilVerifierFailsClosed(t *testing.T) {
	_, priv, err := license.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := license.Issue(priv, "acme", semvec.TierPro, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	w := mwDo(mwAuthEngine(nil, false), http.MethodGet, "/who", "", map[string]string{"X-API-Key": tok})
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "Invalid license") {
		t.Fatalf("got %d %s", w.Code, w.Body.String())
	}
}

func TestCallerFromWithoutAuth(t *testing.T) {
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	if got := CallerFrom(c); got != (semvec.Caller{}) {
		t.Fatalf("got %+v, want zero caller", got)
	}
	c.Set(callerKey, "not a caller")
	if got := CallerFrom(c); got != (semvec.Caller{}) {
		t.Fatalf("got %+v, want zero caller", got)
	}
}
