package http

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/semvec-go/semvec"
)

// TestFailedAuthenticationIsRateLimitedPerAddress: an address may fail
// authentication 20 times; after that its requests to authenticated routes
// get 429 with Retry-After and a JSON detail, before any credential is
// checked, until the budget refills (one attempt per 2 s). Other addresses
// are not affected, /metrics Basic Auth failures count too, and requests that
// authenticate spend nothing.
func TestFailedAuthenticationIsRateLimitedPerAddress(t *testing.T) {
	s := newEdgeServer(t, 0)
	const attacker, other = "203.0.113.7:40000", "198.51.100.9:50000"
	forged := s.issue("edge", semvec.TierEnterprise, time.Hour)
	forged = forged[:len(forged)-4] + "AAAA" // bad signature

	for i := range authFailBurst {
		tok := forged
		if i%2 == 1 {
			tok = "" // a missing token is a failure too
		}
		if rec := s.serve("GET", "/v1/state/context", attacker, tok, ""); rec.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d %s, want 401", i+1, rec.Code, rec.Body)
		}
	}
	check429 := func(what string, rec *httptest.ResponseRecorder) {
		t.Helper()
		if rec.Code != http.StatusTooManyRequests {
			t.Fatalf("%s: %d %s, want 429", what, rec.Code, rec.Body)
		}
		if ra := rec.Header().Get("Retry-After"); ra != "2" {
			t.Errorf("%s: Retry-After %q, want 2", what, ra)
		}
		if d := edgeDetail(t, what, rec.Header().Get("Content-Type"), rec.Body.Bytes()); d != detailAuthFailures {
			t.Errorf("%s: detail %q", what, d)
		}
	}
	for _, tok := range []string{forged, "", "garbage", s.tok} {
		check429("over budget, token "+tok[:min(len(tok), 8)], s.serve("GET", "/v1/state/context", attacker, tok, ""))
	}
	check429("over budget, POST", s.serve("POST", "/v1/run", attacker, forged, `{"message":"hi"}`))
	check429("over budget, /metrics", s.serve("GET", "/metrics", attacker, "", ""))

	// Unauthenticated routes stay open; other addresses are unaffected.
	if rec := s.serve("GET", "/v1/health", attacker, "", ""); rec.Code != http.StatusOK {
		t.Errorf("/v1/health from the limited address: %d", rec.Code)
	}
	if rec := s.serve("GET", "/v1/state/context", other, forged, ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("another address: %d, want 401", rec.Code)
	}
	if rec := s.serve("GET", "/v1/cluster", other, s.tok, ""); rec.Code != http.StatusOK {
		t.Errorf("another address, valid token: %d %s", rec.Code, rec.Body)
	}
	// A token verified since (and cached) passes the address out of budget
	// at no cost, on /v1 and /mcp: a client behind the same NAT or proxy as
	// the failing one keeps working. The failures are still refused, and a
	// /metrics password is never let through.
	if rec := s.serve("GET", "/v1/cluster", attacker, s.tok, ""); rec.Code != http.StatusOK {
		t.Errorf("over budget, a token already verified: %d %s, want 200", rec.Code, rec.Body)
	}
	if rec := s.serve("POST", "/mcp", attacker, s.tok, toolsListMsg); rec.Code == http.StatusTooManyRequests {
		t.Errorf("over budget, a token already verified, /mcp: %d %s", rec.Code, rec.Body)
	}
	check429("over budget after a verified token, forged", s.serve("GET", "/v1/state/context", attacker, forged, ""))
	check429("over budget after a verified token, /metrics", s.serve("GET", "/metrics", attacker, "", ""))

	// The budget refills: one more attempt after 2 s, then 429 again.
	s.clock.Advance(2 * time.Second)
	if rec := s.serve("GET", "/v1/state/context", attacker, forged, ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("after 2 s: %d, want 401", rec.Code)
	}
	check429("after the refilled attempt", s.serve("GET", "/v1/state/context", attacker, forged, ""))
	s.clock.Advance(2 * time.Second)
	if rec := s.serve("GET", "/v1/cluster", attacker, s.tok, ""); rec.Code != http.StatusOK {
		t.Errorf("valid token once refilled: %d %s", rec.Code, rec.Body)
	}

	// Metrics Basic Auth failures spend the same budget.
	req := func(user, pass string) int {
		r, _ := http.NewRequest("GET", "/metrics", nil)
		r.RemoteAddr = "192.0.2.77:1"
		r.SetBasicAuth(user, pass)
		rec := httptest.NewRecorder()
		s.h.ServeHTTP(rec, r)
		return rec.Code
	}
	for i := range authFailBurst {
		if code := req(edgeMetricsUser, fmt.Sprintf("guess-%d", i)); code != http.StatusUnauthorized {
			t.Fatalf("metrics guess %d: %d", i, code)
		}
	}
	if code := req(edgeMetricsUser, edgeMetricsPass); code != http.StatusTooManyRequests {
		t.Errorf("metrics after %d wrong passwords: %d, want 429 (even for the right one)", authFailBurst, code)
	}

	// Authenticated requests spend nothing: no entry for a well-behaved address.
	before := s.fails.size()
	for range 3 * authFailBurst {
		if rec := s.serve("GET", "/v1/cluster", "192.0.2.200:1", s.tok, ""); rec.Code != http.StatusOK {
			t.Fatalf("valid: %d", rec.Code)
		}
	}
	if got := s.fails.size(); got != before {
		t.Errorf("successful requests changed the failure table: %d → %d", before, got)
	}
}

// TestAuthFailureTableIsBounded: a flood of failures from distinct addresses
// never grows the table past its cap; the least recently failed address is
// the one forgotten.
func TestAuthFailureTableIsBounded(t *testing.T) {
	clock := newMWClock()
	l := NewAuthFailureLimiter(clock.Now)
	l.max = 1000
	hot := netip.MustParseAddr("203.0.113.1")
	for range authFailBurst {
		l.fail(hot)
	}
	if _, blocked := l.blocked(hot); !blocked {
		t.Fatal("hot address not blocked")
	}
	for i := range 50_000 {
		l.fail(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
		if i%100 == 0 {
			l.fail(hot) // keeps failing: stays recent, never evicted
		}
		if n := l.size(); n > 1000 {
			t.Fatalf("table holds %d addresses, cap 1000", n)
		}
	}
	if _, blocked := l.blocked(hot); !blocked {
		t.Error("a recently failing address was evicted")
	}
	if _, blocked := l.blocked(netip.AddrFrom4([4]byte{10, 0, 0, 0})); blocked {
		t.Error("the oldest address should have been evicted")
	}

	// The default cap is bounded too.
	if d := NewAuthFailureLimiter(nil); d.max <= 0 || d.max > 1<<20 {
		t.Errorf("default cap %d", d.max)
	}
}

// TestAuthFailureAddressKey: the key is the TCP peer's IP (port ignored,
// IPv4-mapped IPv6 the same as IPv4, IPv6 per /64); forwarding headers are
// never trusted.
func TestAuthFailureAddressKey(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"203.0.113.7:1", "203.0.113.7:65000"},
		{"[::ffff:203.0.113.7]:1", "203.0.113.7:2"},
		{"[2001:db8:1:2::1]:1", "[2001:db8:1:2:ffff:ffff:ffff:ffff]:2"},
		{"[fe80::1%eth0]:1", "[fe80::2%eth1]:1"},
	} {
		if failAddr(tc.a) != failAddr(tc.b) {
			t.Errorf("%s and %s should share a budget", tc.a, tc.b)
		}
	}
	for _, tc := range []struct{ a, b string }{
		{"203.0.113.7:1", "203.0.113.8:1"},
		{"[2001:db8:1:2::1]:1", "[2001:db8:1:3::1]:1"},
	} {
		if failAddr(tc.a) == failAddr(tc.b) {
			t.Errorf("%s and %s should not share a budget", tc.a, tc.b)
		}
	}

	s := newEdgeServer(t, 0)
	for i := range authFailBurst + 5 {
		r, _ := http.NewRequest("GET", "/v1/state/context", nil)
		r.RemoteAddr = "203.0.113.50:1234"
		r.Header.Set("X-Forwarded-For", fmt.Sprintf("10.9.%d.%d", i/256, i%256))
		r.Header.Set("X-Real-IP", fmt.Sprintf("10.8.%d.%d", i/256, i%256))
		rec := httptest.NewRecorder()
		s.h.ServeHTTP(rec, r)
		want := http.StatusUnauthorized
		if i >= authFailBurst {
			want = http.StatusTooManyRequests
		}
		if rec.Code != want {
			t.Fatalf("request %d with a rotating X-Forwarded-For: %d, want %d", i, rec.Code, want)
		}
	}
}

// An anonymous caller (SEMVEC_ALLOW_ANONYMOUS) gets 403 from the
// user-partition routes, which belong to a licence subject (functional
// spec §3.3), while transfers and consensus, in the active partition, and
// every other route stay open to it; with a token the same routes answer.
func TestAnonymousCallersHaveNoUserPartitions(t *testing.T) {
	anon := newEdgeServerWith(t, 1<<20, func(d *Deps) { d.Anonymous = true })
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/v1/network/users/switch", `{"user_id":"alice"}`},
		{"GET", "/v1/network/users/active", ""},
		{"POST", "/v1/network/users/alice/serialize", ""},
	} {
		rec := anon.serve(r.method, r.path, "", "", r.body)
		if got := edgeJSON(t, r.path, rec.Header().Get("Content-Type"), rec.Body.Bytes()); rec.Code != 403 || got["detail"] != detailAnonymousPartitions {
			t.Errorf("anonymous %s %s: %d %s, want 403", r.method, r.path, rec.Code, rec.Body)
		}
	}
	if rec := anon.serve("GET", "/v1/network/consensus/trust", "", "", ""); rec.Code != 200 {
		t.Errorf("anonymous consensus trust: %d %s", rec.Code, rec.Body)
	}
	named := newEdgeServer(t, 1<<20)
	if rec := named.serve("POST", "/v1/network/users/switch", "", named.tok, `{"user_id":"alice"}`); rec.Code != 200 {
		t.Errorf("a licensed switch: %d %s", rec.Code, rec.Body)
	}
	if rec := named.serve("GET", "/v1/network/users/active", "", named.tok, ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"alice"`) {
		t.Errorf("a licensed active user: %d %s", rec.Code, rec.Body)
	}
}

// A valid licence whose "products" claim does not name semvec is a 402
// naming its products (functional spec §3.1: a missing product is a
// descriptive error, 402 in REST); one naming it (in any case), or without
// the claim, is served.
func TestALicenceForAnotherProductIs402(t *testing.T) {
	s := newEdgeServer(t, 1<<20)
	sign := func(products any) string {
		claims := jwt.MapClaims{"sub": "prodtest", "tier": "pro", "exp": time.Now().Add(time.Hour).Unix()}
		if products != nil {
			claims["products"] = products
		}
		tok, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(s.priv)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, tc := range []struct {
		products any
		status   int
	}{
		{[]string{"cortex"}, 402},
		{[]string{}, 402},
		{"coding", 402},
		{[]string{"cortex", "semvec"}, 200},
		{[]string{"Semvec"}, 200},
		{[]string{"ſemvec"}, 402}, // a long s folds to s in Unicode, not in ASCII
		{"semvec", 200},
		{nil, 200},
	} {
		rec := s.serve("GET", "/v1/cluster/", "", sign(tc.products), "")
		if rec.Code != tc.status {
			t.Errorf("products %v: %d %s, want %d", tc.products, rec.Code, rec.Body, tc.status)
			continue
		}
		if tc.status != 402 {
			continue
		}
		if got := edgeJSON(t, "products", rec.Header().Get("Content-Type"), rec.Body.Bytes()); !strings.HasPrefix(fmt.Sprint(got["detail"]), detailProductNotCovered) {
			t.Errorf("products %v: detail %v", tc.products, got["detail"])
		}
	}
}
