package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// healthcheck --url takes the readiness URL itself or the server's base
// URL (as `semvec mcp --url` does): a base URL probes its /v1/readyz
// instead of answering "not ready: 404".
func TestHealthcheckTakesABaseURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/readyz" {
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	for _, u := range []string{srv.URL, srv.URL + "/", srv.URL + "/v1/readyz", " " + srv.URL + " "} {
		if err := run(context.Background(), []string{"healthcheck", "--url", u}, func(string) string { return "" }, io.Discard, io.Discard); err != nil {
			t.Errorf("healthcheck --url %q: %v", u, err)
		}
	}
	err := run(context.Background(), []string{"healthcheck", "--url", srv.URL + "/v1/health/"}, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "/v1/health/") {
		t.Errorf("healthcheck of a path that is not there: %v, want a 404 naming the URL", err)
	}
}

func TestReadyzURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":             "http://127.0.0.1:8080/v1/readyz",
		"http://127.0.0.1:8080/":            "http://127.0.0.1:8080/v1/readyz",
		"https://semvec.example":            "https://semvec.example/v1/readyz",
		"http://127.0.0.1:8080/v1/readyz":   "http://127.0.0.1:8080/v1/readyz",
		"http://127.0.0.1:8080/v1/health":   "http://127.0.0.1:8080/v1/health",
		"http://127.0.0.1:8080/?probe=deep": "http://127.0.0.1:8080/?probe=deep",
	} {
		if got := readyzURL(in); got != want {
			t.Errorf("readyzURL(%q) = %q, want %q", in, got, want)
		}
	}
}
